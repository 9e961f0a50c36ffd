//! The spool survives being killed: a child process appends and acknowledges frames, is
//! SIGKILLed at a different point in each of many iterations, and the reopened spool must
//! hold every frame the child had appended and not yet acknowledged, each one whole, in
//! order, and nothing else. Also: a torn tail cut at every byte offset.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::Stdio;

use paceline_edge::spool::{SPOOL_FILE, Spool, SpoolError};
use paceline_schemas::sample::HeartRate;
use paceline_schemas::{
    DeviceId, DeviceKey, FrameHeader, FrameKind, Payload, Sample, SampleBatch, SampleValue,
    SessionId, TenantId, codec, seal,
};

use paceline_testkit::process::{kill, spawn_role};

/// Kill-and-reopen iterations (the issue asks for a loop; the closing note quotes this).
pub const KILL_ITERATIONS: u64 = 60;
const DIR_ENV: &str = "PACELINE_EDGE_TEST_SPOOL_DIR";
const SESSION_ENV: &str = "PACELINE_EDGE_TEST_SPOOL_SESSION";
const KEY_ENV: &str = "PACELINE_EDGE_TEST_SPOOL_KEY";
/// Small enough that the writer's frames outgrow it many times: the spool compacts.
const MAX_BYTES: u64 = 200_000;

fn frame(key: &DeviceKey, session: &SessionId, seq: u64) -> Vec<u8> {
    // 1..=40 samples: frames of varied length.
    frame_of(key, session, seq, 1 + (seq * 7919 % 40))
}

fn frame_of(key: &DeviceKey, session: &SessionId, seq: u64, count: u64) -> Vec<u8> {
    let samples = (0..count)
        .map(|i| Sample {
            t_ms: seq * 1000 + i,
            value: SampleValue::HeartRate(HeartRate {
                bpm: 60 + u16::try_from(i).unwrap(),
                contact: paceline_schemas::sample::Contact::On,
                energy_kj: None,
                rr_1024: vec![900, 901],
            }),
        })
        .collect();
    let header = FrameHeader {
        kind: FrameKind::Samples,
        tenant: TenantId::new("test").unwrap(),
        device: DeviceId::new("strap-1").unwrap(),
        session: session.clone(),
        seq,
        sent_ms: 1_796_000_000_000 + seq,
    };
    let payload = Payload::Samples(SampleBatch::new(samples).unwrap());
    codec::encode_frame(&seal::seal(key, header, &payload).unwrap()).unwrap()
}

/// The child's work: appends frames, acknowledging all but the last few now and then (and
/// everything when the spool is full), and reports each append and ack through `report`
/// after it returned; forever, or until `appends` frames are in.
fn write_frames(
    dir: &Path,
    session: &SessionId,
    key: &DeviceKey,
    appends: Option<u64>,
    mut report: impl FnMut(String),
) {
    let (mut spool, _) = Spool::open(dir, MAX_BYTES, 1_000).unwrap();
    // Earlier sessions' leftovers are acknowledged in full (as a gateway would).
    let mut leftovers: Vec<(SessionId, u64)> = Vec::new();
    for entry in spool.entries() {
        match leftovers.iter_mut().find(|(s, _)| *s == entry.session) {
            Some((_, max)) => *max = (*max).max(entry.seq),
            None => leftovers.push((entry.session.clone(), entry.seq)),
        }
    }
    for (old, max) in leftovers {
        spool.ack(&old, max).unwrap();
    }
    let mut seq = 1;
    while appends.is_none_or(|appends| seq <= appends) {
        match spool.append(session, seq, &frame(key, session, seq)) {
            Ok(_) => {
                report(format!("appended {seq}"));
                seq += 1;
            }
            Err(SpoolError::Full { .. }) => {
                spool.ack(session, seq - 1).unwrap();
                report(format!("acked {} (full)", seq - 1));
                continue;
            }
            Err(e) => panic!("{e}"),
        }
        if seq % 5 == 0 && seq > 3 {
            spool.ack(session, seq - 3).unwrap();
            report(format!("acked {}", seq - 3));
        }
    }
}

