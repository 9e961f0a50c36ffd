//! One entry point for any activity file a person uploads: [`read_file`] takes a name and
//! its bytes and gives one [`FileEntry`] per activity inside — one for a FIT, TCX, GPX or
//! CSV file (gzip'd or not), one per activity entry of a zip archive (Strava's and
//! Garmin's bulk exports, whose zips may hold zips one level down).
//!
//! The format is told by the content's magic bytes (FIT's `.FIT`, gzip's `1f 8b`, zip's
//! `PK`, the XML root element, the CSV header), then by the name's extension.
//!
//! **Bounds.** Input and every decompressed file at most [`Limits::max_bytes`]; a gzip
//! stream or zip entry expands at most [`Limits::max_ratio`] times its compressed size
//! (decompression stops at the cap, whatever the archive declares); an archive's entries
//! at most [`Limits::max_entries`] (the count it declares is checked before its directory
//! is read) and [`Limits::max_archive_bytes`] in total, counted across nested zips. **Zip entry names are never paths**: they are only returned (cut,
//! control characters dropped); one that would climb out of the archive (`..`, absolute, a
//! drive) is refused as an entry. One bad entry fails alone; the others are read.
//!
//! Of a zip, only entries named as activity files are read (`.fit`, `.tcx`, `.gpx`, their
//! `.gz`, and `.csv` files whose content is a recording); media, profiles and other
//! CSVs are passed over without an entry.
//!
//! A zip's `activities.csv` (Strava: `Activity ID`, `Activity Name`, `Activity Type`,
//! `Filename`) gives the entry it names its external id, its name, and its sport where
//! the file's is vaguer.

use std::collections::HashMap;
use std::io::{Cursor, Read};

use sha2::{Digest, Sha256};

use crate::{FormatError, Limits, Recording, Sport, SportFamily, csv, fit, gpx, tcx};

/// A file format this crate reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Format {
    /// A FIT activity.
    Fit,
    /// Training Center XML.
    Tcx,
    /// GPX.
    Gpx,
    /// Paceline's CSV ([`csv`]).
    Csv,
}

impl Format {
    /// Every format, in the order exports list them.
    pub const ALL: [Format; 4] = [Format::Fit, Format::Tcx, Format::Gpx, Format::Csv];

    /// The usual file extension, without the dot.
    pub fn extension(self) -> &'static str {
        match self {
            Format::Fit => "fit",
            Format::Tcx => "tcx",
            Format::Gpx => "gpx",
            Format::Csv => "csv",
        }
    }

    /// The format an extension names (`fit`, `TCX`, …), if any.
    pub fn from_extension(extension: &str) -> Option<Format> {
        Format::ALL
            .into_iter()
            .find(|f| f.extension().eq_ignore_ascii_case(extension))
    }

    /// The media type to serve it as.
    pub fn media_type(self) -> &'static str {
        match self {
            Format::Fit => "application/vnd.ant.fit",
            Format::Tcx => "application/vnd.garmin.tcx+xml",
            Format::Gpx => "application/gpx+xml",
            Format::Csv => "text/csv; charset=utf-8",
        }
    }

    /// Writes `recording` in this format.
    pub fn write(self, recording: &Recording) -> Vec<u8> {
        match self {
            Format::Fit => fit::write_recording(recording),
            Format::Tcx => tcx::write_recording(recording),
            Format::Gpx => gpx::write_recording(recording),
            Format::Csv => csv::write_recording(recording),
        }
    }
}

/// One activity file read: a whole upload, or one entry of an archive.
#[derive(Debug, Clone, PartialEq)]
pub struct FileEntry {
    /// The file's name, or the entry's name inside its archive (`export.zip/activities/1.fit.gz`).
    pub name: String,
    /// The format of its content, once decompressed; `None` when it was not recognised.
    pub format: Option<Format>,
    /// SHA-256 of the content, decompressed (of the bytes as given when they do not
    /// decompress): the same activity file hashes the same, gzip'd or not.
    pub sha256: [u8; 32],
    /// The id an export's index gives it (Strava's `Activity ID`).
    pub external_id: Option<String>,
    /// The recording, or why this file could not be read.
    pub result: Result<Recording, FormatError>,
}

