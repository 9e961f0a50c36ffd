//! Properties over generated values: every type survives binary and JSON unchanged, sealed
//! frames open only with the right key and an unchanged header, and the declared bounds
//! fit inside a frame.

use paceline_schemas::frame::SendTimeCheck;
use paceline_schemas::sample::{CyclingPower, Treadmill};
use paceline_schemas::*;
use paceline_schemas::{codec, seal};
use proptest::prelude::*;
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::strategies::*;

fn assert_round_trips<T>(value: &T)
where
    T: Serialize + DeserializeOwned + PartialEq + std::fmt::Debug,
{
    let bytes = codec::encode_binary(value).expect("binary encode");
    let back: T = codec::decode_binary(&bytes).expect("binary decode");
    assert_eq!(&back, value, "binary");
    let json = codec::to_json(value).expect("json encode");
    let back: T = codec::from_json(json.as_bytes()).expect("json decode");
    assert_eq!(&back, value, "json: {json}");
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn engine_records_round_trip(
        session in session(),
        now_ms in any::<u64>(),
        sample in sample(),
        command in command(),
        plan in proptest::option::of(plan()),
        profile in profile(),
        cue in cue(),
        summary in summary(),
    ) {
        use paceline_schemas::engine::*;
        let input = |event| EngineRecord::Session(SessionInput { session: session.clone(), now_ms, event });
        assert_round_trips(&input(SessionEvent::Open(SessionSetup { profile, plan })));
        assert_round_trips(&input(SessionEvent::Sample(sample)));
        assert_round_trips(&input(SessionEvent::Command(SessionCommand { command })));
        assert_round_trips(&EngineRecord::Tick(Tick { now_ms }));
        for output in [OutputBody::Cue(cue), OutputBody::Summary(summary)] {
            assert_round_trips(&SessionOutput { session: session.clone(), seq: now_ms, output });
        }
    }

    #[test]
    fn sample_batches_round_trip(batch in batch()) {
        assert_round_trips(&batch);
    }

    #[test]
    fn cues_round_trip(cue in cue()) {
        assert_round_trips(&cue);
    }

    #[test]
    fn acks_round_trip(ack in ack()) {
        assert_round_trips(&ack);
    }

    #[test]
    fn commands_round_trip(command in command()) {
        assert_round_trips(&command);
    }

    #[test]
    fn device_statuses_round_trip(status in device_status()) {
        assert_round_trips(&status);
    }

    #[test]
    fn plans_round_trip(plan in plan()) {
        assert_round_trips(&plan);
    }

    #[test]
    fn profiles_round_trip(profile in profile()) {
        assert_round_trips(&profile);
    }

    #[test]
    fn summaries_round_trip(summary in summary()) {
        assert_round_trips(&summary);
    }

    #[test]
    fn sealed_frames_round_trip_and_open_only_with_their_key(
        (header, payload) in payload().prop_flat_map(|p| (header(p.kind()), Just(p))),
        other_key in any::<[u8; 32]>(),
        key in any::<[u8; 32]>(),
    ) {
        let key = DeviceKey::from_bytes(key);
        let frame = seal::seal(&key, header, &payload).unwrap();
        let bytes = codec::encode_frame(&frame).unwrap();
        prop_assert!(bytes.len() <= MAX_FRAME_BYTES);
        prop_assert_eq!(bytes[0], WIRE_VERSION);
        let received = codec::decode_frame(&bytes).unwrap();
        prop_assert_eq!(&received, &frame);
        prop_assert_eq!(seal::open(&key, &received).unwrap(), payload);
        if other_key != *key.expose_bytes() {
            let wrong = DeviceKey::from_bytes(other_key);
            let is_auth_error = matches!(
                seal::open(&wrong, &received),
                Err(OpenError::Authentication { .. })
            );
            prop_assert!(is_auth_error);
        }
        // The JSON debugging form carries the same frame.
        let json = codec::to_json(&frame).unwrap();
        prop_assert_eq!(codec::from_json::<Frame>(json.as_bytes()).unwrap(), frame);
    }

    #[test]
    fn a_changed_header_field_does_not_open(
        payload in payload(),
        field in 0usize..6,
        seq_delta in 1u64..1000,
        other_id in id_text(),
    ) {
        let key = DeviceKey::from_bytes([9; 32]);
        let header = FrameHeader {
            kind: payload.kind(),
            tenant: TenantId::new("gym-1").unwrap(),
            device: DeviceId::new("strap-1").unwrap(),
            session: SessionId::new("s-1").unwrap(),
            seq: 500,
            sent_ms: 1_000_000,
        };
        let mut frame = seal::seal(&key, header, &payload).unwrap();
        let changed = &mut frame.header;
        match field {
            0 => changed.kind = match changed.kind {
                FrameKind::Samples => FrameKind::Cue,
                FrameKind::Ack => FrameKind::Samples,
                FrameKind::Cue => FrameKind::Command,
                FrameKind::Command => FrameKind::DeviceStatus,
                FrameKind::DeviceStatus => FrameKind::Ack,
            },
            1 => changed.tenant = TenantId::new(format!("{other_id}x")).unwrap_or(changed.tenant.clone()),
            2 => changed.device = DeviceId::new(format!("{other_id}x")).unwrap_or(changed.device.clone()),
            3 => changed.session = SessionId::new(format!("{other_id}x")).unwrap_or(changed.session.clone()),
            4 => changed.seq += seq_delta,
            _ => changed.sent_ms -= seq_delta,
        }
        // Ids that were too long to extend stay unchanged; only judge real changes.
        let unchanged = frame.header.tenant.as_str() == "gym-1"
            && frame.header.device.as_str() == "strap-1"
            && frame.header.session.as_str() == "s-1"
            && frame.header.seq == 500
            && frame.header.sent_ms == 1_000_000
            && frame.header.kind == payload.kind();
        prop_assume!(!unchanged);
        let is_auth_error = matches!(seal::open(&key, &frame), Err(OpenError::Authentication { .. }));
        prop_assert!(is_auth_error);
    }

    #[test]
    fn topics_round_trip(tenant in tenant(), device in device()) {
        for topic in [Topic::up(&tenant, &device), Topic::down(&tenant, &device)] {
            prop_assert_eq!(Topic::parse(&topic.to_string()).unwrap(), topic);
        }
    }

    #[test]
    fn send_time_is_judged_against_the_limits(
        sent_ms in any::<u64>(),
        received_ms in any::<u64>(),
        limits in send_time_limits(),
    ) {
        let header = FrameHeader {
            kind: FrameKind::Samples,
            tenant: TenantId::new("t").unwrap(),
            device: DeviceId::new("d").unwrap(),
            session: SessionId::new("s").unwrap(),
            seq: 1,
            sent_ms,
        };
        let expected = if sent_ms > received_ms && sent_ms - received_ms > limits.max_ahead_ms {
            SendTimeCheck::FarFuture { ahead_ms: sent_ms - received_ms }
        } else if received_ms >= sent_ms && received_ms - sent_ms > limits.max_age_ms {
            SendTimeCheck::Stale { age_ms: received_ms - sent_ms }
        } else {
            SendTimeCheck::Plausible
        };
        prop_assert_eq!(header.check_send_time(received_ms, limits), expected);
    }
}

