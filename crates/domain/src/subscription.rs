//! The subscription's billing state machine (DESIGN §4): `trialing`, `active`, `past_due` (in
//! grace), `suspended`, `canceled`, and which payment, dunning and period events move it.
//!
//! The machine decides and the caller acts: a transition names the effects (charge, schedule a
//! retry, suspend the device, ...) and the billing jobs perform them. Nothing leaves `canceled`.

use std::fmt;

use thiserror::Error;
use time::{Duration, OffsetDateTime};

use crate::names::named_enum;
use crate::transition::{Transition, TransitionError};

named_enum! {
    /// Where a subscription stands with its payments.
    pub enum SubscriptionStatus as "subscription status" {
        /// The 7 free days after the claim; the chosen plan's limits apply, nothing is charged.
        Trialing => "trialing",
        /// Paid up.
        Active => "active",
        /// A charge failed; retries are scheduled and the device still works until grace expires.
        PastDue => "past_due",
        /// Grace expired unpaid; the device is suspended until a payment succeeds.
        Suspended => "suspended",
        /// Ended at a period end after a cancel request. Terminal.
        Canceled => "canceled",
    }
}

impl SubscriptionStatus {
    /// Statuses under which the device may operate: the trial, paid up, or in grace.
    pub const fn allows_service(self) -> bool {
        matches!(
            self,
            SubscriptionStatus::Trialing | SubscriptionStatus::Active | SubscriptionStatus::PastDue
        )
    }

    /// Statuses that count as a paying customer for MRR (trials are out, grace is in).
    pub const fn is_paying(self) -> bool {
        matches!(
            self,
            SubscriptionStatus::Active | SubscriptionStatus::PastDue
        )
    }
}

/// Delays after the first failed charge at which the charge is retried.
pub const RETRY_DELAYS: [Duration; 2] = [Duration::hours(24), Duration::hours(48)];

/// How long after the first failed charge an unpaid subscription stays in grace.
pub const GRACE_PERIOD: Duration = Duration::hours(72);

/// A subscription's state with what its transitions need to remember: whether a cancel is
/// pending, and when the current dunning episode started.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SubscriptionState {
    Trialing {
        cancel_at_period_end: bool,
    },
    Active {
        cancel_at_period_end: bool,
    },
    /// `since` is the first failed charge of this episode; retries and grace count from it.
    PastDue {
        since: OffsetDateTime,
        cancel_at_period_end: bool,
    },
    Suspended {
        cancel_at_period_end: bool,
    },
    Canceled,
}

/// What happened to a subscription.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SubscriptionEvent {
    /// The 7-day trial is over; the anchor (first period start) is `at`.
    TrialEnded {
        has_payment_method: bool,
        at: OffsetDateTime,
    },
    /// A charge (renewal, retry, or after the customer updated the card) went through.
    PaymentSucceeded,
    /// A charge was declined at `at`.
    PaymentFailed { at: OffsetDateTime },
    /// The grace-expiry job scheduled at the first failure ran at `at`.
    GraceExpired { at: OffsetDateTime },
    /// The customer asked to cancel; it takes effect at the end of the current period.
    CancelRequested,
    /// The customer took back a pending cancel before the period ended.
    CancelWithdrawn,
    /// The current paid period is over and the next one starts now.
    PeriodEnded,
    /// The customer sent the mailbox back: the subscription ends at once, whatever it owed is
    /// left to the invoices already made, and pending dunning stops.
    DeviceReturned,
    /// Staff ended it at once (fraud, a closed account, a refund-and-close): like a return, it
    /// ends now, whatever it owed is left to the invoices already made, and dunning stops.
    EndedByStaff,
}

