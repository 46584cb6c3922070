//! Who may use the admin console: a signed-in staff member (support or admin). Anyone else who
//! is signed in gets 404 on every `/admin` page and `/api/admin` route, as if they did not exist;
//! a visitor without a session is sent to log in (pages) or gets 401 (API).

use axum::extract::FromRequestParts;
use axum::http::request::Parts;

use crate::accounts::tokens::constant_time_eq;
use crate::accounts::{CurrentUser, Role, Visitor};
use crate::error::ApiError;
use crate::services::{Actor, StaffRole};
use crate::state::AppState;
use crate::web::PageError;

/// A signed-in staff member.
#[derive(Debug, Clone)]
pub struct Staff {
    pub current: CurrentUser,
    pub role: StaffRole,
}

impl Staff {
    /// The staff member as the services' actor.
    pub fn actor(&self) -> Actor {
        Actor::Staff {
            id: self.current.user.id.clone().into(),
            role: self.role,
        }
    }

    /// True when `token` is the session's CSRF token (every admin form carries it).
    pub fn csrf_matches(&self, token: &str) -> bool {
        !token.is_empty() && constant_time_eq(token, &self.current.session.csrf_token)
    }

    fn of(current: CurrentUser) -> Option<Staff> {
        let role = match current.role {
            Role::Admin => StaffRole::Admin,
            Role::Support => StaffRole::Support,
            Role::Customer => return None,
        };
        Some(Staff { current, role })
    }
}

/// The page a customer sees at any `/admin` address.
fn not_found() -> PageError {
    PageError::not_found("This page")
}

impl FromRequestParts<AppState> for Staff {
    type Rejection = PageError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, PageError> {
        let current = CurrentUser::from_request_parts(parts, state).await?;
        Staff::of(current).ok_or_else(not_found)
    }
}

/// A staff member on the admin JSON API: 401 without a session, 404 for a customer, and on
/// writes the `X-CSRF-Token` header of `/api/v1/me`, as the customer API.
#[derive(Debug, Clone)]
pub struct ApiStaff(pub Staff);

impl FromRequestParts<AppState> for ApiStaff {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let visitor = Visitor::from_request_parts(parts, state)
            .await
            .map_err(|err| match err {
                PageError::Internal(err) => ApiError::Internal(err),
                _ => ApiError::Unauthorized,
            })?;
        let current = visitor.current.ok_or(ApiError::Unauthorized)?;
        let staff = Staff::of(current)
            .ok_or_else(|| ApiError::NotFound(format!("no route {}", parts.uri.path())))?;
        if !matches!(parts.method.as_str(), "GET" | "HEAD" | "OPTIONS") {
            let sent = parts
                .headers
                .get("x-csrf-token")
                .and_then(|v| v.to_str().ok())
                .unwrap_or("");
            if !staff.csrf_matches(sent) {
                return Err(ApiError::Forbidden(
                    "the X-CSRF-Token header must carry the `csrf_token` of /api/v1/me".to_owned(),
                ));
            }
        }
        Ok(ApiStaff(staff))
    }
}
