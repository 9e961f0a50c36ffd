//! Hostile input: random and mutated byte strings through every decoder.
//!
//! Every decoder must return a value or an error — a panic fails the test — and the
//! decoders must keep their promises on what they accept:
//! - the binary form is canonical: bytes that decode re-encode to exactly themselves, so
//!   two different byte strings never mean the same frame;
//! - a mutated sealed frame that decodes to a different frame never opens.

use paceline_schemas::stream::FrameReader;
use paceline_schemas::*;
use paceline_schemas::{codec, hello, seal};
use proptest::collection::vec;
use proptest::prelude::*;
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::golden::{golden_frames, sealed_golden};

const CASES: u32 = 10_000;

/// Decodes `bytes` as `T`; if that works, the encoding must reproduce `bytes` exactly.
fn binary_is_canonical<T: Serialize + DeserializeOwned>(bytes: &[u8]) -> Result<(), TestCaseError> {
    if let Ok(value) = codec::decode_binary::<T>(bytes) {
        let again = codec::encode_binary(&value);
        prop_assert_eq!(
            again.as_deref(),
            Ok(bytes),
            "{}",
            std::any::type_name::<T>()
        );
    }
    Ok(())
}

/// Every decoder Paceline exposes, fed the same bytes.
fn every_decoder(bytes: &[u8]) -> Result<(), TestCaseError> {
    let key = DeviceKey::from_bytes([0x42; 32]);
    if let Ok(frame) = codec::decode_frame(bytes) {
        let again = codec::encode_frame(&frame);
        prop_assert_eq!(again.as_deref(), Ok(bytes));
        let _ = seal::open(&key, &frame);
    }
    binary_is_canonical::<SampleBatch>(bytes)?;
    binary_is_canonical::<Ack>(bytes)?;
    binary_is_canonical::<Cue>(bytes)?;
    binary_is_canonical::<Command>(bytes)?;
    binary_is_canonical::<DeviceStatus>(bytes)?;
    binary_is_canonical::<WorkoutPlan>(bytes)?;
    binary_is_canonical::<AthleteProfile>(bytes)?;
    binary_is_canonical::<SessionSummary>(bytes)?;
    binary_is_canonical::<FrameHeader>(bytes)?;
    if let Ok(hello) = hello::decode_hello(bytes) {
        let again = hello::encode_hello(&hello);
        prop_assert_eq!(again.as_deref(), Ok(bytes));
    }
    let _ = codec::from_json::<DeviceHello>(bytes);
    let _ = codec::from_json::<Frame>(bytes);
    let _ = codec::from_json::<SampleBatch>(bytes);
    let _ = codec::from_json::<Cue>(bytes);
    let _ = codec::from_json::<Command>(bytes);
    let _ = codec::from_json::<DeviceStatus>(bytes);
    let _ = codec::from_json::<WorkoutPlan>(bytes);
    let _ = codec::from_json::<AthleteProfile>(bytes);
    let _ = codec::from_json::<SessionSummary>(bytes);
    let _ = Topic::parse(&String::from_utf8_lossy(bytes));
    let mut reader = FrameReader::new();
    reader.push(bytes);
    while let Ok(Some(_)) = reader.next_frame() {}
    Ok(())
}

#[derive(Debug, Clone)]
enum Mutation {
    FlipBit {
        at: usize,
        bit: u8,
    },
    Set {
        at: usize,
        byte: u8,
    },
    Insert {
        at: usize,
        byte: u8,
    },
    Remove {
        at: usize,
    },
    Truncate {
        at: usize,
    },
    /// Overwrites 8 bytes with a large little-endian length, as a hostile length prefix.
    HugeLength {
        at: usize,
        len: u64,
    },
}

