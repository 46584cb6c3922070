//! `/api/v1/webhook` and `/api/v1/push-subscriptions`: what the settings page does with the
//! customer's outbound webhook (set it with a new secret shown once, remove it, send a test
//! event) and the browsers subscribed to web push, as JSON. Each calls the page's service
//! (`services::webhooks`, `services::push`).

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use smartbox_domain::UserId;
use smartbox_notify::push::{PushSubscription, SubscriptionKeys};

use super::actor;
use crate::accounts::{ApiUser, CurrentUser};
use crate::error::ApiError;
use crate::services::push;
use crate::services::webhooks::{self, TestOutcome};
use crate::state::AppState;

fn customer(user: &CurrentUser) -> UserId {
    UserId::new(user.user.id.as_str())
}

/// `PUT /api/v1/webhook`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WebhookRequest {
    /// `https://` or `http://`, at most 2,000 characters, resolving to a public address.
    #[schema(max_length = 2000, pattern = "^https?://[^\\s]+$")]
    pub url: String,
}

/// The webhook just set, with its signing secret (shown this once).
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct WebhookCreated {
    pub url: String,
    /// `whsec_...`: deliveries carry an HMAC-SHA256 signature made with it.
    pub secret: String,
}

/// What a test event did.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct WebhookTest {
    /// Whether the endpoint answered 2xx.
    pub delivered: bool,
    /// Why not, when it did not.
    pub reason: Option<String>,
}

#[utoipa::path(put, path = "/api/v1/webhook", tag = "customer",
    request_body(content = WebhookRequest, content_type = "application/json"),
    responses((status = 200, description = "Set, with a new signing secret shown once", body = WebhookCreated),
        (status = 400, description = "`invalid_webhook_url`: not an http(s) address, too long, or a private address", body = crate::device_api::docs::ErrorDoc),
        (status = 401, description = "No session", body = crate::device_api::docs::ErrorDoc),
        (status = 403, description = "Missing or wrong X-CSRF-Token, or a cross-site request", body = crate::device_api::docs::ErrorDoc),
    ), security(("session" = [], "csrf" = [])))]
pub(crate) async fn set_webhook(
    State(state): State<AppState>,
    ApiUser(user): ApiUser,
    Json(body): Json<WebhookRequest>,
) -> Result<Json<WebhookCreated>, ApiError> {
    let secret = webhooks::set(&state, &actor(&user), &customer(&user), &body.url).await?;
    let url = webhooks::get(&state, &actor(&user), &customer(&user))
        .await?
        .map(|w| w.url)
        .unwrap_or(body.url);
    Ok(Json(WebhookCreated {
        url,
        secret: secret.expose().to_owned(),
    }))
}

#[utoipa::path(delete, path = "/api/v1/webhook", tag = "customer",
    responses((status = 204, description = "Removed (or there was none)"),
        (status = 401, description = "No session", body = crate::device_api::docs::ErrorDoc),
        (status = 403, description = "Missing or wrong X-CSRF-Token, or a cross-site request", body = crate::device_api::docs::ErrorDoc),
    ), security(("session" = [], "csrf" = [])))]
pub(crate) async fn remove_webhook(
    State(state): State<AppState>,
    ApiUser(user): ApiUser,
) -> Result<StatusCode, ApiError> {
    webhooks::remove(&state, &actor(&user), &customer(&user)).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(post, path = "/api/v1/webhook/test", tag = "customer",
    responses((status = 200, description = "A signed `test` event was sent; whether it arrived", body = WebhookTest),
        (status = 401, description = "No session", body = crate::device_api::docs::ErrorDoc),
        (status = 403, description = "Missing or wrong X-CSRF-Token, or a cross-site request", body = crate::device_api::docs::ErrorDoc),
        (status = 409, description = "No webhook is set", body = crate::device_api::docs::ErrorDoc),
    ), security(("session" = [], "csrf" = [])))]
pub(crate) async fn test_webhook(
    State(state): State<AppState>,
    ApiUser(user): ApiUser,
) -> Result<Json<WebhookTest>, ApiError> {
    let outcome = webhooks::send_test(&state, &actor(&user), &customer(&user)).await?;
    Ok(Json(match outcome {
        TestOutcome::Delivered => WebhookTest {
            delivered: true,
            reason: None,
        },
        TestOutcome::Failed(reason) => WebhookTest {
            delivered: false,
            reason: Some(reason),
        },
    }))
}

/// A browser's push subscription, as `PushSubscription.toJSON()` gives it.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct PushSubscriptionRequest {
    /// The push service's `https://` (or `http://`) address, at most 2,000 characters,
    /// resolving to a public address.
    #[schema(max_length = 2000, pattern = "^https?://[^\\s]+$")]
    pub endpoint: String,
    pub keys: PushKeys,
}

/// The subscription's keys, base64url.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct PushKeys {
    #[schema(min_length = 1)]
    pub p256dh: String,
    #[schema(min_length = 1)]
    pub auth: String,
}

/// `DELETE /api/v1/push-subscriptions`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PushUnsubscribe {
    pub endpoint: String,
}

#[utoipa::path(post, path = "/api/v1/push-subscriptions", tag = "customer",
    request_body(content = PushSubscriptionRequest, content_type = "application/json"),
    responses((status = 204, description = "The browser gets push notifications"),
        (status = 400, description = "`invalid_push_subscription`: the endpoint is not a public web address, or no keys", body = crate::device_api::docs::ErrorDoc),
        (status = 401, description = "No session", body = crate::device_api::docs::ErrorDoc),
        (status = 403, description = "Missing or wrong X-CSRF-Token, or a cross-site request", body = crate::device_api::docs::ErrorDoc),
    ), security(("session" = [], "csrf" = [])))]
pub(crate) async fn subscribe_push(
    State(state): State<AppState>,
    ApiUser(user): ApiUser,
    Json(body): Json<PushSubscriptionRequest>,
) -> Result<StatusCode, ApiError> {
    let subscription = PushSubscription {
        endpoint: body.endpoint,
        keys: SubscriptionKeys {
            p256dh: body.keys.p256dh,
            auth: body.keys.auth,
        },
    };
    push::subscribe(&state, &actor(&user), &customer(&user), subscription).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(delete, path = "/api/v1/push-subscriptions", tag = "customer",
    request_body(content = PushUnsubscribe, content_type = "application/json"),
    responses((status = 204, description = "The browser gets no more push notifications (or never did)"),
        (status = 401, description = "No session", body = crate::device_api::docs::ErrorDoc),
        (status = 403, description = "Missing or wrong X-CSRF-Token, or a cross-site request", body = crate::device_api::docs::ErrorDoc),
    ), security(("session" = [], "csrf" = [])))]
pub(crate) async fn unsubscribe_push(
    State(state): State<AppState>,
    ApiUser(user): ApiUser,
    Json(body): Json<PushUnsubscribe>,
) -> Result<StatusCode, ApiError> {
    push::unsubscribe(&state, &actor(&user), &customer(&user), &body.endpoint).await?;
    Ok(StatusCode::NO_CONTENT)
}
