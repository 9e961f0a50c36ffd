//! ISO 8601 times as TCX and GPX write them (`2024-03-01T07:12:30Z`, with optional
//! fractional seconds and a `±hh:mm` offset), to and from Unix milliseconds. Written here
//! rather than taken from a date crate: the two formats use this one shape only.

/// A parsed time: Unix ms (UTC) and the offset it was written with, if not `Z`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timestamp {
    /// Milliseconds since the Unix epoch, UTC.
    pub unix_ms: i64,
    /// The written offset from UTC, s (`None` for `Z` or no offset).
    pub offset_s: Option<i32>,
}

/// Days from 1970-01-01 to the given civil date (proleptic Gregorian).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The civil date of a day count from 1970-01-01.
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

fn digits(text: &str) -> Option<i64> {
    (!text.is_empty() && text.bytes().all(|b| b.is_ascii_digit()))
        .then(|| text.parse().ok())
        .flatten()
}

/// Parses `YYYY-MM-DDTHH:MM:SS[.fff][Z|±HH:MM]` (a space for `T` too). `None` if it is not
/// that shape or a field is out of range.
pub fn parse(text: &str) -> Option<Timestamp> {
    let text = text.trim();
    if text.len() < 19 || !text.is_char_boundary(10) || !text.is_char_boundary(19) {
        return None;
    }
    let (date, rest) = text.split_at(10);
    let mut date_parts = date.split('-');
    let year = digits(date_parts.next()?)?;
    let month = digits(date_parts.next()?)?;
    let day = digits(date_parts.next()?)?;
    if !(1..=12).contains(&month) || !(1..=31).contains(&day) || !(1..=9999).contains(&year) {
        return None;
    }
    let rest = rest.strip_prefix('T').or_else(|| rest.strip_prefix(' '))?;
    let (clock, mut zone) = rest.split_at(8.min(rest.len()));
    let mut clock_parts = clock.split(':');
    let hour = digits(clock_parts.next()?)?;
    let minute = digits(clock_parts.next()?)?;
    let second = digits(clock_parts.next()?)?;
    if hour > 23 || minute > 59 || second > 60 {
        return None;
    }
    let mut millis = 0;
    if let Some(fraction) = zone.strip_prefix('.') {
        let end = fraction
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(fraction.len());
        let (figures, after) = fraction.split_at(end);
        if figures.is_empty() {
            return None;
        }
        let first3: String = figures.chars().chain("000".chars()).take(3).collect();
        millis = digits(&first3)?;
        zone = after;
    }
    let offset_s = match zone {
        "" | "Z" | "z" => None,
        _ => {
            let sign = match zone.as_bytes().first() {
                Some(b'+') => 1,
                Some(b'-') => -1,
                _ => return None,
            };
            let hhmm = zone.get(1..)?.replace(':', "");
            if hhmm.len() != 4 {
                return None;
            }
            let hours = digits(hhmm.get(..2)?)?;
            let minutes = digits(hhmm.get(2..)?)?;
            if hours > 18 || minutes > 59 {
                return None;
            }
            Some(i32::try_from(sign * (hours * 3600 + minutes * 60)).ok()?)
        }
    };
    let local_s = days_from_civil(year, month, day) * 86_400 + hour * 3600 + minute * 60 + second;
    let utc_s = local_s - i64::from(offset_s.unwrap_or(0));
    Some(Timestamp {
        unix_ms: utc_s * 1000 + millis,
        offset_s,
    })
}

/// Formats Unix ms as UTC `YYYY-MM-DDTHH:MM:SS[.fff]Z` (milliseconds only when not zero).
pub fn format_utc(unix_ms: i64) -> String {
    let seconds = unix_ms.div_euclid(1000);
    let millis = unix_ms.rem_euclid(1000);
    let (year, month, day) = civil_from_days(seconds.div_euclid(86_400));
    let in_day = seconds.rem_euclid(86_400);
    let (hour, minute, second) = (in_day / 3600, in_day / 60 % 60, in_day % 60);
    if millis == 0 {
        format!("{year:04}-{month:02}-{day:02}T{hour:02}:{minute:02}:{second:02}Z")
    } else {
        format!("{year:04}-{month:02}-{day:02}T{hour:02}:{minute:02}:{second:02}.{millis:03}Z")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_parse_and_format() {
        let t = parse("2013-08-16T13:35:10Z").expect("parses");
        assert_eq!(t.unix_ms, 1_376_660_110_000);
        assert_eq!(t.offset_s, None);
        assert_eq!(format_utc(t.unix_ms), "2013-08-16T13:35:10Z");
        let t = parse("2013-08-16T15:35:10.25+02:00").expect("parses");
        assert_eq!(t.unix_ms, 1_376_660_110_250);
        assert_eq!(t.offset_s, Some(7200));
        assert_eq!(format_utc(t.unix_ms), "2013-08-16T13:35:10.250Z");
        assert_eq!(
            parse("2000-02-29T00:00:00-0530").map(|t| t.offset_s),
            Some(Some(-19_800))
        );
        assert_eq!(format_utc(951_782_400_000), "2000-02-29T00:00:00Z");
        for bad in [
            "",
            "2013-08-16",
            "2013-13-01T00:00:00Z",
            "2013-08-16T25:00:00Z",
            "2013-08-16T10:00:00+2",
            "x013-08-16T10:00:00Z",
            "2013-08-16T10:00:00.Z",
            "2013-08-16T10:00:00Zjunk",
        ] {
            assert_eq!(parse(bad), None, "{bad:?}");
        }
    }
}
