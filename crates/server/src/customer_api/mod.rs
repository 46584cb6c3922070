//! The customer JSON API under `/api/v1/`: what the pages show, for apps and scripts. Sessions
//! are the portal's cookie; without one every call answers 401. Writes need the `X-CSRF-Token`
//! header (the `csrf_token` of `/api/v1/me`). Another customer's ids answer 404.
//!
//! Everything the pages do is here too: claiming a mailbox ([`claims`]), its name, location and
//! return, its WiFi credentials ([`wifi`]), the settings ([`settings`]) with the outbound webhook
//! and web push ([`outbound`]), plan changes with their exact price first, cancel and
//! resume, and saving a card ([`billing`]); the account's password and sessions ([`account`]).

mod account;
mod billing;
mod claims;
mod docs;
mod mail;
mod outbound;
mod returns;
mod settings;
mod tickets;
mod whole_number;
mod wifi;

use axum::extract::{Path, Query, State};
use axum::routing::{get, post, put};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use smartbox_domain::{DeviceId, InvoiceId, SubscriptionId, UserId};
use smartbox_store::{DeviceRow, GalleryFilter, SubscriptionRow};

use crate::accounts::ApiUser;
use crate::error::ApiError;
use crate::services::devices::DeviceDetails;
use crate::services::{self, Actor, ServiceError};
use crate::state::AppState;

pub use docs::CustomerApiDoc;
pub use tickets::TicketsApiDoc;

/// The `/api/v1/` routes.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/v1/me", get(me))
        .route("/api/v1/devices", get(devices))
        .route(
            "/api/v1/devices/{device_id}",
            get(device).patch(update_device),
        )
        .route("/api/v1/events", get(events))
        .route("/api/v1/events/{event_id}", get(event).delete(mail::delete))
        .route("/api/v1/events/{event_id}/correction", post(mail::correct))
        .route("/api/v1/invoices", get(invoices))
        .route("/api/v1/invoices/{invoice_id}", get(invoice))
        .route(
            "/api/v1/devices/{device_id}/return",
            post(returns::start_default),
        )
        .route("/api/v1/claims", post(claims::claim))
        .route(
            "/api/v1/settings",
            get(settings::get_settings).patch(settings::update_settings),
        )
        .route("/api/v1/subscriptions", get(subscriptions))
        .route(
            "/api/v1/subscriptions/{subscription_id}",
            get(billing::subscription),
        )
        .route(
            "/api/v1/subscriptions/{subscription_id}/plan-change",
            get(billing::preview_plan_change).post(billing::change_plan),
        )
        .route(
            "/api/v1/subscriptions/{subscription_id}/cancel",
            post(billing::cancel),
        )
        .route(
            "/api/v1/subscriptions/{subscription_id}/resume",
            post(billing::resume),
        )
        .route(
            "/api/v1/payment-method/setup",
            post(billing::start_card_setup),
        )
        .route(
            "/api/v1/payment-method",
            get(billing::payment_method)
                .post(billing::save_payment_method)
                .delete(billing::remove_payment_method),
        )
        .route("/api/v1/devices/{device_id}/returns", post(returns::start))
        .route(
            "/api/v1/devices/{device_id}/returns/cancel",
            post(returns::cancel),
        )
        .route("/api/v1/devices/{device_id}/wifi", put(wifi::save))
        .route(
            "/api/v1/webhook",
            put(outbound::set_webhook).delete(outbound::remove_webhook),
        )
        .route("/api/v1/webhook/test", post(outbound::test_webhook))
        .route(
            "/api/v1/push-subscriptions",
            post(outbound::subscribe_push).delete(outbound::unsubscribe_push),
        )
        .route(
            "/api/v1/account",
            axum::routing::delete(account::delete_account),
        )
        .route("/api/v1/account/password", post(account::change_password))
        .route("/api/v1/account/email", post(account::change_email))
        .route("/api/v1/account/sessions", get(account::sessions))
        .route(
            "/api/v1/account/sessions/sign-out-others",
            post(account::sign_out_others),
        )
        .merge(tickets::router())
        .layer(axum::middleware::from_fn(crate::json_errors::objects_only))
}

