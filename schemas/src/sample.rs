//! Sensor samples: what an edge agent read from a sensor, and when.
//!
//! Field names carry their units. Values follow the Bluetooth SIG characteristic they come
//! from (noted on each type); optional fields that the sensor did not send are `None`
//! (`null` in JSON). Values that need state to derive (cadence and speed from revolution
//! counters) are filled in by the edge agent when it can.

use serde::{Deserialize, Serialize};

use crate::tagged::tagged_enum;

/// Most samples in one [`SampleBatch`].
pub const MAX_SAMPLES_PER_BATCH: usize = 256;
/// Most RR intervals in one [`HeartRate`] sample.
pub const MAX_RR_PER_SAMPLE: usize = 32;

/// One reading of one sensor.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Sample {
    /// Device-monotonic time of the reading, in milliseconds (not wall-clock time).
    pub t_ms: u64,
    /// What was read.
    pub value: SampleValue,
}

tagged_enum! {
    /// The reading of one sensor kind. JSON: an object with a `kind` field.
    #[derive(Debug, Clone, PartialEq)]
    pub enum SampleValue {
        /// Heart Rate Measurement (0x2A37). JSON kind `heart_rate`.
        HeartRate(HeartRate) = "heart_rate",
        /// Cycling Power Measurement (0x2A63). JSON kind `cycling_power`.
        CyclingPower(CyclingPower) = "cycling_power",
        /// RSC Measurement (0x2A53). JSON kind `running_speed_cadence`.
        RunningSpeedCadence(RunningSpeedCadence) = "running_speed_cadence",
        /// CSC Measurement (0x2A5B). JSON kind `speed_cadence`.
        SpeedCadence(SpeedCadence) = "speed_cadence",
        /// FTMS Indoor Bike Data (0x2AD2). JSON kind `indoor_bike`.
        IndoorBike(IndoorBike) = "indoor_bike",
        /// FTMS Treadmill Data (0x2ACD). JSON kind `treadmill`.
        Treadmill(Treadmill) = "treadmill",
    }
}

/// Whether a heart-rate strap reports skin contact (flags bits 1–2 of 0x2A37).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Contact {
    /// The sensor does not report contact.
    Unsupported,
    /// The sensor reports no skin contact: its heart rate is not to be trusted.
    Off,
    /// The sensor reports skin contact.
    On,
}

/// A heart-rate reading (Heart Rate Measurement, 0x2A37).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HeartRate {
    /// Heart rate, beats per minute.
    pub bpm: u16,
    /// Skin contact state.
    pub contact: Contact,
    /// Energy expended since the sensor's last reset, kJ.
    pub energy_kj: Option<u16>,
    /// RR intervals in units of 1/1024 s, oldest first (at most [`MAX_RR_PER_SAMPLE`]).
    #[serde(
        serialize_with = "crate::bounded::serialize_vec::<_, _, 0, MAX_RR_PER_SAMPLE>",
        deserialize_with = "crate::bounded::deserialize_vec::<_, _, 0, MAX_RR_PER_SAMPLE>"
    )]
    pub rr_1024: Vec<u16>,
}

/// Which pedal a power meter's balance refers to (flags bit 1 of 0x2A63).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BalanceReference {
    /// The sensor does not say.
    #[default]
    Unknown,
    /// The balance is the left pedal's share.
    Left,
}

/// Where a power meter measures torque (flags bit 3 of 0x2A63).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TorqueSource {
    /// Torque measured at the wheel (flag clear).
    #[default]
    Wheel,
    /// Torque measured at the crank.
    Crank,
}

