//! The device's lifecycle (DESIGN §4): manufactured and waiting for a claim, in service,
//! suspended for non-payment, returned, or decommissioned for good; the transitions between
//! those states; and `can_operate`, the one rule that decides whether a device's events are
//! accepted.

use std::fmt;

use crate::names::named_enum;
use crate::subscription::SubscriptionStatus;
use crate::transition::{Transition, TransitionError};

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

/// What happens to a physical mailbox.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LifecycleEvent {
    /// A customer proved possession with the serial and claim code.
    Claim,
    /// Its subscription's grace expired unpaid.
    Suspend,
    /// Its subscription was paid again.
    Resume,
    /// The customer sent it back.
    Return,
    /// A returned box was refurbished for a new customer.
    Refurbish,
    /// Taken out of service for good.
    Decommission,
}

/// What the caller must do after a lifecycle transition.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LifecycleEffect {
    /// A refurbished box must not be usable by its previous owner: give it a fresh device
    /// secret and a fresh claim code (and print the new code on the box).
    IssueNewSecretAndClaimCode,
    /// A decommissioned device's secret must stop authenticating anything.
    RevokeCredentials,
}

/// The error of `LifecycleState::apply`.
pub type LifecycleTransitionError = TransitionError<LifecycleState, LifecycleEvent>;

impl LifecycleState {
    /// Applies `event`; an `Err` means it does not apply in this state and nothing changes.
    /// `decommissioned` is terminal: every event from it is an error.
    pub fn apply(
        self,
        event: LifecycleEvent,
    ) -> Result<Transition<LifecycleState, LifecycleEffect>, LifecycleTransitionError> {
        use LifecycleEvent as Ev;
        use LifecycleState as St;

        Ok(match (self, event) {
            (St::Decommissioned, _) => {
                return Err(TransitionError { from: self, event });
            }
            (_, Ev::Decommission) => {
                Transition::with(St::Decommissioned, [LifecycleEffect::RevokeCredentials])
            }
            (St::PreActivation, Ev::Claim) => Transition::to(St::ActiveSubscription),
            (St::ActiveSubscription, Ev::Suspend) => Transition::to(St::Suspended),
            (St::Suspended, Ev::Resume) => Transition::to(St::ActiveSubscription),
            (St::ActiveSubscription | St::Suspended, Ev::Return) => Transition::to(St::Returned),
            (St::Returned, Ev::Refurbish) => Transition::with(
                St::PreActivation,
                [LifecycleEffect::IssueNewSecretAndClaimCode],
            ),
            _ => return Err(TransitionError { from: self, event }),
        })
    }
}

impl LifecycleEvent {
    /// Every event, for exhaustive tests.
    pub const ALL: &'static [LifecycleEvent] = &[
        LifecycleEvent::Claim,
        LifecycleEvent::Suspend,
        LifecycleEvent::Resume,
        LifecycleEvent::Return,
        LifecycleEvent::Refurbish,
        LifecycleEvent::Decommission,
    ];

    /// A short snake_case name for logs and errors.
    pub const fn name(self) -> &'static str {
        match self {
            LifecycleEvent::Claim => "claim",
            LifecycleEvent::Suspend => "suspend",
            LifecycleEvent::Resume => "resume",
            LifecycleEvent::Return => "return",
            LifecycleEvent::Refurbish => "refurbish",
            LifecycleEvent::Decommission => "decommission",
        }
    }
}

impl fmt::Display for LifecycleEvent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
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

    fn next(state: LifecycleState, event: LifecycleEvent) -> Option<LifecycleState> {
        state.apply(event).ok().map(|t| t.to)
    }

    #[test]
    fn a_claimed_device_goes_into_service() {
        assert_eq!(
            next(LifecycleState::PreActivation, LifecycleEvent::Claim),
            Some(LifecycleState::ActiveSubscription)
        );
    }

    #[test]
    fn a_device_is_suspended_and_resumed_with_its_subscription() {
        let suspended = next(LifecycleState::ActiveSubscription, LifecycleEvent::Suspend);
        assert_eq!(suspended, Some(LifecycleState::Suspended));
        assert_eq!(
            next(LifecycleState::Suspended, LifecycleEvent::Resume),
            Some(LifecycleState::ActiveSubscription)
        );
    }

    #[test]
    fn a_device_in_service_or_suspended_can_be_returned() {
        for state in [
            LifecycleState::ActiveSubscription,
            LifecycleState::Suspended,
        ] {
            assert_eq!(
                next(state, LifecycleEvent::Return),
                Some(LifecycleState::Returned)
            );
        }
        assert_eq!(
            next(LifecycleState::PreActivation, LifecycleEvent::Return),
            None
        );
    }

    #[test]
    fn refurbishing_a_returned_device_issues_a_new_secret_and_claim_code() {
        let t = LifecycleState::Returned
            .apply(LifecycleEvent::Refurbish)
            .ok();
        assert_eq!(
            t,
            Some(Transition::with(
                LifecycleState::PreActivation,
                [LifecycleEffect::IssueNewSecretAndClaimCode]
            ))
        );
    }

    #[test]
    fn any_live_device_can_be_decommissioned_and_its_credentials_are_revoked() {
        for &state in LifecycleState::ALL {
            if state == LifecycleState::Decommissioned {
                continue;
            }
            assert_eq!(
                state.apply(LifecycleEvent::Decommission).ok(),
                Some(Transition::with(
                    LifecycleState::Decommissioned,
                    [LifecycleEffect::RevokeCredentials]
                ))
            );
        }
    }

    #[test]
    fn nothing_leaves_decommissioned() {
        for &event in LifecycleEvent::ALL {
            assert_eq!(
                LifecycleState::Decommissioned.apply(event),
                Err(TransitionError {
                    from: LifecycleState::Decommissioned,
                    event
                })
            );
        }
    }

    #[test]
    fn an_illegal_transition_names_the_state_and_event() {
        let err = LifecycleState::Returned.apply(LifecycleEvent::Claim).err();
        assert_eq!(
            err.map(|e| e.to_string()).as_deref(),
            Some("claim does not apply to state returned")
        );
    }
}