/// What the caller must do after a transition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SubscriptionEffect {
    /// Charge the open invoice off-session: the new period's price in advance plus the capped
    /// overage of the period just ended (the invoice id is the idempotency key).
    RequestCharge,
    /// Retry the charge at `at`.
    ScheduleRetry { at: OffsetDateTime },
    /// Run the grace-expiry check at `at`.
    ScheduleGraceExpiry { at: OffsetDateTime },
    /// The debt is paid: pending retries and the grace expiry are moot.
    CancelDunning,
    /// Move the device to lifecycle `suspended`.
    SuspendDevice,
    /// Move the device back to lifecycle `active_subscription`.
    ResumeDevice,
    /// The subscription ends: invoice (in arrears) the capped overage of its last period.
    InvoiceFinalOverage,
}

/// Stored subscription columns that do not make a valid state.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum RestoreError {
    #[error("a past_due subscription needs the time of its first failed charge")]
    PastDueWithoutSince,
}

impl SubscriptionState {
    /// A new subscription, at claim time.
    pub const fn new_trial() -> Self {
        SubscriptionState::Trialing {
            cancel_at_period_end: false,
        }
    }

    /// Rebuilds a state from stored columns. `past_due_since` is only read for `past_due`.
    pub fn restore(
        status: SubscriptionStatus,
        cancel_at_period_end: bool,
        past_due_since: Option<OffsetDateTime>,
    ) -> Result<Self, RestoreError> {
        Ok(match status {
            SubscriptionStatus::Trialing => SubscriptionState::Trialing {
                cancel_at_period_end,
            },
            SubscriptionStatus::Active => SubscriptionState::Active {
                cancel_at_period_end,
            },
            SubscriptionStatus::PastDue => SubscriptionState::PastDue {
                since: past_due_since.ok_or(RestoreError::PastDueWithoutSince)?,
                cancel_at_period_end,
            },
            SubscriptionStatus::Suspended => SubscriptionState::Suspended {
                cancel_at_period_end,
            },
            SubscriptionStatus::Canceled => SubscriptionState::Canceled,
        })
    }

    pub const fn status(self) -> SubscriptionStatus {
        match self {
            SubscriptionState::Trialing { .. } => SubscriptionStatus::Trialing,
            SubscriptionState::Active { .. } => SubscriptionStatus::Active,
            SubscriptionState::PastDue { .. } => SubscriptionStatus::PastDue,
            SubscriptionState::Suspended { .. } => SubscriptionStatus::Suspended,
            SubscriptionState::Canceled => SubscriptionStatus::Canceled,
        }
    }

    /// Whether the subscription ends at the end of the current period.
    pub const fn cancel_at_period_end(self) -> bool {
        match self {
            SubscriptionState::Trialing {
                cancel_at_period_end,
            }
            | SubscriptionState::Active {
                cancel_at_period_end,
            }
            | SubscriptionState::PastDue {
                cancel_at_period_end,
                ..
            }
            | SubscriptionState::Suspended {
                cancel_at_period_end,
            } => cancel_at_period_end,
            SubscriptionState::Canceled => false,
        }
    }

    /// The first failed charge of the current dunning episode, when past due.
    pub const fn past_due_since(self) -> Option<OffsetDateTime> {
        match self {
            SubscriptionState::PastDue { since, .. } => Some(since),
            _ => None,
        }
    }

