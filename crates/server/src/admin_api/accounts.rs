//! The admin API's actions on a customer's account, twins of the customer page's forms
//! (`crate::admin::account_actions`): cancel a subscription (at the period's end or now) or take
//! the cancel back, change its plan and credit its next invoice (admin), resend an invoice's
//! email, send a password-reset link. Each needs a reason and is one staff service call.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::post;
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use smartbox_domain::{Cents, InvoiceId, PlanId, SubscriptionId, UserId};

use super::ReasonRequest;
use crate::admin::ApiStaff;
use crate::error::ApiError;
use crate::services::{staff_customers, staff_subscriptions};
use crate::state::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route(
            "/api/admin/v1/subscriptions/{subscription_id}/cancel",
            post(cancel),
        )
        .route(
            "/api/admin/v1/subscriptions/{subscription_id}/resume",
            post(resume),
        )
        .route(
            "/api/admin/v1/subscriptions/{subscription_id}/plan",
            post(change_plan),
        )
        .route(
            "/api/admin/v1/subscriptions/{subscription_id}/credits",
            post(credit),
        )
        .route("/api/admin/v1/invoices/{invoice_id}/resend", post(resend))
        .route(
            "/api/admin/v1/customers/{customer_id}/password-reset",
            post(password_reset),
        )
}

/// A subscription as staff see it after an action.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct AdminSubscription {
    pub id: String,
    pub customer_id: String,
    pub device_id: String,
    /// `basic`, `plus` or `premium`.
    pub plan: String,
    /// A downgrade taking effect at the next period.
    pub pending_plan: Option<String>,
    /// `trialing`, `active`, `past_due`, `suspended` or `canceled`.
    pub status: String,
    pub cancel_at_period_end: bool,
    /// Epoch milliseconds.
    pub current_period_end: i64,
    /// Credits the next invoice takes.
    pub pending_credit_cents: i64,
}

async fn admin_subscription(
    state: &AppState,
    id: &SubscriptionId,
) -> Result<AdminSubscription, ApiError> {
    let s = state
        .db
        .subscription_by_id(id)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("no subscription {id}")))?;
    let pending_credit_cents = state
        .db
        .pending_credits(id)
        .await?
        .iter()
        .map(|c| c.amount_cents)
        .sum();
    Ok(AdminSubscription {
        id: s.id,
        customer_id: s.customer_id,
        device_id: s.device_id,
        plan: s.plan_id,
        pending_plan: s.pending_plan_id,
        status: s.status.as_str().to_owned(),
        cancel_at_period_end: s.cancel_at_period_end,
        current_period_end: s.current_period_end,
        pending_credit_cents,
    })
}

/// A staff cancel.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct CancelRequest {
    /// `period_end` (as the customer's own cancel) or `now` (the mailbox stops at once).
    pub when: String,
    /// 3 to 500 characters.
    pub reason: String,
}

#[utoipa::path(post, path = "/api/admin/v1/subscriptions/{subscription_id}/cancel", tag = "admin",
    params(("subscription_id" = String, Path, description = "Subscription id")),
    request_body = CancelRequest,
    responses((status = 200, description = "Canceled at the period's end, or ended now", body = AdminSubscription),
        (status = 400, description = "No reason, or `when` is neither `period_end` nor `now`", body = crate::device_api::docs::ErrorDoc),
        (status = 401, description = "No session", body = crate::device_api::docs::ErrorDoc),
        (status = 403, description = "Missing or wrong X-CSRF-Token", body = crate::device_api::docs::ErrorDoc),
        (status = 404, description = "No such subscription, or not staff", body = crate::device_api::docs::ErrorDoc),
        (status = 409, description = "The subscription has ended", body = crate::device_api::docs::ErrorDoc),
    ), security(("session" = [], "csrf" = [])))]
