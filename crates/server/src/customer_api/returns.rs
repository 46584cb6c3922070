//! `/api/v1/devices/{id}/returns`: the return flow of the device page as JSON — start a return
//! with a reason (an RMA number and the steps), cancel it before the box arrives. Both call
//! `services::returns`, as the page does. `POST /api/v1/devices/{id}/return` (the older path)
//! starts the same return, its reason optional: the mailbox stays in service until the
//! warehouse receives it.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use smartbox_domain::DeviceId;
use smartbox_store::ReturnRow;

use super::actor;
use crate::accounts::ApiUser;
use crate::error::ApiError;
use crate::services::returns;
use crate::state::AppState;

/// `POST /api/v1/devices/{id}/returns`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct ReturnRequest {
    /// Why the mailbox goes back (1-500 characters, not only spaces).
    #[schema(min_length = 1, max_length = 500, pattern = "\\S")]
    pub reason: String,
}

/// A return of a mailbox.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Return {
    /// The number on the packing slip.
    pub rma: String,
    pub reason: String,
    /// Epoch milliseconds.
    pub started_at: i64,
    /// Epoch milliseconds, once canceled.
    pub canceled_at: Option<i64>,
    /// What to do with the box.
    pub steps: Vec<String>,
    /// The printable packing slip (a portal page).
    pub packing_slip: String,
}

fn view(r: ReturnRow) -> Return {
    Return {
        steps: returns::steps(&r.rma),
        packing_slip: format!("/devices/{}/return/slip", r.device_id),
        rma: r.rma,
        reason: r.reason,
        started_at: r.started_at,
        canceled_at: r.canceled_at,
    }
}

#[utoipa::path(post, path = "/api/v1/devices/{device_id}/returns", tag = "customer",
    params(("device_id" = String, Path, description = "Mailbox id")),
    request_body(content = ReturnRequest, content_type = "application/json"),
    responses((status = 201, description = "Return started; the mailbox works until the warehouse receives it", body = Return),
        (status = 400, description = "No reason, or a reason over 500 characters", body = crate::device_api::docs::ErrorDoc),
        (status = 401, description = "No session", body = crate::device_api::docs::ErrorDoc),
        (status = 403, description = "Missing or wrong X-CSRF-Token, or a cross-site request", body = crate::device_api::docs::ErrorDoc),
        (status = 404, description = "Not one of the customer's", body = crate::device_api::docs::ErrorDoc),
        (status = 409, description = "A return is already started, or the mailbox cannot be returned", body = crate::device_api::docs::ErrorDoc),
    ), security(("session" = [], "csrf" = [])))]
pub(crate) async fn start(
    State(state): State<AppState>,
    ApiUser(user): ApiUser,
    Path(device_id): Path<String>,
    Json(body): Json<ReturnRequest>,
) -> Result<(StatusCode, Json<Return>), ApiError> {
    let row = returns::start(
        &state,
        &actor(&user),
        &DeviceId::new(device_id),
        &body.reason,
    )
    .await?;
    Ok((StatusCode::CREATED, Json(view(row))))
}

/// The reason recorded when `POST /api/v1/devices/{id}/return` carries none.
const UNSTATED_REASON: &str = "Other";

/// `POST /api/v1/devices/{id}/return`, body optional.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct OptionalReason {
    /// Why the mailbox goes back (1-500 characters, not only spaces); `Other` when absent.
    #[schema(min_length = 1, max_length = 500, pattern = "\\S")]
    pub reason: Option<String>,
}

#[utoipa::path(post, path = "/api/v1/devices/{device_id}/return", tag = "customer",
    params(("device_id" = String, Path, description = "Mailbox id")),
    request_body(content = Option<OptionalReason>, content_type = "application/json",
        description = "Optional; without a body, or with `null`, the reason is `Other`"),
    responses((status = 201, description = "Return started (as `POST .../returns`): an RMA number and the steps; the mailbox works, and its subscription runs, until the warehouse receives it", body = Return),
        (status = 400, description = "A reason that is blank or over 500 characters", body = crate::device_api::docs::ErrorDoc),
        (status = 401, description = "No session", body = crate::device_api::docs::ErrorDoc),
        (status = 403, description = "Missing or wrong X-CSRF-Token, or a cross-site request", body = crate::device_api::docs::ErrorDoc),
        (status = 404, description = "Not one of the customer's", body = crate::device_api::docs::ErrorDoc),
        (status = 409, description = "A return is already started, or the mailbox cannot be returned", body = crate::device_api::docs::ErrorDoc),
    ), security(("session" = [], "csrf" = [])))]
pub(crate) async fn start_default(
    State(state): State<AppState>,
    ApiUser(user): ApiUser,
    Path(device_id): Path<String>,
    body: Option<Json<Option<OptionalReason>>>,
) -> Result<(StatusCode, Json<Return>), ApiError> {
    // No body, a `null` body and a body without a reason all mean "no reason given".
    let reason = body.and_then(|Json(b)| b).and_then(|b| b.reason);
    let row = returns::start(
        &state,
        &actor(&user),
        &DeviceId::new(device_id),
        reason.as_deref().unwrap_or(UNSTATED_REASON),
    )
    .await?;
    Ok((StatusCode::CREATED, Json(view(row))))
}

#[utoipa::path(post, path = "/api/v1/devices/{device_id}/returns/cancel", tag = "customer",
    params(("device_id" = String, Path, description = "Mailbox id")),
    responses((status = 200, description = "The return is canceled; the mailbox stays the customer's", body = Return),
        (status = 401, description = "No session", body = crate::device_api::docs::ErrorDoc),
        (status = 403, description = "Missing or wrong X-CSRF-Token, or a cross-site request", body = crate::device_api::docs::ErrorDoc),
        (status = 404, description = "Not one of the customer's", body = crate::device_api::docs::ErrorDoc),
        (status = 409, description = "No open return (none started, or the box was received)", body = crate::device_api::docs::ErrorDoc),
    ), security(("session" = [], "csrf" = [])))]
pub(crate) async fn cancel(
    State(state): State<AppState>,
    ApiUser(user): ApiUser,
    Path(device_id): Path<String>,
) -> Result<Json<Return>, ApiError> {
    let row = returns::cancel(&state, &actor(&user), &DeviceId::new(device_id)).await?;
    Ok(Json(view(row)))
}
