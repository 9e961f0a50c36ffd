//! The store-and-forward spool: every sealed frame stays on disk until the gateway's `Ack`
//! covers it.
//!
//! One append-only file per device (`<dir>/spool.log`) of records:
//!
//! ```text
//! u32 LE  length of (kind ‖ body)
//! u32 LE  CRC-32 (IEEE) of (kind ‖ body)
//! u8      kind: 1 = frame, 2 = ack
//! body    frame: u8 session length, session, u64 LE seq, the encoded frame (rest)
//!         ack:   u8 session length, session, u64 LE committed seq
//! ```
//!
//! Reopening reads the records in order. A record that is torn (shorter than its length),
//! too long, fails its checksum or is not a well-formed frame or ack is a bad region: the
//! reader resyncs, scanning forward byte by byte for the next offset where a whole record
//! parses, and goes on from there. So damage in the middle of the file (a torn write the
//! filesystem left behind later data, a bad sector, a flipped bit) loses only the records
//! it touches, never the acked-later frames after it. Bytes after the last good record (a
//! process killed mid-write) are cut off; if a region in the middle was skipped, the file
//! is rewritten as compaction does (only the unacknowledged frames, fsync, rename), so the
//! bad bytes do not outlive the reopen. [`Recovery`] counts both, and they are logged at
//! warn. No corrupt entry is ever returned. Frames whose seq an ack record covers are
//! dropped on reopen.
//!
//! A false resync (garbage taken for a record) would need, at one offset, a length of at
//! most one largest record that also fits in the file (for random bytes about one chance
//! in 2^16), a kind byte of 1 or 2 (2^-7), a body shaped like that kind, a CRC-32 matching
//! the bytes it covers (2^-32) and a valid session id: together about one offset in 2^55.
//! Frame bodies are sealed (ciphertext), so a good record does not embed another record's
//! bytes by accident either. The scan is bounded: every offset is tried at most once and costs at
//! most one checksum of a record (the file is bounded by `max_bytes`), and the structural
//! checks run before the checksum, so nearly every offset costs a few comparisons.
//!
//! The spool is bounded: an append that would take the file past `max_bytes` first
//! compacts (rewrites only the unacknowledged frames to a new file, fsyncs it and renames
//! it over the old one), and if that is not enough it is refused with
//! [`SpoolError::Full`] — unacknowledged frames are never dropped to make room. Compaction
//! also runs on its own once acknowledged records make up most of a file over
//! [`COMPACT_MIN_BYTES`].
//!
//! Durability: records are written with one `write` each, so they survive the process
//! being killed at any point. They are fsynced at most every `fsync_interval_ms` — inline
//! ([`SyncPolicy::Inline`]), or by a [`BackgroundSync`] thread that never holds the spool
//! ([`SyncPolicy::Background`], what the agent uses: an fsync can take milliseconds and
//! must not stall the async tasks) — and on [`Spool::sync`] and compaction, which bounds
//! what a power cut can take. Ack records are coalesced (at most one write per
//! [`ACK_RECORD_EVERY`]; pending ones are written by `sync`, on drop, and with the next
//! ack): a crash may forget the last acks, and then those frames are sent again, which the
//! gateway drops as duplicates — never the other way round.

use std::collections::{HashMap, VecDeque};
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use paceline_schemas::{MAX_FRAME_BYTES, SessionId};

/// A file smaller than this is never compacted just because most of it is acknowledged.
pub const COMPACT_MIN_BYTES: u64 = 256 * 1024;
/// Bytes of a record besides its body: length, checksum, kind.
pub const RECORD_OVERHEAD_BYTES: u64 = 9;
/// The spool's file name inside its folder.
pub const SPOOL_FILE: &str = "spool.log";
/// Ack records are written at most this often (pending ones are kept in memory).
pub const ACK_RECORD_EVERY: Duration = Duration::from_millis(200);

/// When the spool fsyncs what it wrote.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SyncPolicy {
    /// On an append or ack, when the last fsync is older than this.
    Inline {
        /// Most time between fsyncs, ms.
        interval_ms: u64,
    },
    /// Never on an append or ack: a [`BackgroundSync`] syncs [`Spool::sync_target`].
    Background,
}

/// The file a background syncer flushes (replaced when compaction swaps files).
pub type SyncTarget = Arc<Mutex<File>>;

/// A thread that fsyncs spools every interval without touching them otherwise.
#[derive(Debug)]
pub struct BackgroundSync {
    targets: Arc<Mutex<Vec<SyncTarget>>>,
    stop: Arc<AtomicBool>,
}

