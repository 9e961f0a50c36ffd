//! "More of the day": nutrition, body and work values beside the daily metrics, checked,
//! imported from CSV, and turned into correlation inputs.
//!
//! Why here: these values exist for the correlations (does caffeine help? does a long
//! workday hurt?), so their names, units and plausible ranges are kept next to the
//! [`Input`]s they become. All are optional; the gateway stores them per athlete and
//! local date beside the daily metrics (`PUT /athletes/{id}/daily/{date}`).
//!
//! - **Fields and ranges** ([`ExtraField`]): `energy_kcal` 0–15,000; `carbohydrate_g`
//!   0–2,000; `protein_g` 0–1,000; `caffeine_mg` 0–3,000; `alcohol_units` 0–50;
//!   `body_weight_kg` 20–400; `body_fat_pct` 2–75; `work_hours` 0–24; `work_stress` 0–10.
//!   A value outside its range or not a number is refused with the field's name.
//! - **CSV** ([`parse_daily_csv`]): a header with `date` (YYYY-MM-DD) and any of the field
//!   names (any order; unknown columns are an error, so a typo is not silently dropped);
//!   an empty cell means "not entered". Bounded: [`MAX_DAILY_CSV_BYTES`], [`MAX_DAILY_ROWS`]
//!   rows, lines of at most 4,096 bytes; a date twice is an error. Errors name the line.

use std::collections::BTreeSet;

use time::{Date, Month};

use crate::correlations::{DailySeries, Input};
use crate::csv_line::csv_fields;

/// Most bytes of a daily CSV.
pub const MAX_DAILY_CSV_BYTES: usize = 2 * 1024 * 1024;
/// Most rows (days) of a daily CSV: ten years.
pub const MAX_DAILY_ROWS: usize = 3_660;
const MAX_LINE_BYTES: usize = 4096;

/// One of the day's extra values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ExtraField {
    /// Food energy, kcal.
    EnergyKcal,
    /// Carbohydrate, g.
    CarbohydrateG,
    /// Protein, g.
    ProteinG,
    /// Caffeine, mg.
    CaffeineMg,
    /// Alcohol, units.
    AlcoholUnits,
    /// Body weight, kg.
    BodyWeightKg,
    /// Body fat, %.
    BodyFatPct,
    /// Work, h.
    WorkHours,
    /// Work stress, 0–10.
    WorkStress,
}

impl ExtraField {
    /// Every field.
    pub const ALL: [ExtraField; 9] = [
        ExtraField::EnergyKcal,
        ExtraField::CarbohydrateG,
        ExtraField::ProteinG,
        ExtraField::CaffeineMg,
        ExtraField::AlcoholUnits,
        ExtraField::BodyWeightKg,
        ExtraField::BodyFatPct,
        ExtraField::WorkHours,
        ExtraField::WorkStress,
    ];

    /// The stored name (also the CSV column and the correlation input's name).
    pub fn as_str(self) -> &'static str {
        self.input().as_str()
    }

    /// The field named `name` (see [`ExtraField::as_str`]).
    pub fn parse(name: &str) -> Option<ExtraField> {
        ExtraField::ALL.into_iter().find(|f| f.as_str() == name)
    }

    /// The correlation input it feeds.
    pub fn input(self) -> Input {
        match self {
            ExtraField::EnergyKcal => Input::EnergyKcal,
            ExtraField::CarbohydrateG => Input::CarbohydrateG,
            ExtraField::ProteinG => Input::ProteinG,
            ExtraField::CaffeineMg => Input::CaffeineMg,
            ExtraField::AlcoholUnits => Input::AlcoholUnits,
            ExtraField::BodyWeightKg => Input::BodyWeightKg,
            ExtraField::BodyFatPct => Input::BodyFatPct,
            ExtraField::WorkHours => Input::WorkHours,
            ExtraField::WorkStress => Input::WorkStress,
        }
    }

    /// Its plausible range, inclusive.
    pub fn range(self) -> (f64, f64) {
        match self {
            ExtraField::EnergyKcal => (0.0, 15_000.0),
            ExtraField::CarbohydrateG => (0.0, 2_000.0),
            ExtraField::ProteinG => (0.0, 1_000.0),
            ExtraField::CaffeineMg => (0.0, 3_000.0),
            ExtraField::AlcoholUnits => (0.0, 50.0),
            ExtraField::BodyWeightKg => (20.0, 400.0),
            ExtraField::BodyFatPct => (2.0, 75.0),
            ExtraField::WorkHours => (0.0, 24.0),
            ExtraField::WorkStress => (0.0, 10.0),
        }
    }

    /// `value` if it is a number in range.
    pub fn check(self, value: f64) -> Result<f64, ExtraError> {
        let (low, high) = self.range();
        if !value.is_finite() {
            return Err(ExtraError {
                field: self.as_str(),
                reason: "must be a number".to_owned(),
            });
        }
        if !(low..=high).contains(&value) {
            return Err(ExtraError {
                field: self.as_str(),
                reason: format!("{value}: must be from {low} to {high}"),
            });
        }
        Ok(value)
    }
}

