//! Sources: each imported copy of an activity, what it says, and when two copies are the
//! same copy.
//!
//! **Same copy** ([`is_same_copy`]): the same source kind with the same external id (a
//! Strava activity id, a Garmin summary id, a Paceline session id), or the same SHA-256 of
//! the file's bytes whatever the kind. Importing a copy again changes nothing: the caller
//! answers `duplicate`.

use paceline_formats::{Recording, Sport};

use crate::load::{Load, LoadThresholds};
use crate::summary::summarize;

/// Where a copy came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum SourceKind {
    /// A session Paceline coached live, added to the library when it ended.
    Paceline,
    /// A file the athlete uploaded (its [`FileFormat`] says which kind).
    File,
    /// Synced from Strava.
    Strava,
    /// Synced from Garmin Connect.
    Garmin,
    /// Typed in by hand.
    Manual,
}

impl SourceKind {
    /// Every kind.
    pub const ALL: [SourceKind; 5] = [
        SourceKind::Paceline,
        SourceKind::File,
        SourceKind::Strava,
        SourceKind::Garmin,
        SourceKind::Manual,
    ];

    /// The kind's name in rows and the API: `paceline`, `file`, `strava`, `garmin`,
    /// `manual`.
    pub fn as_str(self) -> &'static str {
        match self {
            SourceKind::Paceline => "paceline",
            SourceKind::File => "file",
            SourceKind::Strava => "strava",
            SourceKind::Garmin => "garmin",
            SourceKind::Manual => "manual",
        }
    }

    /// The kind named `name` (as [`SourceKind::as_str`] spells it).
    pub fn parse(name: &str) -> Option<SourceKind> {
        Self::ALL.into_iter().find(|k| k.as_str() == name)
    }
}

/// The format of a file copy: it decides the copy's precedence (a device's FIT file
/// carries more than a TCX or GPX made from it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum FileFormat {
    /// Garmin FIT, as a head unit or watch records it.
    Fit,
    /// Garmin Training Center XML.
    Tcx,
    /// GPS Exchange Format.
    Gpx,
    /// Comma-separated values.
    Csv,
}

impl FileFormat {
    /// Every format.
    pub const ALL: [FileFormat; 4] = [
        FileFormat::Fit,
        FileFormat::Tcx,
        FileFormat::Gpx,
        FileFormat::Csv,
    ];

    /// The format's name in rows and the API: `fit`, `tcx`, `gpx`, `csv`.
    pub fn as_str(self) -> &'static str {
        match self {
            FileFormat::Fit => "fit",
            FileFormat::Tcx => "tcx",
            FileFormat::Gpx => "gpx",
            FileFormat::Csv => "csv",
        }
    }

    /// The format named `name` (as [`FileFormat::as_str`] spells it).
    pub fn parse(name: &str) -> Option<FileFormat> {
        Self::ALL.into_iter().find(|f| f.as_str() == name)
    }
}

/// The caller's id of a stored source copy (its row id).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CopyId(pub i64);

/// The caller's id of an activity (its row id).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ActivityId(pub i64);

/// What a copy says of the activity beyond its sport, start and duration. Every value is
/// optional: a copy gives what it has.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FieldValues {
    /// Time in motion, s.
    pub moving_s: Option<f64>,
    /// Distance, m.
    pub distance_m: Option<f64>,
    /// Altitude gain, m.
    pub ascent_m: Option<f64>,
    /// Mean heart rate, bpm.
    pub hr_avg_bpm: Option<f64>,
    /// Highest heart rate, bpm.
    pub hr_max_bpm: Option<u16>,
    /// Mean power, W.
    pub power_avg_w: Option<f64>,
    /// Highest power, W.
    pub power_max_w: Option<u16>,
    /// Normalized power, W.
    pub np_w: Option<f64>,
    /// Training load.
    pub load: Option<Load>,
    /// Energy, kcal.
    pub energy_kcal: Option<f64>,
    /// The activity's name.
    pub name: Option<String>,
    /// Perceived exertion, 1–10.
    pub rpe: Option<u8>,
    /// A note typed with it.
    pub note: Option<String>,
    /// How many samples the copy holds (the caller stores them with the copy); `None` or
    /// 0 when it has none.
    pub sample_count: Option<u32>,
}

/// One copy of an activity from one source.
#[derive(Debug, Clone, PartialEq)]
pub struct SourceCopy {
    /// Where it came from.
    pub kind: SourceKind,
    /// The file's format, for [`SourceKind::File`] copies (and for synced copies whose
    /// original file is known); `None` otherwise.
    pub format: Option<FileFormat>,
    /// The source's own id of the activity, if it has one.
    pub external_id: Option<String>,
    /// SHA-256 of the file's bytes, if it came as a file.
    pub content_sha256: Option<[u8; 32]>,
    /// Its sport.
    pub sport: Sport,
    /// When it started, ms since the Unix epoch (UTC).
    pub start_ms: i64,
    /// The local time's offset from UTC at the start, s, when known.
    pub local_offset_s: Option<i32>,
    /// Elapsed time, s.
    pub duration_s: f64,
    /// Everything else it says.
    pub fields: FieldValues,
}

