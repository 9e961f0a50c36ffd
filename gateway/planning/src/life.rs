//! Life events: travel, illness and busy days that reshape the plan, entered by hand or
//! read from an iCalendar (ICS) file.
//!
//! [`parse_ics`] reads the `VEVENT`s of a calendar (RFC 5545, through the `ical` crate's
//! parser) after checking its size ([`MAX_ICS_BYTES`]) and stops with an error past
//! `max_events` events:
//! - `DTSTART` and `DTEND` may be dates (`20261210`) or date-times (`20261210T090000Z`,
//!   with or without a `TZID`); the event covers the calendar dates written, `from` to `to`
//!   inclusive. An all-day `DTEND` is exclusive (RFC 5545), so it ends the day before; a
//!   date-time `DTEND` at midnight likewise. Without `DTEND` the event lasts its start day.
//!   Date-times are taken on the date the calendar writes (a UTC time is not moved to the
//!   athlete's zone). A recurring event (`RRULE`) counts only as its first occurrence.
//! - The kind is guessed from the summary's words (case-insensitive): `flight`, `fly`,
//!   `flying`, `travel`, `travelling`, `traveling`, `trip`, `airport` → [`LifeKind::Travel`];
//!   `sick`, `ill`, `illness`, `flu`, `fever`, `cold` → [`LifeKind::Illness`]; anything else
//!   → [`LifeKind::Busy`]. The summary is kept, cut to [`MAX_SUMMARY_BYTES`].
//!
//! How a plan uses them is [`crate::plan`]'s business.

use std::io::Cursor;

use thiserror::Error;
use time::macros::format_description;
use time::{Date, Duration, PrimitiveDateTime};

/// The largest ICS upload read, bytes (1 MiB).
pub const MAX_ICS_BYTES: usize = 1 << 20;
/// The longest summary kept, bytes.
pub const MAX_SUMMARY_BYTES: usize = 200;

/// What kind of life event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum LifeKind {
    /// Away from home: no trainer, treadmill or pool, little time.
    Travel,
    /// Ill: no training.
    Illness,
    /// A busy day: less time.
    Busy,
    /// Anything else (only its minutes count).
    Other,
}

impl LifeKind {
    /// Its name in rows and JSON: `travel`, `illness`, `busy`, `other`.
    pub fn as_str(self) -> &'static str {
        match self {
            LifeKind::Travel => "travel",
            LifeKind::Illness => "illness",
            LifeKind::Busy => "busy",
            LifeKind::Other => "other",
        }
    }

    /// The kind named `name` (see [`LifeKind::as_str`]).
    pub fn parse(name: &str) -> Option<LifeKind> {
        [
            LifeKind::Travel,
            LifeKind::Illness,
            LifeKind::Busy,
            LifeKind::Other,
        ]
        .into_iter()
        .find(|k| k.as_str() == name)
    }

    /// The kind a summary's words suggest (module docs).
    pub fn guess(summary: &str) -> LifeKind {
        const TRAVEL: [&str; 8] = [
            "flight",
            "fly",
            "flying",
            "travel",
            "travelling",
            "traveling",
            "trip",
            "airport",
        ];
        const ILLNESS: [&str; 6] = ["sick", "ill", "illness", "flu", "fever", "cold"];
        let lower = summary.to_lowercase();
        let words: Vec<&str> = lower.split(|c: char| !c.is_alphanumeric()).collect();
        if words.iter().any(|w| TRAVEL.contains(w)) {
            LifeKind::Travel
        } else if words.iter().any(|w| ILLNESS.contains(w)) {
            LifeKind::Illness
        } else {
            LifeKind::Busy
        }
    }
}

/// Something in the athlete's life over a range of days.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct LifeEvent {
    /// What kind.
    pub kind: LifeKind,
    /// First day, the athlete's local date.
    pub from: Date,
    /// Last day, inclusive.
    pub to: Date,
    /// Minutes the athlete has for training on those days, when known.
    pub minutes_available: Option<u32>,
    /// What the athlete or the calendar called it.
    pub summary: String,
}

impl LifeEvent {
    /// Whether the event covers `date`.
    pub fn covers(&self, date: Date) -> bool {
        self.from <= date && date <= self.to
    }
}

/// Why a calendar could not be read.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum IcsError {
    /// Larger than [`MAX_ICS_BYTES`].
    #[error("the calendar is {bytes} bytes; at most {max} are read")]
    TooLarge {
        /// Its size.
        bytes: usize,
        /// The limit.
        max: usize,
    },
    /// More events than the caller allows.
    #[error("the calendar has more than {max} events")]
    TooManyEvents {
        /// The limit.
        max: usize,
    },
    /// Not an iCalendar file.
    #[error("not a readable iCalendar file: {0}")]
    Malformed(String),
    /// An event without a readable start.
    #[error("event {index}: {reason}")]
    Event {
        /// Its position among the calendar's events, from 0.
        index: usize,
        /// What is wrong.
        reason: String,
    },
}

