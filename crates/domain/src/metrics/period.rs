//! A period's figures from its daily snapshots: MRR and ARR, the movements, ARPU, logo and
//! revenue churn, net revenue retention, trial-to-paid, LTV, CAC and its payback, activation,
//! notification success and dunning recovery. Definitions: docs/analytics.md.
//!
//! Everything is added up from days, so any period (30 days, a calendar month, a year, a custom
//! range) is computed the same way, and a past period only changes if its snapshots do.

use time::{Date, Month};

use crate::money::Cents;

use super::Ratio;
use super::movements::Movements;

/// What the daily snapshot keeps of one UTC day (the state at its end, the flows during it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DaySnapshot {
    pub day: Date,
    pub mrr: Cents,
    pub paying_customers: u64,
    pub trialing: u64,
    pub movements: Movements,
    /// Overage and one-off charges (prorated upgrades) invoiced during the day: revenue, not MRR.
    pub other_revenue: Cents,
    /// Trials whose end was three days (the grace) before this day, and those of them paying
    /// at this day's end.
    pub trials_ended: u64,
    pub trials_converted: u64,
    /// Devices shipped 30 days before this day, and those of them claimed within 30 days.
    pub shipped: u64,
    pub activated: u64,
    /// Mail events of the day that were notified, and those with a channel delivered.
    pub notifications_attempted: u64,
    pub notifications_delivered: u64,
    /// Invoices whose first charge failed during the day, and failed invoices paid during it.
    pub first_failures: u64,
    pub recovered: u64,
    /// Usage periods (one device's billing month) that ended during the day, and their bytes.
    pub data_periods: u64,
    pub data_bytes: u64,
}

/// The distribution of one period's bytes per device.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Spread {
    pub devices: u64,
    pub mean: Option<Ratio>,
    pub p50: Option<u64>,
    pub p95: Option<u64>,
}

/// Mean and nearest-rank 50th and 95th percentiles of `values` (selected, not sorted: a year of
/// a large fleet's periods is over a million values).
pub fn spread(mut values: Vec<u64>) -> Spread {
    let n = values.len();
    let mean = Ratio::new(values.iter().map(|v| i128::from(*v)).sum(), n as i128);
    let mut rank = |p: usize| {
        let k = (p * n).div_ceil(100).max(1);
        (k <= n).then(|| *values.select_nth_unstable(k - 1).1)
    };
    Spread {
        devices: n as u64,
        mean,
        p50: rank(50),
        p95: rank(95),
    }
}

/// The figures of a period.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PeriodFigures {
    pub days: u32,
    pub mrr_start: Cents,
    pub mrr_end: Cents,
    /// MRR at the end x 12.
    pub arr: Cents,
    pub paying_start: u64,
    pub paying_end: u64,
    pub movements: Movements,
    pub other_revenue: Cents,
    /// Acquisition spend falling in the period (each month's spent evenly over its days).
    pub spend: Ratio,
    /// MRR at the end / paying customers at the end.
    pub arpu: Option<Ratio>,
    /// Customers churned in the period / paying customers at its start.
    pub logo_churn: Option<Ratio>,
    /// Churned MRR / MRR at the start.
    pub revenue_churn: Option<Ratio>,
    /// (MRR at the start + expansion - contraction - churn) / MRR at the start.
    pub net_revenue_retention: Option<Ratio>,
    pub trial_to_paid: Option<Ratio>,
    /// ARPU / monthly revenue churn.
    pub ltv: Option<Ratio>,
    /// Spend / new customers.
    pub cac: Option<Ratio>,
    /// Months of ARPU that pay back the CAC.
    pub cac_payback_months: Option<Ratio>,
    pub activation: Option<Ratio>,
    pub notification_success: Option<Ratio>,
    pub dunning_recovery: Option<Ratio>,
    /// Mean bytes per device: bytes of the usage periods that ended in the period / their number.
    pub data_per_device: Option<Ratio>,
}

