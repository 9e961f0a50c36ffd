//! Values as people type them: "1:20:00", "45 min", "1h 20m", "10 mi", "500 kcal".
//!
//! [`parse_quantity`] turns text into a [`Quantity`]: the value in SI units (seconds,
//! metres, joules), the unit it was typed in (canonical spelling) and the text itself, so
//! the library stores SI and shows back what was typed.
//!
//! | kind      | units (any case; plurals and long names too)          | SI     |
//! |-----------|-------------------------------------------------------|--------|
//! | duration  | `h`, `min` (`m`), `s`; `h:mm:ss`, `m:ss`; `1h 20m`     | s      |
//! | distance  | `m`, `km`, `mi` (1,609.344 m), `yd` (0.9144 m), `ft` (0.3048 m) | m |
//! | energy    | `kcal` (`cal`, `calories`: 4,184 J), `kJ`             | J      |
//! | elevation | `m`, `ft`                                             | m      |
//!
//! Conversions multiply by an exact integer ratio, so 10 mi is 16,093.44 m to the last
//! bit. A comma is refused rather than guessed at ("3,1 km" is 3.1 in some countries and
//! 31 in none, "1,000 m" 1000 in others). Refused too: no number, no unit, an unknown unit
//! ("10 parsecs"), a negative or non-finite value, and values past what any one workout
//! reaches (7 days, 10,000 km, 100,000 kcal, 100 km of ascent).

use std::fmt;

use thiserror::Error;

/// A value typed with its unit.
#[derive(Debug, Clone, PartialEq)]
pub struct Quantity {
    /// The value in SI units: s, m or J.
    pub si_value: f64,
    /// The unit it was typed in, spelt canonically (`mi`, `km`, `min`, `h:mm:ss`,
    /// `h min`, `kcal`, `kJ`, …).
    pub unit: String,
    /// The text as typed, trimmed.
    pub original: String,
}

/// What a quantity measures.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum QuantityKind {
    /// A duration, in s.
    Duration,
    /// A distance, in m.
    Distance,
    /// Energy, in J.
    Energy,
    /// Elevation gain, in m.
    Elevation,
}

impl QuantityKind {
    /// The largest value accepted, in SI units, and how it reads.
    fn limit(self) -> (f64, &'static str) {
        match self {
            QuantityKind::Duration => (7.0 * 86_400.0, "7 days"),
            QuantityKind::Distance => (10_000_000.0, "10,000 km"),
            QuantityKind::Energy => (100_000.0 * 4184.0, "100,000 kcal"),
            QuantityKind::Elevation => (100_000.0, "100 km"),
        }
    }

    /// The units of this kind: names, the canonical spelling, and the factor to SI as
    /// numerator / denominator.
    fn units(self) -> &'static [Unit] {
        match self {
            QuantityKind::Duration => DURATION_UNITS,
            QuantityKind::Distance => DISTANCE_UNITS,
            QuantityKind::Energy => ENERGY_UNITS,
            QuantityKind::Elevation => ELEVATION_UNITS,
        }
    }

    fn expected(self) -> &'static str {
        match self {
            QuantityKind::Duration => "h, min or s, or h:mm:ss",
            QuantityKind::Distance => "m, km, mi, yd or ft",
            QuantityKind::Energy => "kcal or kJ",
            QuantityKind::Elevation => "m or ft",
        }
    }
}

impl fmt::Display for QuantityKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            QuantityKind::Duration => "duration",
            QuantityKind::Distance => "distance",
            QuantityKind::Energy => "energy",
            QuantityKind::Elevation => "elevation",
        })
    }
}

/// A unit: the names it is typed as, its canonical spelling, and its size in SI units as
/// `numerator / denominator`.
struct Unit {
    names: &'static [&'static str],
    canonical: &'static str,
    numerator: f64,
    denominator: f64,
}

const SECOND: Unit = Unit {
    names: &["s", "sec", "secs", "second", "seconds"],
    canonical: "s",
    numerator: 1.0,
    denominator: 1.0,
};
const MINUTE: Unit = Unit {
    names: &["m", "min", "mins", "minute", "minutes"],
    canonical: "min",
    numerator: 60.0,
    denominator: 1.0,
};
const HOUR: Unit = Unit {
    names: &["h", "hr", "hrs", "hour", "hours"],
    canonical: "h",
    numerator: 3600.0,
    denominator: 1.0,
};
const METRE: Unit = Unit {
    names: &["m", "meter", "meters", "metre", "metres"],
    canonical: "m",
    numerator: 1.0,
    denominator: 1.0,
};
const FOOT: Unit = Unit {
    names: &["ft", "foot", "feet"],
    canonical: "ft",
    numerator: 3048.0,
    denominator: 10_000.0,
};