/// The child role of `spool_survives_sigkill_mid_write` (with its variables set): appends
/// forever, reporting on stdout. Run as a plain test, it does the same work in-process
/// for 2,000 frames (several times the spool's bound, so it compacts) and checks what it
/// reported against the reopened spool, so the writer the kill test relies on is itself
/// tested.
#[test]
fn spool_writer_process() {
    if let Ok(dir) = std::env::var(DIR_ENV) {
        let session = SessionId::new(std::env::var(SESSION_ENV).unwrap()).unwrap();
        let key = DeviceKey::from_hex(&std::env::var(KEY_ENV).unwrap()).unwrap();
        write_frames(Path::new(&dir), &session, &key, None, |line| {
            println!("{line}")
        });
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let session = SessionId::new("in-process").unwrap();
    let key = DeviceKey::generate();
    let mut lines = Vec::new();
    write_frames(dir.path(), &session, &key, Some(2_000), |line| {
        lines.push(line)
    });
    let appended = lines.iter().filter(|l| l.starts_with("appended ")).count();
    let acked: u64 = lines
        .iter()
        .filter_map(|l| l.strip_prefix("acked "))
        .map(|rest| rest.split(' ').next().unwrap().parse::<u64>().unwrap())
        .max()
        .unwrap();
    assert_eq!(appended, 2_000, "every frame appended");
    let written: usize = (1..=2_000)
        .map(|seq| frame(&key, &session, seq).len())
        .sum();
    assert!(
        written > 2 * usize::try_from(MAX_BYTES).unwrap(),
        "the frames must outgrow the spool's bound, so that it compacts ({written} bytes)"
    );
    let (spool, _) = Spool::open(dir.path(), MAX_BYTES, 1_000).unwrap();
    let seqs: Vec<u64> = spool.entries().map(|e| e.seq).collect();
    let expected: Vec<u64> = (acked + 1..=2_000).collect();
    assert_eq!(
        seqs, expected,
        "the spool holds exactly the unacknowledged frames"
    );
    assert!(spool.file_len() <= MAX_BYTES);
}

#[test]
fn spool_survives_sigkill_mid_write() {
    let dir = std::env::temp_dir().join(format!("paceline-spool-kill-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let key = DeviceKey::generate();
    let mut lcg = 0x2545_f491_4f6c_dd1du64;
    let mut total_appended = 0;
    for iteration in 0..KILL_ITERATIONS {
        let session = SessionId::new(format!("kill-{iteration}")).unwrap();
        lcg = lcg
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        let kill_after = 1 + (lcg >> 33) % 600;
        let mut child = spawn_role(
            "spool_kill::spool_writer_process",
            &[
                (DIR_ENV, dir.display().to_string()),
                (SESSION_ENV, session.to_string()),
                (KEY_ENV, key.expose_hex()),
            ],
            Stdio::piped(),
        );
        let stdout = child.stdout.take().unwrap();
        let mut lines = BufReader::new(stdout).lines();
        let mut appended = Vec::new();
        let mut acked = 0;
        let note = |line: &str, appended: &mut Vec<u64>, acked: &mut u64| {
            if let Some(seq) = line.strip_prefix("appended ") {
                appended.push(seq.parse::<u64>().unwrap());
            } else if let Some(rest) = line.strip_prefix("acked ") {
                let seq = rest.split(' ').next().unwrap();
                *acked = (*acked).max(seq.parse().unwrap());
            }
        };
        for line in lines.by_ref() {
            let line = line.unwrap();
            note(&line, &mut appended, &mut acked);
            if appended.len() as u64 >= kill_after {
                break;
            }
        }
        // SIGKILL while it is writing; then read what it reported before it died.
        kill(child);
        for line in lines {
            let Ok(line) = line else { break };
            note(&line, &mut appended, &mut acked);
        }
        total_appended += appended.len();

        let (spool, _recovery) = Spool::open(&dir, MAX_BYTES, 1_000).unwrap();
        let mine: Vec<_> = spool.entries().filter(|e| e.session == session).collect();
        let seqs: Vec<u64> = mine.iter().map(|e| e.seq).collect();
        for seq in appended.iter().filter(|&&seq| seq > acked) {
            assert!(
                seqs.contains(seq),
                "iteration {iteration}: unacked seq {seq} lost ({seqs:?})"
            );
        }
        // What is there is a contiguous run, in order (a torn ack may leave acked ones).
        for pair in seqs.windows(2) {
            assert_eq!(pair[1], pair[0] + 1, "iteration {iteration}: {seqs:?}");
        }
        for entry in spool.entries() {
            let frame = codec::decode_frame(&entry.frame).expect("a spooled frame decodes");
            assert_eq!(frame.header.seq, entry.seq);
            assert_eq!(frame.header.session, entry.session);
            let payload = seal::open(&key, &frame).expect("a spooled frame opens");
            assert_eq!(payload, {
                let again =
                    codec::decode_frame(&self::frame(&key, &entry.session, entry.seq)).unwrap();
                seal::open(&key, &again).unwrap()
            });
        }
        assert!(spool.file_len() <= MAX_BYTES);
    }
    assert!(
        total_appended > KILL_ITERATIONS as usize,
        "the writer made progress"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn torn_tail_at_every_offset_is_cut_off() {
    let dir = std::env::temp_dir().join(format!("paceline-spool-torn-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let key = DeviceKey::generate();
    let session = SessionId::new("torn").unwrap();
    {
        let (mut spool, _) = Spool::open(&dir, 1 << 20, 0).unwrap();
        for seq in 1..=12 {
            spool
                .append(&session, seq, &frame_of(&key, &session, seq, 1 + seq % 3))
                .unwrap();
            if seq == 6 {
                spool.ack(&session, 4).unwrap();
            }
        }
    }
    let path = dir.join(SPOOL_FILE);
    let full = std::fs::read(&path).unwrap();
    let mut last_count = 0;
    for cut in 0..=full.len() {
        std::fs::write(&path, &full[..cut]).unwrap();
        let (spool, recovery) = Spool::open(&dir, 1 << 20, 0).unwrap();
        let seqs: Vec<u64> = spool.entries().map(|e| e.seq).collect();
        // Always a contiguous run from the first unacked frame.
        for pair in seqs.windows(2) {
            assert_eq!(pair[1], pair[0] + 1, "cut {cut}: {seqs:?}");
        }
        let on_disk = std::fs::metadata(&path).unwrap().len();
        assert_eq!(on_disk + recovery.truncated_bytes, cut as u64, "cut {cut}");
        // A longer file never recovers fewer frames, except when an ack record lands.
        if recovery.truncated_bytes == 0 && seqs.len() < last_count {
            assert_eq!(
                seqs.first(),
                Some(&5),
                "cut {cut}: only the ack may drop frames"
            );
        }
        last_count = seqs.len();
        for entry in spool.entries() {
            seal::open(&key, &codec::decode_frame(&entry.frame).unwrap()).unwrap();
        }
    }
    let (spool, _) = Spool::open(&dir, 1 << 20, 0).unwrap();
    assert_eq!(
        spool.entries().map(|e| e.seq).collect::<Vec<_>>(),
        (5..=12).collect::<Vec<_>>()
    );
    drop(spool);
    // A flipped byte inside a record in the middle: recovery skips that record only and
    // keeps every frame after it.
    let mut damaged = full.clone();
    let middle = full.len() * 2 / 3;
    damaged[middle] ^= 0x40;
    std::fs::write(&path, &damaged).unwrap();
    let (spool, recovery) = Spool::open(&dir, 1 << 20, 0).unwrap();
    assert_eq!(recovery.truncated_bytes, 0);
    assert_eq!(recovery.skipped_regions, 1);
    let seqs: Vec<u64> = spool.entries().map(|e| e.seq).collect();
    assert_eq!(seqs.len(), 7, "{seqs:?}");
    assert_eq!(seqs.first(), Some(&5));
    assert_eq!(seqs.last(), Some(&12));
    for entry in spool.entries() {
        seal::open(&key, &codec::decode_frame(&entry.frame).unwrap()).unwrap();
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn full_spool_refuses_and_keeps_unacked_frames() {
    let dir = std::env::temp_dir().join(format!("paceline-spool-full-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let key = DeviceKey::generate();
    let session = SessionId::new("full").unwrap();
    let (mut spool, _) = Spool::open(&dir, 20_000, 0).unwrap();
    let mut seq = 1;
    let refused = loop {
        match spool.append(&session, seq, &frame(&key, &session, seq)) {
            Ok(_) => seq += 1,
            Err(e) => break e,
        }
    };
    assert!(matches!(refused, SpoolError::Full { .. }), "{refused}");
    let held = spool.unacked_len();
    assert_eq!(held as u64, seq - 1);
    // Acks make room: compaction keeps the unacknowledged tail.
    spool.ack(&session, seq / 2).unwrap();
    spool
        .append(&session, seq, &frame(&key, &session, seq))
        .unwrap();
    let seqs: Vec<u64> = spool.entries().map(|e| e.seq).collect();
    assert_eq!(seqs, (seq / 2 + 1..=seq).collect::<Vec<_>>());
    drop(spool);
    let (spool, _) = Spool::open(&dir, 20_000, 0).unwrap();
    assert_eq!(spool.entries().map(|e| e.seq).collect::<Vec<_>>(), seqs);
    let _ = std::fs::remove_dir_all(&dir);
}
