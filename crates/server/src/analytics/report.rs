//! A period's report for the page, the CSV and the JSON API: the stored snapshots of its days
//! (today's computed live), the previous period of the same length to compare with, and the
//! period cut into weeks or months for the charts.

use std::collections::{HashMap, HashSet};

use smartbox_domain::Cents;
use smartbox_domain::metrics::{
    DaySnapshot, PeriodFigures, Spread, period_figures, spend_in_days, spread,
};
use smartbox_store::{Db, StoreError, month_key};
use time::{Date, Duration, Month};

use super::history::History;
use super::snapshot::{Flows, day_bounds, day_of, live_today, snapshot, trials_read_on};

/// Days `from..=to`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Range {
    pub from: Date,
    pub to: Date,
}

impl Range {
    /// The number of days.
    pub fn days(self) -> i64 {
        (self.to - self.from).whole_days() + 1
    }

    /// The period of the same length just before this one.
    pub fn previous(self) -> Range {
        Range {
            from: self.from - Duration::days(self.days()),
            to: self.from - Duration::days(1),
        }
    }

    /// Every day, oldest first.
    pub fn each_day(self) -> impl Iterator<Item = Date> {
        (0..self.days()).map(move |i| self.from + Duration::days(i))
    }
}

/// A slice of the period for the charts: a week, or a calendar month of a long period.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bucket {
    pub range: Range,
    pub figures: PeriodFigures,
}

/// The figures of a period and of the one before it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Report {
    pub range: Range,
    pub figures: PeriodFigures,
    /// Bytes per device of the usage periods that ended in the period (read live).
    pub data: Spread,
    pub previous_range: Range,
    pub previous: PeriodFigures,
    pub buckets: Vec<Bucket>,
    /// Past days of the period since the first subscription with no snapshot (run `smartbox
    /// analytics backfill`); days before the business began have nothing to snapshot.
    pub missing_days: i64,
    /// Whether any day of the previous period has a snapshot (else it is shown as no data).
    pub previous_known: bool,
}

/// Periods longer than this are charted by month, shorter ones by week.
const WEEKLY_UP_TO_DAYS: i64 = 92;

/// The report of `range` as of `now_ms`.
pub async fn report(db: &Db, range: Range, now_ms: i64) -> Result<Report, StoreError> {
    let today = day_of(now_ms);
    let previous_range = range.previous();
    let first = previous_range.from - Duration::days(1);
    let mut days: HashMap<Date, DaySnapshot> = db
        .analytics_days(first, range.to.min(today - Duration::days(1)))
        .await?
        .into_iter()
        .map(|d| (d.day, d))
        .collect();
    let mut today_data = Vec::new();
    if (range.from..=range.to).contains(&today) {
        let (live, data) = live(
            db,
            today,
            days.get(&(today - Duration::days(1))).copied(),
            now_ms,
        )
        .await?;
        days.insert(today, live);
        today_data = data;
    }
    let mut spend: HashMap<(i32, Month), Cents> = HashMap::new();
    let spend_rows = db
        .acquisition_spend(
            &month_key(first.year(), first.month()),
            &month_key(range.to.year(), range.to.month()),
        )
        .await?;
    for row in spend_rows {
        let Some(month) = smartbox_store::parse_day_key(&format!("{}-01", row.month)) else {
            continue;
        };
        *spend.entry((month.year(), month.month())).or_default() += Cents::new(row.amount_cents);
    }
    let figures_of = |r: Range| {
        let snapshots: Vec<DaySnapshot> =
            r.each_day().filter_map(|d| days.get(&d).copied()).collect();
        let before = days.get(&(r.from - Duration::days(1)));
        let spent = spend_in_days(r.each_day().filter(|d| *d <= today), |y, m| {
            spend.get(&(y, m)).copied().unwrap_or_default()
        });
        period_figures(before, &snapshots, spent)
    };
    let bytes = data_bytes(db, range, today, today_data).await?;
    let began = super::first_day(db).await?;
    let missing_days = range
        .each_day()
        .filter(|d| began.is_some_and(|b| b <= *d) && *d <= today && !days.contains_key(d))
        .count() as i64;
    let previous_known = previous_range.each_day().any(|d| days.contains_key(&d));
    Ok(Report {
        previous_known,
        range,
        figures: figures_of(range),
        data: spread(bytes),
        previous_range,
        previous: figures_of(previous_range),
        buckets: buckets(range)
            .into_iter()
            .map(|r| Bucket {
                range: r,
                figures: figures_of(r),
            })
            .collect(),
        missing_days,
    })
}

