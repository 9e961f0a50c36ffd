//! Which source is believed first when copies of one activity disagree.
//!
//! Sources are ranked by class, a [`SourceKind`] refined by the file's format:
//!
//! | class      | copies                                           | default rank |
//! |------------|--------------------------------------------------|--------------|
//! | `file_fit` | an uploaded FIT file (a device's own recording)  | 1            |
//! | `paceline` | a session Paceline coached live                  | 2            |
//! | `garmin`   | synced from Garmin Connect                       | 3            |
//! | `strava`   | synced from Strava                               | 4            |
//! | `file_xml` | an uploaded TCX or GPX file                      | 5            |
//! | `file_csv` | an uploaded CSV file, or a file of unknown format | 6           |
//! | `manual`   | typed in by hand                                 | 7            |
//!
//! A device's own FIT file is the most complete record there is. A Paceline live session
//! comes next: its samples are the sensors' own readings, but they crossed a radio link
//! and may have gaps a device's file does not. Garmin's copy is the device file re-served;
//! Strava's is resampled and may be edited; TCX and GPX hold less than FIT (no device
//! totals, often no power); a CSV holds less still; what was typed by hand is the last
//! resort, kept for what nothing else has (RPE, a note, a load).
//!
//! A tenant may set its own order ([`Precedence::parse`]) as a list of class names, best
//! first; classes it leaves out follow in the default order.

use thiserror::Error;

use crate::source::{FileFormat, SourceKind};

/// A source's class: its kind, refined by its file format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum SourceClass {
    /// An uploaded FIT file.
    FileFit,
    /// A Paceline live session.
    Paceline,
    /// Synced from Garmin.
    Garmin,
    /// Synced from Strava.
    Strava,
    /// An uploaded TCX or GPX file.
    FileXml,
    /// An uploaded CSV file, or a file whose format is not known.
    FileCsv,
    /// Typed in by hand.
    Manual,
}

impl SourceClass {
    /// Every class, in the default order.
    pub const DEFAULT_ORDER: [SourceClass; 7] = [
        SourceClass::FileFit,
        SourceClass::Paceline,
        SourceClass::Garmin,
        SourceClass::Strava,
        SourceClass::FileXml,
        SourceClass::FileCsv,
        SourceClass::Manual,
    ];

    /// The class of a copy of `kind` in `format` (the format matters for files only).
    pub fn of(kind: SourceKind, format: Option<FileFormat>) -> SourceClass {
        match (kind, format) {
            (SourceKind::File, Some(FileFormat::Fit)) => SourceClass::FileFit,
            (SourceKind::File, Some(FileFormat::Tcx | FileFormat::Gpx)) => SourceClass::FileXml,
            (SourceKind::File, Some(FileFormat::Csv) | None) => SourceClass::FileCsv,
            (SourceKind::Paceline, _) => SourceClass::Paceline,
            (SourceKind::Garmin, _) => SourceClass::Garmin,
            (SourceKind::Strava, _) => SourceClass::Strava,
            (SourceKind::Manual, _) => SourceClass::Manual,
        }
    }

    /// The class's name in settings: `file_fit`, `paceline`, `garmin`, `strava`,
    /// `file_xml`, `file_csv`, `manual`.
    pub fn as_str(self) -> &'static str {
        match self {
            SourceClass::FileFit => "file_fit",
            SourceClass::Paceline => "paceline",
            SourceClass::Garmin => "garmin",
            SourceClass::Strava => "strava",
            SourceClass::FileXml => "file_xml",
            SourceClass::FileCsv => "file_csv",
            SourceClass::Manual => "manual",
        }
    }

    /// The class named `name` (as [`SourceClass::as_str`] spells it).
    pub fn parse(name: &str) -> Option<SourceClass> {
        Self::DEFAULT_ORDER.into_iter().find(|c| c.as_str() == name)
    }
}

/// A ranking of source classes, best first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Precedence {
    order: [SourceClass; 7],
}

