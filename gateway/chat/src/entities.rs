//! Entities as people write them: durations, distances, paces, dates, sports and
//! intensities, each parsed to a typed value with its unit in the name.
//!
//! Each `parse_*` function reads one phrase whole ("1:20", "10 miles", "next week") and
//! returns a `Result`; [`extract`] scans a whole message for the first entity of each kind
//! by trying the longest phrases (up to [`MAX_PHRASE_WORDS`] words) first. Input longer
//! than [`MAX_MESSAGE_CHARS`] is refused with [`EntityError::TooLong`].
//!
//! Choices where people's writing is ambiguous (the tests pin each one):
//! - `a:b` is hours:minutes when `a` < 10 ("1:20" = 1 h 20 min) and minutes:seconds from
//!   10 up ("25:30" = 25 min 30 s); `a:b:c` is always h:mm:ss. A clock written after `at`,
//!   `before`, `after`, `by`, `until` or `from` is a time of day, not a duration.
//! - A bare `m` after a number is metres when the number is at least 100 and a multiple of
//!   50 ("400m", "1500 m"), minutes otherwise ("90m", "45 m").
//! - A weekday ("Thursday", "on Thursday") is the next such day counting today: today if
//!   today is that day. "next Thursday" is the first one strictly after today, "last
//!   Thursday" the last one strictly before. The intent layer moves a weekday into the past
//!   for things already done ("ran on Tuesday").
//! - "this week", "next week", "last week" are Monday–Sunday ranges; "this weekend" is
//!   the coming (or current) Saturday–Sunday; "this month" and "last month" are calendar
//!   months; a month's name ("in November") is the most recent such month that has begun
//!   (questions are about the past); "Dec 10", "10 December", "December 10th" are that day
//!   of today's year.

use serde::{Deserialize, Serialize};
use thiserror::Error;
use time::{Date, Duration, Month, Weekday};

/// The longest message accepted, characters (the product's limit).
pub const MAX_MESSAGE_CHARS: usize = 4_000;
/// The longest phrase [`extract`] tries as one entity, words.
pub const MAX_PHRASE_WORDS: usize = 6;
/// The longest duration accepted, seconds (48 hours).
pub const MAX_DURATION_S: u32 = 48 * 3_600;
/// The longest distance accepted, metres (1,000 km).
pub const MAX_DISTANCE_M: f64 = 1_000_000.0;
/// The highest power target accepted, watts.
pub const MAX_POWER_W: u32 = 3_000;
/// The highest percentage of FTP accepted.
pub const MAX_PERCENT_FTP: u32 = 300;
/// The longest number read, characters (bounds float parsing).
const MAX_NUMBER_CHARS: usize = 9;

/// One mile, metres.
pub const METRES_PER_MILE: f64 = 1_609.344;
/// One yard, metres.
pub const METRES_PER_YARD: f64 = 0.914_4;

/// Why a phrase is not the entity asked for.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum EntityError {
    /// The text is longer than [`MAX_MESSAGE_CHARS`].
    #[error("message is {chars} characters long; the limit is {max}")]
    TooLong {
        /// Its length, characters.
        chars: usize,
        /// The limit.
        max: usize,
    },
    /// The phrase is not a value of this kind.
    #[error("{input:?} is not a {kind}")]
    Unrecognised {
        /// What was asked for (`duration`, `distance`, …).
        kind: &'static str,
        /// The phrase, cut to 60 characters.
        input: String,
    },
    /// The phrase is a value of this kind but outside the accepted range.
    #[error("{input:?} is out of range for a {kind}")]
    OutOfRange {
        /// What was asked for.
        kind: &'static str,
        /// The phrase, cut to 60 characters.
        input: String,
    },
}

impl EntityError {
    fn unrecognised(kind: &'static str, input: &str) -> EntityError {
        EntityError::Unrecognised {
            kind,
            input: input.chars().take(60).collect(),
        }
    }

    fn out_of_range(kind: &'static str, input: &str) -> EntityError {
        EntityError::OutOfRange {
            kind,
            input: input.chars().take(60).collect(),
        }
    }
}

/// Refuses text longer than [`MAX_MESSAGE_CHARS`].
pub fn check_length(text: &str) -> Result<(), EntityError> {
    // Counting stops one past the limit, so a huge input costs no more than the limit.
    let chars = text.chars().take(MAX_MESSAGE_CHARS + 1).count();
    if chars > MAX_MESSAGE_CHARS {
        return Err(EntityError::TooLong {
            chars: text.chars().count(),
            max: MAX_MESSAGE_CHARS,
        });
    }
    Ok(())
}

/// A sport as the athlete names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Sport {
    /// Running, jogging.
    Run,
    /// Cycling, indoors or out.
    Ride,
    /// Swimming.
    Swim,
    /// Walking.
    Walk,
    /// Hiking.
    Hike,
    /// Strength training.
    Strength,
    /// Yoga, pilates, stretching.
    Yoga,
    /// Dance.
    Dance,
    /// Rowing.
    Row,
    /// Skiing.
    Ski,
}

impl Sport {
    /// Every sport, in a fixed order.
    pub const ALL: [Sport; 10] = [
        Sport::Run,
        Sport::Ride,
        Sport::Swim,
        Sport::Walk,
        Sport::Hike,
        Sport::Strength,
        Sport::Yoga,
        Sport::Dance,
        Sport::Row,
        Sport::Ski,
    ];

    /// Its name in rows and JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            Sport::Run => "run",
            Sport::Ride => "ride",
            Sport::Swim => "swim",
            Sport::Walk => "walk",
            Sport::Hike => "hike",
            Sport::Strength => "strength",
            Sport::Yoga => "yoga",
            Sport::Dance => "dance",
            Sport::Row => "row",
            Sport::Ski => "ski",
        }
    }

    /// The sport named `name` (see [`Sport::as_str`]).
    pub fn parse(name: &str) -> Option<Sport> {
        Sport::ALL.into_iter().find(|s| s.as_str() == name)
    }
}

