//! `/api/v1/tickets`: the support pages as JSON (issue 20) — the customer's tickets, opening
//! one, its thread (never a staff note), replying, closing and reopening. Each calls
//! `services::tickets`, as the pages do; another customer's ticket answers 404.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use smartbox_domain::{DeviceId, TicketId};
use smartbox_store::{TicketMessageRow, TicketRow};
use utoipa::OpenApi;

use super::actor;
use crate::accounts::ApiUser;
use crate::error::ApiError;
use crate::services::tickets::{self, NewTicket};
use crate::state::AppState;

/// The routes.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/v1/tickets", get(list).post(open))
        .route("/api/v1/tickets/{ticket_id}", get(ticket))
        .route(
            "/api/v1/tickets/{ticket_id}/messages",
            get(messages).post(reply),
        )
        .route("/api/v1/tickets/{ticket_id}/close", post(close))
        .route("/api/v1/tickets/{ticket_id}/reopen", post(reopen))
}

/// This part of the OpenAPI document.
#[derive(Debug, OpenApi)]
#[openapi(
    paths(list, open, ticket, messages, reply, close, reopen),
    components(schemas(
        Ticket,
        TicketMessage,
        TicketWithMessages,
        OpenTicketRequest,
        ReplyRequest
    ))
)]
pub struct TicketsApiDoc;

/// A support ticket.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Ticket {
    pub id: String,
    pub subject: String,
    /// `billing`, `mailbox`, `photos_notifications` or `other`.
    pub category: String,
    /// `new`, `open`, `waiting_on_customer` (answered) or `solved` (closed).
    pub status: String,
    /// The mailbox it is about.
    pub device_id: Option<String>,
    /// Epoch milliseconds.
    pub created_at: i64,
    /// Epoch milliseconds.
    pub updated_at: i64,
}

impl From<TicketRow> for Ticket {
    fn from(t: TicketRow) -> Ticket {
        Ticket {
            id: t.id,
            subject: t.subject,
            category: t.category.as_str().to_owned(),
            status: t.status.as_str().to_owned(),
            device_id: t.device_id,
            created_at: t.created_at,
            updated_at: t.updated_at,
        }
    }
}

/// A message of a ticket's thread.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct TicketMessage {
    pub id: String,
    /// Written by support (else by the customer).
    pub from_staff: bool,
    pub body: String,
    /// Epoch milliseconds.
    pub created_at: i64,
}

impl From<TicketMessageRow> for TicketMessage {
    fn from(m: TicketMessageRow) -> TicketMessage {
        TicketMessage {
            id: m.id,
            from_staff: m.from_staff,
            body: m.body,
            created_at: m.created_at,
        }
    }
}

/// A ticket with its thread, oldest message first.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct TicketWithMessages {
    #[serde(flatten)]
    pub ticket: Ticket,
    pub messages: Vec<TicketMessage>,
}

/// `POST /api/v1/tickets`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct OpenTicketRequest {
    /// 1-120 characters, not only spaces, no control characters but line breaks and tabs.
    #[schema(
        min_length = 1,
        max_length = 120,
        pattern = "^[^\\u0000-\\u0008\\u000B\\u000C\\u000E-\\u001F\\u007F-\\u009F]*[^\\s\\u0000-\\u001F\\u007F-\\u009F][^\\u0000-\\u0008\\u000B\\u000C\\u000E-\\u001F\\u007F-\\u009F]*$"
    )]
    pub subject: String,
    /// 1-5000 characters, not only spaces, no control characters but line breaks and tabs;
    /// HTML is kept as text.
    #[schema(
        min_length = 1,
        max_length = 5000,
        pattern = "^[^\\u0000-\\u0008\\u000B\\u000C\\u000E-\\u001F\\u007F-\\u009F]*[^\\s\\u0000-\\u001F\\u007F-\\u009F][^\\u0000-\\u0008\\u000B\\u000C\\u000E-\\u001F\\u007F-\\u009F]*$"
    )]
    pub message: String,
    /// `billing`, `mailbox`, `photos_notifications` or `other`.
    #[schema(pattern = "^(billing|mailbox|photos_notifications|other)$")]
    pub category: String,
    /// One of the customer's mailboxes.
    #[serde(default)]
    pub device_id: Option<String>,
}

