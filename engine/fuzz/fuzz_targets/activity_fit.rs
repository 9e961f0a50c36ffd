//! Arbitrary bytes as a FIT activity: samples or an error with a byte offset, never a
//! panic (the fuzzer aborts on any panic, even one the decoder's backstop would catch);
//! and as a recording, where Paceline's own reader must answer as the fitparser walk does.
#![no_main]

use libfuzzer_sys::fuzz_target;
use paceline_formats::samples::decode_fit;
use paceline_formats::{Limits, fit};

fuzz_target!(|data: &[u8]| {
    let _ = decode_fit(data);
    let limits = Limits::default();
    if let Some(own) = fit::read_recording_own_reader(data, &limits) {
        assert_eq!(own, fit::read_recording_reference(data, &limits));
    }
});
