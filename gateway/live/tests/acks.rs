//! For any interleaving of frames (new, resent, replayed, on any route), commits,
//! rollbacks, outputs and ticks, no ack ever exceeds what the writer committed.

mod rig;

use std::collections::BTreeSet;

use paceline_live::Effect;
use paceline_schemas::Payload;
use proptest::prelude::*;

use rig::{Rig, cue_output, samples};

#[derive(Debug, Clone)]
enum Step {
    /// The device sends this seq on this route.
    Frame(u64, u32),
    /// The writer commits what it holds.
    Commit,
    /// The writer's transaction fails: what it held is lost.
    Rollback,
    /// The engine gives a cue.
    Cue,
    /// Time passes, s.
    Wait(u64),
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        4 => (1u64..24, 0u32..3).prop_map(|(seq, route)| Step::Frame(seq, route)),
        2 => Just(Step::Commit),
        1 => Just(Step::Rollback),
        1 => Just(Step::Cue),
        1 => (0u64..90).prop_map(Step::Wait),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn no_ack_exceeds_the_committed_seq(steps in proptest::collection::vec(step(), 1..80)) {
        let mut rig = Rig::new();
        // What the writer holds uncommitted, and what it has committed, per session row.
        let mut queued: Vec<(i64, u64)> = Vec::new();
        let mut stored: BTreeSet<(i64, u64)> = BTreeSet::new();
        let mut committed_seq = std::collections::HashMap::<i64, u64>::new();
        let mut cue_seq = 0;
        for step in steps {
            match step {
                Step::Frame(seq, route) => {
                    rig.send("ride", seq, samples(seq), route);
                }
                Step::Commit => {
                    let mut report = Vec::new();
                    for (row, seq) in queued.drain(..) {
                        stored.insert((row, seq));
                        // Contiguously stored from 1, as the writer reports it.
                        let mut upto = *committed_seq.get(&row).unwrap_or(&0);
                        while stored.contains(&(row, upto + 1)) {
                            upto += 1;
                        }
                        committed_seq.insert(row, upto);
                        report.push((row, upto));
                    }
                    rig.core.handle_commit(rig.now_us, &report, &[]);
                }
                Step::Rollback => queued.clear(),
                Step::Cue => {
                    if let Some(row) = committed_seq.keys().next().copied() {
                        rig.core.handle_output(rig.now_us, cue_output(row, cue_seq));
                        cue_seq += 1;
                    }
                }
                Step::Wait(s) => {
                    rig.advance_s(s);
                    rig.core.handle_timeout(rig.now_us);
                }
            }
            for effect in rig.take() {
                match effect {
                    Effect::Take(frame) => queued.push((frame.session_row, frame.seq)),
                    Effect::Send(down) => {
                        if let Payload::Ack(ack) = down.payload {
                            let highest = committed_seq.values().copied().max().unwrap_or(0);
                            prop_assert!(
                                ack.committed_seq <= highest,
                                "ack {} above the committed {}", ack.committed_seq, highest
                            );
                        }
                    }
                    _ => {}
                }
            }
        }
    }
}
