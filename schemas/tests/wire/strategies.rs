//! proptest generators for every schema type. Floats are finite (the wire refuses others)
//! and lists respect the declared bounds.

use paceline_schemas::command::{OverrideTarget, TimeLeft};
use paceline_schemas::cue::{
    CompressRemaining, ExtendRecovery, InsertRecovery, MAX_CUE_TEXT_BYTES, ReduceTarget,
};
use paceline_schemas::frame::SendTimeLimits;
use paceline_schemas::plan::{
    CadenceRange, FtpRamp, FtpRange, HeartRateRange, Open, PowerRange, RepeatBlock, Sport, Zone,
};
use paceline_schemas::profile::{HrZoneModel, Sex, ZoneOverrides};
use paceline_schemas::sample::{
    BalanceReference, Contact, CyclingPower, IndoorBike, RunningSpeedCadence, SpeedCadence,
    TorqueSource, Treadmill,
};
use paceline_schemas::*;
use proptest::collection::{btree_map, vec};
use proptest::option;
use proptest::prelude::*;
use proptest::sample::select;

pub fn id_text() -> impl Strategy<Value = String> {
    "[A-Za-z0-9._:-]{1,64}"
}

pub fn tenant() -> impl Strategy<Value = TenantId> {
    id_text().prop_map(|t| TenantId::new(t).unwrap())
}

pub fn device() -> impl Strategy<Value = DeviceId> {
    id_text().prop_map(|t| DeviceId::new(t).unwrap())
}

pub fn session() -> impl Strategy<Value = SessionId> {
    id_text().prop_map(|t| SessionId::new(t).unwrap())
}

fn f32_finite() -> impl Strategy<Value = f32> {
    prop_oneof![
        -1.0e6f32..1.0e6,
        any::<f32>().prop_filter("finite", |v| v.is_finite()),
        Just(0.0f32),
    ]
}

fn f64_finite() -> impl Strategy<Value = f64> {
    prop_oneof![
        -1.0e9f64..1.0e9,
        any::<f64>().prop_filter("finite", |v| v.is_finite()),
    ]
}

fn opt_f32() -> impl Strategy<Value = Option<f32>> {
    option::of(f32_finite())
}

fn opt_f64() -> impl Strategy<Value = Option<f64>> {
    option::of(f64_finite())
}

fn text(max_chars: usize) -> impl Strategy<Value = String> {
    // Any Unicode, cut to the byte bound the type allows.
    vec(any::<char>(), 0..max_chars).prop_map(move |chars| {
        let mut out = String::new();
        for c in chars {
            if out.len() + c.len_utf8() > max_chars {
                break;
            }
            out.push(c);
        }
        out
    })
}

pub fn heart_rate() -> impl Strategy<Value = HeartRate> {
    (
        any::<u16>(),
        select(vec![Contact::Unsupported, Contact::Off, Contact::On]),
        any::<Option<u16>>(),
        vec(any::<u16>(), 0..=MAX_RR_PER_SAMPLE),
    )
        .prop_map(|(bpm, contact, energy_kj, rr_1024)| HeartRate {
            bpm,
            contact,
            energy_kj,
            rr_1024,
        })
}

pub fn cycling_power() -> BoxedStrategy<CyclingPower> {
    (
        (
            any::<i16>(),
            opt_f32(),
            select(vec![BalanceReference::Unknown, BalanceReference::Left]),
            opt_f32(),
            select(vec![TorqueSource::Wheel, TorqueSource::Crank]),
            any::<Option<u32>>(),
            any::<Option<u16>>(),
            any::<Option<u16>>(),
            any::<Option<u16>>(),
        ),
        (
            any::<Option<i16>>(),
            any::<Option<i16>>(),
            opt_f32(),
            opt_f32(),
            any::<Option<u16>>(),
            any::<Option<u16>>(),
            any::<Option<u16>>(),
            any::<Option<u16>>(),
            any::<Option<u16>>(),
            any::<bool>(),
            opt_f32(),
            opt_f32(),
        ),
    )
        .prop_map(|(a, b)| CyclingPower {
            power_w: a.0,
            balance_pct: a.1,
            balance_reference: a.2,
            accumulated_torque_nm: a.3,
            torque_source: a.4,
            wheel_revs: a.5,
            wheel_event_2048: a.6,
            crank_revs: a.7,
            crank_event_1024: a.8,
            max_force_n: b.0,
            min_force_n: b.1,
            max_torque_nm: b.2,
            min_torque_nm: b.3,
            max_angle_deg: b.4,
            min_angle_deg: b.5,
            top_dead_spot_deg: b.6,
            bottom_dead_spot_deg: b.7,
            accumulated_energy_kj: b.8,
            offset_compensation: b.9,
            cadence_rpm: b.10,
            speed_mps: b.11,
        })
        .boxed()
}