fn mutation() -> impl Strategy<Value = Mutation> {
    let at = any::<usize>();
    prop_oneof![
        (at, 0u8..8).prop_map(|(at, bit)| Mutation::FlipBit { at, bit }),
        (at, any::<u8>()).prop_map(|(at, byte)| Mutation::Set { at, byte }),
        (at, any::<u8>()).prop_map(|(at, byte)| Mutation::Insert { at, byte }),
        at.prop_map(|at| Mutation::Remove { at }),
        at.prop_map(|at| Mutation::Truncate { at }),
        (
            at,
            prop_oneof![Just(u64::MAX), 65_536u64..u64::MAX, 0u64..1024]
        )
            .prop_map(|(at, len)| Mutation::HugeLength { at, len }),
    ]
}

fn apply(bytes: &mut Vec<u8>, mutation: &Mutation) {
    if bytes.is_empty() {
        return;
    }
    let len = bytes.len();
    match *mutation {
        Mutation::FlipBit { at, bit } => bytes[at % len] ^= 1 << bit,
        Mutation::Set { at, byte } => bytes[at % len] = byte,
        Mutation::Insert { at, byte } => bytes.insert(at % (len + 1), byte),
        Mutation::Remove { at } => {
            bytes.remove(at % len);
        }
        Mutation::Truncate { at } => bytes.truncate(at % len),
        Mutation::HugeLength { at, len: value } => {
            let at = at % len;
            let end = (at + 8).min(len);
            bytes[at..end].copy_from_slice(&value.to_le_bytes()[..end - at]);
        }
    }
}

/// The seeds for mutation: the golden frames and their bare bodies.
fn seeds() -> Vec<Vec<u8>> {
    let mut seeds = Vec::new();
    for (_, header, payload) in golden_frames() {
        seeds.push(sealed_golden(header, &payload));
        seeds.push(match &payload {
            Payload::Samples(batch) => codec::encode_binary(batch).unwrap(),
            Payload::Ack(ack) => codec::encode_binary(ack).unwrap(),
            Payload::Cue(cue) => codec::encode_binary(cue).unwrap(),
            Payload::Command(command) => codec::encode_binary(command).unwrap(),
            Payload::DeviceStatus(status) => codec::encode_binary(status).unwrap(),
        });
        seeds.push(
            match &payload {
                Payload::Samples(batch) => codec::to_json(batch),
                Payload::Ack(ack) => codec::to_json(ack),
                Payload::Cue(cue) => codec::to_json(cue),
                Payload::Command(command) => codec::to_json(command),
                Payload::DeviceStatus(status) => codec::to_json(status),
            }
            .unwrap()
            .into_bytes(),
        );
    }
    seeds
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(CASES))]

    #[test]
    fn random_bytes_never_panic_a_decoder(bytes in vec(any::<u8>(), 0..600)) {
        every_decoder(&bytes)?;
        // The same bytes behind a valid version byte reach the frame decoder's body.
        let mut versioned = vec![WIRE_VERSION];
        versioned.extend_from_slice(&bytes);
        every_decoder(&versioned)?;
    }

    #[test]
    fn mutated_bytes_never_panic_a_decoder(
        seed in 0usize..9,
        mutations in vec(mutation(), 1..6),
    ) {
        let seeds = seeds();
        let mut bytes = seeds[seed % seeds.len()].clone();
        for m in &mutations {
            apply(&mut bytes, m);
        }
        every_decoder(&bytes)?;
    }

    #[test]
    fn a_mutated_sealed_frame_never_opens(
        which in 0usize..3,
        mutations in vec(mutation(), 1..4),
    ) {
        let (_, header, payload) = golden_frames().swap_remove(which);
        let original_bytes = sealed_golden(header, &payload);
        let original = codec::decode_frame(&original_bytes).unwrap();
        let mut bytes = original_bytes.clone();
        for m in &mutations {
            apply(&mut bytes, m);
        }
        if let Ok(frame) = codec::decode_frame(&bytes) {
            let key = DeviceKey::from_bytes([0x42; 32]);
            if frame == original {
                prop_assert_eq!(seal::open(&key, &frame).unwrap(), payload);
            } else {
                let is_auth_error = matches!(
                    seal::open(&key, &frame),
                    Err(OpenError::Authentication { .. })
                );
                prop_assert!(is_auth_error, "a changed frame opened: {}", hex::encode(&bytes));
            }
        }
    }
}
