//! The admin JSON API under `/api/admin/v1` (DESIGN §6): the device inventory, one mailbox with
//! its staff dates and audit trail, its lifecycle and service actions, and the actions on a
//! customer's subscriptions, invoices and password (`accounts`); firmware rollouts
//! ([`rollouts`]). Session-authenticated with a
//! staff role ([`ApiStaff`]: 401 without a session, 404 for a customer) and the CSRF header on
//! writes, as the customer API. Each action is the same service call as the admin page's.

mod accounts;
mod docs;
mod metrics;
mod rollouts;
mod tickets;

use axum::extract::{Path, Query, State};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use smartbox_domain::DeviceId;
use smartbox_store::AuditEntry;

use crate::admin::ApiStaff;
use crate::admin::audit::AuditQuery;
use crate::admin::customers::SearchQuery;
use crate::admin::devices::{InventoryQuery, PAGE_SIZE};
use crate::admin::jobs::JobsQuery;
use crate::customer_api::Device;
use crate::error::ApiError;
use crate::services::{staff_billing, staff_devices, staff_jobs, staff_service};
use crate::state::AppState;

pub use docs::AdminApiDoc;
pub use tickets::AdminTicketsApiDoc;

/// The admin API's routes.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/admin/v1/devices", get(devices))
        .route("/api/admin/v1/devices/{device_id}", get(device))
        .route("/api/admin/v1/devices/{device_id}/{action}", post(act))
        .route(
            "/api/admin/v1/devices/{device_id}/refurbish",
            post(refurbish),
        )
        .route("/api/admin/v1/customers", get(customers))
        .route(
            "/api/admin/v1/payments/{payment_id}/refund",
            post(refund_payment),
        )
        .route("/api/admin/v1/jobs", get(jobs))
        .route("/api/admin/v1/jobs/{job_id}/retry", post(retry_job))
        .route("/api/admin/v1/audit", get(audit))
        .merge(tickets::router())
        .route("/api/admin/v1/metrics", get(metrics::metrics))
        .merge(accounts::router())
        .route(
            "/api/admin/v1/rollouts",
            get(rollouts::list).post(rollouts::start),
        )
        .route("/api/admin/v1/rollouts/{rollout_id}", get(rollouts::get))
        .route(
            "/api/admin/v1/rollouts/{rollout_id}/{command}",
            post(rollouts::act),
        )
        .route(
            "/api/admin/v1/firmware/images",
            post(rollouts::upload).layer(axum::extract::DefaultBodyLimit::max(
                crate::admin::firmware::MAX_UPLOAD_BYTES,
            )),
        )
        .route("/api/admin/v1/devices/{device_id}/tags", post(add_tag))
        .route(
            "/api/admin/v1/devices/{device_id}/tags/{tag}",
            axum::routing::delete(remove_tag),
        )
}

/// A mailbox in the inventory.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct InventoryDevice {
    #[serde(flatten)]
    pub device: Device,
    pub owner_id: Option<String>,
    pub owner_email: Option<String>,
}

/// One page of the inventory; `next` is the `after` of the next page.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct InventoryPage {
    pub devices: Vec<InventoryDevice>,
    pub next: Option<String>,
}

#[utoipa::path(get, path = "/api/admin/v1/devices", tag = "admin",
    params(("lifecycle" = Option<String>, Query, description = "Only mailboxes in this lifecycle state"),
        ("firmware" = Option<String>, Query, description = "Only this firmware version"),
        ("silent_hours" = Option<i64>, Query, description = "Not heard from for this many hours, or never"),
        ("battery_below" = Option<i64>, Query, description = "Battery below this percentage"),
        ("signal_below" = Option<i64>, Query, description = "Signal below this dBm"),
        ("after" = Option<String>, Query, description = "Serials after this one (the `next` of the previous page)")),
    responses((status = 200, description = "A page of the inventory, by serial", body = InventoryPage),
        (status = 400, description = "A filter value out of range", body = crate::device_api::docs::ErrorDoc),
        (status = 401, description = "No session", body = crate::device_api::docs::ErrorDoc),
        (status = 404, description = "Not staff", body = crate::device_api::docs::ErrorDoc),
    ), security(("session" = [])))]
