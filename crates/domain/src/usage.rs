//! Usage metering, overage and the spend cap (DESIGN §4).
//!
//! Counters belong to one (subscription, period). Usage past the plan's limits is overage:
//! 5 cents per notification (premium has none) and 20 cents per *started* 100 MB of data. The
//! customer's spend cap bounds the overage invoiced for a period, and an event whose
//! notification would push the overage past the cap is refused until the period ends.
//! Heartbeats only add data and are never refused, so data overage can exceed the cap; only
//! the capped amount is ever invoiced.

use serde::{Deserialize, Serialize};
use thiserror::Error;
use time::OffsetDateTime;

use crate::money::Cents;
use crate::plan::{DATA_OVERAGE_BLOCK_BYTES, PlanId};

/// What a subscription used in one period.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct UsageCounters {
    /// Mail events notified to the customer (all channels together count once).
    pub notifications: u64,
    /// Bytes of device-API requests and responses, headers included, firmware excluded.
    pub data_bytes: u64,
}

impl UsageCounters {
    /// The counters with one more notification.
    pub const fn add_notification(self) -> Self {
        UsageCounters {
            notifications: self.notifications.saturating_add(1),
            data_bytes: self.data_bytes,
        }
    }

    /// The counters with `bytes` more data. Saturates rather than wrapping, so a corrupt
    /// counter can only overcharge up to the cap, never reset to free.
    pub const fn add_data_bytes(self, bytes: u64) -> Self {
        UsageCounters {
            notifications: self.notifications,
            data_bytes: self.data_bytes.saturating_add(bytes),
        }
    }
}

/// Overage of one period, before the spend cap.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Overage {
    pub notifications: Cents,
    pub data: Cents,
}

impl Overage {
    pub fn total(self) -> Cents {
        self.notifications + self.data
    }
}

/// The overage `counters` incur on `plan`, uncapped.
pub fn overage(plan: PlanId, counters: UsageCounters) -> Overage {
    let plan = plan.plan();
    let notifications = match (plan.notification_limit, plan.notification_overage) {
        (Some(limit), Some(each)) => times(each, counters.notifications.saturating_sub(limit)),
        _ => Cents::ZERO,
    };
    let excess_bytes = counters.data_bytes.saturating_sub(plan.data_limit_bytes);
    let started_blocks = excess_bytes.div_ceil(DATA_OVERAGE_BLOCK_BYTES);
    Overage {
        notifications,
        data: times(plan.data_overage_per_100mb, started_blocks),
    }
}

/// `price * count`, saturating: counts come from counters, which are not bounded.
fn times(price: Cents, count: u64) -> Cents {
    let count = i64::try_from(count).unwrap_or(i64::MAX);
    Cents::new(price.get().saturating_mul(count))
}

/// The most overage a customer accepts per period: between $0 and 10x the plan price.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(transparent)]
pub struct SpendCap(Cents);

/// A spend cap outside what the plan allows.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("spend cap {cap} is outside $0.00 to {max} allowed on the {plan} plan")]
pub struct SpendCapError {
    pub cap: Cents,
    pub plan: PlanId,
    pub max: Cents,
}

impl SpendCap {
    /// Validates a cap the customer chose for `plan`.
    pub fn new(plan: PlanId, cap: Cents) -> Result<SpendCap, SpendCapError> {
        let max = SpendCap::max_for(plan);
        if cap < Cents::ZERO || cap > max {
            return Err(SpendCapError { cap, plan, max });
        }
        Ok(SpendCap(cap))
    }

    /// The cap a subscription starts with: the plan price.
    pub fn default_for(plan: PlanId) -> SpendCap {
        SpendCap(plan.plan().price)
    }

    /// The highest cap allowed on `plan`: 10x its price.
    pub fn max_for(plan: PlanId) -> Cents {
        plan.plan().price * 10
    }

    /// This cap brought within what `plan` allows, for when the plan changes (a premium cap of
    /// $200 becomes basic's maximum of $50 on a downgrade).
    pub fn fit_to(self, plan: PlanId) -> SpendCap {
        SpendCap(self.0.min(SpendCap::max_for(plan)))
    }

    pub fn get(self) -> Cents {
        self.0
    }
}

/// The overage invoiced for a period: the overage, but never more than the cap.
pub fn capped_overage(plan: PlanId, counters: UsageCounters, cap: SpendCap) -> Cents {
    overage(plan, counters).total().min(cap.get())
}

