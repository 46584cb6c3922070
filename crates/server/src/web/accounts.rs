//! The account pages: sign-up, login, logout, "forgot password" and the one-time reset link.

use smartbox_domain::UserId;
use std::sync::LazyLock;

use axum::Form;
use axum::extract::{Query, State};
use axum::http::{Extensions, HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use minijinja::context;
use serde::Deserialize;

use super::error::local_path;
use super::{PageError, claim, render};
use crate::accounts::mail;
use crate::accounts::password_rules;
use crate::accounts::rate_limit::{self, Scope};
use crate::accounts::reset_link::ResetLink;
use crate::accounts::session::{self, CurrentUser, Visitor, append_cookies, cookie};
use crate::accounts::tokens::token_hash;
use crate::passwords::{self, HashingError};
use crate::provisioning::{self, ProvisioningError};
use crate::state::AppState;
use smartbox_store::changes::Changes;

/// A hash to verify against when the email is unknown, so both cases take the same time.
static DUMMY_HASH: LazyLock<String> = LazyLock::new(|| passwords::hash("not the password"));

#[derive(Debug, Deserialize, Default)]
pub struct NextQuery {
    #[serde(default)]
    next: String,
}

#[derive(Debug, Deserialize)]
pub struct CredentialsForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    email: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    next: String,
    /// The browser's IANA zone, filled in by `/static/time-zone.js` on sign-up (empty without
    /// JavaScript: the account starts in UTC).
    #[serde(default)]
    browser_time_zone: String,
}

/// Where to go after signing in: a pending claim first, then `next`, then `home` (the
/// dashboard, or the admin console for staff).
fn after_login(headers: &HeaderMap, next: &str, home: &str) -> String {
    if cookie(headers, claim::PENDING_CLAIM_COOKIE).is_some_and(|v| !v.is_empty()) {
        "/claim/plan".to_owned()
    } else if next.is_empty() {
        home.to_owned()
    } else {
        local_path(next).to_owned()
    }
}

fn signed_in(set_cookie: axum::http::HeaderValue, to: &str) -> Response {
    let mut response = Redirect::to(to).into_response();
    append_cookies(response.headers_mut(), [set_cookie]);
    response
}

/// `GET /signup`.
pub async fn signup_page(
    visitor: Visitor,
    Query(q): Query<NextQuery>,
    headers: HeaderMap,
) -> Result<Response, PageError> {
    let claiming =
        cookie(&headers, claim::PENDING_CLAIM_COOKIE).and_then(|v| claim::pending_serial(&v));
    render::ok(
        &visitor,
        "signup.html",
        context! { title => "Create your account", next => q.next, email => "", error => None::<String>, claiming => claiming },
    )
}

/// `POST /signup`: creates a customer account and signs it in.
pub async fn signup(
    State(state): State<AppState>,
    visitor: Visitor,
    headers: HeaderMap,
    extensions: Extensions,
    Form(form): Form<CredentialsForm>,
) -> Result<Response, PageError> {
    if !visitor.csrf_matches(&form.csrf) {
        return Err(PageError::bad_csrf());
    }
    let now = state.clock.now_ms();
    let address = Scope::SignupAddress(rate_limit::client_address(&extensions));
    if rate_limit::admit(&state.db, &address, now).await?.is_none() {
        return Err(PageError::Status(
            StatusCode::TOO_MANY_REQUESTS,
            "Too many accounts were created from your network. Try again in an hour.".to_owned(),
        ));
    }
    let credentials = provisioning::SignUp {
        email: &form.email,
        password: &form.password,
        time_zone: &form.browser_time_zone,
    };
    let created = provisioning::sign_up(&state.db, &state.hashing, &credentials, now).await;
    let (status, error) = match created {
        Ok(user_id) => {
            let set = session::start(&state, &headers, &user_id).await?;
            return Ok(signed_in(
                set,
                &after_login(&headers, &form.next, "/dashboard"),
            ));
        }
        Err(ProvisioningError::EmailTaken(email)) => (
            StatusCode::CONFLICT,
            format!(
                "An account with {email} already exists. Log in instead, or reset its password."
            ),
        ),
        Err(ProvisioningError::Invalid(message)) => (StatusCode::BAD_REQUEST, capitalise(&message)),
        Err(ProvisioningError::Hashing(err)) => return Err(hashing_failed(err)),
        Err(err) => return Err(PageError::Internal(err.into())),
    };
    let claiming =
        cookie(&headers, claim::PENDING_CLAIM_COOKIE).and_then(|v| claim::pending_serial(&v));
    render::page(
        &visitor,
        status,
        "signup.html",
        context! { title => "Create your account", next => form.next, email => form.email, error => error, claiming => claiming },
    )
}

