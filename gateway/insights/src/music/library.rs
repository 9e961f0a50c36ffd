//! The athlete's track library from an M3U or CSV file, or from tags the gateway read.
//!
//! Why three ways in: most athletes already have a playlist export (M3U with `#EXTINF`
//! durations), some keep a spreadsheet of BPMs (CSV), and the rest have a music folder
//! whose files carry BPM tags; the gateway reads those tags (file I/O stays out of this
//! crate) and hands over plain values.
//!
//! - **M3U**: an optional `#EXTM3U` header; for each track
//!   `#EXTINF:<duration_s>,<artist> - <title>` (duration in seconds, decimals rounded; attributes after the duration
//!   ignored; no ` - ` means the whole text is the title), an optional `#EXTBPM:<bpm>`, then
//!   the path line. Other `#` lines and blank lines are skipped. A path without an
//!   `#EXTINF` before it, an `#EXTINF` without a path, or an unknown (−1) duration is an
//!   error naming its line: a playlist cannot be filled from tracks of unknown length.
//! - **CSV**: a header naming the columns (any order, unknown ones ignored): `path`,
//!   `title`, `duration_s` required, `artist`, `bpm` optional; one track per line; fields
//!   may be double-quoted (`""` for a quote) but not span lines (split by the crate's
//!   small line splitter: one fixed shape with per-line errors, not a CSV dependency).
//! - **Tags** ([`library_from_tags`]): already-read values; a track whose values are out of
//!   range is skipped with its reason rather than failing the whole folder.
//!
//! Bounds: [`MAX_LIBRARY_BYTES`] of text, [`MAX_LINE_BYTES`] per line, [`MAX_TRACKS`]
//! tracks; durations 1 s–6 h; BPM 30–300 (a track without BPM is kept, with `bpm: None`,
//! and is never chosen for a playlist).

use serde::Serialize;

use crate::csv_line::csv_fields;

/// Most bytes of an M3U or CSV library.
pub const MAX_LIBRARY_BYTES: usize = 4 * 1024 * 1024;
/// Most bytes of one line.
pub const MAX_LINE_BYTES: usize = 4096;
/// Most tracks in a library.
pub const MAX_TRACKS: usize = 20_000;
/// Longest track, s.
pub const MAX_TRACK_DURATION_S: u32 = 6 * 3600;
/// Lowest BPM accepted.
pub const MIN_BPM: f64 = 30.0;
/// Highest BPM accepted.
pub const MAX_BPM: f64 = 300.0;

/// A track in the library.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Track {
    /// Its path (or URI) as the athlete's player knows it.
    pub path: String,
    /// Title.
    pub title: String,
    /// Artist, when known.
    pub artist: Option<String>,
    /// Length, s.
    pub duration_s: u32,
    /// Tempo, beats per minute, when known.
    pub bpm: Option<f64>,
}

/// Why a library could not be read.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum LibraryError {
    /// Over [`MAX_LIBRARY_BYTES`].
    #[error("the library is {bytes} bytes; at most {max} are accepted")]
    TooLarge {
        /// Its size.
        bytes: usize,
        /// The cap.
        max: usize,
    },
    /// Not UTF-8 text.
    #[error("the library is not UTF-8 text")]
    NotUtf8,
    /// Over [`MAX_TRACKS`].
    #[error("the library has more than {max} tracks")]
    TooManyTracks {
        /// The cap.
        max: usize,
    },
    /// A line is wrong.
    #[error("line {line}: {reason}")]
    Line {
        /// 1-based line number.
        line: usize,
        /// What is wrong.
        reason: String,
    },
    /// A CSV header lacks a required column.
    #[error("the CSV header has no `{column}` column (expected path,title,artist,duration_s,bpm)")]
    MissingColumn {
        /// The column.
        column: &'static str,
    },
}

fn line_error(line: usize, reason: impl Into<String>) -> LibraryError {
    LibraryError::Line {
        line,
        reason: reason.into(),
    }
}

