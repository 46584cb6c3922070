//! `/api/v1/account/...`: the account page's actions as JSON — change the password, ask to
//! change the email (the link that confirms it goes to the new address and opens the page),
//! list the sessions, sign out the others. Each calls the same service as the page (`services::account`).

use axum::Json;
use axum::extract::State;
use serde::{Deserialize, Serialize};

use crate::accounts::ApiUser;
use crate::error::ApiError;
use crate::services::account::{self, Own};
use crate::state::AppState;

fn own(user: &crate::accounts::CurrentUser) -> Own<'_> {
    Own {
        user_id: &user.user.id,
        session_token_hash: &user.session.token_hash,
    }
}

/// `POST /api/v1/account/email`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EmailChange {
    pub new_email: String,
    /// The current password.
    pub password: String,
}

/// A change of email waiting for its link.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct EmailChangePending {
    /// The address the link went to; the account's email until it is opened stays as it was.
    pub pending_email: String,
    /// Milliseconds the link works for.
    pub expires_in_ms: i64,
}

#[utoipa::path(post, path = "/api/v1/account/email", tag = "customer",
    request_body(content = EmailChange, content_type = "application/json"),
    responses((status = 202, description = "A single-use link went to the new address; the email changes when it is opened", body = EmailChangePending),
        (status = 400, description = "`wrong_password`, `invalid_email` or `same_email`", body = crate::device_api::docs::ErrorDoc),
        (status = 401, description = "No session", body = crate::device_api::docs::ErrorDoc),
        (status = 403, description = "Missing or wrong X-CSRF-Token, or a cross-site request", body = crate::device_api::docs::ErrorDoc),
        (status = 409, description = "The address belongs to another account", body = crate::device_api::docs::ErrorDoc),
        (status = 429, description = "The server is busy hashing; retry after `Retry-After`", body = crate::device_api::docs::ErrorDoc),
    ), security(("session" = [], "csrf" = [])))]
pub(crate) async fn change_email(
    State(state): State<AppState>,
    ApiUser(user): ApiUser,
    Json(body): Json<EmailChange>,
) -> Result<(axum::http::StatusCode, Json<EmailChangePending>), ApiError> {
    let pending_email =
        account::request_email_change(&state, own(&user), &body.password, &body.new_email).await?;
    Ok((
        axum::http::StatusCode::ACCEPTED,
        Json(EmailChangePending {
            pending_email,
            expires_in_ms: account::EMAIL_LINK_MS,
        }),
    ))
}

/// `POST /api/v1/account/password`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct PasswordChange {
    pub current_password: String,
    pub new_password: String,
}

#[utoipa::path(post, path = "/api/v1/account/password", tag = "customer",
    request_body(content = PasswordChange, content_type = "application/json"),
    responses((status = 204, description = "Changed; every other session is signed out"),
        (status = 400, description = "`wrong_password` or `weak_password` (too short, common, or the email)", body = crate::device_api::docs::ErrorDoc),
        (status = 401, description = "No session", body = crate::device_api::docs::ErrorDoc),
        (status = 403, description = "Missing or wrong X-CSRF-Token, or a cross-site request", body = crate::device_api::docs::ErrorDoc),
        (status = 429, description = "The server is busy hashing; retry after `Retry-After`", body = crate::device_api::docs::ErrorDoc),
    ), security(("session" = [], "csrf" = [])))]
pub(crate) async fn change_password(
    State(state): State<AppState>,
    ApiUser(user): ApiUser,
    Json(body): Json<PasswordChange>,
) -> Result<axum::http::StatusCode, ApiError> {
    account::change_password(
        &state,
        own(&user),
        &body.current_password,
        &body.new_password,
    )
    .await?;
    Ok(axum::http::StatusCode::NO_CONTENT)
}

/// A signed-in session of the account.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Session {
    /// Epoch milliseconds.
    pub created_at: i64,
    /// Epoch milliseconds.
    pub expires_at: i64,
    /// The session making this request.
    pub current: bool,
}

#[utoipa::path(get, path = "/api/v1/account/sessions", tag = "customer",
    responses((status = 200, description = "The account's sessions, newest first", body = Vec<Session>),
        (status = 401, description = "No session", body = crate::device_api::docs::ErrorDoc),
    ), security(("session" = [])))]
pub(crate) async fn sessions(
    State(state): State<AppState>,
    ApiUser(user): ApiUser,
) -> Result<Json<Vec<Session>>, ApiError> {
    let rows = account::sessions(&state, own(&user)).await?;
    Ok(Json(
        rows.into_iter()
            .map(|s| Session {
                created_at: s.created_at,
                expires_at: s.expires_at,
                current: s.token_hash == user.session.token_hash,
            })
            .collect(),
    ))
}

/// How many sessions were signed out.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct SignedOut {
    pub signed_out: usize,
}

#[utoipa::path(post, path = "/api/v1/account/sessions/sign-out-others", tag = "customer",
    responses((status = 200, description = "Every other session is signed out", body = SignedOut),
        (status = 401, description = "No session", body = crate::device_api::docs::ErrorDoc),
        (status = 403, description = "Missing or wrong X-CSRF-Token, or a cross-site request", body = crate::device_api::docs::ErrorDoc),
    ), security(("session" = [], "csrf" = [])))]
pub(crate) async fn sign_out_others(
    State(state): State<AppState>,
    ApiUser(user): ApiUser,
) -> Result<Json<SignedOut>, ApiError> {
    let signed_out = account::sign_out_others(&state, own(&user)).await?;
    Ok(Json(SignedOut { signed_out }))
}

/// `DELETE /api/v1/account`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct AccountDeletion {
    /// The account's password, to confirm.
    pub password: String,
}

#[utoipa::path(delete, path = "/api/v1/account", tag = "customer",
    request_body(content = AccountDeletion, content_type = "application/json"),
    responses((status = 204, description = "Deleted (docs/operations.md, \"Deleting an account\"): mailboxes returned, subscriptions ended, photos and personal data deleted, every session ended, a confirmation email sent"),
        (status = 400, description = "`wrong_password`: nothing was deleted", body = crate::device_api::docs::ErrorDoc),
        (status = 401, description = "No session", body = crate::device_api::docs::ErrorDoc),
        (status = 403, description = "Missing or wrong X-CSRF-Token, or a cross-site request", body = crate::device_api::docs::ErrorDoc),
        (status = 429, description = "The server is busy hashing; retry after `Retry-After`", body = crate::device_api::docs::ErrorDoc),
    ), security(("session" = [], "csrf" = [])))]
pub(crate) async fn delete_account(
    State(state): State<AppState>,
    ApiUser(user): ApiUser,
    Json(body): Json<AccountDeletion>,
) -> Result<axum::http::StatusCode, ApiError> {
    let actor = crate::services::Actor::customer(user.user.id.as_str());
    account::delete_account(&state, &actor, &user.user.id, Some(&body.password)).await?;
    Ok(axum::http::StatusCode::NO_CONTENT)
}