pub(crate) async fn devices(
    State(state): State<AppState>,
    _staff: ApiStaff,
    Query(q): Query<InventoryQuery>,
) -> Result<Json<InventoryPage>, ApiError> {
    let filter = q
        .filter(state.clock.now_ms())
        .map_err(|m| ApiError::bad_request("invalid_filter", m))?;
    let rows = state
        .db
        .inventory_page(&filter, &q.after, PAGE_SIZE)
        .await?;
    let next = (rows.len() as i64 == PAGE_SIZE)
        .then(|| rows.last().map(|r| r.device.serial.clone()))
        .flatten();
    Ok(Json(InventoryPage {
        devices: rows
            .into_iter()
            .map(|r| InventoryDevice {
                owner_id: r.device.owner_id.clone(),
                owner_email: r.owner_email,
                device: r.device.into(),
            })
            .collect(),
        next,
    }))
}

/// An audit entry.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Audit {
    /// Epoch milliseconds.
    pub at: i64,
    pub actor: String,
    pub entity_type: String,
    pub entity_id: String,
    pub action: String,
    pub detail: serde_json::Value,
}

impl From<AuditEntry> for Audit {
    fn from(e: AuditEntry) -> Audit {
        Audit {
            at: e.at,
            actor: e.actor,
            entity_type: e.entity_type,
            entity_id: e.entity_id,
            action: e.action,
            detail: serde_json::from_str(&e.detail).unwrap_or(serde_json::Value::Null),
        }
    }
}

/// A mailbox as staff see it.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct AdminDevice {
    #[serde(flatten)]
    pub device: Device,
    pub owner_id: Option<String>,
    /// Epoch milliseconds.
    pub shipped_at: Option<i64>,
    /// Epoch milliseconds.
    pub return_received_at: Option<i64>,
    /// The board it last reported (`esp32c6` until it reports one).
    pub hardware_revision: String,
    /// Staff's tags, in order (a rollout may be aimed at one).
    pub tags: Vec<String>,
    /// Oldest first.
    pub audit: Vec<Audit>,
}

async fn admin_device(state: &AppState, device_id: &str) -> Result<AdminDevice, ApiError> {
    let device = state
        .db
        .device_by_id(device_id)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("no mailbox {device_id}")))?;
    let dates = state
        .db
        .device_staff_dates(&DeviceId::new(&device.id))
        .await?
        .unwrap_or_default();
    let audit = state.db.audit_for("device", &device.id).await?;
    let id = DeviceId::new(&device.id);
    let hardware_revision = state.db.hardware_revision(&id).await?.unwrap_or_default();
    let tags = state.db.device_tags(&id).await?;
    Ok(AdminDevice {
        owner_id: device.owner_id.clone(),
        shipped_at: dates.shipped_at,
        return_received_at: dates.return_received_at,
        hardware_revision,
        tags: tags.into_iter().map(|t| t.tag).collect(),
        audit: audit.into_iter().map(Audit::from).collect(),
        device: device.into(),
    })
}

#[utoipa::path(get, path = "/api/admin/v1/devices/{device_id}", tag = "admin",
    params(("device_id" = String, Path, description = "Mailbox id")),
    responses((status = 200, description = "The mailbox, its staff dates and audit trail", body = AdminDevice),
        (status = 401, description = "No session", body = crate::device_api::docs::ErrorDoc),
        (status = 404, description = "No such mailbox, or not staff", body = crate::device_api::docs::ErrorDoc),
    ), security(("session" = [])))]
pub(crate) async fn device(
    State(state): State<AppState>,
    _staff: ApiStaff,
    Path(device_id): Path<String>,
) -> Result<Json<AdminDevice>, ApiError> {
    Ok(Json(admin_device(&state, &device_id).await?))
}

/// Why staff take an action.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct ReasonRequest {
    /// 3 to 500 characters.
    pub reason: String,
}

#[utoipa::path(post, path = "/api/admin/v1/devices/{device_id}/{action}", tag = "admin",
    params(("device_id" = String, Path, description = "Mailbox id"),
        ("action" = String, Path, description = "`ship`, `suspend` (service), `resume` (service), `receive` or `decommission`")),
    request_body = ReasonRequest,
    responses((status = 200, description = "Done; the mailbox as it is now", body = AdminDevice),
        (status = 400, description = "No reason", body = crate::device_api::docs::ErrorDoc),
        (status = 401, description = "No session", body = crate::device_api::docs::ErrorDoc),
        (status = 403, description = "Missing or wrong X-CSRF-Token", body = crate::device_api::docs::ErrorDoc),
        (status = 404, description = "No such mailbox, or not staff", body = crate::device_api::docs::ErrorDoc),
        (status = 409, description = "The action does not apply in the mailbox's lifecycle state", body = crate::device_api::docs::ErrorDoc),
    ), security(("session" = [], "csrf" = [])))]