/// A service's refusal as the API's: 404 `no mailbox <id>`, 400 with the service's code, 409,
/// billing refusals as [`billing::billing_error`] words them.
impl From<ServiceError> for ApiError {
    fn from(err: ServiceError) -> ApiError {
        match err {
            ServiceError::NotFound { .. } => ApiError::NotFound(err.to_string()),
            ServiceError::Invalid { code, message } => ApiError::bad_request(code, message),
            ServiceError::Conflict(message) => ApiError::Conflict(message),
            ServiceError::Forbidden(message) => ApiError::Forbidden(message),
            ServiceError::Billing(err) => billing::billing_error(err),
            ServiceError::Busy => ApiError::TooManyRequests {
                message: err.to_string(),
                retry_after_s: 5,
            },
            ServiceError::Store(err) => err.into(),
            ServiceError::Internal(err) => ApiError::Internal(err),
        }
    }
}

/// The signed-in customer as the actor of a service.
pub(crate) fn actor(user: &crate::accounts::CurrentUser) -> Actor {
    Actor::customer(user.user.id.as_str())
}

/// The signed-in user.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Me {
    pub id: String,
    pub email: String,
    pub role: crate::accounts::Role,
    pub time_zone: String,
    /// Send it back as `X-CSRF-Token` on writes.
    pub csrf_token: String,
}

#[utoipa::path(get, path = "/api/v1/me", tag = "customer",
    responses((status = 200, description = "The signed-in user", body = Me),
        (status = 401, description = "No session", body = crate::device_api::docs::ErrorDoc),
    ), security(("session" = [])))]
pub(crate) async fn me(ApiUser(user): ApiUser) -> Json<Me> {
    Json(Me {
        id: user.user.id,
        email: user.user.email,
        role: user.role,
        time_zone: user.user.time_zone,
        csrf_token: user.session.csrf_token,
    })
}

/// A mailbox as the API shows it.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Device {
    pub id: String,
    pub serial: String,
    pub name: String,
    pub location: String,
    pub lifecycle_state: String,
    pub power_state: String,
    pub battery_percentage: Option<i64>,
    pub signal_dbm: Option<i64>,
    pub network: Option<String>,
    pub firmware_version: Option<String>,
    pub checkin_interval_s: i64,
    /// Epoch milliseconds.
    pub last_seen_at: Option<i64>,
}

impl From<DeviceRow> for Device {
    fn from(d: DeviceRow) -> Self {
        Device {
            id: d.id,
            serial: d.serial,
            name: d.name,
            location: d.location,
            lifecycle_state: d.lifecycle_state.to_string(),
            power_state: d.power_state,
            battery_percentage: d.battery_percentage,
            signal_dbm: d.signal_dbm,
            network: d.network,
            firmware_version: d.firmware_version,
            checkin_interval_s: d.checkin_interval_s,
            last_seen_at: d.last_seen_at,
        }
    }
}

#[utoipa::path(get, path = "/api/v1/devices", tag = "customer",
    responses((status = 200, description = "The customer's mailboxes", body = Vec<Device>),
        (status = 401, description = "No session", body = crate::device_api::docs::ErrorDoc),
    ), security(("session" = [])))]
pub(crate) async fn devices(
    State(state): State<AppState>,
    ApiUser(user): ApiUser,
) -> Result<Json<Vec<Device>>, ApiError> {
    let rows = state.db.devices_of_owner(&user.user.id).await?;
    Ok(Json(rows.into_iter().map(Device::from).collect()))
}

/// The owner's subscription with this id; another customer's answers 404.
pub(crate) async fn owned_subscription(
    state: &AppState,
    owner: &str,
    subscription_id: &str,
) -> Result<SubscriptionRow, ApiError> {
    state
        .db
        .subscription_by_id(&SubscriptionId::new(subscription_id))
        .await?
        .filter(|s| s.customer_id == owner)
        .ok_or_else(|| ApiError::NotFound(format!("no subscription {subscription_id}")))
}

#[utoipa::path(get, path = "/api/v1/devices/{device_id}", tag = "customer",
    params(("device_id" = String, Path, description = "Mailbox id")),
    responses((status = 200, description = "The mailbox", body = Device),
        (status = 401, description = "No session", body = crate::device_api::docs::ErrorDoc),        (status = 404, description = "Not one of the customer's", body = crate::device_api::docs::ErrorDoc),
    ), security(("session" = [])))]
