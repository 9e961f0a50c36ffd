//! GATT decoders: the bytes of a Bluetooth SIG characteristic notification to a
//! [`SampleValue`].
//!
//! Pure functions, exact to the SIG layouts (all little-endian): Heart Rate Measurement
//! 0x2A37, Cycling Power Measurement 0x2A63, RSC Measurement 0x2A53, CSC Measurement
//! 0x2A5B, FTMS Indoor Bike Data 0x2AD2 and Treadmill Data 0x2ACD. Every field the flags
//! announce is read in the order the specification lists it; a payload shorter than its
//! flags require, or with bytes left over, is a [`GattError`]. Reserved flag bits are
//! ignored where they announce nothing (0x2A37, 0x2A63, 0x2A53, 0x2A5B) and refused where
//! they would announce fields this decoder cannot size (the FTMS characteristics).
//!
//! Values that need more than one notification (cadence and speed from revolution
//! counters) are not filled here: see [`crate::revolutions::Revolutions`].
//!
//! No decoder panics or allocates more than the payload's own size, whatever the input.

use paceline_schemas::MAX_RR_PER_SAMPLE;
use paceline_schemas::SampleValue;

pub use crate::revolutions::{RevolutionRate, Revolutions};
use paceline_schemas::sample::{
    BalanceReference, Contact, CyclingPower, HeartRate, IndoorBike, RunningSpeedCadence,
    SpeedCadence, TorqueSource, Treadmill,
};

/// Heart Rate Measurement.
pub const HEART_RATE_MEASUREMENT: u16 = 0x2A37;
/// Cycling Power Measurement.
pub const CYCLING_POWER_MEASUREMENT: u16 = 0x2A63;
/// RSC (running speed and cadence) Measurement.
pub const RSC_MEASUREMENT: u16 = 0x2A53;
/// CSC (cycling speed and cadence) Measurement.
pub const CSC_MEASUREMENT: u16 = 0x2A5B;
/// FTMS Indoor Bike Data.
pub const INDOOR_BIKE_DATA: u16 = 0x2AD2;
/// FTMS Treadmill Data.
pub const TREADMILL_DATA: u16 = 0x2ACD;
/// Battery Level (a single `u8`, percent); read, not decoded to a sample.
pub const BATTERY_LEVEL: u16 = 0x2A19;

/// Every characteristic [`decode`] understands, with its name.
pub const MEASUREMENT_CHARACTERISTICS: [(u16, &str); 6] = [
    (HEART_RATE_MEASUREMENT, "Heart Rate Measurement"),
    (CYCLING_POWER_MEASUREMENT, "Cycling Power Measurement"),
    (RSC_MEASUREMENT, "RSC Measurement"),
    (CSC_MEASUREMENT, "CSC Measurement"),
    (INDOOR_BIKE_DATA, "Indoor Bike Data"),
    (TREADMILL_DATA, "Treadmill Data"),
];

/// Why a notification could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GattError {
    /// The characteristic is not one of [`MEASUREMENT_CHARACTERISTICS`].
    #[error("characteristic 0x{uuid:04x} is not a measurement this agent decodes")]
    UnknownCharacteristic {
        /// The 16-bit UUID asked for.
        uuid: u16,
    },
    /// The payload ends before a field its flags announce.
    #[error("0x{uuid:04x}: payload of {len} bytes ends inside the {field} field")]
    TooShort {
        /// The characteristic.
        uuid: u16,
        /// The field that did not fit.
        field: &'static str,
        /// The payload length, bytes.
        len: usize,
    },
    /// Bytes remain after every field the flags announce.
    #[error("0x{uuid:04x}: {extra} bytes left after the fields the flags announce")]
    TrailingBytes {
        /// The characteristic.
        uuid: u16,
        /// How many bytes were left.
        extra: usize,
    },
    /// The RR interval list has an odd number of bytes.
    #[error("0x2a37: the RR interval list has an odd length ({len} bytes)")]
    OddRrLength {
        /// Length of the RR list, bytes.
        len: usize,
    },
    /// More RR intervals than one sample holds.
    #[error("0x2a37: {count} RR intervals, more than the {MAX_RR_PER_SAMPLE} a sample holds")]
    TooManyRr {
        /// How many intervals the payload carried.
        count: usize,
    },
    /// Flags announce fields this decoder does not know (reserved bits set).
    #[error("0x{uuid:04x}: reserved flag bits 0x{bits:04x} are set")]
    ReservedFlags {
        /// The characteristic.
        uuid: u16,
        /// The reserved bits that were set.
        bits: u16,
    },
}