pub(crate) async fn act(
    State(state): State<AppState>,
    ApiStaff(staff): ApiStaff,
    Path((device_id, action)): Path<(String, String)>,
    Json(body): Json<ReasonRequest>,
) -> Result<Json<AdminDevice>, ApiError> {
    let (actor, id) = (staff.actor(), DeviceId::new(device_id.clone()));
    match action.as_str() {
        "ship" => {
            staff_devices::mark_shipped(&state, &actor, &id, &body.reason).await?;
        }
        "suspend" => {
            staff_service::suspend(&state, &actor, &id, &body.reason).await?;
        }
        "resume" => {
            staff_service::resume(&state, &actor, &id, &body.reason).await?;
        }
        "receive" => {
            staff_devices::receive_return(&state, &actor, &id, &body.reason).await?;
        }
        "decommission" => {
            staff_devices::decommission(&state, &actor, &id, &body.reason).await?;
        }
        _ => return Err(ApiError::NotFound(format!("no action {action}"))),
    }
    Ok(Json(admin_device(&state, &device_id).await?))
}

/// A tag to put on a mailbox.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct TagRequest {
    /// A lowercase letter, then up to 23 of a-z, 0-9 and `-`.
    pub tag: String,
}

/// The serial of the mailbox `device_id`, for the services that take one.
async fn serial_of(state: &AppState, device_id: &str) -> Result<String, ApiError> {
    Ok(state
        .db
        .device_by_id(device_id)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("no mailbox {device_id}")))?
        .serial)
}

#[utoipa::path(post, path = "/api/admin/v1/devices/{device_id}/tags", tag = "admin",
    params(("device_id" = String, Path, description = "Mailbox id")),
    request_body = TagRequest,
    responses((status = 200, description = "Tagged (a tag it had is kept); the mailbox as it is now", body = AdminDevice),
        (status = 400, description = "Not a tag, or 20 tags already", body = crate::device_api::docs::ErrorDoc),
        (status = 401, description = "No session", body = crate::device_api::docs::ErrorDoc),
        (status = 403, description = "Missing or wrong X-CSRF-Token", body = crate::device_api::docs::ErrorDoc),
        (status = 404, description = "No such mailbox, or not staff", body = crate::device_api::docs::ErrorDoc),
    ), security(("session" = [], "csrf" = [])))]
pub(crate) async fn add_tag(
    State(state): State<AppState>,
    ApiStaff(staff): ApiStaff,
    Path(device_id): Path<String>,
    Json(body): Json<TagRequest>,
) -> Result<Json<AdminDevice>, ApiError> {
    let serial = serial_of(&state, &device_id).await?;
    crate::services::device_tags::tag(&state, &staff.actor(), &serial, &body.tag).await?;
    Ok(Json(admin_device(&state, &device_id).await?))
}

#[utoipa::path(delete, path = "/api/admin/v1/devices/{device_id}/tags/{tag}", tag = "admin",
    params(("device_id" = String, Path, description = "Mailbox id"),
        ("tag" = String, Path, description = "The tag to remove")),
    responses((status = 200, description = "Untagged; the mailbox as it is now", body = AdminDevice),
        (status = 400, description = "Not a tag, or the mailbox does not have it", body = crate::device_api::docs::ErrorDoc),
        (status = 401, description = "No session", body = crate::device_api::docs::ErrorDoc),
        (status = 403, description = "Missing or wrong X-CSRF-Token", body = crate::device_api::docs::ErrorDoc),
        (status = 404, description = "No such mailbox, or not staff", body = crate::device_api::docs::ErrorDoc),
    ), security(("session" = [], "csrf" = [])))]
pub(crate) async fn remove_tag(
    State(state): State<AppState>,
    ApiStaff(staff): ApiStaff,
    Path((device_id, tag)): Path<(String, String)>,
) -> Result<Json<AdminDevice>, ApiError> {
    let serial = serial_of(&state, &device_id).await?;
    crate::services::device_tags::untag(&state, &staff.actor(), &serial, &tag).await?;
    Ok(Json(admin_device(&state, &device_id).await?))
}

/// A refurbished mailbox's new credentials, shown once.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct NewCredentials {
    pub serial: String,
    /// 64 hex characters, to flash into the mailbox.
    pub secret: String,
    /// To print on the box.
    pub claim_code: String,
}

