//! Sample sources: the simulator and file replay, driven by tokio time, and BLE through the
//! [`BleStack`] the agent was given ([`crate::ble`]). Each sends samples on a channel until
//! its ride ends.

use std::time::Duration;

use paceline_schemas::Sample;
use tokio::sync::mpsc;

use crate::agent::Source;
use crate::simulator::SimulatedAthlete;

pub use crate::ble::BleSensors;
use crate::ble::{BleError, BleStack};

/// Why a source stopped early.
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    /// The recording could not be read.
    #[error("{path}: {reason}")]
    File {
        /// The file.
        path: String,
        /// Why.
        reason: String,
    },
    /// Bluetooth is unavailable or failed.
    #[error(transparent)]
    Ble(#[from] crate::ble::BleError),
}

fn scaled(t_ms: u64, speed: f64) -> Duration {
    let speed = if speed.is_finite() && speed > 0.0 {
        speed
    } else {
        1.0
    };
    #[allow(clippy::cast_precision_loss, reason = "ms of a ride are exact in f64")]
    let secs = t_ms as f64 / 1000.0 / speed;
    Duration::from_secs_f64(secs.min(1e9))
}

/// Runs `source` until its ride ends or the receiver goes away.
pub(crate) async fn run(
    source: Source,
    samples: mpsc::Sender<Sample>,
    report: crate::ble::SensorReporter,
    ble_stack: Option<BleStack>,
) -> Result<(), SourceError> {
    match source {
        Source::Simulator { config, speed } => {
            let mut athlete = SimulatedAthlete::new(config);
            let start = tokio::time::Instant::now();
            let mut batteries = Vec::new();
            while let Some(due_ms) = athlete.next_due_ms() {
                tokio::time::sleep_until(start + scaled(due_ms, speed)).await;
                // The simulated sensors connect at the start and report each new battery
                // level, as a BLE sensor's Battery Level would.
                let now = athlete.batteries_at(due_ms);
                if now != batteries {
                    for &(kind, battery_pct) in now.iter().filter(|b| !batteries.contains(b)) {
                        report(crate::ble::SensorStatus {
                            service: crate::ble::service_of(kind),
                            sensor: "simulated".to_owned(),
                            state: crate::ble::SensorState::Connected {
                                name: Some("Simulated".to_owned()),
                                battery_pct: Some(battery_pct),
                            },
                        });
                    }
                    batteries = now;
                }
                for sample in athlete.samples_at(due_ms) {
                    if samples.send(sample).await.is_err() {
                        return Ok(());
                    }
                }
            }
            Ok(())
        }
        Source::File { path, speed } => {
            let bytes = tokio::fs::read(&path)
                .await
                .map_err(|e| SourceError::File {
                    path: path.display().to_string(),
                    reason: e.to_string(),
                })?;
            let recorded = paceline_formats::samples::decode_activity(&bytes).map_err(|e| {
                SourceError::File {
                    path: path.display().to_string(),
                    reason: e.to_string(),
                }
            })?;
            let first_ms = recorded.first().map_or(0, |s| s.t_ms);
            let start = tokio::time::Instant::now();
            for mut sample in recorded {
                let offset_ms = sample.t_ms.saturating_sub(first_ms);
                tokio::time::sleep_until(start + scaled(offset_ms, speed)).await;
                sample.t_ms = offset_ms;
                if samples.send(sample).await.is_err() {
                    return Ok(());
                }
            }
            Ok(())
        }
        Source::Ble(sensors) => match ble_stack {
            Some(stack) => Ok(stack.run(sensors, samples, report).await?),
            None => Err(BleError::Unavailable(
                "this agent was built without a Bluetooth stack (the `ble` feature)".to_owned(),
            )
            .into()),
        },
        Source::Push => Ok(()),
    }
}