fn largest_header() -> FrameHeader {
    let long = "x".repeat(ids::MAX_ID_BYTES);
    FrameHeader {
        kind: FrameKind::Samples,
        tenant: TenantId::new(long.clone()).unwrap(),
        device: DeviceId::new(long.clone()).unwrap(),
        session: SessionId::new(long).unwrap(),
        seq: u64::MAX,
        sent_ms: u64::MAX,
    }
}

fn largest_samples() -> Vec<SampleValue> {
    let full_power = CyclingPower {
        power_w: i16::MAX,
        balance_pct: Some(50.5),
        balance_reference: sample::BalanceReference::Left,
        accumulated_torque_nm: Some(1.0),
        torque_source: sample::TorqueSource::Crank,
        wheel_revs: Some(u32::MAX),
        wheel_event_2048: Some(1),
        crank_revs: Some(1),
        crank_event_1024: Some(1),
        max_force_n: Some(1),
        min_force_n: Some(1),
        max_torque_nm: Some(1.0),
        min_torque_nm: Some(1.0),
        max_angle_deg: Some(1),
        min_angle_deg: Some(1),
        top_dead_spot_deg: Some(1),
        bottom_dead_spot_deg: Some(1),
        accumulated_energy_kj: Some(1),
        offset_compensation: true,
        cadence_rpm: Some(90.0),
        speed_mps: Some(10.0),
    };
    let full_treadmill = Treadmill {
        speed_kmh: Some(1.0),
        avg_speed_kmh: Some(1.0),
        total_distance_m: Some(1),
        inclination_pct: Some(1.0),
        ramp_angle_deg: Some(1.0),
        positive_elevation_gain_m: Some(1.0),
        negative_elevation_gain_m: Some(1.0),
        pace_km_per_min: Some(1.0),
        avg_pace_km_per_min: Some(1.0),
        total_energy_kcal: Some(1),
        energy_per_hour_kcal: Some(1),
        energy_per_minute_kcal: Some(1),
        heart_rate: Some(1),
        metabolic_equivalent: Some(1.0),
        elapsed_s: Some(1),
        remaining_s: Some(1),
        force_on_belt_n: Some(1),
        power_output_w: Some(1),
    };
    let full_hr = HeartRate {
        bpm: 200,
        contact: sample::Contact::On,
        energy_kj: Some(1),
        rr_1024: vec![1000; MAX_RR_PER_SAMPLE],
    };
    vec![
        SampleValue::CyclingPower(full_power),
        SampleValue::Treadmill(full_treadmill),
        SampleValue::HeartRate(full_hr),
    ]
}