/// The most notifications a period may count, with `data_bytes` of data, while its overage stays
/// within `cap`; `None` when notifications alone never pass it (no notification overage). The
/// store checks a new event against it inside the event's transaction, so events in flight at
/// the same time cannot each pass the cap.
pub fn notifications_within_cap(plan: PlanId, data_bytes: u64, cap: SpendCap) -> Option<u64> {
    let within = |notifications: u64| {
        let counters = UsageCounters {
            notifications,
            data_bytes,
        };
        overage(plan, counters).total() <= cap.get()
    };
    const NEVER: u64 = 1 << 40;
    if within(NEVER) {
        return None;
    }
    if !within(0) {
        return Some(0);
    }
    // `within(low)` holds and `within(high)` does not.
    let (mut low, mut high) = (0, NEVER);
    while high - low > 1 {
        let mid = low + (high - low) / 2;
        if within(mid) {
            low = mid;
        } else {
            high = mid;
        }
    }
    Some(low)
}

/// Whether a mail event may be accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UsageDecision {
    Accept,
    /// Answer 429 with `Retry-After: retry_after_s` (seconds until the period ends, at least 1).
    Refuse {
        retry_after_s: u64,
    },
}

/// Decides an incoming mail event, which adds one notification to `counters_before`: refused
/// when the overage with that notification would pass the cap, until the period (which ends at
/// `period_end`) is over and the counters start again at zero.
pub fn decide_event(
    plan: PlanId,
    counters_before: UsageCounters,
    cap: SpendCap,
    period_end: OffsetDateTime,
    now: OffsetDateTime,
) -> UsageDecision {
    let after = counters_before.add_notification();
    if overage(plan, after).total() <= cap.get() {
        return UsageDecision::Accept;
    }
    // Round up so the device never retries before the new period has started.
    let remaining = period_end - now;
    let mut seconds = remaining.whole_seconds();
    if remaining.subsec_nanoseconds() > 0 {
        seconds += 1;
    }
    UsageDecision::Refuse {
        retry_after_s: u64::try_from(seconds).unwrap_or(0).max(1),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::GB;
    use time::Duration;
    use time::macros::datetime;

    const NOW: OffsetDateTime = datetime!(2026-05-20 10:00 UTC);
    const PERIOD_END: OffsetDateTime = datetime!(2026-06-01 00:00 UTC);

    fn counters(notifications: u64, data_bytes: u64) -> UsageCounters {
        UsageCounters {
            notifications,
            data_bytes,
        }
    }

    fn cap(plan: PlanId, cents: i64) -> SpendCap {
        match SpendCap::new(plan, Cents::new(cents)) {
            Ok(cap) => cap,
            Err(err) => panic!("{err}"),
        }
    }

    #[test]
    fn usage_within_the_limits_costs_nothing() {
        assert_eq!(
            overage(PlanId::Basic, counters(100, GB)),
            Overage::default()
        );
    }

    #[test]
    fn each_notification_past_the_limit_costs_five_cents() {
        let o = overage(PlanId::Basic, counters(103, 0));
        assert_eq!(o.notifications, Cents::new(15));
        assert_eq!(
            overage(PlanId::Plus, counters(501, 0)).total(),
            Cents::new(5)
        );
    }

    #[test]
    fn premium_notifications_never_cost_overage() {
        assert_eq!(
            overage(PlanId::Premium, counters(1_000_000, 0)).total(),
            Cents::ZERO
        );
    }

    #[test]
    fn one_byte_past_the_limit_starts_a_block() {
        assert_eq!(
            overage(PlanId::Basic, counters(0, GB + 1)).data,
            Cents::new(20)
        );
    }

    #[test]
    fn one_hundred_megabytes_and_one_byte_over_is_two_started_blocks() {
        let bytes = GB + DATA_OVERAGE_BLOCK_BYTES + 1;
        assert_eq!(
            overage(PlanId::Basic, counters(0, bytes)).data,
            Cents::new(40)
        );
        let exactly_one_block = GB + DATA_OVERAGE_BLOCK_BYTES;
        assert_eq!(
            overage(PlanId::Basic, counters(0, exactly_one_block)).data,
            Cents::new(20)
        );
    }

    #[test]
    fn the_total_adds_notification_and_data_overage() {
        let o = overage(PlanId::Plus, counters(510, 5 * GB + 250_000_000));
        assert_eq!(o.notifications, Cents::new(50));
        assert_eq!(o.data, Cents::new(60));
        assert_eq!(o.total(), Cents::new(110));
    }

    #[test]
    fn the_invoiced_overage_stops_at_the_cap() {
        let heavy = counters(1000, 3 * GB);
        assert_eq!(
            overage(PlanId::Basic, heavy).total(),
            Cents::new(4500 + 400)
        );
        assert_eq!(
            capped_overage(PlanId::Basic, heavy, SpendCap::default_for(PlanId::Basic)),
            Cents::new(500)
        );
        assert_eq!(
            capped_overage(PlanId::Basic, counters(101, 0), cap(PlanId::Basic, 100)),
            Cents::new(5)
        );
    }

    #[test]
    fn the_spend_cap_ranges_from_zero_to_ten_times_the_price() {
        assert_eq!(SpendCap::default_for(PlanId::Plus).get(), Cents::new(1000));
        assert!(SpendCap::new(PlanId::Basic, Cents::ZERO).is_ok());
        assert!(SpendCap::new(PlanId::Basic, Cents::new(5000)).is_ok());
        let err = SpendCap::new(PlanId::Basic, Cents::new(5001)).err();
        assert_eq!(
            err.map(|e| e.to_string()).as_deref(),
            Some("spend cap $50.01 is outside $0.00 to $50.00 allowed on the basic plan")
        );
        assert!(SpendCap::new(PlanId::Basic, Cents::new(-1)).is_err());
    }

    #[test]
    fn a_downgrade_brings_the_cap_within_the_new_plans_range() {
        let premium_max = cap(PlanId::Premium, 20_000);
        assert_eq!(premium_max.fit_to(PlanId::Basic).get(), Cents::new(5000));
        let small = cap(PlanId::Premium, 300);
        assert_eq!(small.fit_to(PlanId::Basic), small);
    }

    #[test]
    fn the_hundredth_notification_with_cap_zero_is_accepted() {
        let decision = decide_event(
            PlanId::Basic,
            counters(99, 0),
            cap(PlanId::Basic, 0),
            PERIOD_END,
            NOW,
        );
        assert_eq!(decision, UsageDecision::Accept);
    }

    #[test]
    fn the_hundred_and_first_notification_with_cap_zero_is_refused_until_the_period_ends() {
        let decision = decide_event(
            PlanId::Basic,
            counters(100, 0),
            cap(PlanId::Basic, 0),
            PERIOD_END,
            NOW,
        );
        // 2026-05-20 10:00 to 2026-06-01 00:00 is 11 days and 14 hours.
        assert_eq!(
            decision,
            UsageDecision::Refuse {
                retry_after_s: 11 * 86_400 + 14 * 3_600
            }
        );
    }

    #[test]
    fn an_event_that_reaches_the_cap_exactly_is_accepted() {
        let with_cap_10 = |notifications| {
            decide_event(
                PlanId::Basic,
                counters(notifications, 0),
                cap(PlanId::Basic, 10),
                PERIOD_END,
                NOW,
            )
        };
        assert_eq!(with_cap_10(101), UsageDecision::Accept);
        assert!(matches!(with_cap_10(102), UsageDecision::Refuse { .. }));
    }

    #[test]
    fn data_overage_past_the_cap_refuses_events_too() {
        let decision = decide_event(
            PlanId::Premium,
            counters(0, 20 * GB + 1),
            cap(PlanId::Premium, 0),
            PERIOD_END,
            NOW,
        );
        assert!(matches!(decision, UsageDecision::Refuse { .. }));
    }

    #[test]
    fn retry_after_is_at_least_one_second_and_rounds_up() {
        let refuse = |now| {
            decide_event(
                PlanId::Basic,
                counters(100, 0),
                cap(PlanId::Basic, 0),
                PERIOD_END,
                now,
            )
        };
        assert_eq!(
            refuse(PERIOD_END - Duration::milliseconds(1500)),
            UsageDecision::Refuse { retry_after_s: 2 }
        );
        assert_eq!(
            refuse(PERIOD_END),
            UsageDecision::Refuse { retry_after_s: 1 }
        );
        assert_eq!(
            refuse(PERIOD_END + Duration::hours(1)),
            UsageDecision::Refuse { retry_after_s: 1 }
        );
    }

    #[test]
    fn heartbeat_data_only_grows_the_data_counter() {
        let c = UsageCounters::default()
            .add_data_bytes(1200)
            .add_data_bytes(800);
        assert_eq!(c, counters(0, 2000));
        assert_eq!(counters(0, u64::MAX).add_data_bytes(1).data_bytes, u64::MAX);
    }

    #[test]
    fn the_notifications_within_a_cap_agree_with_the_event_decision() {
        for plan in [PlanId::Basic, PlanId::Plus, PlanId::Premium] {
            let cap = SpendCap::default_for(plan);
            match notifications_within_cap(plan, 0, cap) {
                None => assert_eq!(plan, PlanId::Premium),
                Some(most) => {
                    let last = decide_event(plan, counters(most - 1, 0), cap, PERIOD_END, NOW);
                    assert_eq!(last, UsageDecision::Accept, "{plan:?}");
                    let over = decide_event(plan, counters(most, 0), cap, PERIOD_END, NOW);
                    assert!(matches!(over, UsageDecision::Refuse { .. }), "{plan:?}");
                }
            }
        }
    }
}
