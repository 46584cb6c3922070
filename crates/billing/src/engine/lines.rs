//! Invoice lines, pure: the plan price for a period, the overage of a period broken down by what
//! caused it, the spend-cap reduction, and a prorated upgrade. Lines always add up to what the
//! domain rules charge (`capped_overage`, `prorate_upgrade`).

use smartbox_domain::plan::GB;
use smartbox_domain::usage::{SpendCap, UsageCounters, overage};
use smartbox_domain::{BillingPeriod, Cents, PlanId};

/// One invoice line: what it is for, and its amount (negative for a reduction).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Line {
    pub description: String,
    pub amount: Cents,
}

impl Line {
    fn new(description: String, amount: Cents) -> Line {
        Line {
            description,
            amount,
        }
    }
}

/// The total of some lines.
pub(crate) fn total(lines: &[Line]) -> Cents {
    lines.iter().map(|l| l.amount).sum()
}

/// `2027-01-31 to 2027-02-28` (UTC dates; the end is exclusive, as periods are).
pub(crate) fn dates(period: BillingPeriod) -> String {
    format!("{} to {}", period.start.date(), period.end.date())
}

/// The plan's price for `period`, charged in advance.
pub(crate) fn plan_price(plan: PlanId, period: BillingPeriod) -> Line {
    Line::new(
        format!("{} plan, {}", title(plan), dates(period)),
        plan.plan().price,
    )
}

/// The overage of `usage` on `plan` during `period`, one line per cause, then a reduction line
/// when the spend cap cuts it. Nothing when there is no overage.
pub(crate) fn overage_lines(
    plan: PlanId,
    usage: UsageCounters,
    cap: SpendCap,
    period: BillingPeriod,
) -> Vec<Line> {
    let catalog = plan.plan();
    let cost = overage(plan, usage);
    let mut lines = Vec::new();
    if !cost.notifications.is_zero()
        && let (Some(limit), Some(each)) =
            (catalog.notification_limit, catalog.notification_overage)
    {
        let over = usage.notifications.saturating_sub(limit);
        lines.push(Line::new(
            format!(
                "{over} notifications over the {limit} included, {} ({each} each)",
                dates(period)
            ),
            cost.notifications,
        ));
    }
    if !cost.data.is_zero() {
        let blocks = cost.data.get() / catalog.data_overage_per_100mb.get().max(1);
        lines.push(Line::new(
            format!(
                "{blocks} started 100 MB of data over the {} GB included, {} ({} each)",
                catalog.data_limit_bytes / GB,
                dates(period),
                catalog.data_overage_per_100mb
            ),
            cost.data,
        ));
    }
    let uncapped = cost.total();
    if uncapped > cap.get() {
        lines.push(Line::new(
            format!(
                "Spend cap of {} reached: overage above it is not charged",
                cap.get()
            ),
            cap.get() - uncapped,
        ));
    }
    lines
}

/// A prorated upgrade for the rest of `period` from `from` to `to`.
pub(crate) fn upgrade(
    from: PlanId,
    to: PlanId,
    period: BillingPeriod,
    now: time::OffsetDateTime,
    amount: Cents,
) -> Line {
    Line::new(
        format!(
            "Upgrade from {} to {} for the rest of the period, {} to {} (prorated by the second)",
            title(from),
            title(to),
            now.date(),
            period.end.date()
        ),
        amount,
    )
}

/// `Basic`, `Plus`, `Premium`.
pub(crate) fn title(plan: PlanId) -> &'static str {
    match plan {
        PlanId::Basic => "Basic",
        PlanId::Plus => "Plus",
        PlanId::Premium => "Premium",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use smartbox_domain::period::nth_period;
    use smartbox_domain::plan::DATA_OVERAGE_BLOCK_BYTES;
    use smartbox_domain::usage::capped_overage;
    use time::macros::datetime;

    fn april() -> BillingPeriod {
        nth_period(datetime!(2026-04-01 00:00 UTC), 0)
    }

    fn usage(notifications: u64, data_bytes: u64) -> UsageCounters {
        UsageCounters {
            notifications,
            data_bytes,
        }
    }

    #[test]
    fn the_price_line_names_the_plan_and_the_period() {
        let line = plan_price(PlanId::Plus, april());
        assert_eq!(line.description, "Plus plan, 2026-04-01 to 2026-05-01");
        assert_eq!(line.amount, Cents::new(1000));
    }

    #[test]
    fn usage_exactly_at_the_limits_adds_no_line() {
        let lines = overage_lines(
            PlanId::Basic,
            usage(100, GB),
            SpendCap::default_for(PlanId::Basic),
            april(),
        );
        assert!(lines.is_empty(), "{lines:?}");
    }

    #[test]
    fn one_over_each_limit_adds_one_line_per_cause() {
        let lines = overage_lines(
            PlanId::Basic,
            usage(101, GB + 1),
            SpendCap::default_for(PlanId::Basic),
            april(),
        );
        assert_eq!(lines.len(), 2);
        assert_eq!(
            lines[0].description,
            "1 notifications over the 100 included, 2026-04-01 to 2026-05-01 ($0.05 each)"
        );
        assert_eq!(lines[0].amount, Cents::new(5));
        assert_eq!(
            lines[1].description,
            "1 started 100 MB of data over the 1 GB included, 2026-04-01 to 2026-05-01 ($0.20 each)"
        );
        assert_eq!(lines[1].amount, Cents::new(20));
    }

    #[test]
    fn the_cap_reduces_the_overage_to_exactly_the_cap() {
        let heavy = usage(300, GB + 7 * DATA_OVERAGE_BLOCK_BYTES);
        let cap = SpendCap::default_for(PlanId::Basic);
        let lines = overage_lines(PlanId::Basic, heavy, cap, april());
        assert_eq!(lines.len(), 3);
        assert_eq!(lines[2].amount, Cents::new(500 - 1000 - 140));
        assert_eq!(total(&lines), Cents::new(500));
        assert_eq!(total(&lines), capped_overage(PlanId::Basic, heavy, cap));
    }

    #[test]
    fn overage_landing_exactly_on_the_cap_is_not_reduced() {
        let cap = SpendCap::new(PlanId::Basic, Cents::new(50)).expect("valid cap");
        let lines = overage_lines(PlanId::Basic, usage(110, 0), cap, april());
        assert_eq!(lines.len(), 1);
        assert_eq!(total(&lines), Cents::new(50));
    }

    #[test]
    fn premium_has_only_data_overage() {
        let lines = overage_lines(
            PlanId::Premium,
            usage(10_000, 20 * GB + 2 * DATA_OVERAGE_BLOCK_BYTES),
            SpendCap::default_for(PlanId::Premium),
            april(),
        );
        assert_eq!(lines.len(), 1);
        assert_eq!(lines[0].amount, Cents::new(40));
    }
}
