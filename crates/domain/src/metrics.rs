//! Business metrics for the admin analytics (DESIGN §4), as pure functions over snapshots the
//! server loads.
//!
//! Every metric is returned exactly: sums as `Cents`, quotients as a reduced `Ratio`, so that
//! nothing is rounded until it is shown. A quotient with nothing to divide by (no paying
//! customers, no devices shipped, ...) is `None`, not zero, because "no data" and "0 %" mean
//! different things on a dashboard. Rounding for display is explicit: `Ratio::round_half_up`,
//! `Ratio::to_cents` (half-up to the cent) or `Ratio::to_f64`.

mod history;
mod movements;
mod period;

pub use history::{PastChange, Stretch, SubscriptionHistory, state_before};
pub use movements::{
    CustomerHistory, CustomerMovement, DayFigures, MovementKind, Movements, day_figures,
};
pub use period::{
    DaySnapshot, PeriodFigures, Spread, cac_payback, ltv, period_figures, spend_in_days, spread,
};

use std::collections::BTreeSet;
use std::fmt;

use crate::money::Cents;
use crate::plan::PlanId;
use crate::subscription::SubscriptionStatus;

/// An exact fraction, kept reduced with a positive denominator.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Ratio {
    numerator: i128,
    denominator: i128,
}

impl Ratio {
    /// `numerator / denominator`, or `None` when the denominator is zero.
    pub fn new(numerator: i128, denominator: i128) -> Option<Ratio> {
        if denominator == 0 {
            return None;
        }
        let sign = denominator.signum();
        let divisor = gcd(numerator, denominator).max(1);
        Some(Ratio {
            numerator: sign * numerator / divisor,
            denominator: sign * denominator / divisor,
        })
    }

    /// `n / 1`.
    pub const fn from_integer(n: i128) -> Ratio {
        Ratio {
            numerator: n,
            denominator: 1,
        }
    }

    pub const fn numerator(self) -> i128 {
        self.numerator
    }

    pub const fn denominator(self) -> i128 {
        self.denominator
    }

    /// The nearest integer, halves rounded up (towards positive infinity).
    pub fn round_half_up(self) -> i128 {
        (2 * self.numerator + self.denominator).div_euclid(2 * self.denominator)
    }

    /// For a ratio that counts cents (ARPU, CAC): the amount rounded half-up to the cent.
    /// Saturates at the limits of `Cents`, which no real metric approaches.
    pub fn to_cents(self) -> Cents {
        let cents = self.round_half_up();
        Cents::new(i64::try_from(cents).unwrap_or(if cents < 0 { i64::MIN } else { i64::MAX }))
    }

    /// `self + other`, exact (`None` only on overflow, which no metric approaches).
    pub fn checked_add(self, other: Ratio) -> Option<Ratio> {
        let numerator = self
            .numerator
            .checked_mul(other.denominator)?
            .checked_add(other.numerator.checked_mul(self.denominator)?)?;
        Ratio::new(numerator, self.denominator.checked_mul(other.denominator)?)
    }

    /// `self / other`, exact; `None` when `other` is zero.
    pub fn checked_div(self, other: Ratio) -> Option<Ratio> {
        Ratio::new(
            self.numerator.checked_mul(other.denominator)?,
            self.denominator.checked_mul(other.numerator)?,
        )
    }

    /// An approximation for charts and percentages.
    pub fn to_f64(self) -> f64 {
        self.numerator as f64 / self.denominator as f64
    }
}

/// `3/4`, or `3` when the denominator is 1.
impl fmt::Display for Ratio {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.denominator == 1 {
            write!(f, "{}", self.numerator)
        } else {
            write!(f, "{}/{}", self.numerator, self.denominator)
        }
    }
}

fn gcd(a: i128, b: i128) -> i128 {
    let (mut a, mut b) = (a.unsigned_abs(), b.unsigned_abs());
    while b != 0 {
        (a, b) = (b, a % b);
    }
    i128::try_from(a).unwrap_or(1)
}

/// One subscription as seen at a moment: whose it is, its plan and its status. `C` is whatever
/// identifies a customer in the caller (a uuid, an id).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubscriptionSnapshot<C> {
    pub customer: C,
    pub plan: PlanId,
    pub status: SubscriptionStatus,
}

/// Monthly recurring revenue: the plan prices of subscriptions that are `active` or `past_due`.
/// Trials are out (they pay nothing yet); grace is in (the customer has not left).
pub fn mrr<C>(subscriptions: &[SubscriptionSnapshot<C>]) -> Cents {
    subscriptions
        .iter()
        .filter(|s| s.status.is_paying())
        .map(|s| s.plan.plan().price)
        .sum()
}

