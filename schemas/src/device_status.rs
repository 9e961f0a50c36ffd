//! Device status: the state of the sensors an edge agent serves an athlete with — which are
//! connected and their battery levels.
//!
//! Sent up in its own frame ([`crate::FrameKind::DeviceStatus`]) when a sensor connects,
//! drops or reports a new battery level. It takes the session's next uplink seq and is
//! acknowledged like samples, so it goes through the agent's spool and is never lost. Each
//! status is complete (every sensor the agent knows of), so the receiver keeps only the
//! latest one.

use serde::{Deserialize, Serialize};

/// Most sensors in one [`DeviceStatus`] (an agent serves one of each of five kinds).
pub const MAX_SENSORS_PER_STATUS: usize = 8;
/// The highest battery level, %.
pub const MAX_BATTERY_PCT: u8 = 100;

/// What a sensor measures, by the Bluetooth service it offers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SensorKind {
    /// A heart-rate strap (Heart Rate service, 0x180D).
    HeartRate,
    /// A power meter (Cycling Power service, 0x1818).
    Power,
    /// A speed and cadence sensor (Cycling Speed and Cadence service, 0x1816).
    Cadence,
    /// A running footpod (Running Speed and Cadence service, 0x1814).
    Footpod,
    /// A smart trainer or treadmill (Fitness Machine service, 0x1826).
    Trainer,
}

/// One sensor's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SensorReport {
    /// What it measures.
    pub kind: SensorKind,
    /// Whether it is connected and sending now.
    pub connected: bool,
    /// Its battery level, 0–100 %, when it has a Battery service (0x180F, Battery Level
    /// 0x2A19) and has reported one.
    #[serde(with = "crate::bounded::percent_opt")]
    pub battery_pct: Option<u8>,
}

/// The state of every sensor the agent serves this athlete with.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeviceStatus {
    /// Device-monotonic time of the status, ms (the clock of [`crate::Sample::t_ms`]).
    pub t_ms: u64,
    /// The sensors, at most [`MAX_SENSORS_PER_STATUS`] (one per kind is expected; a
    /// receiver that finds a kind twice keeps the last).
    #[serde(
        serialize_with = "crate::bounded::serialize_vec::<_, _, 0, MAX_SENSORS_PER_STATUS>",
        deserialize_with = "crate::bounded::deserialize_vec::<_, _, 0, MAX_SENSORS_PER_STATUS>"
    )]
    pub sensors: Vec<SensorReport>,
}

impl DeviceStatus {
    /// The report of the sensor of `kind` (the last one if it is listed twice).
    pub fn sensor(&self, kind: SensorKind) -> Option<&SensorReport> {
        self.sensors.iter().rev().find(|s| s.kind == kind)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec;

    fn status() -> DeviceStatus {
        DeviceStatus {
            t_ms: 61_000,
            sensors: vec![
                SensorReport {
                    kind: SensorKind::HeartRate,
                    connected: true,
                    battery_pct: Some(17),
                },
                SensorReport {
                    kind: SensorKind::Power,
                    connected: false,
                    battery_pct: None,
                },
            ],
        }
    }

    #[test]
    fn round_trips_in_both_encodings() {
        let status = status();
        let bytes = codec::encode_binary(&status).unwrap();
        assert_eq!(
            codec::decode_binary::<DeviceStatus>(&bytes).unwrap(),
            status
        );
        let json = codec::to_json(&status).unwrap();
        assert_eq!(
            json,
            r#"{"t_ms":61000,"sensors":[{"kind":"heart_rate","connected":true,"battery_pct":17},{"kind":"power","connected":false,"battery_pct":null}]}"#
        );
        assert_eq!(
            codec::from_json::<DeviceStatus>(json.as_bytes()).unwrap(),
            status
        );
        assert_eq!(
            status.sensor(SensorKind::HeartRate).unwrap().battery_pct,
            Some(17)
        );
        assert!(status.sensor(SensorKind::Trainer).is_none());
    }

    #[test]
    fn a_battery_over_100_pct_is_refused_both_ways() {
        let mut status = status();
        status.sensors[0].battery_pct = Some(101);
        assert!(codec::encode_binary(&status).is_err());
        assert!(codec::to_json(&status).is_err());
        let mut bytes = codec::encode_binary(&self::status()).unwrap();
        // t_ms (8), count (8), kind (4), connected (1), Some (1), then the level.
        assert_eq!(bytes[22], 17);
        bytes[22] = 101;
        assert!(codec::decode_binary::<DeviceStatus>(&bytes).is_err());
        let json = br#"{"t_ms":1,"sensors":[{"kind":"power","connected":true,"battery_pct":250}]}"#;
        assert!(codec::from_json::<DeviceStatus>(json).is_err());
    }

    #[test]
    fn too_many_sensors_are_refused_before_allocating() {
        let report = status().sensors[0];
        let mut status = status();
        status.sensors = vec![report; MAX_SENSORS_PER_STATUS + 1];
        assert!(codec::encode_binary(&status).is_err());
        // A count of 2^40 sensors in 16 bytes: refused on the count, nothing allocated.
        let mut bytes = 5u64.to_le_bytes().to_vec();
        bytes.extend((1u64 << 40).to_le_bytes());
        let err = codec::decode_binary::<DeviceStatus>(&bytes).unwrap_err();
        assert!(err.to_string().contains("0..=8"), "{err}");
        status.sensors.truncate(MAX_SENSORS_PER_STATUS);
        let bytes = codec::encode_binary(&status).unwrap();
        assert_eq!(
            codec::decode_binary::<DeviceStatus>(&bytes).unwrap(),
            status
        );
    }

    #[test]
    fn unknown_kinds_bad_bools_and_trailing_bytes_are_errors() {
        let good = codec::encode_binary(&status()).unwrap();
        let mut unknown_kind = good.clone();
        unknown_kind[16] = 5;
        assert!(codec::decode_binary::<DeviceStatus>(&unknown_kind).is_err());
        let mut bad_bool = good.clone();
        bad_bool[20] = 2;
        assert!(codec::decode_binary::<DeviceStatus>(&bad_bool).is_err());
        let mut trailing = good.clone();
        trailing.push(0);
        assert!(codec::decode_binary::<DeviceStatus>(&trailing).is_err());
        for cut in 0..good.len() {
            assert!(codec::decode_binary::<DeviceStatus>(&good[..cut]).is_err());
        }
        let json = br#"{"t_ms":1,"sensors":[{"kind":"radar","connected":true,"battery_pct":5}]}"#;
        assert!(codec::from_json::<DeviceStatus>(json).is_err());
    }
}
