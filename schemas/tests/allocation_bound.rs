//! Decoders allocate within their bounds, whatever lengths the input claims.
//!
//! A hostile frame can declare a list of 2^64 − 1 samples or a string of a gigabyte. The
//! decoders must refuse such a claim before allocating for it. This test counts heap bytes
//! with dhat's allocator (its own test binary, since the allocator is process-wide) and
//! checks the heap peak while decoding such inputs.

use paceline_schemas::*;
use paceline_schemas::{codec, seal};

#[global_allocator]
static ALLOCATOR: dhat::Alloc = dhat::Alloc;

/// Heap growth allowed while decoding one input of at most `MAX_FRAME_BYTES`: the largest
/// legal batch (256 samples of 120 bytes, 32 RR values each) needs about 50 KiB. Unbounded
/// pre-allocation of a claimed 4,096 samples would take 480 KiB.
const ALLOWED_GROWTH_BYTES: usize = 128 * 1024;

fn claims() -> Vec<(&'static str, Vec<u8>)> {
    let mut inputs = Vec::new();
    for (name, len) in [
        ("max", u64::MAX),
        ("4096", 4096),
        ("257", 257),
        ("1 GiB", 1 << 30),
    ] {
        // A sample batch whose length prefix claims `len` samples, followed by 64 KiB of
        // plausible sample bytes.
        let mut batch = len.to_le_bytes().to_vec();
        batch.resize(MAX_FRAME_BYTES - 1, 0);
        inputs.push((name, batch.clone()));
        // The same claim inside a frame: version, header, nonce, then a sealed-body length.
        let header = FrameHeader {
            kind: FrameKind::Samples,
            tenant: TenantId::new("t").unwrap(),
            device: DeviceId::new("d").unwrap(),
            session: SessionId::new("s").unwrap(),
            seq: 1,
            sent_ms: 1,
        };
        let mut frame = seal::associated_data(&header).unwrap();
        frame.extend_from_slice(&[0; 12]);
        frame.extend_from_slice(&len.to_le_bytes());
        frame.resize(MAX_FRAME_BYTES, 0);
        inputs.push((name, frame));
    }
    inputs
}

#[test]
fn hostile_length_claims_do_not_allocate() {
    let _profiler = dhat::Profiler::builder().testing().build();
    let inputs = claims();
    for (name, input) in &inputs {
        let before = dhat::HeapStats::get();
        // The harness's own peak must be below what we check, or the check means nothing.
        assert!(
            before.max_bytes <= before.curr_bytes + ALLOWED_GROWTH_BYTES,
            "the heap peak is already too high to measure: {before:?}"
        );
        let _ = codec::decode_binary::<SampleBatch>(input);
        let _ = codec::decode_binary::<Cue>(input);
        let _ = codec::decode_binary::<WorkoutPlan>(input);
        let _ = codec::decode_binary::<HeartRate>(input);
        if let Ok(frame) = codec::decode_frame(input) {
            let _ = seal::open(&DeviceKey::from_bytes([1; 32]), &frame);
        }
        let after = dhat::HeapStats::get();
        let growth = after.max_bytes.saturating_sub(before.curr_bytes);
        assert!(
            growth <= ALLOWED_GROWTH_BYTES,
            "decoding a claim of {name} grew the heap by {growth} bytes"
        );
        // Later inputs are measured against a fresh peak only if this one stayed low,
        // which the assertion above ensures.
    }
    // The meter works: an allocation of the size we guard against shows up.
    let before = dhat::HeapStats::get();
    let big = vec![0u8; 480 * 1024];
    assert!(dhat::HeapStats::get().max_bytes >= before.curr_bytes + big.len());
}
