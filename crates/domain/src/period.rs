//! Billing-period arithmetic (DESIGN §4): the trial, the anchor, and the monthly periods that
//! follow it.
//!
//! The anchor is the trial's end. Period `n` starts `n` calendar months after the anchor, on the
//! anchor's day of month at the anchor's time of day (UTC), clamped to the last day of shorter
//! months. Every period is computed from the anchor itself, never from the previous period, so a
//! Jan 31 anchor gives Feb 28 (or 29), then Mar 31 again, not Mar 28. Periods are half-open
//! `[start, end)`: consecutive periods share a boundary and tile time with no gap or overlap.

use time::{Date, Duration, Month, OffsetDateTime, UtcOffset};

/// How long the free trial lasts after the claim.
pub const TRIAL_LENGTH: Duration = Duration::days(7);

/// A half-open span of time `[start, end)` that usage and invoices belong to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct BillingPeriod {
    pub start: OffsetDateTime,
    pub end: OffsetDateTime,
}

impl BillingPeriod {
    /// Whether `t` falls in the period (the end belongs to the next one).
    pub fn contains(&self, t: OffsetDateTime) -> bool {
        self.start <= t && t < self.end
    }

    /// The period's length.
    pub fn duration(&self) -> Duration {
        self.end - self.start
    }

    /// Whole seconds from `now` until the period ends; zero once it has ended.
    pub fn seconds_until_end(&self, now: OffsetDateTime) -> u64 {
        let remaining = (self.end - now).whole_seconds();
        u64::try_from(remaining).unwrap_or(0)
    }
}

/// When the trial of a device claimed at `claimed_at` ends; this is the billing anchor.
pub fn trial_end(claimed_at: OffsetDateTime) -> OffsetDateTime {
    claimed_at + TRIAL_LENGTH
}

/// The trial: the 7 days before the anchor. Usage during the trial is counted in this period.
pub fn trial_period(anchor: OffsetDateTime) -> BillingPeriod {
    BillingPeriod {
        start: anchor - TRIAL_LENGTH,
        end: anchor,
    }
}

/// The `n`-th paid period (0 = the one starting at the anchor). Returned in UTC.
///
/// # Panics
/// If the period would end after the year 9999, which `time` cannot represent.
pub fn nth_period(anchor: OffsetDateTime, n: u32) -> BillingPeriod {
    BillingPeriod {
        start: months_after(anchor, n),
        end: months_after(anchor, n + 1),
    }
}

/// The index of the paid period containing `t`, or `None` before the anchor (the trial).
///
/// # Panics
/// As [`nth_period`], for times near the year 9999.
pub fn period_index_containing(anchor: OffsetDateTime, t: OffsetDateTime) -> Option<u32> {
    if t < anchor {
        return None;
    }
    let (anchor, t) = (utc(anchor), utc(t));
    // The calendar month difference is right or one too many (when `t` falls before the
    // anchor's day or time in its month); step to the exact period from there.
    let months = month_number(t.date()) - month_number(anchor.date());
    let mut n = u32::try_from(months).unwrap_or(0);
    while n > 0 && months_after(anchor, n) > t {
        n -= 1;
    }
    while months_after(anchor, n + 1) <= t {
        n += 1;
    }
    Some(n)
}

/// The period usage at `t` belongs to: the trial before the anchor, else the paid period.
/// Times before the trial started also map to the trial, since a device does nothing billable
/// before it is claimed.
pub fn period_containing(anchor: OffsetDateTime, t: OffsetDateTime) -> BillingPeriod {
    match period_index_containing(anchor, t) {
        Some(n) => nth_period(anchor, n),
        None => trial_period(anchor),
    }
}

fn utc(t: OffsetDateTime) -> OffsetDateTime {
    t.to_offset(UtcOffset::UTC)
}

/// Months since year 0, so month differences are a subtraction.
fn month_number(date: Date) -> i64 {
    i64::from(date.year()) * 12 + i64::from(u8::from(date.month())) - 1
}