/// Decodes one notification of characteristic `char_uuid` (16-bit SIG UUID).
pub fn decode(char_uuid: u16, payload: &[u8]) -> Result<SampleValue, GattError> {
    Ok(match char_uuid {
        HEART_RATE_MEASUREMENT => SampleValue::HeartRate(decode_heart_rate(payload)?),
        CYCLING_POWER_MEASUREMENT => SampleValue::CyclingPower(decode_cycling_power(payload)?),
        RSC_MEASUREMENT => SampleValue::RunningSpeedCadence(decode_rsc(payload)?),
        CSC_MEASUREMENT => SampleValue::SpeedCadence(decode_csc(payload)?),
        INDOOR_BIKE_DATA => SampleValue::IndoorBike(decode_indoor_bike(payload)?),
        TREADMILL_DATA => SampleValue::Treadmill(decode_treadmill(payload)?),
        uuid => return Err(GattError::UnknownCharacteristic { uuid }),
    })
}

/// A little-endian reader over a payload that names the field it failed on.
struct Fields<'a> {
    uuid: u16,
    bytes: &'a [u8],
    len: usize,
}

impl<'a> Fields<'a> {
    fn new(uuid: u16, bytes: &'a [u8]) -> Self {
        Self {
            uuid,
            bytes,
            len: bytes.len(),
        }
    }

    fn take<const N: usize>(&mut self, field: &'static str) -> Result<[u8; N], GattError> {
        match self.bytes.split_first_chunk::<N>() {
            Some((head, rest)) => {
                self.bytes = rest;
                Ok(*head)
            }
            None => Err(GattError::TooShort {
                uuid: self.uuid,
                field,
                len: self.len,
            }),
        }
    }

    fn u8(&mut self, field: &'static str) -> Result<u8, GattError> {
        Ok(self.take::<1>(field)?[0])
    }

    fn u16(&mut self, field: &'static str) -> Result<u16, GattError> {
        Ok(u16::from_le_bytes(self.take(field)?))
    }

    fn i16(&mut self, field: &'static str) -> Result<i16, GattError> {
        Ok(i16::from_le_bytes(self.take(field)?))
    }

    fn u24(&mut self, field: &'static str) -> Result<u32, GattError> {
        let [a, b, c] = self.take(field)?;
        Ok(u32::from_le_bytes([a, b, c, 0]))
    }

    fn u32(&mut self, field: &'static str) -> Result<u32, GattError> {
        Ok(u32::from_le_bytes(self.take(field)?))
    }

    fn rest(&mut self) -> &'a [u8] {
        std::mem::take(&mut self.bytes)
    }

    fn finish(self) -> Result<(), GattError> {
        if self.bytes.is_empty() {
            Ok(())
        } else {
            Err(GattError::TrailingBytes {
                uuid: self.uuid,
                extra: self.bytes.len(),
            })
        }
    }
}

fn bit(flags: u16, n: u32) -> bool {
    flags & (1 << n) != 0
}