/// Customers with at least one paying subscription (one customer may own several devices).
pub fn paying_customers<C: Ord>(subscriptions: &[SubscriptionSnapshot<C>]) -> BTreeSet<&C> {
    subscriptions
        .iter()
        .filter(|s| s.status.is_paying())
        .map(|s| &s.customer)
        .collect()
}

/// Average revenue per paying customer, in cents: MRR / paying customers.
pub fn arpu<C: Ord>(subscriptions: &[SubscriptionSnapshot<C>]) -> Option<Ratio> {
    Ratio::new(
        i128::from(mrr(subscriptions).get()),
        count(paying_customers(subscriptions).len()),
    )
}

/// Logo churn over a month: customers paying at its start and not at its end, over customers
/// paying at its start.
pub fn logo_churn<C: Ord>(
    at_start: &[SubscriptionSnapshot<C>],
    at_end: &[SubscriptionSnapshot<C>],
) -> Option<Ratio> {
    let before = paying_customers(at_start);
    let after = paying_customers(at_end);
    let lost = before.difference(&after).count();
    Ratio::new(count(lost), count(before.len()))
}

/// Revenue churn over a month: the start-of-month MRR of customers who no longer pay at its
/// end, over the MRR at its start. Downgrades of customers who stay are not churn.
pub fn revenue_churn<C: Ord>(
    at_start: &[SubscriptionSnapshot<C>],
    at_end: &[SubscriptionSnapshot<C>],
) -> Option<Ratio> {
    let after = paying_customers(at_end);
    let lost: Cents = at_start
        .iter()
        .filter(|s| s.status.is_paying() && !after.contains(&s.customer))
        .map(|s| s.plan.plan().price)
        .sum();
    Ratio::new(i128::from(lost.get()), i128::from(mrr(at_start).get()))
}

/// Customers paying at a month's end who were not paying at its start (new or won back): the
/// denominator of CAC.
pub fn new_paying_customers<C: Ord>(
    at_start: &[SubscriptionSnapshot<C>],
    at_end: &[SubscriptionSnapshot<C>],
) -> u64 {
    let before = paying_customers(at_start);
    let gained = paying_customers(at_end).difference(&before).count();
    u64::try_from(gained).unwrap_or(u64::MAX)
}

/// Devices made and sent out, and how many of them customers claimed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DeviceFunnel {
    pub shipped: u64,
    pub claimed: u64,
}

/// Activation rate: devices claimed / devices shipped.
pub fn activation_rate(funnel: DeviceFunnel) -> Option<Ratio> {
    Ratio::new(i128::from(funnel.claimed), i128::from(funnel.shipped))
}

/// One month's acquisition: the spend the admin entered and the customers it brought.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AcquisitionMonth {
    pub spend: Cents,
    pub new_paying_customers: u64,
}

/// Customer acquisition cost, in cents: spend / new paying customers.
pub fn cac(month: AcquisitionMonth) -> Option<Ratio> {
    Ratio::new(
        i128::from(month.spend.get()),
        i128::from(month.new_paying_customers),
    )
}

/// Device-API traffic of one period and the devices that were active in it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DataUsage {
    pub total_bytes: u64,
    pub active_devices: u64,
}

/// Data per device: mean bytes per active device in the period.
pub fn data_per_device(usage: DataUsage) -> Option<Ratio> {
    Ratio::new(
        i128::from(usage.total_bytes),
        i128::from(usage.active_devices),
    )
}

/// Notifications attempted and those with at least one channel delivered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NotificationOutcomes {
    pub attempted: u64,
    pub delivered: u64,
}

/// Notification success: notifications with at least one channel delivered / attempted.
pub fn notification_success_rate(outcomes: NotificationOutcomes) -> Option<Ratio> {
    Ratio::new(
        i128::from(outcomes.delivered),
        i128::from(outcomes.attempted),
    )
}

