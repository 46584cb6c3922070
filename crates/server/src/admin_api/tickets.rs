//! `/api/admin/v1/tickets` and `/api/admin/v1/saved-replies`: the support inbox and a ticket's
//! page as JSON (issue 20) — the thread with internal notes, the frozen context, replying,
//! noting, assigning, the priority and the status, saved replies. Each calls the same service as
//! the admin page.

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use smartbox_domain::TicketId;
use smartbox_store::{SavedReplyRow, TicketMessageRow, TicketRow};
use utoipa::OpenApi;

use crate::admin::ApiStaff;
use crate::admin::tickets::{InboxQuery, LIMIT, apply_settings, changed_settings};
use crate::error::ApiError;
use crate::services::ticket_context::TicketContext;
use crate::services::tickets;
use crate::state::AppState;

/// The routes.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/admin/v1/tickets", get(inbox))
        .route(
            "/api/admin/v1/tickets/{ticket_id}",
            get(ticket).patch(update),
        )
        .route(
            "/api/admin/v1/tickets/{ticket_id}/messages",
            axum::routing::post(write),
        )
        .route(
            "/api/admin/v1/saved-replies",
            get(saved_replies).post(save_reply),
        )
}

/// This part of the OpenAPI document.
#[derive(Debug, OpenApi)]
#[openapi(
    paths(inbox, ticket, update, write, saved_replies, save_reply),
    components(schemas(
        StaffTicket,
        StaffTicketMessage,
        StaffTicketDetail,
        StaffMessageRequest,
        TicketUpdateRequest,
        SavedReply,
        SavedReplyRequest,
        TicketContext,
        crate::services::ticket_context::MailboxSnapshot,
        crate::services::ticket_context::EventSnapshot,
        crate::services::ticket_context::SubscriptionSnapshot,
        crate::services::ticket_context::InvoiceSnapshot,
        crate::services::ticket_context::PaymentFailureSnapshot,
    ))
)]
pub struct AdminTicketsApiDoc;

/// A ticket as staff see it in the inbox.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct StaffTicket {
    pub id: String,
    pub subject: String,
    pub customer_id: String,
    pub customer_email: Option<String>,
    pub device_id: Option<String>,
    /// `billing`, `mailbox`, `photos_notifications` or `other`.
    pub category: String,
    /// `new`, `open`, `waiting_on_customer` or `solved`.
    pub status: String,
    /// `low`, `normal`, `high` or `urgent`.
    pub priority: String,
    pub assignee_id: Option<String>,
    pub assignee_email: Option<String>,
    /// Epoch milliseconds.
    pub first_response_due_at: i64,
    /// Epoch milliseconds, once staff answered.
    pub first_responded_at: Option<i64>,
    /// The first reply is late.
    pub overdue: bool,
    /// Epoch milliseconds.
    pub created_at: i64,
    /// Epoch milliseconds.
    pub updated_at: i64,
}

impl StaffTicket {
    fn of(
        t: TicketRow,
        customer_email: Option<String>,
        assignee_email: Option<String>,
        now: i64,
    ) -> StaffTicket {
        StaffTicket {
            overdue: t.overdue(now),
            id: t.id,
            subject: t.subject,
            customer_id: t.customer_id,
            customer_email,
            device_id: t.device_id,
            category: t.category.as_str().to_owned(),
            status: t.status.as_str().to_owned(),
            priority: t.priority.as_str().to_owned(),
            assignee_id: t.assignee_id,
            assignee_email,
            first_response_due_at: t.first_response_due_at,
            first_responded_at: t.first_responded_at,
            created_at: t.created_at,
            updated_at: t.updated_at,
        }
    }
}

/// A message of the thread, internal notes included.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct StaffTicketMessage {
    pub id: String,
    pub author_id: Option<String>,
    pub from_staff: bool,
    /// A note the customer never sees.
    pub internal: bool,
    pub body: String,
    /// Epoch milliseconds.
    pub created_at: i64,
}

impl From<TicketMessageRow> for StaffTicketMessage {
    fn from(m: TicketMessageRow) -> StaffTicketMessage {
        StaffTicketMessage {
            id: m.id,
            author_id: m.author_id,
            from_staff: m.from_staff,
            internal: m.internal,
            body: m.body,
            created_at: m.created_at,
        }
    }
}

/// A ticket with its whole thread and the context frozen when it was opened.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct StaffTicketDetail {
    #[serde(flatten)]
    pub ticket: StaffTicket,
    pub messages: Vec<StaffTicketMessage>,
    pub context: Option<TicketContext>,
}

