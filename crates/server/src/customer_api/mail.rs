//! The events' mail readings in the API: the `category` and `kind` filters of `/api/v1/events`,
//! `POST /api/v1/events/{event_id}/correction`, and `DELETE /api/v1/events/{event_id}`.

use axum::Json;
use axum::extract::{Path, State};
use serde::Deserialize;

use super::{Event, actor};
use crate::accounts::ApiUser;
use crate::error::ApiError;
use crate::services;
use crate::services::mail::Correction;
use crate::state::AppState;

/// What the customer says an event was: `kind` delivery, collection or false_trigger; a
/// delivery's `category` (letter, large_envelope, package, magazine, flyer), omitted otherwise.
#[derive(Debug, Deserialize)]
pub struct CorrectionRequest {
    pub kind: String,
    pub category: Option<String>,
}

impl utoipa::PartialSchema for CorrectionRequest {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        super::docs::correction()
    }
}

impl utoipa::ToSchema for CorrectionRequest {}

#[utoipa::path(post, path = "/api/v1/events/{event_id}/correction", tag = "customer",
    params(("event_id" = String, Path, description = "Event id")),
    request_body(content = CorrectionRequest, content_type = "application/json"),
    responses((status = 200, description = "The event as corrected", body = Event),
        (status = 400, description = "An unknown kind or category, or a category on anything but a delivery", body = crate::device_api::docs::ErrorDoc),
        (status = 401, description = "No session", body = crate::device_api::docs::ErrorDoc),
        (status = 403, description = "Missing or wrong X-CSRF-Token, or a cross-site request", body = crate::device_api::docs::ErrorDoc),
        (status = 404, description = "Not one of the customer's", body = crate::device_api::docs::ErrorDoc),
        (status = 409, description = "The event's photos are still being read", body = crate::device_api::docs::ErrorDoc),
    ), security(("session" = [], "csrf" = [])))]
pub(crate) async fn correct(
    State(state): State<AppState>,
    ApiUser(user): ApiUser,
    Path(event_id): Path<String>,
    Json(request): Json<CorrectionRequest>,
) -> Result<Json<Event>, ApiError> {
    // The page's form sends an empty category for "none"; the API takes `null` or a name, exactly.
    if let Some(category) = &request.category
        && (category.is_empty() || category.trim() != category)
    {
        return Err(services::ServiceError::Invalid {
            code: "invalid_category",
            message: format!("{category:?} is not a category: name one, or send null"),
        }
        .into());
    }
    let correction = Correction::parse(&request.kind, request.category.as_deref())?;
    let event = services::mail::correct(&state, &actor(&user), &event_id, correction).await?;
    let photos = state.db.photos_of_event(&event.id).await?;
    Ok(Json(Event::with_photos(event, &photos)))
}

#[utoipa::path(delete, path = "/api/v1/events/{event_id}", tag = "customer",
    params(("event_id" = String, Path, description = "Event id")),
    responses((status = 204, description = "The event, its photos and thumbnails are deleted (the usage it counted stays)"),
        (status = 401, description = "No session", body = crate::device_api::docs::ErrorDoc),
        (status = 403, description = "Missing or wrong X-CSRF-Token, or a cross-site request", body = crate::device_api::docs::ErrorDoc),
        (status = 404, description = "Not one of the customer's", body = crate::device_api::docs::ErrorDoc),
    ), security(("session" = [], "csrf" = [])))]
pub(crate) async fn delete(
    State(state): State<AppState>,
    ApiUser(user): ApiUser,
    Path(event_id): Path<String>,
) -> Result<axum::http::StatusCode, ApiError> {
    let event_id = smartbox_domain::EventId::new(event_id);
    services::mail::delete_event(&state, &actor(&user), &event_id).await?;
    Ok(axum::http::StatusCode::NO_CONTENT)
}