impl BackgroundSync {
    /// Starts the thread: every `interval_ms`, `sync_data` on every target added.
    pub fn start(interval_ms: u64) -> Self {
        let targets: Arc<Mutex<Vec<SyncTarget>>> = Arc::default();
        let stop = Arc::new(AtomicBool::new(false));
        let (thread_targets, thread_stop) = (targets.clone(), stop.clone());
        let interval = Duration::from_millis(interval_ms.max(10));
        let spawned = std::thread::Builder::new()
            .name("paceline-spool-sync".to_owned())
            .spawn(move || {
                while !thread_stop.load(Ordering::Relaxed) {
                    std::thread::sleep(interval);
                    let targets: Vec<SyncTarget> = thread_targets
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .clone();
                    sync_all(&targets);
                }
            });
        if let Err(e) = spawned {
            tracing::error!(error = %e, "spool: no background fsync thread");
        }
        Self { targets, stop }
    }

    /// Adds a spool's file.
    pub fn add(&self, target: SyncTarget) {
        self.targets
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(target);
    }
}

/// Flushes every target: one `syncfs` per filesystem when there are several spools on it
/// (a gym hub's 200 spools cost one flush, not 200), else `fdatasync` per file.
fn sync_all(targets: &[SyncTarget]) {
    use std::os::unix::fs::MetadataExt;
    let mut per_device: HashMap<u64, Vec<&SyncTarget>> = HashMap::new();
    for target in targets {
        let file = target.lock().unwrap_or_else(|p| p.into_inner());
        let device = file.metadata().map(|m| m.dev()).unwrap_or(0);
        per_device.entry(device).or_default().push(target);
    }
    for files in per_device.values() {
        #[cfg(target_os = "linux")]
        if files.len() > 1 {
            let file = files[0].lock().unwrap_or_else(|p| p.into_inner());
            match rustix::fs::syncfs(&*file) {
                Ok(()) => continue,
                Err(e) => tracing::debug!(error = %e, "spool: syncfs failed; fsync per file"),
            }
        }
        for target in files {
            let file = target.lock().unwrap_or_else(|p| p.into_inner());
            if let Err(e) = file.sync_data() {
                tracing::warn!(error = %e, "spool: background fsync failed");
            }
        }
    }
}

impl Drop for BackgroundSync {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

const KIND_FRAME: u8 = 1;
const KIND_ACK: u8 = 2;
/// Longest record body: a session id, a seq and the largest frame.
const MAX_BODY_BYTES: usize = 1 + 64 + 8 + MAX_FRAME_BYTES;

/// A failure of the spool.
#[derive(Debug, thiserror::Error)]
pub enum SpoolError {
    /// The file could not be read, written, synced or renamed.
    #[error("spool {path}: {source}")]
    Io {
        /// The file or folder.
        path: PathBuf,
        /// What the system said.
        source: io::Error,
    },
    /// The spool holds `max_bytes` of unacknowledged frames: new frames are refused until
    /// the gateway acknowledges some.
    #[error(
        "spool is full: {unacked_bytes} bytes of unacknowledged frames, limit {max_bytes} bytes"
    )]
    Full {
        /// The configured bound.
        max_bytes: u64,
        /// Bytes held by unacknowledged frames.
        unacked_bytes: u64,
    },
    /// A frame larger than any frame can be.
    #[error("a frame of {len} bytes is larger than the {MAX_FRAME_BYTES}-byte limit")]
    FrameTooLarge {
        /// Its length.
        len: usize,
    },
}

/// One unacknowledged frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpoolEntry {
    /// Position in the spool, increasing with every append (not stored; per open).
    pub index: u64,
    /// The frame's session.
    pub session: SessionId,
    /// The frame's seq within its session.
    pub seq: u64,
    /// The encoded frame, as sent.
    pub frame: Arc<[u8]>,
}

/// What reopening found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Recovery {
    /// Whole records read.
    pub records: u64,
    /// Unacknowledged frames recovered.
    pub unacked_frames: usize,
    /// Bytes cut off the end (a torn or corrupt tail: nothing after it parsed).
    pub truncated_bytes: u64,
    /// Bytes skipped in the middle of the file (corrupt regions with good records after
    /// them); the file was rewritten without them.
    pub skipped_bytes: u64,
    /// Corrupt regions skipped in the middle of the file.
    pub skipped_regions: u64,
}