/// Heart Rate Measurement (0x2A37).
///
/// Flags (`u8`): bit 0 heart rate is `u16` (else `u8`); bits 1–2 sensor contact (`0b11`
/// on, `0b10` off, otherwise unsupported); bit 3 energy expended present (`u16`, kJ);
/// bit 4 RR intervals present (`u16` each, 1/1024 s, to the end of the payload).
pub fn decode_heart_rate(payload: &[u8]) -> Result<HeartRate, GattError> {
    let mut fields = Fields::new(HEART_RATE_MEASUREMENT, payload);
    let flags = u16::from(fields.u8("flags")?);
    let bpm = if bit(flags, 0) {
        fields.u16("heart rate (uint16)")?
    } else {
        u16::from(fields.u8("heart rate (uint8)")?)
    };
    let contact = match (flags >> 1) & 0b11 {
        0b11 => Contact::On,
        0b10 => Contact::Off,
        _ => Contact::Unsupported,
    };
    let energy_kj = if bit(flags, 3) {
        Some(fields.u16("energy expended")?)
    } else {
        None
    };
    let mut rr_1024 = Vec::new();
    if bit(flags, 4) {
        let rr = fields.rest();
        if rr.is_empty() {
            return Err(GattError::TooShort {
                uuid: HEART_RATE_MEASUREMENT,
                field: "RR interval",
                len: payload.len(),
            });
        }
        if !rr.len().is_multiple_of(2) {
            return Err(GattError::OddRrLength { len: rr.len() });
        }
        let count = rr.len() / 2;
        if count > MAX_RR_PER_SAMPLE {
            return Err(GattError::TooManyRr { count });
        }
        rr_1024 = rr
            .chunks_exact(2)
            .map(|pair| u16::from_le_bytes([pair[0], pair[1]]))
            .collect();
    }
    fields.finish()?;
    Ok(HeartRate {
        bpm,
        contact,
        energy_kj,
        rr_1024,
    })
}

/// Cycling Power Measurement (0x2A63).
///
/// Flags (`u16`), then instantaneous power (`sint16`, W), then in this order: bit 0 pedal
/// power balance (`u8`, 1/2 %; bit 1 says it is the left pedal's), bit 2 accumulated
/// torque (`u16`, 1/32 N·m; bit 3 set = measured at the crank), bit 4 wheel revolution
/// data (`u32` revolutions, `u16` last event time 1/2048 s), bit 5 crank revolution data
/// (`u16` revolutions, `u16` last event time 1/1024 s), bit 6 extreme force magnitudes
/// (`sint16` max, `sint16` min, N), bit 7 extreme torque magnitudes (`sint16` max and min,
/// 1/32 N·m), bit 8 extreme angles (two 12-bit angles in 3 bytes, max first, degrees),
/// bit 9 top dead spot angle (`u16`, degrees), bit 10 bottom dead spot angle (`u16`),
/// bit 11 accumulated energy (`u16`, kJ); bit 12 offset compensation indicator.
pub fn decode_cycling_power(payload: &[u8]) -> Result<CyclingPower, GattError> {
    let mut fields = Fields::new(CYCLING_POWER_MEASUREMENT, payload);
    let flags = fields.u16("flags")?;
    let mut power = CyclingPower {
        power_w: fields.i16("instantaneous power")?,
        balance_reference: if bit(flags, 1) {
            BalanceReference::Left
        } else {
            BalanceReference::Unknown
        },
        torque_source: if bit(flags, 3) {
            TorqueSource::Crank
        } else {
            TorqueSource::Wheel
        },
        offset_compensation: bit(flags, 12),
        ..CyclingPower::default()
    };
    if bit(flags, 0) {
        power.balance_pct = Some(f32::from(fields.u8("pedal power balance")?) / 2.0);
    }
    if bit(flags, 2) {
        power.accumulated_torque_nm = Some(f32::from(fields.u16("accumulated torque")?) / 32.0);
    }
    if bit(flags, 4) {
        power.wheel_revs = Some(fields.u32("cumulative wheel revolutions")?);
        power.wheel_event_2048 = Some(fields.u16("last wheel event time")?);
    }
    if bit(flags, 5) {
        power.crank_revs = Some(fields.u16("cumulative crank revolutions")?);
        power.crank_event_1024 = Some(fields.u16("last crank event time")?);
    }
    if bit(flags, 6) {
        power.max_force_n = Some(fields.i16("maximum force magnitude")?);
        power.min_force_n = Some(fields.i16("minimum force magnitude")?);
    }
    if bit(flags, 7) {
        power.max_torque_nm = Some(f32::from(fields.i16("maximum torque magnitude")?) / 32.0);
        power.min_torque_nm = Some(f32::from(fields.i16("minimum torque magnitude")?) / 32.0);
    }
    if bit(flags, 8) {
        let [a, b, c] = fields.take::<3>("extreme angles")?;
        power.max_angle_deg = Some(u16::from(a) | (u16::from(b & 0x0F) << 8));
        power.min_angle_deg = Some(u16::from(b >> 4) | (u16::from(c) << 4));
    }
    if bit(flags, 9) {
        power.top_dead_spot_deg = Some(fields.u16("top dead spot angle")?);
    }
    if bit(flags, 10) {
        power.bottom_dead_spot_deg = Some(fields.u16("bottom dead spot angle")?);
    }
    if bit(flags, 11) {
        power.accumulated_energy_kj = Some(fields.u16("accumulated energy")?);
    }
    fields.finish()?;
    Ok(power)
}