/// The bounds are consistent: the largest legal batch of the largest sample of every kind,
/// under the longest ids, still fits in one frame.
#[test]
fn the_largest_legal_batch_fits_in_a_frame() {
    let key = DeviceKey::from_bytes([1; 32]);
    for value in largest_samples() {
        let samples = (0..MAX_SAMPLES_PER_BATCH)
            .map(|_| Sample {
                t_ms: u64::MAX,
                value: value.clone(),
            })
            .collect();
        let payload = Payload::Samples(SampleBatch::new(samples).unwrap());
        let frame = seal::seal(&key, largest_header(), &payload).unwrap();
        let bytes = codec::encode_frame(&frame).unwrap();
        assert!(bytes.len() <= MAX_FRAME_BYTES, "{} bytes", bytes.len());
        let opened = seal::open(&key, &codec::decode_frame(&bytes).unwrap()).unwrap();
        assert_eq!(opened, payload);
    }
}

#[test]
fn bounds_are_enforced_when_encoding() {
    assert_eq!(
        SampleBatch::new(Vec::new()),
        Err(sample::BatchSizeError { len: 0 })
    );
    let one = Sample {
        t_ms: 0,
        value: largest_samples().remove(2),
    };
    assert_eq!(
        SampleBatch::new(vec![one; MAX_SAMPLES_PER_BATCH + 1]),
        Err(sample::BatchSizeError {
            len: MAX_SAMPLES_PER_BATCH + 1
        })
    );
    let too_many_rr = HeartRate {
        bpm: 60,
        contact: sample::Contact::On,
        energy_kj: None,
        rr_1024: vec![1; MAX_RR_PER_SAMPLE + 1],
    };
    let err = codec::encode_binary(&too_many_rr).unwrap_err();
    assert!(
        err.to_string().contains("outside the allowed 0..=32"),
        "{err}"
    );
    assert!(codec::to_json(&too_many_rr).is_err());

    let nan_power = sample::RunningSpeedCadence {
        speed_mps: f32::NAN,
        cadence_spm: 170,
        stride_m: None,
        distance_m: None,
        running: true,
    };
    assert!(codec::encode_binary(&nan_power).is_err());
    assert!(codec::to_json(&nan_power).is_err());

    let long_text = Cue {
        session: SessionId::new("s").unwrap(),
        t_s: 0.0,
        severity: Severity::Info,
        code: CueCode::StepStart,
        text: "x".repeat(cue::MAX_CUE_TEXT_BYTES + 1),
        modification: None,
    };
    assert!(codec::encode_binary(&long_text).is_err());

    let key = DeviceKey::from_bytes([1; 32]);
    let mismatch = FrameHeader {
        kind: FrameKind::Cue,
        ..largest_header()
    };
    assert_eq!(
        seal::seal(&key, mismatch, &Payload::Ack(Ack { committed_seq: 1 })).unwrap_err(),
        SealError::KindMismatch {
            header: FrameKind::Cue,
            payload: FrameKind::Ack
        }
    );
}

