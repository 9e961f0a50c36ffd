//! Whole live sessions replayed through the core: no sockets, no sleeps, a virtual clock.
//! Each test reads as the effects the core asks for, one line each.

mod rig;

use paceline_live::{CameBy, FrameOutcome, Reject, SessionAnswer, SessionRecord};
use paceline_schemas::command::OverrideTarget;
use paceline_schemas::device_status::{SensorKind, SensorReport};
use paceline_schemas::engine::{OutputBody, Rejection, SessionStatus, SignalQuality};
use paceline_schemas::plan::{Target, Zone};
use paceline_schemas::{Command, DeviceKey, DeviceStatus, Payload, SessionSummary};

use rig::{IDLE_US, LOG_EVERY_US, Rig, TTL_US, cue_output, lines, output, samples};

const ROW: i64 = 100;

fn opened(rig: &mut Rig) {
    assert_eq!(rig.send("ride", 1, samples(1), 1), FrameOutcome::Accepted);
    assert_eq!(
        lines(&rig.take()),
        [
            "store open 100 ride plan=None",
            "opened 100",
            "engine s100 open plan=false",
            "take 100 #1 samples n=2 board=true coach=samples>s100 plausible",
        ]
    );
}

#[test]
fn a_new_session_opens_its_row_and_coach_ahead_of_its_first_frame() {
    let mut rig = Rig::new();
    opened(&mut rig);
    assert_eq!((rig.device_lookups, rig.session_lookups), (1, 1));
    let view = rig.core.session(ROW).unwrap();
    assert!(view.coached);
    assert_eq!((view.acked_seq, view.taken.clone()), (0, vec![1]));
    // The next frame needs neither lookup.
    assert_eq!(rig.send("ride", 2, samples(2), 1), FrameOutcome::Accepted);
    assert_eq!((rig.device_lookups, rig.session_lookups), (1, 1));
    assert_eq!(
        lines(&rig.take()),
        ["take 100 #2 samples n=2 board=true coach=samples>s100 plausible"]
    );
}

#[test]
fn a_slow_writer_means_no_ack_until_its_commit_and_then_one_ack_to_the_highest_seq() {
    let mut rig = Rig::new();
    opened(&mut rig);
    for seq in 2..=5 {
        rig.advance_s(1);
        assert_eq!(
            rig.send("ride", seq, samples(seq), 1),
            FrameOutcome::Accepted
        );
    }
    let effects = lines(&rig.take());
    assert_eq!(effects.len(), 4);
    assert!(
        effects.iter().all(|e| e.starts_with("take ")),
        "{effects:?}"
    );
    // The writer commits 1..=3, then 4..=5: one ack each time, to the highest seq.
    assert_eq!(
        lines(&rig.commit(&[(ROW, 3)], &[])),
        ["send ack 3 route=Some(1) row=Some(100) Ack down#5000"]
    );
    assert_eq!(rig.core.session(ROW).unwrap().taken, vec![4, 5]);
    assert_eq!(
        lines(&rig.commit(&[(ROW, 5)], &[])),
        ["send ack 5 route=Some(1) row=Some(100) Ack down#5001"]
    );
    // A late report of a lower seq does not take the ack back.
    assert_eq!(
        lines(&rig.commit(&[(ROW, 4)], &[])),
        ["send ack 5 route=Some(1) row=Some(100) Ack down#5002"]
    );
    // A report for a session the core does not hold acks nothing.
    assert!(rig.commit(&[(999, 9)], &[]).is_empty());
}

#[test]
fn a_failed_commit_acks_nothing_and_the_resent_frames_are_acked_after_the_next_one() {
    let mut rig = Rig::new();
    opened(&mut rig);
    assert_eq!(rig.send("ride", 2, samples(2), 1), FrameOutcome::Accepted);
    rig.take();
    // The transaction rolled back: the writer reports nothing stored.
    assert!(rig.commit(&[], &[]).is_empty());
    // The device resends: stored again, not coached twice, not a duplicate.
    assert_eq!(rig.send("ride", 1, samples(1), 1), FrameOutcome::Accepted);
    assert_eq!(rig.send("ride", 2, samples(2), 1), FrameOutcome::Accepted);
    assert_eq!(
        lines(&rig.take()),
        [
            "take 100 #1 samples n=2 board=false coach=- plausible",
            "take 100 #2 samples n=2 board=false coach=- plausible",
        ]
    );
    assert_eq!(
        lines(&rig.commit(&[(ROW, 2)], &[])),
        ["send ack 2 route=Some(1) row=Some(100) Ack down#5000"]
    );
}