#[utoipa::path(post, path = "/api/admin/v1/devices/{device_id}/refurbish", tag = "admin",
    params(("device_id" = String, Path, description = "Mailbox id")),
    request_body = ReasonRequest,
    responses((status = 200, description = "Refurbished: the new secret and claim code, shown once", body = NewCredentials),
        (status = 400, description = "No reason", body = crate::device_api::docs::ErrorDoc),
        (status = 401, description = "No session", body = crate::device_api::docs::ErrorDoc),
        (status = 403, description = "Missing or wrong X-CSRF-Token", body = crate::device_api::docs::ErrorDoc),
        (status = 404, description = "No such mailbox, or not staff", body = crate::device_api::docs::ErrorDoc),
        (status = 409, description = "Not a returned mailbox", body = crate::device_api::docs::ErrorDoc),
    ), security(("session" = [], "csrf" = [])))]
pub(crate) async fn refurbish(
    State(state): State<AppState>,
    ApiStaff(staff): ApiStaff,
    Path(device_id): Path<String>,
    Json(body): Json<ReasonRequest>,
) -> Result<Json<NewCredentials>, ApiError> {
    let record = staff_devices::refurbish(
        &state,
        &staff.actor(),
        &DeviceId::new(device_id),
        &body.reason,
    )
    .await?;
    Ok(Json(NewCredentials {
        serial: record.serial,
        secret: record.secret_hex,
        claim_code: record.claim_code,
    }))
}

/// A customer found by the search.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct CustomerHit {
    pub id: String,
    pub email: String,
    pub display_name: String,
    /// Epoch milliseconds.
    pub created_at: i64,
    /// Mailboxes they own now.
    pub devices: i64,
}

/// One page of customers; `next_page` when there are more.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct CustomerPage {
    pub customers: Vec<CustomerHit>,
    pub next_page: Option<i64>,
}

#[utoipa::path(get, path = "/api/admin/v1/customers", tag = "admin",
    params(("q" = Option<String>, Query, description = "Email (prefix), name (part), serial or invoice number"),
        ("page" = Option<i64>, Query, description = "1-based page of 50")),
    responses((status = 200, description = "Matching customers by email", body = CustomerPage),
        (status = 400, description = "Page out of range", body = crate::device_api::docs::ErrorDoc),
        (status = 401, description = "No session", body = crate::device_api::docs::ErrorDoc),
        (status = 404, description = "Not staff", body = crate::device_api::docs::ErrorDoc),
    ), security(("session" = [])))]
pub(crate) async fn customers(
    State(state): State<AppState>,
    _staff: ApiStaff,
    Query(query): Query<SearchQuery>,
) -> Result<Json<CustomerPage>, ApiError> {
    use crate::admin::customers::PAGE_SIZE;
    let page = query
        .page()
        .map_err(|m| ApiError::bad_request("invalid_page", m))?;
    let mut rows = state
        .db
        .customers_page(&query.q, PAGE_SIZE + 1, (page - 1) * PAGE_SIZE)
        .await?;
    let next_page = (rows.len() as i64 > PAGE_SIZE).then_some(page + 1);
    rows.truncate(PAGE_SIZE as usize);
    Ok(Json(CustomerPage {
        customers: rows
            .into_iter()
            .map(|c| CustomerHit {
                id: c.id,
                email: c.email,
                display_name: c.display_name,
                created_at: c.created_at,
                devices: c.devices,
            })
            .collect(),
        next_page,
    }))
}

/// A job that failed for good.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct FailedJob {
    pub id: String,
    pub kind: String,
    pub attempts: i64,
    pub last_error: Option<String>,
    /// Epoch milliseconds.
    pub failed_at: i64,
}

#[utoipa::path(get, path = "/api/admin/v1/jobs", tag = "admin",
    params(("kind" = Option<String>, Query, description = "Only jobs of this kind")),
    responses((status = 200, description = "Jobs that failed for good, newest first", body = Vec<FailedJob>),
        (status = 401, description = "No session", body = crate::device_api::docs::ErrorDoc),
        (status = 404, description = "Not staff", body = crate::device_api::docs::ErrorDoc),
    ), security(("session" = [])))]
