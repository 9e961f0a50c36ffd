//! Arbitrary bytes as a binary frame and as a length-prefixed stream: every decoder returns
//! a value or an error, never panics, and a frame that decodes re-encodes to the same bytes.
#![no_main]

use libfuzzer_sys::fuzz_target;
use paceline_schemas::stream::FrameReader;
use paceline_schemas::{DeviceKey, codec, seal};

fuzz_target!(|data: &[u8]| {
    if let Ok(frame) = codec::decode_frame(data) {
        // Opening must return Ok or Err, never panic. The key is the golden frames' key, so
        // seeds from schemas/tests/golden/ open and their bodies are decoded too.
        let key = DeviceKey::from_bytes([0x42; 32]);
        let _ = seal::open(&key, &frame);

        // The binary form is canonical: what decodes re-encodes to exactly the input.
        let again = codec::encode_frame(&frame).expect("a decoded frame re-encodes");
        assert_eq!(again, data, "re-encoding a decoded frame changed its bytes");
    }

    // The same bytes as a QUIC stream: drain whole frames until more bytes are needed or
    // the reader fails for good.
    let mut reader = FrameReader::new();
    reader.push(data);
    while let Ok(Some(frame_bytes)) = reader.next_frame() {
        let _ = codec::decode_frame(&frame_bytes);
    }
});