/// A device's spool. Not shared between processes.
#[derive(Debug)]
pub struct Spool {
    path: PathBuf,
    file: File,
    file_len: u64,
    max_bytes: u64,
    policy: SyncPolicy,
    last_sync: Instant,
    sync_target: SyncTarget,
    pending_acks: HashMap<SessionId, u64>,
    last_ack_write: Instant,
    highest_sent: HashMap<SessionId, u64>,
    entries: VecDeque<SpoolEntry>,
    committed: HashMap<SessionId, u64>,
    unacked_bytes: u64,
    next_index: u64,
}

fn io_error(path: &Path) -> impl FnOnce(io::Error) -> SpoolError + '_ {
    move |source| SpoolError::Io {
        path: path.to_path_buf(),
        source,
    }
}

fn record_len(body_len: usize) -> u64 {
    RECORD_OVERHEAD_BYTES + body_len as u64
}

fn encode_record(kind: u8, session: &SessionId, number: u64, tail: &[u8]) -> Vec<u8> {
    let session = session.as_str().as_bytes();
    let mut payload = Vec::with_capacity(1 + 1 + session.len() + 8 + tail.len());
    payload.push(kind);
    // Session ids are at most 64 bytes (checked by SessionId).
    payload.push(u8::try_from(session.len()).unwrap_or(u8::MAX));
    payload.extend_from_slice(session);
    payload.extend_from_slice(&number.to_le_bytes());
    payload.extend_from_slice(tail);
    let mut record = Vec::with_capacity(8 + payload.len());
    let len = u32::try_from(payload.len()).unwrap_or(u32::MAX);
    record.extend_from_slice(&len.to_le_bytes());
    record.extend_from_slice(&crc32fast::hash(&payload).to_le_bytes());
    record.extend_from_slice(&payload);
    record
}

/// A record read back: kind, session, number (seq or committed seq), tail (frame bytes).
struct Record<'a> {
    kind: u8,
    session: SessionId,
    number: u64,
    tail: &'a [u8],
}

/// Parses the record at the start of `bytes`; `None` if it is torn or corrupt. The cheap
/// structural checks come before the checksum, so resyncing over garbage is fast.
fn parse_record(bytes: &[u8]) -> Option<(Record<'_>, usize)> {
    let (len, rest) = bytes.split_first_chunk::<4>()?;
    let len = u32::from_le_bytes(*len) as usize;
    if len == 0 || len > 1 + MAX_BODY_BYTES {
        return None;
    }
    let (crc, rest) = rest.split_first_chunk::<4>()?;
    let payload = rest.get(..len)?;
    let (&kind, body) = payload.split_first()?;
    if kind != KIND_FRAME && kind != KIND_ACK {
        return None;
    }
    let (&session_len, body) = body.split_first()?;
    let session = body.get(..usize::from(session_len))?;
    let (number, tail) = body[usize::from(session_len)..].split_first_chunk::<8>()?;
    match kind {
        KIND_FRAME if !tail.is_empty() => {}
        KIND_ACK if tail.is_empty() => {}
        _ => return None,
    }
    if crc32fast::hash(payload) != u32::from_le_bytes(*crc) {
        return None;
    }
    let session = SessionId::new(std::str::from_utf8(session).ok()?).ok()?;
    Some((
        Record {
            kind,
            session,
            number: u64::from_le_bytes(*number),
            tail,
        },
        8 + len,
    ))
}

impl Spool {
    /// Opens (or creates) the spool in folder `dir`, recovering what a previous process
    /// left: corrupt regions in the middle are skipped (and the file rewritten without
    /// them), a torn or corrupt tail is cut off, acknowledged frames are dropped.
    pub fn open(
        dir: &Path,
        max_bytes: u64,
        fsync_interval_ms: u64,
    ) -> Result<(Self, Recovery), SpoolError> {
        Self::open_with(
            dir,
            max_bytes,
            SyncPolicy::Inline {
                interval_ms: fsync_interval_ms,
            },
        )
    }