/// `POST /api/v1/tickets/{id}/messages`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct ReplyRequest {
    /// 1-5000 characters, not only spaces, no control characters but line breaks and tabs;
    /// HTML is kept as text.
    #[schema(
        min_length = 1,
        max_length = 5000,
        pattern = "^[^\\u0000-\\u0008\\u000B\\u000C\\u000E-\\u001F\\u007F-\\u009F]*[^\\s\\u0000-\\u001F\\u007F-\\u009F][^\\u0000-\\u0008\\u000B\\u000C\\u000E-\\u001F\\u007F-\\u009F]*$"
    )]
    pub body: String,
}

async fn with_messages(
    state: &AppState,
    user: &crate::accounts::CurrentUser,
    id: &TicketId,
) -> Result<TicketWithMessages, ApiError> {
    let thread = tickets::thread(state, &actor(user), id).await?;
    Ok(TicketWithMessages {
        ticket: thread.ticket.into(),
        messages: thread.messages.into_iter().map(Into::into).collect(),
    })
}

#[utoipa::path(get, path = "/api/v1/tickets", tag = "customer",
    responses((status = 200, description = "The customer's tickets, the most recently active first", body = [Ticket]),
        (status = 401, description = "No session", body = crate::device_api::docs::ErrorDoc),
    ), security(("session" = [])))]
pub(crate) async fn list(
    State(state): State<AppState>,
    ApiUser(user): ApiUser,
) -> Result<Json<Vec<Ticket>>, ApiError> {
    let rows = tickets::list_own(&state, &actor(&user)).await?;
    Ok(Json(rows.into_iter().map(Into::into).collect()))
}

#[utoipa::path(post, path = "/api/v1/tickets", tag = "customer",
    request_body(content = OpenTicketRequest, content_type = "application/json"),
    responses((status = 201, description = "Opened; support is emailed", body = TicketWithMessages),
        (status = 400, description = "Empty or too long subject or message, unknown category", body = crate::device_api::docs::ErrorDoc),
        (status = 401, description = "No session", body = crate::device_api::docs::ErrorDoc),
        (status = 403, description = "Missing or wrong X-CSRF-Token, or a cross-site request", body = crate::device_api::docs::ErrorDoc),
        (status = 404, description = "The mailbox is not one of the customer's", body = crate::device_api::docs::ErrorDoc),
    ), security(("session" = [], "csrf" = [])))]
pub(crate) async fn open(
    State(state): State<AppState>,
    ApiUser(user): ApiUser,
    Json(body): Json<OpenTicketRequest>,
) -> Result<(StatusCode, Json<TicketWithMessages>), ApiError> {
    let input = NewTicket {
        subject: body.subject,
        message: body.message,
        category: body.category,
        device_id: body.device_id.map(DeviceId::new),
    };
    let ticket = tickets::open(&state, &actor(&user), input).await?;
    let id = TicketId::new(ticket.id);
    Ok((
        StatusCode::CREATED,
        Json(with_messages(&state, &user, &id).await?),
    ))
}

#[utoipa::path(get, path = "/api/v1/tickets/{ticket_id}", tag = "customer",
    params(("ticket_id" = String, Path, description = "Ticket id")),
    responses((status = 200, description = "The ticket and its thread", body = TicketWithMessages),
        (status = 401, description = "No session", body = crate::device_api::docs::ErrorDoc),
        (status = 404, description = "Not one of the customer's", body = crate::device_api::docs::ErrorDoc),
    ), security(("session" = [])))]
pub(crate) async fn ticket(
    State(state): State<AppState>,
    ApiUser(user): ApiUser,
    Path(id): Path<String>,
) -> Result<Json<TicketWithMessages>, ApiError> {
    Ok(Json(
        with_messages(&state, &user, &TicketId::new(id)).await?,
    ))
}

