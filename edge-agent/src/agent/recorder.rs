//! The recorder task of a device: samples batched, sealed with the next seq of the session
//! and appended to the spool; sensor status changes spooled as device status frames; the
//! `End` frame at the end of the ride.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use paceline_schemas::{
    Command, FrameHeader, FrameKind, MAX_SAMPLES_PER_BATCH, Payload, Sample, SampleBatch,
    SessionId, codec, seal,
};
use tokio::sync::{mpsc, watch};

use crate::ble::SensorStatus;
use crate::sensors::SensorTable;
use crate::session::unix_ms_now;
use crate::spool::SpoolError;

use super::{AgentEvent, Device, Phase};

/// Rate limit of the "spool full" warning.
const SPOOL_FULL_WARN_EVERY: Duration = Duration::from_secs(10);

struct Recorder {
    device: Arc<Device>,
    session: SessionId,
    next_seq: u64,
    last_full_warning: Option<Instant>,
    /// The athlete's sensors as last reported.
    sensors: SensorTable,
    /// The table changed and its device status is not spooled yet (the spool was full).
    sensors_unsent: bool,
    /// The latest sample time spooled, ms (device time, the clock of device statuses).
    last_t_ms: u64,
}

impl Recorder {
    /// Seals `payload` with the next seq and spools it; `false` if the spool refused it.
    fn spool(&mut self, payload: Payload, samples: usize) -> bool {
        let credentials = &self.device.credentials;
        let sent_ms = unix_ms_now();
        let header = FrameHeader {
            kind: payload.kind(),
            tenant: credentials.tenant.clone(),
            device: credentials.device.clone(),
            session: self.session.clone(),
            seq: self.next_seq,
            sent_ms,
        };
        let bytes = match seal::seal(&credentials.key, header, &payload)
            .map_err(|e| e.to_string())
            .and_then(|frame| codec::encode_frame(&frame).map_err(|e| e.to_string()))
        {
            Ok(bytes) => bytes,
            Err(e) => {
                tracing::error!(device = %credentials.device, error = %e, "sealing a frame failed");
                return false;
            }
        };
        let appended = self
            .device
            .spool()
            .append(&self.session, self.next_seq, &bytes);
        match appended {
            Ok(_) => {
                let seq = self.next_seq;
                self.next_seq += 1;
                self.device
                    .counters
                    .frames_spooled
                    .fetch_add(1, Ordering::Relaxed);
                self.device.spooled.notify_one();
                self.device.emit(AgentEvent::FrameSpooled {
                    device: credentials.device.clone(),
                    session: self.session.clone(),
                    seq,
                    samples,
                    sent_at: Instant::now(),
                    sent_ms,
                });
                true
            }
            Err(SpoolError::Full { unacked_bytes, .. }) => {
                self.device
                    .counters
                    .samples_refused
                    .fetch_add(samples as u64, Ordering::Relaxed);
                let now = Instant::now();
                if self
                    .last_full_warning
                    .is_none_or(|at| now.duration_since(at) >= SPOOL_FULL_WARN_EVERY)
                {
                    self.last_full_warning = Some(now);
                    tracing::warn!(
                        device = %credentials.device,
                        unacked_bytes,
                        "spool full: new samples are refused until the gateway acknowledges \
                         frames (is it reachable?)"
                    );
                    self.device.emit(AgentEvent::SpoolFull {
                        device: credentials.device.clone(),
                        unacked_bytes,
                    });
                }
                false
            }
            Err(e) => {
                tracing::error!(device = %credentials.device, error = %e, "spool write failed");
                false
            }
        }
    }

    /// Takes a sensor's status change; spools the device status if the table changed.
    fn sensor_status(&mut self, status: &SensorStatus) {
        if self.sensors.apply(status) {
            self.sensors_unsent = true;
        }
        self.spool_sensors();
    }

    /// Spools the sensor table if it has changed since it was last spooled.
    fn spool_sensors(&mut self) {
        if self.sensors_unsent {
            let status = self.sensors.status(self.last_t_ms);
            self.sensors_unsent = !self.spool(Payload::DeviceStatus(status), 0);
        }
    }

    fn flush(&mut self, pending: &mut Vec<Sample>) {
        while !pending.is_empty() {
            let take = pending.len().min(MAX_SAMPLES_PER_BATCH);
            let samples: Vec<Sample> = pending.drain(..take).collect();
            let count = samples.len();
            if let Some(t_ms) = samples.iter().map(|s| s.t_ms).max() {
                self.last_t_ms = self.last_t_ms.max(t_ms);
            }
            if let Ok(batch) = SampleBatch::new(samples) {
                self.spool(Payload::Samples(batch), count);
            }
        }
        // A status the full spool refused goes as soon as there is room again.
        self.spool_sensors();
    }
}

/// The recorder task of one device.
pub(super) async fn record(
    device: Arc<Device>,
    session: SessionId,
    mut samples: mpsc::Receiver<Sample>,
    mut statuses: mpsc::UnboundedReceiver<SensorStatus>,
    batch_ms: u64,
    mut phase: watch::Receiver<Phase>,
) {
    let mut recorder = Recorder {
        device,
        session,
        next_seq: 1,
        last_full_warning: None,
        sensors: SensorTable::default(),
        sensors_unsent: false,
        last_t_ms: 0,
    };
    // A source without sensor reports (push, file) drops its sender at once.
    let mut statuses_open = true;
    let mut pending: Vec<Sample> = Vec::new();
    let mut flush_at: Option<tokio::time::Instant> = None;
    loop {
        let ending = *phase.borrow() != Phase::Running;
        if ending {
            while let Ok(sample) = samples.try_recv() {
                pending.push(sample);
            }
            recorder.flush(&mut pending);
            break;
        }
        tokio::select! {
            sample = samples.recv() => match sample {
                Some(sample) => {
                    pending.push(sample);
                    if batch_ms == 0 {
                        // Everything available at this moment shares the frame.
                        while pending.len() < MAX_SAMPLES_PER_BATCH {
                            match samples.try_recv() {
                                Ok(sample) => pending.push(sample),
                                Err(_) => break,
                            }
                        }
                        recorder.flush(&mut pending);
                    } else if flush_at.is_none() {
                        flush_at = Some(tokio::time::Instant::now() + Duration::from_millis(batch_ms));
                    } else if pending.len() >= MAX_SAMPLES_PER_BATCH {
                        recorder.flush(&mut pending);
                        flush_at = None;
                    }
                }
                None => {
                    recorder.flush(&mut pending);
                    break;
                }
            },
            () = sleep_until_opt(flush_at) => {
                recorder.flush(&mut pending);
                flush_at = None;
            }
            status = statuses.recv(), if statuses_open => match status {
                Some(status) => recorder.sensor_status(&status),
                None => statuses_open = false,
            },
            changed = phase.changed() => {
                if changed.is_err() {
                    break;
                }
            }
        }
    }
    let end_seq = recorder.next_seq;
    if recorder.spool(Payload::Command(Command::End), 0) {
        recorder
            .device
            .awaiting_end_cue
            .store(true, std::sync::atomic::Ordering::Relaxed);
        recorder.device.emit(AgentEvent::SessionEnded {
            device: recorder.device.credentials.device.clone(),
            session: recorder.session.clone(),
            end_seq,
        });
    }
    if let Err(e) = recorder.device.spool().sync() {
        tracing::error!(error = %e, "spool sync failed");
    }
    debug_assert_eq!(FrameKind::Command, Payload::Command(Command::End).kind());
}

/// Sleeps until `at`, or forever without one.
pub(crate) async fn sleep_until_opt(at: Option<tokio::time::Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}