    /// [`Spool::open`] with a choice of [`SyncPolicy`].
    pub fn open_with(
        dir: &Path,
        max_bytes: u64,
        policy: SyncPolicy,
    ) -> Result<(Self, Recovery), SpoolError> {
        fs::create_dir_all(dir).map_err(io_error(dir))?;
        let path = dir.join(SPOOL_FILE);
        let mut file = OpenOptions::new()
            .read(true)
            .append(true)
            .create(true)
            .open(&path)
            .map_err(io_error(&path))?;
        let mut bytes = Vec::new();
        file.read_to_end(&mut bytes).map_err(io_error(&path))?;

        let mut recovery = Recovery::default();
        let mut frames: Vec<(SessionId, u64, Arc<[u8]>)> = Vec::new();
        let mut committed: HashMap<SessionId, u64> = HashMap::new();
        // `end`: just past the last good record; `bad`: where the region being skipped began.
        let mut offset = 0usize;
        let mut end = 0usize;
        let mut bad: Option<usize> = None;
        while offset < bytes.len() {
            let Some((record, used)) = parse_record(&bytes[offset..]) else {
                bad.get_or_insert(offset);
                offset += 1;
                continue;
            };
            if let Some(start) = bad.take() {
                recovery.skipped_bytes += (offset - start) as u64;
                recovery.skipped_regions += 1;
            }
            recovery.records += 1;
            match record.kind {
                KIND_FRAME => frames.push((record.session, record.number, Arc::from(record.tail))),
                _ => {
                    let entry = committed.entry(record.session).or_insert(0);
                    *entry = (*entry).max(record.number);
                }
            }
            offset += used;
            end = offset;
        }
        recovery.truncated_bytes = (bytes.len() - end) as u64;
        if recovery.skipped_regions > 0 || recovery.truncated_bytes > 0 {
            tracing::warn!(
                path = %path.display(),
                skipped_regions = recovery.skipped_regions,
                skipped_bytes = recovery.skipped_bytes,
                truncated_bytes = recovery.truncated_bytes,
                "spool: skipping corrupt regions and cutting off a torn or corrupt tail"
            );
        }
        if recovery.skipped_regions == 0 && recovery.truncated_bytes > 0 {
            file.set_len(end as u64).map_err(io_error(&path))?;
            file.sync_all().map_err(io_error(&path))?;
        }
        let sync_target = Arc::new(Mutex::new(file.try_clone().map_err(io_error(&path))?));
        let mut spool = Self {
            path,
            file,
            file_len: end as u64,
            max_bytes,
            policy,
            last_sync: Instant::now(),
            sync_target,
            pending_acks: HashMap::new(),
            highest_sent: HashMap::new(),
            last_ack_write: Instant::now()
                .checked_sub(ACK_RECORD_EVERY)
                .unwrap_or_else(Instant::now),
            entries: VecDeque::new(),
            committed,
            unacked_bytes: 0,
            next_index: 1,
        };
        let mut seen: HashMap<SessionId, u64> = HashMap::new();
        for (session, seq, frame) in frames {
            let acked = spool.committed.get(&session).copied().unwrap_or(0);
            let last = seen.get(&session).copied().unwrap_or(0);
            // Keep each seq once, in order (a frame is only ever appended once).
            if seq <= acked || seq <= last {
                continue;
            }
            seen.insert(session.clone(), seq);
            spool.push_entry(session, seq, frame);
        }
        recovery.unacked_frames = spool.entries.len();
        if recovery.skipped_regions > 0 {
            // The bad bytes must not outlive this reopen (nor be skipped again on the next):
            // the unacknowledged frames go to a new file, as compaction does.
            spool.compact()?;
        }
        Ok((spool, recovery))
    }

    fn push_entry(&mut self, session: SessionId, seq: u64, frame: Arc<[u8]>) -> SpoolEntry {
        let body_len = 1 + session.as_str().len() + 8 + frame.len();
        self.unacked_bytes += record_len(body_len);
        let entry = SpoolEntry {
            index: self.next_index,
            session,
            seq,
            frame,
        };
        self.next_index += 1;
        self.entries.push_back(entry.clone());
        entry
    }

    /// Appends one frame; it is on disk (in the page cache at least) when this returns.
    /// Refused with [`SpoolError::Full`] when the unacknowledged frames fill the bound.
    pub fn append(
        &mut self,
        session: &SessionId,
        seq: u64,
        frame: &[u8],
    ) -> Result<SpoolEntry, SpoolError> {
        if frame.len() > MAX_FRAME_BYTES {
            return Err(SpoolError::FrameTooLarge { len: frame.len() });
        }
        let record = encode_record(KIND_FRAME, session, seq, frame);
        let needed = record.len() as u64;
        if self.file_len + needed > self.max_bytes {
            if self.unacked_bytes + needed <= self.max_bytes {
                self.compact()?;
            }
            if self.file_len + needed > self.max_bytes {
                return Err(SpoolError::Full {
                    max_bytes: self.max_bytes,
                    unacked_bytes: self.unacked_bytes,
                });
            }
        }
        self.write_record(&record)?;
        Ok(self.push_entry(session.clone(), seq, Arc::from(frame)))
    }