/// An event of a calendar: the life event, and the calendar's own id for it (`UID`),
/// which stays the same when the event is moved, so a calendar read again updates its
/// events instead of adding them twice.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CalendarEvent {
    /// The event's `UID` (at most [`MAX_UID_BYTES`]), when it has one.
    pub uid: Option<String>,
    /// What it means for training.
    pub event: LifeEvent,
}

/// The longest `UID` kept, bytes (RFC 5545 sets no limit; real ones are < 100).
pub const MAX_UID_BYTES: usize = 255;

/// Reads the life events of an ICS file (module docs). At most `max_events` events.
pub fn parse_ics(bytes: &[u8], max_events: usize) -> Result<Vec<LifeEvent>, IcsError> {
    Ok(parse_ics_events(bytes, max_events)?
        .into_iter()
        .map(|e| e.event)
        .collect())
}

/// Reads the events of an ICS file with their `UID`s (module docs). At most
/// `max_events` events.
pub fn parse_ics_events(bytes: &[u8], max_events: usize) -> Result<Vec<CalendarEvent>, IcsError> {
    if bytes.len() > MAX_ICS_BYTES {
        return Err(IcsError::TooLarge {
            bytes: bytes.len(),
            max: MAX_ICS_BYTES,
        });
    }
    let mut events = Vec::new();
    let mut index = 0;
    for calendar in ical::IcalParser::new(Cursor::new(bytes)) {
        let calendar = calendar.map_err(|e| IcsError::Malformed(e.to_string()))?;
        for event in &calendar.events {
            if events.len() >= max_events {
                return Err(IcsError::TooManyEvents { max: max_events });
            }
            let uid = event
                .properties
                .iter()
                .find(|p| p.name == "UID")
                .and_then(|p| p.value.as_deref())
                .map(|v| cut(v, MAX_UID_BYTES))
                .filter(|v| !v.is_empty());
            events.push(CalendarEvent {
                uid,
                event: read_event(&event.properties)
                    .map_err(|reason| IcsError::Event { index, reason })?,
            });
            index += 1;
        }
    }
    Ok(events)
}

fn read_event(properties: &[ical::property::Property]) -> Result<LifeEvent, String> {
    let property = |name: &str| properties.iter().find(|p| p.name == name);
    let start = property("DTSTART").ok_or("no DTSTART")?;
    let (from, _) = read_when(start).map_err(|e| format!("DTSTART: {e}"))?;
    let to = match property("DTEND") {
        Some(end) => {
            let (end, exclusive) = read_when(end).map_err(|e| format!("DTEND: {e}"))?;
            let last = if exclusive {
                end - Duration::days(1)
            } else {
                end
            };
            last.max(from)
        }
        None => from,
    };
    let summary = property("SUMMARY")
        .and_then(|p| p.value.as_deref())
        .map(|s| cut(&unescape(s), MAX_SUMMARY_BYTES))
        .unwrap_or_default();
    Ok(LifeEvent {
        kind: LifeKind::guess(&summary),
        from,
        to,
        minutes_available: None,
        summary,
    })
}

/// The date of a `DTSTART`/`DTEND`, and whether, as an end, it is exclusive (a date, or a
/// date-time at midnight).
fn read_when(property: &ical::property::Property) -> Result<(Date, bool), String> {
    let value = property.value.as_deref().unwrap_or("").trim();
    let value = value.strip_suffix('Z').unwrap_or(value);
    let date_only = format_description!("[year][month][day]");
    let date_time = format_description!("[year][month][day]T[hour][minute][second]");
    if let Ok(date) = Date::parse(value, date_only) {
        return Ok((date, true));
    }
    match PrimitiveDateTime::parse(value, date_time) {
        Ok(at) => Ok((at.date(), at.time() == time::Time::MIDNIGHT)),
        Err(_) => Err(format!("{value:?} is neither a date nor a date-time")),
    }
}

fn unescape(text: &str) -> String {
    text.replace("\\n", " ")
        .replace("\\N", " ")
        .replace("\\,", ",")
        .replace("\\;", ";")
        .replace("\\\\", "\\")
}

