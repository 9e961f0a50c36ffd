//! The queue check, in the sense of Jepsen's total-queue checker: the agents enqueue
//! frames (their [`Ledger`]), the gateway's database is the final read. A frame is
//! **lost** if an agent spooled it (and so it was acknowledged: the check runs once every
//! spool is empty) but no row holds it; **duplicated** if more than one frame row holds
//! it or its samples are stored more than once; **unexpected** if a row holds a frame, or
//! samples, that no agent sent.

use std::collections::BTreeMap;
use std::fmt;

use crate::riders::{FrameKey, Ledger};

/// The outcome of the check.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct QueueReport {
    /// Frames the agents spooled (every one was sent at least once).
    pub sent: u64,
    /// Distinct frames stored.
    pub stored: u64,
    /// Samples the agents put in their frames.
    pub samples_sent: u64,
    /// Sample rows stored.
    pub samples_stored: u64,
    /// Sent, never stored.
    pub lost: u64,
    /// Stored more than once (a frame row twice, or a frame's samples more than once).
    pub duplicated: u64,
    /// Stored, never sent.
    pub unexpected: u64,
    /// Stored with fewer samples than were sent in the frame.
    pub samples_missing: u64,
}

impl fmt::Display for QueueReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "frames sent {} stored {} lost {} duplicated {} unexpected {}; \
             samples sent {} stored {} (frames short of samples {})",
            self.sent,
            self.stored,
            self.lost,
            self.duplicated,
            self.unexpected,
            self.samples_sent,
            self.samples_stored,
            self.samples_missing
        )
    }
}

impl QueueReport {
    /// Whether every frame sent is stored exactly once, with all of its samples, and
    /// nothing else is.
    pub fn exactly_once(&self) -> bool {
        self.lost == 0
            && self.duplicated == 0
            && self.unexpected == 0
            && self.samples_missing == 0
            && self.sent == self.stored
    }
}

/// What the database holds per frame: frame rows and sample rows.
#[derive(Debug, Default, Clone, Copy)]
struct Stored {
    frame_rows: u64,
    sample_rows: u64,
}

/// Compares the ledger with the database's `frames` and `samples` tables (all tenants).
pub fn check(ledger: &Ledger, conn: &rusqlite::Connection) -> QueueReport {
    let mut stored: BTreeMap<FrameKey, Stored> = BTreeMap::new();
    let mut frames = conn
        .prepare(
            "SELECT d.device_id, s.session_id, f.seq
             FROM stored_frames f
             JOIN sessions s ON s.id = f.session_row
             JOIN devices d ON d.id = f.device_row",
        )
        .expect("prepare the frames query");
    let rows = frames
        .query_map([], |row| {
            Ok((
                row.get::<_, String>(0)?,
                row.get::<_, String>(1)?,
                row.get::<_, i64>(2)?,
            ))
        })
        .expect("read frames");
    for row in rows {
        let (device, session, seq) = row.expect("a frame row");
        let seq = u64::try_from(seq).expect("seq ≥ 0");
        stored.entry((device, session, seq)).or_default().frame_rows += 1;
    }
    let mut samples = conn
        .prepare(
            "SELECT d.device_id, s.session_id, x.frame_seq, count(*)
             FROM stored_samples x
             JOIN sessions s ON s.id = x.session_row
             JOIN devices d ON d.id = s.device_row
             GROUP BY x.session_row, x.frame_seq",
        )
        .expect("prepare the samples query");
    let rows = samples
        .query_map([], |row| {
            Ok((
                row.get::<_, String>(0)?,
                row.get::<_, String>(1)?,
                row.get::<_, i64>(2)?,
                row.get::<_, i64>(3)?,
            ))
        })
        .expect("read samples");
    for row in rows {
        let (device, session, seq, count) = row.expect("a samples row");
        let seq = u64::try_from(seq).expect("seq ≥ 0");
        stored
            .entry((device, session, seq))
            .or_default()
            .sample_rows += u64::try_from(count).expect("count ≥ 0");
    }

    let mut report = QueueReport::default();
    for (key, &samples) in &ledger.spooled {
        let samples = samples as u64;
        report.sent += 1;
        report.samples_sent += samples;
        match stored.get(key) {
            None => report.lost += 1,
            Some(s) if s.frame_rows == 0 => report.lost += 1,
            Some(s) => {
                if s.frame_rows > 1 || s.sample_rows > samples {
                    report.duplicated += 1;
                }
                if s.sample_rows < samples {
                    report.samples_missing += 1;
                }
            }
        }
    }
    for (key, s) in &stored {
        report.samples_stored += s.sample_rows;
        if s.frame_rows > 0 {
            report.stored += 1;
        }
        if !ledger.spooled.contains_key(key) {
            report.unexpected += 1;
        }
    }
    report
}