#[test]
fn a_dead_engine_refuses_the_frame_so_it_is_never_acked() {
    let mut rig = Rig::new();
    opened(&mut rig);
    // The driver could not give the first frame's samples to the engine.
    let outcome = rig
        .core
        .frame_not_taken(rig.now_us, Reject::EngineUnavailable);
    assert_eq!(outcome, FrameOutcome::Rejected(Reject::EngineUnavailable));
    assert_eq!(
        lines(&rig.take()),
        ["rejected EngineUnavailable log=Some(1)"]
    );
    // Refused inputs outside a frame change nothing: the session stays coached, so the
    // next frame goes to the engine again (and is refused again while it is dead).
    rig.core
        .engine_refused(rig.now_us, &rig::session_id("s100"));
    assert!(rig.core.session(ROW).unwrap().coached);
    assert_eq!(rig.send("ride", 2, samples(2), 1), FrameOutcome::Accepted);
    assert_eq!(
        lines(&rig.take()),
        ["take 100 #2 samples n=2 board=true coach=samples>s100 plausible"]
    );
    // Nothing was committed, so nothing is acked.
    assert_eq!(rig.core.session(ROW).unwrap().acked_seq, 0);
}

#[test]
fn cues_and_acks_follow_the_latest_genuine_frame_and_a_replayed_capture_moves_nothing() {
    let mut rig = Rig::new();
    opened(&mut rig);
    let captured_2 = rig.sealed("ride", 2, samples(2));
    assert_eq!(rig.send_bytes(&captured_2, 1), FrameOutcome::Accepted);
    rig.advance_s(1);
    // The device reconnects on route 2 and sends seq 3 there.
    assert_eq!(rig.send("ride", 3, samples(3), 2), FrameOutcome::Accepted);
    let at_3 = rig.now_us;
    rig.take();
    // A replay of seq 2 (taken, not yet acked) on route 3: stored again, not coached,
    // and the route and liveness stay with route 2.
    rig.advance_s(1);
    assert_eq!(rig.send_bytes(&captured_2, 3), FrameOutcome::Accepted);
    assert_eq!(
        lines(&rig.take()),
        ["take 100 #2 samples n=2 board=false coach=- plausible"]
    );
    assert_eq!(rig.core.session(ROW).unwrap().last_frame_us, at_3);
    assert_eq!(
        lines(&rig.commit(&[(ROW, 3)], &[])),
        ["send ack 3 route=Some(2) row=Some(100) Ack down#5000"]
    );
    assert_eq!(
        lines(&rig.output(cue_output(ROW, 0))),
        [
            "board 1 21 100 cue ride",
            "send cue ride route=Some(2) row=Some(100) Cue { frame_us: 1800000001000000 } down#5001",
            "store cue 100 #0 s100",
        ]
    );
    // The replay of an acked seq is a duplicate: the ack again, on the route it came by.
    assert_eq!(rig.send_bytes(&captured_2, 3), FrameOutcome::Duplicate);
    assert_eq!(
        lines(&rig.take()),
        ["send ack 3 route=Some(3) row=None Reack down#5002"]
    );
    let cue = lines(&rig.output(cue_output(ROW, 1)));
    assert!(cue[1].starts_with("send cue ride route=Some(2)"), "{cue:?}");
    // A failed send keeps the route: only the next genuine frame moves it.
    rig.core.downlink_failed(rig.now_us, Some(ROW));
    assert_eq!(rig.core.session(ROW).unwrap().downlink_failures, 1);
    assert_eq!(rig.send("ride", 4, samples(4), 4), FrameOutcome::Accepted);
    rig.take();
    let cue = lines(&rig.output(cue_output(ROW, 2)));
    assert!(cue[1].starts_with("send cue ride route=Some(4)"), "{cue:?}");
}