/// How hard, as the athlete says it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Intensity {
    /// Easy, recovery, light.
    Easy,
    /// Moderate, steady.
    Moderate,
    /// Hard, intense, threshold.
    Hard,
    /// All out, max effort.
    AllOut,
    /// A power target, watts.
    PowerW(u32),
    /// A power target, percent of FTP.
    PercentFtp(u32),
}

/// A part of the day.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PartOfDay {
    /// Before noon.
    Morning,
    /// Noon to 17:00.
    Afternoon,
    /// From 17:00.
    Evening,
}

impl PartOfDay {
    /// Its name in rows and JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            PartOfDay::Morning => "morning",
            PartOfDay::Afternoon => "afternoon",
            PartOfDay::Evening => "evening",
        }
    }

    /// The part of the day an hour (0–23) falls in.
    pub fn of_hour(hour: u8) -> PartOfDay {
        match hour {
            0..=11 => PartOfDay::Morning,
            12..=16 => PartOfDay::Afternoon,
            _ => PartOfDay::Evening,
        }
    }
}

/// A day or a range of days (`from` ≤ `to`, inclusive), maybe with a part of the day.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct DateSpan {
    /// The first day.
    pub from: Date,
    /// The last day (equal to `from` for one day).
    pub to: Date,
    /// The part of the day, when said ("this morning").
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub part_of_day: Option<PartOfDay>,
}

impl DateSpan {
    /// One whole day.
    pub fn day(date: Date) -> DateSpan {
        DateSpan {
            from: date,
            to: date,
            part_of_day: None,
        }
    }

    /// Whether it is a single day.
    pub fn is_day(&self) -> bool {
        self.from == self.to
    }
}

/// The entities found in a message: the first of each kind, dates in order.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Entities {
    /// A duration, seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration_s: Option<u32>,
    /// A distance, metres.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub distance_m: Option<f64>,
    /// A pace, seconds per kilometre.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pace_s_per_km: Option<f64>,
    /// The dates mentioned, in order (at most [`MAX_DATES`]).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub dates: Vec<DateSpan>,
    /// A sport.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sport: Option<Sport>,
    /// An intensity.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub intensity: Option<Intensity>,
}

/// The most dates [`extract`] keeps.
pub const MAX_DATES: usize = 4;

// ---------------------------------------------------------------------------------------
// Words

/// Splits text into lower-case words, keeping the characters numbers, clocks, paces and
/// ISO dates are written with (`: . / % -`), dropping a sentence's final stop and a
/// possessive `'s` ("Thursday's" → "thursday").
pub(crate) fn words(text: &str) -> Vec<String> {
    let lowered: String = text
        .chars()
        .map(|c| {
            let c = c.to_ascii_lowercase();
            match c {
                '’' => '\'',
                c if c.is_alphanumeric() || matches!(c, ':' | '.' | '/' | '%' | '-' | '\'') => c,
                _ => ' ',
            }
        })
        .collect();
    lowered
        .split_whitespace()
        .map(|w| w.trim_matches(|c| matches!(c, '.' | '-' | '\'' | ':' | '/')))
        .map(|w| w.strip_suffix("'s").unwrap_or(w))
        .filter(|w| !w.is_empty())
        .map(str::to_owned)
        .collect()
}

/// A plain decimal number: digits with at most one point, no sign, bounded length.
fn number(word: &str) -> Option<f64> {
    if word.is_empty()
        || word.len() > MAX_NUMBER_CHARS
        || !word.chars().all(|c| c.is_ascii_digit() || c == '.')
        || word.chars().filter(|&c| c == '.').count() > 1
        || word == "."
    {
        return None;
    }
    word.parse::<f64>().ok().filter(|v| v.is_finite())
}

/// A number written as a word ("an", "two", "half").
fn word_number(word: &str) -> Option<f64> {
    Some(match word {
        "a" | "an" | "one" => 1.0,
        "half" => 0.5,
        "two" | "couple" => 2.0,
        "three" => 3.0,
        "four" => 4.0,
        "five" => 5.0,
        "six" => 6.0,
        "seven" => 7.0,
        "eight" => 8.0,
        "nine" => 9.0,
        "ten" => 10.0,
        "fifteen" => 15.0,
        "twenty" => 20.0,
        "thirty" => 30.0,
        "forty" | "fourty" => 40.0,
        "forty-five" => 45.0,
        "fifty" => 50.0,
        "sixty" => 60.0,
        "ninety" => 90.0,
        _ => return None,
    })
}

fn any_number(word: &str) -> Option<f64> {
    number(word).or_else(|| word_number(word))
}

/// Splits "90m" into (90, "m"), "1.5h" into (1.5, "h"); `None` without both parts.
fn attached(word: &str) -> Option<(f64, &str)> {
    let split = word.find(|c: char| !(c.is_ascii_digit() || c == '.'))?;
    if split == 0 {
        return None;
    }
    let (n, unit) = word.split_at(split);
    Some((number(n)?, unit))
}

/// A clock "a:b" or "a:b:c" as its parts (each at most 3 digits; later parts < 60).
fn clock(word: &str) -> Option<Vec<u32>> {
    let parts: Vec<&str> = word.split(':').collect();
    if !(2..=3).contains(&parts.len()) {
        return None;
    }
    let mut values = Vec::with_capacity(parts.len());
    for (i, p) in parts.iter().enumerate() {
        if p.is_empty() || p.len() > 3 || !p.chars().all(|c| c.is_ascii_digit()) {
            return None;
        }
        let v: u32 = p.parse().ok()?;
        if i > 0 && (p.len() != 2 || v >= 60) {
            return None;
        }
        values.push(v);
    }
    Some(values)
}