/// Largest first, the order a compound duration must follow.
const DURATION_UNITS: &[Unit] = &[HOUR, MINUTE, SECOND];
const DISTANCE_UNITS: &[Unit] = &[
    METRE,
    Unit {
        names: &[
            "km",
            "kms",
            "kilometer",
            "kilometers",
            "kilometre",
            "kilometres",
        ],
        canonical: "km",
        numerator: 1000.0,
        denominator: 1.0,
    },
    Unit {
        names: &["mi", "mile", "miles"],
        canonical: "mi",
        numerator: 1_609_344.0,
        denominator: 1000.0,
    },
    Unit {
        names: &["yd", "yds", "yard", "yards"],
        canonical: "yd",
        numerator: 9144.0,
        denominator: 10_000.0,
    },
    FOOT,
];
const ENERGY_UNITS: &[Unit] = &[
    Unit {
        names: &[
            "kcal",
            "kcals",
            "cal",
            "cals",
            "calorie",
            "calories",
            "kilocalorie",
            "kilocalories",
        ],
        canonical: "kcal",
        numerator: 4184.0,
        denominator: 1.0,
    },
    Unit {
        names: &["kj", "kilojoule", "kilojoules"],
        canonical: "kJ",
        numerator: 1000.0,
        denominator: 1.0,
    },
];
const ELEVATION_UNITS: &[Unit] = &[METRE, FOOT];

/// Text that is not a quantity of its kind.
#[derive(Debug, Clone, PartialEq, Error)]
#[error("{kind} {text:?}: {problem}")]
pub struct QuantityError {
    /// What it was to measure.
    pub kind: QuantityKind,
    /// The text as typed.
    pub text: String,
    /// What is wrong with it.
    pub problem: QuantityProblem,
}

