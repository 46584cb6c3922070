//! The staff actions on a customer's page, each a form with a required reason posting to one
//! staff service and coming back to the customer's page with a notice: cancel a subscription (at
//! the period's end or now) or take the cancel back, change its plan and credit its next invoice
//! (admin), resend an invoice's email, send a password-reset link.

use axum::Form;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;
use smartbox_domain::{InvoiceId, PlanId, SubscriptionId, UserId};

use super::Staff;
use super::payments::parse_dollars;
use crate::services::{staff_customers, staff_subscriptions};
use crate::state::AppState;
use crate::web::PageError;
use crate::web::error::encode_query;

/// Every field any of these forms sends; each form sends the ones it needs.
#[derive(Debug, Deserialize)]
pub struct ActionForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    reason: String,
    /// Cancel: `period_end` or `now`.
    #[serde(default)]
    when: String,
    /// Plan change: `basic`, `plus` or `premium`.
    #[serde(default)]
    plan: String,
    /// Credit: dollars as typed.
    #[serde(default)]
    amount: String,
    /// Resend: the form's one-time key.
    #[serde(default)]
    key: String,
}

impl ActionForm {
    fn check(&self, staff: &Staff) -> Result<(), PageError> {
        if staff.csrf_matches(&self.csrf) {
            Ok(())
        } else {
            Err(PageError::bad_csrf())
        }
    }
}

fn bad_request(message: impl Into<String>) -> PageError {
    PageError::Status(StatusCode::BAD_REQUEST, message.into())
}

/// Back to the customer's page with what was done.
fn back(customer_id: &str, done: &str) -> Response {
    Redirect::to(&format!(
        "/admin/customers/{}?done={done}",
        encode_query(customer_id)
    ))
    .into_response()
}

/// The customer whose subscription `id` is (404 when there is none).
async fn owner_of(state: &AppState, id: &SubscriptionId) -> Result<String, PageError> {
    Ok(state
        .db
        .subscription_by_id(id)
        .await?
        .ok_or_else(|| PageError::not_found("This subscription"))?
        .customer_id)
}

/// `POST /admin/subscriptions/{id}/cancel`.
pub async fn cancel(
    State(state): State<AppState>,
    staff: Staff,
    Path(id): Path<String>,
    Form(form): Form<ActionForm>,
) -> Result<Response, PageError> {
    form.check(&staff)?;
    let id = SubscriptionId::new(id);
    let when = staff_subscriptions::CancelWhen::parse(&form.when)?;
    let customer = owner_of(&state, &id).await?;
    let done = staff_subscriptions::cancel(&state, &staff.actor(), &id, when, &form.reason).await?;
    let done = match done {
        staff_subscriptions::Canceled::AtPeriodEnd(_) => "cancel_at_period_end",
        staff_subscriptions::Canceled::Now(_) => "ended",
    };
    Ok(back(&customer, done))
}

/// `POST /admin/subscriptions/{id}/resume`: takes a pending cancel back.
pub async fn resume(
    State(state): State<AppState>,
    staff: Staff,
    Path(id): Path<String>,
    Form(form): Form<ActionForm>,
) -> Result<Response, PageError> {
    form.check(&staff)?;
    let id = SubscriptionId::new(id);
    let customer = owner_of(&state, &id).await?;
    staff_subscriptions::withdraw_cancel(&state, &staff.actor(), &id, &form.reason).await?;
    Ok(back(&customer, "cancel_withdrawn"))
}

/// `POST /admin/subscriptions/{id}/plan` (admin).
pub async fn change_plan(
    State(state): State<AppState>,
    staff: Staff,
    Path(id): Path<String>,
    Form(form): Form<ActionForm>,
) -> Result<Response, PageError> {
    form.check(&staff)?;
    let id = SubscriptionId::new(id);
    let plan = form
        .plan
        .parse::<PlanId>()
        .map_err(|_| bad_request("Choose one of the plans."))?;
    let customer = owner_of(&state, &id).await?;
    staff_subscriptions::change_plan(&state, &staff.actor(), &id, plan, &form.reason).await?;
    Ok(back(&customer, "plan_changed"))
}

/// `POST /admin/subscriptions/{id}/credit` (admin).
pub async fn credit(
    State(state): State<AppState>,
    staff: Staff,
    Path(id): Path<String>,
    Form(form): Form<ActionForm>,
) -> Result<Response, PageError> {
    form.check(&staff)?;
    let id = SubscriptionId::new(id);
    let amount = parse_dollars(&form.amount)
        .map_err(bad_request)?
        .ok_or_else(|| bad_request("Say how much to credit, in dollars like 2.50."))?;
    let customer = owner_of(&state, &id).await?;
    staff_subscriptions::credit(&state, &staff.actor(), &id, amount, &form.reason).await?;
    Ok(back(&customer, "credited"))
}

/// `POST /admin/invoices/{id}/resend`.
pub async fn resend_invoice(
    State(state): State<AppState>,
    staff: Staff,
    Path(id): Path<String>,
    Form(form): Form<ActionForm>,
) -> Result<Response, PageError> {
    form.check(&staff)?;
    let customer = staff_customers::resend_invoice(
        &state,
        &staff.actor(),
        &InvoiceId::new(id),
        &form.key,
        &form.reason,
    )
    .await?;
    Ok(back(customer.as_str(), "invoice_resent"))
}

/// `POST /admin/customers/{id}/password-reset`.
pub async fn password_reset(
    State(state): State<AppState>,
    staff: Staff,
    Path(id): Path<String>,
    Form(form): Form<ActionForm>,
) -> Result<Response, PageError> {
    form.check(&staff)?;
    let id = UserId::new(id);
    staff_customers::send_password_reset(&state, &staff.actor(), &id, &form.reason).await?;
    Ok(back(id.as_str(), "reset_sent"))
}