// ---------------------------------------------------------------------------------------
// Durations

fn duration_unit_s(unit: &str) -> Option<f64> {
    Some(match unit {
        "h" | "hr" | "hrs" | "hour" | "hours" => 3_600.0,
        "m" | "min" | "mins" | "minute" | "minutes" => 60.0,
        "s" | "sec" | "secs" | "second" | "seconds" => 1.0,
        _ => return None,
    })
}

/// Whether `n` followed by a bare `m` means metres (see the module doc).
fn m_is_metres(n: f64) -> bool {
    n >= 100.0 && n.fract() == 0.0 && n % 50.0 == 0.0
}

/// A duration ("1:20", "1:20:30", "45 min", "an hour", "1.5 hours", "90m", "half an hour",
/// "an hour and a half", "1h30", "1 hour 20 minutes"), seconds.
pub fn parse_duration(phrase: &str) -> Result<u32, EntityError> {
    const KIND: &str = "duration";
    check_length(phrase)?;
    let w = words(phrase);
    let seconds = duration_words(&w).ok_or_else(|| EntityError::unrecognised(KIND, phrase))?;
    let rounded = seconds.round();
    if !(1.0..=f64::from(MAX_DURATION_S)).contains(&rounded) {
        return Err(EntityError::out_of_range(KIND, phrase));
    }
    // In range 1..=MAX_DURATION_S, so the cast is exact.
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    Ok(rounded as u32)
}

fn duration_words(w: &[String]) -> Option<f64> {
    let w: Vec<&str> = w.iter().map(String::as_str).collect();
    match w.as_slice() {
        [] => None,
        [single] => {
            if let Some(parts) = clock(single) {
                return Some(match parts.as_slice() {
                    [a, b] if *a < 10 => f64::from(a * 3_600 + b * 60),
                    [a, b] => f64::from(a * 60 + b),
                    [a, b, c] => f64::from(a * 3_600 + b * 60 + c),
                    _ => return None,
                });
            }
            // "1h30", "1h30m"
            if let Some((h, rest)) = attached(single) {
                if let Some(mins) = rest
                    .strip_prefix('h')
                    .map(|r| r.strip_suffix('m').unwrap_or(r))
                    .filter(|r| !r.is_empty())
                    .and_then(number)
                {
                    return Some(h * 3_600.0 + mins * 60.0);
                }
                if rest == "m" && m_is_metres(h) {
                    return None;
                }
                return duration_unit_s(rest).map(|u| h * u);
            }
            None
        }
        ["half", "an" | "a", "hour"] | ["a", "half", "hour"] | ["half", "hour"] => Some(1_800.0),
        ["an" | "a" | "one", "hour", "and", "a", "half"] | ["hour", "and", "a", "half"] => {
            Some(5_400.0)
        }
        _ => {
            // A sum of (number, unit) pairs, optionally joined by "and":
            // "1 hour 20 minutes", "an hour and 15 minutes", "45 min", "1 hr 20".
            let mut total = 0.0;
            let mut i = 0;
            let mut last_unit = None;
            while i < w.len() {
                if w[i] == "and" && i > 0 && i + 1 < w.len() {
                    i += 1;
                    continue;
                }
                if let Some((n, unit)) = attached(w[i]) {
                    let u = duration_unit_s(unit)?;
                    if unit == "m" && m_is_metres(n) {
                        return None;
                    }
                    total += n * u;
                    last_unit = Some(u);
                    i += 1;
                    continue;
                }
                let n = any_number(w[i])?;
                match w.get(i + 1).and_then(|u| duration_unit_s(u)) {
                    Some(u) => {
                        if w[i + 1] == "m" && m_is_metres(n) {
                            return None;
                        }
                        total += n * u;
                        last_unit = Some(u);
                        i += 2;
                    }
                    // "1 hr 20": a trailing bare number counts in the next smaller unit.
                    None if i + 1 == w.len() && number(w[i]).is_some() => {
                        let u = match last_unit {
                            Some(u) if u >= 3_600.0 => 60.0,
                            Some(u) if u >= 60.0 => 1.0,
                            _ => return None,
                        };
                        total += n * u;
                        i += 1;
                    }
                    None => return None,
                }
            }
            last_unit.map(|_| total)
        }
    }
}

// ---------------------------------------------------------------------------------------
// Distances

fn distance_unit_m(unit: &str) -> Option<f64> {
    Some(match unit {
        "mi" | "mile" | "miles" => METRES_PER_MILE,
        "k" | "km" | "kms" | "kilometre" | "kilometres" | "kilometer" | "kilometers" => 1_000.0,
        "m" | "metre" | "metres" | "meter" | "meters" => 1.0,
        "yd" | "yds" | "yard" | "yards" => METRES_PER_YARD,
        _ => return None,
    })
}

/// A distance with its unit ("10 miles", "10 mi", "5k", "5 km", "400 m", "800 yards",
/// "half marathon"), metres.
pub fn parse_distance(phrase: &str) -> Result<f64, EntityError> {
    const KIND: &str = "distance";
    check_length(phrase)?;
    let w = words(phrase);
    let w: Vec<&str> = w.iter().map(String::as_str).collect();
    let metres = match w.as_slice() {
        ["marathon"] | ["a", "marathon"] => Some(42_195.0),
        ["half", "marathon"] | ["a", "half", "marathon"] | ["half-marathon"] => Some(21_097.5),
        [single] => attached(single).and_then(|(n, unit)| {
            if unit == "m" && !m_is_metres(n) {
                return None;
            }
            distance_unit_m(unit).map(|u| n * u)
        }),
        [n, unit] => any_number(n).and_then(|n| distance_unit_m(unit).map(|u| n * u)),
        _ => None,
    }
    .ok_or_else(|| EntityError::unrecognised(KIND, phrase))?;
    if !(metres > 0.0 && metres <= MAX_DISTANCE_M) {
        return Err(EntityError::out_of_range(KIND, phrase));
    }
    Ok(metres)
}

