//! Actions on a subscription, all through the billing engine (which checks that it is the
//! customer's, runs the subscription state machine and writes the change with its audit entry
//! under the subscription's version): cancel at the period's end and take that back, and a plan
//! change, priced before it is confirmed.

use smartbox_billing::engine::{PlanChangePreview, PlanChangeResult};
use smartbox_domain::{PlanId, SubscriptionId};
use smartbox_store::SubscriptionRow;
use time::OffsetDateTime;

use super::{Actor, ServiceError};
use crate::state::AppState;

/// The subscription `id`, when the actor may see it.
pub async fn get(
    state: &AppState,
    actor: &Actor,
    id: &SubscriptionId,
) -> Result<SubscriptionRow, ServiceError> {
    state
        .db
        .subscription_by_id(&SubscriptionId::new(id.as_str()))
        .await?
        .filter(|s| actor.may_act_for(Some(&s.customer_id)))
        .ok_or_else(|| ServiceError::not_found("subscription", id.as_str()))
}

/// The customer on whose behalf the billing engine acts: the actor itself when a customer, else
/// the subscription's customer.
async fn customer_of(
    state: &AppState,
    actor: &Actor,
    id: &SubscriptionId,
) -> Result<String, ServiceError> {
    match actor {
        Actor::Customer(customer) => Ok(customer.to_string()),
        _ => Ok(get(state, actor, id).await?.customer_id),
    }
}

/// Cancels the subscription at the end of its current period; returns when that is.
pub async fn cancel(
    state: &AppState,
    actor: &Actor,
    id: &SubscriptionId,
) -> Result<OffsetDateTime, ServiceError> {
    set_cancel(state, actor, id, true).await
}

/// Takes back a pending cancel: the subscription renews as usual.
pub async fn resume(
    state: &AppState,
    actor: &Actor,
    id: &SubscriptionId,
) -> Result<OffsetDateTime, ServiceError> {
    set_cancel(state, actor, id, false).await
}

/// Asks for a cancel at the period's end or takes it back; returns the period's end.
async fn set_cancel(
    state: &AppState,
    actor: &Actor,
    id: &SubscriptionId,
    cancel: bool,
) -> Result<OffsetDateTime, ServiceError> {
    let customer = customer_of(state, actor, id).await?;
    let (engine, now, by) = (state.billing(), state.clock.now(), actor.audit_name());
    let period_end = if cancel {
        engine
            .cancel_at_period_end(&customer, id.as_str(), now, &by)
            .await?
    } else {
        engine
            .withdraw_cancel(&customer, id.as_str(), now, &by)
            .await?
    };
    state.devices_changed();
    Ok(period_end)
}

/// What changing to `to` now would do and cost, exact to the cent; nothing is written.
pub async fn preview_plan_change(
    state: &AppState,
    actor: &Actor,
    id: &SubscriptionId,
    to: PlanId,
) -> Result<PlanChangePreview, ServiceError> {
    let customer = customer_of(state, actor, id).await?;
    Ok(state
        .billing()
        .preview_plan_change(&customer, id.as_str(), to, state.clock.now())
        .await?)
}

/// Changes the plan: an upgrade at once with a prorated invoice (charged when above the minimum
/// charge), a downgrade at the period's end.
pub async fn change_plan(
    state: &AppState,
    actor: &Actor,
    id: &SubscriptionId,
    to: PlanId,
) -> Result<PlanChangeResult, ServiceError> {
    let customer = customer_of(state, actor, id).await?;
    let result = state
        .billing()
        .change_plan(
            &customer,
            id.as_str(),
            to,
            state.clock.now(),
            &actor.audit_name(),
        )
        .await?;
    state.devices_changed();
    Ok(result)
}
