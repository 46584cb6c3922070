//! `POST /webhooks/stripe` (DESIGN §6): the `Stripe-Signature` header is verified over the raw
//! body with `STRIPE_WEBHOOK_SECRET` (HMAC-SHA256 of `t.payload`, any `v1` may match,
//! constant-time, 300 s tolerance against the injected clock), then the billing engine applies
//! the event: each event id once, in the same transaction as its effect, never moving a state
//! backwards.
//!
//! Answers: a missing, forged or stale signature (or a body that is no event) -> 400; an event
//! processed, already processed or ignored -> 200 `{"status": ...}`; a failure on our side ->
//! 500, so Stripe delivers the event again later.

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use serde_json::json;
use smartbox_billing::engine::WebhookOutcome;
use smartbox_billing::webhook::{DEFAULT_TOLERANCE_S, WebhookEvent};

use crate::error::ApiError;
use crate::state::AppState;

/// The webhook route.
pub fn router() -> Router<AppState> {
    Router::new().route("/webhooks/stripe", post(stripe))
}

async fn stripe(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let Some(secret) = state
        .config
        .stripe
        .as_ref()
        .and_then(|stripe| stripe.webhook_secret.as_ref())
    else {
        tracing::warn!("a Stripe webhook arrived but STRIPE_WEBHOOK_SECRET is not set");
        return Err(ApiError::bad_request(
            "webhook_not_configured",
            "STRIPE_WEBHOOK_SECRET is not set: webhooks cannot be verified",
        ));
    };
    let header = headers
        .get("stripe-signature")
        .and_then(|value| value.to_str().ok())
        .unwrap_or_default();
    let event = WebhookEvent::verify_and_parse(
        header,
        &body,
        secret.expose(),
        state.clock.now_s(),
        DEFAULT_TOLERANCE_S,
    )
    .map_err(|error| {
        tracing::warn!(%error, "Stripe webhook refused");
        ApiError::bad_request("invalid_signature", error.to_string())
    })?;
    let outcome = state
        .billing()
        .handle_webhook_event(&event, state.clock.now())
        .await
        .map_err(|error| ApiError::Internal(error.into()))?;
    if outcome == WebhookOutcome::Processed {
        // A payment that went through resumes a suspended mailbox: the device API must not
        // answer from what it cached before.
        state.devices_changed();
    }
    tracing::info!(event = %event.id, kind = %event.event_type, outcome = outcome.as_str(), "Stripe webhook");
    Ok((
        StatusCode::OK,
        axum::Json(json!({ "status": outcome.as_str(), "event": event.id })),
    )
        .into_response())
}