// ---------------------------------------------------------------------------------------
// Paces

fn pace_unit_m(unit: &str) -> Option<f64> {
    Some(match unit {
        "mi" | "mile" | "min/mi" | "min/mile" => METRES_PER_MILE,
        "km" | "k" | "min/km" | "kilometre" | "kilometer" => 1_000.0,
        _ => return None,
    })
}

/// A pace ("7:30/mi", "7:30 per mile", "4:40 per km", "4:40/km", "7:30 min/mi", "7:30 a
/// mile"), seconds per kilometre.
pub fn parse_pace(phrase: &str) -> Result<f64, EntityError> {
    const KIND: &str = "pace";
    check_length(phrase)?;
    let w = words(phrase);
    let w: Vec<&str> = w.iter().map(String::as_str).collect();
    let (clock_word, unit) = match w.as_slice() {
        [single] => match single.split_once('/') {
            Some((c, u)) => (c, u),
            None => return Err(EntityError::unrecognised(KIND, phrase)),
        },
        [c, per] if per.starts_with('/') => (*c, &per[1..]),
        [c, per] if per.starts_with("min/") => (*c, &per[4..]),
        [c, "per" | "a" | "/", unit] => (*c, *unit),
        [c, "min", unit] if unit.starts_with('/') => (*c, &unit[1..]),
        [c, "min", "per", unit] => (*c, *unit),
        _ => return Err(EntityError::unrecognised(KIND, phrase)),
    };
    let unit_m = pace_unit_m(unit).ok_or_else(|| EntityError::unrecognised(KIND, phrase))?;
    let parts = clock(clock_word).ok_or_else(|| EntityError::unrecognised(KIND, phrase))?;
    let seconds = match parts.as_slice() {
        [m, s] => f64::from(m * 60 + s),
        _ => return Err(EntityError::unrecognised(KIND, phrase)),
    };
    if seconds <= 0.0 || seconds > 3_600.0 {
        return Err(EntityError::out_of_range(KIND, phrase));
    }
    Ok(seconds * 1_000.0 / unit_m)
}

// ---------------------------------------------------------------------------------------
// Dates

fn weekday(word: &str) -> Option<Weekday> {
    Some(match word {
        "monday" | "mon" => Weekday::Monday,
        "tuesday" | "tue" | "tues" => Weekday::Tuesday,
        "wednesday" | "wed" => Weekday::Wednesday,
        "thursday" | "thu" | "thurs" => Weekday::Thursday,
        "friday" | "fri" => Weekday::Friday,
        "saturday" | "sat" => Weekday::Saturday,
        "sunday" | "sun" => Weekday::Sunday,
        _ => return None,
    })
}

fn part_of_day(word: &str) -> Option<PartOfDay> {
    Some(match word {
        "morning" => PartOfDay::Morning,
        "afternoon" | "lunch" | "lunchtime" => PartOfDay::Afternoon,
        "evening" | "night" => PartOfDay::Evening,
        _ => return None,
    })
}

/// The next `day` on or after `today`.
fn on_or_after(today: Date, day: Weekday) -> Date {
    let ahead = (i64::from(day.number_days_from_monday()) + 7
        - i64::from(today.weekday().number_days_from_monday()))
        % 7;
    today.saturating_add(Duration::days(ahead))
}

fn monday_of(date: Date) -> Date {
    date.saturating_sub(Duration::days(i64::from(
        date.weekday().number_days_from_monday(),
    )))
}

fn week(monday: Date) -> DateSpan {
    DateSpan {
        from: monday,
        to: monday.saturating_add(Duration::days(6)),
        part_of_day: None,
    }
}

fn month_span(year: i32, month: Month) -> Option<DateSpan> {
    let from = Date::from_calendar_date(year, month, 1).ok()?;
    let to = Date::from_calendar_date(year, month, time::util::days_in_month(month, year)).ok()?;
    Some(DateSpan {
        from,
        to,
        part_of_day: None,
    })
}

fn with_part(date: Date, part: PartOfDay) -> DateSpan {
    DateSpan {
        from: date,
        to: date,
        part_of_day: Some(part),
    }
}