/// `anchor` moved `n` calendar months later: same time of day, same day of month clamped to
/// the target month's length.
fn months_after(anchor: OffsetDateTime, n: u32) -> OffsetDateTime {
    let anchor = utc(anchor);
    let target = month_number(anchor.date()) + i64::from(n);
    let year = i32::try_from(target.div_euclid(12)).expect("year beyond time's range");
    let month_index = u8::try_from(target.rem_euclid(12) + 1).expect("month in 1..=12");
    let month = Month::try_from(month_index).expect("month in 1..=12");
    let day = anchor.day().min(month.length(year));
    let date = Date::from_calendar_date(year, month, day).expect("billing period after year 9999");
    anchor.replace_date(date)
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::{datetime, offset};

    #[test]
    fn the_trial_lasts_seven_days_from_the_claim() {
        let claimed = datetime!(2026-02-24 09:30 UTC);
        let anchor = trial_end(claimed);
        assert_eq!(anchor, datetime!(2026-03-03 09:30 UTC));
        assert_eq!(trial_period(anchor).start, claimed);
        assert_eq!(period_containing(anchor, claimed), trial_period(anchor));
        assert_eq!(period_index_containing(anchor, claimed), None);
    }

    #[test]
    fn a_jan_31_anchor_re_anchors_to_the_31st_over_fourteen_months() {
        let anchor = datetime!(2027-01-31 08:15:30 UTC);
        let starts: Vec<String> = (0..14)
            .map(|n| nth_period(anchor, n).start.date().to_string())
            .collect();
        assert_eq!(
            starts,
            [
                "2027-01-31",
                "2027-02-28",
                "2027-03-31",
                "2027-04-30",
                "2027-05-31",
                "2027-06-30",
                "2027-07-31",
                "2027-08-31",
                "2027-09-30",
                "2027-10-31",
                "2027-11-30",
                "2027-12-31",
                "2028-01-31",
                "2028-02-29",
            ]
        );
        for n in 0..14 {
            assert_eq!(nth_period(anchor, n).start.time(), anchor.time());
        }
    }

    #[test]
    fn february_of_a_leap_year_ends_on_the_29th() {
        let anchor = datetime!(2027-12-30 00:00 UTC);
        assert_eq!(nth_period(anchor, 2).start, datetime!(2028-02-29 00:00 UTC));
        assert_eq!(nth_period(anchor, 2).end, datetime!(2028-03-30 00:00 UTC));
        assert_eq!(
            nth_period(anchor, 14).start,
            datetime!(2029-02-28 00:00 UTC)
        );
    }

    #[test]
    fn the_period_end_belongs_to_the_next_period() {
        let anchor = datetime!(2026-01-15 12:00 UTC);
        let first = nth_period(anchor, 0);
        assert!(first.contains(anchor));
        assert!(!first.contains(first.end));
        assert_eq!(period_index_containing(anchor, first.end), Some(1));
        assert_eq!(
            period_index_containing(anchor, first.end - Duration::nanoseconds(1)),
            Some(0)
        );
    }

    #[test]
    fn a_time_before_the_anchors_day_in_its_month_belongs_to_the_previous_period() {
        let anchor = datetime!(2026-01-31 12:00 UTC);
        assert_eq!(
            period_index_containing(anchor, datetime!(2026-03-31 11:59 UTC)),
            Some(1)
        );
        assert_eq!(
            period_containing(anchor, datetime!(2026-03-31 11:59 UTC)),
            BillingPeriod {
                start: datetime!(2026-02-28 12:00 UTC),
                end: datetime!(2026-03-31 12:00 UTC),
            }
        );
    }

    #[test]
    fn periods_are_computed_in_utc_whatever_the_offset_given() {
        let anchor = datetime!(2026-01-31 23:00 -05:00);
        assert_eq!(anchor.to_offset(offset!(UTC)).day(), 1);
        assert_eq!(nth_period(anchor, 1).start, datetime!(2026-03-01 04:00 UTC));
    }

    #[test]
    fn seconds_until_end_never_goes_negative() {
        let period = nth_period(datetime!(2026-01-01 00:00 UTC), 0);
        assert_eq!(
            period.seconds_until_end(period.end - Duration::seconds(90)),
            90
        );
        assert_eq!(
            period.seconds_until_end(period.end + Duration::seconds(5)),
            0
        );
        assert_eq!(period.duration(), Duration::days(31));
    }
}