pub(crate) async fn device(
    State(state): State<AppState>,
    ApiUser(user): ApiUser,
    Path(device_id): Path<String>,
) -> Result<Json<Device>, ApiError> {
    let device = services::devices::get(&state, &actor(&user), &DeviceId::new(device_id)).await?;
    Ok(Json(device.into()))
}

/// `PATCH /api/v1/devices/{id}`: fields to change (each trimmed, at most
/// [`services::devices::MAX_TEXT`] characters, no control characters).
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct DeviceUpdate {
    #[schema(max_length = 60, pattern = "^[^\\u0000-\\u001F\\u007F-\\u009F]*$")]
    pub name: Option<String>,
    #[schema(max_length = 60, pattern = "^[^\\u0000-\\u001F\\u007F-\\u009F]*$")]
    pub location: Option<String>,
    /// Seconds between check-ins: 1800, 3600, 7200, 10800, 21600 (the default), 43200 or 86400.
    #[schema(schema_with = docs::checkin_interval)]
    #[serde(default, deserialize_with = "whole_number::whole_or_null")]
    pub checkin_interval_s: Option<i64>,
}

#[utoipa::path(patch, path = "/api/v1/devices/{device_id}", tag = "customer",
    params(("device_id" = String, Path, description = "Mailbox id")),
    request_body(content = DeviceUpdate, content_type = "application/json"),
    responses((status = 200, description = "The renamed or moved mailbox", body = Device),
        (status = 400, description = "Name or location too long, or a check-in interval not offered", body = crate::device_api::docs::ErrorDoc),
        (status = 401, description = "No session", body = crate::device_api::docs::ErrorDoc),
        (status = 403, description = "Missing or wrong X-CSRF-Token, or a cross-site request", body = crate::device_api::docs::ErrorDoc),
        (status = 404, description = "Not one of the customer's", body = crate::device_api::docs::ErrorDoc),
    ), security(("session" = [], "csrf" = [])))]
pub(crate) async fn update_device(
    State(state): State<AppState>,
    ApiUser(user): ApiUser,
    Path(device_id): Path<String>,
    Json(update): Json<DeviceUpdate>,
) -> Result<Json<Device>, ApiError> {
    let details = DeviceDetails {
        name: update.name,
        location: update.location,
        checkin_interval_s: update.checkin_interval_s,
    };
    let device =
        services::devices::update(&state, &actor(&user), &DeviceId::new(device_id), details)
            .await?;
    Ok(Json(device.into()))
}

/// A mail event.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Event {
    pub id: String,
    pub device_id: String,
    pub kind: String,
    /// Epoch milliseconds.
    pub occurred_at: i64,
    pub photo_count: i64,
    pub photos_received: i64,
    /// What a delivery brought, read from its photos (letter, large_envelope, package,
    /// magazine, flyer); `null` until read, and for anything but a delivery.
    pub category: Option<String>,
    /// How sure that category is, in percent.
    pub category_confidence: Option<i64>,
    /// What the photos showed: delivery, collection or false_trigger; `null` until read.
    pub mail_kind: Option<String>,
    /// Whether the customer corrected `mail_kind` or `category`.
    pub corrected: bool,
    /// URLs of the stored photos.
    pub photos: Vec<String>,
    /// Their 320 px thumbnails, in the same order (the photo itself until the thumbnail is made).
    pub thumbnails: Vec<String>,
}

/// `GET /api/v1/events` query.
#[derive(Debug, Deserialize, Default, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct EventsQuery {
    pub device_id: Option<String>,
    /// A category (letter, large_envelope, package, magazine, flyer), or `uncategorised`.
    #[param(schema_with = docs::mail_category_filter)]
    pub category: Option<String>,
    /// What the photos showed: delivery, collection or false_trigger.
    #[param(schema_with = docs::mail_kind)]
    pub kind: Option<String>,
    /// Cursor from the previous page's `next`.
    pub before: Option<String>,
    pub limit: Option<i64>,
}

/// A page of events; `next` is the cursor of the following page.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct EventPage {
    pub events: Vec<Event>,
    pub next: Option<String>,
}