/// A date or range relative to `today` ("today", "tomorrow", "yesterday", "Thursday",
/// "next Thursday", "last Thursday", "this morning", "tomorrow morning", "last night",
/// "this week", "next week", "last week", "this weekend", "this month", "last month",
/// "2026-12-10"); see the module doc for the choices.
pub fn parse_date(phrase: &str, today: Date) -> Result<DateSpan, EntityError> {
    const KIND: &str = "date";
    check_length(phrase)?;
    let w = words(phrase);
    let w: Vec<&str> = w.iter().map(String::as_str).collect();
    let yesterday = today.previous_day().unwrap_or(today);
    let tomorrow = today.next_day().unwrap_or(today);
    let span = match w.as_slice() {
        ["today"] => Some(DateSpan::day(today)),
        ["tomorrow"] => Some(DateSpan::day(tomorrow)),
        ["yesterday"] => Some(DateSpan::day(yesterday)),
        ["tonight"] => Some(with_part(today, PartOfDay::Evening)),
        ["last", "night"] => Some(with_part(yesterday, PartOfDay::Evening)),
        ["this", part] => part_of_day(part)
            .map(|p| with_part(today, p))
            .or(match *part {
                "week" => Some(week(monday_of(today))),
                "weekend" => {
                    let saturday = if today.weekday() == Weekday::Sunday {
                        yesterday
                    } else {
                        on_or_after(today, Weekday::Saturday)
                    };
                    Some(DateSpan {
                        from: saturday,
                        to: saturday.saturating_add(Duration::days(1)),
                        part_of_day: None,
                    })
                }
                "month" => month_span(today.year(), today.month()),
                other => weekday(other).map(|d| DateSpan::day(on_or_after(today, d))),
            }),
        ["today" | "tomorrow" | "yesterday", part] => part_of_day(part).map(|p| {
            let day = match w[0] {
                "today" => today,
                "tomorrow" => tomorrow,
                _ => yesterday,
            };
            with_part(day, p)
        }),
        ["next", "week"] => Some(week(monday_of(today).saturating_add(Duration::days(7)))),
        ["last", "week"] => Some(week(monday_of(today).saturating_sub(Duration::days(7)))),
        ["last", "month"] => {
            let month = today.month().previous();
            let year = if month == Month::December {
                today.year() - 1
            } else {
                today.year()
            };
            month_span(year, month)
        }
        ["next", day] => weekday(day).map(|d| DateSpan::day(on_or_after(tomorrow, d))),
        ["last", day] => weekday(day)
            .map(|d| DateSpan::day(on_or_after(today, d).saturating_sub(Duration::days(7)))),
        ["on", day] => weekday(day).map(|d| DateSpan::day(on_or_after(today, d))),
        [day, part] if weekday(day).is_some() && part_of_day(part).is_some() => weekday(day)
            .zip(part_of_day(part))
            .map(|(d, p)| with_part(on_or_after(today, d), p)),
        ["in" | "during", m] => month(m).and_then(|m| latest_month(today, m)),
        [m, day] if month(m).is_some() => month(m).and_then(|m| day_of(today, m, day)),
        [day, m] if month(m).is_some() => month(m).and_then(|m| day_of(today, m, day)),
        [single] => weekday(single)
            .map(|d| DateSpan::day(on_or_after(today, d)))
            .or_else(|| iso_date(single).map(DateSpan::day))
            // "may" alone is far more often the verb.
            .or_else(|| {
                month(single)
                    .filter(|_| *single != "may")
                    .and_then(|m| latest_month(today, m))
            }),
        _ => None,
    };
    span.ok_or_else(|| EntityError::unrecognised(KIND, phrase))
}

fn month(word: &str) -> Option<Month> {
    Some(match word {
        "january" | "jan" => Month::January,
        "february" | "feb" => Month::February,
        "march" | "mar" => Month::March,
        "april" | "apr" => Month::April,
        "may" => Month::May,
        "june" | "jun" => Month::June,
        "july" | "jul" => Month::July,
        "august" | "aug" => Month::August,
        "september" | "sep" | "sept" => Month::September,
        "october" | "oct" => Month::October,
        "november" | "nov" => Month::November,
        "december" | "dec" => Month::December,
        _ => return None,
    })
}

/// The most recent `m` that has begun: this year's, or last year's when this year's is
/// still to come.
fn latest_month(today: Date, m: Month) -> Option<DateSpan> {
    let year = if (m as u8) <= (today.month() as u8) {
        today.year()
    } else {
        today.year() - 1
    };
    month_span(year, m)
}

/// Day `day` ("10", "10th") of month `m` in today's year.
fn day_of(today: Date, m: Month, day: &str) -> Option<DateSpan> {
    let digits = day.trim_end_matches(|c: char| c.is_ascii_alphabetic());
    if !matches!(&day[digits.len()..], "" | "st" | "nd" | "rd" | "th") || digits.len() > 2 {
        return None;
    }
    let d: u8 = digits.parse().ok()?;
    Date::from_calendar_date(today.year(), m, d)
        .ok()
        .map(DateSpan::day)
}

/// An ISO calendar date, `YYYY-MM-DD`.
fn iso_date(word: &str) -> Option<Date> {
    if word.len() != 10 {
        return None;
    }
    let format = time::macros::format_description!("[year]-[month]-[day]");
    Date::parse(word, &format).ok()
}

// ---------------------------------------------------------------------------------------
// Sports and intensities

/// A sport from one of its names or verbs ("ran", "bike", "cycling", "swam", "lifting",
/// "spin class", "dancing").
pub fn parse_sport(phrase: &str) -> Result<Sport, EntityError> {
    check_length(phrase)?;
    let w = words(phrase);
    let w: Vec<&str> = w.iter().map(String::as_str).collect();
    let sport = match w.as_slice() {
        ["spin", "class" | "session"] | ["indoor", "ride"] | ["turbo", "session"] => {
            Some(Sport::Ride)
        }
        ["weight", "training"] | ["weights", "session"] | ["strength", "training"] => {
            Some(Sport::Strength)
        }
        ["cross", "country", "skiing"] => Some(Sport::Ski),
        [single] => sport_word(single),
        _ => None,
    };
    sport.ok_or_else(|| EntityError::unrecognised("sport", phrase))
}

fn sport_word(word: &str) -> Option<Sport> {
    Some(match word {
        "run" | "runs" | "ran" | "running" | "jog" | "jogged" | "jogging" | "runner"
        | "treadmill" => Sport::Run,
        "ride" | "rides" | "rode" | "riding" | "bike" | "biked" | "biking" | "cycle" | "cycled"
        | "cycling" | "spin" | "spinning" | "zwift" | "trainer" => Sport::Ride,
        "swim" | "swims" | "swam" | "swimming" | "laps" => Sport::Swim,
        "walk" | "walks" | "walked" | "walking" => Sport::Walk,
        "hike" | "hikes" | "hiked" | "hiking" => Sport::Hike,
        "strength" | "weights" | "lift" | "lifted" | "lifting" | "gym" | "squats" | "deadlifts" => {
            Sport::Strength
        }
        "yoga" | "pilates" | "stretching" | "mobility" => Sport::Yoga,
        "dance" | "danced" | "dancing" | "zumba" | "salsa" | "ballet" => Sport::Dance,
        "row" | "rowed" | "rowing" | "erg" | "rower" => Sport::Row,
        "ski" | "skied" | "skiing" => Sport::Ski,
        _ => return None,
    })
}