    fn write_record(&mut self, record: &[u8]) -> Result<(), SpoolError> {
        self.file.write_all(record).map_err(io_error(&self.path))?;
        self.file_len += record.len() as u64;
        if let SyncPolicy::Inline { interval_ms } = self.policy
            && self.last_sync.elapsed() >= Duration::from_millis(interval_ms)
        {
            self.file.sync_data().map_err(io_error(&self.path))?;
            self.last_sync = Instant::now();
        }
        Ok(())
    }

    /// Records that the gateway stored every frame of `session` up to `committed_seq` and
    /// forgets them. Returns how many frames that released (0 for an ack that brings
    /// nothing new, which writes nothing).
    pub fn ack(&mut self, session: &SessionId, committed_seq: u64) -> Result<usize, SpoolError> {
        let known = self.committed.get(session).copied().unwrap_or(0);
        if committed_seq <= known {
            return Ok(0);
        }
        let before = self.entries.len();
        let mut released_bytes = 0;
        self.entries.retain(|entry| {
            let covered = entry.session == *session && entry.seq <= committed_seq;
            if covered {
                let body_len = 1 + entry.session.as_str().len() + 8 + entry.frame.len();
                released_bytes += record_len(body_len);
            }
            !covered
        });
        let released = before - self.entries.len();
        self.unacked_bytes -= released_bytes;
        self.committed.insert(session.clone(), committed_seq);
        if released == 0 {
            // Nothing of that session here (already compacted away): remember it in memory.
            return Ok(0);
        }
        self.pending_acks.insert(session.clone(), committed_seq);
        if self.last_ack_write.elapsed() >= ACK_RECORD_EVERY {
            self.write_pending_acks()?;
        }
        if self.file_len >= COMPACT_MIN_BYTES && self.file_len > 2 * self.unacked_bytes {
            self.compact()?;
        }
        Ok(released)
    }

    /// Writes the coalesced ack records.
    fn write_pending_acks(&mut self) -> Result<(), SpoolError> {
        let pending: Vec<(SessionId, u64)> = self.pending_acks.drain().collect();
        let mut records = Vec::new();
        for (session, committed_seq) in &pending {
            records.extend(encode_record(KIND_ACK, session, *committed_seq, &[]));
        }
        self.last_ack_write = Instant::now();
        if records.is_empty() {
            return Ok(());
        }
        self.write_record(&records)
    }

    /// Rewrites the file with only the unacknowledged frames (write, fsync, rename, fsync
    /// the folder): a crash at any point leaves either the old file or the new one.
    pub fn compact(&mut self) -> Result<(), SpoolError> {
        let tmp = self.path.with_extension("log.compact");
        let mut out = File::create(&tmp).map_err(io_error(&tmp))?;
        let mut written = 0u64;
        let mut buffer = Vec::with_capacity(64 * 1024);
        for entry in &self.entries {
            buffer.extend(encode_record(
                KIND_FRAME,
                &entry.session,
                entry.seq,
                &entry.frame,
            ));
            if buffer.len() >= 64 * 1024 {
                out.write_all(&buffer).map_err(io_error(&tmp))?;
                written += buffer.len() as u64;
                buffer.clear();
            }
        }
        out.write_all(&buffer).map_err(io_error(&tmp))?;
        written += buffer.len() as u64;
        out.sync_all().map_err(io_error(&tmp))?;
        drop(out);
        fs::rename(&tmp, &self.path).map_err(io_error(&self.path))?;
        if let Some(dir) = self.path.parent() {
            File::open(dir)
                .and_then(|d| d.sync_all())
                .map_err(io_error(dir))?;
        }
        self.file = OpenOptions::new()
            .read(true)
            .append(true)
            .open(&self.path)
            .map_err(io_error(&self.path))?;
        // The rewritten file holds only unacknowledged frames: no ack is pending any more.
        self.pending_acks.clear();
        let clone = self.file.try_clone().map_err(io_error(&self.path))?;
        *self.sync_target.lock().unwrap_or_else(|p| p.into_inner()) = clone;
        // Sessions without frames left need no ack memory on disk; keep the in-memory one.
        self.file_len = written;
        self.last_sync = Instant::now();
        Ok(())
    }