/// RSC Measurement (0x2A53).
///
/// Flags (`u8`): bit 0 instantaneous stride length present, bit 1 total distance present,
/// bit 2 running (else walking). Then speed (`u16`, 1/256 m/s), cadence (`u8`, steps per
/// minute), stride length (`u16`, 1/100 m), total distance (`u32`, 1/10 m).
pub fn decode_rsc(payload: &[u8]) -> Result<RunningSpeedCadence, GattError> {
    let mut fields = Fields::new(RSC_MEASUREMENT, payload);
    let flags = u16::from(fields.u8("flags")?);
    let speed_mps = f32::from(fields.u16("instantaneous speed")?) / 256.0;
    let cadence_spm = u16::from(fields.u8("instantaneous cadence")?);
    let stride_m = if bit(flags, 0) {
        Some(f32::from(fields.u16("instantaneous stride length")?) / 100.0)
    } else {
        None
    };
    let distance_m = if bit(flags, 1) {
        // Up to 429 million decimetres: f64 keeps it exact before the f32 field rounds it.
        #[allow(clippy::cast_possible_truncation, reason = "f32 is the schema's type")]
        let metres = (f64::from(fields.u32("total distance")?) / 10.0) as f32;
        Some(metres)
    } else {
        None
    };
    fields.finish()?;
    Ok(RunningSpeedCadence {
        speed_mps,
        cadence_spm,
        stride_m,
        distance_m,
        running: bit(flags, 2),
    })
}

/// CSC Measurement (0x2A5B).
///
/// Flags (`u8`): bit 0 wheel revolution data (`u32` revolutions, `u16` last event time
/// 1/1024 s), bit 1 crank revolution data (`u16` revolutions, `u16` last event time
/// 1/1024 s), in that order.
pub fn decode_csc(payload: &[u8]) -> Result<SpeedCadence, GattError> {
    let mut fields = Fields::new(CSC_MEASUREMENT, payload);
    let flags = u16::from(fields.u8("flags")?);
    let mut csc = SpeedCadence::default();
    if bit(flags, 0) {
        csc.wheel_revs = Some(fields.u32("cumulative wheel revolutions")?);
        csc.wheel_event_1024 = Some(fields.u16("last wheel event time")?);
    }
    if bit(flags, 1) {
        csc.crank_revs = Some(fields.u16("cumulative crank revolutions")?);
        csc.crank_event_1024 = Some(fields.u16("last crank event time")?);
    }
    fields.finish()?;
    Ok(csc)
}

fn tenths(raw: u16) -> f32 {
    f32::from(raw) / 10.0
}

fn signed_tenths(raw: i16) -> f32 {
    f32::from(raw) / 10.0
}

fn hundredths(raw: u16) -> f32 {
    f32::from(raw) / 100.0
}

