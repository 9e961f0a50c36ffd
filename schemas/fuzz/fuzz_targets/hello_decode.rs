//! Arbitrary bytes as the first message of a device's QUIC stream (the gateway reads it
//! before it knows who is connecting): `decode_hello` returns a hello or an error, never
//! panics, and a hello that decodes re-encodes to exactly the input.
#![no_main]

use libfuzzer_sys::fuzz_target;
use paceline_schemas::hello::{decode_hello, encode_hello};

fuzz_target!(|data: &[u8]| {
    if let Ok(hello) = decode_hello(data) {
        let again = encode_hello(&hello).expect("a decoded hello re-encodes");
        assert_eq!(again, data, "re-encoding a decoded hello changed its bytes");
    }
});