#[utoipa::path(get, path = "/api/v1/tickets/{ticket_id}/messages", tag = "customer",
    params(("ticket_id" = String, Path, description = "Ticket id")),
    responses((status = 200, description = "The thread, oldest first", body = [TicketMessage]),
        (status = 401, description = "No session", body = crate::device_api::docs::ErrorDoc),
        (status = 404, description = "Not one of the customer's", body = crate::device_api::docs::ErrorDoc),
    ), security(("session" = [])))]
pub(crate) async fn messages(
    State(state): State<AppState>,
    ApiUser(user): ApiUser,
    Path(id): Path<String>,
) -> Result<Json<Vec<TicketMessage>>, ApiError> {
    Ok(Json(
        with_messages(&state, &user, &TicketId::new(id))
            .await?
            .messages,
    ))
}

#[utoipa::path(post, path = "/api/v1/tickets/{ticket_id}/messages", tag = "customer",
    params(("ticket_id" = String, Path, description = "Ticket id")),
    request_body(content = ReplyRequest, content_type = "application/json"),
    responses((status = 201, description = "Sent; a closed ticket opens again", body = TicketMessage),
        (status = 400, description = "Empty or over 5000 characters", body = crate::device_api::docs::ErrorDoc),
        (status = 401, description = "No session", body = crate::device_api::docs::ErrorDoc),
        (status = 403, description = "Missing or wrong X-CSRF-Token, or a cross-site request", body = crate::device_api::docs::ErrorDoc),
        (status = 404, description = "Not one of the customer's", body = crate::device_api::docs::ErrorDoc),
    ), security(("session" = [], "csrf" = [])))]
pub(crate) async fn reply(
    State(state): State<AppState>,
    ApiUser(user): ApiUser,
    Path(id): Path<String>,
    Json(body): Json<ReplyRequest>,
) -> Result<(StatusCode, Json<TicketMessage>), ApiError> {
    let message = tickets::reply(&state, &actor(&user), &TicketId::new(id), &body.body).await?;
    Ok((StatusCode::CREATED, Json(message.into())))
}

#[utoipa::path(post, path = "/api/v1/tickets/{ticket_id}/close", tag = "customer",
    params(("ticket_id" = String, Path, description = "Ticket id")),
    responses((status = 200, description = "Closed (solved)", body = Ticket),
        (status = 401, description = "No session", body = crate::device_api::docs::ErrorDoc),
        (status = 403, description = "Missing or wrong X-CSRF-Token, or a cross-site request", body = crate::device_api::docs::ErrorDoc),
        (status = 404, description = "Not one of the customer's", body = crate::device_api::docs::ErrorDoc),
        (status = 409, description = "Closed already", body = crate::device_api::docs::ErrorDoc),
    ), security(("session" = [], "csrf" = [])))]
pub(crate) async fn close(
    State(state): State<AppState>,
    ApiUser(user): ApiUser,
    Path(id): Path<String>,
) -> Result<Json<Ticket>, ApiError> {
    let row = tickets::solve(&state, &actor(&user), &TicketId::new(id)).await?;
    Ok(Json(row.into()))
}

#[utoipa::path(post, path = "/api/v1/tickets/{ticket_id}/reopen", tag = "customer",
    params(("ticket_id" = String, Path, description = "Ticket id")),
    responses((status = 200, description = "Open again", body = Ticket),
        (status = 401, description = "No session", body = crate::device_api::docs::ErrorDoc),
        (status = 403, description = "Missing or wrong X-CSRF-Token, or a cross-site request", body = crate::device_api::docs::ErrorDoc),
        (status = 404, description = "Not one of the customer's", body = crate::device_api::docs::ErrorDoc),
        (status = 409, description = "Not closed", body = crate::device_api::docs::ErrorDoc),
    ), security(("session" = [], "csrf" = [])))]
pub(crate) async fn reopen(
    State(state): State<AppState>,
    ApiUser(user): ApiUser,
    Path(id): Path<String>,
) -> Result<Json<Ticket>, ApiError> {
    let row = tickets::reopen(&state, &actor(&user), &TicketId::new(id)).await?;
    Ok(Json(row.into()))
}