/// A power-meter reading (Cycling Power Measurement, 0x2A63).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CyclingPower {
    /// Instantaneous power, W.
    pub power_w: i16,
    /// Pedal power balance, % (resolution 0.5 %).
    #[serde(with = "crate::bounded::finite_opt")]
    pub balance_pct: Option<f32>,
    /// Which pedal `balance_pct` refers to.
    pub balance_reference: BalanceReference,
    /// Accumulated torque, N·m (resolution 1/32).
    #[serde(with = "crate::bounded::finite_opt")]
    pub accumulated_torque_nm: Option<f32>,
    /// Where torque is measured.
    pub torque_source: TorqueSource,
    /// Cumulative wheel revolutions.
    pub wheel_revs: Option<u32>,
    /// Last wheel event time, 1/2048 s (rolls over).
    pub wheel_event_2048: Option<u16>,
    /// Cumulative crank revolutions (rolls over at 2^16).
    pub crank_revs: Option<u16>,
    /// Last crank event time, 1/1024 s (rolls over).
    pub crank_event_1024: Option<u16>,
    /// Maximum force magnitude, N.
    pub max_force_n: Option<i16>,
    /// Minimum force magnitude, N.
    pub min_force_n: Option<i16>,
    /// Maximum torque magnitude, N·m (resolution 1/32).
    #[serde(with = "crate::bounded::finite_opt")]
    pub max_torque_nm: Option<f32>,
    /// Minimum torque magnitude, N·m (resolution 1/32).
    #[serde(with = "crate::bounded::finite_opt")]
    pub min_torque_nm: Option<f32>,
    /// Angle of the maximum magnitude, degrees.
    pub max_angle_deg: Option<u16>,
    /// Angle of the minimum magnitude, degrees.
    pub min_angle_deg: Option<u16>,
    /// Top dead spot angle, degrees.
    pub top_dead_spot_deg: Option<u16>,
    /// Bottom dead spot angle, degrees.
    pub bottom_dead_spot_deg: Option<u16>,
    /// Accumulated energy, kJ.
    pub accumulated_energy_kj: Option<u16>,
    /// The sensor reports an offset compensation in progress (flags bit 12).
    pub offset_compensation: bool,
    /// Cadence derived from successive crank events, rpm.
    #[serde(with = "crate::bounded::finite_opt")]
    pub cadence_rpm: Option<f32>,
    /// Speed derived from successive wheel events, m/s.
    #[serde(with = "crate::bounded::finite_opt")]
    pub speed_mps: Option<f32>,
}

/// A running footpod reading (RSC Measurement, 0x2A53).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RunningSpeedCadence {
    /// Instantaneous speed, m/s (resolution 1/256).
    #[serde(with = "crate::bounded::finite")]
    pub speed_mps: f32,
    /// Instantaneous cadence, steps per minute.
    pub cadence_spm: u16,
    /// Instantaneous stride length, m (resolution 0.01).
    #[serde(with = "crate::bounded::finite_opt")]
    pub stride_m: Option<f32>,
    /// Total distance, m (resolution 0.1).
    #[serde(with = "crate::bounded::finite_opt")]
    pub distance_m: Option<f32>,
    /// Running (true) or walking (false), flags bit 2.
    pub running: bool,
}

/// A speed and cadence sensor reading (CSC Measurement, 0x2A5B).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SpeedCadence {
    /// Cumulative wheel revolutions.
    pub wheel_revs: Option<u32>,
    /// Last wheel event time, 1/1024 s (rolls over).
    pub wheel_event_1024: Option<u16>,
    /// Cumulative crank revolutions (rolls over at 2^16).
    pub crank_revs: Option<u16>,
    /// Last crank event time, 1/1024 s (rolls over).
    pub crank_event_1024: Option<u16>,
    /// Speed derived from successive wheel events, m/s.
    #[serde(with = "crate::bounded::finite_opt")]
    pub speed_mps: Option<f32>,
    /// Cadence derived from successive crank events, rpm.
    #[serde(with = "crate::bounded::finite_opt")]
    pub cadence_rpm: Option<f32>,
}

/// A smart trainer reading (FTMS Indoor Bike Data, 0x2AD2).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IndoorBike {
    /// Instantaneous speed, km/h (resolution 0.01).
    #[serde(with = "crate::bounded::finite_opt")]
    pub speed_kmh: Option<f32>,
    /// Average speed, km/h (resolution 0.01).
    #[serde(with = "crate::bounded::finite_opt")]
    pub avg_speed_kmh: Option<f32>,
    /// Instantaneous cadence, rpm (resolution 0.5).
    #[serde(with = "crate::bounded::finite_opt")]
    pub cadence_rpm: Option<f32>,
    /// Average cadence, rpm (resolution 0.5).
    #[serde(with = "crate::bounded::finite_opt")]
    pub avg_cadence_rpm: Option<f32>,
    /// Total distance, m.
    pub total_distance_m: Option<u32>,
    /// Resistance level (unitless).
    pub resistance_level: Option<i16>,
    /// Instantaneous power, W.
    pub power_w: Option<i16>,
    /// Average power, W.
    pub avg_power_w: Option<i16>,
    /// Total energy, kcal.
    pub total_energy_kcal: Option<u16>,
    /// Energy per hour, kcal.
    pub energy_per_hour_kcal: Option<u16>,
    /// Energy per minute, kcal.
    pub energy_per_minute_kcal: Option<u8>,
    /// Heart rate the trainer relays, bpm.
    pub heart_rate: Option<u8>,
    /// Metabolic equivalent (resolution 0.1).
    #[serde(with = "crate::bounded::finite_opt")]
    pub metabolic_equivalent: Option<f32>,
    /// Elapsed time, s.
    pub elapsed_s: Option<u16>,
    /// Remaining time, s.
    pub remaining_s: Option<u16>,
}

