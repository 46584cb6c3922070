//! `POST /api/device/v1/events`: a mail event, idempotent by the device's `event_id`.
//!
//! The checks run in the contract's order on a context read afresh from the database (a cached
//! one could be seconds old): 402 when the device cannot operate (nothing stored), then 200 for an
//! event already accepted (a retry changes nothing and counts nothing), then 429 with
//! `Retry-After` when one more notification would pass the plan limit plus the spend cap, then the
//! event is stored with its notification counted in the same transaction (the group commit's, see
//! [`writer`](super::writer)), which checks the cap again against the stored count: events in
//! flight together cannot each pass it.

use axum::Extension;
use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use smartbox_domain::{LifecycleState, UsageDecision};
use smartbox_protocol::{EventKind, EventRequest, EventResponse};
use smartbox_store::{EventStored, MailEventRow, NewEvent};

use super::auth::{Authenticated, unauthorized};
use super::context::{LoadError, unix_ms};
use super::json;
use crate::error::ApiError;
use crate::state::AppState;
use crate::telemetry::EventOutcome;

/// How far ahead of the server's clock an event may say it happened (device clocks drift; one
/// set wrong would otherwise date mail years ahead).
pub const MAX_AHEAD_S: i64 = 24 * 60 * 60;

/// Accepts a mail event.
#[utoipa::path(
    post,
    path = "/api/device/v1/events",
    tag = "device",
    request_body(content = super::docs::EventRequestDoc, content_type = "application/json"),
    responses(
        (status = 201, description = "A new event, stored and counted", body = super::docs::EventResponseDoc),
        (status = 200, description = "The same event again: nothing changed", body = super::docs::EventResponseDoc),
        (status = 400, description = "Malformed JSON or a value out of range; the message names the field", body = super::docs::ErrorDoc),
        (status = 401, description = "Authentication failed", body = super::docs::ErrorDoc),
        (status = 402, description = "The device cannot operate (no service); nothing stored", body = super::docs::ErrorDoc),
        (status = 409, description = "The event id belongs to another device", body = super::docs::ErrorDoc),
        (status = 413, description = "Body over 16 KiB", body = super::docs::ErrorDoc),
        (status = 415, description = "Not application/json", body = super::docs::ErrorDoc),
        (status = 429, description = "The event would pass the spend cap; retry after the period ends",
            body = super::docs::ErrorDoc,
            headers(("Retry-After" = u64, description = "Seconds until the billing period ends"))),
    ),
    security(("device_signature" = []))
)]
pub async fn create_event(
    State(state): State<AppState>,
    Extension(Authenticated(cached)): Extension<Authenticated>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let request: EventRequest = json::parse(&headers, &body)?;
    request.validate().map_err(json::invalid_field)?;
    if request.occurred_at > state.clock.now_s().saturating_add(MAX_AHEAD_S) {
        return Err(ApiError::bad_request(
            "invalid_field",
            "invalid `occurred_at`: more than a day ahead of the server's clock",
        ));
    }
    let device = match state
        .device_api
        .devices
        .reload(&state, &cached.serial)
        .await
    {
        Ok(device) => device,
        Err(LoadError::Unknown) => return Ok(unauthorized(&state)),
        Err(LoadError::Internal(err)) => return Err(ApiError::Internal(err)),
    };
    if device.lifecycle == LifecycleState::Decommissioned {
        return Ok(unauthorized(&state));
    }
    let kind = kind_name(request.kind);
    let count = |outcome| state.metrics.mail_event(kind, outcome);
    let (Some(subscription), true) = (&device.subscription, device.can_operate()) else {
        count(EventOutcome::NoService);
        return Err(ApiError::PaymentRequired(
            "this mailbox has no active service: events are refused until the subscription is paid"
                .to_owned(),
        ));
    };
    let event_id = request.event_id.hyphenated().to_string();
    if let Some(existing) = state.db.event_by_id(&event_id).await? {
        count(EventOutcome::Repeat);
        return known_event(&existing, &device.device_id, StatusCode::OK);
    }
    if request.photo_count == 0 {
        // An event without photos completed as it was stored.
        state.jobs_enqueued();
    }
    let now = state.clock.now();
    if let UsageDecision::Refuse { retry_after_s } = subscription.decide_event(now) {
        count(EventOutcome::OverCap);
        return Err(over_cap(retry_after_s));
    }
    let stored = state
        .device_api
        .writer
        .insert_event(NewEvent {
            id: event_id.clone(),
            device_id: device.device_id.clone(),
            subscription_id: Some(subscription.id.clone()),
            kind: kind.to_owned(),
            occurred_at: request.occurred_at.saturating_mul(1000),
            photo_count: i64::from(request.photo_count),
            created_at: unix_ms(now),
            completion_job_id: uuid::Uuid::now_v7().to_string(),
            notification: device.usage_delta(1, 0),
            max_notifications: subscription.max_notifications(),
        })
        .await?;
    // The counters in every process's cache no longer include this event.
    state.device_changed(&device.serial);
    if stored == EventStored::OverCap {
        // Events in flight together passed the check above; the transaction's count did not.
        count(EventOutcome::OverCap);
        return Err(over_cap(subscription.seconds_left(now)));
    }
    if stored == EventStored::Known {
        // Another request stored the same event meanwhile.
        count(EventOutcome::Repeat);
        let existing = state
            .db
            .event_by_id(&event_id)
            .await?
            .ok_or_else(|| anyhow::anyhow!("event {event_id} vanished"))?;
        return known_event(&existing, &device.device_id, StatusCode::OK);
    }
    state.cluster.news_for(&subscription.customer_id);
    count(EventOutcome::New);
    let answer = EventResponse {
        event_id: request.event_id,
        photos_received: 0,
        complete: request.photo_count == 0,
    };
    Ok((StatusCode::CREATED, Json(answer)).into_response())
}

fn over_cap(retry_after_s: u64) -> ApiError {
    ApiError::TooManyRequests {
        message:
            "this event would pass the spend cap; it is accepted again when the billing period ends"
                .to_owned(),
        retry_after_s,
    }
}

/// The answer about an event already stored, or 409 when it is another device's.
fn known_event(
    event: &MailEventRow,
    device_id: &str,
    status: StatusCode,
) -> Result<Response, ApiError> {
    if event.device_id != device_id {
        return Err(ApiError::Conflict(
            "this event id is already used by another device".to_owned(),
        ));
    }
    Ok((status, Json(event_response(event)?)).into_response())
}

/// The wire form of a stored event.
pub fn event_response(event: &MailEventRow) -> Result<EventResponse, ApiError> {
    let event_id = event
        .id
        .parse()
        .map_err(|err| anyhow::anyhow!("stored event id {:?}: {err}", event.id))?;
    Ok(EventResponse {
        event_id,
        photos_received: u8::try_from(event.photos_received).unwrap_or(u8::MAX),
        complete: event.completed_at.is_some(),
    })
}

fn kind_name(kind: EventKind) -> &'static str {
    match kind {
        EventKind::MailArrived => "mail_arrived",
        EventKind::MailRemoved => "mail_removed",
    }
}
