//! The downlink: acks release frames from the spool, cues pass the [`CueGuard`] and are
//! reported; anything else is counted and dropped.
//!
//! [`CueGuard`]: crate::cue_guard::CueGuard

use std::sync::atomic::Ordering;
use std::time::Instant;

use paceline_schemas::{CueCode, Payload, SessionId, codec, seal};

use super::{AgentEvent, Device};

/// What a downlink frame was, for the uplink.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Heard {
    /// An ack: the session's `committed_seq` (no higher than what was sent), and whether
    /// it released frames from the spool (acks made progress).
    Ack {
        session: SessionId,
        committed_seq: u64,
        released: bool,
    },
    /// A cue, or a frame dropped.
    Other,
}

impl Heard {
    /// Whether acks made progress.
    pub(crate) fn released(&self) -> bool {
        matches!(self, Heard::Ack { released: true, .. })
    }
}

impl Device {
    /// Opens and applies a downlink frame (ack or cue). Frames that do not decode, name
    /// another device or fail to open are counted and dropped.
    pub(crate) fn handle_down(&self, bytes: &[u8]) -> Heard {
        let device = &self.credentials.device;
        let reject = |reason: String| {
            self.counters.down_rejected.fetch_add(1, Ordering::Relaxed);
            tracing::warn!(%device, %reason, "dropping a downlink frame");
            self.emit(AgentEvent::DownFrameRejected {
                device: device.clone(),
                reason,
            });
            Heard::Other
        };
        let frame = match codec::decode_frame(bytes) {
            Ok(frame) => frame,
            Err(e) => return reject(format!("does not decode: {e}")),
        };
        if frame.header.device != *device || frame.header.tenant != self.credentials.tenant {
            return reject(format!(
                "addressed to {}/{}",
                frame.header.tenant, frame.header.device
            ));
        }
        let payload = match seal::open(&self.credentials.key, &frame) {
            Ok(payload) => payload,
            Err(e) => return reject(e.to_string()),
        };
        let session = frame.header.session.clone();
        match payload {
            Payload::Ack(ack) => {
                self.cues
                    .lock()
                    .unwrap_or_else(|poisoned| poisoned.into_inner())
                    .saw_frame(&frame.header);
                let mut spool = self.spool();
                // Nothing can be stored that was never sent: an ack beyond the highest
                // seq sent would release frames the gateway cannot have.
                let highest_sent = spool.highest_sent(&session);
                let committed_seq = if ack.committed_seq > highest_sent {
                    tracing::warn!(
                        %device,
                        acked = ack.committed_seq,
                        highest_sent,
                        "ack beyond the frames sent: only those sent are released"
                    );
                    highest_sent
                } else {
                    ack.committed_seq
                };
                let released = match spool.ack(&session, committed_seq) {
                    Ok(released) => released,
                    Err(e) => {
                        tracing::error!(%device, error = %e, "spool: recording an ack failed");
                        0
                    }
                };
                drop(spool);
                if released > 0 {
                    self.emit(AgentEvent::Acked {
                        device: device.clone(),
                        session: session.clone(),
                        committed_seq,
                    });
                }
                Heard::Ack {
                    session,
                    committed_seq,
                    released: released > 0,
                }
            }
            Payload::Cue(cue) => {
                let admitted = self
                    .cues
                    .lock()
                    .unwrap_or_else(|poisoned| poisoned.into_inner())
                    .admit(&frame.header, &cue);
                if let Err(refusal) = admitted {
                    self.counters.cues_dropped.fetch_add(1, Ordering::Relaxed);
                    return reject(refusal.to_string());
                }
                self.counters.cues.fetch_add(1, Ordering::Relaxed);
                if cue.code == CueCode::SessionEnd {
                    self.awaiting_end_cue.store(false, Ordering::Relaxed);
                }
                self.emit(AgentEvent::CueReceived {
                    device: device.clone(),
                    session,
                    cue,
                    received_at: Instant::now(),
                    frame_sent_ms: frame.header.sent_ms,
                });
                Heard::Other
            }
            other => reject(format!(
                "unexpected {:?} frame on the downlink",
                other.kind()
            )),
        }
    }
}
