//! Timestamps: RFC 3339 UTC with milliseconds in records, and the compact stamp used in file
//! names, which sorts lexically in time order (`ls | sort -r | head -n1` is the newest).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// `2026-11-26T12:00:00.123Z`
pub fn rfc3339(t: SystemTime) -> String {
    humantime::format_rfc3339_millis(t).to_string()
}

pub fn now_rfc3339() -> String {
    rfc3339(SystemTime::now())
}

/// Parses an RFC 3339 UTC time as written in records (`Z` suffix, optional fraction).
pub fn parse_rfc3339(s: &str) -> Option<SystemTime> {
    humantime::parse_rfc3339(s).ok()
}

/// Milliseconds since the Unix epoch of an RFC 3339 time (for arithmetic on record times).
pub fn rfc3339_millis(s: &str) -> Option<i64> {
    let t = parse_rfc3339(s)?;
    match t.duration_since(UNIX_EPOCH) {
        Ok(d) => i64::try_from(d.as_millis()).ok(),
        Err(e) => i64::try_from(e.duration().as_millis()).ok().map(|m| -m),
    }
}

/// File-name stamp `20261126T120000.123Z`: the RFC 3339 form without `-` and `:`.
pub fn file_stamp(t: SystemTime) -> String {
    rfc3339(t)
        .chars()
        .filter(|c| *c != '-' && *c != ':')
        .collect()
}

/// True for exactly the shape [`file_stamp`] produces.
pub fn is_file_stamp(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 20
        && b[..8].iter().all(u8::is_ascii_digit)
        && b[8] == b'T'
        && b[9..15].iter().all(u8::is_ascii_digit)
        && b[15] == b'.'
        && b[16..19].iter().all(u8::is_ascii_digit)
        && b[19] == b'Z'
}

/// The time a file stamp stands for.
pub fn parse_file_stamp(s: &str) -> Option<SystemTime> {
    if !is_file_stamp(s) {
        return None;
    }
    let rfc = format!(
        "{}-{}-{}T{}:{}:{}Z",
        &s[0..4],
        &s[4..6],
        &s[6..8],
        &s[9..11],
        &s[11..13],
        &s[13..19]
    );
    parse_rfc3339(&rfc)
}

/// A stamp for `now` that no existing name uses: when `taken(stamp)` says a name exists
/// (two backups in one millisecond), the next millisecond is tried. Callers hold the
/// environment lock, so checking and then creating is race-free.
pub fn unique_file_stamp(now: SystemTime, mut taken: impl FnMut(&str) -> bool) -> String {
    let mut t = now;
    loop {
        let stamp = file_stamp(t);
        if !taken(&stamp) {
            return stamp;
        }
        t += Duration::from_millis(1);
    }
}

/// Whole milliseconds of a duration, as records carry them.
pub fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// Days since 1970-01-01 to (year, month, day) in the proleptic Gregorian calendar
/// (H. Hinnant's `civil_from_days`, for non-negative day counts).
pub fn civil_from_days(days: u64) -> (u64, u8, u8) {
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u8;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u8;
    let y = yoe + era * 400 + u64::from(m <= 2);
    (y, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stamp_round_trips_and_sorts_in_time_order() {
        let a = UNIX_EPOCH + Duration::from_millis(1_795_000_000_123);
        let b = a + Duration::from_millis(1);
        let c = a + Duration::from_secs(86_400 * 40);
        let (sa, sb, sc) = (file_stamp(a), file_stamp(b), file_stamp(c));
        assert!(is_file_stamp(&sa), "{sa}");
        assert!(sa < sb && sb < sc);
        assert_eq!(parse_file_stamp(&sa), Some(a));
    }

    #[test]
    fn rfc3339_has_milliseconds_and_z() {
        let t = UNIX_EPOCH + Duration::from_millis(1_795_000_000_007);
        let s = rfc3339(t);
        assert!(s.ends_with(".007Z"), "{s}");
        assert_eq!(rfc3339_millis(&s), Some(1_795_000_000_007));
    }

    #[test]
    fn unique_stamp_skips_taken_names() {
        let t = UNIX_EPOCH + Duration::from_millis(1_795_000_000_000);
        let first = file_stamp(t);
        let got = unique_file_stamp(t, |s| s == first);
        assert_eq!(got, file_stamp(t + Duration::from_millis(1)));
    }

    #[test]
    fn rejects_near_miss_stamps() {
        for bad in [
            "20261126T120000Z",
            "20261126T120000.12Z",
            "2026-11-26T12:00:00.000Z",
            "",
        ] {
            assert!(!is_file_stamp(bad), "{bad}");
        }
    }

    #[test]
    fn civil_dates() {
        assert_eq!(super::civil_from_days(0), (1970, 1, 1));
        assert_eq!(super::civil_from_days(11_016), (2000, 2, 29));
        // 2026-11-26
        assert_eq!(super::civil_from_days(20_783), (2026, 11, 26));
    }
}
