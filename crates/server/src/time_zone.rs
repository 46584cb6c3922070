//! The customer's time zone and local clock times as stored: the zone's name (`UTC`,
//! `UTC+02:00`), the zones offered in settings, and quiet hours as minutes after midnight. The
//! pages, the JSON API, the notifications and the digest all read them, so none of them owns
//! them.

use time::UtcOffset;

/// The UTC offset a stored time zone names: `UTC`, or `UTC+02:00` / `UTC-05:30`.
pub fn offset_of(time_zone: &str) -> UtcOffset {
    let rest = time_zone.strip_prefix("UTC").unwrap_or("");
    let (sign, rest) = match rest.chars().next() {
        Some('+') => (1, &rest[1..]),
        Some('-') => (-1, &rest[1..]),
        _ => return UtcOffset::UTC,
    };
    let (h, m) = rest.split_once(':').unwrap_or((rest, "0"));
    let (Ok(h), Ok(m)) = (h.parse::<i32>(), m.parse::<i32>()) else {
        return UtcOffset::UTC;
    };
    UtcOffset::from_whole_seconds(sign * (h * 3600 + m * 60)).unwrap_or(UtcOffset::UTC)
}

/// The time zones offered in settings: UTC-12:00 to UTC+14:00 by the hour, plus the half hours
/// most used.
pub fn time_zones() -> Vec<String> {
    let mut zones = vec!["UTC".to_owned()];
    for h in -12_i32..=14 {
        if h != 0 {
            zones.push(format!(
                "UTC{}{:02}:00",
                if h < 0 { '-' } else { '+' },
                h.abs()
            ));
        }
    }
    zones.extend(["UTC+05:30", "UTC+09:30", "UTC-03:30"].map(str::to_owned));
    zones
}

/// Parses `HH:MM` into minutes after midnight.
pub fn parse_clock(text: &str) -> Option<i64> {
    let (h, m) = text.trim().split_once(':')?;
    let (h, m) = (h.parse::<i64>().ok()?, m.parse::<i64>().ok()?);
    ((0..24).contains(&h) && (0..60).contains(&m)).then_some(h * 60 + m)
}

/// Minutes after midnight as `HH:MM`.
pub fn minutes_clock(minutes: i64) -> String {
    format!("{:02}:{:02}", minutes / 60, minutes % 60)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stored_zone_names_its_offset_and_anything_else_is_utc() {
        assert_eq!(offset_of("UTC+02:00").whole_seconds(), 7200);
        assert_eq!(offset_of("UTC-05:30").whole_seconds(), -19_800);
        assert_eq!(offset_of("Mars/Olympus"), UtcOffset::UTC);
        assert!(time_zones().contains(&"UTC+14:00".to_owned()));
    }

    #[test]
    fn clocks_parse_and_print() {
        assert_eq!(parse_clock("22:30"), Some(1350));
        assert_eq!(parse_clock("24:00"), None);
        assert_eq!(minutes_clock(1350), "22:30");
    }
}
