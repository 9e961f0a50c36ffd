//! A music library from a folder of audio files: each file's BPM, title, artist and length
//! read from its tags with `lofty` (ID3v2 `TBPM` in MP3, WAV and AIFF; Vorbis comment `BPM`
//! in FLAC, Ogg and Opus; MP4 `tmpo` and iTunes `BPM` in M4A), for `paceline music import`.
//! The library is stored as `PUT /me/music` stores an M3U or CSV (format `folder`), so the
//! playlists (`paceline-insights`' `music`) pick from it alike.
//!
//! **Bounded**: at most [`MAX_TRACKS`] audio files (more is an
//! error, nothing stored), files over [`MAX_FILE_BYTES`] skipped, folders walked
//! [`MAX_DEPTH`] deep, symbolic links not followed (no loops). Files are recognised by
//! their extension ([`AUDIO_EXTENSIONS`]); other files are ignored. **Never fatal**: a file
//! whose tags or stream do not read is reported with the reason and left out; a file
//! without a BPM tag (or one outside 30–300) is kept without a BPM (the playlist cannot
//! choose it, as with an M3U line without `#EXTBPM`).

use std::path::{Path, PathBuf};

use lofty::file::{AudioFile, TaggedFileExt};
use lofty::tag::{Accessor, ItemKey};
use paceline_insights::music::Track;
use paceline_insights::music::library::{MAX_BPM, MAX_TRACK_DURATION_S, MAX_TRACKS, MIN_BPM};

/// The extensions read as audio (lower case).
pub const AUDIO_EXTENSIONS: &[&str] = &[
    "mp3", "flac", "ogg", "oga", "opus", "m4a", "mp4", "aac", "wav", "aif", "aiff", "ape", "wv",
    "mpc", "spx",
];
/// Largest audio file read, bytes.
pub const MAX_FILE_BYTES: u64 = 1 << 30;
/// Deepest folder walked below the one given.
pub const MAX_DEPTH: usize = 16;

/// Why a folder could not be imported at all.
#[derive(Debug, thiserror::Error)]
pub enum FolderError {
    /// The folder (or one inside it) could not be listed.
    #[error("{path}: {source}")]
    List {
        /// The folder.
        path: PathBuf,
        /// What the OS said.
        source: std::io::Error,
    },
    /// More audio files than a library holds.
    #[error("more than {max} audio files: import a smaller folder")]
    TooManyFiles {
        /// The cap.
        max: usize,
    },
}

/// What became of one audio file.
#[derive(Debug, Clone, PartialEq)]
pub enum FileOutcome {
    /// Read, with or without a BPM.
    Track(Track),
    /// Over [`MAX_FILE_BYTES`].
    TooLarge {
        /// Its size.
        bytes: u64,
    },
    /// Its tags or stream do not read.
    Unreadable {
        /// Why.
        reason: String,
    },
}

/// A folder's tracks and what was left out.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FolderScan {
    /// The tracks read, in path order.
    pub tracks: Vec<Track>,
    /// Audio files seen.
    pub files: usize,
    /// Files left out (unreadable or too large).
    pub left_out: usize,
}

/// The BPM a tag value gives, when it reads as one in range ("128", "127.5", " 90 ").
fn bpm_of(text: &str) -> Option<f64> {
    let bpm: f64 = text.trim().parse().ok()?;
    (bpm.is_finite() && (MIN_BPM..=MAX_BPM).contains(&bpm)).then_some(bpm)
}

