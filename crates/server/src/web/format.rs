//! How values read on the pages: money, instants in the customer's time zone, byte counts.
//! The time zone itself is `crate::time_zone`, shared with the API and the notifications.

use smartbox_domain::epoch::from_unix_ms;
use time::OffsetDateTime;

use crate::time_zone::offset_at;

/// Cents as dollars: `$12.34`, `-$0.50`.
pub fn money(cents: i64) -> String {
    let sign = if cents < 0 { "-" } else { "" };
    let abs = cents.unsigned_abs();
    format!("{sign}${}.{:02}", abs / 100, abs % 100)
}

/// The instant in the customer's zone, with the offset in force then (daylight saving
/// included); in UTC when the shift would leave the calendar's range (year 9999 in UTC+14,
/// which `to_offset` would panic on).
fn local(ms: i64, time_zone: &str) -> OffsetDateTime {
    let t = from_unix_ms(ms);
    t.checked_to_offset(offset_at(time_zone, ms)).unwrap_or(t)
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

/// Bytes as `1.25 GB` / `5 GB` / `340.2 MB` / `12 kB` / `under 1 kB` (powers of ten, as the
/// plans count; a count of single bytes means nothing to a customer).
pub fn bytes(n: i64) -> String {
    let n = n.max(0);
    let x = n as f64;
    if n >= 1_000_000_000 && n % 1_000_000_000 == 0 {
        format!("{} GB", n / 1_000_000_000)
    } else if x >= 1e9 {
        format!("{:.2} GB", x / 1e9)
    } else if x >= 1e6 {
        format!("{:.1} MB", x / 1e6)
    } else if x >= 1e3 {
        format!("{:.0} kB", x / 1e3)
    } else if n == 0 {
        "0 kB".to_owned()
    } else {
        "under 1 kB".to_owned()
    }
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
        assert_eq!(date_time(ms, "Europe/Paris"), "2025-11-25 15:20");
    }

    #[test]
    fn new_york_clocks_follow_daylight_saving() {
        // 2026-03-08 06:30 and 07:30 UTC: either side of the spring change.
        assert_eq!(clock(1_772_951_400_000, "America/New_York"), "01:30");
        assert_eq!(clock(1_772_955_000_000, "America/New_York"), "03:30");
        // 2026-11-01 05:30 and 06:30 UTC: 01:30 twice.
        assert_eq!(clock(1_793_511_000_000, "America/New_York"), "01:30");
        assert_eq!(clock(1_793_514_600_000, "America/New_York"), "01:30");
    }

    #[test]
    fn the_last_representable_instant_shows_without_a_panic() {
        let last = 253_402_300_799_000; // 9999-12-31 23:59:59 UTC
        assert_eq!(date_time(last, "UTC+14:00"), "9999-12-31 23:59");
        assert_eq!(date(last, "UTC-12:00"), "9999-12-31");
    }

    #[test]
    fn bytes_count_in_powers_of_ten() {
        assert_eq!(bytes(1_500_000_000), "1.50 GB");
        assert_eq!(bytes(5_000_000_000), "5 GB");
        assert_eq!(bytes(733), "under 1 kB");
        assert_eq!(bytes(0), "0 kB");
    }
}