#[test]
fn a_silent_session_is_ended_after_the_idle_time_and_forgotten_after_twice_that() {
    let mut rig = Rig::new();
    opened(&mut rig);
    let last = rig.now_us;
    assert_eq!(rig.core.poll_timeout(), Some(last + IDLE_US));
    rig.now_us = last + IDLE_US - 1;
    assert!(rig.tick().is_empty());
    rig.now_us = last + IDLE_US;
    assert_eq!(lines(&rig.tick()), ["engine s100 command End"]);
    assert!(!rig.core.session(ROW).unwrap().coached);
    assert_eq!(rig.core.poll_timeout(), Some(last + 2 * IDLE_US));
    // The engine's summary closes it.
    assert_eq!(
        lines(&rig.output(output(ROW, 3, OutputBody::Summary(summary())))),
        [
            "closed 100 Summarised",
            "board 1 21 100 ended",
            "store end 100 summary=true",
        ]
    );
    rig.now_us = last + 2 * IDLE_US;
    assert!(rig.tick().is_empty());
    assert!(rig.core.session(ROW).is_none());
    assert_eq!(rig.core.poll_timeout(), None);
    // Its next frame looks the session up again (stored closed: taken, not coached).
    rig.sessions.insert(
        "ride".into(),
        SessionRecord {
            row: ROW,
            open: false,
            acked_seq: 1,
            stored_above: Vec::new(),
            latest_status: None,
        },
    );
    assert_eq!(rig.send("ride", 2, samples(2), 1), FrameOutcome::Accepted);
    assert_eq!(rig.session_lookups, 2);
    assert_eq!(
        lines(&rig.take()),
        ["take 100 #2 samples n=2 board=false coach=- plausible"]
    );
}

#[test]
fn a_session_open_at_a_restart_is_coached_again_from_its_next_frame() {
    let mut rig = Rig::new();
    rig.sessions.insert(
        "ride".into(),
        SessionRecord {
            row: 42,
            open: true,
            acked_seq: 7,
            stored_above: vec![9],
            latest_status: Some((5, status(3))),
        },
    );
    assert_eq!(rig.send("ride", 8, samples(8), 1), FrameOutcome::Accepted);
    assert_eq!(
        lines(&rig.take()),
        [
            "opened 42",
            "engine s42 open plan=false",
            "take 42 #8 samples n=2 board=true coach=samples>s42 plausible",
        ]
    );
    assert_eq!(rig.core.sensors(42).unwrap().t_ms, 3);
    // Seq 9 was stored before the restart: stored again, not coached.
    assert_eq!(rig.send("ride", 9, samples(9), 1), FrameOutcome::Accepted);
    assert_eq!(rig.send("ride", 7, samples(7), 1), FrameOutcome::Duplicate);
    assert_eq!(
        lines(&rig.take()),
        [
            "take 42 #9 samples n=2 board=false coach=- plausible",
            "send ack 7 route=Some(1) row=None Reack down#5000",
        ]
    );
}

#[test]
fn engine_outputs_go_to_boards_the_device_and_the_store() {
    let mut rig = Rig::new();
    opened(&mut rig);
    assert_eq!(
        rig.send("ride", 2, Payload::DeviceStatus(status(9)), 1),
        FrameOutcome::Accepted
    );
    assert_eq!(
        lines(&rig.take()),
        [
            "board 1 21 100 sensors t=9",
            "take 100 #2 device_status n=0 board=false coach=- plausible",
        ]
    );
    // An older status (lower seq) arriving late changes nothing on the boards.
    assert_eq!(
        rig.send("ride", 1, Payload::DeviceStatus(status(1)), 1),
        FrameOutcome::Accepted
    );
    assert_eq!(
        lines(&rig.take()),
        ["take 100 #1 device_status n=0 board=false coach=- plausible"]
    );
    assert_eq!(
        lines(&rig.output(output(ROW, 0, OutputBody::Status(coach_status())))),
        ["board 1 21 100 status sensors=true"]
    );
    assert_eq!(
        lines(&rig.output(output(
            ROW,
            1,
            OutputBody::Rejected(Rejection {
                reason: "no FTP".into()
            })
        ))),
        [
            "closed 100 Rejected(\"no FTP\")",
            "store end 100 summary=false"
        ]
    );
    assert!(!rig.core.session(ROW).unwrap().coached);
    // Outputs of sessions the core does not hold, or not of its naming, go nowhere.
    assert!(rig.output(cue_output(7, 0)).is_empty());
    let mut odd = cue_output(ROW, 0);
    odd.session = rig::session_id("x100");
    assert!(rig.output(odd).is_empty());
}

