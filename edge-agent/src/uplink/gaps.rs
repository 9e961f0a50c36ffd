//! Fast resend of frames sent as QUIC datagrams that the gateway never got.
//!
//! A datagram is not retransmitted by QUIC: one the network or a busy gateway's socket
//! drops is gone. The gateway acknowledges the highest seq it holds *without a gap*
//! (`committed_seq`) each time it commits frames of the session, so a lost frame shows as
//! the same `committed_seq` coming back while later frames keep arriving: TCP's duplicate
//! acks. After [`REPEATS_BEFORE_RESEND`] such repeats, with the frame right after
//! `committed_seq` sent as a datagram, every frame of the session still unacknowledged
//! that went as a datagram is sent again on the session's stream, which QUIC delivers.
//! The gateway takes each frame once (a frame it already holds is only acknowledged
//! again), so resending one that did arrive costs a few bytes, not a duplicate.
//!
//! Without this, a lost datagram waited for the stall resend (`resend_after_ms`, 5 s by
//! default) and then every unacknowledged frame went again. A repeat never triggers a
//! resend of a frame that went on the stream: QUIC delivers those, and a repeat then only
//! means the frame is still on its way. I/O-free: the uplink feeds it what it sent and
//! what came back, and carries out the resend.

use std::collections::{BTreeSet, HashMap};

use paceline_schemas::SessionId;

/// Repeated acks (same `committed_seq`, frames sent after it) before a resend. One repeat
/// can be frames overtaking each other on the way; two mean later frames have been
/// committed twice while the next one is still missing. At five frames a second that is
/// about 0.4 s after the loss.
pub(crate) const REPEATS_BEFORE_RESEND: u32 = 2;

/// What the uplink's datagrams of one connection are waiting for, per session.
#[derive(Debug, Default)]
pub(crate) struct DatagramGaps {
    sessions: HashMap<SessionId, SessionGaps>,
}

#[derive(Debug)]
struct SessionGaps {
    /// Seqs sent as datagrams and not yet acknowledged (nor sent again on the stream).
    in_datagrams: BTreeSet<u64>,
    /// The highest `committed_seq` heard for the session.
    committed_seq: u64,
    /// How many acks in a row repeated `committed_seq`.
    repeats: u32,
}

impl DatagramGaps {
    /// Frame `seq` of `session` went as a datagram; `committed_seq` is what the device
    /// knows to be stored of the session so far.
    pub(crate) fn sent_as_datagram(&mut self, session: &SessionId, seq: u64, committed_seq: u64) {
        let gaps = self
            .sessions
            .entry(session.clone())
            .or_insert_with(|| SessionGaps {
                in_datagrams: BTreeSet::new(),
                committed_seq,
                repeats: 0,
            });
        gaps.in_datagrams.insert(seq);
    }

    /// Frame `seq` of `session` went (again) on the stream: QUIC delivers it from here.
    pub(crate) fn sent_on_stream(&mut self, session: &SessionId, seq: u64) {
        if let Some(gaps) = self.sessions.get_mut(session) {
            gaps.in_datagrams.remove(&seq);
        }
    }

    /// An ack of `session` came with `committed_seq`. Returns whether the session's
    /// unacknowledged datagram frames ([`Self::to_resend`]) should go again on the stream.
    pub(crate) fn acked(&mut self, session: &SessionId, committed_seq: u64) -> bool {
        let Some(gaps) = self.sessions.get_mut(session) else {
            return false;
        };
        if committed_seq > gaps.committed_seq {
            gaps.committed_seq = committed_seq;
            gaps.repeats = 0;
            gaps.in_datagrams = gaps.in_datagrams.split_off(&(committed_seq + 1));
            if gaps.in_datagrams.is_empty() {
                self.sessions.remove(session);
            }
            return false;
        }
        if committed_seq < gaps.committed_seq {
            // An older ack overtaken by a newer one: it says nothing new.
            return false;
        }
        gaps.repeats += 1;
        let next_in_datagram = gaps.in_datagrams.contains(&(committed_seq + 1));
        let sent_after = gaps
            .in_datagrams
            .last()
            .is_some_and(|&last| last > committed_seq + 1);
        gaps.repeats >= REPEATS_BEFORE_RESEND && next_in_datagram && sent_after
    }