/// 503 when every hashing slot stayed busy; a failed hash is a server error.
fn hashing_failed(err: HashingError) -> PageError {
    match err {
        HashingError::Busy => PageError::Status(
            StatusCode::SERVICE_UNAVAILABLE,
            "The server is busy. Try again in a moment.".to_owned(),
        ),
        HashingError::Failed(_) => PageError::Internal(err.into()),
    }
}

fn capitalise(message: &str) -> String {
    let mut chars = message.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect::<String>() + ".",
        None => String::new(),
    }
}

/// `GET /login`.
pub async fn login_page(
    visitor: Visitor,
    Query(q): Query<NextQuery>,
    headers: HeaderMap,
) -> Result<Response, PageError> {
    let claiming =
        cookie(&headers, claim::PENDING_CLAIM_COOKIE).and_then(|v| claim::pending_serial(&v));
    render::ok(
        &visitor,
        "login.html",
        context! { title => "Log in", next => q.next, email => "", error => None::<String>, claiming => claiming },
    )
}

/// `POST /login`: admits the attempt under the rate limits, then checks the password; a success
/// starts a new session and takes the attempt back.
pub async fn login(
    State(state): State<AppState>,
    visitor: Visitor,
    headers: HeaderMap,
    extensions: Extensions,
    Form(form): Form<CredentialsForm>,
) -> Result<Response, PageError> {
    if !visitor.csrf_matches(&form.csrf) {
        return Err(PageError::bad_csrf());
    }
    let now = state.clock.now_ms();
    let email = form.email.trim().to_ascii_lowercase();
    let address = rate_limit::client_address(&extensions);
    let pair = Scope::LoginPair {
        email: email.clone(),
        address: address.clone(),
    };
    let refuse = |status: StatusCode, error: &str| {
        render::page(
            &visitor,
            status,
            "login.html",
            context! { title => "Log in", next => form.next.clone(), email => form.email.clone(), error => error, claiming => None::<String> },
        )
    };
    let too_many = "Too many failed attempts. Wait a few minutes, or reset your password.";
    let Some(pair_attempt) = rate_limit::admit(&state.db, &pair, now).await? else {
        return refuse(StatusCode::TOO_MANY_REQUESTS, too_many);
    };
    let Some(address_attempt) =
        rate_limit::admit(&state.db, &Scope::LoginAddress(address), now).await?
    else {
        rate_limit::release(&state.db, &pair_attempt).await?;
        return refuse(StatusCode::TOO_MANY_REQUESTS, too_many);
    };
    let user = state.db.user_by_email(&email).await?;
    let stored = user
        .as_ref()
        .map_or_else(|| DUMMY_HASH.clone(), |u| u.password_hash.clone());
    let verified = match state.hashing.verify(form.password.clone(), stored).await {
        Ok(verified) => verified,
        Err(err) => {
            rate_limit::release(&state.db, &pair_attempt).await?;
            rate_limit::release(&state.db, &address_attempt).await?;
            return Err(hashing_failed(err));
        }
    };
    match user {
        Some(user) if verified => {
            rate_limit::clear(&state.db, &pair).await?;
            rate_limit::release(&state.db, &address_attempt).await?;
            let set = session::start(&state, &headers, &user.id).await?;
            let home = if session::Role::parse(&user.role).is_staff() {
                crate::admin::HOME
            } else {
                "/dashboard"
            };
            Ok(signed_in(set, &after_login(&headers, &form.next, home)))
        }
        _ => refuse(
            StatusCode::UNAUTHORIZED,
            "The email or the password is wrong.",
        ),
    }
}

/// A form that carries only its CSRF token (sign out, remove the card).
#[derive(Debug, Deserialize)]
pub struct CsrfForm {
    #[serde(default)]
    pub(super) csrf: String,
}

/// `POST /logout`.
pub async fn logout(
    State(state): State<AppState>,
    user: CurrentUser,
    headers: HeaderMap,
    Form(form): Form<CsrfForm>,
) -> Result<Response, PageError> {
    if !crate::accounts::tokens::constant_time_eq(&form.csrf, &user.session.csrf_token) {
        return Err(PageError::bad_csrf());
    }
    let clear = session::end(&state, &headers).await?;
    let mut response = Redirect::to("/login").into_response();
    response.headers_mut().append(header::SET_COOKIE, clear);
    Ok(response)
}