/// An intensity ("easy", "moderate", "hard", "all out", "400 W", "400 watts", "90% FTP",
/// "90 % of ftp").
pub fn parse_intensity(phrase: &str) -> Result<Intensity, EntityError> {
    const KIND: &str = "intensity";
    check_length(phrase)?;
    let w = words(phrase);
    let w: Vec<&str> = w.iter().map(String::as_str).collect();
    let power = |n: f64| -> Result<u32, EntityError> {
        if n.fract() != 0.0 || n < 1.0 || n > f64::from(MAX_POWER_W) {
            return Err(EntityError::out_of_range(KIND, phrase));
        }
        // Checked whole and in 1..=MAX_POWER_W just above.
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
        Ok(n as u32)
    };
    let percent = |n: f64| -> Result<u32, EntityError> {
        if n.fract() != 0.0 || n < 1.0 || n > f64::from(MAX_PERCENT_FTP) {
            return Err(EntityError::out_of_range(KIND, phrase));
        }
        // Checked whole and in 1..=MAX_PERCENT_FTP just above.
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
        Ok(n as u32)
    };
    let is_watts = |u: &str| matches!(u, "w" | "watt" | "watts");
    let is_ftp = |u: &[&str]| matches!(u, [] | ["ftp"] | ["of", "ftp"]);
    match w.as_slice() {
        ["easy" | "easier" | "recovery" | "light" | "lighter" | "gentle" | "chill" | "relaxed"] => {
            Ok(Intensity::Easy)
        }
        ["moderate" | "steady" | "medium" | "tempo"] => Ok(Intensity::Moderate),
        [
            "hard" | "harder" | "intense" | "tough" | "threshold" | "vo2" | "vo2max" | "intervals",
        ] => Ok(Intensity::Hard),
        ["all", "out"] | ["all-out"] | ["max", "effort"] | ["flat", "out"] | ["maximal"] => {
            Ok(Intensity::AllOut)
        }
        [single] => match attached(single) {
            Some((n, u)) if is_watts(u) => Ok(Intensity::PowerW(power(n)?)),
            Some((n, "%")) => Ok(Intensity::PercentFtp(percent(n)?)),
            _ => Err(EntityError::unrecognised(KIND, phrase)),
        },
        [n, rest @ ..] => {
            if let Some((n, "%")) = attached(n)
                && is_ftp(rest)
            {
                return Ok(Intensity::PercentFtp(percent(n)?));
            }
            let value = number(n).ok_or_else(|| EntityError::unrecognised(KIND, phrase))?;
            match rest {
                [u] if is_watts(u) => Ok(Intensity::PowerW(power(value)?)),
                ["%", tail @ ..] | ["percent", tail @ ..] if is_ftp(tail) => {
                    Ok(Intensity::PercentFtp(percent(value)?))
                }
                _ => Err(EntityError::unrecognised(KIND, phrase)),
            }
        }
        _ => Err(EntityError::unrecognised(KIND, phrase)),
    }
}

// ---------------------------------------------------------------------------------------
// Extraction

/// Words after which a clock is a time of day ("at 7:30"), not a duration.
const CLOCK_MARKERS: [&str; 7] = ["at", "before", "after", "by", "until", "from", "around"];

/// Whether an entity phrase can start with `word` (every parser's first words): a cheap
/// test that skips ordinary words before any phrase is built.
fn could_start(word: &str) -> bool {
    word.starts_with(|c: char| c.is_ascii_digit())
        || word_number(word).is_some()
        || weekday(word).is_some()
        || month(word).is_some()
        || sport_word(word).is_some()
        || matches!(
            word,
            "hour"
                | "marathon"
                | "half-marathon"
                | "today"
                | "tomorrow"
                | "yesterday"
                | "tonight"
                | "this"
                | "last"
                | "next"
                | "on"
                | "spin"
                | "indoor"
                | "turbo"
                | "weight"
                | "weights"
                | "strength"
                | "cross"
                | "all"
                | "all-out"
                | "max"
                | "flat"
                | "maximal"
        )
        || parse_intensity(word).is_ok()
}