pub fn running() -> impl Strategy<Value = RunningSpeedCadence> {
    (
        f32_finite(),
        any::<u16>(),
        opt_f32(),
        opt_f32(),
        any::<bool>(),
    )
        .prop_map(|(speed_mps, cadence_spm, stride_m, distance_m, running)| {
            RunningSpeedCadence {
                speed_mps,
                cadence_spm,
                stride_m,
                distance_m,
                running,
            }
        })
}

pub fn speed_cadence() -> impl Strategy<Value = SpeedCadence> {
    (
        any::<Option<u32>>(),
        any::<Option<u16>>(),
        any::<Option<u16>>(),
        any::<Option<u16>>(),
        opt_f32(),
        opt_f32(),
    )
        .prop_map(|a| SpeedCadence {
            wheel_revs: a.0,
            wheel_event_1024: a.1,
            crank_revs: a.2,
            crank_event_1024: a.3,
            speed_mps: a.4,
            cadence_rpm: a.5,
        })
}

pub fn indoor_bike() -> BoxedStrategy<IndoorBike> {
    (
        (
            opt_f32(),
            opt_f32(),
            opt_f32(),
            opt_f32(),
            any::<Option<u32>>(),
        ),
        (
            any::<Option<i16>>(),
            any::<Option<i16>>(),
            any::<Option<i16>>(),
            any::<Option<u16>>(),
            any::<Option<u16>>(),
            any::<Option<u8>>(),
            any::<Option<u8>>(),
            opt_f32(),
            any::<Option<u16>>(),
            any::<Option<u16>>(),
        ),
    )
        .prop_map(|(a, b)| IndoorBike {
            speed_kmh: a.0,
            avg_speed_kmh: a.1,
            cadence_rpm: a.2,
            avg_cadence_rpm: a.3,
            total_distance_m: a.4,
            resistance_level: b.0,
            power_w: b.1,
            avg_power_w: b.2,
            total_energy_kcal: b.3,
            energy_per_hour_kcal: b.4,
            energy_per_minute_kcal: b.5,
            heart_rate: b.6,
            metabolic_equivalent: b.7,
            elapsed_s: b.8,
            remaining_s: b.9,
        })
        .boxed()
}

pub fn treadmill() -> BoxedStrategy<Treadmill> {
    (
        (
            opt_f32(),
            opt_f32(),
            any::<Option<u32>>(),
            opt_f32(),
            opt_f32(),
            opt_f32(),
            opt_f32(),
            opt_f32(),
            opt_f32(),
        ),
        (
            any::<Option<u16>>(),
            any::<Option<u16>>(),
            any::<Option<u8>>(),
            any::<Option<u8>>(),
            opt_f32(),
            any::<Option<u16>>(),
            any::<Option<u16>>(),
            any::<Option<i16>>(),
            any::<Option<i16>>(),
        ),
    )
        .prop_map(|(a, b)| Treadmill {
            speed_kmh: a.0,
            avg_speed_kmh: a.1,
            total_distance_m: a.2,
            inclination_pct: a.3,
            ramp_angle_deg: a.4,
            positive_elevation_gain_m: a.5,
            negative_elevation_gain_m: a.6,
            pace_km_per_min: a.7,
            avg_pace_km_per_min: a.8,
            total_energy_kcal: b.0,
            energy_per_hour_kcal: b.1,
            energy_per_minute_kcal: b.2,
            heart_rate: b.3,
            metabolic_equivalent: b.4,
            elapsed_s: b.5,
            remaining_s: b.6,
            force_on_belt_n: b.7,
            power_output_w: b.8,
        })
        .boxed()
}

pub fn sample_value() -> BoxedStrategy<SampleValue> {
    prop_oneof![
        heart_rate().prop_map(SampleValue::HeartRate),
        cycling_power().prop_map(SampleValue::CyclingPower),
        running().prop_map(SampleValue::RunningSpeedCadence),
        speed_cadence().prop_map(SampleValue::SpeedCadence),
        indoor_bike().prop_map(SampleValue::IndoorBike),
        treadmill().prop_map(SampleValue::Treadmill),
    ]
    .boxed()
}

pub fn sample() -> impl Strategy<Value = Sample> {
    (any::<u64>(), sample_value()).prop_map(|(t_ms, value)| Sample { t_ms, value })
}

