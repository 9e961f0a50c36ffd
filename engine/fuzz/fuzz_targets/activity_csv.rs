//! Arbitrary bytes as a CSV recording: samples or an error with a line number, never a
//! panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use paceline_formats::samples::decode_csv;

fuzz_target!(|data: &[u8]| {
    let _ = decode_csv(data);
});