/// The text of `bytes` (BOM stripped), bounded.
fn text(bytes: &[u8]) -> Result<&str, LibraryError> {
    if bytes.len() > MAX_LIBRARY_BYTES {
        return Err(LibraryError::TooLarge {
            bytes: bytes.len(),
            max: MAX_LIBRARY_BYTES,
        });
    }
    let text = std::str::from_utf8(bytes).map_err(|_| LibraryError::NotUtf8)?;
    Ok(text.strip_prefix('\u{feff}').unwrap_or(text))
}

/// Numbered lines, each bounded.
fn lines(text: &str) -> impl Iterator<Item = Result<(usize, &str), LibraryError>> {
    text.lines().enumerate().map(|(i, l)| {
        if l.len() > MAX_LINE_BYTES {
            Err(line_error(
                i + 1,
                format!("longer than {MAX_LINE_BYTES} bytes"),
            ))
        } else {
            Ok((i + 1, l.trim()))
        }
    })
}

fn duration(text: &str) -> Result<u32, String> {
    let v: f64 = text
        .trim()
        .parse()
        .map_err(|_| format!("duration `{text}` is not a number of seconds"))?;
    duration_value(v, text)
}

/// A duration in seconds, rounded, checked against 1 s–6 h; `shown` names it in errors.
fn duration_value(v: f64, shown: &str) -> Result<u32, String> {
    if v < 0.0 {
        return Err(format!(
            "duration `{shown}` is unknown; the library needs every track's length"
        ));
    }
    let rounded = v.round();
    if !(1.0..=f64::from(MAX_TRACK_DURATION_S)).contains(&rounded) {
        return Err(format!("duration {shown} s is outside 1 s–6 h"));
    }
    // A whole number in 1..=21,600 after the check: the cast is exact.
    #[allow(clippy::cast_possible_truncation)]
    Ok(rounded as u32)
}

fn bpm(text: &str) -> Result<Option<f64>, String> {
    let text = text.trim();
    if text.is_empty() {
        return Ok(None);
    }
    let v: f64 = text
        .parse()
        .map_err(|_| format!("BPM `{text}` is not a number"))?;
    bpm_value(v, text).map(Some)
}

/// A BPM checked against 30–300; `shown` names it in errors.
fn bpm_value(v: f64, shown: &str) -> Result<f64, String> {
    if !(MIN_BPM..=MAX_BPM).contains(&v) {
        return Err(format!("BPM {shown} is outside {MIN_BPM}–{MAX_BPM}"));
    }
    Ok(v)
}

/// A field without control characters, trimmed.
fn clean(text: &str) -> String {
    text.chars()
        .filter(|c| !c.is_control())
        .collect::<String>()
        .trim()
        .to_owned()
}

fn push(tracks: &mut Vec<Track>, track: Track) -> Result<(), LibraryError> {
    if tracks.len() >= MAX_TRACKS {
        return Err(LibraryError::TooManyTracks { max: MAX_TRACKS });
    }
    tracks.push(track);
    Ok(())
}