/// One audio file's track (module docs).
pub fn read_track(path: &Path) -> FileOutcome {
    let bytes = match std::fs::metadata(path) {
        Ok(m) => m.len(),
        Err(e) => {
            return FileOutcome::Unreadable {
                reason: e.to_string(),
            };
        }
    };
    if bytes > MAX_FILE_BYTES {
        return FileOutcome::TooLarge { bytes };
    }
    let file = match lofty::read_from_path(path) {
        Ok(file) => file,
        Err(e) => {
            return FileOutcome::Unreadable {
                reason: e.to_string(),
            };
        }
    };
    let tags = file.tags();
    let text = |key: ItemKey| {
        tags.iter()
            .find_map(|t| t.get_string(key).map(str::to_owned))
    };
    let bpm = [ItemKey::Bpm, ItemKey::IntegerBpm]
        .into_iter()
        .find_map(|key| text(key).and_then(|v| bpm_of(&v)));
    let title = tags
        .iter()
        .find_map(|t| t.title().map(|s| s.trim().to_owned()))
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| {
            path.file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_default()
        });
    let artist = tags
        .iter()
        .find_map(|t| t.artist().map(|s| s.trim().to_owned()))
        .filter(|s| !s.is_empty());
    let length_ms = file.properties().duration().as_millis();
    let duration_s = match u32::try_from((length_ms + 500) / 1000) {
        Ok(s) if (1..=MAX_TRACK_DURATION_S).contains(&s) => s,
        _ => {
            return FileOutcome::Unreadable {
                reason: format!("a length of {length_ms} ms (1 s to 6 h are taken)"),
            };
        }
    };
    FileOutcome::Track(Track {
        path: path.to_string_lossy().into_owned(),
        title,
        artist,
        duration_s,
        bpm,
    })
}

fn is_audio(path: &Path) -> bool {
    path.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| AUDIO_EXTENSIONS.contains(&e.to_ascii_lowercase().as_str()))
}

/// The audio files under `root` (module docs), sorted.
fn audio_files(root: &Path) -> Result<Vec<PathBuf>, FolderError> {
    let mut found = Vec::new();
    let mut pending = vec![(root.to_path_buf(), 0usize)];
    while let Some((dir, depth)) = pending.pop() {
        let list = |source| FolderError::List {
            path: dir.clone(),
            source,
        };
        for entry in std::fs::read_dir(&dir).map_err(list)? {
            let entry = entry.map_err(list)?;
            let kind = entry.file_type().map_err(list)?;
            let path = entry.path();
            if kind.is_dir() && depth < MAX_DEPTH {
                pending.push((path, depth + 1));
            } else if kind.is_file() && is_audio(&path) {
                found.push(path);
                if found.len() > MAX_TRACKS {
                    return Err(FolderError::TooManyFiles { max: MAX_TRACKS });
                }
            }
        }
    }
    found.sort();
    Ok(found)
}