#[test]
fn bounds_are_enforced_when_decoding() {
    // 33 RR values, written by hand in the binary layout: bpm, contact, energy, rr list.
    let mut bytes = Vec::new();
    bytes.extend_from_slice(&60u16.to_le_bytes());
    bytes.extend_from_slice(&2u32.to_le_bytes()); // Contact::On
    bytes.push(0); // energy_kj: None
    bytes.extend_from_slice(&33u64.to_le_bytes());
    for _ in 0..33 {
        bytes.extend_from_slice(&1u16.to_le_bytes());
    }
    let err = codec::decode_binary::<HeartRate>(&bytes).unwrap_err();
    assert!(err.to_string().contains("invalid length 33"), "{err}");
    // The same with 32 values decodes.
    bytes[7..15].copy_from_slice(&32u64.to_le_bytes());
    bytes.truncate(bytes.len() - 2);
    assert_eq!(
        codec::decode_binary::<HeartRate>(&bytes)
            .unwrap()
            .rr_1024
            .len(),
        32
    );
    // A list length of 2^64-1 fails at once, without allocating for it.
    let mut huge = vec![1u8, 0, 0, 0, 0, 0, 0, 0];
    huge[..8].copy_from_slice(&u64::MAX.to_le_bytes());
    assert!(codec::decode_binary::<SampleBatch>(&huge).is_err());
    // A length prefix that claims more than the input holds is refused with a message that
    // says so (bincode's own says nothing), whether the claim is absurd or off by one.
    for claim in [u64::MAX, 1] {
        let err = codec::decode_binary::<Cue>(&claim.to_le_bytes()).unwrap_err();
        assert_eq!(
            err.to_string(),
            "malformed input: the input ends early: a field or a declared length runs past its end"
        );
    }
    // An empty batch is refused.
    assert!(codec::decode_binary::<SampleBatch>(&0u64.to_le_bytes()).is_err());
    // Trailing bytes are refused.
    let mut ack = codec::encode_binary(&Ack { committed_seq: 5 }).unwrap();
    ack.push(0);
    assert!(codec::decode_binary::<Ack>(&ack).is_err());
    // Non-finite floats are refused.
    let mut speed = codec::encode_binary(&sample::RunningSpeedCadence {
        speed_mps: 1.0,
        cadence_spm: 1,
        stride_m: None,
        distance_m: None,
        running: false,
    })
    .unwrap();
    speed[..4].copy_from_slice(&f32::INFINITY.to_le_bytes());
    let err = codec::decode_binary::<sample::RunningSpeedCadence>(&speed).unwrap_err();
    assert!(err.to_string().contains("not finite"), "{err}");
    // Oversize input is refused before decoding.
    assert!(matches!(
        codec::decode_frame(&vec![WIRE_VERSION; MAX_FRAME_BYTES + 1]),
        Err(DecodeError::TooLarge { .. })
    ));
    assert!(matches!(
        codec::from_json::<Ack>(&vec![b' '; codec::MAX_JSON_BYTES + 1]),
        Err(JsonError::TooLarge { .. })
    ));
}