    /// Applies `event`. An `Err` means the event does not apply now (a late or repeated job, a
    /// grace expiry from an earlier episode, anything after `canceled`); the state is unchanged.
    pub fn apply(
        self,
        event: SubscriptionEvent,
    ) -> Result<Transition<SubscriptionState, SubscriptionEffect>, SubscriptionTransitionError>
    {
        use SubscriptionEffect as Fx;
        use SubscriptionEvent as Ev;
        use SubscriptionState as St;

        let illegal = Err(TransitionError {
            from: self.status(),
            event,
        });
        let cancel = self.cancel_at_period_end();
        Ok(match (self, event) {
            (St::Canceled, _) => return illegal,

            (St::PastDue { .. }, Ev::DeviceReturned | Ev::EndedByStaff) => {
                Transition::with(St::Canceled, [Fx::CancelDunning])
            }
            (_, Ev::DeviceReturned | Ev::EndedByStaff) => Transition::to(St::Canceled),

            (_, Ev::CancelRequested) => Transition::to(self.with_cancel_pending(true)),
            (_, Ev::CancelWithdrawn) => Transition::to(self.with_cancel_pending(false)),

            (St::Trialing { .. }, Ev::TrialEnded { .. }) if cancel => Transition::to(St::Canceled),
            (
                St::Trialing { .. },
                Ev::TrialEnded {
                    has_payment_method: true,
                    ..
                },
            ) => Transition::with(
                St::Active {
                    cancel_at_period_end: false,
                },
                [Fx::RequestCharge],
            ),
            // With nothing to charge, the trial's end is treated as a declined charge.
            (
                St::Trialing { .. },
                Ev::TrialEnded {
                    has_payment_method: false,
                    at,
                },
            ) => start_dunning(at, false),

            (St::Active { .. }, Ev::PaymentSucceeded) => Transition::to(self),
            (St::PastDue { .. }, Ev::PaymentSucceeded) => Transition::with(
                St::Active {
                    cancel_at_period_end: cancel,
                },
                [Fx::CancelDunning],
            ),
            (St::Suspended { .. }, Ev::PaymentSucceeded) => Transition::with(
                St::Active {
                    cancel_at_period_end: cancel,
                },
                [Fx::ResumeDevice],
            ),

            (St::Active { .. }, Ev::PaymentFailed { at }) => start_dunning(at, cancel),
            // Retries and grace expiry were scheduled at the first failure; later declines in
            // the same episode change nothing.
            (St::PastDue { .. } | St::Suspended { .. }, Ev::PaymentFailed { .. }) => {
                Transition::to(self)
            }

            (St::PastDue { since, .. }, Ev::GraceExpired { at }) if at >= since + GRACE_PERIOD => {
                Transition::with(
                    St::Suspended {
                        cancel_at_period_end: cancel,
                    },
                    [Fx::SuspendDevice],
                )
            }

            (St::Active { .. }, Ev::PeriodEnded) if cancel => {
                Transition::with(St::Canceled, [Fx::InvoiceFinalOverage])
            }
            (St::PastDue { .. }, Ev::PeriodEnded) if cancel => {
                Transition::with(St::Canceled, [Fx::CancelDunning, Fx::InvoiceFinalOverage])
            }
            (St::Suspended { .. }, Ev::PeriodEnded) if cancel => Transition::to(St::Canceled),
            (St::Active { .. } | St::PastDue { .. }, Ev::PeriodEnded) => {
                Transition::with(self, [Fx::RequestCharge])
            }
            // A suspended subscription is not invoiced for a period it cannot use; paying the
            // open invoice resumes it within the anchor's periods.
            (St::Suspended { .. }, Ev::PeriodEnded) => Transition::to(self),

            _ => return illegal,
        })
    }

    fn with_cancel_pending(self, cancel_at_period_end: bool) -> Self {
        match self {
            SubscriptionState::Trialing { .. } => SubscriptionState::Trialing {
                cancel_at_period_end,
            },
            SubscriptionState::Active { .. } => SubscriptionState::Active {
                cancel_at_period_end,
            },
            SubscriptionState::PastDue { since, .. } => SubscriptionState::PastDue {
                since,
                cancel_at_period_end,
            },
            SubscriptionState::Suspended { .. } => SubscriptionState::Suspended {
                cancel_at_period_end,
            },
            SubscriptionState::Canceled => SubscriptionState::Canceled,
        }
    }
}

/// First failure of an episode: past due from `at`, two retries, then the grace check.
fn start_dunning(
    at: OffsetDateTime,
    cancel_at_period_end: bool,
) -> Transition<SubscriptionState, SubscriptionEffect> {
    Transition::with(
        SubscriptionState::PastDue {
            since: at,
            cancel_at_period_end,
        },
        [
            SubscriptionEffect::ScheduleRetry {
                at: at + RETRY_DELAYS[0],
            },
            SubscriptionEffect::ScheduleRetry {
                at: at + RETRY_DELAYS[1],
            },
            SubscriptionEffect::ScheduleGraceExpiry {
                at: at + GRACE_PERIOD,
            },
        ],
    )
}