/// Reads a file of any supported format into its activities. An error is returned only
/// when the whole file cannot be opened (too large, an unreadable or too large archive);
/// a single file that fails is one entry with its error, and so is each bad zip entry.
pub fn read_file(name: &str, bytes: &[u8], limits: &Limits) -> Result<Vec<FileEntry>, FormatError> {
    check_size(bytes.len(), limits)?;
    let name = display_name(name, limits);
    if is_zip(&name, bytes) {
        let mut budget = Budget {
            entries_left: limits.max_entries,
            bytes_left: limits.max_archive_bytes,
        };
        let mut out = Vec::new();
        read_zip(&name, bytes, limits, &mut budget, 0, &mut out)?;
        return Ok(out);
    }
    Ok(vec![read_single(name, bytes, limits)])
}

fn check_size(len: usize, limits: &Limits) -> Result<(), FormatError> {
    if u64::try_from(len).unwrap_or(u64::MAX) > limits.max_bytes {
        return Err(FormatError::TooLarge {
            what: "the input, bytes,",
            limit: limits.max_bytes,
        });
    }
    Ok(())
}

/// A name fit to show: control characters dropped, cut to the text limit.
fn display_name(name: &str, limits: &Limits) -> String {
    let clean: String = name.chars().filter(|c| !c.is_control()).collect();
    limits
        .text(&clean)
        .unwrap_or_else(|| "(unnamed)".to_owned())
}

fn lower_name(name: &str) -> String {
    name.to_ascii_lowercase()
}

fn is_zip(name: &str, bytes: &[u8]) -> bool {
    bytes.starts_with(b"PK\x03\x04")
        || bytes.starts_with(b"PK\x05\x06")
        || (lower_name(name).ends_with(".zip") && !is_gzip(name, bytes))
}

fn is_gzip(name: &str, bytes: &[u8]) -> bool {
    bytes.starts_with(&[0x1f, 0x8b]) || lower_name(name).ends_with(".gz")
}

fn sha256(bytes: &[u8]) -> [u8; 32] {
    Sha256::digest(bytes).into()
}

/// One file (perhaps gzip'd) read into one entry.
fn read_single(name: String, bytes: &[u8], limits: &Limits) -> FileEntry {
    if is_gzip(&name, bytes) {
        let inner_name = strip_suffix_ci(&name, ".gz").to_owned();
        return match gunzip(bytes, limits) {
            Ok(content) if is_zip(&inner_name, &content) => FileEntry {
                sha256: sha256(&content),
                name,
                format: None,
                external_id: None,
                result: Err(FormatError::NestedArchive),
            },
            Ok(content) => {
                let mut entry = read_content(&inner_name, &content, limits);
                entry.name = name;
                entry
            }
            Err(e) => FileEntry {
                name,
                format: None,
                sha256: sha256(bytes),
                external_id: None,
                result: Err(e),
            },
        };
    }
    read_content(&name, bytes, limits)
}

fn strip_suffix_ci<'a>(name: &'a str, suffix: &str) -> &'a str {
    let cut = name.len().saturating_sub(suffix.len());
    match name.get(cut..) {
        Some(tail) if tail.eq_ignore_ascii_case(suffix) => &name[..cut],
        _ => name,
    }
}

/// The format of decompressed content: its magic first, then the name's extension.
pub fn detect(name: &str, bytes: &[u8]) -> Option<Format> {
    detect_content(bytes).or_else(|| {
        let lower = lower_name(name);
        Format::ALL
            .into_iter()
            .find(|f| lower.ends_with(&format!(".{}", f.extension())))
    })
}

