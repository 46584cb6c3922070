//! `PUT /api/device/v1/events/{event_id}/photos/{index}`: one photo of an accepted event,
//! idempotent by (event, index).
//!
//! The blob is sealed under its owner's data key ([`crate::vault`]) and written before the
//! database row, and the answer leaves after both: a crash between
//! the two leaves a blob without a row, which the device's retry overwrites and then records, so
//! nothing is acknowledged that is not stored. The row that completes the event also enqueues its
//! `event_completed` job, in the same transaction (the group commit's, see
//! [`writer`](super::writer)).

use axum::Extension;
use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use smartbox_protocol::Uuid;
use smartbox_store::NewPhoto;

use super::auth::{Authenticated, BodyDigest};
use super::events::event_response;
use super::{jpeg, json};
use crate::error::ApiError;
use crate::state::AppState;

/// Where a photo's bytes live in the blob store: one folder per mailbox, not per event, so a
/// local blob store makes no directory on the event path.
pub fn blob_key(device_id: &str, event_id: &str, index: u8) -> String {
    format!("photos/{device_id}/{event_id}-{index}.jpg")
}

/// Stores one photo of an event.
#[utoipa::path(
    put,
    path = "/api/device/v1/events/{event_id}/photos/{index}",
    tag = "device",
    params(
        ("event_id" = String, Path, description = "The event's uuid, hyphenated lowercase"),
        ("index" = u8, Path, description = "0-based, below the event's photo_count"),
    ),
    request_body(content = Vec<u8>, content_type = "image/jpeg", description = "The raw JPEG, at most 2 MiB"),
    responses(
        (status = 201, description = "Stored", body = super::docs::EventResponseDoc),
        (status = 200, description = "The same photo again: nothing changed", body = super::docs::EventResponseDoc),
        (status = 400, description = "Not a JPEG, or the index is not below photo_count", body = super::docs::ErrorDoc),
        (status = 401, description = "Authentication failed", body = super::docs::ErrorDoc),
        (status = 404, description = "No such event of this device", body = super::docs::ErrorDoc),
        (status = 413, description = "Larger than 2 MiB", body = super::docs::ErrorDoc),
        (status = 415, description = "Not image/jpeg", body = super::docs::ErrorDoc),
    ),
    security(("device_signature" = []))
)]
pub async fn put_photo(
    State(state): State<AppState>,
    Extension(Authenticated(device)): Extension<Authenticated>,
    Extension(BodyDigest(digest)): Extension<BodyDigest>,
    Path((event_id, index)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let unknown = || ApiError::NotFound("this device has no event with this id".to_owned());
    let event_id = Uuid::parse_str(&event_id)
        .map_err(|_| unknown())?
        .hyphenated()
        .to_string();
    let event = state
        .db
        .event_by_id(&event_id)
        .await?
        .filter(|e| e.device_id == device.device_id)
        .ok_or_else(unknown)?;
    let index: u8 = index
        .parse()
        .ok()
        .filter(|i| i64::from(*i) < event.photo_count)
        .ok_or_else(|| {
            ApiError::bad_request(
                "invalid_photo_index",
                format!(
                    "photo index {index:?} is not below the event's photo_count {}",
                    event.photo_count
                ),
            )
        })?;
    json::require_content_type(&headers, "image/jpeg")?;
    jpeg::check(&body)
        .map_err(|why| ApiError::bad_request("not_a_jpeg", format!("not a JPEG: {why}")))?;
    if state.db.photo_exists(&event_id, i64::from(index)).await? {
        return Ok((StatusCode::OK, Json(event_response(&event)?)).into_response());
    }
    let key = blob_key(&device.device_id, &event_id, index);
    // The body's SHA-256 was computed once, to check the request's signature.
    let sha256 = hex::encode(digest);
    let size = i64::try_from(body.len()).unwrap_or(i64::MAX);
    // The owner is the customer of the subscription that accepted the event: known from the
    // cached context in the usual case, read from the database otherwise.
    let owner = match device
        .subscription
        .as_ref()
        .filter(|sub| event.subscription_id.as_deref() == Some(sub.id.as_str()))
    {
        Some(sub) => sub.customer_id.clone(),
        None => state
            .db
            .photo_owner_of_event(&event_id)
            .await?
            .ok_or_else(|| {
                ApiError::PaymentRequired("this mailbox has no owner to keep its photos".to_owned())
            })?,
    };
    state.photos.put_for(&owner, &key, body).await?;
    let stored = state
        .device_api
        .writer
        .insert_photo(NewPhoto {
            event_id: event_id.clone(),
            idx: i64::from(index),
            blob_key: key,
            size_bytes: size,
            sha256,
            created_at: state.clock.now_ms(),
            completion_job_id: uuid::Uuid::now_v7().to_string(),
        })
        .await?;
    if stored.completed_event {
        state.jobs_enqueued();
    }
    let event = state
        .db
        .event_by_id(&event_id)
        .await?
        .ok_or_else(|| anyhow::anyhow!("event {event_id} vanished"))?;
    let status = if stored.new {
        state.cluster.news_for(&owner);
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, Json(event_response(&event)?)).into_response())
}