/// Batches of up to 40 samples (the full 256 is covered by `full_batch` in `roundtrip`).
pub fn batch() -> BoxedStrategy<SampleBatch> {
    vec(sample(), 1..40)
        .prop_map(|samples| SampleBatch::new(samples).unwrap())
        .boxed()
}

pub fn strategy() -> impl Strategy<Value = CompressStrategy> {
    select(vec![
        CompressStrategy::KeepIntensity,
        CompressStrategy::KeepVolume,
        CompressStrategy::Hybrid,
    ])
}

pub fn modification() -> impl Strategy<Value = Modification> {
    prop_oneof![
        (any::<u8>(), any::<u32>()).prop_map(|(pct, duration_s)| Modification::ReduceTarget(
            ReduceTarget { pct, duration_s }
        )),
        any::<u32>().prop_map(|s| Modification::ExtendRecovery(ExtendRecovery { s })),
        any::<u32>().prop_map(|s| Modification::InsertRecovery(InsertRecovery { s })),
        (strategy(), any::<u32>()).prop_map(|(strategy, total_s)| {
            Modification::CompressRemaining(CompressRemaining { strategy, total_s })
        }),
        Just(Modification::EndStep),
        Just(Modification::SkipStep),
        Just(Modification::Pause),
    ]
}

pub fn cue() -> BoxedStrategy<Cue> {
    (
        session(),
        f64_finite(),
        select(vec![Severity::Info, Severity::Warn, Severity::Safety]),
        select(CueCode::ALL.to_vec()),
        text(MAX_CUE_TEXT_BYTES),
        option::of(modification()),
    )
        .prop_map(|(session, t_s, severity, code, text, modification)| Cue {
            session,
            t_s,
            severity,
            code,
            text,
            modification,
        })
        .boxed()
}

pub fn ack() -> impl Strategy<Value = Ack> {
    any::<u64>().prop_map(|committed_seq| Ack { committed_seq })
}

pub fn device_status() -> impl Strategy<Value = DeviceStatus> {
    let kind = prop_oneof![
        Just(SensorKind::HeartRate),
        Just(SensorKind::Power),
        Just(SensorKind::Cadence),
        Just(SensorKind::Footpod),
        Just(SensorKind::Trainer),
    ];
    let report = (kind, any::<bool>(), proptest::option::of(0u8..=100)).prop_map(
        |(kind, connected, battery_pct)| SensorReport {
            kind,
            connected,
            battery_pct,
        },
    );
    (
        any::<u64>(),
        proptest::collection::vec(report, 0..=MAX_SENSORS_PER_STATUS),
    )
        .prop_map(|(t_ms, sensors)| DeviceStatus { t_ms, sensors })
}

pub fn payload() -> BoxedStrategy<Payload> {
    prop_oneof![
        batch().prop_map(Payload::Samples),
        ack().prop_map(Payload::Ack),
        cue().prop_map(Payload::Cue),
        command().prop_map(Payload::Command),
        device_status().prop_map(Payload::DeviceStatus),
    ]
    .boxed()
}

/// A header whose kind matches `kind`.
pub fn header(kind: FrameKind) -> impl Strategy<Value = FrameHeader> {
    (tenant(), device(), session(), any::<u64>(), any::<u64>()).prop_map(
        move |(tenant, device, session, seq, sent_ms)| FrameHeader {
            kind,
            tenant,
            device,
            session,
            seq,
            sent_ms,
        },
    )
}

pub fn target() -> impl Strategy<Value = Target> {
    prop_oneof![
        (any::<u16>(), any::<u16>())
            .prop_map(|(low_w, high_w)| Target::PowerW(PowerRange { low_w, high_w })),
        (f32_finite(), f32_finite())
            .prop_map(|(low_pct, high_pct)| Target::PowerFtp(FtpRange { low_pct, high_pct })),
        (f32_finite(), f32_finite())
            .prop_map(|(start_pct, end_pct)| Target::PowerFtpRamp(FtpRamp { start_pct, end_pct })),
        (any::<u16>(), any::<u16>()).prop_map(|(low_bpm, high_bpm)| Target::HeartRate(
            HeartRateRange { low_bpm, high_bpm }
        )),
        any::<u8>().prop_map(|zone| Target::HrZone(Zone { zone })),
        any::<u8>().prop_map(|zone| Target::PowerZone(Zone { zone })),
        any::<Option<u8>>().prop_map(|rpe| Target::Open(Open { rpe })),
    ]
}

