//! Arbitrary bytes as a 0x2A53 notification: the decoder returns a value or an error, never
//! panics; what decodes feeds the revolution derivation and encodes as JSON.
#![no_main]

use libfuzzer_sys::fuzz_target;
use paceline_edge::gatt;
use paceline_edge::revolutions::Revolutions;

fuzz_target!(|data: &[u8]| {
    if let Ok(mut value) = gatt::decode(gatt::RSC_MEASUREMENT, data) {
        let mut derivation = Revolutions::default();
        derivation.fill(0, &mut value.clone());
        derivation.fill(1_000, &mut value);
        paceline_schemas::codec::to_json(&value).expect("a decoded sample encodes");
    }
});