/// `POST /api/admin/v1/tickets/{id}/messages`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct StaffMessageRequest {
    /// 1-5000 characters.
    #[schema(min_length = 1, max_length = 5000)]
    pub body: String,
    /// An internal note (never shown to the customer, nobody emailed) instead of a reply.
    #[serde(default)]
    pub internal: bool,
}

/// `PATCH /api/admin/v1/tickets/{id}`: what to change; absent fields stay.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct TicketUpdateRequest {
    /// A staff member's id; an empty string unassigns.
    #[serde(default)]
    pub assignee_id: Option<String>,
    /// `low`, `normal`, `high` or `urgent`.
    #[serde(default)]
    pub priority: Option<String>,
    /// `new`, `open`, `waiting_on_customer` or `solved`.
    #[serde(default)]
    pub status: Option<String>,
}

/// An answer staff reuse.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct SavedReply {
    pub id: String,
    pub title: String,
    pub body: String,
}

impl From<SavedReplyRow> for SavedReply {
    fn from(r: SavedReplyRow) -> SavedReply {
        SavedReply {
            id: r.id,
            title: r.title,
            body: r.body,
        }
    }
}

/// `POST /api/admin/v1/saved-replies`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct SavedReplyRequest {
    /// 1-80 characters, not used by another saved reply.
    #[schema(min_length = 1, max_length = 80)]
    pub title: String,
    /// 1-5000 characters.
    #[schema(min_length = 1, max_length = 5000)]
    pub body: String,
}

async fn detail(
    state: &AppState,
    staff: &ApiStaff,
    id: &TicketId,
) -> Result<StaffTicketDetail, ApiError> {
    let thread = tickets::thread(state, &staff.0.actor(), id).await?;
    let email = |id: Option<String>| async move {
        match id {
            Some(id) => state.db.user_by_id(&id).await.map(|u| u.map(|u| u.email)),
            None => Ok(None),
        }
    };
    let customer = email(Some(thread.ticket.customer_id.clone())).await?;
    let assignee = email(thread.ticket.assignee_id.clone()).await?;
    Ok(StaffTicketDetail {
        ticket: StaffTicket::of(thread.ticket, customer, assignee, state.clock.now_ms()),
        messages: thread.messages.into_iter().map(Into::into).collect(),
        context: thread.context,
    })
}

#[utoipa::path(get, path = "/api/admin/v1/tickets", tag = "admin",
    params(("status" = Option<String>, Query, description = "new, open, waiting_on_customer or solved"),
        ("priority" = Option<String>, Query, description = "low, normal, high or urgent"),
        ("assignee" = Option<String>, Query, description = "`none`, `me` or a staff id"),
        ("overdue" = Option<String>, Query, description = "1: only tickets whose first reply is late")),
    responses((status = 200, description = "The inbox: those awaiting staff by due time first", body = [StaffTicket]),
        (status = 400, description = "A filter value out of range", body = crate::device_api::docs::ErrorDoc),
        (status = 401, description = "No session", body = crate::device_api::docs::ErrorDoc),
        (status = 404, description = "Not staff", body = crate::device_api::docs::ErrorDoc),
    ), security(("session" = [])))]
pub(crate) async fn inbox(
    State(state): State<AppState>,
    staff: ApiStaff,
    Query(q): Query<InboxQuery>,
) -> Result<Json<Vec<StaffTicket>>, ApiError> {
    let now = state.clock.now_ms();
    let filter = q
        .filter(&staff.0, now)
        .map_err(|m| ApiError::bad_request("invalid_filter", m))?;
    let rows = state.db.ticket_inbox(&filter, LIMIT).await?;
    Ok(Json(
        rows.into_iter()
            .map(|r| StaffTicket::of(r.ticket, Some(r.customer_email), r.assignee_email, now))
            .collect(),
    ))
}

#[utoipa::path(get, path = "/api/admin/v1/tickets/{ticket_id}", tag = "admin",
    params(("ticket_id" = String, Path, description = "Ticket id")),
    responses((status = 200, description = "The ticket, its thread with internal notes, its frozen context", body = StaffTicketDetail),
        (status = 401, description = "No session", body = crate::device_api::docs::ErrorDoc),
        (status = 404, description = "No such ticket, or not staff", body = crate::device_api::docs::ErrorDoc),
    ), security(("session" = [])))]
pub(crate) async fn ticket(
    State(state): State<AppState>,
    staff: ApiStaff,
    Path(id): Path<String>,
) -> Result<Json<StaffTicketDetail>, ApiError> {
    Ok(Json(detail(&state, &staff, &TicketId::new(id)).await?))
}