/// The tracks of an M3U (extended) playlist (module docs).
pub fn parse_m3u(bytes: &[u8]) -> Result<Vec<Track>, LibraryError> {
    struct Pending {
        line: usize,
        duration_s: u32,
        artist: Option<String>,
        title: String,
        bpm: Option<f64>,
    }
    let mut tracks = Vec::new();
    let mut pending: Option<Pending> = None;
    for entry in lines(text(bytes)?) {
        let (n, line) = entry?;
        if line.is_empty() || line == "#EXTM3U" {
            continue;
        }
        if let Some(rest) = line.strip_prefix("#EXTINF:") {
            if let Some(p) = &pending {
                return Err(line_error(p.line, "#EXTINF has no path line after it"));
            }
            let (head, display) = rest
                .split_once(',')
                .ok_or_else(|| line_error(n, "#EXTINF needs `<duration>,<artist> - <title>`"))?;
            let duration_text = head.split_whitespace().next().unwrap_or("");
            let duration_s = duration(duration_text).map_err(|r| line_error(n, r))?;
            let (artist, title) = match display.split_once(" - ") {
                Some((a, t)) if !a.trim().is_empty() => (Some(clean(a)), clean(t)),
                _ => (None, clean(display)),
            };
            pending = Some(Pending {
                line: n,
                duration_s,
                artist,
                title,
                bpm: None,
            });
        } else if let Some(rest) = line.strip_prefix("#EXTBPM:") {
            let p = pending
                .as_mut()
                .ok_or_else(|| line_error(n, "#EXTBPM must follow an #EXTINF line"))?;
            p.bpm = bpm(rest).map_err(|r| line_error(n, r))?;
        } else if line.starts_with('#') {
            continue;
        } else {
            let p = pending.take().ok_or_else(|| {
                line_error(
                    n,
                    "a path without an #EXTINF line (with its duration) before it",
                )
            })?;
            let path = clean(line);
            let title = if p.title.is_empty() {
                path.clone()
            } else {
                p.title
            };
            push(
                &mut tracks,
                Track {
                    path,
                    title,
                    artist: p.artist,
                    duration_s: p.duration_s,
                    bpm: p.bpm,
                },
            )?;
        }
    }
    if let Some(p) = pending {
        return Err(line_error(p.line, "#EXTINF has no path line after it"));
    }
    Ok(tracks)
}

/// The tracks of a CSV library (module docs).
pub fn parse_csv(bytes: &[u8]) -> Result<Vec<Track>, LibraryError> {
    let mut rows = lines(text(bytes)?).filter(|l| !matches!(l, Ok((_, ""))));
    let (header_line, header) = match rows.next() {
        None => return Err(LibraryError::MissingColumn { column: "path" }),
        Some(entry) => entry?,
    };
    let names: Vec<String> = csv_fields(header)
        .map_err(|r| line_error(header_line, r))?
        .iter()
        .map(|f| f.trim().to_ascii_lowercase())
        .collect();
    let column = |name: &str| names.iter().position(|n| n == name);
    let required =
        |name: &'static str| column(name).ok_or(LibraryError::MissingColumn { column: name });
    let (path_at, title_at, duration_at) = (
        required("path")?,
        required("title")?,
        required("duration_s")?,
    );
    let (artist_at, bpm_at) = (column("artist"), column("bpm"));
    let mut tracks = Vec::new();
    for entry in rows {
        let (n, line) = entry?;
        let fields = csv_fields(line).map_err(|r| line_error(n, r))?;
        if fields.len() != names.len() {
            return Err(line_error(
                n,
                format!("{} fields; the header has {}", fields.len(), names.len()),
            ));
        }
        let path = clean(&fields[path_at]);
        if path.is_empty() {
            return Err(line_error(n, "the path is empty"));
        }
        let title = clean(&fields[title_at]);
        push(
            &mut tracks,
            Track {
                title: if title.is_empty() {
                    path.clone()
                } else {
                    title
                },
                path,
                artist: artist_at
                    .map(|i| clean(&fields[i]))
                    .filter(|a| !a.is_empty()),
                duration_s: duration(&fields[duration_at]).map_err(|r| line_error(n, r))?,
                bpm: match bpm_at {
                    Some(i) => bpm(&fields[i]).map_err(|r| line_error(n, r))?,
                    None => None,
                },
            },
        )?;
    }
    Ok(tracks)
}

/// Tag values the gateway read from one audio file.
#[derive(Debug, Clone, PartialEq)]
pub struct TagValues {
    /// The file's path.
    pub path: String,
    /// Its title tag, if any (the path stands in otherwise).
    pub title: Option<String>,
    /// Its artist tag, if any.
    pub artist: Option<String>,
    /// Its length, s.
    pub duration_s: f64,
    /// Its BPM tag, if any.
    pub bpm: Option<f64>,
}

/// A library read from tags: the usable tracks and the skipped files with why.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TagLibrary {
    /// Tracks, in the order given.
    pub tracks: Vec<Track>,
    /// Skipped files: `(path, reason)`.
    pub skipped: Vec<(String, String)>,
}

