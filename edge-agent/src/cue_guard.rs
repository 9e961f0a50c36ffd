//! Which downlink cues may be spoken: only fresh ones of the ride under way.
//!
//! A sealed cue proves the gateway made it, not that it is meant for now: anyone who
//! captured one (on the broker, on the path) could play it again later, or hold it back
//! and release it minutes late. The seal covers the frame header, so the header's `seq`
//! and `session` are the gateway's own; a cue is spoken only if
//!
//! 1. its header names the ride this device is recording, and the cue inside names the
//!    same session (the binding);
//! 2. its seq is above every cue seq already taken for that ride (a replay, or a cue
//!    overtaken by a newer one, is stale). The gateway numbers downlink frames from one
//!    counter that starts at its clock (ms × 1000) and only grows, so seqs also grow
//!    across gateway restarts. Acks are not ordered against cues (they leave from another
//!    thread), so only cues move this mark;
//! 3. it is not older than [`MAX_CUE_LAG_MS`] behind the newest genuine downlink frame
//!    (ack or cue), both on the gateway's clock, so the device's own clock does not matter.
//!
//! [`CueGuard`] is pure (no clock, no I/O): the agent feeds it each opened downlink frame.

use paceline_schemas::{Cue, FrameHeader, SessionId};

/// A cue sent this long before the newest downlink frame is stale, ms.
pub const MAX_CUE_LAG_MS: u64 = 30_000;

/// Why a cue was dropped.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CueRefusal {
    /// The frame is for another ride than the one being recorded.
    #[error("cue for session {got}, but this device is recording {recording}")]
    OtherSession {
        /// The session the frame names.
        got: SessionId,
        /// The session being recorded.
        recording: SessionId,
    },
    /// The cue inside names another session than the frame that carries it.
    #[error("cue names session {inner} inside a frame of session {outer}")]
    Unbound {
        /// The session the frame header names.
        outer: SessionId,
        /// The session the cue names.
        inner: SessionId,
    },
    /// Its seq is not above the last cue taken: a replay or an out-of-order cue.
    #[error("replayed or stale cue: seq {seq} is not above {last}")]
    Replayed {
        /// The cue frame's seq.
        seq: u64,
        /// The highest cue seq taken.
        last: u64,
    },
    /// Sent too long before the newest downlink frame.
    #[error("stale cue: sent {lag_ms} ms before the newest downlink frame")]
    Late {
        /// How far behind, ms.
        lag_ms: u64,
    },
}

/// The device's mark of cues taken and downlink time seen.
#[derive(Debug, Clone)]
pub struct CueGuard {
    recording: SessionId,
    last_cue_seq: u64,
    newest_sent_ms: u64,
}

impl CueGuard {
    /// A guard for the ride `recording`, with nothing taken yet.
    pub fn new(recording: SessionId) -> Self {
        Self {
            recording,
            last_cue_seq: 0,
            newest_sent_ms: 0,
        }
    }

    /// Notes a genuine (opened) downlink frame that is not a cue, such as an ack: its send
    /// time moves the newest time seen.
    pub fn saw_frame(&mut self, header: &FrameHeader) {
        self.newest_sent_ms = self.newest_sent_ms.max(header.sent_ms);
    }

    /// Takes the cue if it may be spoken (and moves the marks), or says why not.
    pub fn admit(&mut self, header: &FrameHeader, cue: &Cue) -> Result<(), CueRefusal> {
        if header.session != self.recording {
            return Err(CueRefusal::OtherSession {
                got: header.session.clone(),
                recording: self.recording.clone(),
            });
        }
        if cue.session != header.session {
            return Err(CueRefusal::Unbound {
                outer: header.session.clone(),
                inner: cue.session.clone(),
            });
        }
        if header.seq <= self.last_cue_seq {
            return Err(CueRefusal::Replayed {
                seq: header.seq,
                last: self.last_cue_seq,
            });
        }
        let lag_ms = self.newest_sent_ms.saturating_sub(header.sent_ms);
        if lag_ms > MAX_CUE_LAG_MS {
            return Err(CueRefusal::Late { lag_ms });
        }
        self.last_cue_seq = header.seq;
        self.newest_sent_ms = self.newest_sent_ms.max(header.sent_ms);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use paceline_schemas::{CueCode, DeviceId, FrameKind, Severity, TenantId};

    fn session(name: &str) -> SessionId {
        SessionId::new(name).unwrap()
    }

    fn header(session_id: &SessionId, seq: u64, sent_ms: u64) -> FrameHeader {
        FrameHeader {
            kind: FrameKind::Cue,
            tenant: TenantId::new("gym").unwrap(),
            device: DeviceId::new("d-1").unwrap(),
            session: session_id.clone(),
            seq,
            sent_ms,
        }
    }

    fn cue(session_id: &SessionId) -> Cue {
        Cue {
            session: session_id.clone(),
            t_s: 1.0,
            severity: Severity::Info,
            code: CueCode::StepStart,
            text: "go".into(),
            modification: None,
        }
    }

    #[test]
    fn fresh_cues_of_the_ride_pass_and_replays_do_not() {
        let ride = session("ride-1");
        let mut guard = CueGuard::new(ride.clone());
        assert_eq!(guard.admit(&header(&ride, 100, 1_000), &cue(&ride)), Ok(()));
        assert_eq!(guard.admit(&header(&ride, 105, 1_500), &cue(&ride)), Ok(()));
        // The same frame again, and an older one released late.
        assert_eq!(
            guard.admit(&header(&ride, 105, 1_500), &cue(&ride)),
            Err(CueRefusal::Replayed {
                seq: 105,
                last: 105
            })
        );
        assert!(matches!(
            guard.admit(&header(&ride, 101, 1_100), &cue(&ride)),
            Err(CueRefusal::Replayed { .. })
        ));
        // A refusal moves no mark: the next genuine cue still passes.
        assert_eq!(guard.admit(&header(&ride, 106, 1_600), &cue(&ride)), Ok(()));
    }

    #[test]
    fn a_cue_of_another_ride_or_unbound_is_refused() {
        let ride = session("ride-1");
        let old = session("ride-0");
        let mut guard = CueGuard::new(ride.clone());
        assert!(matches!(
            guard.admit(&header(&old, 200, 1_000), &cue(&old)),
            Err(CueRefusal::OtherSession { .. })
        ));
        assert!(matches!(
            guard.admit(&header(&ride, 201, 1_000), &cue(&old)),
            Err(CueRefusal::Unbound { .. })
        ));
        assert_eq!(guard.admit(&header(&ride, 202, 1_000), &cue(&ride)), Ok(()));
    }

    #[test]
    fn a_cue_held_back_behind_newer_downlink_frames_is_stale() {
        let ride = session("ride-1");
        let mut guard = CueGuard::new(ride.clone());
        guard.saw_frame(&header(&ride, 50, 100_000));
        assert_eq!(
            guard.admit(
                &header(&ride, 60, 100_000 - MAX_CUE_LAG_MS - 1),
                &cue(&ride)
            ),
            Err(CueRefusal::Late {
                lag_ms: MAX_CUE_LAG_MS + 1
            })
        );
        assert_eq!(
            guard.admit(&header(&ride, 61, 100_000 - MAX_CUE_LAG_MS), &cue(&ride)),
            Ok(())
        );
    }
}