/// The format of decompressed content by its magic alone.
fn detect_content(bytes: &[u8]) -> Option<Format> {
    if bytes.get(8..12) == Some(b".FIT".as_slice()) {
        return Some(Format::Fit);
    }
    let head = &bytes[..bytes.len().min(4096)];
    let head = head.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(head);
    let text = String::from_utf8_lossy(head);
    let trimmed = text.trim_start();
    if trimmed.starts_with('<') {
        if text.contains("<TrainingCenterDatabase") {
            return Some(Format::Tcx);
        }
        if text.contains("<gpx") || text.contains(":gpx") {
            return Some(Format::Gpx);
        }
    }
    (trimmed.starts_with("time_s") || trimmed.starts_with("# start:")).then_some(Format::Csv)
}

fn read_content(name: &str, bytes: &[u8], limits: &Limits) -> FileEntry {
    let format = detect(name, bytes);
    let result = match format {
        Some(Format::Fit) => fit::read_recording_with(bytes, limits),
        Some(Format::Tcx) => tcx::read_recording(bytes, limits),
        Some(Format::Gpx) => gpx::read_recording(bytes, limits),
        Some(Format::Csv) => csv::read_recording(bytes, limits),
        None => Err(FormatError::UnknownFormat),
    };
    FileEntry {
        name: name.to_owned(),
        format,
        sha256: sha256(bytes),
        external_id: None,
        result,
    }
}

/// Reads from `reader` at most `cap` bytes; more is an error naming `what`.
fn read_capped(
    reader: impl Read,
    cap: u64,
    compressed: u64,
    what: &str,
    limits: &Limits,
) -> Result<Vec<u8>, FormatError> {
    let mut content = Vec::new();
    let read = reader.take(cap.saturating_add(1)).read_to_end(&mut content);
    read.map_err(|e| FormatError::Gzip {
        reason: e.to_string(),
    })?;
    let len = u64::try_from(content.len()).unwrap_or(u64::MAX);
    if len > cap {
        return Err(if len > limits.max_bytes {
            FormatError::TooLarge {
                what: "the decompressed data, bytes,",
                limit: limits.max_bytes,
            }
        } else if compressed.saturating_mul(limits.max_ratio) < len {
            FormatError::Ratio {
                what: what.to_owned(),
                limit: limits.max_ratio,
            }
        } else {
            FormatError::TooLarge {
                what: "the archive's decompressed data, bytes,",
                limit: limits.max_archive_bytes,
            }
        });
    }
    Ok(content)
}

/// Decompresses gzip (every member), within the size and ratio limits.
fn gunzip(bytes: &[u8], limits: &Limits) -> Result<Vec<u8>, FormatError> {
    let compressed = u64::try_from(bytes.len()).unwrap_or(u64::MAX);
    let cap = limits
        .max_bytes
        .min(compressed.saturating_mul(limits.max_ratio));
    let decoder = flate2::read::MultiGzDecoder::new(bytes);
    read_capped(decoder, cap, compressed, "the gzip data", limits)
}

/// What is left of an archive's allowance, shared with the zips inside it.
struct Budget {
    entries_left: usize,
    bytes_left: u64,
}

/// What `activities.csv` says of one file.
#[derive(Debug, Clone)]
struct IndexRow {
    id: Option<String>,
    name: Option<String>,
    sport: Option<Sport>,
}

fn zip_error(e: &zip::result::ZipError) -> FormatError {
    FormatError::Zip {
        reason: e.to_string(),
    }
}

/// The entry's name if it stays inside the archive: relative, no `..`, no drive.
fn safe_entry_name(raw: &str) -> Option<&str> {
    let bad = raw.is_empty()
        || raw.starts_with('/')
        || raw.starts_with('\\')
        || raw.contains('\0')
        || raw.get(1..2) == Some(":")
        || raw.split(['/', '\\']).any(|part| part == "..");
    (!bad).then_some(raw)
}