/// The data bytes of the usage periods that ended in `range`: each past day's as its snapshot
/// stored them, then `today_data`, and read live for a past day snapshotted before they were
/// kept or not at all.
async fn data_bytes(
    db: &Db,
    range: Range,
    today: Date,
    today_data: Vec<u64>,
) -> Result<Vec<u64>, StoreError> {
    let mut values = today_data;
    let past = Range {
        from: range.from,
        to: range.to.min(today - Duration::days(1)),
    };
    if past.from > past.to {
        return Ok(values);
    }
    let stored = db.analytics_day_data(past.from, past.to).await?;
    let known: HashSet<Date> = stored.iter().map(|(day, _)| *day).collect();
    values.extend(stored.into_iter().flat_map(|(_, day)| day));
    let unknown: HashSet<Date> = past.each_day().filter(|d| !known.contains(d)).collect();
    if let (Some(first), Some(last)) = (unknown.iter().min(), unknown.iter().max()) {
        let read = db
            .analytics_usage_ended(day_bounds(*first).0, day_bounds(*last).1)
            .await?;
        values.extend(
            read.into_iter()
                .filter(|u| unknown.contains(&day_of(u.period_end)))
                .map(|u| u64::try_from(u.data_bytes).unwrap_or(0)),
        );
    }
    Ok(values)
}

/// Today's figures as of `now_ms`, and the data bytes of the usage periods that ended today:
/// from yesterday's snapshot and the customers who changed since when there is one (the usual
/// case: the job wrote it after midnight), else from every customer's history.
async fn live(
    db: &Db,
    today: Date,
    yesterday: Option<DaySnapshot>,
    now_ms: i64,
) -> Result<(DaySnapshot, Vec<u64>), StoreError> {
    let yesterday = match yesterday {
        Some(day) => Some(day),
        None => db
            .analytics_days(today - Duration::days(1), today - Duration::days(1))
            .await?
            .pop(),
    };
    let flows = Flows::load(db, today, today, now_ms).await?;
    let live = match yesterday {
        Some(yesterday) => {
            let changed =
                History::load_changed(db, day_bounds(today).0, trials_read_on(today)).await?;
            live_today(&changed, &flows, &yesterday, today, now_ms)
        }
        None => snapshot(&History::load(db).await?, &flows, today, now_ms).0,
    };
    Ok((live, flows.data_of(today).to_vec()))
}

/// The period cut into weeks from its first day, or into calendar months when it is long;
/// the first and last may be partial.
pub fn buckets(range: Range) -> Vec<Range> {
    let mut out = Vec::new();
    let mut from = range.from;
    while from <= range.to {
        let to = if range.days() > WEEKLY_UP_TO_DAYS {
            let next_month = from
                .replace_day(1)
                .ok()
                .and_then(|d| d.checked_add(Duration::days(i64::from(d.month().length(d.year())))));
            next_month.map_or(range.to, |d| d - Duration::days(1))
        } else {
            from + Duration::days(6)
        }
        .min(range.to);
        out.push(Range { from, to });
        from = to + Duration::days(1);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::date;

    #[test]
    fn long_periods_are_charted_by_month_and_short_ones_by_week() {
        let year = Range {
            from: date!(2026 - 12 - 08),
            to: date!(2027 - 12 - 07),
        };
        let months = buckets(year);
        assert_eq!(months.len(), 13);
        assert_eq!(months[0].to, date!(2026 - 12 - 31));
        assert_eq!(months[1].from, date!(2027 - 01 - 01));
        assert_eq!(months[12].to, date!(2027 - 12 - 07));
        let month = Range {
            from: date!(2027 - 01 - 01),
            to: date!(2027 - 01 - 30),
        };
        let weeks = buckets(month);
        assert_eq!(weeks.len(), 5);
        assert_eq!(weeks[4].days(), 2);
        assert_eq!(month.previous().to, date!(2026 - 12 - 31));
        assert_eq!(month.previous().days(), 30);
    }
}
