//! The customer's time zone and local clock times as stored: an IANA zone name
//! (`America/New_York`, resolved by `jiff` from the tz database bundled into the binary, so a
//! host without `/usr/share/zoneinfo` shows the same times, daylight saving included), the city
//! zones offered in settings grouped by region, and quiet hours as minutes after midnight.
//! Accounts saved before cities were offered hold a fixed offset (`UTC+02:00`); it keeps
//! working as that offset until the customer picks a city. The pages, the JSON API, the
//! notifications and the digest all read them, so none of them owns them.

use jiff::Timestamp;
use jiff::civil::{Date, DateTime};
use jiff::tz::{Offset, TimeZone};
use time::UtcOffset;

/// The zone of accounts that never chose one.
pub const DEFAULT_ZONE: &str = "UTC";

/// The zones offered in settings: `(region, IANA name, city as shown)`, regions in this order.
const OFFERED: &[(&str, &str, &str)] = &[
    ("Universal", "UTC", "UTC (no daylight saving)"),
    ("Americas", "Pacific/Honolulu", "Honolulu"),
    ("Americas", "America/Anchorage", "Anchorage"),
    ("Americas", "America/Los_Angeles", "Los Angeles"),
    ("Americas", "America/Vancouver", "Vancouver"),
    ("Americas", "America/Phoenix", "Phoenix"),
    ("Americas", "America/Denver", "Denver"),
    ("Americas", "America/Chicago", "Chicago"),
    ("Americas", "America/Mexico_City", "Mexico City"),
    ("Americas", "America/New_York", "New York"),
    ("Americas", "America/Toronto", "Toronto"),
    ("Americas", "America/Bogota", "Bogotá"),
    ("Americas", "America/Lima", "Lima"),
    ("Americas", "America/Caracas", "Caracas"),
    ("Americas", "America/Halifax", "Halifax"),
    ("Americas", "America/St_Johns", "St. John's"),
    ("Americas", "America/Santiago", "Santiago"),
    ("Americas", "America/Sao_Paulo", "São Paulo"),
    ("Americas", "America/Argentina/Buenos_Aires", "Buenos Aires"),
    ("Europe", "Atlantic/Reykjavik", "Reykjavík"),
    ("Europe", "Europe/London", "London"),
    ("Europe", "Europe/Dublin", "Dublin"),
    ("Europe", "Europe/Lisbon", "Lisbon"),
    ("Europe", "Europe/Madrid", "Madrid"),
    ("Europe", "Europe/Paris", "Paris"),
    ("Europe", "Europe/Brussels", "Brussels"),
    ("Europe", "Europe/Amsterdam", "Amsterdam"),
    ("Europe", "Europe/Berlin", "Berlin"),
    ("Europe", "Europe/Zurich", "Zurich"),
    ("Europe", "Europe/Rome", "Rome"),
    ("Europe", "Europe/Vienna", "Vienna"),
    ("Europe", "Europe/Prague", "Prague"),
    ("Europe", "Europe/Copenhagen", "Copenhagen"),
    ("Europe", "Europe/Oslo", "Oslo"),
    ("Europe", "Europe/Stockholm", "Stockholm"),
    ("Europe", "Europe/Warsaw", "Warsaw"),
    ("Europe", "Europe/Budapest", "Budapest"),
    ("Europe", "Europe/Helsinki", "Helsinki"),
    ("Europe", "Europe/Bucharest", "Bucharest"),
    ("Europe", "Europe/Athens", "Athens"),
    ("Europe", "Europe/Kyiv", "Kyiv"),
    ("Europe", "Europe/Istanbul", "Istanbul"),
    ("Europe", "Europe/Moscow", "Moscow"),
    ("Africa", "Africa/Casablanca", "Casablanca"),
    ("Africa", "Africa/Lagos", "Lagos"),
    ("Africa", "Africa/Cairo", "Cairo"),
    ("Africa", "Africa/Johannesburg", "Johannesburg"),
    ("Africa", "Africa/Nairobi", "Nairobi"),
    ("Asia", "Asia/Jerusalem", "Jerusalem"),
    ("Asia", "Asia/Riyadh", "Riyadh"),
    ("Asia", "Asia/Tehran", "Tehran"),
    ("Asia", "Asia/Dubai", "Dubai"),
    ("Asia", "Asia/Karachi", "Karachi"),
    ("Asia", "Asia/Kolkata", "India (Kolkata)"),
    ("Asia", "Asia/Kathmandu", "Kathmandu"),
    ("Asia", "Asia/Dhaka", "Dhaka"),
    ("Asia", "Asia/Bangkok", "Bangkok"),
    ("Asia", "Asia/Jakarta", "Jakarta"),
    ("Asia", "Asia/Singapore", "Singapore"),
    ("Asia", "Asia/Manila", "Manila"),
    ("Asia", "Asia/Hong_Kong", "Hong Kong"),
    ("Asia", "Asia/Shanghai", "China (Shanghai)"),
    ("Asia", "Asia/Taipei", "Taipei"),
    ("Asia", "Asia/Seoul", "Seoul"),
    ("Asia", "Asia/Tokyo", "Tokyo"),
    ("Australia and Pacific", "Australia/Perth", "Perth"),
    ("Australia and Pacific", "Australia/Darwin", "Darwin"),
    ("Australia and Pacific", "Australia/Adelaide", "Adelaide"),
    ("Australia and Pacific", "Australia/Brisbane", "Brisbane"),
    ("Australia and Pacific", "Australia/Sydney", "Sydney"),
    ("Australia and Pacific", "Australia/Melbourne", "Melbourne"),
    ("Australia and Pacific", "Australia/Hobart", "Hobart"),
    ("Australia and Pacific", "Pacific/Guam", "Guam"),
    ("Australia and Pacific", "Pacific/Auckland", "Auckland"),
    ("Australia and Pacific", "Pacific/Fiji", "Fiji"),
];