/// Reads every audio file under `root`, telling `progress` each file's outcome (with its
/// number and the count) as it goes.
pub fn scan_folder(
    root: &Path,
    mut progress: impl FnMut(usize, usize, &Path, &FileOutcome),
) -> Result<FolderScan, FolderError> {
    let files = audio_files(root)?;
    let mut scan = FolderScan {
        files: files.len(),
        ..FolderScan::default()
    };
    for (i, path) in files.iter().enumerate() {
        let outcome = read_track(path);
        progress(i + 1, files.len(), path, &outcome);
        match outcome {
            FileOutcome::Track(track) => scan.tracks.push(track),
            FileOutcome::TooLarge { .. } | FileOutcome::Unreadable { .. } => scan.left_out += 1,
        }
    }
    Ok(scan)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use lofty::config::WriteOptions;
    use lofty::tag::{Tag, TagExt, TagType};

    /// A WAV file of `seconds` of 8 kHz mono 8-bit silence.
    pub(crate) fn wav(seconds: u32) -> Vec<u8> {
        let data_len = 8_000 * seconds;
        let mut b = Vec::new();
        b.extend(b"RIFF");
        b.extend((36 + data_len).to_le_bytes());
        b.extend(b"WAVEfmt ");
        b.extend(16u32.to_le_bytes());
        b.extend(1u16.to_le_bytes()); // PCM
        b.extend(1u16.to_le_bytes()); // mono
        b.extend(8_000u32.to_le_bytes()); // sample rate
        b.extend(8_000u32.to_le_bytes()); // byte rate
        b.extend(1u16.to_le_bytes()); // block align
        b.extend(8u16.to_le_bytes()); // bits per sample
        b.extend(b"data");
        b.extend(data_len.to_le_bytes());
        b.resize(b.len() + data_len as usize, 0x80);
        b
    }

    /// An MPEG-1 layer III stream of `frames` silent 128 kb/s 44.1 kHz frames (26 ms each).
    pub(crate) fn mp3(frames: usize) -> Vec<u8> {
        let mut b = Vec::new();
        for _ in 0..frames {
            let mut frame = vec![0u8; 417];
            frame[..4].copy_from_slice(&[0xFF, 0xFB, 0x90, 0x64]);
            b.extend(frame);
        }
        b
    }

    /// Writes an ID3v2 tag with a BPM (when given), title and artist into an audio file.
    pub(crate) fn tag_file(path: &Path, bpm: Option<&str>, title: &str, artist: &str) {
        let mut tag = Tag::new(TagType::Id3v2);
        if let Some(bpm) = bpm {
            tag.insert_text(ItemKey::IntegerBpm, bpm.to_owned());
        }
        tag.set_title(title.to_owned());
        tag.set_artist(artist.to_owned());
        tag.save_to_path(path, WriteOptions::default()).unwrap();
    }

    #[test]
    fn bpm_title_artist_and_length_come_from_the_tags_and_bad_files_are_named() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        std::fs::create_dir(root.join("Runs")).unwrap();
        let warmup = root.join("Runs/warm-up.wav");
        std::fs::write(&warmup, wav(4)).unwrap();
        tag_file(&warmup, Some("112"), "Easy Start", "The Pacers");
        let intervals = root.join("intervals.mp3");
        std::fs::write(&intervals, mp3(400)).unwrap();
        tag_file(&intervals, Some("170"), "Fast Lane", "Tempo");
        let untagged = root.join("no-bpm.wav");
        std::fs::write(&untagged, wav(3)).unwrap();
        std::fs::write(root.join("broken.mp3"), b"this is not audio").unwrap();
        std::fs::write(root.join("cover.jpg"), b"not read").unwrap();

        let mut seen = Vec::new();
        let scan = scan_folder(root, |i, n, path, outcome| {
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            seen.push((i, n, name, matches!(outcome, FileOutcome::Track(_))));
        })
        .unwrap();
        assert_eq!(
            seen,
            vec![
                (1, 4, "warm-up.wav".to_owned(), true),
                (2, 4, "broken.mp3".to_owned(), false),
                (3, 4, "intervals.mp3".to_owned(), true),
                (4, 4, "no-bpm.wav".to_owned(), true),
            ]
        );
        assert_eq!((scan.files, scan.left_out, scan.tracks.len()), (4, 1, 3));
        let by_title = |title: &str| scan.tracks.iter().find(|t| t.title == title).unwrap();
        let easy = by_title("Easy Start");
        assert_eq!(easy.bpm, Some(112.0));
        assert_eq!(easy.artist.as_deref(), Some("The Pacers"));
        assert_eq!(easy.duration_s, 4);
        assert_eq!(easy.path, warmup.to_string_lossy());
        let fast = by_title("Fast Lane");
        assert_eq!(fast.bpm, Some(170.0));
        // 400 frames × 1152 samples / 44.1 kHz = 10.4 s.
        assert_eq!(fast.duration_s, 10);
        let plain = by_title("no-bpm");
        assert_eq!((plain.bpm, plain.artist.as_deref()), (None, None));
        match read_track(&root.join("broken.mp3")) {
            FileOutcome::Unreadable { reason } => assert!(!reason.is_empty()),
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            scan_folder(&root.join("missing"), |_, _, _, _| {}),
            Err(FolderError::List { .. })
        ));
    }

    #[test]
    fn bpm_values_read_in_range_only() {
        assert_eq!(bpm_of(" 128 "), Some(128.0));
        assert_eq!(bpm_of("127.5"), Some(127.5));
        for bad in ["", "fast", "0", "29", "301", "NaN", "inf"] {
            assert_eq!(bpm_of(bad), None, "{bad}");
        }
    }
}