/// FTMS Indoor Bike Data (0x2AD2).
///
/// Flags (`u16`). Bit 0 is "more data": the instantaneous speed (`u16`, 0.01 km/h) is
/// present when it is **0**. Then, each when its bit is set: 1 average speed (`u16`,
/// 0.01 km/h), 2 instantaneous cadence (`u16`, 0.5 rpm), 3 average cadence (`u16`,
/// 0.5 rpm), 4 total distance (`u24`, m), 5 resistance level (`sint16`), 6 instantaneous
/// power (`sint16`, W), 7 average power (`sint16`, W), 8 expended energy (total `u16` kcal,
/// per hour `u16` kcal, per minute `u8` kcal), 9 heart rate (`u8`, bpm), 10 metabolic
/// equivalent (`u8`, 0.1), 11 elapsed time (`u16`, s), 12 remaining time (`u16`, s).
/// Bits 13–15 are reserved: set, they are refused.
pub fn decode_indoor_bike(payload: &[u8]) -> Result<IndoorBike, GattError> {
    let mut fields = Fields::new(INDOOR_BIKE_DATA, payload);
    let flags = fields.u16("flags")?;
    if flags & 0xE000 != 0 {
        return Err(GattError::ReservedFlags {
            uuid: INDOOR_BIKE_DATA,
            bits: flags & 0xE000,
        });
    }
    let mut bike = IndoorBike::default();
    if !bit(flags, 0) {
        bike.speed_kmh = Some(hundredths(fields.u16("instantaneous speed")?));
    }
    if bit(flags, 1) {
        bike.avg_speed_kmh = Some(hundredths(fields.u16("average speed")?));
    }
    if bit(flags, 2) {
        bike.cadence_rpm = Some(f32::from(fields.u16("instantaneous cadence")?) / 2.0);
    }
    if bit(flags, 3) {
        bike.avg_cadence_rpm = Some(f32::from(fields.u16("average cadence")?) / 2.0);
    }
    if bit(flags, 4) {
        bike.total_distance_m = Some(fields.u24("total distance")?);
    }
    if bit(flags, 5) {
        bike.resistance_level = Some(fields.i16("resistance level")?);
    }
    if bit(flags, 6) {
        bike.power_w = Some(fields.i16("instantaneous power")?);
    }
    if bit(flags, 7) {
        bike.avg_power_w = Some(fields.i16("average power")?);
    }
    if bit(flags, 8) {
        bike.total_energy_kcal = Some(fields.u16("total energy")?);
        bike.energy_per_hour_kcal = Some(fields.u16("energy per hour")?);
        bike.energy_per_minute_kcal = Some(fields.u8("energy per minute")?);
    }
    if bit(flags, 9) {
        bike.heart_rate = Some(fields.u8("heart rate")?);
    }
    if bit(flags, 10) {
        bike.metabolic_equivalent = Some(tenths(u16::from(fields.u8("metabolic equivalent")?)));
    }
    if bit(flags, 11) {
        bike.elapsed_s = Some(fields.u16("elapsed time")?);
    }
    if bit(flags, 12) {
        bike.remaining_s = Some(fields.u16("remaining time")?);
    }
    fields.finish()?;
    Ok(bike)
}