/// The entities in a message: the first duration, distance, pace, sport and intensity,
/// and every date (up to [`MAX_DATES`]), trying the longest phrases first.
pub fn extract(text: &str, today: Date) -> Result<Entities, EntityError> {
    check_length(text)?;
    let w = words(text);
    let mut found = Entities::default();
    let mut i = 0;
    while i < w.len() {
        if !could_start(&w[i]) {
            i += 1;
            continue;
        }
        let after_marker = i > 0 && CLOCK_MARKERS.contains(&w[i - 1].as_str());
        let mut taken = 0;
        for len in (1..=MAX_PHRASE_WORDS.min(w.len() - i)).rev() {
            let phrase = w[i..i + len].join(" ");
            if let Ok(p) = parse_pace(&phrase) {
                found.pace_s_per_km.get_or_insert(p);
            } else if let Ok(d) = parse_distance(&phrase) {
                found.distance_m.get_or_insert(d);
            } else if let Ok(x) = parse_intensity(&phrase) {
                // A power target says more than a word ("hard intervals at 400 W").
                let is_target = matches!(x, Intensity::PowerW(_) | Intensity::PercentFtp(_));
                match found.intensity {
                    None => found.intensity = Some(x),
                    Some(Intensity::PowerW(_) | Intensity::PercentFtp(_)) => {}
                    Some(_) if is_target => found.intensity = Some(x),
                    Some(_) => {}
                }
            } else if let Some(d) = (!after_marker)
                .then(|| parse_duration(&phrase).ok())
                .flatten()
            {
                found.duration_s.get_or_insert(d);
            } else if let Ok(d) = parse_date(&phrase, today) {
                if found.dates.len() < MAX_DATES {
                    found.dates.push(d);
                }
            } else if let Ok(s) = parse_sport(&phrase) {
                found.sport.get_or_insert(s);
            } else {
                continue;
            }
            taken = len;
            break;
        }
        i += taken.max(1);
    }
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use time::macros::date;

    /// Wednesday 2 December 2026.
    const TODAY: Date = date!(2026 - 12 - 02);

    #[test]
    fn durations_as_people_write_them() {
        let cases: &[(&str, u32)] = &[
            ("1:20", 4_800),    // 1 h 20 min = 3,600 + 1,200
            ("1:20:30", 4_830), // + 30 s
            ("25:30", 1_530),   // 25 min 30 s = 1,500 + 30 (a ≥ 10 → mm:ss)
            ("45 min", 2_700),  // 45 × 60
            ("45 minutes", 2_700),
            ("45min", 2_700),
            ("an hour", 3_600),
            ("one hour", 3_600),
            ("1.5 hours", 5_400), // 1.5 × 3,600
            ("90m", 5_400),       // 90 × 60 (not a multiple of 50 ≥ 100 → minutes)
            ("half an hour", 1_800),
            ("a half hour", 1_800),
            ("an hour and a half", 5_400),
            ("1h30", 5_400),
            ("1h30m", 5_400),
            ("1 hour 20 minutes", 4_800),
            ("an hour and 15 minutes", 4_500), // 3,600 + 900
            ("1 hr 20", 4_800),
            ("2 hrs", 7_200),
            ("thirty minutes", 1_800),
            ("90 sec", 90),
        ];
        for (phrase, seconds) in cases {
            assert_eq!(parse_duration(phrase), Ok(*seconds), "{phrase}");
        }
        for bad in [
            "", "run", "400m", "an", "1:75", "hour and", "49 hours", "0 min", "1::2",
        ] {
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn distances_with_units() {
        let cases: &[(&str, f64)] = &[
            ("10 miles", 16_093.44), // 10 × 1,609.344
            ("10 mi", 16_093.44),
            ("5k", 5_000.0),
            ("5 km", 5_000.0),
            ("10K", 10_000.0),
            ("400 m", 400.0),
            ("400m", 400.0),
            ("800 yards", 731.52), // 800 × 0.9144
            ("half marathon", 21_097.5),
            ("a marathon", 42_195.0),
            ("3.1 miles", 4_988.966_4), // 3.1 × 1,609.344
            ("two miles", 3_218.688),
        ];
        for (phrase, metres) in cases {
            let got = parse_distance(phrase).unwrap_or_else(|e| panic!("{phrase}: {e}"));
            assert!((got - metres).abs() < 1e-6, "{phrase}: {got} ≠ {metres}");
        }
        for bad in ["90m", "miles", "10", "0 km", "2000 km", "ten"] {
            assert!(parse_distance(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn paces_per_kilometre() {
        let cases: &[(&str, f64)] = &[
            // 7:30/mi = 450 s per 1,609.344 m = 450 / 1.609344 = 279.617… s/km
            ("7:30/mi", 279.617_036_5),
            ("7:30 per mile", 279.617_036_5),
            ("7:30 min/mi", 279.617_036_5),
            ("4:40 per km", 280.0), // 4 × 60 + 40
            ("4:40/km", 280.0),
        ];
        for (phrase, s_per_km) in cases {
            let got = parse_pace(phrase).unwrap_or_else(|e| panic!("{phrase}: {e}"));
            assert!((got - s_per_km).abs() < 1e-6, "{phrase}: {got}");
        }
        for bad in ["7:30", "7:30/furlong", "per km", "0:00/km"] {
            assert!(parse_pace(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn dates_relative_to_today() {
        let cases: &[(&str, Date, Date, Option<PartOfDay>)] = &[
            ("today", TODAY, TODAY, None),
            (
                "tomorrow",
                date!(2026 - 12 - 03),
                date!(2026 - 12 - 03),
                None,
            ),
            (
                "yesterday",
                date!(2026 - 12 - 01),
                date!(2026 - 12 - 01),
                None,
            ),
            // Today is a Wednesday: "Wednesday" is today, "Thursday" tomorrow.
            ("Wednesday", TODAY, TODAY, None),
            (
                "Thursday",
                date!(2026 - 12 - 03),
                date!(2026 - 12 - 03),
                None,
            ),
            (
                "on Monday",
                date!(2026 - 12 - 07),
                date!(2026 - 12 - 07),
                None,
            ),
            (
                "next Wednesday",
                date!(2026 - 12 - 09),
                date!(2026 - 12 - 09),
                None,
            ),
            (
                "last Wednesday",
                date!(2026 - 11 - 25),
                date!(2026 - 11 - 25),
                None,
            ),
            (
                "last Monday",
                date!(2026 - 11 - 30),
                date!(2026 - 11 - 30),
                None,
            ),
            (
                "next week",
                date!(2026 - 12 - 07),
                date!(2026 - 12 - 13),
                None,
            ),
            (
                "this week",
                date!(2026 - 11 - 30),
                date!(2026 - 12 - 06),
                None,
            ),
            (
                "last week",
                date!(2026 - 11 - 23),
                date!(2026 - 11 - 29),
                None,
            ),
            (
                "this weekend",
                date!(2026 - 12 - 05),
                date!(2026 - 12 - 06),
                None,
            ),
            (
                "this month",
                date!(2026 - 12 - 01),
                date!(2026 - 12 - 31),
                None,
            ),
            (
                "last month",
                date!(2026 - 11 - 01),
                date!(2026 - 11 - 30),
                None,
            ),
            ("this morning", TODAY, TODAY, Some(PartOfDay::Morning)),
            (
                "last night",
                date!(2026 - 12 - 01),
                date!(2026 - 12 - 01),
                Some(PartOfDay::Evening),
            ),
            (
                "tomorrow morning",
                date!(2026 - 12 - 03),
                date!(2026 - 12 - 03),
                Some(PartOfDay::Morning),
            ),
            (
                "2026-12-10",
                date!(2026 - 12 - 10),
                date!(2026 - 12 - 10),
                None,
            ),
        ];
        for (phrase, from, to, part) in cases {
            let span = parse_date(phrase, TODAY).unwrap_or_else(|e| panic!("{phrase}: {e}"));
            assert_eq!(
                (span.from, span.to, span.part_of_day),
                (*from, *to, *part),
                "{phrase}"
            );
        }
        // January's "last month" is the previous year's December.
        let span = parse_date("last month", date!(2027 - 01 - 15)).unwrap();
        assert_eq!(
            (span.from, span.to),
            (date!(2026 - 12 - 01), date!(2026 - 12 - 31))
        );
        // In March, "in December" is last year's December.
        let span = parse_date("in December", date!(2027 - 03 - 15)).unwrap();
        assert_eq!(
            (span.from, span.to),
            (date!(2026 - 12 - 01), date!(2026 - 12 - 31))
        );
        for bad in [
            "someday",
            "2026-13-01",
            "next",
            "the week",
            "feb 30",
            "dec 10x",
            "dec 123",
        ] {
            assert!(parse_date(bad, TODAY).is_err(), "{bad}");
        }
    }

    #[test]
    fn sports_and_synonyms() {
        for (phrase, sport) in [
            ("ran", Sport::Run),
            ("jog", Sport::Run),
            ("bike", Sport::Ride),
            ("cycling", Sport::Ride),
            ("spin class", Sport::Ride),
            ("swam", Sport::Swim),
            ("walk", Sport::Walk),
            ("lifting", Sport::Strength),
            ("weight training", Sport::Strength),
            ("yoga", Sport::Yoga),
            ("dancing", Sport::Dance),
            ("erg", Sport::Row),
        ] {
            assert_eq!(parse_sport(phrase), Ok(sport), "{phrase}");
        }
        assert!(parse_sport("chess").is_err());
        for sport in Sport::ALL {
            assert_eq!(Sport::parse(sport.as_str()), Some(sport));
        }
    }

    #[test]
    fn intensities_and_power_targets() {
        for (phrase, intensity) in [
            ("easy", Intensity::Easy),
            ("moderate", Intensity::Moderate),
            ("hard", Intensity::Hard),
            ("all out", Intensity::AllOut),
            ("400 W", Intensity::PowerW(400)),
            ("400w", Intensity::PowerW(400)),
            ("250 watts", Intensity::PowerW(250)),
            ("90% FTP", Intensity::PercentFtp(90)),
            ("90 % of ftp", Intensity::PercentFtp(90)),
            ("105 percent", Intensity::PercentFtp(105)),
        ] {
            assert_eq!(parse_intensity(phrase), Ok(intensity), "{phrase}");
        }
        for bad in ["0 w", "5000 w", "12.5 w", "fast-ish", "400"] {
            assert!(parse_intensity(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn extraction_finds_each_kind_once() {
        let e = extract("Ran 10 miles this morning in 1:20", TODAY).unwrap();
        assert_eq!(e.sport, Some(Sport::Run));
        assert!((e.distance_m.unwrap() - 16_093.44).abs() < 1e-6);
        assert_eq!(e.duration_s, Some(4_800));
        assert_eq!(
            e.dates,
            vec![DateSpan {
                from: TODAY,
                to: TODAY,
                part_of_day: Some(PartOfDay::Morning)
            }]
        );
        // A clock after "at" is a time of day.
        let e = extract("ride at 7:30 for an hour", TODAY).unwrap();
        assert_eq!(e.duration_s, Some(3_600));
        let e = extract("move Thursday's workout to next Monday", TODAY).unwrap();
        assert_eq!(
            e.dates.iter().map(|d| d.from).collect::<Vec<_>>(),
            vec![date!(2026 - 12 - 03), date!(2026 - 12 - 07)]
        );
        let e = extract("intervals at 400 W at 7:30/mi pace", TODAY).unwrap();
        assert_eq!(e.intensity, Some(Intensity::PowerW(400)));
        assert!((e.pace_s_per_km.unwrap() - 279.617_036_5).abs() < 1e-6);
    }

    #[test]
    fn too_long_is_refused() {
        let text = "a".repeat(MAX_MESSAGE_CHARS + 1);
        assert_eq!(
            extract(&text, TODAY),
            Err(EntityError::TooLong {
                chars: 4_001,
                max: 4_000
            })
        );
        assert!(extract(&"a ".repeat(MAX_MESSAGE_CHARS / 2), TODAY).is_ok());
    }

    proptest! {
        #[test]
        fn parsers_never_panic(text in "\\PC{0,60}") {
            let _ = parse_duration(&text);
            let _ = parse_distance(&text);
            let _ = parse_pace(&text);
            let _ = parse_date(&text, TODAY);
            let _ = parse_sport(&text);
            let _ = parse_intensity(&text);
            let _ = extract(&text, TODAY);
        }

        #[test]
        fn parsers_never_panic_on_entity_shaped_text(
            text in proptest::collection::vec(
                "[0-9]{1,4}(:[0-9]{1,3}){0,3}|[0-9.]{1,6}[a-z%]{0,3}|an|half|and|hour|min|mi|km|w|per|/|next|last|this|week|monday|%|ftp",
                1..6,
            )
        ) {
            let joined = text.join(" ");
            let _ = extract(&joined, TODAY);
        }
    }
}
