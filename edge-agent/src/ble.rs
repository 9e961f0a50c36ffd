//! Bluetooth LE sensors: the services, the sensor states and their reports, the choice of
//! sensors, and [`BleStack`], the seam through which a Bluetooth stack is handed in.
//!
//! The library has no stack of its own and links no system library, so the gateway, the
//! bench and the tests embed the agent without Bluetooth. The `paceline-edge` binary, with
//! its `ble` cargo feature (on by default), brings btleplug (BlueZ over D-Bus on Linux);
//! an agent without a stack answers [`BleError::Unavailable`] for `Source::Ble` rides.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use paceline_schemas::{Sample, SensorKind};
use tokio::sync::mpsc;

use crate::gatt;

/// Heart Rate service.
pub const HEART_RATE_SERVICE: u16 = 0x180D;
/// Cycling Power service.
pub const CYCLING_POWER_SERVICE: u16 = 0x1818;
/// Running Speed and Cadence service.
pub const RSC_SERVICE: u16 = 0x1814;
/// Cycling Speed and Cadence service.
pub const CSC_SERVICE: u16 = 0x1816;
/// Fitness Machine service.
pub const FTMS_SERVICE: u16 = 0x1826;
/// Battery service.
pub const BATTERY_SERVICE: u16 = 0x180F;

/// The sensor services scanned for, with their measurement characteristics.
pub const SENSOR_SERVICES: [(u16, &str, &[u16]); 5] = [
    (
        HEART_RATE_SERVICE,
        "heart rate",
        &[gatt::HEART_RATE_MEASUREMENT],
    ),
    (
        CYCLING_POWER_SERVICE,
        "cycling power",
        &[gatt::CYCLING_POWER_MEASUREMENT],
    ),
    (
        RSC_SERVICE,
        "running speed and cadence",
        &[gatt::RSC_MEASUREMENT],
    ),
    (
        CSC_SERVICE,
        "cycling speed and cadence",
        &[gatt::CSC_MEASUREMENT],
    ),
    (
        FTMS_SERVICE,
        "fitness machine",
        &[gatt::INDOOR_BIKE_DATA, gatt::TREADMILL_DATA],
    ),
];

/// The kind of sensor a service's sensor is, as device status frames name it.
pub fn sensor_kind(service: u16) -> Option<SensorKind> {
    match service {
        HEART_RATE_SERVICE => Some(SensorKind::HeartRate),
        CYCLING_POWER_SERVICE => Some(SensorKind::Power),
        CSC_SERVICE => Some(SensorKind::Cadence),
        RSC_SERVICE => Some(SensorKind::Footpod),
        FTMS_SERVICE => Some(SensorKind::Trainer),
        _ => None,
    }
}

/// The service a sensor of `kind` offers.
pub fn service_of(kind: SensorKind) -> u16 {
    match kind {
        SensorKind::HeartRate => HEART_RATE_SERVICE,
        SensorKind::Power => CYCLING_POWER_SERVICE,
        SensorKind::Cadence => CSC_SERVICE,
        SensorKind::Footpod => RSC_SERVICE,
        SensorKind::Trainer => FTMS_SERVICE,
    }
}

/// Why Bluetooth could not be used.
#[derive(Debug, thiserror::Error)]
pub enum BleError {
    /// No Bluetooth adapter, no BlueZ, or no D-Bus on this machine.
    #[error("Bluetooth is not available on this machine ({0})")]
    Unavailable(String),
    /// The stack failed while in use.
    #[error("Bluetooth: {0}")]
    Stack(String),
}

/// Which sensors to use: each by name or address (`AA:BB:CC:DD:EE:FF`), `"auto"` for the
/// first one seen offering the service, or `None` for not used.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BleSensors {
    /// Heart-rate strap.
    pub heart_rate: Option<String>,
    /// Power meter.
    pub power: Option<String>,
    /// Footpod.
    pub rsc: Option<String>,
    /// Speed/cadence sensor.
    pub csc: Option<String>,
    /// Smart trainer or treadmill.
    pub ftms: Option<String>,
    /// How long to scan before picking, s.
    pub scan_s: u64,
}

/// A sensor's state, as [`crate::agent::AgentEvent::SensorStatus`] reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SensorState {
    /// Connected and subscribed.
    Connected {
        /// Its advertised name.
        name: Option<String>,
        /// Battery level, %, when the sensor has a Battery service.
        battery_pct: Option<u8>,
    },
    /// Not connected (not found, or dropped); a reconnect follows after a backoff.
    Lost {
        /// Why.
        reason: String,
    },
}

/// One sensor's status change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SensorStatus {
    /// The service it serves (0x180D heart rate, …).
    pub service: u16,
    /// Its address once found, else the configured choice.
    pub sensor: String,
    /// What happened.
    pub state: SensorState,
}

/// Where sensor status changes go.
pub type SensorReporter = std::sync::Arc<dyn Fn(SensorStatus) + Send + Sync>;

/// A sensor found by a scan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FoundSensor {
    /// Its address.
    pub address: String,
    /// Its advertised name.
    pub name: Option<String>,
    /// The sensor services it advertises (16-bit UUIDs).
    pub services: Vec<u16>,
    /// Signal strength, dBm.
    pub rssi: Option<i16>,
}

/// A Bluetooth stack the agent can ride [`crate::agent::Source::Ble`] sensors with. The
/// library has none of its own (it links no system library); the `paceline-edge` binary,
/// built with its `ble` feature, hands in btleplug's.
#[derive(Clone)]
pub struct BleStack(Arc<BleRunner>);

/// Streams samples from the configured sensors to the sender until the receiver goes
/// away, reporting each sensor's status changes.
pub type BleRunner = dyn Fn(BleSensors, mpsc::Sender<Sample>, SensorReporter) -> BoxFuture<'static, Result<(), BleError>>
    + Send
    + Sync;

/// A boxed future, as [`BleRunner`] returns.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

impl BleStack {
    /// The stack that runs sensors with `runner`.
    pub fn new(runner: Arc<BleRunner>) -> Self {
        Self(runner)
    }

    /// Runs `sensors` until the receiver of `samples` goes away.
    pub(crate) async fn run(
        &self,
        sensors: BleSensors,
        samples: mpsc::Sender<Sample>,
        report: SensorReporter,
    ) -> Result<(), BleError> {
        (self.0)(sensors, samples, report).await
    }
}

impl std::fmt::Debug for BleStack {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("BleStack")
    }
}

/// A Battery Level (0x2A19) value: one byte, 0–100 %; anything else is no reading.
pub fn battery_level(value: &[u8]) -> Option<u8> {
    match value {
        [pct] if *pct <= paceline_schemas::device_status::MAX_BATTERY_PCT => Some(*pct),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn battery_levels_are_one_byte_up_to_100() {
        assert_eq!(battery_level(&[0]), Some(0));
        assert_eq!(battery_level(&[87]), Some(87));
        assert_eq!(battery_level(&[100]), Some(100));
        assert_eq!(battery_level(&[101]), None);
        assert_eq!(battery_level(&[]), None);
        assert_eq!(battery_level(&[50, 0]), None);
    }

    #[test]
    fn every_sensor_service_maps_to_a_kind_and_back() {
        for (service, _, _) in SENSOR_SERVICES {
            let kind = sensor_kind(service).unwrap();
            assert_eq!(service_of(kind), service);
        }
        assert_eq!(sensor_kind(BATTERY_SERVICE), None);
    }
}
