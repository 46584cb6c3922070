//! `POST /api/v1/claims`: the onboarding of `/claim` in one call for a signed-in customer — the
//! serial and one-time code printed on the box, and the plan; the 7-day trial starts and the
//! mailbox becomes `active_subscription`. Wrong pair 404, already claimed 409, too many wrong
//! pairs from the address 429 (the same rules and rate limit as the page).

use axum::Json;
use axum::extract::State;
use axum::http::{Extensions, StatusCode};
use serde::{Deserialize, Serialize};
use smartbox_domain::PlanId;

use super::{Device, Subscription, actor};
use crate::accounts::ApiUser;
use crate::accounts::rate_limit;
use crate::error::ApiError;
use crate::services;
use crate::services::claims::{self, ClaimRefusal};
use crate::state::AppState;

/// A claim: the pair printed on the box and the chosen plan.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct ClaimRequest {
    /// The serial number on the label, e.g. `SB-0001`.
    pub serial: String,
    /// The 8-character claim code on the label.
    pub code: String,
    /// `basic`, `plus` or `premium`.
    #[schema(value_type = super::docs::PlanDoc)]
    pub plan: String,
}

/// The claimed mailbox and its new (trialing) subscription.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Claimed {
    pub device: Device,
    pub subscription: Subscription,
}

fn refused(refusal: &ClaimRefusal) -> ApiError {
    let (_, message) = refusal.status_and_message();
    match refusal {
        ClaimRefusal::WrongPair => ApiError::NotFound(message.to_owned()),
        ClaimRefusal::AlreadyClaimed => ApiError::Conflict(message.to_owned()),
        ClaimRefusal::RateLimited => ApiError::RateLimited(message.to_owned()),
    }
}

#[utoipa::path(post, path = "/api/v1/claims", tag = "customer",
    request_body(content = ClaimRequest, content_type = "application/json"),
    responses((status = 201, description = "Claimed: the trial has started", body = Claimed),
        (status = 400, description = "Not one of the plans", body = crate::device_api::docs::ErrorDoc),
        (status = 401, description = "No session", body = crate::device_api::docs::ErrorDoc),
        (status = 403, description = "Missing or wrong X-CSRF-Token, or a cross-site request", body = crate::device_api::docs::ErrorDoc),
        (status = 404, description = "No mailbox with this serial and claim code", body = crate::device_api::docs::ErrorDoc),
        (status = 409, description = "The mailbox is already claimed", body = crate::device_api::docs::ErrorDoc),
        (status = 429, description = "Too many wrong pairs from this address", body = crate::device_api::docs::ErrorDoc),
    ), security(("session" = [], "csrf" = [])))]
pub(crate) async fn claim(
    State(state): State<AppState>,
    ApiUser(user): ApiUser,
    extensions: Extensions,
    Json(request): Json<ClaimRequest>,
) -> Result<(StatusCode, Json<Claimed>), ApiError> {
    let plan = request.plan.parse::<PlanId>().map_err(|_| {
        ApiError::bad_request("invalid_plan", "`plan` must be basic, plus or premium")
    })?;
    let address = rate_limit::client_address(&extensions);
    let actor = actor(&user);
    let claimed = claims::claim(
        &state,
        &actor,
        &address,
        &request.serial,
        &request.code,
        plan,
    )
    .await?
    .map_err(|refusal| refused(&refusal))?;
    let subscription_id = claimed.subscription_id;
    let device = services::devices::get(&state, &actor, &claimed.device.id.into())
        .await?
        .into();
    let subscription =
        super::owned_subscription(&state, &user.user.id, subscription_id.as_str()).await?;
    Ok((
        StatusCode::CREATED,
        Json(Claimed {
            device,
            subscription: subscription.into(),
        }),
    ))
}
