//! Who is asking: the session cookie looked up in the database, the anonymous CSRF cookie for
//! forms shown before login, and the JSON API's extractor ([`ApiUser`]); the pages' extractors
//! (`web::extract`) read the same sessions through [`load`] and [`Visitor::read`].

use axum::extract::FromRequestParts;
use axum::http::header::{COOKIE, SET_COOKIE};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue};
use smartbox_store::{SessionRow, UserRow};

use super::tokens::{constant_time_eq, random_token, token_hash};
use crate::error::ApiError;
use crate::state::AppState;

/// The session cookie.
pub const SESSION_COOKIE: &str = "sb_session";
/// The CSRF cookie of visitors without a session (double-submit for the login and sign-up forms).
pub const CSRF_COOKIE: &str = "sb_csrf";
/// How long a session lasts.
pub const SESSION_MS: i64 = 30 * 24 * 3600 * 1000;

/// What a user may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Customer,
    Support,
    Admin,
}

impl Role {
    /// The role stored in `users.role`; anything unknown is a customer.
    pub fn parse(text: &str) -> Role {
        match text {
            "admin" => Role::Admin,
            "support" => Role::Support,
            _ => Role::Customer,
        }
    }

    /// True for support and admin staff.
    pub fn is_staff(self) -> bool {
        self != Role::Customer
    }
}

/// A logged-in user and their session.
#[derive(Debug, Clone)]
pub struct CurrentUser {
    pub user: UserRow,
    pub role: Role,
    pub session: SessionRow,
}

/// Anyone: the logged-in user if there is one, and the CSRF token their forms must carry. When
/// `new_csrf_cookie` is set, the response must set [`CSRF_COOKIE`] (see [`Visitor::cookies`]).
#[derive(Debug, Clone)]
pub struct Visitor {
    pub current: Option<CurrentUser>,
    pub csrf: String,
    new_csrf_cookie: bool,
    secure: bool,
}

/// The value of cookie `name` in the request.
pub fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.to_owned())
}

/// A `Set-Cookie` value: HttpOnly, SameSite=Lax, path `/`, Secure when served over https.
pub fn set_cookie(name: &str, value: &str, max_age_s: i64, secure: bool) -> HeaderValue {
    let secure = if secure { "; Secure" } else { "" };
    HeaderValue::from_str(&format!(
        "{name}={value}; Path=/; HttpOnly; SameSite=Lax; Max-Age={max_age_s}{secure}"
    ))
    .unwrap_or_else(|_| HeaderValue::from_static("invalid=1; Max-Age=0"))
}

/// True when pages are served over https (cookies get `Secure`).
pub fn is_https(state: &AppState) -> bool {
    state.config.public_url.starts_with("https://")
}

/// The signed-in user of the request's session cookie, if any.
pub async fn load(parts: &Parts, state: &AppState) -> Result<Option<CurrentUser>, ApiError> {
    let Some(token) = cookie(&parts.headers, SESSION_COOKIE) else {
        return Ok(None);
    };
    let now = state.clock.now_ms();
    let Some(session) = state.db.live_session(&token_hash(&token), now).await? else {
        return Ok(None);
    };
    let Some(user) = state.db.user_by_id(&session.user_id).await? else {
        return Ok(None);
    };
    Ok(Some(CurrentUser {
        role: Role::parse(&user.role),
        user,
        session,
    }))
}

impl Visitor {
    /// True when `token` (from a form or header) is this visitor's CSRF token.
    pub fn csrf_matches(&self, token: &str) -> bool {
        !token.is_empty() && !self.new_csrf_cookie && constant_time_eq(&self.csrf, token)
    }

    /// The cookies the response must set for this visitor (the anonymous CSRF cookie when new).
    pub fn cookies(&self) -> Vec<HeaderValue> {
        if self.new_csrf_cookie {
            vec![set_cookie(CSRF_COOKIE, &self.csrf, 24 * 3600, self.secure)]
        } else {
            Vec::new()
        }
    }

    /// The signed-in user, if any.
    pub fn user(&self) -> Option<&CurrentUser> {
        self.current.as_ref()
    }
}

