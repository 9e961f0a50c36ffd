//! What the devices measure, on the generator's monotonic clock: every frame's frame → ack
//! and each command's frame → cue.
//!
//! A device's sending side notes each frame's seq and hand-off instant ([`DeviceState`]);
//! its downlink reader opens what the server sends back ([`on_downlink`]) and records the
//! latency of every frame the ack covers ([`AckRecorder`]) or of the command the cue
//! answers ([`Latencies`]).

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use paceline_schemas::{CueCode, DeviceKey, Payload, codec, seal};
use tokio::sync::mpsc;

/// What one device's downlink reader shares with its sender.
pub(super) struct DeviceState {
    /// When the pending command was handed over.
    pub(super) command_sent: Mutex<Option<Instant>>,
    /// The highest `committed_seq` heard.
    pub(super) acked: AtomicU64,
    /// Frames handed over and not yet acked: (seq, when), in seq order. Its capacity is
    /// made once; a frame costs a push and, when its ack comes, a pop.
    in_flight: Mutex<VecDeque<(u64, Instant)>>,
}

impl Default for DeviceState {
    fn default() -> Self {
        DeviceState {
            command_sent: Mutex::new(None),
            acked: AtomicU64::new(0),
            in_flight: Mutex::new(VecDeque::with_capacity(256)),
        }
    }
}

impl DeviceState {
    /// Notes that frames `seqs` were handed to the transport at `at`.
    pub(super) fn handed_over(&self, seqs: std::ops::RangeInclusive<u64>, at: Instant) {
        if let Ok(mut in_flight) = self.in_flight.lock() {
            in_flight.extend(seqs.map(|seq| (seq, at)));
        }
    }
}

/// Every frame's frame → ack latency, recorded by the devices' readers.
pub(super) struct AckRecorder {
    /// The measured window, set when the ride is scheduled: frames handed over in it
    /// count.
    pub(super) window: OnceLock<(Instant, Instant)>,
    pub(super) histogram: Mutex<Histogram<u64>>,
}

impl AckRecorder {
    pub(super) fn new() -> anyhow::Result<AckRecorder> {
        Ok(AckRecorder {
            window: OnceLock::new(),
            histogram: Mutex::new(Histogram::new_with_bounds(1, 600_000_000, 3)?),
        })
    }

    /// Records the frames of `state` up to `committed_seq`, acked at `at`.
    fn acked(&self, state: &DeviceState, committed_seq: u64, at: Instant) {
        let Some(&(from, until)) = self.window.get() else {
            return;
        };
        let Ok(mut in_flight) = state.in_flight.lock() else {
            return;
        };
        let mut histogram = None;
        while let Some(&(seq, sent)) = in_flight.front() {
            if seq > committed_seq {
                break;
            }
            in_flight.pop_front();
            if sent >= from && sent < until {
                let us = u64::try_from((at - sent).as_micros()).unwrap_or(u64::MAX);
                if histogram.is_none() {
                    histogram = self.histogram.lock().ok();
                }
                if let Some(h) = histogram.as_mut() {
                    h.saturating_record(us.max(1));
                }
            }
        }
    }
}

/// Where a reader sends frame → cue latencies: (command handed over at, latency).
pub(super) type Latencies = mpsc::UnboundedSender<(Instant, Duration)>;

/// Where a device's reader reports what it measured.
#[derive(Clone)]
pub(super) struct Probes {
    pub(super) cues: Latencies,
    pub(super) acks: Arc<AckRecorder>,
}

/// Handles one downlink frame of the device with `key`.
pub(super) fn on_downlink(key: &DeviceKey, state: &DeviceState, probes: &Probes, bytes: &[u8]) {
    let opened_at = Instant::now();
    let Ok(frame) = codec::decode_frame(bytes) else {
        return;
    };
    match seal::open(key, &frame) {
        Ok(Payload::Cue(cue)) if cue.code == CueCode::TimeBudgetCompressed => {
            let sent = state.command_sent.lock().ok().and_then(|mut s| s.take());
            if let Some(sent) = sent {
                let _ = probes.cues.send((sent, opened_at - sent));
            }
        }
        Ok(Payload::Ack(ack)) => {
            state.acked.fetch_max(ack.committed_seq, Ordering::Relaxed);
            probes.acks.acked(state, ack.committed_seq, opened_at);
        }
        _ => {}
    }
}