/// The figures of the period made of `days` (consecutive, oldest first), `before` being the
/// snapshot of the day before it (`None`: nothing before, all zero), with `spend` from
/// [`spend_in_days`].
pub fn period_figures(
    before: Option<&DaySnapshot>,
    days: &[DaySnapshot],
    spend: Ratio,
) -> PeriodFigures {
    let mrr_start = before.map_or(Cents::ZERO, |d| d.mrr);
    let paying_start = before.map_or(0, |d| d.paying_customers);
    let last = days.last().or(before);
    let mrr_end = last.map_or(Cents::ZERO, |d| d.mrr);
    let paying_end = last.map_or(0, |d| d.paying_customers);
    let mut movements = Movements::default();
    let mut totals = [0u64; 10];
    let mut other_revenue = Cents::ZERO;
    for day in days {
        movements.merge(&day.movements);
        other_revenue += day.other_revenue;
        for (total, value) in totals.iter_mut().zip([
            day.trials_ended,
            day.trials_converted,
            day.shipped,
            day.activated,
            day.notifications_attempted,
            day.notifications_delivered,
            day.first_failures,
            day.recovered,
            day.data_periods,
            day.data_bytes,
        ]) {
            *total += value;
        }
    }
    let [
        ended,
        converted,
        shipped,
        activated,
        attempted,
        delivered,
        failed,
        recovered,
        data_periods,
        data_bytes,
    ] = totals;
    let rate = |n: u64, d: u64| Ratio::new(i128::from(n), i128::from(d));
    let cents = |c: Cents| i128::from(c.get());
    let arpu = Ratio::new(cents(mrr_end), i128::from(paying_end));
    let revenue_churn = Ratio::new(cents(movements.churn), cents(mrr_start));
    let cac = spend.checked_div(Ratio::from_integer(i128::from(movements.new_customers)));
    let days_count = days.len() as u32;
    PeriodFigures {
        days: days_count,
        mrr_start,
        mrr_end,
        arr: mrr_end * 12,
        paying_start,
        paying_end,
        movements,
        other_revenue,
        spend,
        arpu,
        logo_churn: rate(movements.churned_customers, paying_start),
        revenue_churn,
        net_revenue_retention: Ratio::new(
            cents(mrr_start + movements.expansion - movements.contraction - movements.churn),
            cents(mrr_start),
        ),
        trial_to_paid: rate(converted, ended),
        ltv: ltv(arpu, revenue_churn, days_count),
        cac,
        cac_payback_months: cac_payback(cac, arpu),
        activation: rate(activated, shipped),
        notification_success: rate(delivered, attempted),
        dunning_recovery: rate(recovered, failed),
        data_per_device: rate(data_bytes, data_periods),
    }
}

/// Lifetime value: ARPU / monthly revenue churn, the period's churn brought to 30 days
/// (`arpu x days / (churn x 30)`). `None` without churn: a lifetime with no end is no figure.
pub fn ltv(arpu: Option<Ratio>, revenue_churn: Option<Ratio>, days: u32) -> Option<Ratio> {
    let monthly_churn = revenue_churn?.checked_div(Ratio::new(i128::from(days), 30)?)?;
    arpu?.checked_div(monthly_churn)
}

/// CAC payback in months: CAC / ARPU.
pub fn cac_payback(cac: Option<Ratio>, arpu: Option<Ratio>) -> Option<Ratio> {
    cac?.checked_div(arpu?)
}

