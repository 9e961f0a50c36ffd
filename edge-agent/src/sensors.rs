//! The sensors of one athlete as the gateway is told of them: connected or not, battery.
//!
//! [`SensorTable`] folds the sources' [`SensorStatus`] reports (BLE connects and drops, the
//! simulator's battery) into one [`DeviceStatus`]; the recorder spools a device status
//! frame whenever the table changes, so it shares the session's seqs and is acked and
//! resent like samples.

use std::collections::BTreeMap;

use paceline_schemas::device_status::MAX_BATTERY_PCT;
use paceline_schemas::{DeviceStatus, SensorKind, SensorReport};

use crate::ble::{SensorState, SensorStatus, sensor_kind};

/// The latest state of each kind of sensor.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SensorTable {
    sensors: BTreeMap<SensorKind, SensorReport>,
}

impl SensorTable {
    /// Takes one report; true if the table changed. A lost sensor keeps its last battery
    /// level; a level over 100 % (a sensor breaking the Battery Level spec) is dropped.
    pub fn apply(&mut self, status: &SensorStatus) -> bool {
        let Some(kind) = sensor_kind(status.service) else {
            return false;
        };
        let previous = self.sensors.get(&kind).copied();
        let report = match &status.state {
            SensorState::Connected { battery_pct, .. } => SensorReport {
                kind,
                connected: true,
                battery_pct: battery_pct
                    .filter(|pct| *pct <= MAX_BATTERY_PCT)
                    .or(previous.and_then(|p| p.battery_pct)),
            },
            SensorState::Lost { .. } => SensorReport {
                kind,
                connected: false,
                battery_pct: previous.and_then(|p| p.battery_pct),
            },
        };
        self.sensors.insert(kind, report);
        previous != Some(report)
    }

    /// The table as a device status at device time `t_ms`.
    pub fn status(&self, t_ms: u64) -> DeviceStatus {
        DeviceStatus {
            t_ms,
            sensors: self.sensors.values().copied().collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ble::{HEART_RATE_SERVICE, SENSOR_SERVICES};

    fn connected(service: u16, battery_pct: Option<u8>) -> SensorStatus {
        SensorStatus {
            service,
            sensor: "AA:BB:CC:DD:EE:FF".to_owned(),
            state: SensorState::Connected {
                name: None,
                battery_pct,
            },
        }
    }

    #[test]
    fn changes_are_reported_once_and_a_lost_sensor_keeps_its_battery() {
        let mut table = SensorTable::default();
        assert!(table.apply(&connected(HEART_RATE_SERVICE, Some(64))));
        assert!(!table.apply(&connected(HEART_RATE_SERVICE, Some(64))));
        assert!(table.apply(&connected(HEART_RATE_SERVICE, Some(63))));
        let lost = SensorStatus {
            service: HEART_RATE_SERVICE,
            sensor: "AA:BB:CC:DD:EE:FF".to_owned(),
            state: SensorState::Lost {
                reason: "out of range".to_owned(),
            },
        };
        assert!(table.apply(&lost));
        assert!(!table.apply(&lost));
        assert_eq!(
            table.status(9_000),
            DeviceStatus {
                t_ms: 9_000,
                sensors: vec![SensorReport {
                    kind: SensorKind::HeartRate,
                    connected: false,
                    battery_pct: Some(63),
                }],
            }
        );
        // Reconnected without a reading: the last level stands.
        assert!(table.apply(&connected(HEART_RATE_SERVICE, None)));
        assert_eq!(table.status(0).sensors[0].battery_pct, Some(63));
    }

    #[test]
    fn every_sensor_service_has_a_kind_and_nonsense_is_dropped() {
        let mut table = SensorTable::default();
        for (service, _, _) in SENSOR_SERVICES {
            assert!(
                table.apply(&connected(service, Some(250))),
                "{service:#06x}"
            );
        }
        let status = table.status(0);
        assert_eq!(status.sensors.len(), 5);
        assert!(status.sensors.iter().all(|s| s.battery_pct.is_none()));
        assert!(status.sensors.len() <= paceline_schemas::MAX_SENSORS_PER_STATUS);
        assert!(!table.apply(&connected(0x1234, Some(50))));
        assert!(paceline_schemas::codec::encode_binary(&status).is_ok());
    }
}