/// The IANA names offered in settings, the only ones a change may choose.
pub fn time_zones() -> Vec<String> {
    OFFERED
        .iter()
        .map(|(_, name, _)| (*name).to_owned())
        .collect()
}

/// Whether `name` is one of [`time_zones`].
pub fn is_offered(name: &str) -> bool {
    OFFERED.iter().any(|(_, offered, _)| *offered == name)
}

/// The offered zones grouped by region, in the order shown: `(region, [(name, city)])`.
pub fn regions() -> Vec<(&'static str, Vec<(&'static str, &'static str)>)> {
    let mut out: Vec<(&'static str, Vec<(&'static str, &'static str)>)> = Vec::new();
    for (region, name, city) in OFFERED {
        match out.last_mut() {
            Some((last, zones)) if last == region => zones.push((name, city)),
            _ => out.push((region, vec![(name, city)])),
        }
    }
    out
}

/// A stored zone as a customer reads it: the city (`New York`), or a saved fixed offset as is.
pub fn label(name: &str) -> String {
    OFFERED
        .iter()
        .find(|(_, offered, _)| *offered == name)
        .map_or_else(|| name.to_owned(), |(_, _, city)| (*city).to_owned())
}

/// The zone a stored name means: an IANA zone, a fixed `UTC+02:00` / `UTC-05:30` saved before
/// cities were offered, and UTC for anything else.
fn zone_of(name: &str) -> TimeZone {
    if let Some(offset) = legacy_offset(name) {
        return TimeZone::fixed(offset);
    }
    TimeZone::get(name).unwrap_or(TimeZone::UTC)
}

/// The offset of a legacy `UTC+HH:MM` / `UTC-HH:MM` zone.
fn legacy_offset(name: &str) -> Option<Offset> {
    let rest = name.strip_prefix("UTC")?;
    let sign = match rest.chars().next()? {
        '+' => 1,
        '-' => -1,
        _ => return None,
    };
    let (h, m) = rest[1..].split_once(':')?;
    let (h, m) = (h.parse::<i32>().ok()?, m.parse::<i32>().ok()?);
    Offset::from_seconds(sign * (h * 3600 + m * 60)).ok()
}

/// The UTC offset in force in the stored zone at `unix_ms` (daylight saving included).
pub fn offset_at(time_zone: &str, unix_ms: i64) -> UtcOffset {
    let Ok(instant) = Timestamp::from_millisecond(unix_ms) else {
        return UtcOffset::UTC;
    };
    let seconds = zone_of(time_zone).to_offset(instant).seconds();
    UtcOffset::from_whole_seconds(seconds).unwrap_or(UtcOffset::UTC)
}

/// The instant (epoch ms) of a local date and time in the stored zone: a time skipped by the
/// spring change counts as the hour after it, a time repeated in autumn as its first occurrence.
pub fn local_to_ms(time_zone: &str, year: i16, month: i8, day: i8, minutes: i64) -> Option<i64> {
    let hour = i8::try_from(minutes / 60).ok()?;
    let minute = i8::try_from(minutes % 60).ok()?;
    let local = DateTime::new(year, month, day, hour, minute, 0, 0).ok()?;
    let instant = zone_of(time_zone).to_timestamp(local).ok()?;
    Some(instant.as_millisecond())
}

/// The instants (epoch ms) a local calendar day starts and ends in the stored zone: 23 or 25
/// hours apart on the days the clocks change.
pub fn local_day_ms(time_zone: &str, year: i16, month: i8, day: i8) -> Option<(i64, i64)> {
    let next = Date::new(year, month, day).ok()?.tomorrow().ok()?;
    Some((
        local_to_ms(time_zone, year, month, day, 0)?,
        local_to_ms(time_zone, next.year(), next.month(), next.day(), 0)?,
    ))
}

/// Parses `HH:MM` (two digits each, as the API's `QuietHours` pattern says) into minutes after
/// midnight.
pub fn parse_clock(text: &str) -> Option<i64> {
    let digit = |b: u8| b.is_ascii_digit().then(|| i64::from(b - b'0'));
    let &[h1, h0, b':', m1, m0] = text.as_bytes() else {
        return None;
    };
    let (h, m) = (digit(h1)? * 10 + digit(h0)?, digit(m1)? * 10 + digit(m0)?);
    (h < 24 && m < 60).then_some(h * 60 + m)
}

/// Minutes after midnight as `HH:MM`.
pub fn minutes_clock(minutes: i64) -> String {
    format!("{:02}:{:02}", minutes / 60, minutes % 60)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 2026-03-08 06:00 UTC: 01:00 in New York, an hour before clocks go forward.
    const SPRING_EVE: i64 = 1_772_949_600_000;
    /// 2026-11-01 05:30 UTC: 01:30 in New York, first time (EDT).
    const AUTUMN_FIRST: i64 = 1_793_511_000_000;

    #[test]
    fn new_york_moves_its_clocks_in_march_and_november_2026() {
        let ny = "America/New_York";
        assert_eq!(offset_at(ny, SPRING_EVE).whole_hours(), -5);
        assert_eq!(offset_at(ny, SPRING_EVE + 3_600_000).whole_hours(), -4);
        assert_eq!(offset_at(ny, AUTUMN_FIRST).whole_hours(), -4);
        assert_eq!(offset_at(ny, AUTUMN_FIRST + 3_600_000).whole_hours(), -5);
    }

    #[test]
    fn a_saved_fixed_offset_keeps_its_offset_and_anything_unknown_is_utc() {
        assert_eq!(offset_at("UTC+02:00", SPRING_EVE).whole_seconds(), 7200);
        assert_eq!(offset_at("UTC-05:30", SPRING_EVE).whole_seconds(), -19_800);
        assert_eq!(offset_at("Mars/Olympus", SPRING_EVE), UtcOffset::UTC);
        assert_eq!(offset_at("UTC", SPRING_EVE), UtcOffset::UTC);
    }

    #[test]
    fn local_midnight_and_the_skipped_and_repeated_hours_have_one_instant_each() {
        let ny = "America/New_York";
        assert_eq!(local_to_ms(ny, 2026, 3, 8, 0), Some(SPRING_EVE - 3_600_000));
        // 02:30 does not exist on 8 March: it is read as 03:30 EDT (07:30 UTC).
        assert_eq!(
            local_to_ms(ny, 2026, 3, 8, 150),
            Some(SPRING_EVE + 90 * 60_000)
        );
        // 01:30 happens twice on 1 November: the first one counts.
        assert_eq!(local_to_ms(ny, 2026, 11, 1, 90), Some(AUTUMN_FIRST));
        assert_eq!(local_to_ms(ny, 2026, 2, 30, 0), None);
        let (start, end) = local_day_ms(ny, 2026, 3, 8).unwrap_or_default();
        assert_eq!(end - start, 23 * 3_600_000);
        let (start, end) = local_day_ms(ny, 2026, 11, 1).unwrap_or_default();
        assert_eq!(end - start, 25 * 3_600_000);
    }

    #[test]
    fn every_offered_zone_is_in_the_bundled_database_and_grouped_once() {
        for name in time_zones() {
            assert!(
                TimeZone::get(&name).is_ok(),
                "{name} is not in the tz database"
            );
        }
        let regions = regions();
        let names: Vec<_> = regions.iter().map(|(r, _)| *r).collect();
        let mut unique = names.clone();
        unique.sort_unstable();
        unique.dedup();
        assert_eq!(
            unique.len(),
            names.len(),
            "a region split in two: {names:?}"
        );
        assert_eq!(label("America/New_York"), "New York");
        assert_eq!(label("UTC+02:00"), "UTC+02:00");
        assert!(is_offered("Europe/Paris") && !is_offered("UTC+02:00"));
    }

    #[test]
    fn clocks_parse_and_print() {
        assert_eq!(parse_clock("22:30"), Some(1350));
        assert_eq!(parse_clock("00:00"), Some(0));
        assert_eq!(parse_clock("23:59"), Some(1439));
        for refused in [
            "24:00", "7:00", "07:5", " 07:00", "07:00\n", "+7:00", "07:60", "0a:00",
        ] {
            assert_eq!(parse_clock(refused), None, "{refused:?}");
        }
        assert_eq!(minutes_clock(1350), "22:30");
    }
}
