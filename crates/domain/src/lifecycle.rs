//! The device's lifecycle (DESIGN §4): manufactured and waiting for a claim, in service,
//! suspended for non-payment, returned, or decommissioned for good; and `can_operate`, the one
//! rule that decides whether a device's events are accepted.

use crate::names::named_enum;
use crate::subscription::SubscriptionStatus;

named_enum! {
    /// Where a physical mailbox is in its life.
    pub enum LifecycleState as "lifecycle state" {
        /// Made and imported, not yet claimed by a customer.
        PreActivation => "pre_activation",
        /// Claimed and covered by a subscription.
        ActiveSubscription => "active_subscription",
        /// Its subscription's grace expired unpaid.
        Suspended => "suspended",
        /// Sent back by the customer; awaits refurbishing.
        Returned => "returned",
        /// Out of service for good; its credentials are revoked. Terminal.
        Decommissioned => "decommissioned",
    }
}

/// Whether a device may use the service (post events, get notifications): it must be in
/// service and its subscription must be in trial, paid, or in grace.
///
/// A device without a subscription (`None`) never operates.
pub fn can_operate(lifecycle: LifecycleState, subscription: Option<SubscriptionStatus>) -> bool {
    lifecycle == LifecycleState::ActiveSubscription
        && subscription.is_some_and(SubscriptionStatus::allows_service)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lifecycle_names_match_the_design() {
        let names: Vec<&str> = LifecycleState::ALL.iter().map(|s| s.as_str()).collect();
        assert_eq!(
            names,
            [
                "pre_activation",
                "active_subscription",
                "suspended",
                "returned",
                "decommissioned"
            ]
        );
        for &state in LifecycleState::ALL {
            assert_eq!(state.as_str().parse(), Ok(state));
        }
    }

    #[test]
    fn a_device_operates_only_in_service_with_a_trial_paid_or_grace_subscription() {
        for &lifecycle in LifecycleState::ALL {
            for &status in SubscriptionStatus::ALL {
                let expected = lifecycle == LifecycleState::ActiveSubscription
                    && matches!(
                        status,
                        SubscriptionStatus::Trialing
                            | SubscriptionStatus::Active
                            | SubscriptionStatus::PastDue
                    );
                assert_eq!(
                    can_operate(lifecycle, Some(status)),
                    expected,
                    "{lifecycle} {status}"
                );
            }
            assert!(!can_operate(lifecycle, None));
        }
    }
}