pub(crate) async fn cancel(
    State(state): State<AppState>,
    ApiStaff(staff): ApiStaff,
    Path(id): Path<String>,
    Json(body): Json<CancelRequest>,
) -> Result<Json<AdminSubscription>, ApiError> {
    let id = SubscriptionId::new(id);
    let when = staff_subscriptions::CancelWhen::parse(&body.when)?;
    staff_subscriptions::cancel(&state, &staff.actor(), &id, when, &body.reason).await?;
    Ok(Json(admin_subscription(&state, &id).await?))
}

#[utoipa::path(post, path = "/api/admin/v1/subscriptions/{subscription_id}/resume", tag = "admin",
    params(("subscription_id" = String, Path, description = "Subscription id")),
    request_body = ReasonRequest,
    responses((status = 200, description = "The pending cancel is taken back", body = AdminSubscription),
        (status = 400, description = "No reason", body = crate::device_api::docs::ErrorDoc),
        (status = 401, description = "No session", body = crate::device_api::docs::ErrorDoc),
        (status = 403, description = "Missing or wrong X-CSRF-Token", body = crate::device_api::docs::ErrorDoc),
        (status = 404, description = "No such subscription, or not staff", body = crate::device_api::docs::ErrorDoc),
        (status = 409, description = "The subscription has ended", body = crate::device_api::docs::ErrorDoc),
    ), security(("session" = [], "csrf" = [])))]
pub(crate) async fn resume(
    State(state): State<AppState>,
    ApiStaff(staff): ApiStaff,
    Path(id): Path<String>,
    Json(body): Json<ReasonRequest>,
) -> Result<Json<AdminSubscription>, ApiError> {
    let id = SubscriptionId::new(id);
    staff_subscriptions::withdraw_cancel(&state, &staff.actor(), &id, &body.reason).await?;
    Ok(Json(admin_subscription(&state, &id).await?))
}

/// A staff plan change.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct PlanRequest {
    /// `basic`, `plus` or `premium`.
    pub plan: String,
    /// 3 to 500 characters.
    pub reason: String,
}

#[utoipa::path(post, path = "/api/admin/v1/subscriptions/{subscription_id}/plan", tag = "admin",
    params(("subscription_id" = String, Path, description = "Subscription id")),
    request_body = PlanRequest,
    responses((status = 200, description = "Changed: an upgrade now (prorated), a downgrade at the period's end", body = AdminSubscription),
        (status = 400, description = "No reason, or an unknown plan", body = crate::device_api::docs::ErrorDoc),
        (status = 401, description = "No session", body = crate::device_api::docs::ErrorDoc),
        (status = 403, description = "Support (only admin changes prices), or a missing X-CSRF-Token", body = crate::device_api::docs::ErrorDoc),
        (status = 404, description = "No such subscription, or not staff", body = crate::device_api::docs::ErrorDoc),
        (status = 409, description = "The change does not apply now (ended, unpaid invoices)", body = crate::device_api::docs::ErrorDoc),
    ), security(("session" = [], "csrf" = [])))]
pub(crate) async fn change_plan(
    State(state): State<AppState>,
    ApiStaff(staff): ApiStaff,
    Path(id): Path<String>,
    Json(body): Json<PlanRequest>,
) -> Result<Json<AdminSubscription>, ApiError> {
    let id = SubscriptionId::new(id);
    let plan = body.plan.parse::<PlanId>().map_err(|_| {
        ApiError::bad_request("invalid_plan", "The plan is basic, plus or premium.")
    })?;
    staff_subscriptions::change_plan(&state, &staff.actor(), &id, plan, &body.reason).await?;
    Ok(Json(admin_subscription(&state, &id).await?))
}

/// A credit to the next invoice.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct CreditRequest {
    /// 1 to 100,000 cents, and at most what leaves the next invoice the minimum charge.
    pub amount_cents: i64,
    /// 3 to 500 characters.
    pub reason: String,
}

