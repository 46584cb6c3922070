//! Properties of the business rules that must hold for every input, not just the examples in
//! the unit tests: periods tile time, the cap bounds what is invoiced, proration of a whole
//! period is the whole difference, and terminal states stay terminal.

use proptest::prelude::*;
use smartbox_domain::period::{nth_period, period_containing, period_index_containing};
use smartbox_domain::proration::prorate_upgrade;
use smartbox_domain::usage::{capped_overage, decide_event, overage};
use smartbox_domain::{
    Cents, LifecycleEvent, LifecycleState, PlanId, SpendCap, SubscriptionEffect, SubscriptionEvent,
    SubscriptionState, SubscriptionStatus, UsageCounters, UsageDecision, can_operate,
};
use time::{Date, Duration, Month, OffsetDateTime, Time};

/// An anchor on any day 1..=31 (in a month long enough for it), at any second of the day.
fn anchor() -> impl Strategy<Value = OffsetDateTime> {
    (2000i32..2060, 1u8..=12, 1u8..=31, 0u32..86_400).prop_map(|(year, month, day, second)| {
        let mut month = Month::try_from(month).unwrap_or(Month::January);
        if day > month.length(year) {
            month = Month::January;
        }
        let date = Date::from_calendar_date(year, month, day).unwrap_or(Date::MIN);
        let time = Time::from_hms(
            (second / 3600) as u8,
            ((second / 60) % 60) as u8,
            (second % 60) as u8,
        )
        .unwrap_or(Time::MIDNIGHT);
        date.with_time(time).assume_utc()
    })
}

fn plan() -> impl Strategy<Value = PlanId> {
    prop::sample::select(PlanId::ALL)
}

fn counters() -> impl Strategy<Value = UsageCounters> {
    (0u64..3_000, 0u64..40_000_000_000).prop_map(|(notifications, data_bytes)| UsageCounters {
        notifications,
        data_bytes,
    })
}

/// Any cap the customer may set on `plan`.
fn plan_and_cap() -> impl Strategy<Value = (PlanId, SpendCap)> {
    plan().prop_flat_map(|plan| {
        (0..=SpendCap::max_for(plan).get()).prop_map(move |cents| {
            let cap = SpendCap::new(plan, Cents::new(cents))
                .unwrap_or_else(|_| SpendCap::default_for(plan));
            (plan, cap)
        })
    })
}

fn subscription_event() -> impl Strategy<Value = SubscriptionEvent> {
    let at = (0i64..400 * 86_400).prop_map(|s| OffsetDateTime::UNIX_EPOCH + Duration::seconds(s));
    prop_oneof![
        (any::<bool>(), at.clone()).prop_map(|(has_payment_method, at)| {
            SubscriptionEvent::TrialEnded {
                has_payment_method,
                at,
            }
        }),
        Just(SubscriptionEvent::PaymentSucceeded),
        at.clone()
            .prop_map(|at| SubscriptionEvent::PaymentFailed { at }),
        at.prop_map(|at| SubscriptionEvent::GraceExpired { at }),
        Just(SubscriptionEvent::CancelRequested),
        Just(SubscriptionEvent::CancelWithdrawn),
        Just(SubscriptionEvent::PeriodEnded),
    ]
}

fn lifecycle_event() -> impl Strategy<Value = LifecycleEvent> {
    prop::sample::select(LifecycleEvent::ALL)
}

