//! Staff actions on a customer's subscription (DESIGN §4, §6), all through the billing engine
//! with the staff member's reason as the cause of the engine's audit entry: cancel at the
//! period's end (or take that back) and end it at once (support and admin), change the plan and
//! credit cents to the next invoice (admin only: they change what the customer pays).

use smartbox_billing::engine::{Credited, EndedNow, PlanChangeResult, StaffCause};
use smartbox_domain::{Cents, PlanId, SubscriptionId};
use smartbox_store::SubscriptionRow;
use time::OffsetDateTime;

use super::staff_devices::{Reason, require_staff};
use super::{Actor, ServiceError, StaffRole};
use crate::state::AppState;

/// The largest credit one request gives, in cents.
pub const MAX_CREDIT: Cents = Cents::new(100_000);

/// When a staff cancel takes effect.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CancelWhen {
    /// At the end of the current period, as the customer's own cancel.
    PeriodEnd,
    /// Now: the subscription ends and the mailbox stops operating.
    Now,
}

impl CancelWhen {
    /// `period_end` or `now`.
    pub fn parse(text: &str) -> Result<CancelWhen, ServiceError> {
        match text {
            "period_end" => Ok(CancelWhen::PeriodEnd),
            "now" => Ok(CancelWhen::Now),
            _ => Err(ServiceError::Invalid {
                code: "invalid_when",
                message: "Say when the cancel takes effect: `period_end` or `now`.".into(),
            }),
        }
    }
}

/// What a staff cancel did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Canceled {
    /// It ends at this period's end.
    AtPeriodEnd(OffsetDateTime),
    /// It ended now.
    Now(EndedNow),
}

/// The subscription `id` for a staff action (any customer's).
async fn subscription(
    state: &AppState,
    id: &SubscriptionId,
) -> Result<SubscriptionRow, ServiceError> {
    state
        .db
        .subscription_by_id(id)
        .await?
        .ok_or_else(|| ServiceError::not_found("subscription", id.as_str()))
}

/// Cancels the subscription at its period's end or now.
pub async fn cancel(
    state: &AppState,
    actor: &Actor,
    id: &SubscriptionId,
    when: CancelWhen,
    reason: &str,
) -> Result<Canceled, ServiceError> {
    require_staff(actor, StaffRole::Support)?;
    let reason = Reason::parse(reason)?;
    let s = subscription(state, id).await?;
    let by = actor.audit_name();
    let cause = StaffCause {
        actor: &by,
        reason: reason.as_str(),
    };
    let (engine, now) = (state.billing(), state.clock.now());
    let done = match when {
        CancelWhen::PeriodEnd => Canceled::AtPeriodEnd(
            engine
                .staff_set_cancel(&s.customer_id, &s.id, true, now, cause)
                .await?,
        ),
        CancelWhen::Now => Canceled::Now(engine.end_now(&s.customer_id, &s.id, now, cause).await?),
    };
    state.devices_changed();
    tracing::info!(subscription = %s.id, ?when, actor = %by, "subscription canceled by staff");
    Ok(done)
}

/// Takes back a pending cancel: the subscription renews as usual.
pub async fn withdraw_cancel(
    state: &AppState,
    actor: &Actor,
    id: &SubscriptionId,
    reason: &str,
) -> Result<OffsetDateTime, ServiceError> {
    require_staff(actor, StaffRole::Support)?;
    let reason = Reason::parse(reason)?;
    let s = subscription(state, id).await?;
    let by = actor.audit_name();
    let cause = StaffCause {
        actor: &by,
        reason: reason.as_str(),
    };
    let end = state
        .billing()
        .staff_set_cancel(&s.customer_id, &s.id, false, state.clock.now(), cause)
        .await?;
    state.devices_changed();
    Ok(end)
}

/// Changes the plan as the customer's own change would: an upgrade at once with a prorated
/// invoice, a downgrade at the period's end.
pub async fn change_plan(
    state: &AppState,
    actor: &Actor,
    id: &SubscriptionId,
    to: PlanId,
    reason: &str,
) -> Result<PlanChangeResult, ServiceError> {
    require_staff(actor, StaffRole::Admin)?;
    let reason = Reason::parse(reason)?;
    let s = subscription(state, id).await?;
    let by = actor.audit_name();
    let cause = StaffCause {
        actor: &by,
        reason: reason.as_str(),
    };
    let result = state
        .billing()
        .staff_change_plan(&s.customer_id, &s.id, to, state.clock.now(), cause)
        .await?;
    state.devices_changed();
    Ok(result)
}

/// Credits `amount` to the subscription; its next renewal invoice takes it.
pub async fn credit(
    state: &AppState,
    actor: &Actor,
    id: &SubscriptionId,
    amount: Cents,
    reason: &str,
) -> Result<Credited, ServiceError> {
    require_staff(actor, StaffRole::Admin)?;
    let reason = Reason::parse(reason)?;
    if amount <= Cents::ZERO || amount > MAX_CREDIT {
        return Err(ServiceError::Invalid {
            code: "invalid_amount",
            message: format!("A credit is between $0.01 and {MAX_CREDIT}."),
        });
    }
    let s = subscription(state, id).await?;
    let by = actor.audit_name();
    let cause = StaffCause {
        actor: &by,
        reason: reason.as_str(),
    };
    let now = state.clock.now();
    let description = format!("Credit from Smart Mailbox support, {}", now.date());
    let credited = state
        .billing()
        .credit(&s.customer_id, &s.id, amount, &description, now, cause)
        .await?;
    tracing::info!(subscription = %s.id, cents = amount.get(), actor = %by, "subscription credited");
    Ok(credited)
}