#[utoipa::path(patch, path = "/api/admin/v1/tickets/{ticket_id}", tag = "admin",
    params(("ticket_id" = String, Path, description = "Ticket id")),
    request_body(content = TicketUpdateRequest, content_type = "application/json"),
    responses((status = 200, description = "Changed; each change has its audit entry", body = StaffTicketDetail),
        (status = 400, description = "An unknown priority or status, or an assignee who is not staff", body = crate::device_api::docs::ErrorDoc),
        (status = 401, description = "No session", body = crate::device_api::docs::ErrorDoc),
        (status = 403, description = "Missing or wrong X-CSRF-Token", body = crate::device_api::docs::ErrorDoc),
        (status = 404, description = "No such ticket, or not staff", body = crate::device_api::docs::ErrorDoc),
        (status = 409, description = "The ticket changed meanwhile", body = crate::device_api::docs::ErrorDoc),
    ), security(("session" = [], "csrf" = [])))]
pub(crate) async fn update(
    State(state): State<AppState>,
    staff: ApiStaff,
    Path(id): Path<String>,
    Json(body): Json<TicketUpdateRequest>,
) -> Result<Json<StaffTicketDetail>, ApiError> {
    let id = TicketId::new(id);
    let ticket = tickets::thread(&state, &staff.0.actor(), &id).await?.ticket;
    let settings = changed_settings(
        &ticket,
        body.assignee_id.as_deref(),
        body.priority.as_deref(),
        body.status.as_deref(),
    )
    .map_err(|m| ApiError::bad_request("invalid_ticket_setting", m))?;
    apply_settings(&state, &staff.0, &id, settings).await?;
    Ok(Json(detail(&state, &staff, &id).await?))
}

#[utoipa::path(post, path = "/api/admin/v1/tickets/{ticket_id}/messages", tag = "admin",
    params(("ticket_id" = String, Path, description = "Ticket id")),
    request_body(content = StaffMessageRequest, content_type = "application/json"),
    responses((status = 201, description = "A reply (the customer is emailed a link) or an internal note", body = StaffTicketMessage),
        (status = 400, description = "Empty or over 5000 characters", body = crate::device_api::docs::ErrorDoc),
        (status = 401, description = "No session", body = crate::device_api::docs::ErrorDoc),
        (status = 403, description = "Missing or wrong X-CSRF-Token", body = crate::device_api::docs::ErrorDoc),
        (status = 404, description = "No such ticket, or not staff", body = crate::device_api::docs::ErrorDoc),
    ), security(("session" = [], "csrf" = [])))]
pub(crate) async fn write(
    State(state): State<AppState>,
    staff: ApiStaff,
    Path(id): Path<String>,
    Json(body): Json<StaffMessageRequest>,
) -> Result<(StatusCode, Json<StaffTicketMessage>), ApiError> {
    let (actor, id) = (staff.0.actor(), TicketId::new(id));
    let message = if body.internal {
        tickets::add_note(&state, &actor, &id, &body.body).await?
    } else {
        tickets::reply(&state, &actor, &id, &body.body).await?
    };
    Ok((StatusCode::CREATED, Json(message.into())))
}

#[utoipa::path(get, path = "/api/admin/v1/saved-replies", tag = "admin",
    responses((status = 200, description = "Every saved reply, by title", body = [SavedReply]),
        (status = 401, description = "No session", body = crate::device_api::docs::ErrorDoc),
        (status = 404, description = "Not staff", body = crate::device_api::docs::ErrorDoc),
    ), security(("session" = [])))]
pub(crate) async fn saved_replies(
    State(state): State<AppState>,
    _staff: ApiStaff,
) -> Result<Json<Vec<SavedReply>>, ApiError> {
    let rows = state.db.saved_replies().await?;
    Ok(Json(rows.into_iter().map(Into::into).collect()))
}

#[utoipa::path(post, path = "/api/admin/v1/saved-replies", tag = "admin",
    request_body(content = SavedReplyRequest, content_type = "application/json"),
    responses((status = 201, description = "Saved", body = SavedReply),
        (status = 400, description = "Empty or too long title or text", body = crate::device_api::docs::ErrorDoc),
        (status = 401, description = "No session", body = crate::device_api::docs::ErrorDoc),
        (status = 403, description = "Missing or wrong X-CSRF-Token", body = crate::device_api::docs::ErrorDoc),
        (status = 404, description = "Not staff", body = crate::device_api::docs::ErrorDoc),
        (status = 409, description = "A saved reply has this title already", body = crate::device_api::docs::ErrorDoc),
    ), security(("session" = [], "csrf" = [])))]
pub(crate) async fn save_reply(
    State(state): State<AppState>,
    staff: ApiStaff,
    Json(body): Json<SavedReplyRequest>,
) -> Result<(StatusCode, Json<SavedReply>), ApiError> {
    let row = tickets::save_reply(&state, &staff.0.actor(), &body.title, &body.body).await?;
    Ok((StatusCode::CREATED, Json(row.into())))
}