impl Visitor {
    /// Who is asking, from the request's cookies: the signed-in user if any, else an anonymous
    /// visitor with the CSRF token of their forms (a new one when they have none yet). The
    /// pages' extractor (`web::extract`) calls it.
    pub async fn read(parts: &Parts, state: &AppState) -> Result<Visitor, ApiError> {
        let current = load(parts, state).await?;
        let secure = is_https(state);
        if let Some(current) = &current {
            return Ok(Visitor {
                csrf: current.session.csrf_token.clone(),
                current: Some(current.clone()),
                new_csrf_cookie: false,
                secure,
            });
        }
        let (csrf, new_csrf_cookie) = match cookie(&parts.headers, CSRF_COOKIE) {
            Some(token) if token.len() == 43 => (token, false),
            _ => (random_token(), true),
        };
        Ok(Visitor {
            current: None,
            csrf,
            new_csrf_cookie,
            secure,
        })
    }
}

/// A logged-in user of the JSON API; without a session the API answers 401.
#[derive(Debug, Clone)]
pub struct ApiUser(pub CurrentUser);

impl FromRequestParts<AppState> for ApiUser {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let user = load(parts, state).await?.ok_or(ApiError::Unauthorized)?;
        let unsafe_method = !matches!(parts.method.as_str(), "GET" | "HEAD" | "OPTIONS");
        if unsafe_method {
            let sent = parts
                .headers
                .get("x-csrf-token")
                .and_then(|v| v.to_str().ok())
                .unwrap_or("");
            if !constant_time_eq(sent, &user.session.csrf_token) {
                return Err(ApiError::Forbidden(
                    "the X-CSRF-Token header must carry the `csrf_token` of /api/v1/me".to_owned(),
                ));
            }
        }
        Ok(ApiUser(user))
    }
}

/// Starts a fresh session for `user_id` (any session the browser had is ended first: rotation at
/// login) and returns the `Set-Cookie` header value.
pub async fn start(
    state: &AppState,
    headers: &HeaderMap,
    user_id: &str,
) -> Result<HeaderValue, ApiError> {
    if let Some(old) = cookie(headers, SESSION_COOKIE) {
        state.db.delete_session(&token_hash(&old)).await?;
    }
    let token = random_token();
    let now = state.clock.now_ms();
    state
        .db
        .insert_session(&SessionRow {
            token_hash: token_hash(&token),
            user_id: user_id.to_owned(),
            csrf_token: random_token(),
            created_at: now,
            expires_at: now + SESSION_MS,
        })
        .await?;
    Ok(set_cookie(
        SESSION_COOKIE,
        &token,
        SESSION_MS / 1000,
        is_https(state),
    ))
}

/// Ends the browser's session; returns the `Set-Cookie` that clears the cookie.
pub async fn end(state: &AppState, headers: &HeaderMap) -> Result<HeaderValue, ApiError> {
    if let Some(token) = cookie(headers, SESSION_COOKIE) {
        state.db.delete_session(&token_hash(&token)).await?;
    }
    Ok(set_cookie(SESSION_COOKIE, "", 0, is_https(state)))
}

/// Adds `cookies` as `Set-Cookie` headers.
pub fn append_cookies(headers: &mut HeaderMap, cookies: impl IntoIterator<Item = HeaderValue>) {
    for value in cookies {
        headers.append(SET_COOKIE, value);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cookies_are_http_only_lax_and_secure_only_on_https() {
        let plain = set_cookie(SESSION_COOKIE, "t", 60, false);
        let plain = plain.to_str().expect("ascii");
        assert_eq!(
            plain,
            "sb_session=t; Path=/; HttpOnly; SameSite=Lax; Max-Age=60"
        );
        let secure = set_cookie(SESSION_COOKIE, "t", 60, true);
        assert!(secure.to_str().expect("ascii").ends_with("; Secure"));
    }

    #[test]
    fn a_cookie_is_found_among_several() {
        let mut headers = HeaderMap::new();
        headers.insert(COOKIE, HeaderValue::from_static("a=1; sb_session=abc; b=2"));
        assert_eq!(cookie(&headers, SESSION_COOKIE).as_deref(), Some("abc"));
        assert_eq!(cookie(&headers, "missing"), None);
    }
}
