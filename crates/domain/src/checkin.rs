//! How often a mailbox checks in (DESIGN §8: `checkin_interval_s`, 6 h by default) and what a
//! fresher status costs in battery life. A check-in powers the modem, attaches and sends a
//! heartbeat; between check-ins the mailbox sleeps, waking every 30 min for local work only.
//!
//! The battery figures are the energy model's (`smartbox sim --energy`, docs/firmware.md): at
//! -85 dBm, 0.39 mAh per check-in, 0.50 mAh per mail event, 3.52 mAh a day with 2 mail events
//! and the default 4 check-ins, on 3,000 mAh.

/// The default interval, seconds.
pub const DEFAULT_INTERVAL_S: i64 = 6 * 3600;

/// The intervals a customer may choose, seconds, most frequent first.
pub const INTERVALS_S: &[i64] = &[
    30 * 60,
    3600,
    2 * 3600,
    3 * 3600,
    6 * 3600,
    12 * 3600,
    24 * 3600,
];

const BATTERY_MAH: f64 = 3_000.0;
const MAH_PER_CHECKIN: f64 = 0.39;
const MAH_PER_MAIL_EVENT: f64 = 0.50;
const MAIL_EVENTS_PER_DAY: f64 = 2.0;
const MAH_PER_DAY_AT_DEFAULT: f64 = 3.52;
const DAYS_PER_MONTH: f64 = 365.25 / 12.0;

/// Whether `interval_s` is one of [`INTERVALS_S`].
pub fn is_allowed(interval_s: i64) -> bool {
    INTERVALS_S.contains(&interval_s)
}

fn checkins_per_day(interval_s: i64) -> f64 {
    86_400.0 / interval_s.max(60) as f64
}

/// The projected battery life in months with check-ins every `interval_s` and 2 mail events a
/// day: what sleep and the local wakes cost stays, the check-ins scale with their number.
pub fn battery_months(interval_s: i64) -> f64 {
    let mail = MAH_PER_MAIL_EVENT * MAIL_EVENTS_PER_DAY;
    let base =
        MAH_PER_DAY_AT_DEFAULT - mail - MAH_PER_CHECKIN * checkins_per_day(DEFAULT_INTERVAL_S);
    let per_day = base + mail + MAH_PER_CHECKIN * checkins_per_day(interval_s);
    BATTERY_MAH / per_day / DAYS_PER_MONTH
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_interval_gives_the_energy_models_battery_life() {
        assert!((battery_months(DEFAULT_INTERVAL_S) - 28.0).abs() < 0.05);
        assert!(is_allowed(DEFAULT_INTERVAL_S));
        assert!(!is_allowed(60));
    }

    #[test]
    fn fresher_status_costs_battery_life() {
        for pair in INTERVALS_S.windows(2) {
            assert!(battery_months(pair[0]) < battery_months(pair[1]));
        }
        // Every 30 minutes: about 5 months; once a day: over 3 years.
        assert!((4.0..6.0).contains(&battery_months(1_800)));
        assert!(battery_months(86_400) > 36.0);
    }
}