/// A treadmill reading (FTMS Treadmill Data, 0x2ACD).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Treadmill {
    /// Instantaneous speed, km/h (resolution 0.01).
    #[serde(with = "crate::bounded::finite_opt")]
    pub speed_kmh: Option<f32>,
    /// Average speed, km/h (resolution 0.01).
    #[serde(with = "crate::bounded::finite_opt")]
    pub avg_speed_kmh: Option<f32>,
    /// Total distance, m.
    pub total_distance_m: Option<u32>,
    /// Inclination, % (resolution 0.1).
    #[serde(with = "crate::bounded::finite_opt")]
    pub inclination_pct: Option<f32>,
    /// Ramp angle setting, degrees (resolution 0.1).
    #[serde(with = "crate::bounded::finite_opt")]
    pub ramp_angle_deg: Option<f32>,
    /// Positive elevation gain, m (resolution 0.1).
    #[serde(with = "crate::bounded::finite_opt")]
    pub positive_elevation_gain_m: Option<f32>,
    /// Negative elevation gain, m (resolution 0.1).
    #[serde(with = "crate::bounded::finite_opt")]
    pub negative_elevation_gain_m: Option<f32>,
    /// Instantaneous pace, km/min (resolution 0.1).
    #[serde(with = "crate::bounded::finite_opt")]
    pub pace_km_per_min: Option<f32>,
    /// Average pace, km/min (resolution 0.1).
    #[serde(with = "crate::bounded::finite_opt")]
    pub avg_pace_km_per_min: Option<f32>,
    /// Total energy, kcal.
    pub total_energy_kcal: Option<u16>,
    /// Energy per hour, kcal.
    pub energy_per_hour_kcal: Option<u16>,
    /// Energy per minute, kcal.
    pub energy_per_minute_kcal: Option<u8>,
    /// Heart rate the treadmill relays, bpm.
    pub heart_rate: Option<u8>,
    /// Metabolic equivalent (resolution 0.1).
    #[serde(with = "crate::bounded::finite_opt")]
    pub metabolic_equivalent: Option<f32>,
    /// Elapsed time, s.
    pub elapsed_s: Option<u16>,
    /// Remaining time, s.
    pub remaining_s: Option<u16>,
    /// Force on belt, N.
    pub force_on_belt_n: Option<i16>,
    /// Power output, W.
    pub power_output_w: Option<i16>,
}

/// The body of an uplink frame: 1 to [`MAX_SAMPLES_PER_BATCH`] samples.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SampleBatch {
    #[serde(
        serialize_with = "crate::bounded::serialize_vec::<_, _, 1, MAX_SAMPLES_PER_BATCH>",
        deserialize_with = "crate::bounded::deserialize_vec::<_, _, 1, MAX_SAMPLES_PER_BATCH>"
    )]
    samples: Vec<Sample>,
}

/// A batch that would be empty or hold more than [`MAX_SAMPLES_PER_BATCH`] samples.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("a sample batch holds 1..={MAX_SAMPLES_PER_BATCH} samples, not {len}")]
pub struct BatchSizeError {
    /// The number of samples offered.
    pub len: usize,
}

impl SampleBatch {
    /// A batch of `samples`, which must number 1 to [`MAX_SAMPLES_PER_BATCH`].
    pub fn new(samples: Vec<Sample>) -> Result<Self, BatchSizeError> {
        if samples.is_empty() || samples.len() > MAX_SAMPLES_PER_BATCH {
            return Err(BatchSizeError { len: samples.len() });
        }
        Ok(Self { samples })
    }

    /// The samples, in the order the device read them.
    pub fn samples(&self) -> &[Sample] {
        &self.samples
    }

    /// Takes the samples out.
    pub fn into_samples(self) -> Vec<Sample> {
        self.samples
    }
}
