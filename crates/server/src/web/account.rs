//! `/account`: the customer's own account — change the password (the current one required),
//! change the email (confirmed by a link sent to the new address; the link's page works signed
//! in or not, on any device), see the signed-in sessions and sign out the others, and download
//! everything as a zip (`crate::account_export`). The actions are `services::account`.

use std::io::{Seek, SeekFrom};

use axum::Form;
use axum::body::Body;
use axum::extract::{Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use minijinja::context;
use serde::Deserialize;

use super::accounts::CsrfForm;
use super::format::date_time;
use super::notice::{Done, after};
use super::{PageError, render, words};
use crate::accounts::{CurrentUser, Visitor};
use crate::services::ServiceError;
use crate::services::account::{self, Own};
use crate::state::AppState;

fn own(user: &CurrentUser) -> Own<'_> {
    Own {
        user_id: &user.user.id,
        session_token_hash: &user.session.token_hash,
    }
}

async fn view(
    state: &AppState,
    visitor: &Visitor,
    user: &CurrentUser,
    status: StatusCode,
    error: Option<String>,
    notice: Option<&str>,
) -> Result<Response, PageError> {
    let tz = &user.user.time_zone;
    let sessions: Vec<_> = account::sessions(state, own(user))
        .await?
        .iter()
        .map(|s| context! {
            since => date_time(s.created_at, tz), current => s.token_hash == user.session.token_hash,
        })
        .collect();
    let others = sessions.len().saturating_sub(1);
    render::page(
        visitor,
        status,
        "account.html",
        context! {
            title => "Account", nav => "account", email => user.user.email.clone(), sessions => sessions,
            others => others, error => error, notice => notice, time_zone => crate::time_zone::label(&user.user.time_zone),
        },
    )
}

/// `GET /account`.
pub async fn page(
    State(state): State<AppState>,
    visitor: Visitor,
    user: CurrentUser,
    Query(done): Query<Done>,
) -> Result<Response, PageError> {
    view(
        &state,
        &visitor,
        &user,
        StatusCode::OK,
        None,
        done.sentence(),
    )
    .await
}

#[derive(Debug, Deserialize)]
pub struct PasswordForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    current_password: String,
    #[serde(default)]
    new_password: String,
}

/// `POST /account/password`.
pub async fn change_password(
    State(state): State<AppState>,
    visitor: Visitor,
    user: CurrentUser,
    Form(form): Form<PasswordForm>,
) -> Result<Response, PageError> {
    if !visitor.csrf_matches(&form.csrf) {
        return Err(PageError::bad_csrf());
    }
    match account::change_password(
        &state,
        own(&user),
        &form.current_password,
        &form.new_password,
    )
    .await
    {
        Ok(()) => Ok(Redirect::to(&after("/account", "password")).into_response()),
        Err(ServiceError::Invalid { message, .. }) => {
            view(
                &state,
                &visitor,
                &user,
                StatusCode::BAD_REQUEST,
                Some(message),
                None,
            )
            .await
        }
        Err(err) => Err(err.into()),
    }
}

#[derive(Debug, Deserialize)]
pub struct EmailForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    new_email: String,
    #[serde(default)]
    password: String,
}

/// `POST /account/email`: emails a confirmation link to the new address.
pub async fn change_email(
    State(state): State<AppState>,
    visitor: Visitor,
    user: CurrentUser,
    Form(form): Form<EmailForm>,
) -> Result<Response, PageError> {
    if !visitor.csrf_matches(&form.csrf) {
        return Err(PageError::bad_csrf());
    }
    let refused = |status: StatusCode, message: String| {
        view(&state, &visitor, &user, status, Some(message), None)
    };
    match account::request_email_change(&state, own(&user), &form.password, &form.new_email).await {
        Ok(_) => Ok(Redirect::to(&after("/account", "email_link")).into_response()),
        Err(ServiceError::Invalid { message, .. }) => {
            refused(StatusCode::BAD_REQUEST, words::capital(&message)).await
        }
        Err(ServiceError::Conflict(message)) => refused(StatusCode::CONFLICT, message).await,
        Err(err) => Err(err.into()),
    }
}

#[derive(Debug, Deserialize)]
pub struct EmailLink {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    token: String,
}

/// An email link that is unknown, used or expired.
fn expired_email_link() -> PageError {
    PageError::Status(
        StatusCode::BAD_REQUEST,
        "This email link has expired or was already used. Ask for a new one on your account page."
            .to_owned(),
    )
}

/// `GET /account/email/confirm?token=...`: asks before changing (mail scanners open links).
pub async fn confirm_email_page(
    State(state): State<AppState>,
    visitor: Visitor,
    Query(link): Query<EmailLink>,
) -> Result<Response, PageError> {
    let new_email = match account::pending_email_change(&state, &link.token).await {
        Ok(email) => email,
        Err(ServiceError::NotFound { .. }) => return Err(expired_email_link()),
        Err(err) => return Err(err.into()),
    };
    render::ok(
        &visitor,
        "email_confirm.html",
        context! { title => "Confirm your new email", new_email => new_email, token => link.token },
    )
}