/// A value refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {reason}")]
pub struct ExtraError {
    /// The field's name.
    pub field: &'static str,
    /// What is wrong.
    pub reason: String,
}

/// The day's extra values, each optional.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct DayExtras {
    /// Food energy, kcal.
    pub energy_kcal: Option<f64>,
    /// Carbohydrate, g.
    pub carbohydrate_g: Option<f64>,
    /// Protein, g.
    pub protein_g: Option<f64>,
    /// Caffeine, mg.
    pub caffeine_mg: Option<f64>,
    /// Alcohol, units.
    pub alcohol_units: Option<f64>,
    /// Body weight, kg.
    pub body_weight_kg: Option<f64>,
    /// Body fat, %.
    pub body_fat_pct: Option<f64>,
    /// Work, h.
    pub work_hours: Option<f64>,
    /// Work stress, 0–10.
    pub work_stress: Option<f64>,
}

impl DayExtras {
    fn slot(&mut self, field: ExtraField) -> &mut Option<f64> {
        match field {
            ExtraField::EnergyKcal => &mut self.energy_kcal,
            ExtraField::CarbohydrateG => &mut self.carbohydrate_g,
            ExtraField::ProteinG => &mut self.protein_g,
            ExtraField::CaffeineMg => &mut self.caffeine_mg,
            ExtraField::AlcoholUnits => &mut self.alcohol_units,
            ExtraField::BodyWeightKg => &mut self.body_weight_kg,
            ExtraField::BodyFatPct => &mut self.body_fat_pct,
            ExtraField::WorkHours => &mut self.work_hours,
            ExtraField::WorkStress => &mut self.work_stress,
        }
    }

    /// The value of `field`.
    pub fn get(&self, field: ExtraField) -> Option<f64> {
        match field {
            ExtraField::EnergyKcal => self.energy_kcal,
            ExtraField::CarbohydrateG => self.carbohydrate_g,
            ExtraField::ProteinG => self.protein_g,
            ExtraField::CaffeineMg => self.caffeine_mg,
            ExtraField::AlcoholUnits => self.alcohol_units,
            ExtraField::BodyWeightKg => self.body_weight_kg,
            ExtraField::BodyFatPct => self.body_fat_pct,
            ExtraField::WorkHours => self.work_hours,
            ExtraField::WorkStress => self.work_stress,
        }
    }

    /// Sets `field` after checking it.
    pub fn set(&mut self, field: ExtraField, value: Option<f64>) -> Result<(), ExtraError> {
        *self.slot(field) = value.map(|v| field.check(v)).transpose()?;
        Ok(())
    }

    /// Checks every value that is set.
    pub fn check(&self) -> Result<(), ExtraError> {
        for field in ExtraField::ALL {
            if let Some(v) = self.get(field) {
                field.check(v)?;
            }
        }
        Ok(())
    }

    /// The values that are set, in [`ExtraField::ALL`] order.
    pub fn values(&self) -> Vec<(ExtraField, f64)> {
        ExtraField::ALL
            .into_iter()
            .filter_map(|f| self.get(f).map(|v| (f, v)))
            .collect()
    }