    /// Writes pending ack records and forces everything to stable storage.
    pub fn sync(&mut self) -> Result<(), SpoolError> {
        self.write_pending_acks()?;
        self.file.sync_data().map_err(io_error(&self.path))?;
        self.last_sync = Instant::now();
        Ok(())
    }

    /// Notes that the frame `seq` of `session` was handed to a transport (this run).
    pub fn mark_sent(&mut self, session: &SessionId, seq: u64) {
        match self.highest_sent.get_mut(session) {
            Some(highest) => *highest = (*highest).max(seq),
            None => {
                self.highest_sent.insert(session.clone(), seq);
            }
        }
    }

    /// The highest seq of `session` handed to a transport this run (0: none).
    pub fn highest_sent(&self, session: &SessionId) -> u64 {
        self.highest_sent.get(session).copied().unwrap_or(0)
    }

    /// The file a [`BackgroundSync`] should flush for this spool.
    pub fn sync_target(&self) -> SyncTarget {
        self.sync_target.clone()
    }

    /// The unacknowledged frames, oldest first.
    pub fn entries(&self) -> impl Iterator<Item = &SpoolEntry> {
        self.entries.iter()
    }

    /// The first unacknowledged frame after position `index` (0: from the start).
    pub fn next_after(&self, index: u64) -> Option<&SpoolEntry> {
        // Entries are in index order; the front is the oldest.
        let start = self.entries.partition_point(|entry| entry.index <= index);
        self.entries.get(start)
    }

    /// How many frames wait for an ack.
    pub fn unacked_len(&self) -> usize {
        self.entries.len()
    }

    /// Whether every frame is acknowledged.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Bytes of the file on disk.
    pub fn file_len(&self) -> u64 {
        self.file_len
    }

    /// Bytes the unacknowledged frames take on disk.
    pub fn unacked_bytes(&self) -> u64 {
        self.unacked_bytes
    }

    /// The configured bound, bytes.
    pub fn max_bytes(&self) -> u64 {
        self.max_bytes
    }

    /// The highest committed seq known for `session`.
    pub fn committed(&self, session: &SessionId) -> u64 {
        self.committed.get(session).copied().unwrap_or(0)
    }
}