#[test]
fn commands_from_the_device_and_the_coach() {
    let mut rig = Rig::new();
    opened(&mut rig);
    assert_eq!(
        rig.send("ride", 2, Payload::Command(Command::Pause), 1),
        FrameOutcome::Accepted
    );
    assert_eq!(
        lines(&rig.take()),
        ["take 100 #2 command n=0 board=false coach=Pause>s100 plausible"]
    );
    let override_target = Command::OverrideTarget(OverrideTarget {
        target: Target::HrZone(Zone { zone: 2 }),
        duration_s: None,
    });
    assert_eq!(
        rig.send("ride", 3, Payload::Command(override_target.clone()), 1),
        FrameOutcome::Rejected(Reject::CoachOnlyCommand)
    );
    rig.take();
    assert!(rig.core.command_session(rig.now_us, ROW, override_target));
    assert!(rig.core.command_session(rig.now_us, ROW, Command::End));
    assert!(!rig.core.command_session(rig.now_us, ROW, Command::Resume));
    assert!(!rig.core.command_session(rig.now_us, 999, Command::Resume));
    let effects = lines(&rig.take());
    assert_eq!(effects.len(), 2);
    assert!(effects[0].starts_with("engine s100 command OverrideTarget"));
    assert_eq!(effects[1], "engine s100 command End");
    // The device's own end, after the coach's: stored, not given to the engine again.
    assert_eq!(
        rig.send("ride", 4, Payload::Command(Command::End), 1),
        FrameOutcome::Accepted
    );
    assert_eq!(
        lines(&rig.take()),
        ["take 100 #4 command n=0 board=false coach=- plausible"]
    );
}

#[test]
fn a_device_end_command_stops_the_coaching_of_later_frames() {
    let mut rig = Rig::new();
    opened(&mut rig);
    assert_eq!(
        rig.send("ride", 2, Payload::Command(Command::End), 1),
        FrameOutcome::Accepted
    );
    assert_eq!(rig.send("ride", 3, samples(3), 1), FrameOutcome::Accepted);
    assert_eq!(
        lines(&rig.take()),
        [
            "take 100 #2 command n=0 board=false coach=End>s100 plausible",
            "take 100 #3 samples n=2 board=false coach=- plausible",
        ]
    );
}

#[test]
fn sessions_the_writer_did_not_open_are_forgotten_and_their_coach_ended() {
    let mut rig = Rig::new();
    opened(&mut rig);
    assert_eq!(
        lines(&rig.commit(&[], &[ROW, 555])),
        ["closed 100 NotOpened", "engine s100 command End"]
    );
    assert!(rig.core.session(ROW).is_none());
    // The next frame opens it again, with a new row.
    assert_eq!(rig.send("ride", 2, samples(2), 1), FrameOutcome::Accepted);
    assert_eq!(lines(&rig.take())[0], "store open 101 ride plan=None");
}

#[test]
fn an_open_the_writer_did_not_queue_forgets_the_session_and_refuses_the_frame() {
    let mut rig = Rig::new();
    opened(&mut rig);
    let outcome = rig.core.open_not_queued(rig.now_us, ROW);
    assert_eq!(outcome, FrameOutcome::Rejected(Reject::StoreUnavailable));
    assert_eq!(
        lines(&rig.take()),
        ["rejected StoreUnavailable log=Some(1)"]
    );
    assert!(rig.core.session(ROW).is_none());
    assert!(rig.core.session_row(11, &rig::session_id("ride")).is_none());
}

