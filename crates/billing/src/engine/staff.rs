//! Changes staff make to a subscription (DESIGN §6), each with the staff member's reason as the
//! cause of its audit entry: cancel at the period's end, end it at once, change the plan, and
//! credit cents that the next renewal invoice takes as a negative line.

use serde_json::json;
use smartbox_domain::{Cents, PlanId, SubscriptionEffect, SubscriptionEvent, SubscriptionStatus};
use smartbox_store::CreditRow;
use smartbox_store::changes::{Applied, Change, Changes};
use time::OffsetDateTime;

use super::decide::state_update;
use super::jobs::{grace_key_prefix, retry_key_prefix};
use super::{BillingEngine, BillingError, MAX_ROUNDS, PlanChangeResult, audit, new_id, to_ms};
use crate::provider::MINIMUM_CHARGE;

/// Who on the staff asks for a change, and why.
#[derive(Debug, Clone, Copy)]
pub struct StaffCause<'a> {
    pub actor: &'a str,
    pub reason: &'a str,
}

/// A subscription staff ended at once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EndedNow {
    pub from: SubscriptionStatus,
    pub device_id: String,
}

/// A credit staff gave.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Credited {
    pub credit_id: String,
    pub amount: Cents,
}

impl BillingEngine {
    /// Cancels the customer's subscription at the end of its period (`cancel` true) or takes
    /// that back; returns the period's end.
    pub async fn staff_set_cancel(
        &self,
        customer_id: &str,
        subscription_id: &str,
        cancel: bool,
        now: OffsetDateTime,
        cause: StaffCause<'_>,
    ) -> Result<OffsetDateTime, BillingError> {
        let event = if cancel {
            SubscriptionEvent::CancelRequested
        } else {
            SubscriptionEvent::CancelWithdrawn
        };
        self.set_cancel(
            customer_id,
            subscription_id,
            event,
            now,
            (cause.actor, cause.reason),
        )
        .await
    }

    /// Changes the plan as the customer's own change would (upgrade at once with a prorated
    /// invoice, downgrade at the period's end), with the staff member's reason.
    pub async fn staff_change_plan(
        &self,
        customer_id: &str,
        subscription_id: &str,
        to: PlanId,
        now: OffsetDateTime,
        cause: StaffCause<'_>,
    ) -> Result<PlanChangeResult, BillingError> {
        self.change_plan_because(
            customer_id,
            subscription_id,
            to,
            now,
            cause.actor,
            Some(cause.reason),
        )
        .await
    }

    /// Ends the subscription now: `canceled`, its dunning stopped, nothing more invoiced (open
    /// invoices stay as they are). [`BillingError::Conflict`] when it has ended already.
    pub async fn end_now(
        &self,
        customer_id: &str,
        subscription_id: &str,
        now: OffsetDateTime,
        cause: StaffCause<'_>,
    ) -> Result<EndedNow, BillingError> {
        let now_ms = to_ms(now);
        for _ in 0..MAX_ROUNDS {
            let s = self.own_snapshot(customer_id, subscription_id).await?;
            let transition = s
                .state
                .apply(SubscriptionEvent::EndedByStaff)
                .map_err(|_| {
                    BillingError::Conflict("this subscription has ended already".into())
                })?;
            let mut changes = Changes::new();
            changes.push(state_update(&s, transition.to, now_ms));
            if transition
                .effects
                .contains(&SubscriptionEffect::CancelDunning)
            {
                for key_prefix in [retry_key_prefix(&s.id), grace_key_prefix(&s.id)] {
                    changes.push(Change::CancelQueuedJobs {
                        key_prefix,
                        reason: "canceled: staff ended the subscription".to_owned(),
                        now: now_ms,
                    });
                }
            }
            changes.push(audit::entry(
                now_ms,
                cause.actor,
                ("subscription", &s.id),
                SubscriptionEvent::EndedByStaff.name(),
                cause.reason,
                json!({
                    "device_id": s.device_id,
                    "before": { "status": s.status().as_str(), "plan": s.plan.as_str() },
                    "after": { "status": transition.to.status().as_str(), "plan": s.plan.as_str() },
                }),
            ));
            if self.db.apply_changes(&changes).await? == Applied::Done {
                return Ok(EndedNow {
                    from: s.status(),
                    device_id: s.device_id,
                });
            }
        }
        Err(BillingError::Contended("ending the subscription"))
    }

    /// Credits `amount` to the subscription: the next renewal invoice takes it as a negative
    /// line named `description`. The credits waiting on a subscription may bring its plan price
    /// down to the provider's minimum charge, not further, so every invoice stays chargeable.
    pub async fn credit(
        &self,
        customer_id: &str,
        subscription_id: &str,
        amount: Cents,
        description: &str,
        now: OffsetDateTime,
        cause: StaffCause<'_>,
    ) -> Result<Credited, BillingError> {
        if amount <= Cents::ZERO {
            return Err(BillingError::Conflict(
                "a credit must be at least 1 cent".into(),
            ));
        }
        let s = self.own_snapshot(customer_id, subscription_id).await?;
        if s.status() == SubscriptionStatus::Canceled {
            return Err(BillingError::Conflict(
                "this subscription has ended, so no invoice will take a credit".into(),
            ));
        }
        let id = smartbox_domain::SubscriptionId::new(s.id.clone());
        let pending: Cents = self
            .db
            .pending_credits(&id)
            .await?
            .iter()
            .map(|c| Cents::new(c.amount_cents))
            .sum();
        let next_price = s.pending_plan.unwrap_or(s.plan).plan().price;
        let room = next_price - MINIMUM_CHARGE - pending;
        if amount > room {
            return Err(BillingError::Conflict(format!(
                "the next invoice can take at most {} more of credit (its plan price {} less \
                 the minimum charge {} and the {} already credited)",
                room.max(Cents::ZERO),
                next_price,
                MINIMUM_CHARGE,
                pending
            )));
        }
        let now_ms = to_ms(now);
        let credit_id = new_id();
        let mut changes = Changes::new();
        changes.push(Change::InsertCredit(CreditRow {
            id: credit_id.clone(),
            subscription_id: s.id.clone(),
            customer_id: s.customer_id.clone(),
            amount_cents: amount.get(),
            description: description.to_owned(),
            created_at: now_ms,
            applied_invoice_id: None,
        }));
        changes.push(audit::entry(
            now_ms,
            cause.actor,
            ("subscription", &s.id),
            "credited",
            cause.reason,
            json!({
                "credit_id": credit_id,
                "amount_cents": amount.get(),
                "before": { "pending_credit_cents": pending.get() },
                "after": { "pending_credit_cents": (pending + amount).get() },
            }),
        ));
        self.db.apply_changes(&changes).await?;
        Ok(Credited { credit_id, amount })
    }
}