#[utoipa::path(get, path = "/api/v1/events", tag = "customer",
    params(EventsQuery),
    responses((status = 200, description = "Mail events, newest first, by keyset page", body = EventPage),
        (status = 400, description = "An unknown category or kind", body = crate::device_api::docs::ErrorDoc),
        (status = 401, description = "No session", body = crate::device_api::docs::ErrorDoc),
    ), security(("session" = [])))]
pub(crate) async fn events(
    State(state): State<AppState>,
    ApiUser(user): ApiUser,
    Query(q): Query<EventsQuery>,
) -> Result<Json<EventPage>, ApiError> {
    let limit = q.limit.unwrap_or(50).clamp(1, 200);
    let before = q
        .before
        .as_deref()
        .and_then(smartbox_store::parse_gallery_cursor);
    let filter = GalleryFilter {
        device_id: q.device_id.as_deref(),
        category: services::mail::category_filter(q.category.as_deref())?,
        kind: services::mail::kind_filter(q.kind.as_deref())?,
        before,
        ..GalleryFilter::default()
    };
    let rows = state
        .db
        .gallery_page(&user.user.id, &filter, limit + 1)
        .await?;
    let next = (rows.len() as i64 > limit)
        .then(|| rows.get(limit as usize - 1))
        .flatten()
        .map(|r| format!("{}~{}", r.occurred_at, r.id));
    let events = rows
        .into_iter()
        .take(limit as usize)
        .map(|r| Event {
            photos: (0..r.photos_received.min(r.photo_count))
                .map(|i| format!("/photos/{}/{i}", r.id))
                .collect(),
            thumbnails: (0..r.photos_received.min(r.photo_count))
                .map(|i| format!("/photos/{}/{i}/thumbnail", r.id))
                .collect(),
            id: r.id,
            device_id: r.device_id,
            kind: r.kind,
            occurred_at: r.occurred_at,
            photo_count: r.photo_count,
            photos_received: r.photos_received,
            category: r.category,
            category_confidence: r.category_confidence,
            mail_kind: r.mail_kind,
            corrected: r.corrected_at.is_some(),
        })
        .collect();
    Ok(Json(EventPage { events, next }))
}

#[utoipa::path(get, path = "/api/v1/events/{event_id}", tag = "customer",
    params(("event_id" = String, Path, description = "Event id")),
    responses((status = 200, description = "The event and its photos", body = Event),
        (status = 401, description = "No session", body = crate::device_api::docs::ErrorDoc),        (status = 404, description = "Not one of the customer's", body = crate::device_api::docs::ErrorDoc),
    ), security(("session" = [])))]
pub(crate) async fn event(
    State(state): State<AppState>,
    ApiUser(user): ApiUser,
    Path(event_id): Path<String>,
) -> Result<Json<Event>, ApiError> {
    let e = state
        .db
        .event_of_owner(&user.user.id, &event_id)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("no event {event_id}")))?;
    let stored = state.db.photos_of_event(&e.id).await?;
    Ok(Json(Event::with_photos(e, &stored)))
}

impl Event {
    /// The event as the API shows it, with the links of its stored photos.
    fn with_photos(e: smartbox_store::MailEventRow, stored: &[smartbox_store::PhotoRow]) -> Event {
        Event {
            photos: stored
                .iter()
                .map(|p| format!("/photos/{}/{}", e.id, p.idx))
                .collect(),
            thumbnails: stored
                .iter()
                .map(|p| format!("/photos/{}/{}/thumbnail", e.id, p.idx))
                .collect(),
            id: e.id,
            device_id: e.device_id,
            kind: e.kind,
            occurred_at: e.occurred_at,
            photo_count: e.photo_count,
            photos_received: e.photos_received,
            category: e.category,
            category_confidence: e.category_confidence,
            mail_kind: e.mail_kind,
            corrected: e.corrected_at.is_some(),
        }
    }
}

/// An invoice.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Invoice {
    pub id: String,
    pub number: String,
    pub subscription_id: String,
    pub kind: String,
    pub status: String,
    pub total_cents: i64,
    pub period_start: i64,
    pub period_end: i64,
    pub created_at: i64,
    pub paid_at: Option<i64>,
    /// Present on `GET /api/v1/invoices/{id}`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lines: Option<Vec<InvoiceLine>>,
    /// The HTML view.
    pub html_url: String,
}