fn cut(text: &str, max: usize) -> String {
    let mut end = text.len().min(max);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    text[..end].trim().to_owned()
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;
    use time::macros::date;

    use super::*;

    const CALENDAR: &str = "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//test//EN\r\n\
        BEGIN:VEVENT\r\nUID:1\r\nDTSTART;VALUE=DATE:20261210\r\nDTEND;VALUE=DATE:20261213\r\n\
        SUMMARY:Trip to Lisbon\r\nEND:VEVENT\r\n\
        BEGIN:VEVENT\r\nUID:2\r\nDTSTART:20261215T090000Z\r\nDTEND:20261215T170000Z\r\n\
        SUMMARY:Board meeting\\, all day\r\nEND:VEVENT\r\n\
        BEGIN:VEVENT\r\nUID:3\r\nDTSTART;TZID=Europe/Paris:20261220T080000\r\n\
        SUMMARY:Flu jab? no: FLU\r\nEND:VEVENT\r\n\
        BEGIN:VEVENT\r\nUID:4\r\nDTSTART;VALUE=DATE:20261224\r\nSUMMARY:Flight home\r\n\
        END:VEVENT\r\nEND:VCALENDAR\r\n";

    #[test]
    fn a_calendar_gives_its_events_with_inclusive_days_and_guessed_kinds() {
        let events = parse_ics(CALENDAR.as_bytes(), 10).unwrap();
        let got: Vec<(LifeKind, Date, Date, &str)> = events
            .iter()
            .map(|e| (e.kind, e.from, e.to, e.summary.as_str()))
            .collect();
        assert_eq!(
            got,
            [
                (
                    LifeKind::Travel,
                    date!(2026 - 12 - 10),
                    date!(2026 - 12 - 12),
                    "Trip to Lisbon"
                ),
                (
                    LifeKind::Busy,
                    date!(2026 - 12 - 15),
                    date!(2026 - 12 - 15),
                    "Board meeting, all day"
                ),
                (
                    LifeKind::Illness,
                    date!(2026 - 12 - 20),
                    date!(2026 - 12 - 20),
                    "Flu jab? no: FLU"
                ),
                (
                    LifeKind::Travel,
                    date!(2026 - 12 - 24),
                    date!(2026 - 12 - 24),
                    "Flight home"
                ),
            ]
        );
        assert!(events[0].covers(date!(2026 - 12 - 12)));
        assert!(!events[0].covers(date!(2026 - 12 - 13)));
    }

    #[test]
    fn events_keep_their_calendar_uids_and_one_without_has_none() {
        let calendar = CALENDAR.replace("UID:4\r\n", "");
        let uids: Vec<Option<String>> = parse_ics_events(calendar.as_bytes(), 10)
            .unwrap()
            .into_iter()
            .map(|e| e.uid)
            .collect();
        let some = |s: &str| Some(s.to_owned());
        assert_eq!(uids, [some("1"), some("2"), some("3"), None]);
        let long = CALENDAR.replace("UID:1\r\n", &format!("UID:{}\r\n", "u".repeat(400)));
        let first = parse_ics_events(long.as_bytes(), 10).unwrap().remove(0);
        assert_eq!(first.uid.map(|u| u.len()), Some(MAX_UID_BYTES));
    }

    #[test]
    fn calendars_are_bounded_and_bad_ones_say_why() {
        assert_eq!(
            parse_ics(CALENDAR.as_bytes(), 3),
            Err(IcsError::TooManyEvents { max: 3 })
        );
        let big = vec![b'x'; MAX_ICS_BYTES + 1];
        assert!(matches!(
            parse_ics(&big, 10),
            Err(IcsError::TooLarge { .. })
        ));
        assert!(matches!(
            parse_ics(b"hello", 10),
            Err(IcsError::Malformed(_))
        ));
        let no_start =
            "BEGIN:VCALENDAR\r\nBEGIN:VEVENT\r\nSUMMARY:x\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n";
        assert_eq!(
            parse_ics(no_start.as_bytes(), 10),
            Err(IcsError::Event {
                index: 0,
                reason: "no DTSTART".into()
            })
        );
        assert_eq!(parse_ics(b"", 10), Ok(vec![]));
    }

    #[test]
    fn kinds_are_guessed_from_whole_words() {
        assert_eq!(LifeKind::guess("Pay the bill"), LifeKind::Busy);
        assert_eq!(LifeKind::guess("feeling ill"), LifeKind::Illness);
        assert_eq!(LifeKind::guess("Business TRAVEL"), LifeKind::Travel);
        assert_eq!(
            LifeKind::parse(LifeKind::Other.as_str()),
            Some(LifeKind::Other)
        );
    }

    proptest! {
        #[test]
        fn any_bytes_give_events_or_an_error(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
            let _ = parse_ics(&bytes, 5);
        }

        #[test]
        fn mutated_calendars_give_events_or_an_error(at in 0usize..CALENDAR.len(), byte in any::<u8>()) {
            let mut bytes = CALENDAR.as_bytes().to_vec();
            bytes[at] = byte;
            if let Ok(events) = parse_ics(&bytes, 10) {
                prop_assert!(events.iter().all(|e| e.from <= e.to));
            }
        }
    }
}