/// `GET /forgot-password`.
pub async fn forgot_page(visitor: Visitor) -> Result<Response, PageError> {
    render::ok(
        &visitor,
        "forgot.html",
        context! { title => "Reset your password" },
    )
}

#[derive(Debug, Deserialize)]
pub struct ForgotForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    email: String,
}

/// `POST /forgot-password`: emails a one-time link when the account exists (voiding any older
/// link); answers the same either way, so the page does not reveal who has an account. Limited
/// per address, so it cannot be used to flood a mailbox.
pub async fn forgot(
    State(state): State<AppState>,
    visitor: Visitor,
    extensions: Extensions,
    Form(form): Form<ForgotForm>,
) -> Result<Response, PageError> {
    if !visitor.csrf_matches(&form.csrf) {
        return Err(PageError::bad_csrf());
    }
    let now = state.clock.now_ms();
    let address = Scope::ResetAddress(rate_limit::client_address(&extensions));
    if rate_limit::admit(&state.db, &address, now).await?.is_none() {
        return Err(PageError::Status(
            StatusCode::TOO_MANY_REQUESTS,
            "Too many reset emails were asked for from your network. Try again in an hour."
                .to_owned(),
        ));
    }
    let email = form.email.trim().to_ascii_lowercase();
    if let Some(user) = state.db.user_by_email(&email).await? {
        let link = ResetLink::new(&state.config.public_url, &user.id, &user.email, now);
        let mut changes = Changes::new();
        changes.push(link.change);
        state.db.apply_changes(&changes).await?;
        mail::send(&state.config, link.mail).await;
    }
    render::ok(
        &visitor,
        "message.html",
        context! {
            title => "Check your email",
            message => format!("If {email} has an account, we sent it a link to choose a new password. The link works once, within an hour."),
        },
    )
}

#[derive(Debug, Deserialize)]
pub struct TokenQuery {
    #[serde(default)]
    token: String,
}

/// `GET /reset-password?token=...`.
pub async fn reset_page(
    State(state): State<AppState>,
    visitor: Visitor,
    Query(q): Query<TokenQuery>,
) -> Result<Response, PageError> {
    let now = state.clock.now_ms();
    if state
        .db
        .password_reset_user(&token_hash(&q.token), now)
        .await?
        .is_none()
    {
        return Err(expired_link());
    }
    render::ok(
        &visitor,
        "reset.html",
        context! { title => "Choose a new password", token => q.token, error => None::<String> },
    )
}

fn expired_link() -> PageError {
    PageError::Status(
        StatusCode::BAD_REQUEST,
        "This reset link has expired or was already used. Ask for a new one.".to_owned(),
    )
}

#[derive(Debug, Deserialize)]
pub struct ResetForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    token: String,
    #[serde(default)]
    password: String,
}

/// `POST /reset-password`: sets the new password, uses up the link and ends every session.
pub async fn reset(
    State(state): State<AppState>,
    visitor: Visitor,
    Form(form): Form<ResetForm>,
) -> Result<Response, PageError> {
    if !visitor.csrf_matches(&form.csrf) {
        return Err(PageError::bad_csrf());
    }
    let now = state.clock.now_ms();
    let hash = token_hash(&form.token);
    let Some(user_id) = state.db.password_reset_user(&hash, now).await? else {
        return Err(expired_link());
    };
    let email = state
        .db
        .user_by_id(&user_id)
        .await?
        .map(|u| u.email)
        .unwrap_or_default();
    if let Some(why) = password_rules::refusal(&form.password, &email) {
        return render::page(
            &visitor,
            StatusCode::BAD_REQUEST,
            "reset.html",
            context! { title => "Choose a new password", token => form.token, error => why },
        );
    }
    // Hashed before the link is used up, so a busy server does not cost the customer the link.
    let new_hash = state
        .hashing
        .hash(form.password.clone())
        .await
        .map_err(hashing_failed)?;
    if !state.db.use_password_reset(&hash, now).await? {
        return Err(expired_link());
    }
    state
        .db
        .set_password_hash(&UserId::new(&user_id), &new_hash)
        .await?;
    state
        .db
        .void_password_resets(&UserId::new(&user_id), now)
        .await?;
    state
        .db
        .delete_sessions_of_user(&UserId::new(&user_id))
        .await?;
    render::ok(
        &visitor,
        "message.html",
        context! { title => "Password changed", message => "Your new password is set. Log in with it now.", link => "/login", link_text => "Log in" },
    )
}