/// One line of an invoice.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct InvoiceLine {
    pub description: String,
    pub amount_cents: i64,
}

fn invoice_of(i: smartbox_store::InvoiceRow, lines: Option<Vec<InvoiceLine>>) -> Invoice {
    Invoice {
        html_url: format!("/billing/invoices/{}", i.id),
        id: i.id,
        number: i.number,
        subscription_id: i.subscription_id,
        kind: i.kind,
        status: i.status.to_string(),
        total_cents: i.total_cents,
        period_start: i.period_start,
        period_end: i.period_end,
        created_at: i.created_at,
        paid_at: i.paid_at,
        lines,
    }
}

#[utoipa::path(get, path = "/api/v1/invoices", tag = "customer",
    responses((status = 200, description = "The customer's invoices, newest first", body = Vec<Invoice>),
        (status = 401, description = "No session", body = crate::device_api::docs::ErrorDoc),
    ), security(("session" = [])))]
pub(crate) async fn invoices(
    State(state): State<AppState>,
    ApiUser(user): ApiUser,
) -> Result<Json<Vec<Invoice>>, ApiError> {
    let rows = state
        .db
        .invoices_of_customer(&UserId::new(user.user.id.as_str()))
        .await?;
    Ok(Json(
        rows.into_iter()
            .filter(|i| i.status.is_issued())
            .map(|i| invoice_of(i, None))
            .collect(),
    ))
}

#[utoipa::path(get, path = "/api/v1/invoices/{invoice_id}", tag = "customer",
    params(("invoice_id" = String, Path, description = "Invoice id")),
    responses((status = 200, description = "The invoice with its lines", body = Invoice),
        (status = 401, description = "No session", body = crate::device_api::docs::ErrorDoc),        (status = 404, description = "Not one of the customer's", body = crate::device_api::docs::ErrorDoc),
    ), security(("session" = [])))]
pub(crate) async fn invoice(
    State(state): State<AppState>,
    ApiUser(user): ApiUser,
    Path(invoice_id): Path<String>,
) -> Result<Json<Invoice>, ApiError> {
    let row = state
        .db
        .invoice_by_id(&InvoiceId::new(invoice_id.as_str()))
        .await?
        .filter(|i| i.customer_id == user.user.id && i.status.is_issued())
        .ok_or_else(|| ApiError::NotFound(format!("no invoice {invoice_id}")))?;
    let lines = state
        .db
        .invoice_lines(&InvoiceId::new(row.id.as_str()))
        .await?
        .into_iter()
        .map(|l| InvoiceLine {
            description: l.description,
            amount_cents: l.amount_cents,
        })
        .collect();
    Ok(Json(invoice_of(row, Some(lines))))
}

/// A subscription.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Subscription {
    pub id: String,
    pub device_id: String,
    pub plan: String,
    pub pending_plan: Option<String>,
    pub status: String,
    pub current_period_start: i64,
    pub current_period_end: i64,
    pub cancel_at_period_end: bool,
    pub spend_cap_cents: Option<i64>,
    pub has_payment_method: bool,
}

#[utoipa::path(get, path = "/api/v1/subscriptions", tag = "customer",
    responses((status = 200, description = "The customer's subscriptions, newest first", body = Vec<Subscription>),
        (status = 401, description = "No session", body = crate::device_api::docs::ErrorDoc),
    ), security(("session" = [])))]
pub(crate) async fn subscriptions(
    State(state): State<AppState>,
    ApiUser(user): ApiUser,
) -> Result<Json<Vec<Subscription>>, ApiError> {
    let rows = state
        .db
        .subscriptions_of_customer(&UserId::new(user.user.id.as_str()))
        .await?;
    Ok(Json(rows.into_iter().map(Subscription::from).collect()))
}

impl From<SubscriptionRow> for Subscription {
    fn from(s: SubscriptionRow) -> Self {
        Subscription {
            id: s.id,
            device_id: s.device_id,
            plan: s.plan_id,
            pending_plan: s.pending_plan_id,
            status: s.status.to_string(),
            current_period_start: s.current_period_start,
            current_period_end: s.current_period_end,
            cancel_at_period_end: s.cancel_at_period_end,
            spend_cap_cents: s.spend_cap_cents,
            has_payment_method: s.payment_method_id.is_some(),
        }
    }
}