    /// Adds the set values to `series` as inputs on `date`.
    pub fn add_to(&self, series: &mut DailySeries, date: Date) {
        for (field, value) in self.values() {
            series.set_input(field.input(), date, value);
        }
    }
}

/// Why a daily CSV was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DailyCsvError {
    /// Over [`MAX_DAILY_CSV_BYTES`].
    #[error("the file is {bytes} bytes; at most {max} are accepted")]
    TooLarge {
        /// Its size.
        bytes: usize,
        /// The cap.
        max: usize,
    },
    /// Not UTF-8.
    #[error("the file is not UTF-8 text")]
    NotUtf8,
    /// Over [`MAX_DAILY_ROWS`].
    #[error("the file has more than {max} days")]
    TooManyRows {
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
}

fn line_error(line: usize, reason: impl Into<String>) -> DailyCsvError {
    DailyCsvError::Line {
        line,
        reason: reason.into(),
    }
}

/// A `YYYY-MM-DD` date.
pub fn parse_date(text: &str) -> Option<Date> {
    let mut parts = text.trim().splitn(3, '-');
    let (y, m, d) = (parts.next()?, parts.next()?, parts.next()?);
    if y.len() != 4 || m.len() != 2 || d.len() != 2 {
        return None;
    }
    let all_digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    if !(all_digits(y) && all_digits(m) && all_digits(d)) {
        return None;
    }
    let month = Month::try_from(m.parse::<u8>().ok()?).ok()?;
    Date::from_calendar_date(y.parse().ok()?, month, d.parse().ok()?).ok()
}

