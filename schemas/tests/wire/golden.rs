//! Golden bytes and JSON snapshots: the wire layout and the JSON contracts, pinned.
//!
//! Each frame kind has a checked-in file under `tests/golden/`. The test seals a fixed
//! payload with a fixed key and nonce and compares byte for byte; it also opens the
//! checked-in file, so bytes written by an older build keep decoding. A layout change is
//! made deliberately with `UPDATE_GOLDEN=1 cargo test -p paceline-schemas`, and shows in
//! review as a changed `.bin` file. JSON snapshots update with `UPDATE_EXPECT=1`.

use std::path::PathBuf;

use expect_test::{Expect, expect};
use paceline_schemas::command::{OverrideTarget, TimeLeft};
use paceline_schemas::cue::{CompressRemaining, ReduceTarget};
use paceline_schemas::plan::{FtpRamp, FtpRange, RepeatBlock, Sport};
use paceline_schemas::sample::{
    BalanceReference, Contact, CyclingPower, IndoorBike, RunningSpeedCadence, SpeedCadence,
    TorqueSource, Treadmill,
};
use paceline_schemas::*;
use paceline_schemas::{codec, seal};

const KEY: [u8; 32] = [0x42; 32];
const NONCE: [u8; 12] = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11];

fn header(kind: FrameKind, seq: u64) -> FrameHeader {
    FrameHeader {
        kind,
        tenant: TenantId::new("gym-1").unwrap(),
        device: DeviceId::new("strap-7").unwrap(),
        session: SessionId::new("2026-11-22T07-00").unwrap(),
        seq,
        sent_ms: 1_795_338_000_123,
    }
}

/// One sample of every kind, with the optional fields a real sensor would send.
pub fn every_kind_of_sample() -> SampleBatch {
    let values = vec![
        SampleValue::HeartRate(HeartRate {
            bpm: 142,
            contact: Contact::On,
            energy_kj: Some(312),
            rr_1024: vec![432, 437],
        }),
        SampleValue::CyclingPower(CyclingPower {
            power_w: 251,
            balance_pct: Some(49.5),
            balance_reference: BalanceReference::Left,
            accumulated_torque_nm: None,
            torque_source: TorqueSource::Crank,
            wheel_revs: None,
            wheel_event_2048: None,
            crank_revs: Some(1207),
            crank_event_1024: Some(61_440),
            max_force_n: None,
            min_force_n: None,
            max_torque_nm: None,
            min_torque_nm: None,
            max_angle_deg: None,
            min_angle_deg: None,
            top_dead_spot_deg: None,
            bottom_dead_spot_deg: None,
            accumulated_energy_kj: Some(405),
            offset_compensation: false,
            cadence_rpm: Some(91.5),
            speed_mps: None,
        }),
        SampleValue::RunningSpeedCadence(RunningSpeedCadence {
            speed_mps: 3.5,
            cadence_spm: 172,
            stride_m: Some(1.22),
            distance_m: Some(5230.4),
            running: true,
        }),
        SampleValue::SpeedCadence(SpeedCadence {
            wheel_revs: Some(70_001),
            wheel_event_1024: Some(2048),
            crank_revs: Some(3012),
            crank_event_1024: Some(1024),
            speed_mps: Some(8.25),
            cadence_rpm: Some(88.0),
        }),
        SampleValue::IndoorBike(IndoorBike {
            speed_kmh: Some(32.5),
            avg_speed_kmh: None,
            cadence_rpm: Some(90.5),
            avg_cadence_rpm: None,
            total_distance_m: Some(12_040),
            resistance_level: Some(12),
            power_w: Some(240),
            avg_power_w: None,
            total_energy_kcal: None,
            energy_per_hour_kcal: None,
            energy_per_minute_kcal: None,
            heart_rate: Some(140),
            metabolic_equivalent: None,
            elapsed_s: Some(1800),
            remaining_s: None,
        }),
        SampleValue::Treadmill(Treadmill {
            speed_kmh: Some(12.0),
            avg_speed_kmh: None,
            total_distance_m: Some(4000),
            inclination_pct: Some(1.5),
            ramp_angle_deg: None,
            positive_elevation_gain_m: Some(12.5),
            negative_elevation_gain_m: None,
            pace_km_per_min: None,
            avg_pace_km_per_min: None,
            total_energy_kcal: Some(220),
            energy_per_hour_kcal: None,
            energy_per_minute_kcal: None,
            heart_rate: None,
            metabolic_equivalent: None,
            elapsed_s: Some(1200),
            remaining_s: None,
            force_on_belt_n: None,
            power_output_w: None,
        }),
    ];
    let samples = values
        .into_iter()
        .zip(0u64..)
        .map(|(value, i)| Sample {
            t_ms: 3_600_000 + 250 * i,
            value,
        })
        .collect();
    SampleBatch::new(samples).unwrap()
}