/// The library from already-read tags (module docs); at most [`MAX_TRACKS`] tracks, the rest
/// skipped.
pub fn library_from_tags(tags: &[TagValues]) -> TagLibrary {
    let mut library = TagLibrary::default();
    for t in tags {
        let path: String = clean(&t.path).chars().take(MAX_LINE_BYTES).collect();
        let checked = (|| {
            if path.is_empty() {
                return Err("the path is empty".to_owned());
            }
            if library.tracks.len() >= MAX_TRACKS {
                return Err(format!("the library already has {MAX_TRACKS} tracks"));
            }
            if !t.duration_s.is_finite() {
                return Err("the duration is not a number".to_owned());
            }
            let duration_s = duration_value(t.duration_s, &t.duration_s.to_string())?;
            let bpm = match t.bpm {
                Some(b) if b.is_finite() => Some(bpm_value(b, &b.to_string())?),
                Some(_) => return Err("the BPM is not a number".to_owned()),
                None => None,
            };
            Ok((duration_s, bpm))
        })();
        match checked {
            Ok((duration_s, bpm)) => {
                let title: String = t
                    .title
                    .as_deref()
                    .map(clean)
                    .filter(|s| !s.is_empty())
                    .unwrap_or_else(|| path.clone())
                    .chars()
                    .take(MAX_LINE_BYTES)
                    .collect();
                library.tracks.push(Track {
                    path,
                    title,
                    artist: t.artist.as_deref().map(clean).filter(|s| !s.is_empty()),
                    duration_s,
                    bpm,
                });
            }
            Err(reason) => library.skipped.push((path, reason)),
        }
    }
    library
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn m3u_with_bpm() {
        let m3u = "\u{feff}#EXTM3U\n\
                   #EXTINF:215,Daft Punk - Harder, Better\n#EXTBPM:123\nmusic/harder.mp3\n\
                   \n# a comment\n\
                   #EXTINF:187.6 tvg-id=\"x\",Untitled Jam\r\nmusic/jam.flac\n";
        let tracks = parse_m3u(m3u.as_bytes()).unwrap();
        assert_eq!(
            tracks,
            [
                Track {
                    path: "music/harder.mp3".into(),
                    title: "Harder, Better".into(),
                    artist: Some("Daft Punk".into()),
                    duration_s: 215,
                    bpm: Some(123.0),
                },
                // 187.6 s rounds to 188; no " - " → the whole text is the title.
                Track {
                    path: "music/jam.flac".into(),
                    title: "Untitled Jam".into(),
                    artist: None,
                    duration_s: 188,
                    bpm: None,
                },
            ]
        );
    }

    #[test]
    fn m3u_errors_name_their_line() {
        let err = |s: &str| parse_m3u(s.as_bytes()).unwrap_err().to_string();
        assert_eq!(
            err("#EXTM3U\nsong.mp3\n"),
            "line 2: a path without an #EXTINF line (with its duration) before it"
        );
        assert_eq!(
            err("#EXTINF:-1,A - B\nb.mp3"),
            "line 1: duration `-1` is unknown; the library needs every track's length"
        );
        assert_eq!(
            err("#EXTINF:200,A - B\n#EXTINF:100,C - D\nd.mp3"),
            "line 1: #EXTINF has no path line after it"
        );
        assert_eq!(
            err("#EXTINF:200,A - B\n#EXTBPM:fast\nb.mp3"),
            "line 2: BPM `fast` is not a number"
        );
        assert_eq!(
            err("#EXTINF:200,A - B\n#EXTBPM:400\nb.mp3"),
            "line 2: BPM 400 is outside 30–300"
        );
        assert_eq!(
            err("#EXTINF:200 A - B\nb.mp3"),
            "line 1: #EXTINF needs `<duration>,<artist> - <title>`"
        );
        assert_eq!(parse_m3u(&[0xff, 0xfe]), Err(LibraryError::NotUtf8));
        let long = format!("#EXTINF:200,{}\nb.mp3", "x".repeat(MAX_LINE_BYTES));
        assert_eq!(err(&long), "line 1: longer than 4096 bytes");
    }

    #[test]
    fn csv_with_quotes_and_any_column_order() {
        let csv = "bpm,duration_s,title,artist,path,genre\n\
                   128,240,\"Run, \"\"Fast\"\"\",Someone,/m/run.mp3,house\n\
                   ,180,Slow,,/m/slow.ogg,ambient\n";
        assert_eq!(
            parse_csv(csv.as_bytes()).unwrap(),
            [
                Track {
                    path: "/m/run.mp3".into(),
                    title: "Run, \"Fast\"".into(),
                    artist: Some("Someone".into()),
                    duration_s: 240,
                    bpm: Some(128.0),
                },
                Track {
                    path: "/m/slow.ogg".into(),
                    title: "Slow".into(),
                    artist: None,
                    duration_s: 180,
                    bpm: None,
                },
            ]
        );
    }

    #[test]
    fn csv_errors_name_their_line() {
        let err = |s: &str| parse_csv(s.as_bytes()).unwrap_err().to_string();
        assert_eq!(
            err("path,title,bpm\na,b,120"),
            "the CSV header has no `duration_s` column (expected path,title,artist,duration_s,bpm)"
        );
        assert_eq!(
            err("path,title,duration_s\na,b,200\nc,d"),
            "line 3: 2 fields; the header has 3"
        );
        assert_eq!(
            err("path,title,duration_s\na,\"b,200"),
            "line 2: a quoted field is not closed"
        );
        assert_eq!(
            err("path,title,duration_s\na,b,0"),
            "line 2: duration 0 s is outside 1 s–6 h"
        );
        assert_eq!(
            err("path,title,duration_s\n,b,10"),
            "line 2: the path is empty"
        );
        assert_eq!(
            err(""),
            "the CSV header has no `path` column (expected path,title,artist,duration_s,bpm)"
        );
    }

    #[test]
    fn tags_skip_what_is_unusable() {
        let tag = |path: &str, duration_s: f64, bpm: Option<f64>| TagValues {
            path: path.into(),
            title: None,
            artist: Some("A".into()),
            duration_s,
            bpm,
        };
        let lib = library_from_tags(&[
            tag("/m/a.mp3", 200.4, Some(128.0)),
            tag("/m/b.mp3", f64::NAN, None),
            tag("/m/c.mp3", 200.0, Some(999.0)),
        ]);
        assert_eq!(lib.tracks.len(), 1);
        assert_eq!(lib.tracks[0].title, "/m/a.mp3");
        assert_eq!(lib.tracks[0].duration_s, 200);
        assert_eq!(
            lib.skipped,
            [
                (
                    "/m/b.mp3".to_owned(),
                    "the duration is not a number".to_owned()
                ),
                (
                    "/m/c.mp3".to_owned(),
                    "BPM 999 is outside 30–300".to_owned()
                ),
            ]
        );
    }

    proptest! {
        #[test]
        fn parsers_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
            let _ = parse_m3u(&bytes);
            let _ = parse_csv(&bytes);
        }

        #[test]
        fn parsers_never_panic_on_near_valid_text(
            lines in proptest::collection::vec(
                prop_oneof![
                    Just("#EXTM3U".to_owned()),
                    "#EXTINF:[-0-9.]{0,6},[a-z -]{0,12}",
                    "#EXTBPM:[-0-9.e]{0,6}",
                    "[a-z/.\",]{0,16}",
                    Just("path,title,artist,duration_s,bpm".to_owned()),
                    "[a-z]{0,4},\"[a-z,\"]{0,6}\"?,[0-9]{0,3},[0-9.]{0,8},[0-9.]{0,5}",
                ],
                0..12,
            )
        ) {
            let text = lines.join("\n");
            if let Ok(tracks) = parse_m3u(text.as_bytes()) {
                prop_assert!(tracks.iter().all(|t| t.duration_s >= 1));
            }
            if let Ok(tracks) = parse_csv(text.as_bytes()) {
                prop_assert!(tracks.iter().all(|t| t.duration_s >= 1 && !t.path.is_empty()));
            }
        }
    }
}