/// A copy as the caller stores it: its id and its values.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredCopy {
    /// The copy's id.
    pub id: CopyId,
    /// The copy.
    pub copy: SourceCopy,
}

/// Whether `a` and `b` are the same copy: same kind and external id, or same content hash.
pub fn is_same_copy(a: &SourceCopy, b: &SourceCopy) -> bool {
    let same_id = a.kind == b.kind && a.external_id.is_some() && a.external_id == b.external_id;
    let same_bytes = a.content_sha256.is_some() && a.content_sha256 == b.content_sha256;
    same_id || same_bytes
}

impl SourceCopy {
    /// A copy of a recording, summarised for an athlete with `thresholds` (see
    /// [`crate::summary`]); the sample count is the recording's point count.
    pub fn from_recording(
        kind: SourceKind,
        format: Option<FileFormat>,
        external_id: Option<String>,
        content_sha256: Option<[u8; 32]>,
        recording: &Recording,
        thresholds: &LoadThresholds,
    ) -> SourceCopy {
        let summary = summarize(recording, thresholds);
        SourceCopy {
            kind,
            format,
            external_id,
            content_sha256,
            sport: recording.sport,
            start_ms: recording.start_ms,
            local_offset_s: recording.local_offset_s,
            duration_s: summary.duration_s,
            fields: FieldValues {
                moving_s: summary.moving_s,
                distance_m: summary.distance_m,
                ascent_m: summary.ascent_m,
                hr_avg_bpm: summary.hr_avg_bpm,
                hr_max_bpm: summary.hr_max_bpm,
                power_avg_w: summary.power_avg_w,
                power_max_w: summary.power_max_w,
                np_w: summary.np_w,
                load: summary.load,
                energy_kcal: summary.energy_kcal,
                name: recording.name.clone(),
                rpe: None,
                note: None,
                sample_count: Some(u32::try_from(recording.points.len()).unwrap_or(u32::MAX)),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use paceline_formats::{Point, Totals};

    use super::*;

    fn copy(kind: SourceKind, external_id: Option<&str>, sha: Option<u8>) -> SourceCopy {
        SourceCopy {
            kind,
            format: None,
            external_id: external_id.map(str::to_owned),
            content_sha256: sha.map(|b| [b; 32]),
            sport: Sport::Running,
            start_ms: 1_750_000_000_000,
            local_offset_s: None,
            duration_s: 3600.0,
            fields: FieldValues::default(),
        }
    }

    #[test]
    fn same_copy_by_kind_and_external_id_or_by_bytes() {
        use SourceKind::*;
        let table = [
            (
                copy(Strava, Some("1"), None),
                copy(Strava, Some("1"), None),
                true,
            ),
            (
                copy(Strava, Some("1"), None),
                copy(Strava, Some("2"), None),
                false,
            ),
            (
                copy(Strava, Some("1"), None),
                copy(Garmin, Some("1"), None),
                false,
            ),
            (copy(Strava, None, None), copy(Strava, None, None), false),
            (copy(File, None, Some(7)), copy(File, None, Some(7)), true),
            (
                copy(File, None, Some(7)),
                copy(Garmin, Some("9"), Some(7)),
                true,
            ),
            (copy(File, None, Some(7)), copy(File, None, Some(8)), false),
            (copy(Manual, None, None), copy(Manual, None, None), false),
        ];
        for (a, b, same) in table {
            assert_eq!(is_same_copy(&a, &b), same, "{a:?} vs {b:?}");
            assert_eq!(is_same_copy(&b, &a), same, "symmetric");
        }
    }

    #[test]
    fn names_round_trip() {
        for kind in SourceKind::ALL {
            assert_eq!(SourceKind::parse(kind.as_str()), Some(kind));
        }
        for format in FileFormat::ALL {
            assert_eq!(FileFormat::parse(format.as_str()), Some(format));
        }
        assert_eq!(SourceKind::parse("dropbox"), None);
        assert_eq!(FileFormat::parse("FIT"), None);
    }

    #[test]
    fn a_recording_becomes_a_copy() {
        let recording = Recording {
            sport: Sport::IndoorCycling,
            start_ms: 1_750_000_000_000,
            local_offset_s: Some(7200),
            name: Some("Lunch ride".into()),
            device: None,
            totals: Totals::default(),
            points: (0..600)
                .map(|i| Point {
                    t_ms: i * 1000,
                    power_w: Some(180),
                    ..Point::default()
                })
                .collect(),
        };
        let copy = SourceCopy::from_recording(
            SourceKind::File,
            Some(FileFormat::Fit),
            None,
            Some([1; 32]),
            &recording,
            &LoadThresholds {
                ftp_w: Some(200),
                ..LoadThresholds::default()
            },
        );
        assert_eq!(copy.duration_s, 600.0);
        assert_eq!(copy.local_offset_s, Some(7200));
        assert_eq!(copy.fields.np_w, Some(180.0));
        assert_eq!(copy.fields.name.as_deref(), Some("Lunch ride"));
        assert_eq!(copy.fields.sample_count, Some(600));
        assert!(copy.fields.load.is_some());
    }
}
