//! The prorated charge for an upgrade (DESIGN §4): an upgrade takes effect at once and costs the
//! price difference times the share of the period that remains, by the second, rounded half-up
//! to the cent. Downgrades take effect at the next period, so they are never prorated.

use thiserror::Error;
use time::OffsetDateTime;

use crate::money::Cents;
use crate::period::BillingPeriod;
use crate::plan::{PlanChange, PlanId};

/// Why an upgrade cannot be prorated.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ProrationError {
    #[error("moving from {from} to {to} is not an upgrade; only upgrades are prorated")]
    NotAnUpgrade { from: PlanId, to: PlanId },
    #[error("{now} is outside the billing period {start} to {end}")]
    OutsidePeriod {
        now: OffsetDateTime,
        start: OffsetDateTime,
        end: OffsetDateTime,
    },
}

/// What upgrading from `from` to `to` at `now` costs for the rest of `period`.
pub fn prorate_upgrade(
    from: PlanId,
    to: PlanId,
    period: BillingPeriod,
    now: OffsetDateTime,
) -> Result<Cents, ProrationError> {
    if from.change_to(to) != PlanChange::Upgrade {
        return Err(ProrationError::NotAnUpgrade { from, to });
    }
    if !period.contains(now) {
        return Err(ProrationError::OutsidePeriod {
            now,
            start: period.start,
            end: period.end,
        });
    }
    let difference = i128::from((to.plan().price - from.plan().price).get());
    let total = i128::from(period.duration().whole_seconds());
    let remaining = i128::from(period.seconds_until_end(now));
    // Half-up on non-negative numbers: floor((2 * d * r + t) / (2 * t)).
    let cents = (2 * difference * remaining + total) / (2 * total);
    Ok(Cents::new(
        i64::try_from(cents).expect("a share of a price difference fits in i64"),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::period::nth_period;
    use time::Duration;
    use time::macros::datetime;

    /// A 30-day period (Apr 1 to May 1), so shares are easy to compute by hand.
    fn april() -> BillingPeriod {
        nth_period(datetime!(2026-04-01 00:00 UTC), 0)
    }

    #[test]
    fn upgrading_at_the_period_start_costs_the_full_difference() {
        let p = april();
        assert_eq!(
            prorate_upgrade(PlanId::Basic, PlanId::Premium, p, p.start),
            Ok(Cents::new(1500))
        );
    }

    #[test]
    fn upgrading_halfway_costs_half_the_difference() {
        let p = april();
        assert_eq!(
            prorate_upgrade(PlanId::Basic, PlanId::Plus, p, p.start + Duration::days(15)),
            Ok(Cents::new(250))
        );
    }

    #[test]
    fn the_share_is_rounded_half_up_to_the_cent() {
        let p = april();
        // 1 day left of 30: 500 / 30 = 16.67 -> 17.
        let one_day_left = p.end - Duration::days(1);
        assert_eq!(
            prorate_upgrade(PlanId::Basic, PlanId::Plus, p, one_day_left),
            Ok(Cents::new(17))
        );
        // 2.7 days left of 30: 500 * 2.7 / 30 = 45.0 exactly.
        let exact = p.end - Duration::hours(64) - Duration::minutes(48);
        assert_eq!(
            prorate_upgrade(PlanId::Basic, PlanId::Plus, p, exact),
            Ok(Cents::new(45))
        );
        // 11,664 s left of 2,592,000: 1000 * 0.0045 = 4.5 -> 5.
        let half_cent = p.end - Duration::seconds(11_664);
        assert_eq!(
            prorate_upgrade(PlanId::Plus, PlanId::Premium, p, half_cent),
            Ok(Cents::new(5))
        );
    }

    #[test]
    fn a_downgrade_or_no_change_is_not_prorated() {
        let p = april();
        assert_eq!(
            prorate_upgrade(PlanId::Premium, PlanId::Basic, p, p.start),
            Err(ProrationError::NotAnUpgrade {
                from: PlanId::Premium,
                to: PlanId::Basic
            })
        );
        assert!(prorate_upgrade(PlanId::Plus, PlanId::Plus, p, p.start).is_err());
    }

    #[test]
    fn a_time_outside_the_period_is_rejected() {
        let p = april();
        assert!(matches!(
            prorate_upgrade(PlanId::Basic, PlanId::Plus, p, p.end),
            Err(ProrationError::OutsidePeriod { .. })
        ));
    }
}