pub fn step() -> impl Strategy<Value = Step> {
    (
        select(vec![
            StepIntent::Warmup,
            StepIntent::Work,
            StepIntent::Recovery,
            StepIntent::Cooldown,
            StepIntent::Free,
        ]),
        any::<u32>(),
        target(),
        option::of((any::<u16>(), any::<u16>()).prop_map(|(low, high)| CadenceRange { low, high })),
        option::of(text(60)),
    )
        .prop_map(|(intent, duration_s, target, cadence_rpm, text)| Step {
            intent,
            duration_s,
            target,
            cadence_rpm,
            text,
        })
}

pub fn plan() -> BoxedStrategy<WorkoutPlan> {
    let entry = prop_oneof![
        step().prop_map(PlanStep::Step),
        (any::<u32>(), vec(step(), 1..4))
            .prop_map(|(count, steps)| PlanStep::Repeat(RepeatBlock { count, steps })),
    ];
    (
        text(80),
        option::of(text(80)),
        select(vec![Sport::Bike, Sport::Run, Sport::Other]),
        vec(entry, 1..8),
    )
        .prop_map(|(name, description, sport, steps)| WorkoutPlan {
            name,
            description,
            sport,
            steps,
        })
        .boxed()
}

pub fn command() -> impl Strategy<Value = Command> {
    prop_oneof![
        (target(), any::<Option<u32>>()).prop_map(|(target, duration_s)| {
            Command::OverrideTarget(OverrideTarget { target, duration_s })
        }),
        any::<u32>().prop_map(|minutes| Command::TimeLeft(TimeLeft { minutes })),
        Just(Command::Pause),
        Just(Command::Resume),
        Just(Command::SkipStep),
        Just(Command::End),
    ]
}

pub fn profile() -> BoxedStrategy<AthleteProfile> {
    (
        (
            option::of(text(40)),
            any::<Option<u8>>(),
            option::of(select(vec![Sex::Female, Sex::Male, Sex::Other])),
            opt_f32(),
            any::<Option<u16>>(),
            any::<Option<u16>>(),
            any::<Option<u16>>(),
        ),
        (
            any::<Option<u16>>(),
            any::<Option<u16>>(),
            any::<Option<u16>>(),
            any::<Option<u32>>(),
            any::<bool>(),
            option::of(select(vec![
                HrZoneModel::PctHrMax,
                HrZoneModel::Karvonen,
                HrZoneModel::Lthr,
            ])),
            option::of(
                (any::<Option<[u16; 4]>>(), any::<Option<[u16; 6]>>()).prop_map(
                    |(hr_upper_bpm, power_upper_w)| ZoneOverrides {
                        hr_upper_bpm,
                        power_upper_w,
                    },
                ),
            ),
        ),
    )
        .prop_map(|(a, b)| AthleteProfile {
            name: a.0,
            age: a.1,
            sex: a.2,
            weight_kg: a.3,
            hr_max: a.4,
            hr_rest: a.5,
            lthr: a.6,
            hr_cap: b.0,
            ftp: b.1,
            cp: b.2,
            w_prime_j: b.3,
            rpe_only: b.4,
            hr_zone_model: b.5,
            zone_overrides: b.6,
        })
        .boxed()
}

pub fn summary() -> BoxedStrategy<SessionSummary> {
    (
        (
            session(),
            f64_finite(),
            any::<[u32; 5]>(),
            any::<[u32; 7]>(),
            opt_f64(),
            any::<Option<u16>>(),
            opt_f64(),
        ),
        (
            opt_f64(),
            opt_f64(),
            opt_f64(),
            opt_f64(),
            opt_f64(),
            opt_f64(),
            opt_f64(),
            btree_map(select(CueCode::ALL.to_vec()), any::<u32>(), 0..6),
        ),
    )
        .prop_map(|(a, b)| SessionSummary {
            session: a.0,
            duration_s: a.1,
            time_in_hr_zone_s: a.2,
            time_in_power_zone_s: a.3,
            avg_hr_bpm: a.4,
            max_hr_bpm: a.5,
            avg_power_w: a.6,
            np_w: b.0,
            intensity_factor: b.1,
            tss: b.2,
            hr_tss: b.3,
            trimp: b.4,
            wbal_min_j: b.5,
            decoupling_pct: b.6,
            cue_counts: b.7,
        })
        .boxed()
}

/// Keeps `SendTimeLimits` in view for the send-time property.
pub fn send_time_limits() -> impl Strategy<Value = SendTimeLimits> {
    (any::<u64>(), any::<u64>()).prop_map(|(max_age_ms, max_ahead_ms)| SendTimeLimits {
        max_age_ms,
        max_ahead_ms,
    })
}