/// FTMS Treadmill Data (0x2ACD).
///
/// Flags (`u16`). Bit 0 is "more data": the instantaneous speed (`u16`, 0.01 km/h) is
/// present when it is **0**. Then, each when its bit is set: 1 average speed (`u16`,
/// 0.01 km/h), 2 total distance (`u24`, m), 3 inclination (`sint16`, 0.1 %) and ramp angle
/// setting (`sint16`, 0.1 degree), 4 positive and negative elevation gain (`u16` each,
/// 0.1 m), 5 instantaneous pace (`u8`, 0.1 km/min), 6 average pace (`u8`, 0.1 km/min),
/// 7 expended energy (total `u16` kcal, per hour `u16` kcal, per minute `u8` kcal), 8 heart
/// rate (`u8`, bpm), 9 metabolic equivalent (`u8`, 0.1), 10 elapsed time (`u16`, s),
/// 11 remaining time (`u16`, s), 12 force on belt (`sint16`, N) and power output
/// (`sint16`, W). Bits 13–15 are reserved: set, they are refused.
pub fn decode_treadmill(payload: &[u8]) -> Result<Treadmill, GattError> {
    let mut fields = Fields::new(TREADMILL_DATA, payload);
    let flags = fields.u16("flags")?;
    if flags & 0xE000 != 0 {
        return Err(GattError::ReservedFlags {
            uuid: TREADMILL_DATA,
            bits: flags & 0xE000,
        });
    }
    let mut tread = Treadmill::default();
    if !bit(flags, 0) {
        tread.speed_kmh = Some(hundredths(fields.u16("instantaneous speed")?));
    }
    if bit(flags, 1) {
        tread.avg_speed_kmh = Some(hundredths(fields.u16("average speed")?));
    }
    if bit(flags, 2) {
        tread.total_distance_m = Some(fields.u24("total distance")?);
    }
    if bit(flags, 3) {
        tread.inclination_pct = Some(signed_tenths(fields.i16("inclination")?));
        tread.ramp_angle_deg = Some(signed_tenths(fields.i16("ramp angle setting")?));
    }
    if bit(flags, 4) {
        tread.positive_elevation_gain_m = Some(tenths(fields.u16("positive elevation gain")?));
        tread.negative_elevation_gain_m = Some(tenths(fields.u16("negative elevation gain")?));
    }
    if bit(flags, 5) {
        tread.pace_km_per_min = Some(tenths(u16::from(fields.u8("instantaneous pace")?)));
    }
    if bit(flags, 6) {
        tread.avg_pace_km_per_min = Some(tenths(u16::from(fields.u8("average pace")?)));
    }
    if bit(flags, 7) {
        tread.total_energy_kcal = Some(fields.u16("total energy")?);
        tread.energy_per_hour_kcal = Some(fields.u16("energy per hour")?);
        tread.energy_per_minute_kcal = Some(fields.u8("energy per minute")?);
    }
    if bit(flags, 8) {
        tread.heart_rate = Some(fields.u8("heart rate")?);
    }
    if bit(flags, 9) {
        tread.metabolic_equivalent = Some(tenths(u16::from(fields.u8("metabolic equivalent")?)));
    }
    if bit(flags, 10) {
        tread.elapsed_s = Some(fields.u16("elapsed time")?);
    }
    if bit(flags, 11) {
        tread.remaining_s = Some(fields.u16("remaining time")?);
    }
    if bit(flags, 12) {
        tread.force_on_belt_n = Some(fields.i16("force on belt")?);
        tread.power_output_w = Some(fields.i16("power output")?);
    }
    fields.finish()?;
    Ok(tread)
}

/// Parses a characteristic given as hex (`2a37`, `0x2A37`) or its short name (`hr`,
/// `power`, `rsc`, `csc`, `bike`, `treadmill`).
pub fn parse_characteristic(text: &str) -> Result<u16, GattError> {
    let lower = text.trim().to_ascii_lowercase();
    let named = match lower.as_str() {
        "hr" | "heart_rate" => Some(HEART_RATE_MEASUREMENT),
        "power" | "cycling_power" => Some(CYCLING_POWER_MEASUREMENT),
        "rsc" => Some(RSC_MEASUREMENT),
        "csc" => Some(CSC_MEASUREMENT),
        "bike" | "indoor_bike" => Some(INDOOR_BIKE_DATA),
        "treadmill" => Some(TREADMILL_DATA),
        _ => None,
    };
    if let Some(uuid) = named {
        return Ok(uuid);
    }
    let digits = lower.strip_prefix("0x").unwrap_or(&lower);
    let uuid = u16::from_str_radix(digits, 16)
        .map_err(|_| GattError::UnknownCharacteristic { uuid: 0 })?;
    if MEASUREMENT_CHARACTERISTICS
        .iter()
        .any(|(known, _)| *known == uuid)
    {
        Ok(uuid)
    } else {
        Err(GattError::UnknownCharacteristic { uuid })
    }
}
