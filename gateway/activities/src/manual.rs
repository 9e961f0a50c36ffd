//! An activity typed by hand, checked into a [`SourceCopy`] of kind `manual`.
//!
//! The values arrive as typed ("1:20:00", "10 mi", "500 kcal", "300 ft"; see
//! [`crate::quantity`]); a blank optional one counts as not given. The copy holds them in
//! SI (energy in kcal, as every copy does), and [`ValidManualEntry`] keeps each
//! [`Quantity`] so the caller can store the original text and unit beside it.
//!
//! **Load** so a session without sensors still counts: `load_tss` if given (0 to 2,000);
//! otherwise from `rpe` (1–10) by session-RPE, `duration_min · RPE / 6` (60 min at RPE 7
//! is 70; see [`crate::load`]); otherwise none.

use paceline_formats::Sport;
use thiserror::Error;

use crate::load::{Load, LoadMethod, rpe_load};
use crate::quantity::{Quantity, QuantityError, QuantityKind, parse_quantity};
use crate::source::{FieldValues, SourceCopy, SourceKind};

/// The highest TSS typed by hand that is believed (a day-long race scores about 1,000).
pub const MAX_LOAD_TSS: f64 = 2000.0;
/// The longest name, in bytes.
pub const MAX_NAME_BYTES: usize = 200;
/// The longest note, in bytes.
pub const MAX_NOTE_BYTES: usize = 4000;

/// An activity as typed.
#[derive(Debug, Clone, PartialEq)]
pub struct ManualEntry {
    /// Its sport.
    pub sport: Sport,
    /// When it started, ms since the Unix epoch (UTC).
    pub start_ms: i64,
    /// The local offset from UTC at the start, s, when known.
    pub local_offset_s: Option<i32>,
    /// How long it lasted, as typed ("1:20:00", "45 min").
    pub duration: String,
    /// How far, as typed ("10 mi").
    pub distance: Option<String>,
    /// Energy, as typed ("500 kcal").
    pub energy: Option<String>,
    /// Ascent, as typed ("300 ft").
    pub ascent: Option<String>,
    /// Training load, TSS.
    pub load_tss: Option<f64>,
    /// Perceived exertion, 1–10.
    pub rpe: Option<u8>,
    /// A name.
    pub name: Option<String>,
    /// A note.
    pub note: Option<String>,
}

/// A manual entry that passed its checks.
#[derive(Debug, Clone, PartialEq)]
pub struct ValidManualEntry {
    /// The copy to match, merge and store.
    pub copy: SourceCopy,
    /// The duration as typed.
    pub duration: Quantity,
    /// The distance as typed.
    pub distance: Option<Quantity>,
    /// The energy as typed.
    pub energy: Option<Quantity>,
    /// The ascent as typed.
    pub ascent: Option<Quantity>,
}

