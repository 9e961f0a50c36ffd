//! Session ids: one per ride, unique per device, made of the start time and random hex.

use std::time::{SystemTime, UNIX_EPOCH};

use paceline_schemas::SessionId;

/// Milliseconds since the Unix epoch now (a frame's `sent_ms`).
pub fn unix_ms_now() -> u64 {
    let since = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    u64::try_from(since.as_millis()).unwrap_or(u64::MAX)
}

/// A new session id such as `20261201T083414Z-9f3a2c1b`: the UTC start time and 32
/// random bits, within the id charset.
pub fn new_session_id(start_unix_ms: u64) -> SessionId {
    let mut random = [0u8; 4];
    if getrandom::getrandom(&mut random).is_err() {
        // No system randomness: the clock's nanoseconds and the process id still separate
        // sessions started in the same second.
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .subsec_nanos();
        random = (nanos ^ std::process::id().rotate_left(16)).to_le_bytes();
    }
    let secs = start_unix_ms / 1000;
    let (year, month, day) = civil_from_days(secs / 86_400);
    let of_day = secs % 86_400;
    let text = format!(
        "{year:04}{month:02}{day:02}T{:02}{:02}{:02}Z-{}",
        of_day / 3600,
        of_day / 60 % 60,
        of_day % 60,
        hex::encode(random)
    );
    SessionId::new(text).expect("digits, 'T', 'Z', '-' and hex make a valid id of 25 bytes")
}

/// Year, month, day of a count of days since 1970-01-01 (Howard Hinnant's algorithm).
fn civil_from_days(days: u64) -> (u64, u64, u64) {
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + u64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn session_ids_carry_the_utc_start_and_differ() {
        // 2026-12-01 08:34:14 UTC.
        let a = new_session_id(1_796_114_054_000);
        assert!(a.as_str().starts_with("20261201T083414Z-"), "{a}");
        assert_eq!(a.as_str().len(), 25);
        assert_ne!(a, new_session_id(1_796_114_054_000));
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(19_782), (2024, 2, 29));
    }
}