/// The error of `SubscriptionState::apply`.
pub type SubscriptionTransitionError = TransitionError<SubscriptionStatus, SubscriptionEvent>;

impl SubscriptionEvent {
    /// A short snake_case name for logs and errors.
    pub const fn name(self) -> &'static str {
        match self {
            SubscriptionEvent::TrialEnded { .. } => "trial_ended",
            SubscriptionEvent::PaymentSucceeded => "payment_succeeded",
            SubscriptionEvent::PaymentFailed { .. } => "payment_failed",
            SubscriptionEvent::GraceExpired { .. } => "grace_expired",
            SubscriptionEvent::CancelRequested => "cancel_requested",
            SubscriptionEvent::CancelWithdrawn => "cancel_withdrawn",
            SubscriptionEvent::PeriodEnded => "period_ended",
            SubscriptionEvent::DeviceReturned => "device_returned",
            SubscriptionEvent::EndedByStaff => "ended_by_staff",
        }
    }
}

impl fmt::Display for SubscriptionEvent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    const T0: OffsetDateTime = datetime!(2026-03-10 12:00 UTC);

    fn active() -> SubscriptionState {
        SubscriptionState::Active {
            cancel_at_period_end: false,
        }
    }

    fn apply(
        state: SubscriptionState,
        event: SubscriptionEvent,
    ) -> Transition<SubscriptionState, SubscriptionEffect> {
        match state.apply(event) {
            Ok(transition) => transition,
            Err(err) => panic!("{err}"),
        }
    }

    #[test]
    fn a_trial_ending_with_a_card_activates_and_charges_the_first_period() {
        let t = apply(
            SubscriptionState::new_trial(),
            SubscriptionEvent::TrialEnded {
                has_payment_method: true,
                at: T0,
            },
        );
        assert_eq!(t.to, active());
        assert_eq!(t.effects, [SubscriptionEffect::RequestCharge]);
    }

    #[test]
    fn a_trial_ending_without_a_card_is_treated_as_a_failed_charge() {
        let t = apply(
            SubscriptionState::new_trial(),
            SubscriptionEvent::TrialEnded {
                has_payment_method: false,
                at: T0,
            },
        );
        assert_eq!(
            t,
            apply(active(), SubscriptionEvent::PaymentFailed { at: T0 })
        );
        assert_eq!(t.to.status(), SubscriptionStatus::PastDue);
    }

    #[test]
    fn a_first_failed_charge_retries_after_24_and_48_hours_and_expires_grace_after_72() {
        let t = apply(active(), SubscriptionEvent::PaymentFailed { at: T0 });
        assert_eq!(
            t.to,
            SubscriptionState::PastDue {
                since: T0,
                cancel_at_period_end: false
            }
        );
        assert_eq!(
            t.effects,
            [
                SubscriptionEffect::ScheduleRetry {
                    at: datetime!(2026-03-11 12:00 UTC)
                },
                SubscriptionEffect::ScheduleRetry {
                    at: datetime!(2026-03-12 12:00 UTC)
                },
                SubscriptionEffect::ScheduleGraceExpiry {
                    at: datetime!(2026-03-13 12:00 UTC)
                },
            ]
        );
    }

    #[test]
    fn a_failed_retry_keeps_the_first_failure_as_the_grace_start() {
        let past_due = apply(active(), SubscriptionEvent::PaymentFailed { at: T0 }).to;
        let t = apply(
            past_due,
            SubscriptionEvent::PaymentFailed {
                at: T0 + Duration::hours(24),
            },
        );
        assert_eq!(t.to, past_due);
        assert!(t.effects.is_empty());
    }

    #[test]
    fn grace_expiring_unpaid_suspends_the_subscription_and_the_device() {
        let past_due = apply(active(), SubscriptionEvent::PaymentFailed { at: T0 }).to;
        let t = apply(
            past_due,
            SubscriptionEvent::GraceExpired {
                at: T0 + GRACE_PERIOD,
            },
        );
        assert_eq!(t.to.status(), SubscriptionStatus::Suspended);
        assert_eq!(t.effects, [SubscriptionEffect::SuspendDevice]);
    }

    #[test]
    fn a_grace_expiry_from_an_earlier_episode_does_not_suspend() {
        let past_due = apply(active(), SubscriptionEvent::PaymentFailed { at: T0 }).to;
        let early = SubscriptionEvent::GraceExpired {
            at: T0 + Duration::hours(71),
        };
        assert_eq!(
            past_due.apply(early),
            Err(TransitionError {
                from: SubscriptionStatus::PastDue,
                event: early
            })
        );
        let stale = SubscriptionEvent::GraceExpired { at: T0 };
        assert!(active().apply(stale).is_err());
    }

    #[test]
    fn paying_in_grace_returns_to_active_and_stops_the_retries() {
        let past_due = apply(active(), SubscriptionEvent::PaymentFailed { at: T0 }).to;
        let t = apply(past_due, SubscriptionEvent::PaymentSucceeded);
        assert_eq!(t.to, active());
        assert_eq!(t.effects, [SubscriptionEffect::CancelDunning]);
    }

    #[test]
    fn paying_while_suspended_resumes_the_device() {
        let suspended = SubscriptionState::Suspended {
            cancel_at_period_end: false,
        };
        let t = apply(suspended, SubscriptionEvent::PaymentSucceeded);
        assert_eq!(t.to, active());
        assert_eq!(t.effects, [SubscriptionEffect::ResumeDevice]);
    }

    #[test]
    fn a_period_end_renews_an_active_subscription_with_a_charge() {
        let t = apply(active(), SubscriptionEvent::PeriodEnded);
        assert_eq!(t.to, active());
        assert_eq!(t.effects, [SubscriptionEffect::RequestCharge]);
    }

    #[test]
    fn a_cancel_waits_for_the_period_end_and_invoices_the_last_overage() {
        let pending = apply(active(), SubscriptionEvent::CancelRequested).to;
        assert_eq!(pending.status(), SubscriptionStatus::Active);
        assert!(pending.cancel_at_period_end());
        let t = apply(pending, SubscriptionEvent::PeriodEnded);
        assert_eq!(t.to, SubscriptionState::Canceled);
        assert_eq!(t.effects, [SubscriptionEffect::InvoiceFinalOverage]);
    }

    #[test]
    fn a_cancel_during_the_trial_ends_it_without_a_charge() {
        let pending = apply(
            SubscriptionState::new_trial(),
            SubscriptionEvent::CancelRequested,
        )
        .to;
        let t = apply(
            pending,
            SubscriptionEvent::TrialEnded {
                has_payment_method: true,
                at: T0,
            },
        );
        assert_eq!(t.to, SubscriptionState::Canceled);
        assert!(t.effects.is_empty());
    }

    #[test]
    fn a_withdrawn_cancel_renews_as_usual() {
        let pending = apply(active(), SubscriptionEvent::CancelRequested).to;
        let kept = apply(pending, SubscriptionEvent::CancelWithdrawn).to;
        assert_eq!(kept, active());
        assert_eq!(
            apply(kept, SubscriptionEvent::PeriodEnded).effects,
            [SubscriptionEffect::RequestCharge]
        );
    }

    #[test]
    fn a_paid_retry_keeps_a_pending_cancel() {
        let pending = apply(active(), SubscriptionEvent::CancelRequested).to;
        let past_due = apply(pending, SubscriptionEvent::PaymentFailed { at: T0 }).to;
        let paid = apply(past_due, SubscriptionEvent::PaymentSucceeded).to;
        assert!(paid.cancel_at_period_end());
    }

    #[test]
    fn staff_ending_a_subscription_ends_it_at_once_from_any_live_state() {
        let past_due = apply(active(), SubscriptionEvent::PaymentFailed { at: T0 }).to;
        let t = apply(past_due, SubscriptionEvent::EndedByStaff);
        assert_eq!(t.to, SubscriptionState::Canceled);
        assert_eq!(t.effects, [SubscriptionEffect::CancelDunning]);
        for live in [SubscriptionState::new_trial(), active()] {
            assert_eq!(
                apply(live, SubscriptionEvent::EndedByStaff),
                Transition::to(SubscriptionState::Canceled)
            );
        }
    }

    #[test]
    fn a_returned_mailbox_ends_its_subscription_at_once_and_stops_dunning() {
        let past_due = apply(active(), SubscriptionEvent::PaymentFailed { at: T0 }).to;
        let t = apply(past_due, SubscriptionEvent::DeviceReturned);
        assert_eq!(t.to, SubscriptionState::Canceled);
        assert_eq!(t.effects, [SubscriptionEffect::CancelDunning]);
        for live in [
            SubscriptionState::new_trial(),
            active(),
            apply(active(), SubscriptionEvent::CancelRequested).to,
            SubscriptionState::Suspended {
                cancel_at_period_end: false,
            },
        ] {
            assert_eq!(
                apply(live, SubscriptionEvent::DeviceReturned),
                Transition::to(SubscriptionState::Canceled)
            );
        }
    }

    #[test]
    fn nothing_leaves_canceled() {
        let events = [
            SubscriptionEvent::TrialEnded {
                has_payment_method: true,
                at: T0,
            },
            SubscriptionEvent::PaymentSucceeded,
            SubscriptionEvent::PaymentFailed { at: T0 },
            SubscriptionEvent::GraceExpired { at: T0 },
            SubscriptionEvent::CancelRequested,
            SubscriptionEvent::CancelWithdrawn,
            SubscriptionEvent::PeriodEnded,
            SubscriptionEvent::DeviceReturned,
            SubscriptionEvent::EndedByStaff,
        ];
        for event in events {
            let err = SubscriptionState::Canceled.apply(event).err();
            assert_eq!(
                err.map(|e| e.to_string()),
                Some(format!("{event} does not apply to state canceled"))
            );
        }
    }

    #[test]
    fn a_trial_cannot_be_paid_or_renewed_before_it_ends() {
        let trial = SubscriptionState::new_trial();
        assert!(trial.apply(SubscriptionEvent::PaymentSucceeded).is_err());
        assert!(trial.apply(SubscriptionEvent::PeriodEnded).is_err());
        assert!(
            active()
                .apply(SubscriptionEvent::TrialEnded {
                    has_payment_method: true,
                    at: T0
                })
                .is_err()
        );
    }

    #[test]
    fn stored_columns_restore_the_state() {
        let past_due = SubscriptionState::PastDue {
            since: T0,
            cancel_at_period_end: true,
        };
        assert_eq!(
            SubscriptionState::restore(
                past_due.status(),
                past_due.cancel_at_period_end(),
                past_due.past_due_since()
            ),
            Ok(past_due)
        );
        assert_eq!(
            SubscriptionState::restore(SubscriptionStatus::PastDue, false, None),
            Err(RestoreError::PastDueWithoutSince)
        );
    }

    #[test]
    fn status_names_match_the_design() {
        let names: Vec<&str> = SubscriptionStatus::ALL.iter().map(|s| s.as_str()).collect();
        assert_eq!(
            names,
            ["trialing", "active", "past_due", "suspended", "canceled"]
        );
        for &status in SubscriptionStatus::ALL {
            assert_eq!(status.as_str().parse(), Ok(status));
        }
    }

    #[test]
    fn an_unknown_status_is_rejected_with_its_name() {
        let err = "paused"
            .parse::<SubscriptionStatus>()
            .err()
            .map(|e| e.value);
        assert_eq!(err.as_deref(), Some("paused"));
    }
}
