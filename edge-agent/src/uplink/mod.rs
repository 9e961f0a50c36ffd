//! The uplinks: MQTT ([`mqtt`]) and QUIC ([`quic`]). Both send the spool's frames in
//! order from a cursor, rewind the cursor to the oldest unacknowledged frame on every
//! connect and when acks stall, and hand downlink frames to the device. QUIC frames sent as
//! datagrams and lost are sent again on the stream as soon as repeated acks show the gap
//! (`gaps`).

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use paceline_schemas::SessionId;

use crate::agent::{AgentEvent, Device, Phase};
use crate::spool::SpoolEntry;

mod gaps;
pub mod mqtt;
pub mod quic;

/// Timing of an uplink.
#[derive(Debug, Clone, Copy)]
pub(crate) struct LinkSettings {
    /// Resend everything unacknowledged when acks stall this long.
    pub(crate) resend_after: Duration,
    /// First reconnect delay.
    pub(crate) reconnect_min: Duration,
    /// Longest reconnect delay.
    pub(crate) reconnect_max: Duration,
}

/// The send position of one connection over the device's spool.
#[derive(Debug)]
pub(crate) struct Cursor {
    /// Index of the last entry handed to the transport (0: none yet).
    sent_index: u64,
    /// When acks last made progress (or the cursor was last rewound).
    last_progress: Instant,
}

impl Cursor {
    /// A cursor at the oldest unacknowledged frame.
    pub(crate) fn new() -> Self {
        Self {
            sent_index: 0,
            last_progress: Instant::now(),
        }
    }

    /// The next frame to send, if any.
    pub(crate) fn next(&self, device: &Device) -> Option<SpoolEntry> {
        device.spool().next_after(self.sent_index).cloned()
    }

    /// Marks `entry` as handed to the transport.
    pub(crate) fn sent(&mut self, device: &Device, entry: &SpoolEntry) {
        self.sent_index = entry.index;
        device.spool().mark_sent(&entry.session, entry.seq);
        device.counters.frames_sent.fetch_add(1, Ordering::Relaxed);
        device.emit(AgentEvent::FrameSent {
            device: device.credentials.device.clone(),
            session: entry.session.clone(),
            seq: entry.seq,
            at: Instant::now(),
        });
    }

    /// Acks moved forward.
    pub(crate) fn progressed(&mut self) {
        self.last_progress = Instant::now();
    }

    /// Rewinds to the oldest unacknowledged frame when acks have stalled for
    /// `resend_after` with frames outstanding; returns whether it did.
    pub(crate) fn rewind_if_stalled(&mut self, device: &Device, resend_after: Duration) -> bool {
        let outstanding = {
            let spool = device.spool();
            spool
                .entries()
                .next()
                .is_some_and(|oldest| oldest.index <= self.sent_index)
        };
        if outstanding && self.last_progress.elapsed() >= resend_after {
            tracing::info!(device = %device.credentials.device, "no ack progress: resending unacknowledged frames");
            self.sent_index = 0;
            self.last_progress = Instant::now();
            return true;
        }
        false
    }
}

/// How long a draining uplink, everything acknowledged, still listens for the coach's
/// "Session over" cue. The gateway makes that cue after it has stored (and acked) the
/// `End` frame, on another path, so it can arrive after the last ack.
pub(crate) const END_CUE_GRACE: Duration = Duration::from_secs(2);

/// When a draining uplink may stop: everything acknowledged and the session-end cue heard
/// (or [`END_CUE_GRACE`] passed without it), or the drain deadline reached.
#[derive(Debug, Default)]
pub(crate) struct StopCheck {
    /// When the spool was first seen empty while draining.
    drained_at: Option<tokio::time::Instant>,
}

impl StopCheck {
    /// Whether the uplink may stop now.
    pub(crate) fn may_stop(&mut self, device: &Device, phase: Phase) -> bool {
        let Phase::Draining { deadline } = phase else {
            self.drained_at = None;
            return false;
        };
        let now = tokio::time::Instant::now();
        if now >= deadline {
            return true;
        }
        if !device.spool().is_empty() {
            self.drained_at = None;
            return false;
        }
        if !device.awaiting_end_cue.load(Ordering::Relaxed) {
            return true;
        }
        let drained_at = *self.drained_at.get_or_insert(now);
        now >= drained_at + END_CUE_GRACE
    }

    /// When the check's answer can change without a frame or a phase change: the end of
    /// the grace (`None`: not waiting on it).
    pub(crate) fn wake_at(&self) -> Option<tokio::time::Instant> {
        self.drained_at.map(|at| at + END_CUE_GRACE)
    }
}

/// Reports the stop and syncs the spool.
pub(crate) fn stopped(device: &Device) {
    let unacked = {
        let mut spool = device.spool();
        if let Err(e) = spool.sync() {
            tracing::error!(error = %e, "spool sync failed");
        }
        spool.unacked_len()
    };
    device.emit(AgentEvent::UplinkStopped {
        device: device.credentials.device.clone(),
        unacked,
    });
}

/// Exponential reconnect backoff with jitter.
#[derive(Debug)]
pub(crate) struct Backoff {
    settings: LinkSettings,
    next: Duration,
    jitter_state: u64,
}

impl Backoff {
    pub(crate) fn new(settings: LinkSettings, seed: &SessionId) -> Self {
        let jitter_state = seed
            .as_str()
            .bytes()
            .fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
                (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
            });
        Self {
            settings,
            next: settings.reconnect_min,
            jitter_state,
        }
    }

    pub(crate) fn reset(&mut self) {
        self.next = self.settings.reconnect_min;
    }

    /// The delay before the next attempt: the current step ±25 %, then the step doubles.
    pub(crate) fn delay(&mut self) -> Duration {
        self.jitter_state ^= self.jitter_state << 13;
        self.jitter_state ^= self.jitter_state >> 7;
        self.jitter_state ^= self.jitter_state << 17;
        let permille = 750 + self.jitter_state % 501;
        let delay = self.next * u32::try_from(permille).unwrap_or(1000) / 1000;
        self.next = (self.next * 2).min(self.settings.reconnect_max);
        delay
    }
}

/// Waits `delay`, cut short when the phase changes to draining.
pub(crate) async fn wait_or_phase(
    delay: Duration,
    phase: &mut tokio::sync::watch::Receiver<Phase>,
) {
    tokio::select! {
        () = tokio::time::sleep(delay) => {}
        _ = phase.changed() => {}
    }
}