/// The acquisition spend falling on `days`: each month's spend (`spend_of(year, month)`)
/// spread evenly over its days, so a full month counts its spend exactly.
pub fn spend_in_days(
    days: impl IntoIterator<Item = Date>,
    spend_of: impl Fn(i32, Month) -> Cents,
) -> Ratio {
    days.into_iter()
        .filter_map(|day| {
            Ratio::new(
                i128::from(spend_of(day.year(), day.month()).get()),
                i128::from(day.month().length(day.year())),
            )
        })
        .fold(Ratio::from_integer(0), |sum, part| {
            sum.checked_add(part).unwrap_or(sum)
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::date;

    fn day(d: Date, mrr: i64, paying: u64) -> DaySnapshot {
        DaySnapshot {
            day: d,
            mrr: Cents::new(mrr),
            paying_customers: paying,
            trialing: 0,
            movements: Movements::default(),
            other_revenue: Cents::ZERO,
            trials_ended: 0,
            trials_converted: 0,
            shipped: 0,
            activated: 0,
            notifications_attempted: 0,
            notifications_delivered: 0,
            first_failures: 0,
            recovered: 0,
            data_periods: 0,
            data_bytes: 0,
        }
    }

    #[test]
    fn percentiles_are_nearest_rank() {
        let s = spread((1..=20).collect());
        assert_eq!((s.devices, s.p50, s.p95), (20, Some(10), Some(19)));
        assert_eq!(s.mean, Ratio::new(21, 2));
        let one = spread(vec![7]);
        assert_eq!((one.p50, one.p95), (Some(7), Some(7)));
        assert_eq!(spread(Vec::new()).mean, None);
    }

    #[test]
    fn a_months_spend_counts_whole_and_a_part_of_it_pro_rata() {
        let spend_of = |_, month| match month {
            Month::February => Cents::new(28_000),
            _ => Cents::ZERO,
        };
        let february = (1..=28).map(|d| Date::from_calendar_date(2027, Month::February, d));
        let february: Vec<Date> = february.filter_map(Result::ok).collect();
        assert_eq!(
            spend_in_days(february.iter().copied(), spend_of),
            Ratio::from_integer(28_000)
        );
        assert_eq!(
            spend_in_days(february[..7].iter().copied(), spend_of),
            Ratio::from_integer(7_000)
        );
    }

    #[test]
    fn a_period_adds_up_its_days() {
        let before = day(date!(2027 - 01 - 31), 10_000, 10);
        let mut first = day(date!(2027 - 02 - 01), 11_000, 11);
        first.movements.record(
            super::super::MovementKind::New,
            Cents::ZERO,
            Cents::new(1_000),
        );
        first.other_revenue = Cents::new(250);
        first.trials_ended = 2;
        first.trials_converted = 1;
        let mut second = day(date!(2027 - 02 - 02), 9_000, 10);
        second.movements.record(
            super::super::MovementKind::Churn,
            Cents::new(2_000),
            Cents::ZERO,
        );
        second.first_failures = 4;
        second.recovered = 3;
        second.data_periods = 4;
        second.data_bytes = 10;
        let p = period_figures(Some(&before), &[first, second], Ratio::from_integer(5_000));
        assert_eq!(
            (p.mrr_start, p.mrr_end, p.arr),
            (Cents::new(10_000), Cents::new(9_000), Cents::new(108_000))
        );
        assert_eq!(p.arpu, Ratio::new(900, 1));
        assert_eq!(p.logo_churn, Ratio::new(1, 10));
        assert_eq!(p.revenue_churn, Ratio::new(1, 5));
        assert_eq!(p.net_revenue_retention, Ratio::new(4, 5));
        assert_eq!(p.trial_to_paid, Ratio::new(1, 2));
        assert_eq!(p.cac, Ratio::new(5_000, 1));
        assert_eq!(p.cac_payback_months, Ratio::new(50, 9));
        // Churn 1/5 over 2 days is 3 a month; LTV = 900 / 3.
        assert_eq!(p.ltv, Ratio::new(300, 1));
        assert_eq!(p.dunning_recovery, Ratio::new(3, 4));
        assert_eq!(p.activation, None);
        assert_eq!(p.other_revenue, Cents::new(250));
        assert_eq!(p.data_per_device, Ratio::new(5, 2));
    }
}