#[test]
fn refusals_carry_their_reason_and_are_logged_at_most_every_few_seconds() {
    let mut rig = Rig::new();
    let oversize = vec![0u8; paceline_schemas::MAX_FRAME_BYTES + 1];
    assert_eq!(
        rig.send_bytes(&oversize, 1),
        FrameOutcome::Rejected(Reject::Oversize)
    );
    assert_eq!(
        rig.send_bytes(b"garbage", 1),
        FrameOutcome::Rejected(Reject::Malformed)
    );
    assert_eq!(
        rig.send_bytes(b"garbage", 1),
        FrameOutcome::Rejected(Reject::Malformed)
    );
    rig.now_us += LOG_EVERY_US;
    assert_eq!(
        rig.send_bytes(b"garbage", 1),
        FrameOutcome::Rejected(Reject::Malformed)
    );
    assert_eq!(
        lines(&rig.take()),
        [
            "rejected Oversize log=Some(1)",
            "rejected Malformed log=Some(1)",
            "rejected Malformed log=None",
            "rejected Malformed log=Some(2)",
        ]
    );
    let good = rig.sealed("ride", 1, samples(1));
    assert_eq!(
        rig.send_on(&good, CameBy::Topic("paceline/v1/gym/other/up"), 1),
        FrameOutcome::Rejected(Reject::TopicMismatch)
    );
    assert_eq!(
        rig.send_on(&good, CameBy::Topic("no topic"), 1),
        FrameOutcome::Rejected(Reject::TopicMismatch)
    );
    let (other_tenant, device) = (rig::session_id("x"), rig::device_id());
    let _ = other_tenant;
    let tenant_b = paceline_schemas::TenantId::new("other").unwrap();
    assert_eq!(
        rig.send_on(
            &good,
            CameBy::Hello {
                tenant: &tenant_b,
                device: &device
            },
            1
        ),
        FrameOutcome::Rejected(Reject::TopicMismatch)
    );
    let ack = rig.sealed(
        "ride",
        1,
        Payload::Ack(paceline_schemas::Ack { committed_seq: 1 }),
    );
    assert_eq!(
        rig.send_bytes(&ack, 1),
        FrameOutcome::Rejected(Reject::WrongKind)
    );
    let forged = rig.sealed_with(&DeviceKey::from_bytes([8; 32]), "ride", 1, samples(1));
    assert_eq!(
        rig.send_bytes(&forged, 1),
        FrameOutcome::Rejected(Reject::BadSeal)
    );
    let zero = rig.sealed("ride", 0, samples(1));
    assert_eq!(
        rig.send_bytes(&zero, 1),
        FrameOutcome::Rejected(Reject::Malformed)
    );
    rig.admit = false;
    assert_eq!(
        rig.send_bytes(&good, 1),
        FrameOutcome::Rejected(Reject::OverQuota)
    );
    rig.admit = true;
    rig.session_answer = Some(SessionAnswer::OverQuota);
    assert_eq!(
        rig.send_bytes(&good, 1),
        FrameOutcome::Rejected(Reject::OverQuota)
    );
    rig.session_answer = Some(SessionAnswer::Failed);
    assert_eq!(
        rig.send_bytes(&good, 1),
        FrameOutcome::Rejected(Reject::StoreUnavailable)
    );
    rig.session_answer = None;
    // None of these opened a session or asked for a write.
    let effects = lines(&rig.take());
    assert!(
        effects.iter().all(|e| e.starts_with("rejected ")),
        "{effects:?}"
    );
    assert!(rig.core.session(ROW).is_none());
    // The device: unknown, of another tenant, revoked, or the database unreadable.
    rig.now_us += TTL_US;
    rig.store_fails = true;
    assert_eq!(
        rig.send_bytes(&good, 1),
        FrameOutcome::Rejected(Reject::StoreUnavailable)
    );
    rig.store_fails = false;
    rig.devices.get_mut("watch-1").unwrap().revoked = true;
    assert_eq!(
        rig.send_bytes(&good, 1),
        FrameOutcome::Rejected(Reject::Revoked)
    );
    rig.core.revoke_device(&device);
    rig.devices.get_mut("watch-1").unwrap().tenant = tenant_b;
    assert_eq!(
        rig.send_bytes(&good, 1),
        FrameOutcome::Rejected(Reject::UnknownDevice)
    );
    rig.core.revoke_device(&device);
    rig.devices.clear();
    assert_eq!(
        rig.send_bytes(&good, 1),
        FrameOutcome::Rejected(Reject::UnknownDevice)
    );
}