proptest! {
    #[test]
    fn periods_tile_ten_years_with_no_gap_or_overlap(anchor in anchor()) {
        let mut previous_end = anchor;
        for n in 0..120 {
            let period = nth_period(anchor, n);
            prop_assert_eq!(period.start, previous_end, "gap or overlap before period {}", n);
            prop_assert!(period.start < period.end);
            prop_assert!(period.duration() >= Duration::days(28));
            prop_assert!(period.duration() <= Duration::days(31));
            prop_assert_eq!(period.start.time(), anchor.time());
            let expected_day = anchor.day().min(period.start.month().length(period.start.year()));
            prop_assert_eq!(period.start.day(), expected_day);
            previous_end = period.end;
        }
    }

    #[test]
    fn every_instant_after_the_anchor_lies_in_exactly_the_period_found_for_it(
        anchor in anchor(),
        offset in 0i64..10 * 366 * 86_400,
        nanos in 0i64..1_000_000_000,
    ) {
        let t = anchor + Duration::seconds(offset) + Duration::nanoseconds(nanos);
        let n = period_index_containing(anchor, t);
        prop_assert!(n.is_some());
        let n = n.unwrap_or_default();
        prop_assert!(nth_period(anchor, n).contains(t));
        prop_assert_eq!(period_containing(anchor, t), nth_period(anchor, n));
    }

    #[test]
    fn period_boundaries_belong_to_the_period_they_start(anchor in anchor(), n in 0u32..120) {
        let period = nth_period(anchor, n);
        prop_assert_eq!(period_index_containing(anchor, period.start), Some(n));
        prop_assert_eq!(
            period_index_containing(anchor, period.end - Duration::nanoseconds(1)),
            Some(n)
        );
    }

    #[test]
    fn the_invoiced_overage_never_exceeds_the_cap(
        (plan, cap) in plan_and_cap(),
        counters in counters(),
    ) {
        let invoiced = capped_overage(plan, counters, cap);
        prop_assert!(invoiced <= cap.get());
        prop_assert!(invoiced >= Cents::ZERO);
        prop_assert!(invoiced <= overage(plan, counters).total());
    }

    #[test]
    fn an_accepted_event_never_takes_the_overage_past_the_cap(
        (plan, cap) in plan_and_cap(),
        counters in counters(),
        seconds_left in -100i64..3_000_000,
    ) {
        let now = OffsetDateTime::UNIX_EPOCH;
        let end = now + Duration::seconds(seconds_left);
        match decide_event(plan, counters, cap, end, now) {
            UsageDecision::Accept => {
                prop_assert!(overage(plan, counters.add_notification()).total() <= cap.get());
            }
            UsageDecision::Refuse { retry_after_s } => {
                prop_assert!(overage(plan, counters.add_notification()).total() > cap.get());
                prop_assert_eq!(retry_after_s, seconds_left.max(1) as u64);
            }
        }
    }

    #[test]
    fn prorating_a_whole_period_charges_the_whole_price_difference(
        anchor in anchor(),
        n in 0u32..120,
        from in plan(),
        to in plan(),
    ) {
        prop_assume!(to.rank() > from.rank());
        let period = nth_period(anchor, n);
        prop_assert_eq!(
            prorate_upgrade(from, to, period, period.start),
            Ok(to.plan().price - from.plan().price)
        );
    }

    #[test]
    fn a_later_upgrade_never_costs_more(
        anchor in anchor(),
        a in 0i64..31 * 86_400,
        b in 0i64..31 * 86_400,
    ) {
        let period = nth_period(anchor, 0);
        let (early, late) = (a.min(b), a.max(b));
        let at = |s| period.start + Duration::seconds(s);
        prop_assume!(period.contains(at(late)));
        let cost = |s| prorate_upgrade(PlanId::Basic, PlanId::Premium, period, at(s));
        prop_assert!(cost(late)? <= cost(early)?);
    }

    #[test]
    fn nothing_leaves_canceled(event in subscription_event()) {
        prop_assert!(SubscriptionState::Canceled.apply(event).is_err());
    }

    #[test]
    fn nothing_leaves_decommissioned(event in lifecycle_event()) {
        prop_assert!(LifecycleState::Decommissioned.apply(event).is_err());
    }

    #[test]
    fn the_subscription_and_the_device_stay_in_step_under_any_events(
        events in prop::collection::vec(subscription_event(), 0..40),
    ) {
        let mut subscription = SubscriptionState::new_trial();
        let mut device = LifecycleState::ActiveSubscription;
        for event in events {
            let was_canceled = subscription.status() == SubscriptionStatus::Canceled;
            let Ok(transition) = subscription.apply(event) else { continue };
            prop_assert!(!was_canceled, "{} left canceled", event);
            for effect in &transition.effects {
                let device_event = match effect {
                    SubscriptionEffect::SuspendDevice => LifecycleEvent::Suspend,
                    SubscriptionEffect::ResumeDevice => LifecycleEvent::Resume,
                    _ => continue,
                };
                let applied = device.apply(device_event);
                prop_assert!(applied.is_ok(), "{:?} on a {} device", effect, device);
                device = applied.map(|t| t.to).unwrap_or(device);
            }
            subscription = transition.to;
            let status = subscription.status();
            if status.allows_service() {
                prop_assert!(can_operate(device, Some(status)));
            } else {
                prop_assert!(!can_operate(device, Some(status)));
            }
        }
    }

    #[test]
    fn decommissioning_is_reachable_from_every_live_state_and_final(
        events in prop::collection::vec(lifecycle_event(), 0..30),
    ) {
        let mut device = LifecycleState::PreActivation;
        for event in events {
            let was = device;
            if let Ok(transition) = device.apply(event) {
                prop_assert_ne!(was, LifecycleState::Decommissioned);
                device = transition.to;
            }
        }
        if device != LifecycleState::Decommissioned {
            prop_assert!(device.apply(LifecycleEvent::Decommission).is_ok());
        }
    }
}