fn count(n: usize) -> i128 {
    i128::try_from(n).unwrap_or(i128::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sub(customer: u32, plan: PlanId, status: SubscriptionStatus) -> SubscriptionSnapshot<u32> {
        SubscriptionSnapshot {
            customer,
            plan,
            status,
        }
    }

    fn ratio(n: i128, d: i128) -> Option<Ratio> {
        Ratio::new(n, d)
    }

    use PlanId::{Basic, Plus, Premium};
    use SubscriptionStatus::{Active, Canceled, PastDue, Suspended, Trialing};

    #[test]
    fn ratios_are_reduced_with_a_positive_denominator() {
        let r = Ratio::new(6, -8);
        assert_eq!(r.map(|r| (r.numerator(), r.denominator())), Some((-3, 4)));
        assert_eq!(Ratio::new(1, 0), None);
        assert_eq!(
            Ratio::new(0, 5).map(|r| r.to_string()).as_deref(),
            Some("0")
        );
        assert_eq!(
            Ratio::new(10, 4).map(|r| r.to_string()).as_deref(),
            Some("5/2")
        );
    }

    #[test]
    fn ratios_round_halves_up() {
        let rounded = |n, d| Ratio::new(n, d).map(Ratio::round_half_up);
        assert_eq!(rounded(5, 2), Some(3));
        assert_eq!(rounded(7, 3), Some(2));
        assert_eq!(rounded(-5, 2), Some(-2));
        assert_eq!(
            Ratio::new(2500, 3).map(Ratio::to_cents),
            Some(Cents::new(833))
        );
    }

    #[test]
    fn mrr_counts_active_and_past_due_but_not_trials() {
        let subs = [
            sub(1, Basic, Active),
            sub(2, Plus, PastDue),
            sub(3, Premium, Trialing),
            sub(4, Premium, Suspended),
            sub(5, Premium, Canceled),
        ];
        assert_eq!(mrr(&subs), Cents::new(1500));
    }

    #[test]
    fn arpu_divides_mrr_by_customers_not_devices() {
        let subs = [
            sub(1, Basic, Active),
            sub(1, Plus, Active),
            sub(2, Premium, PastDue),
            sub(3, Premium, Trialing),
        ];
        assert_eq!(arpu(&subs), ratio(3500, 2));
        assert_eq!(arpu(&subs).map(Ratio::to_cents), Some(Cents::new(1750)));
        assert_eq!(arpu::<u32>(&[]), None);
    }

    #[test]
    fn logo_churn_is_lost_paying_customers_over_paying_customers_at_start() {
        let start = [
            sub(1, Basic, Active),
            sub(2, Plus, Active),
            sub(3, Premium, PastDue),
            sub(4, Basic, Active),
            sub(5, Basic, Trialing),
        ];
        let end = [
            sub(1, Basic, Active),
            sub(2, Plus, Canceled),
            sub(3, Premium, Suspended),
            sub(4, Basic, Active),
            sub(5, Basic, Active),
        ];
        assert_eq!(logo_churn(&start, &end), ratio(1, 2));
        // Lost: plus (1000) and premium (2000) out of 500 + 1000 + 2000 + 500.
        assert_eq!(revenue_churn(&start, &end), ratio(3, 4));
        assert_eq!(new_paying_customers(&start, &end), 1);
    }

    #[test]
    fn a_customer_who_keeps_one_of_two_devices_has_not_churned() {
        let start = [sub(1, Basic, Active), sub(1, Premium, Active)];
        let end = [sub(1, Basic, Active), sub(1, Premium, Canceled)];
        assert_eq!(logo_churn(&start, &end), ratio(0, 1));
        assert_eq!(revenue_churn(&start, &end), ratio(0, 1));
    }

    #[test]
    fn churn_without_paying_customers_at_start_is_undefined() {
        assert_eq!(logo_churn::<u32>(&[], &[sub(1, Basic, Active)]), None);
        assert_eq!(revenue_churn::<u32>(&[sub(1, Basic, Trialing)], &[]), None);
    }

    #[test]
    fn rates_divide_the_successes_by_the_attempts() {
        assert_eq!(
            activation_rate(DeviceFunnel {
                shipped: 200,
                claimed: 150
            }),
            ratio(3, 4)
        );
        assert_eq!(
            notification_success_rate(NotificationOutcomes {
                attempted: 1000,
                delivered: 995
            }),
            ratio(199, 200)
        );
        assert_eq!(
            notification_success_rate(NotificationOutcomes {
                attempted: 0,
                delivered: 0
            }),
            None
        );
    }

    #[test]
    fn cac_is_spend_per_new_paying_customer() {
        let month = AcquisitionMonth {
            spend: Cents::new(100_000),
            new_paying_customers: 3,
        };
        assert_eq!(cac(month).map(Ratio::to_cents), Some(Cents::new(33_333)));
        assert_eq!(
            cac(AcquisitionMonth {
                spend: Cents::new(100),
                new_paying_customers: 0
            }),
            None
        );
    }

    #[test]
    fn data_per_device_is_the_mean_over_active_devices() {
        let usage = DataUsage {
            total_bytes: 3_000_000_001,
            active_devices: 3,
        };
        assert_eq!(data_per_device(usage), ratio(3_000_000_001, 3));
        assert_eq!(
            data_per_device(usage).map(Ratio::round_half_up),
            Some(1_000_000_000)
        );
    }
}