/// What is wrong with a typed quantity.
#[derive(Debug, Clone, PartialEq, Error)]
pub enum QuantityProblem {
    /// Nothing typed.
    #[error("nothing typed")]
    Empty,
    /// No number where one should be.
    #[error("expected a number, like \"{0}\"")]
    NoNumber(&'static str),
    /// `NaN` or infinity.
    #[error("not a number")]
    NotANumber,
    /// A number without a unit.
    #[error("needs a unit ({0})")]
    MissingUnit(&'static str),
    /// A unit that is not one of this kind's.
    #[error("unknown unit {unit:?} (expected {expected})")]
    UnknownUnit {
        /// The unit typed.
        unit: String,
        /// The units accepted.
        expected: &'static str,
    },
    /// A comma in the number.
    #[error("write decimals with a point and no thousands separator (like 3.1 or 1000)")]
    Comma,
    /// Below zero.
    #[error("cannot be negative")]
    Negative,
    /// Past what any one workout reaches.
    #[error("more than {0}")]
    TooLarge(&'static str),
    /// The units of a compound duration out of order or repeated, a clock time's minutes
    /// or seconds 60 or more, or other text that does not read as a quantity.
    #[error("cannot read it as {0}")]
    Malformed(&'static str),
}

/// Reads `text` as a quantity of `kind` (see the module docs).
pub fn parse_quantity(kind: QuantityKind, text: &str) -> Result<Quantity, QuantityError> {
    let original = text.trim();
    let fail = |problem| QuantityError {
        kind,
        text: original.to_owned(),
        problem,
    };
    let (si_value, unit) = read(kind, original).map_err(fail)?;
    let (limit, limit_text) = kind.limit();
    if si_value > limit {
        return Err(fail(QuantityProblem::TooLarge(limit_text)));
    }
    Ok(Quantity {
        si_value,
        unit,
        original: original.to_owned(),
    })
}

/// The SI value and canonical unit of trimmed `text`.
fn read(kind: QuantityKind, text: &str) -> Result<(f64, String), QuantityProblem> {
    let example = match kind {
        QuantityKind::Duration => "1:20:00 or 45 min",
        QuantityKind::Distance => "10 km",
        QuantityKind::Energy => "500 kcal",
        QuantityKind::Elevation => "300 m",
    };
    if text.is_empty() {
        return Err(QuantityProblem::Empty);
    }
    if text.contains(',') {
        return Err(QuantityProblem::Comma);
    }
    if text.starts_with('-') {
        return Err(QuantityProblem::Negative);
    }
    let lower = text.to_ascii_lowercase();
    if ["nan", "inf", "+nan", "+inf"]
        .iter()
        .any(|n| lower.starts_with(n))
    {
        return Err(QuantityProblem::NotANumber);
    }
    if kind == QuantityKind::Duration && text.contains(':') {
        return clock(text);
    }

    let mut rest = lower.as_str();
    let mut total = 0.0;
    let mut canonical: Vec<&'static str> = Vec::new();
    // The index in `kind.units()` of the last unit read: a compound duration goes from
    // larger units to smaller ones.
    let mut last_unit: Option<usize> = None;
    while !rest.is_empty() {
        let number_len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let number_text = &rest[..number_len];
        if number_text.is_empty() {
            return Err(QuantityProblem::NoNumber(example));
        }
        let value: f64 = number_text
            .parse()
            .map_err(|_| QuantityProblem::Malformed(example))?;
        rest = rest[number_len..].trim_start();
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit() || c == '.' || c.is_whitespace())
            .unwrap_or(rest.len());
        let unit_text = &rest[..unit_len];
        if unit_text.is_empty() {
            return Err(QuantityProblem::MissingUnit(kind.expected()));
        }
        let (index, unit) = kind
            .units()
            .iter()
            .enumerate()
            .find(|(_, u)| u.names.contains(&unit_text))
            .ok_or_else(|| QuantityProblem::UnknownUnit {
                unit: text[text.len() - rest.len()..][..unit_len].to_owned(),
                expected: kind.expected(),
            })?;
        if last_unit.is_some_and(|last| kind != QuantityKind::Duration || index <= last) {
            return Err(QuantityProblem::Malformed(example));
        }
        last_unit = Some(index);
        total += value * unit.numerator / unit.denominator;
        canonical.push(unit.canonical);
        rest = rest[unit_len..].trim_start();
    }
    if !total.is_finite() {
        return Err(QuantityProblem::TooLarge(kind.limit().1));
    }
    Ok((total, canonical.join(" ")))
}

/// A clock-style duration: `h:mm:ss` or `m:ss` (seconds may have a fraction).
fn clock(text: &str) -> Result<(f64, String), QuantityProblem> {
    const MALFORMED: QuantityProblem = QuantityProblem::Malformed("h:mm:ss or m:ss");
    let parts: Vec<&str> = text.split(':').map(str::trim).collect();
    let whole = |part: &str| -> Result<f64, QuantityProblem> {
        if part.is_empty() || !part.bytes().all(|b| b.is_ascii_digit()) {
            return Err(MALFORMED);
        }
        part.parse().map_err(|_| MALFORMED)
    };
    let seconds_text = parts.last().copied().unwrap_or_default();
    let seconds = match seconds_text.split_once('.') {
        Some((int, frac)) => {
            whole(int)?
                + whole(frac)? / 10f64.powi(i32::try_from(frac.len()).map_err(|_| MALFORMED)?)
        }
        None => whole(seconds_text)?,
    };
    if seconds >= 60.0 {
        return Err(MALFORMED);
    }
    match parts[..] {
        [minutes, _] => Ok((whole(minutes)? * 60.0 + seconds, "m:ss".to_owned())),
        [hours, minutes, _] => {
            let minutes = whole(minutes)?;
            if minutes >= 60.0 {
                return Err(MALFORMED);
            }
            Ok((
                whole(hours)? * 3600.0 + minutes * 60.0 + seconds,
                "h:mm:ss".to_owned(),
            ))
        }
        _ => Err(MALFORMED),
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn ok(kind: QuantityKind, text: &str) -> (f64, String) {
        let q = parse_quantity(kind, text).unwrap_or_else(|e| panic!("{text:?}: {e}"));
        assert_eq!(q.original, text.trim());
        (q.si_value, q.unit)
    }

    #[test]
    fn durations_as_people_type_them() {
        let table = [
            ("1:20:00", 4800.0, "h:mm:ss"),
            ("0:45:30", 2730.0, "h:mm:ss"),
            ("45:00", 2700.0, "m:ss"),
            ("90:00", 5400.0, "m:ss"),
            ("1:02:03.5", 3723.5, "h:mm:ss"),
            ("45 min", 2700.0, "min"),
            ("45m", 2700.0, "min"),
            ("45 Minutes", 2700.0, "min"),
            ("1h 20m", 4800.0, "h min"),
            ("1h20m", 4800.0, "h min"),
            ("1 hr 20 min 30 s", 4830.0, "h min s"),
            ("90 s", 90.0, "s"),
            ("90sec", 90.0, "s"),
            ("1.5 h", 5400.0, "h"),
            (" 2 hours ", 7200.0, "h"),
        ];
        for (text, seconds, unit) in table {
            assert_eq!(
                ok(QuantityKind::Duration, text),
                (seconds, unit.to_owned()),
                "{text:?}"
            );
        }
    }

    #[test]
    fn distances_elevations_and_energy() {
        use QuantityKind::*;
        let table = [
            (Distance, "10 mi", 16_093.44, "mi"),
            (Distance, "10 km", 10_000.0, "km"),
            (Distance, "10km", 10_000.0, "km"),
            (Distance, "5000 m", 5000.0, "m"),
            (Distance, "3.1 miles", 3.1 * 1_609_344.0 / 1000.0, "mi"),
            (Distance, "400 yd", 365.76, "yd"),
            (Distance, "0 m", 0.0, "m"),
            (Energy, "500 kcal", 2_092_000.0, "kcal"),
            (Energy, "500 Calories", 2_092_000.0, "kcal"),
            (Energy, "2000 kJ", 2_000_000.0, "kJ"),
            (Elevation, "300 ft", 91.44, "ft"),
            (Elevation, "120 m", 120.0, "m"),
        ];
        for (kind, text, si_value, unit) in table {
            assert_eq!(ok(kind, text), (si_value, unit.to_owned()), "{text:?}");
        }
        assert_eq!(ok(Distance, "10 mi").0.to_string(), "16093.44");
    }

    #[test]
    fn nonsense_is_refused_with_the_reason() {
        use QuantityKind::*;
        let table = [
            (
                Distance,
                "10 parsecs",
                "distance \"10 parsecs\": unknown unit \"parsecs\" (expected m, km, mi, yd or ft)",
            ),
            (Distance, "-5 km", "distance \"-5 km\": cannot be negative"),
            (Distance, "NaN km", "distance \"NaN km\": not a number"),
            (Distance, "inf m", "distance \"inf m\": not a number"),
            (Distance, "", "distance \"\": nothing typed"),
            (
                Distance,
                "far",
                "distance \"far\": expected a number, like \"10 km\"",
            ),
            (
                Distance,
                "10",
                "distance \"10\": needs a unit (m, km, mi, yd or ft)",
            ),
            (
                Distance,
                "3,1 km",
                "distance \"3,1 km\": write decimals with a point and no thousands separator (like 3.1 or 1000)",
            ),
            (
                Distance,
                "1e9 km",
                "distance \"1e9 km\": unknown unit \"e\" (expected m, km, mi, yd or ft)",
            ),
            (
                Distance,
                "20000 km",
                "distance \"20000 km\": more than 10,000 km",
            ),
            (
                Distance,
                "10 km 5 m",
                "distance \"10 km 5 m\": cannot read it as 10 km",
            ),
            (
                Distance,
                "1.2.3 km",
                "distance \"1.2.3 km\": cannot read it as 10 km",
            ),
            (
                Duration,
                "45",
                "duration \"45\": needs a unit (h, min or s, or h:mm:ss)",
            ),
            (
                Duration,
                "20m 1h",
                "duration \"20m 1h\": cannot read it as 1:20:00 or 45 min",
            ),
            (
                Duration,
                "1h 1h",
                "duration \"1h 1h\": cannot read it as 1:20:00 or 45 min",
            ),
            (
                Duration,
                "1:75:00",
                "duration \"1:75:00\": cannot read it as h:mm:ss or m:ss",
            ),
            (
                Duration,
                "1:2:3:4",
                "duration \"1:2:3:4\": cannot read it as h:mm:ss or m:ss",
            ),
            (
                Duration,
                "1:xx",
                "duration \"1:xx\": cannot read it as h:mm:ss or m:ss",
            ),
            (Duration, "200 h", "duration \"200 h\": more than 7 days"),
            (
                Energy,
                "500 kWh",
                "energy \"500 kWh\": unknown unit \"kWh\" (expected kcal or kJ)",
            ),
            (
                Elevation,
                "300 km",
                "elevation \"300 km\": unknown unit \"km\" (expected m or ft)",
            ),
            (
                Distance,
                "99999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999 m",
                "more than 10,000 km",
            ),
        ];
        for (kind, text, message) in table {
            let error = parse_quantity(kind, text).unwrap_err();
            assert!(error.to_string().ends_with(message), "{text:?}: {error}");
        }
    }

    proptest! {
        #[test]
        fn any_text_parses_or_errs_and_values_are_finite_and_bounded(text in "\\PC{0,24}") {
            for kind in [QuantityKind::Duration, QuantityKind::Distance, QuantityKind::Energy, QuantityKind::Elevation] {
                if let Ok(q) = parse_quantity(kind, &text) {
                    prop_assert!(q.si_value.is_finite() && q.si_value >= 0.0 && q.si_value <= kind.limit().0);
                }
            }
        }

        #[test]
        fn kilometres_and_metres_agree(metres in 0u32..10_000_000) {
            let km = parse_quantity(QuantityKind::Distance, &format!("{} km", f64::from(metres) / 1000.0)).unwrap();
            let m = parse_quantity(QuantityKind::Distance, &format!("{metres} m")).unwrap();
            prop_assert!((km.si_value - m.si_value).abs() < 1e-6);
        }
    }
}
