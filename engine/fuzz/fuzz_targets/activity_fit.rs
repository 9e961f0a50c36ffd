//! Arbitrary bytes as a FIT activity: samples or an error with a byte offset, never a
//! panic (the fuzzer aborts on any panic, even one the decoder's backstop would catch).
#![no_main]

use libfuzzer_sys::fuzz_target;
use paceline_formats::samples::decode_fit;

fuzz_target!(|data: &[u8]| {
    let _ = decode_fit(data);
});