pub fn safety_cue() -> Cue {
    Cue {
        session: SessionId::new("2026-11-22T07-00").unwrap(),
        t_s: 1834.0,
        severity: Severity::Safety,
        code: CueCode::HrAboveCap,
        text: "Heart rate 178 is above your cap of 176: ease off for 60 s".to_owned(),
        modification: Some(Modification::ReduceTarget(ReduceTarget {
            pct: 20,
            duration_s: 60,
        })),
    }
}

/// A strap on a low battery, a power meter without a Battery service, a trainer gone.
pub fn device_status() -> DeviceStatus {
    DeviceStatus {
        t_ms: 3_600_500,
        sensors: vec![
            SensorReport {
                kind: SensorKind::HeartRate,
                connected: true,
                battery_pct: Some(18),
            },
            SensorReport {
                kind: SensorKind::Power,
                connected: true,
                battery_pct: None,
            },
            SensorReport {
                kind: SensorKind::Trainer,
                connected: false,
                battery_pct: Some(100),
            },
        ],
    }
}

/// The golden frames: (file name, header, payload).
pub fn golden_frames() -> Vec<(&'static str, FrameHeader, Payload)> {
    vec![
        (
            "frame_samples.bin",
            header(FrameKind::Samples, 17),
            Payload::Samples(every_kind_of_sample()),
        ),
        (
            "frame_ack.bin",
            header(FrameKind::Ack, 3),
            Payload::Ack(Ack { committed_seq: 17 }),
        ),
        (
            "frame_cue.bin",
            header(FrameKind::Cue, 4),
            Payload::Cue(safety_cue()),
        ),
        (
            "frame_command.bin",
            header(FrameKind::Command, 18),
            Payload::Command(Command::TimeLeft(TimeLeft { minutes: 35 })),
        ),
        (
            "frame_device_status.bin",
            header(FrameKind::DeviceStatus, 19),
            Payload::DeviceStatus(device_status()),
        ),
    ]
}

pub fn golden_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/golden")
}

/// The encoded golden frame, freshly sealed.
pub fn sealed_golden(header: FrameHeader, payload: &Payload) -> Vec<u8> {
    let key = DeviceKey::from_bytes(KEY);
    let frame = seal::seal_with_nonce(&key, header, payload, NONCE).unwrap();
    codec::encode_frame(&frame).unwrap()
}

#[test]
fn golden_frames_match_the_checked_in_bytes() {
    let update = std::env::var_os("UPDATE_GOLDEN").is_some();
    for (name, header, payload) in golden_frames() {
        let path = golden_dir().join(name);
        let fresh = sealed_golden(header, &payload);
        if update {
            std::fs::write(&path, &fresh).unwrap();
        }
        let checked_in = std::fs::read(&path).unwrap_or_else(|err| {
            panic!(
                "{}: {err} (run with UPDATE_GOLDEN=1 to create)",
                path.display()
            )
        });
        assert!(
            fresh == checked_in,
            "{name}: the binary layout changed.\n fresh: {}\n file:  {}\nIf this is deliberate, bump WIRE_VERSION if old peers cannot read it, and run UPDATE_GOLDEN=1.",
            hex::encode(&fresh),
            hex::encode(&checked_in)
        );
        // Bytes from the file open to the same payload.
        let frame = codec::decode_frame(&checked_in).unwrap();
        let key = DeviceKey::from_bytes(KEY);
        assert_eq!(seal::open(&key, &frame).unwrap(), payload, "{name}");
    }
}