impl Drop for Spool {
    fn drop(&mut self) {
        if let Err(e) = self.write_pending_acks() {
            tracing::warn!(error = %e, "spool: the last ack records were not written");
        }
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn session(name: &str) -> SessionId {
        SessionId::new(name).unwrap()
    }

    /// A frame body no offset inside of which parses as a record.
    fn body(seq: u64) -> Vec<u8> {
        vec![0xA0 | (seq % 16) as u8; 40]
    }

    /// Where each record of `bytes` starts and ends (the file must be clean).
    fn records(bytes: &[u8]) -> Vec<(usize, usize)> {
        let mut found = Vec::new();
        let mut offset = 0;
        while offset < bytes.len() {
            let (_, used) = parse_record(&bytes[offset..]).expect("a clean file");
            found.push((offset, offset + used));
            offset += used;
        }
        found
    }

    fn seqs(spool: &Spool) -> Vec<u64> {
        spool.entries().map(|e| e.seq).collect()
    }

    /// Frames 1..=10 of one session, then an ack of 2 (written after them all).
    fn ten_frames_then_an_ack(dir: &Path) -> Vec<u8> {
        let s = session("mid");
        let (mut spool, _) = Spool::open(dir, 1 << 20, 0).unwrap();
        for seq in 1..=10 {
            spool.append(&s, seq, &body(seq)).unwrap();
        }
        spool.ack(&s, 2).unwrap();
        drop(spool);
        fs::read(dir.join(SPOOL_FILE)).unwrap()
    }

    #[test]
    fn a_corrupt_record_in_the_middle_loses_only_that_record() {
        type Damage = fn(&mut Vec<u8>, (usize, usize));
        // A frame record here is 9 + 1 + 3 ("mid") + 8 + 40 = 61 bytes.
        let cases: [(&str, Damage, u64); 4] = [
            (
                "a flipped body byte",
                |b, (s, e)| b[(s + e) / 2] ^= 0x40,
                61,
            ),
            ("a flipped checksum byte", |b, (s, _)| b[s + 5] ^= 0x01, 61),
            ("a length far too long", |b, (s, _)| b[s + 3] = 0x7F, 61),
            // A torn write: the first half of record 5, then record 6 as if appended after.
            (
                "a torn record spliced",
                |b, (s, e)| {
                    b.drain(s + (e - s) / 2..e);
                },
                30,
            ),
        ];
        for (name, damage, skipped) in cases {
            let dir = tempfile::tempdir().unwrap();
            let clean = ten_frames_then_an_ack(dir.path());
            let spans = records(&clean);
            assert_eq!(spans.len(), 11, "{name}");
            let mut damaged = clean.clone();
            damage(&mut damaged, spans[4]);
            fs::write(dir.path().join(SPOOL_FILE), &damaged).unwrap();

            let (spool, recovery) = Spool::open(dir.path(), 1 << 20, 0).unwrap();
            // Frame 5 is lost; the ack after the bad region still releases 1 and 2.
            assert_eq!(seqs(&spool), [3, 4, 6, 7, 8, 9, 10], "{name}");
            for entry in spool.entries() {
                assert_eq!(*entry.frame, body(entry.seq)[..], "{name}");
            }
            assert_eq!(recovery.records, 10, "{name}");
            assert_eq!(recovery.skipped_regions, 1, "{name}");
            assert_eq!(recovery.skipped_bytes, skipped, "{name}");
            assert_eq!(recovery.truncated_bytes, 0, "{name}");
            assert_eq!(recovery.unacked_frames, 7, "{name}");
            drop(spool);

            // Rewritten clean: the next reopen finds the same frames and nothing to skip.
            let rewritten = fs::read(dir.path().join(SPOOL_FILE)).unwrap();
            assert_eq!(records(&rewritten).len(), 7, "{name}");
            let (spool, recovery) = Spool::open(dir.path(), 1 << 20, 0).unwrap();
            assert_eq!(seqs(&spool), [3, 4, 6, 7, 8, 9, 10], "{name}");
            assert_eq!(
                (recovery.skipped_bytes, recovery.skipped_regions),
                (0, 0),
                "{name}"
            );
            assert_eq!(recovery.truncated_bytes, 0, "{name}");
        }
    }

    #[test]
    fn a_corrupt_tail_is_still_cut_off() {
        let dir = tempfile::tempdir().unwrap();
        let clean = ten_frames_then_an_ack(dir.path());
        let spans = records(&clean);
        // The last frame record, then the ack record torn halfway.
        let mut damaged = clean[..spans[10].0 + 10].to_vec();
        damaged[spans[9].0 + 20] ^= 0x01;
        fs::write(dir.path().join(SPOOL_FILE), &damaged).unwrap();
        let (spool, recovery) = Spool::open(dir.path(), 1 << 20, 0).unwrap();
        assert_eq!(seqs(&spool), (1..=9).collect::<Vec<_>>());
        assert_eq!(recovery.truncated_bytes, 61 + 10);
        assert_eq!((recovery.skipped_bytes, recovery.skipped_regions), (0, 0));
        assert_eq!(spool.file_len(), spans[9].0 as u64);
        assert_eq!(
            fs::metadata(dir.path().join(SPOOL_FILE)).unwrap().len(),
            spans[9].0 as u64
        );
    }

    #[test]
    fn two_corrupt_regions_are_counted_apart() {
        let dir = tempfile::tempdir().unwrap();
        let clean = ten_frames_then_an_ack(dir.path());
        let spans = records(&clean);
        let mut damaged = clean.clone();
        damaged[spans[2].0 + 12] ^= 0x10;
        damaged[spans[3].0 + 12] ^= 0x10;
        damaged[spans[7].0] ^= 0x10;
        fs::write(dir.path().join(SPOOL_FILE), &damaged).unwrap();
        let (spool, recovery) = Spool::open(dir.path(), 1 << 20, 0).unwrap();
        assert_eq!(seqs(&spool), [5, 6, 7, 9, 10]);
        assert_eq!(recovery.skipped_regions, 2);
        assert_eq!(recovery.skipped_bytes, 3 * 61);
    }

    /// One spool written by the property test: frames of two sessions, acks among them.
    #[derive(Debug, Clone)]
    enum Step {
        Frame { second: bool, len: usize },
        Ack { second: bool },
    }

    fn step() -> impl Strategy<Value = Step> {
        prop_oneof![
            4 => (any::<bool>(), 1usize..120).prop_map(|(second, len)| Step::Frame { second, len }),
            1 => any::<bool>().prop_map(|second| Step::Ack { second }),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(128))]

        /// Damage anywhere (bytes overwritten, or cut out as by a torn write) never panics
        /// nor returns a frame that was not appended or that an intact ack covers, and
        /// every frame whose record lies wholly outside the damage (and no ack covers) is
        /// recovered, in order; the rewritten file reopens the same, with nothing skipped.
        #[test]
        fn damage_loses_only_the_records_it_touches(
            steps in prop::collection::vec(step(), 1..40),
            start in any::<prop::sample::Index>(),
            len in 1usize..200,
            fill in prop::collection::vec(any::<u8>(), 200),
            splice in any::<bool>(),
        ) {
            let dir = tempfile::tempdir().unwrap();
            let names = [session("a"), session("b")];
            let mut appended: HashMap<(SessionId, u64), Vec<u8>> = HashMap::new();
            {
                let (mut spool, _) = Spool::open(dir.path(), 1 << 20, 0).unwrap();
                let mut next = [1u64, 1];
                for (n, step) in steps.iter().enumerate() {
                    match *step {
                        Step::Frame { second, len } => {
                            let i = usize::from(second);
                            let frame: Vec<u8> = (0..len).map(|k| (k * 31 + n).to_le_bytes()[0]).collect();
                            spool.append(&names[i], next[i], &frame).unwrap();
                            appended.insert((names[i].clone(), next[i]), frame);
                            next[i] += 1;
                        }
                        Step::Ack { second } => {
                            let i = usize::from(second);
                            spool.ack(&names[i], next[i] / 2).unwrap();
                            // One record per ack, in order (none coalesced).
                            spool.sync().unwrap();
                        }
                    }
                }
            }
            let path = dir.path().join(SPOOL_FILE);
            let clean = fs::read(&path).unwrap();
            prop_assume!(!clean.is_empty());
            let from = start.index(clean.len());
            let to = (from + len).min(clean.len());
            let mut damaged = clean.clone();
            if splice {
                // A torn write: the bytes are gone and what followed comes right after.
                damaged.drain(from..to);
            } else {
                damaged[from..to].copy_from_slice(&fill[..to - from]);
            }
            fs::write(&path, &damaged).unwrap();

            let (spool, recovery) = Spool::open(dir.path(), 1 << 20, 0).unwrap();
            // `acked`: by the acks outside the damage, which must apply; `maybe_acked`: by
            // any ack (a damaged one may still be read back: a splice can put its bytes
            // back together exactly).
            let mut acked: HashMap<SessionId, u64> = HashMap::new();
            let mut maybe_acked: HashMap<SessionId, u64> = HashMap::new();
            let mut kept = Vec::new();
            for (s, e) in records(&clean) {
                let (record, _) = parse_record(&clean[s..]).unwrap();
                let outside = e <= from || s >= to;
                if record.kind == KIND_ACK {
                    let a = maybe_acked.entry(record.session.clone()).or_insert(0);
                    *a = (*a).max(record.number);
                    if outside {
                        let a = acked.entry(record.session.clone()).or_insert(0);
                        *a = (*a).max(record.number);
                    }
                } else if outside {
                    kept.push((record.session, record.number));
                }
            }
            let covered = |s: &SessionId, seq: u64| acked.get(s).is_some_and(|&a| seq <= a);
            let maybe_covered =
                |s: &SessionId, seq: u64| maybe_acked.get(s).is_some_and(|&a| seq <= a);
            let got: Vec<(SessionId, u64)> =
                spool.entries().map(|e| (e.session.clone(), e.seq)).collect();
            for entry in spool.entries() {
                let original = appended.get(&(entry.session.clone(), entry.seq));
                prop_assert_eq!(original.map(Vec::as_slice), Some(&*entry.frame));
                prop_assert!(!covered(&entry.session, entry.seq));
            }
            for (s, seq) in kept.iter().filter(|(s, seq)| !maybe_covered(s, *seq)) {
                prop_assert!(got.contains(&(s.clone(), *seq)), "lost {s} {seq}: {recovery:?}");
            }
            for name in &names {
                let mine: Vec<u64> = got.iter().filter(|(s, _)| s == name).map(|e| e.1).collect();
                prop_assert!(mine.windows(2).all(|w| w[0] < w[1]), "{mine:?}");
            }
            drop(spool);
            let (again, second) = Spool::open(dir.path(), 1 << 20, 0).unwrap();
            let again: Vec<(SessionId, u64)> =
                again.entries().map(|e| (e.session.clone(), e.seq)).collect();
            prop_assert_eq!(again, got);
            prop_assert_eq!((second.skipped_bytes, second.truncated_bytes), (0, 0));
        }
    }
}