/// `POST /account/email/confirm`: the account's email becomes the new address.
pub async fn confirm_email(
    State(state): State<AppState>,
    visitor: Visitor,
    Form(link): Form<EmailLink>,
) -> Result<Response, PageError> {
    if !visitor.csrf_matches(&link.csrf) {
        return Err(PageError::bad_csrf());
    }
    let changed = match account::confirm_email_change(&state, &link.token).await {
        Ok(changed) => changed,
        Err(ServiceError::NotFound { .. }) => return Err(expired_email_link()),
        Err(ServiceError::Conflict(why)) => {
            return Err(PageError::Status(StatusCode::CONFLICT, why));
        }
        Err(err) => return Err(err.into()),
    };
    let (link, link_text) = if visitor.current.is_some() {
        ("/account", "Back to your account")
    } else {
        ("/login", "Log in")
    };
    render::ok(
        &visitor,
        "message.html",
        context! {
            title => "Email changed",
            message => format!("Your account's email is now {}. Log in with it from now on.", changed.new_email),
            link => link, link_text => link_text,
        },
    )
}

#[derive(Debug, Deserialize)]
pub struct DeleteForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    confirm: String,
}

/// `POST /account/delete`: the password and the word DELETE required; answered by a page that
/// confirms it (every session of the account ended with it).
pub async fn delete_account(
    State(state): State<AppState>,
    visitor: Visitor,
    user: CurrentUser,
    Form(form): Form<DeleteForm>,
) -> Result<Response, PageError> {
    if !visitor.csrf_matches(&form.csrf) {
        return Err(PageError::bad_csrf());
    }
    let refused = |message: String| {
        view(
            &state,
            &visitor,
            &user,
            StatusCode::BAD_REQUEST,
            Some(message),
            None,
        )
    };
    if form.confirm.trim() != "DELETE" {
        return refused("Type DELETE to confirm; nothing was deleted.".to_owned()).await;
    }
    let actor = crate::services::Actor::customer(user.user.id.as_str());
    match account::delete_account(&state, &actor, &user.user.id, Some(&form.password)).await {
        Ok(_) => super::render::ok(
            &{
                let mut signed_out = visitor.clone();
                signed_out.current = None;
                signed_out
            },
            "message.html",
            context! {
                title => "Account deleted",
                message => "Your account is deleted and you are signed out. Your mailboxes were returned, their subscriptions ended and your photos deleted. A confirmation is on its way to your email.",
                link => "/", link_text => "Home",
            },
        ),
        Err(ServiceError::Invalid { message, .. }) => refused(message).await,
        Err(err) => Err(err.into()),
    }
}

/// `POST /account/sessions/sign-out-others`.
pub async fn sign_out_others(
    State(state): State<AppState>,
    visitor: Visitor,
    user: CurrentUser,
    Form(form): Form<CsrfForm>,
) -> Result<Response, PageError> {
    if !visitor.csrf_matches(&form.csrf) {
        return Err(PageError::bad_csrf());
    }
    account::sign_out_others(&state, own(&user)).await?;
    Ok(Redirect::to(&after("/account", "signed_out")).into_response())
}

/// `GET /account/export`: the zip of `crate::account_export`, written to an unnamed temporary
/// file (an account with years of photos never sits in memory) and streamed from it.
pub async fn export(
    State(state): State<AppState>,
    user: CurrentUser,
) -> Result<Response, PageError> {
    let path = std::env::temp_dir().join(format!("smartbox-export-{}.zip", uuid::Uuid::new_v4()));
    let mut file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create_new(true)
        .open(&path)
        .map_err(|err| PageError::Internal(err.into()))?;
    // Unlinked at once: the open file is all that is left, gone when it closes.
    let _ = std::fs::remove_file(&path);
    crate::account_export::export(&state, &user.user.id, &mut file)
        .await
        .map_err(PageError::Internal)?;
    file.seek(SeekFrom::Start(0))
        .map_err(|err| PageError::Internal(err.into()))?;
    // Read back on tokio's blocking pool, not on the request's worker thread.
    let chunks = futures::stream::unfold(tokio::fs::File::from_std(file), |mut file| async move {
        let mut buf = vec![0u8; 64 * 1024];
        match tokio::io::AsyncReadExt::read(&mut file, &mut buf).await {
            Ok(0) => None,
            Ok(n) => {
                buf.truncate(n);
                Some((Ok::<_, std::io::Error>(bytes::Bytes::from(buf)), file))
            }
            Err(err) => Some((Err(err), file)),
        }
    });
    Ok((
        [
            (header::CONTENT_TYPE, "application/zip"),
            (
                header::CONTENT_DISPOSITION,
                "attachment; filename=\"smart-mailbox-export.zip\"",
            ),
            (header::CACHE_CONTROL, "no-store"),
        ],
        Body::from_stream(chunks),
    )
        .into_response())
}