pub(crate) async fn jobs(
    State(state): State<AppState>,
    _staff: ApiStaff,
    Query(q): Query<JobsQuery>,
) -> Result<Json<Vec<FailedJob>>, ApiError> {
    let jobs = state
        .db
        .failed_jobs(q.kind.trim(), crate::admin::jobs::LIMIT)
        .await?;
    Ok(Json(
        jobs.into_iter()
            .map(|j| FailedJob {
                id: j.id,
                kind: j.kind,
                attempts: j.attempts,
                last_error: j.last_error,
                failed_at: j.updated_at,
            })
            .collect(),
    ))
}

#[utoipa::path(post, path = "/api/admin/v1/jobs/{job_id}/retry", tag = "admin",
    params(("job_id" = String, Path, description = "Job id")),
    request_body = ReasonRequest,
    responses((status = 204, description = "Queued again, now, with its attempts reset"),
        (status = 400, description = "No reason", body = crate::device_api::docs::ErrorDoc),
        (status = 401, description = "No session", body = crate::device_api::docs::ErrorDoc),
        (status = 403, description = "Missing or wrong X-CSRF-Token", body = crate::device_api::docs::ErrorDoc),
        (status = 404, description = "No such job, or not staff", body = crate::device_api::docs::ErrorDoc),
        (status = 409, description = "The job did not fail for good", body = crate::device_api::docs::ErrorDoc),
    ), security(("session" = [], "csrf" = [])))]
pub(crate) async fn retry_job(
    State(state): State<AppState>,
    ApiStaff(staff): ApiStaff,
    Path(job_id): Path<String>,
    Json(body): Json<ReasonRequest>,
) -> Result<axum::http::StatusCode, ApiError> {
    staff_jobs::retry(&state, &staff.actor(), &job_id, &body.reason).await?;
    Ok(axum::http::StatusCode::NO_CONTENT)
}

#[utoipa::path(get, path = "/api/admin/v1/audit", tag = "admin",
    params(AuditQuery),
    responses((status = 200, description = "Audit entries, newest first (at most 200)", body = Vec<Audit>),
        (status = 401, description = "No session", body = crate::device_api::docs::ErrorDoc),
        (status = 404, description = "Not staff", body = crate::device_api::docs::ErrorDoc),
    ), security(("session" = [])))]
pub(crate) async fn audit(
    State(state): State<AppState>,
    _staff: ApiStaff,
    Query(q): Query<AuditQuery>,
) -> Result<Json<Vec<Audit>>, ApiError> {
    let entries = crate::admin::audit::entries(&state, &q).await?;
    Ok(Json(entries.into_iter().map(Audit::from).collect()))
}

/// A refund: the amount in cents (all that is left when absent), why, and a key naming this
/// request (the same key again returns the same refund, never a second one).
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct RefundRequestBody {
    pub amount_cents: Option<i64>,
    pub reason: String,
    /// 8 to 200 characters.
    pub idempotency_key: String,
}

/// What a refund did.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct RefundDone {
    pub refund_id: String,
    pub amount_cents: i64,
    /// True when nothing of the payment is left to refund.
    pub full: bool,
}

#[utoipa::path(post, path = "/api/admin/v1/payments/{payment_id}/refund", tag = "admin",
    params(("payment_id" = String, Path, description = "Payment id")),
    request_body = RefundRequestBody,
    responses((status = 200, description = "Refunded through the payment provider", body = RefundDone),
        (status = 400, description = "No reason, no key, or an amount the provider refuses", body = crate::device_api::docs::ErrorDoc),
        (status = 401, description = "No session", body = crate::device_api::docs::ErrorDoc),
        (status = 403, description = "Support (only admin refunds), or a missing X-CSRF-Token", body = crate::device_api::docs::ErrorDoc),
        (status = 404, description = "No such payment, or not staff", body = crate::device_api::docs::ErrorDoc),
        (status = 409, description = "The payment did not succeed", body = crate::device_api::docs::ErrorDoc),
    ), security(("session" = [], "csrf" = [])))]
pub(crate) async fn refund_payment(
    State(state): State<AppState>,
    ApiStaff(staff): ApiStaff,
    Path(payment_id): Path<String>,
    Json(body): Json<RefundRequestBody>,
) -> Result<Json<RefundDone>, ApiError> {
    let done = staff_billing::refund(
        &state,
        &staff.actor(),
        &payment_id,
        body.amount_cents.map(smartbox_domain::Cents::new),
        &body.idempotency_key,
        &body.reason,
    )
    .await?;
    Ok(Json(RefundDone {
        refund_id: done.refund_id,
        amount_cents: done.amount.get(),
        full: done.full,
    }))
}