#[utoipa::path(post, path = "/api/admin/v1/subscriptions/{subscription_id}/credits", tag = "admin",
    params(("subscription_id" = String, Path, description = "Subscription id")),
    request_body = CreditRequest,
    responses((status = 201, description = "Credited; the next renewal invoice takes it", body = AdminSubscription),
        (status = 400, description = "No reason, or an amount out of range", body = crate::device_api::docs::ErrorDoc),
        (status = 401, description = "No session", body = crate::device_api::docs::ErrorDoc),
        (status = 403, description = "Support (only admin credits), or a missing X-CSRF-Token", body = crate::device_api::docs::ErrorDoc),
        (status = 404, description = "No such subscription, or not staff", body = crate::device_api::docs::ErrorDoc),
        (status = 409, description = "The subscription has ended, or the next invoice cannot take that much", body = crate::device_api::docs::ErrorDoc),
    ), security(("session" = [], "csrf" = [])))]
pub(crate) async fn credit(
    State(state): State<AppState>,
    ApiStaff(staff): ApiStaff,
    Path(id): Path<String>,
    Json(body): Json<CreditRequest>,
) -> Result<(StatusCode, Json<AdminSubscription>), ApiError> {
    let id = SubscriptionId::new(id);
    staff_subscriptions::credit(
        &state,
        &staff.actor(),
        &id,
        Cents::new(body.amount_cents),
        &body.reason,
    )
    .await?;
    Ok((
        StatusCode::CREATED,
        Json(admin_subscription(&state, &id).await?),
    ))
}

/// Resending an invoice's email.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct ResendRequest {
    /// 3 to 500 characters.
    pub reason: String,
    /// 8 to 200 characters naming this request: the same key again sends no second email.
    pub idempotency_key: String,
}

#[utoipa::path(post, path = "/api/admin/v1/invoices/{invoice_id}/resend", tag = "admin",
    params(("invoice_id" = String, Path, description = "Invoice id")),
    request_body = ResendRequest,
    responses((status = 202, description = "The email is queued (once per key)"),
        (status = 400, description = "No reason or no key", body = crate::device_api::docs::ErrorDoc),
        (status = 401, description = "No session", body = crate::device_api::docs::ErrorDoc),
        (status = 403, description = "Missing or wrong X-CSRF-Token", body = crate::device_api::docs::ErrorDoc),
        (status = 404, description = "No such invoice, or not staff", body = crate::device_api::docs::ErrorDoc),
    ), security(("session" = [], "csrf" = [])))]
pub(crate) async fn resend(
    State(state): State<AppState>,
    ApiStaff(staff): ApiStaff,
    Path(id): Path<String>,
    Json(body): Json<ResendRequest>,
) -> Result<StatusCode, ApiError> {
    staff_customers::resend_invoice(
        &state,
        &staff.actor(),
        &InvoiceId::new(id),
        &body.idempotency_key,
        &body.reason,
    )
    .await?;
    Ok(StatusCode::ACCEPTED)
}

#[utoipa::path(post, path = "/api/admin/v1/customers/{customer_id}/password-reset", tag = "admin",
    params(("customer_id" = String, Path, description = "Customer id")),
    request_body = ReasonRequest,
    responses((status = 202, description = "A one-time reset link is emailed to the customer"),
        (status = 400, description = "No reason", body = crate::device_api::docs::ErrorDoc),
        (status = 401, description = "No session", body = crate::device_api::docs::ErrorDoc),
        (status = 403, description = "Missing or wrong X-CSRF-Token", body = crate::device_api::docs::ErrorDoc),
        (status = 404, description = "No such customer, or not staff", body = crate::device_api::docs::ErrorDoc),
    ), security(("session" = [], "csrf" = [])))]
pub(crate) async fn password_reset(
    State(state): State<AppState>,
    ApiStaff(staff): ApiStaff,
    Path(id): Path<String>,
    Json(body): Json<ReasonRequest>,
) -> Result<StatusCode, ApiError> {
    staff_customers::send_password_reset(&state, &staff.actor(), &UserId::new(id), &body.reason)
        .await?;
    Ok(StatusCode::ACCEPTED)
}
