//! The pages' error: a login redirect, or an HTML error page with its status. Server errors say
//! only "something went wrong" and log the cause.

use axum::http::{StatusCode, Uri, header};
use axum::response::{Html, IntoResponse, Redirect, Response};

use crate::error::ApiError;

/// Why a page could not be shown.
#[derive(Debug, thiserror::Error)]
pub enum PageError {
    #[error("login required")]
    LoginRequired { next: String },
    #[error("{1}")]
    Status(StatusCode, String),
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

impl PageError {
    /// 404 with a message.
    pub fn not_found(what: &str) -> PageError {
        PageError::Status(StatusCode::NOT_FOUND, format!("{what} was not found."))
    }

    /// 403: the form's CSRF token was missing or stale.
    pub fn bad_csrf() -> PageError {
        PageError::Status(
            StatusCode::FORBIDDEN,
            "This form has expired. Go back, reload the page and try again.".to_owned(),
        )
    }
}

impl From<ApiError> for PageError {
    fn from(err: ApiError) -> Self {
        match err {
            ApiError::Internal(err) => PageError::Internal(err),
            other => {
                let status = other.clone_status();
                PageError::Status(status, other.to_string())
            }
        }
    }
}

impl From<smartbox_store::StoreError> for PageError {
    fn from(err: smartbox_store::StoreError) -> Self {
        PageError::Internal(err.into())
    }
}

impl From<minijinja::Error> for PageError {
    fn from(err: minijinja::Error) -> Self {
        PageError::Internal(anyhow::anyhow!("template: {err:#}"))
    }
}

trait CloneStatus {
    fn clone_status(&self) -> StatusCode;
}

impl CloneStatus for ApiError {
    fn clone_status(&self) -> StatusCode {
        match self {
            ApiError::BadRequest { .. } => StatusCode::BAD_REQUEST,
            ApiError::Unauthorized => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden(_) => StatusCode::FORBIDDEN,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::Conflict(_) => StatusCode::CONFLICT,
            ApiError::PaymentRequired(_) => StatusCode::PAYMENT_REQUIRED,
            ApiError::TooManyRequests { .. } | ApiError::RateLimited(_) => {
                StatusCode::TOO_MANY_REQUESTS
            }
            _ => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

/// `next` if it is a path on this site, else the dashboard (no open redirects). The one check
/// every redirect to a caller's `next` passes: a single leading `/`, then printable ASCII only
/// without `\`. Browsers drop tabs and newlines from a URL (`/<TAB>/evil.example` becomes
/// `//evil.example`, another host) and read `\` as `/`; control and non-ASCII bytes cannot be
/// a `Location` header at all.
pub fn local_path(next: &str) -> &str {
    let bytes = next.as_bytes();
    let printable = bytes
        .iter()
        .all(|&b| (0x21..0x7f).contains(&b) && b != b'\\');
    if printable && bytes.first() == Some(&b'/') && bytes.get(1) != Some(&b'/') {
        next
    } else {
        "/dashboard"
    }
}

/// Percent-encodes a query-string value.
pub fn encode_query(value: &str) -> String {
    value
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        let (status, message) = match self {
            PageError::LoginRequired { next } => {
                return Redirect::to(&format!("/login?next={}", encode_query(local_path(&next))))
                    .into_response();
            }
            PageError::Status(status, message) => (status, message),
            PageError::Internal(err) => {
                tracing::error!(error = ?err, "page failed");
                (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "Something went wrong. Please try again in a moment.".to_owned(),
                )
            }
        };
        let body = super::templates::render(
            "error.html",
            minijinja::context! {
                title => status.canonical_reason().unwrap_or("Error"), status => status.as_u16(), message => message,
                user => None::<()>, csrf => "",
            },
        )
        .unwrap_or_else(|err| {
            tracing::error!(error = %err, "the error page failed to render");
            "<!doctype html><title>Error</title><p>Something went wrong.</p>".to_owned()
        });
        (status, [(header::CACHE_CONTROL, "no-store")], Html(body)).into_response()
    }
}

/// The answer to an address no route knows: the branded 404 page, or a plain 404 under `/api/`
/// (the customer API words it as JSON; the device API keeps it plain so a mailbox retries a
/// path mangled on its way, see `crate::json_errors`).
pub async fn no_such_page(uri: Uri) -> Response {
    if uri.path().starts_with("/api/") {
        return StatusCode::NOT_FOUND.into_response();
    }
    PageError::Status(
        StatusCode::NOT_FOUND,
        "There is no page at this address. The link may be old or mistyped.".to_owned(),
    )
    .into_response()
}

/// A service's refusal as a page: 404 "This mailbox was not found.", 400 and 409 with the
/// service's sentence, billing refusals as [`super::billing::billing_error`] words them.
impl From<crate::services::ServiceError> for PageError {
    fn from(err: crate::services::ServiceError) -> PageError {
        use crate::services::ServiceError;
        match err {
            ServiceError::NotFound { what, .. } => PageError::not_found(&format!("This {what}")),
            ServiceError::Invalid { message, .. } => {
                PageError::Status(StatusCode::BAD_REQUEST, message)
            }
            ServiceError::Conflict(message) => PageError::Status(StatusCode::CONFLICT, message),
            ServiceError::Forbidden(message) => PageError::Status(StatusCode::FORBIDDEN, message),
            ServiceError::Billing(err) => super::billing::billing_error(err),
            ServiceError::Busy => PageError::Status(
                StatusCode::SERVICE_UNAVAILABLE,
                "The server is busy. Try again in a moment.".to_owned(),
            ),
            ServiceError::Store(err) => err.into(),
            ServiceError::Internal(err) => PageError::Internal(err),
        }
    }
}