/// Why a list of class names is not a precedence.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum PrecedenceError {
    /// A name that is no class.
    #[error(
        "unknown source {0:?} (expected file_fit, paceline, garmin, strava, file_xml, file_csv or manual)"
    )]
    Unknown(String),
    /// A class named twice.
    #[error("source {0:?} is listed twice")]
    Repeated(String),
}

impl Default for Precedence {
    fn default() -> Self {
        Precedence {
            order: SourceClass::DEFAULT_ORDER,
        }
    }
}

impl Precedence {
    /// A precedence from class names, best first, e.g. `["file_fit", "paceline",
    /// "garmin", "strava", "file_xml", "manual"]`; classes not named follow in the
    /// default order.
    pub fn parse<S: AsRef<str>>(names: &[S]) -> Result<Precedence, PrecedenceError> {
        let mut order = Vec::with_capacity(SourceClass::DEFAULT_ORDER.len());
        for name in names {
            let name = name.as_ref().trim();
            let class = SourceClass::parse(name)
                .ok_or_else(|| PrecedenceError::Unknown(name.to_owned()))?;
            if order.contains(&class) {
                return Err(PrecedenceError::Repeated(name.to_owned()));
            }
            order.push(class);
        }
        for class in SourceClass::DEFAULT_ORDER {
            if !order.contains(&class) {
                order.push(class);
            }
        }
        let mut ranked = SourceClass::DEFAULT_ORDER;
        ranked.copy_from_slice(&order);
        Ok(Precedence { order: ranked })
    }

    /// The classes, best first.
    pub fn order(&self) -> &[SourceClass] {
        &self.order
    }

    /// The class names, best first (what [`Precedence::parse`] reads back).
    pub fn names(&self) -> Vec<&'static str> {
        self.order.iter().map(|c| c.as_str()).collect()
    }

    /// The rank of `class`: 0 is best.
    pub fn rank(&self, class: SourceClass) -> usize {
        self.order
            .iter()
            .position(|c| *c == class)
            .unwrap_or(self.order.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn device_file_beats_garmin_beats_strava_beats_xml_beats_manual() {
        let precedence = Precedence::default();
        let rank = |kind, format| precedence.rank(SourceClass::of(kind, format));
        let ranks = [
            rank(SourceKind::File, Some(FileFormat::Fit)),
            rank(SourceKind::Paceline, None),
            rank(SourceKind::Garmin, None),
            rank(SourceKind::Strava, Some(FileFormat::Fit)),
            rank(SourceKind::File, Some(FileFormat::Tcx)),
            rank(SourceKind::File, Some(FileFormat::Gpx)),
            rank(SourceKind::File, None),
            rank(SourceKind::Manual, None),
        ];
        assert_eq!(ranks, [0, 1, 2, 3, 4, 4, 5, 6]);
    }

    #[test]
    fn a_tenant_list_reorders_and_the_rest_follow() {
        let precedence = Precedence::parse(&["strava", "manual"]).unwrap();
        assert_eq!(
            precedence.names(),
            [
                "strava", "manual", "file_fit", "paceline", "garmin", "file_xml", "file_csv"
            ]
        );
        let full = [
            "file_fit", "paceline", "garmin", "strava", "file_xml", "manual",
        ];
        assert_eq!(Precedence::parse(&full).unwrap().names()[..6], full);
        assert_eq!(
            Precedence::parse(&Precedence::default().names()),
            Ok(Precedence::default())
        );
        assert_eq!(Precedence::parse::<&str>(&[]), Ok(Precedence::default()));
    }

    #[test]
    fn bad_lists_say_which_name() {
        assert_eq!(
            Precedence::parse(&["fit"]),
            Err(PrecedenceError::Unknown("fit".into()))
        );
        assert_eq!(
            Precedence::parse(&["garmin", "strava", "garmin"]),
            Err(PrecedenceError::Repeated("garmin".into()))
        );
        assert_eq!(
            PrecedenceError::Unknown("fit".into()).to_string(),
            "unknown source \"fit\" (expected file_fit, paceline, garmin, strava, file_xml, file_csv or manual)"
        );
    }
}