#[test]
fn golden_header_layout() {
    // The header layout, spelled out: the associated data is exactly these bytes.
    let aad = seal::associated_data(&header(FrameKind::Ack, 3)).unwrap();
    check_hex(
        &aad,
        expect![[r#"
            01                                               version
            01000000                                         kind = Ack
            0500000000000000 67796d2d31                      tenant "gym-1"
            0700000000000000 73747261702d37                  device "strap-7"
            1000000000000000 323032362d31312d32325430372d3030 session
            0300000000000000                                 seq = 3
            fbd67b02 a2010000                                sent_ms
        "#]],
    );
}

/// Renders the associated data in the annotated form above, from the bytes.
fn check_hex(aad: &[u8], expected: Expect) {
    let mut at = 0usize;
    let mut take = |n: usize| {
        let part = hex::encode(&aad[at..at + n]);
        at += n;
        part
    };
    let mut lines = Vec::new();
    lines.push(format!("{:<48} version", take(1)));
    lines.push(format!("{:<48} kind = Ack", take(4)));
    for label in ["tenant \"gym-1\"", "device \"strap-7\"", "session"] {
        let len_hex = take(8);
        let len = u64::from_le_bytes(hex::decode(&len_hex).unwrap().try_into().unwrap());
        let text = take(usize::try_from(len).unwrap());
        lines.push(format!("{:<48} {label}", format!("{len_hex} {text}")));
    }
    lines.push(format!("{:<48} seq = 3", take(8)));
    let sent = take(8);
    lines.push(format!(
        "{:<48} sent_ms",
        format!("{} {}", &sent[..8], &sent[8..])
    ));
    assert_eq!(at, aad.len(), "unexpected trailing header bytes");
    expected.assert_eq(&(lines.join("\n") + "\n"));
}

fn check_json<T: serde::Serialize>(value: &T, expected: Expect) {
    expected.assert_eq(&codec::to_json_pretty(value).unwrap());
}

#[test]
fn cue_json_contract() {
    check_json(
        &safety_cue(),
        expect![[r#"
            {
              "session": "2026-11-22T07-00",
              "t_s": 1834.0,
              "severity": "safety",
              "code": "hr_above_cap",
              "text": "Heart rate 178 is above your cap of 176: ease off for 60 s",
              "modification": {
                "kind": "reduce_target",
                "pct": 20,
                "duration_s": 60
              }
            }"#]],
    );
    let compress = Modification::CompressRemaining(CompressRemaining {
        strategy: CompressStrategy::Hybrid,
        total_s: 2100,
    });
    assert_eq!(
        codec::to_json(&compress).unwrap(),
        r#"{"kind":"compress_remaining","strategy":"hybrid","total_s":2100}"#
    );
    assert_eq!(
        codec::to_json(&Modification::EndStep).unwrap(),
        r#"{"kind":"end_step"}"#
    );
    let codes: Vec<String> = CueCode::ALL
        .iter()
        .map(|code| codec::to_json(code).unwrap())
        .collect();
    expect![[r#"
        "step_start" "step_end" "above_target" "below_target" "hr_above_cap" "hr_signal_lost" "hr_signal_back" "artifact_suspected" "wbal_low" "wbal_empty" "decoupling_high" "time_budget_compressed" "coach_override" "session_end""#]]
    .assert_eq(&codes.join(" "));
}

#[test]
fn sample_json_contract() {
    let batch = every_kind_of_sample();
    let lines: Vec<String> = batch
        .samples()
        .iter()
        .map(|s| codec::to_json(&s.value).unwrap())
        .collect();
    expect![[r#"
        {"kind":"heart_rate","bpm":142,"contact":"on","energy_kj":312,"rr_1024":[432,437]}
        {"kind":"cycling_power","power_w":251,"balance_pct":49.5,"balance_reference":"left","accumulated_torque_nm":null,"torque_source":"crank","wheel_revs":null,"wheel_event_2048":null,"crank_revs":1207,"crank_event_1024":61440,"max_force_n":null,"min_force_n":null,"max_torque_nm":null,"min_torque_nm":null,"max_angle_deg":null,"min_angle_deg":null,"top_dead_spot_deg":null,"bottom_dead_spot_deg":null,"accumulated_energy_kj":405,"offset_compensation":false,"cadence_rpm":91.5,"speed_mps":null}
        {"kind":"running_speed_cadence","speed_mps":3.5,"cadence_spm":172,"stride_m":1.22,"distance_m":5230.4,"running":true}
        {"kind":"speed_cadence","wheel_revs":70001,"wheel_event_1024":2048,"crank_revs":3012,"crank_event_1024":1024,"speed_mps":8.25,"cadence_rpm":88.0}
        {"kind":"indoor_bike","speed_kmh":32.5,"avg_speed_kmh":null,"cadence_rpm":90.5,"avg_cadence_rpm":null,"total_distance_m":12040,"resistance_level":12,"power_w":240,"avg_power_w":null,"total_energy_kcal":null,"energy_per_hour_kcal":null,"energy_per_minute_kcal":null,"heart_rate":140,"metabolic_equivalent":null,"elapsed_s":1800,"remaining_s":null}
        {"kind":"treadmill","speed_kmh":12.0,"avg_speed_kmh":null,"total_distance_m":4000,"inclination_pct":1.5,"ramp_angle_deg":null,"positive_elevation_gain_m":12.5,"negative_elevation_gain_m":null,"pace_km_per_min":null,"avg_pace_km_per_min":null,"total_energy_kcal":220,"energy_per_hour_kcal":null,"energy_per_minute_kcal":null,"heart_rate":null,"metabolic_equivalent":null,"elapsed_s":1200,"remaining_s":null,"force_on_belt_n":null,"power_output_w":null}"#]]
    .assert_eq(&lines.join("\n"));
    let first = codec::to_json(&batch.samples()[0]).unwrap();
    assert!(
        first.starts_with(r#"{"t_ms":3600000,"value":{"kind":"heart_rate""#),
        "{first}"
    );
}

#[test]
fn command_and_frame_json() {
    let commands = [
        Command::OverrideTarget(OverrideTarget {
            target: Target::PowerW(plan::PowerRange {
                low_w: 200,
                high_w: 220,
            }),
            duration_s: Some(300),
        }),
        Command::TimeLeft(TimeLeft { minutes: 35 }),
        Command::Pause,
        Command::End,
    ];
    let lines: Vec<String> = commands
        .iter()
        .map(|c| codec::to_json(c).unwrap())
        .collect();
    expect![[r#"
        {"kind":"override_target","target":{"kind":"power_w","low_w":200,"high_w":220},"duration_s":300}
        {"kind":"time_left","minutes":35}
        {"kind":"pause"}
        {"kind":"end"}"#]]
    .assert_eq(&lines.join("\n"));

    let (_, header, payload) = golden_frames().remove(1);
    let key = DeviceKey::from_bytes(KEY);
    let frame = seal::seal_with_nonce(&key, header, &payload, NONCE).unwrap();
    check_json(
        &frame,
        expect![[r#"
            {
              "header": {
                "kind": "ack",
                "tenant": "gym-1",
                "device": "strap-7",
                "session": "2026-11-22T07-00",
                "seq": 3,
                "sent_ms": 1795338000123
              },
              "nonce": "000102030405060708090a0b",
              "sealed": "f54054469a39735c26009ed1ebc401fd8571a80d1f2303ad"
            }"#]],
    );
}

#[test]
fn plan_json_contract() {
    let plan = WorkoutPlan {
        name: "VO2 5x3".to_owned(),
        description: None,
        sport: Sport::Bike,
        steps: vec![
            PlanStep::Step(Step {
                intent: StepIntent::Warmup,
                duration_s: 600,
                target: Target::PowerFtpRamp(FtpRamp {
                    start_pct: 45.0,
                    end_pct: 75.0,
                }),
                cadence_rpm: None,
                text: None,
            }),
            PlanStep::Repeat(RepeatBlock {
                count: 5,
                steps: vec![
                    Step {
                        intent: StepIntent::Work,
                        duration_s: 180,
                        target: Target::PowerFtp(FtpRange {
                            low_pct: 112.0,
                            high_pct: 118.0,
                        }),
                        cadence_rpm: None,
                        text: Some("Go!".to_owned()),
                    },
                    Step {
                        intent: StepIntent::Recovery,
                        duration_s: 180,
                        target: Target::Open(plan::Open { rpe: Some(2) }),
                        cadence_rpm: None,
                        text: None,
                    },
                ],
            }),
        ],
    };
    let json = codec::to_json(&plan).unwrap();
    expect![[r#"{"name":"VO2 5x3","description":null,"sport":"bike","steps":[{"kind":"step","intent":"warmup","duration_s":600,"target":{"kind":"power_ftp_ramp","start_pct":45.0,"end_pct":75.0},"cadence_rpm":null,"text":null},{"kind":"repeat","count":5,"steps":[{"intent":"work","duration_s":180,"target":{"kind":"power_ftp","low_pct":112.0,"high_pct":118.0},"cadence_rpm":null,"text":"Go!"},{"intent":"recovery","duration_s":180,"target":{"kind":"open","rpe":2},"cadence_rpm":null,"text":null}]}]}"#]]
    .assert_eq(&json);
    // Optional fields may be left out of hand-written plans.
    let minimal = r#"{"name":"Easy","sport":"run","steps":[
        {"kind":"step","intent":"free","duration_s":1800,"target":{"kind":"hr_zone","zone":2}}]}"#;
    let plan: WorkoutPlan = codec::from_json(minimal.as_bytes()).unwrap();
    assert_eq!(plan.steps.len(), 1);
}

#[test]
fn the_shared_profile_reads() {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../shared/data/plans/athlete-profile.json");
    let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let profile: AthleteProfile = codec::from_json(&bytes).unwrap();
    assert_eq!(profile.name.as_deref(), Some("Test Rider"));
    assert_eq!(profile.hr_max, Some(186));
    assert_eq!(profile.hr_cap, Some(176));
    assert_eq!(profile.w_prime_j, Some(18_000));
    assert_eq!(profile.weight_kg, Some(64.0));
    assert!(!profile.rpe_only);
    // A misspelt field is an error that names it, not a silent default.
    let err = codec::from_json::<AthleteProfile>(br#"{"hr_mx": 190}"#).unwrap_err();
    expect![[r#"invalid JSON at line 1, column 8: unknown field `hr_mx`, expected one of `name`, `age`, `sex`, `weight_kg`, `hr_max`, `hr_rest`, `lthr`, `hr_cap`, `ftp`, `cp`, `w_prime_j`, `rpe_only`, `hr_zone_model`, `zone_overrides`"#]]
    .assert_eq(&err.to_string());
}

#[test]
fn device_status_json_contract() {
    check_json(
        &device_status(),
        expect![[r#"
            {
              "t_ms": 3600500,
              "sensors": [
                {
                  "kind": "heart_rate",
                  "connected": true,
                  "battery_pct": 18
                },
                {
                  "kind": "power",
                  "connected": true,
                  "battery_pct": null
                },
                {
                  "kind": "trainer",
                  "connected": false,
                  "battery_pct": 100
                }
              ]
            }"#]],
    );
    // The new kind is appended: index 4, after command; older kinds keep their bytes.
    let aad = seal::associated_data(&header(FrameKind::DeviceStatus, 19)).unwrap();
    assert_eq!(&aad[1..5], &4u32.to_le_bytes());
    assert_eq!(
        codec::to_json(&FrameKind::DeviceStatus).unwrap(),
        r#""device_status""#
    );
}