/// Why a manual entry is refused.
#[derive(Debug, Clone, PartialEq, Error)]
pub enum ManualEntryError {
    /// A value that does not read as its quantity.
    #[error(transparent)]
    Quantity(#[from] QuantityError),
    /// A duration of zero.
    #[error("duration {0:?}: must be more than zero")]
    ZeroDuration(String),
    /// An RPE outside 1–10.
    #[error("rpe {0}: must be from 1 to 10")]
    Rpe(u8),
    /// A TSS that is negative, not finite or past [`MAX_LOAD_TSS`].
    #[error("load_tss {0}: must be from 0 to 2000")]
    LoadTss(f64),
    /// A name past [`MAX_NAME_BYTES`].
    #[error("name: longer than 200 bytes")]
    NameTooLong,
    /// A note past [`MAX_NOTE_BYTES`].
    #[error("note: longer than 4000 bytes")]
    NoteTooLong,
}

impl ManualEntry {
    /// Checks the entry and makes its copy (see the module docs).
    pub fn validate(&self) -> Result<ValidManualEntry, ManualEntryError> {
        let duration = parse_quantity(QuantityKind::Duration, &self.duration)?;
        if duration.si_value <= 0.0 {
            return Err(ManualEntryError::ZeroDuration(duration.original));
        }
        let optional = |kind, text: &Option<String>| {
            text.as_deref()
                .filter(|t| !t.trim().is_empty())
                .map(|t| parse_quantity(kind, t))
                .transpose()
        };
        let distance = optional(QuantityKind::Distance, &self.distance)?;
        let energy = optional(QuantityKind::Energy, &self.energy)?;
        let ascent = optional(QuantityKind::Elevation, &self.ascent)?;
        if let Some(rpe) = self.rpe.filter(|r| !(1..=10).contains(r)) {
            return Err(ManualEntryError::Rpe(rpe));
        }
        let typed_load = match self.load_tss {
            Some(tss) if !(0.0..=MAX_LOAD_TSS).contains(&tss) => {
                return Err(ManualEntryError::LoadTss(tss));
            }
            Some(tss) => Some(Load {
                tss,
                intensity_factor: None,
                method: LoadMethod::Manual,
            }),
            None => None,
        };
        let text = |t: &Option<String>| {
            t.as_deref()
                .map(str::trim)
                .filter(|t| !t.is_empty())
                .map(str::to_owned)
        };
        let name = text(&self.name);
        if name.as_ref().is_some_and(|n| n.len() > MAX_NAME_BYTES) {
            return Err(ManualEntryError::NameTooLong);
        }
        let note = text(&self.note);
        if note.as_ref().is_some_and(|n| n.len() > MAX_NOTE_BYTES) {
            return Err(ManualEntryError::NoteTooLong);
        }

        let copy = SourceCopy {
            kind: SourceKind::Manual,
            format: None,
            external_id: None,
            content_sha256: None,
            sport: self.sport,
            start_ms: self.start_ms,
            local_offset_s: self.local_offset_s,
            duration_s: duration.si_value,
            fields: FieldValues {
                distance_m: distance.as_ref().map(|q| q.si_value),
                ascent_m: ascent.as_ref().map(|q| q.si_value),
                energy_kcal: energy.as_ref().map(|q| q.si_value / 4184.0),
                load: typed_load.or_else(|| self.rpe.map(|rpe| rpe_load(duration.si_value, rpe))),
                name,
                rpe: self.rpe,
                note,
                ..FieldValues::default()
            },
        };
        Ok(ValidManualEntry {
            copy,
            duration,
            distance,
            energy,
            ascent,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry() -> ManualEntry {
        ManualEntry {
            sport: Sport::Running,
            start_ms: 1_765_000_000_000,
            local_offset_s: Some(-18_000),
            duration: "1:20:00".into(),
            distance: Some("10 mi".into()),
            energy: Some("500 kcal".into()),
            ascent: Some("300 ft".into()),
            load_tss: None,
            rpe: None,
            name: Some("  Long run ".into()),
            note: Some(String::new()),
        }
    }

    #[test]
    fn a_typed_run_becomes_a_manual_copy_in_si() {
        let valid = entry().validate().unwrap();
        let copy = &valid.copy;
        assert_eq!(copy.kind, SourceKind::Manual);
        assert_eq!(copy.duration_s, 4800.0);
        assert_eq!(copy.fields.distance_m, Some(16_093.44));
        assert_eq!(copy.fields.energy_kcal, Some(500.0));
        assert_eq!(copy.fields.ascent_m, Some(91.44));
        assert_eq!(copy.fields.name.as_deref(), Some("Long run"));
        assert_eq!(copy.fields.note, None);
        assert_eq!(copy.fields.load, None);
        let distance = valid.distance.unwrap();
        assert_eq!(
            (distance.unit.as_str(), distance.original.as_str()),
            ("mi", "10 mi")
        );
        assert_eq!(valid.duration.unit, "h:mm:ss");
    }

    #[test]
    fn load_from_tss_else_rpe_else_none() {
        let with_rpe = ManualEntry {
            rpe: Some(7),
            duration: "60 min".into(),
            ..entry()
        };
        let load = with_rpe.validate().unwrap().copy.fields.load.unwrap();
        assert_eq!(load.method, LoadMethod::Rpe);
        assert!((load.tss - 70.0).abs() < 1e-9);

        let with_both = ManualEntry {
            rpe: Some(7),
            load_tss: Some(55.0),
            ..entry()
        };
        let copy = with_both.validate().unwrap().copy;
        assert_eq!(
            copy.fields.load,
            Some(Load {
                tss: 55.0,
                intensity_factor: None,
                method: LoadMethod::Manual
            })
        );
        assert_eq!(copy.fields.rpe, Some(7));
    }

    #[test]
    fn bad_entries_name_the_field() {
        let table = [
            (
                ManualEntry {
                    duration: "0 min".into(),
                    ..entry()
                },
                "duration \"0 min\": must be more than zero",
            ),
            (
                ManualEntry {
                    duration: "soon".into(),
                    ..entry()
                },
                "duration \"soon\": expected a number, like \"1:20:00 or 45 min\"",
            ),
            (
                ManualEntry {
                    distance: Some("10 parsecs".into()),
                    ..entry()
                },
                "distance \"10 parsecs\": unknown unit \"parsecs\" (expected m, km, mi, yd or ft)",
            ),
            (
                ManualEntry {
                    energy: Some("-5 kcal".into()),
                    ..entry()
                },
                "energy \"-5 kcal\": cannot be negative",
            ),
            (
                ManualEntry {
                    rpe: Some(0),
                    ..entry()
                },
                "rpe 0: must be from 1 to 10",
            ),
            (
                ManualEntry {
                    rpe: Some(11),
                    ..entry()
                },
                "rpe 11: must be from 1 to 10",
            ),
            (
                ManualEntry {
                    load_tss: Some(f64::NAN),
                    ..entry()
                },
                "load_tss NaN: must be from 0 to 2000",
            ),
            (
                ManualEntry {
                    load_tss: Some(-1.0),
                    ..entry()
                },
                "load_tss -1: must be from 0 to 2000",
            ),
            (
                ManualEntry {
                    name: Some("x".repeat(201)),
                    ..entry()
                },
                "name: longer than 200 bytes",
            ),
        ];
        for (entry, message) in table {
            assert_eq!(entry.validate().unwrap_err().to_string(), message);
        }
    }

    #[test]
    fn blank_optional_values_are_not_given() {
        let blank = ManualEntry {
            distance: Some(" ".into()),
            energy: None,
            ascent: Some(String::new()),
            ..entry()
        };
        let valid = blank.validate().unwrap();
        assert_eq!(
            (valid.distance, valid.energy, valid.ascent),
            (None, None, None)
        );
    }
}