fn read_zip(
    archive_name: &str,
    bytes: &[u8],
    limits: &Limits,
    budget: &mut Budget,
    depth: usize,
    out: &mut Vec<FileEntry>,
) -> Result<(), FormatError> {
    // The count the archive declares is checked before the zip crate reads its directory
    // (it holds a record per entry): a small file may not claim millions of entries.
    if declared_entries(bytes) > u64::try_from(budget.entries_left).unwrap_or(u64::MAX) {
        return Err(FormatError::TooLarge {
            what: "the number of archive entries",
            limit: u64::try_from(limits.max_entries).unwrap_or(u64::MAX),
        });
    }
    let mut archive = zip::ZipArchive::new(Cursor::new(bytes)).map_err(|e| zip_error(&e))?;
    if archive.len() > budget.entries_left {
        return Err(FormatError::TooLarge {
            what: "the number of archive entries",
            limit: u64::try_from(limits.max_entries).unwrap_or(u64::MAX),
        });
    }
    budget.entries_left -= archive.len();
    // The index first, wherever it sits in the archive.
    let mut index = Index::default();
    for i in 0..archive.len() {
        let Ok(file) = archive.by_index_raw(i) else {
            continue;
        };
        let is_index = file
            .name()
            .rsplit(['/', '\\'])
            .next()
            .is_some_and(|base| base.eq_ignore_ascii_case("activities.csv"));
        if is_index && file.is_file() {
            drop(file);
            if let Ok(content) = entry_content(&mut archive, i, limits, budget) {
                index = read_index(&content);
            }
        }
    }
    for i in 0..archive.len() {
        let (raw_name, is_file) = match archive.by_index_raw(i) {
            Ok(file) => (file.name().to_owned(), file.is_file()),
            Err(e) => {
                out.push(failed(format!("{archive_name}/#{i}"), bytes, zip_error(&e)));
                continue;
            }
        };
        let shown = display_name(&format!("{archive_name}/{raw_name}"), limits);
        if !is_file {
            continue;
        }
        let Some(inner) = safe_entry_name(&raw_name) else {
            out.push(failed(
                shown,
                raw_name.as_bytes(),
                FormatError::Zip {
                    reason: "an entry name that climbs out of the archive".to_owned(),
                },
            ));
            continue;
        };
        let lower = lower_name(inner);
        let base = lower.rsplit(['/', '\\']).next().unwrap_or(&lower);
        let plain = strip_suffix_ci(base, ".gz");
        let kind_by_name = [".fit", ".tcx", ".gpx", ".csv", ".zip"]
            .iter()
            .find(|ext| plain.ends_with(*ext))
            .copied();
        // Exports hold much besides activities (media, profiles, other CSVs): only entries
        // named as activity files are read, and CSVs only when they are recordings.
        let Some(kind) = kind_by_name else {
            continue;
        };
        if base == "activities.csv" {
            continue;
        }
        let content = match entry_content(&mut archive, i, limits, budget) {
            Ok(content) => content,
            Err(e) => {
                out.push(failed(shown, &[], e));
                continue;
            }
        };
        if kind == ".zip" && !base.ends_with(".gz") {
            if depth >= 1 {
                out.push(failed(shown, &content, FormatError::NestedArchive));
            } else if let Err(e) = read_zip(&shown, &content, limits, budget, depth + 1, out) {
                out.push(failed(shown, &content, e));
            }
            continue;
        }
        if kind == ".csv" && !base.ends_with(".gz") && detect_content(&content).is_none() {
            continue;
        }
        let mut entry = read_single(shown, &content, limits);
        if let Some(row) = index.lookup(inner) {
            apply_index(&mut entry, row);
        }
        out.push(entry);
    }
    Ok(())
}

/// The largest entry count any end-of-central-directory record in the archive's last 64 KiB
/// declares (zip64's too), whichever of them a reader would believe.
fn declared_entries(bytes: &[u8]) -> u64 {
    let tail_from = bytes.len().saturating_sub(65_557);
    let le16 = |at: usize| {
        bytes
            .get(at..at + 2)
            .map_or(0, |b| u64::from(u16::from_le_bytes([b[0], b[1]])))
    };
    let le64 = |at: usize| {
        bytes.get(at..at + 8).map_or(0, |b| {
            u64::from_le_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]])
        })
    };
    let mut most = 0;
    for at in tail_from..bytes.len().saturating_sub(3) {
        if &bytes[at..at + 4] != b"PK\x05\x06" {
            continue;
        }
        // Entries on this disk (8) and in total (10).
        most = most.max(le16(at + 8)).max(le16(at + 10));
        // A zip64 locator just before it points at the zip64 record (counts at 24, 32).
        if at >= 20 && &bytes[at - 20..at - 16] == b"PK\x06\x07" {
            let record = usize::try_from(le64(at - 12)).unwrap_or(usize::MAX);
            if bytes.get(record..record.saturating_add(4)) == Some(b"PK\x06\x06".as_slice()) {
                most = most
                    .max(le64(record.saturating_add(24)))
                    .max(le64(record.saturating_add(32)));
            }
        }
    }
    most
}

