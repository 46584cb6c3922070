//! How values read on the pages: money, instants in the customer's time zone, byte counts.

use smartbox_domain::epoch::from_unix_ms;
use time::{OffsetDateTime, UtcOffset};

/// Cents as dollars: `$12.34`, `-$0.50`.
pub fn money(cents: i64) -> String {
    let sign = if cents < 0 { "-" } else { "" };
    let abs = cents.unsigned_abs();
    format!("{sign}${}.{:02}", abs / 100, abs % 100)
}

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

/// The instant in the customer's zone; in UTC when the shift would leave the calendar's range
/// (year 9999 in UTC+14, which `to_offset` would panic on).
fn local(ms: i64, time_zone: &str) -> OffsetDateTime {
    let t = from_unix_ms(ms);
    t.checked_to_offset(offset_of(time_zone)).unwrap_or(t)
}

/// `2026-11-25 14:30` in the customer's zone.
pub fn date_time(ms: i64, time_zone: &str) -> String {
    let t = local(ms, time_zone);
    format!(
        "{}-{:02}-{:02} {:02}:{:02}",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute()
    )
}

/// `2026-11-25` in the customer's zone.
pub fn date(ms: i64, time_zone: &str) -> String {
    let t = local(ms, time_zone);
    format!("{}-{:02}-{:02}", t.year(), u8::from(t.month()), t.day())
}

/// `14:30` in the customer's zone.
pub fn clock(ms: i64, time_zone: &str) -> String {
    let t = local(ms, time_zone);
    format!("{:02}:{:02}", t.hour(), t.minute())
}

/// Bytes as `1.2 GB` / `340 MB` / `12 kB` (powers of ten, as the plans count).
pub fn bytes(n: i64) -> String {
    let n = n.max(0) as f64;
    if n >= 1e9 {
        format!("{:.2} GB", n / 1e9)
    } else if n >= 1e6 {
        format!("{:.1} MB", n / 1e6)
    } else if n >= 1e3 {
        format!("{:.0} kB", n / 1e3)
    } else {
        format!("{n} B")
    }
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
    fn money_reads_as_dollars() {
        assert_eq!(money(1234), "$12.34");
        assert_eq!(money(5), "$0.05");
        assert_eq!(money(-50), "-$0.50");
    }

    #[test]
    fn times_show_in_the_customers_zone() {
        let ms = 1_764_080_400_000; // 2025-11-25 14:20 UTC
        assert_eq!(date_time(ms, "UTC"), "2025-11-25 14:20");
        assert_eq!(date_time(ms, "UTC+02:00"), "2025-11-25 16:20");
        assert_eq!(clock(ms, "UTC-05:30"), "08:50");
        assert_eq!(date_time(ms, "Mars/Olympus"), "2025-11-25 14:20");
        assert!(time_zones().contains(&"UTC+14:00".to_owned()));
    }

    #[test]
    fn the_last_representable_instant_shows_without_a_panic() {
        let last = 253_402_300_799_000; // 9999-12-31 23:59:59 UTC
        assert_eq!(date_time(last, "UTC+14:00"), "9999-12-31 23:59");
        assert_eq!(date(last, "UTC-12:00"), "9999-12-31");
    }

    #[test]
    fn clocks_parse_and_print() {
        assert_eq!(parse_clock("22:30"), Some(1350));
        assert_eq!(parse_clock("24:00"), None);
        assert_eq!(minutes_clock(1350), "22:30");
        assert_eq!(bytes(1_500_000_000), "1.50 GB");
    }
}