    /// The seqs of `session` sent as datagrams and not acknowledged, oldest first.
    pub(crate) fn to_resend(&self, session: &SessionId) -> Vec<u64> {
        self.sessions
            .get(session)
            .map(|gaps| gaps.in_datagrams.iter().copied().collect())
            .unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn session() -> SessionId {
        SessionId::new("s-gaps").unwrap()
    }

    /// Sends seqs `from..=to` as datagrams, with `committed` stored before.
    fn send(gaps: &mut DatagramGaps, from: u64, to: u64, committed: u64) {
        for seq in from..=to {
            gaps.sent_as_datagram(&session(), seq, committed);
        }
    }

    #[test]
    fn acks_that_advance_never_ask_for_a_resend() {
        let mut gaps = DatagramGaps::default();
        for seq in 1..=20 {
            gaps.sent_as_datagram(&session(), seq, seq - 1);
            assert!(!gaps.acked(&session(), seq));
        }
        assert!(gaps.to_resend(&session()).is_empty());
        assert!(gaps.sessions.is_empty(), "nothing outstanding is kept");
    }

    #[test]
    fn a_lost_datagram_is_resent_after_two_repeated_acks_with_what_followed_it() {
        let mut gaps = DatagramGaps::default();
        send(&mut gaps, 1, 3, 0);
        assert!(!gaps.acked(&session(), 3));
        // 4 is lost; 5 and 6 arrive and are committed: the ack repeats 3.
        send(&mut gaps, 4, 6, 3);
        assert!(!gaps.acked(&session(), 3), "one repeat may be reordering");
        assert!(gaps.acked(&session(), 3), "the second repeat resends");
        assert_eq!(gaps.to_resend(&session()), vec![4, 5, 6]);
        for seq in 4..=6 {
            gaps.sent_on_stream(&session(), seq);
        }
        // Further repeats while the stream delivers ask for nothing more.
        assert!(!gaps.acked(&session(), 3));
        assert!(!gaps.acked(&session(), 6));
        assert!(gaps.sessions.is_empty());
    }

    #[test]
    fn repeats_while_the_next_frame_is_on_the_stream_ask_for_nothing() {
        let mut gaps = DatagramGaps::default();
        // 1 and 2 went on the stream (before the first ack); 3 and 4 as datagrams.
        send(&mut gaps, 3, 4, 0);
        for _ in 0..5 {
            assert!(!gaps.acked(&session(), 0));
        }
        assert!(!gaps.acked(&session(), 4));
    }

    #[test]
    fn the_last_frame_sent_is_not_resent_on_repeats_alone() {
        // Nothing was sent after seq 2: a repeat of 1 says only that 2 is not committed
        // yet, not that it was lost (nothing later arrived to show it).
        let mut gaps = DatagramGaps::default();
        send(&mut gaps, 1, 2, 0);
        assert!(!gaps.acked(&session(), 1));
        for _ in 0..5 {
            assert!(!gaps.acked(&session(), 1));
        }
    }

    #[test]
    fn an_older_ack_neither_counts_as_a_repeat_nor_forgets_anything() {
        let mut gaps = DatagramGaps::default();
        send(&mut gaps, 1, 6, 0);
        assert!(!gaps.acked(&session(), 3));
        assert!(!gaps.acked(&session(), 2));
        assert!(!gaps.acked(&session(), 2));
        assert_eq!(gaps.to_resend(&session()), vec![4, 5, 6]);
        assert!(!gaps.acked(&session(), 3));
        assert!(gaps.acked(&session(), 3));
    }

    #[test]
    fn sessions_are_watched_apart() {
        let mut gaps = DatagramGaps::default();
        let other = SessionId::new("s-other").unwrap();
        send(&mut gaps, 1, 4, 0);
        gaps.sent_as_datagram(&other, 1, 0);
        assert!(!gaps.acked(&other, 0));
        assert!(!gaps.acked(&other, 0));
        assert!(!gaps.acked(&session(), 0));
        assert!(gaps.acked(&session(), 0));
        assert_eq!(gaps.to_resend(&other), vec![1]);
    }
}