fn failed(name: String, bytes: &[u8], error: FormatError) -> FileEntry {
    FileEntry {
        name,
        format: None,
        sha256: sha256(bytes),
        external_id: None,
        result: Err(error),
    }
}

/// The decompressed bytes of entry `i`, within the per-file, ratio and archive caps.
fn entry_content(
    archive: &mut zip::ZipArchive<Cursor<&[u8]>>,
    i: usize,
    limits: &Limits,
    budget: &mut Budget,
) -> Result<Vec<u8>, FormatError> {
    let file = archive.by_index(i).map_err(|e| zip_error(&e))?;
    let compressed = file.compressed_size().max(1);
    let cap = limits
        .max_bytes
        .min(budget.bytes_left)
        .min(compressed.saturating_mul(limits.max_ratio));
    let content =
        read_capped(file, cap, compressed, "the zip entry", limits).map_err(|e| match e {
            FormatError::Gzip { reason } => FormatError::Zip { reason },
            other => other,
        })?;
    budget.bytes_left -= u64::try_from(content.len())
        .unwrap_or(u64::MAX)
        .min(budget.bytes_left);
    Ok(content)
}

/// `activities.csv`, by file name (as the CSV gives it, lower case).
fn read_index(content: &[u8]) -> Index {
    let mut reader = ::csv::ReaderBuilder::new()
        .flexible(true)
        .from_reader(content);
    let Ok(header) = reader.headers().cloned() else {
        return Index::default();
    };
    let column = |name: &str| {
        header
            .iter()
            .position(|h| h.trim().eq_ignore_ascii_case(name))
    };
    let (Some(file), id, title, kind) = (
        column("Filename"),
        column("Activity ID"),
        column("Activity Name"),
        column("Activity Type"),
    ) else {
        return Index::default();
    };
    let limits = Limits::default();
    let mut index = Index::default();
    for row in reader.records().flatten() {
        let cell = |i: Option<usize>| i.and_then(|i| row.get(i)).and_then(|v| limits.text(v));
        let Some(path) = cell(Some(file)) else {
            continue;
        };
        let row = IndexRow {
            id: cell(id),
            name: cell(title),
            sport: cell(kind).map(|k| Sport::from_name(&k)),
        };
        let path = lower_name(&path);
        if let Some(base) = path.rsplit(['/', '\\']).next() {
            index.by_base.insert(base.to_owned(), row.clone());
        }
        index.by_path.insert(path, row);
    }
    index
}

/// `activities.csv` by the path it gives each file, and by the file's base name.
#[derive(Default)]
struct Index {
    by_path: HashMap<String, IndexRow>,
    by_base: HashMap<String, IndexRow>,
}

impl Index {
    /// The row of an entry: by its path in the archive, or by its base name.
    fn lookup(&self, entry: &str) -> Option<&IndexRow> {
        let lower = lower_name(entry);
        self.by_path.get(&lower).or_else(|| {
            let base = lower.rsplit(['/', '\\']).next()?;
            self.by_base.get(base)
        })
    }
}

fn apply_index(entry: &mut FileEntry, row: &IndexRow) {
    entry.external_id.clone_from(&row.id);
    if let Ok(recording) = &mut entry.result {
        if row.name.is_some() {
            recording.name.clone_from(&row.name);
        }
        if let Some(sport) = row.sport.filter(|&s| s != Sport::Other) {
            let vaguer = recording.sport == Sport::Other
                || (recording.sport.family() == sport.family()
                    && sport.family() != SportFamily::Other);
            if vaguer {
                recording.sport = sport;
            }
        }
    }
}