#[test]
fn devices_are_cached_for_the_ttl_and_forgotten_when_revoked() {
    let mut rig = Rig::new();
    opened(&mut rig);
    rig.now_us += TTL_US - 1;
    rig.send("ride", 2, samples(2), 1);
    assert_eq!(rig.device_lookups, 1);
    rig.now_us += 1;
    rig.send("ride", 3, samples(3), 1);
    assert_eq!(rig.device_lookups, 2);
    rig.core.revoke_device(&rig::device_id());
    assert!(
        rig.core
            .cached_device(rig.now_us, &rig::device_id())
            .is_none()
    );
    rig.send("ride", 4, samples(4), 1);
    assert_eq!(rig.device_lookups, 3);
}

#[test]
fn frames_with_implausible_send_times_are_flagged_and_kept() {
    let mut rig = Rig::new();
    let stale = rig.sealed("ride", 1, samples(1));
    rig.advance_s(24 * 3600 * 30);
    assert_eq!(rig.send_bytes(&stale, 1), FrameOutcome::Accepted);
    let effects = lines(&rig.take());
    assert_eq!(effects[0], "send-time flagged");
    assert!(effects[4].ends_with(" stale"), "{effects:?}");
}

#[test]
fn stale_sessions_of_an_earlier_run_and_stopping() {
    let mut rig = Rig::new();
    rig.core.end_stale_sessions(rig.now_us);
    assert_eq!(lines(&rig.take()), ["store end-stale 120s before"]);
    assert!(rig.core.is_taking_frames());
    rig.core.stop_taking_frames();
    assert!(!rig.core.is_taking_frames());
    assert_eq!(
        rig.send("ride", 1, samples(1), 1),
        FrameOutcome::ShuttingDown
    );
    assert!(rig.take().is_empty());
}

#[test]
fn a_whole_session_replays_to_the_same_effects() {
    fn run() -> Vec<String> {
        let mut rig = Rig::new();
        let mut log = Vec::new();
        for seq in 1..=30 {
            rig.advance_s(1);
            let conn = if seq < 15 { 1 } else { 2 };
            log.push(format!("{:?}", rig.send("ride", seq, samples(seq), conn)));
            if seq % 4 == 0 {
                rig.core.handle_commit(rig.now_us, &[(ROW, seq - 1)], &[]);
            }
            if seq % 10 == 0 {
                rig.core
                    .handle_output(rig.now_us, cue_output(ROW, seq / 10));
            }
            if seq == 20 {
                log.push(format!("{:?}", rig.send("ride", 3, samples(3), 9)));
            }
            log.extend(lines(&rig.take()));
        }
        rig.now_us += IDLE_US;
        log.extend(lines(&rig.tick()));
        log.extend(lines(&rig.output(output(
            ROW,
            4,
            OutputBody::Summary(summary()),
        ))));
        log
    }
    let first = run();
    assert_eq!(first, run());
    assert_eq!(
        first.iter().filter(|l| l.starts_with("send ack")).count(),
        8
    );
    assert!(first.contains(&"send ack 19 route=Some(2) row=Some(100) Ack down#5005".to_owned()));
    assert!(first.contains(&"send ack 19 route=Some(9) row=None Reack down#5007".to_owned()));
    assert_eq!(first.last().unwrap(), "store end 100 summary=true");
}

fn status(t_ms: u64) -> DeviceStatus {
    DeviceStatus {
        t_ms,
        sensors: vec![SensorReport {
            kind: SensorKind::HeartRate,
            connected: true,
            battery_pct: Some(80),
        }],
    }
}

fn summary() -> SessionSummary {
    SessionSummary {
        session: rig::session_id("s100"),
        duration_s: 60.0,
        time_in_hr_zone_s: [0; 5],
        time_in_power_zone_s: [0; 7],
        avg_hr_bpm: None,
        max_hr_bpm: None,
        avg_power_w: None,
        np_w: None,
        intensity_factor: None,
        tss: None,
        hr_tss: None,
        trimp: None,
        wbal_min_j: None,
        decoupling_pct: None,
        cue_counts: Default::default(),
    }
}

fn coach_status() -> SessionStatus {
    SessionStatus {
        t_s: 1.0,
        hr_bpm: None,
        hr_quality: SignalQuality::Unknown,
        hr_zone: None,
        hr_pct_max: None,
        power_3s_w: None,
        power_zone: None,
        cadence: None,
        wbal_j: None,
        wbal_fraction: None,
        step: None,
        target: None,
        raise_blocked: false,
        paused: false,
        remaining_plan_s: 0,
    }
}