/// The days of a daily CSV (module docs), in file order.
pub fn parse_daily_csv(bytes: &[u8]) -> Result<Vec<(Date, DayExtras)>, DailyCsvError> {
    if bytes.len() > MAX_DAILY_CSV_BYTES {
        return Err(DailyCsvError::TooLarge {
            bytes: bytes.len(),
            max: MAX_DAILY_CSV_BYTES,
        });
    }
    let text = std::str::from_utf8(bytes).map_err(|_| DailyCsvError::NotUtf8)?;
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut lines = text
        .lines()
        .enumerate()
        .map(|(i, l)| (i + 1, l))
        .filter(|(_, l)| !l.trim().is_empty());
    let fields = |n: usize, line: &str| {
        if line.len() > MAX_LINE_BYTES {
            return Err(line_error(n, format!("longer than {MAX_LINE_BYTES} bytes")));
        }
        csv_fields(line).map_err(|r| line_error(n, r))
    };
    let Some((header_n, header)) = lines.next() else {
        return Err(line_error(1, "no header (expected `date` and field names)"));
    };
    let mut date_at = None;
    let mut columns: Vec<Option<ExtraField>> = Vec::new();
    for (i, name) in fields(header_n, header)?.iter().enumerate() {
        let name = name.trim();
        if name == "date" {
            date_at = Some(i);
            columns.push(None);
        } else {
            let field = ExtraField::parse(name)
                .ok_or_else(|| line_error(header_n, format!("unknown column `{name}`")))?;
            if columns.contains(&Some(field)) {
                return Err(line_error(header_n, format!("column `{name}` twice")));
            }
            columns.push(Some(field));
        }
    }
    let date_at = date_at.ok_or_else(|| line_error(header_n, "no `date` column"))?;
    let mut days = Vec::new();
    let mut seen = BTreeSet::new();
    for (n, line) in lines {
        if days.len() >= MAX_DAILY_ROWS {
            return Err(DailyCsvError::TooManyRows {
                max: MAX_DAILY_ROWS,
            });
        }
        let cells = fields(n, line)?;
        if cells.len() != columns.len() {
            return Err(line_error(
                n,
                format!("{} fields; the header has {}", cells.len(), columns.len()),
            ));
        }
        let date = parse_date(&cells[date_at]).ok_or_else(|| {
            line_error(
                n,
                format!("date `{}` is not YYYY-MM-DD", cells[date_at].trim()),
            )
        })?;
        if !seen.insert(date) {
            return Err(line_error(n, format!("{date} appears twice")));
        }
        let mut extras = DayExtras::default();
        for (cell, field) in cells.iter().zip(&columns) {
            let (Some(field), cell) = (field, cell.trim()) else {
                continue;
            };
            if cell.is_empty() {
                continue;
            }
            let value: f64 = cell.parse().map_err(|_| {
                line_error(n, format!("{}: `{cell}` is not a number", field.as_str()))
            })?;
            extras
                .set(*field, Some(value))
                .map_err(|e| line_error(n, e.to_string()))?;
        }
        days.push((date, extras));
    }
    Ok(days)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use time::macros::date;

    #[test]
    fn csv_days_with_empty_cells() {
        let csv = "\u{feff}date,caffeine_mg,body_weight_kg,work_stress\n\
                   2026-11-02,120,71.5,\n\
                   \n\
                   2026-11-03,,71.2,7\n";
        let days = parse_daily_csv(csv.as_bytes()).unwrap();
        assert_eq!(days.len(), 2);
        assert_eq!(days[0].0, date!(2026 - 11 - 02));
        assert_eq!(
            days[0].1.values(),
            [
                (ExtraField::CaffeineMg, 120.0),
                (ExtraField::BodyWeightKg, 71.5)
            ]
        );
        assert_eq!(days[1].1.work_stress, Some(7.0));
        assert_eq!(days[1].1.caffeine_mg, None);
        let mut series = DailySeries::default();
        days[1].1.add_to(&mut series, days[1].0);
        assert_eq!(
            series.inputs[&Input::BodyWeightKg][&date!(2026 - 11 - 03)],
            71.2
        );
    }

    #[test]
    fn csv_errors_name_their_line() {
        let err = |s: &str| parse_daily_csv(s.as_bytes()).unwrap_err().to_string();
        assert_eq!(
            err("date,cafeine_mg\n"),
            "line 1: unknown column `cafeine_mg`"
        );
        assert_eq!(err("caffeine_mg\n100"), "line 1: no `date` column");
        assert_eq!(
            err("date,caffeine_mg\n2026-11-02,5000"),
            "line 2: caffeine_mg: 5000: must be from 0 to 3000"
        );
        assert_eq!(
            err("date,caffeine_mg\n2026-11-02,lots"),
            "line 2: caffeine_mg: `lots` is not a number"
        );
        assert_eq!(
            err("date,caffeine_mg\n2026-02-30,1"),
            "line 2: date `2026-02-30` is not YYYY-MM-DD"
        );
        assert_eq!(
            err("date,caffeine_mg\n2026-11-02,1\n2026-11-02,2"),
            "line 3: 2026-11-02 appears twice"
        );
        assert_eq!(
            err("date,caffeine_mg\n2026-11-02"),
            "line 2: 1 fields; the header has 2"
        );
        assert_eq!(
            err(""),
            "line 1: no header (expected `date` and field names)"
        );
    }

    #[test]
    fn values_are_checked_by_field() {
        let mut d = DayExtras::default();
        assert_eq!(
            d.set(ExtraField::BodyFatPct, Some(1.0))
                .unwrap_err()
                .to_string(),
            "body_fat_pct: 1: must be from 2 to 75"
        );
        assert!(d.set(ExtraField::WorkHours, Some(f64::NAN)).is_err());
        d.set(ExtraField::WorkHours, Some(9.5)).unwrap();
        assert_eq!(d.get(ExtraField::WorkHours), Some(9.5));
        d.alcohol_units = Some(-1.0);
        assert_eq!(d.check().unwrap_err().field, "alcohol_units");
        for f in ExtraField::ALL {
            assert_eq!(ExtraField::parse(f.as_str()), Some(f));
        }
    }

    proptest! {
        #[test]
        fn parser_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..400)) {
            let _ = parse_daily_csv(&bytes);
        }

        #[test]
        fn parser_never_panics_on_near_valid_text(
            rows in proptest::collection::vec("[0-9]{4}-[0-9]{2}-[0-9]{2},[-0-9.e]{0,6},[0-9\"]{0,3}", 0..10)
        ) {
            let text = format!("date,caffeine_mg,work_hours\n{}", rows.join("\n"));
            if let Ok(days) = parse_daily_csv(text.as_bytes()) {
                prop_assert!(days.iter().all(|(_, d)| d.check().is_ok()));
            }
        }
    }
}
