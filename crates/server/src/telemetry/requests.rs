//! Every request's id, span and count.
//!
//! The id: tower-http's request-id layers give each request an `x-request-id` (a UUID, or the
//! one a proxy already set when it is short and printable) and return it on the answer, and the
//! request's span carries it, so a log line (`SMARTBOX_LOG_FORMAT=json` prints the span's fields
//! on every line) can be found from a response a customer or a mailbox reports.
//!
//! The count: [`track`] times each request and counts it by method, route template and status.

use std::time::Instant;

use axum::Router;
use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderName, Method};
use axum::middleware::{self, Next};
use axum::response::Response;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::trace::TraceLayer;

use super::UNMATCHED_ROUTE;
use crate::state::AppState;

/// The header that carries a request's id, both ways.
pub const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");
/// The longest incoming request id kept; a longer one is replaced by ours.
pub const MAX_REQUEST_ID: usize = 64;

/// Wraps `router` in the request-id, span and metrics layers (outermost first: drop an unusable
/// incoming id, set one, count and time, open the span, return the id on the answer).
pub fn layers(router: Router<AppState>, state: &AppState) -> Router<AppState> {
    router
        .layer(PropagateRequestIdLayer::new(REQUEST_ID))
        .layer(TraceLayer::new_for_http().make_span_with(span))
        .layer(middleware::from_fn_with_state(state.clone(), track))
        .layer(SetRequestIdLayer::new(REQUEST_ID, MakeRequestUuid))
        .layer(middleware::map_request(drop_unusable_request_id))
}

/// Whether an incoming request id is kept: 1 to [`MAX_REQUEST_ID`] visible ASCII characters
/// (no spaces or control characters), so it can be neither a log injection nor a flood.
pub fn usable_request_id(value: &[u8]) -> bool {
    (1..=MAX_REQUEST_ID).contains(&value.len()) && value.iter().all(|b| b.is_ascii_graphic())
}

/// Removes an incoming `x-request-id` that [`usable_request_id`] refuses (or several of them),
/// so the next layer makes a fresh one.
async fn drop_unusable_request_id(mut request: Request) -> Request {
    let headers = request.headers();
    let values = headers.get_all(&REQUEST_ID).iter().count();
    let keep = values == 1
        && headers
            .get(&REQUEST_ID)
            .is_some_and(|value| usable_request_id(value.as_bytes()));
    if values > 0 && !keep {
        request.headers_mut().remove(&REQUEST_ID);
    }
    request
}

/// The request's span: its id, method and route template (not its path: paths hold serials,
/// event ids and reset tokens). At INFO, so it is on the log lines of the default level.
fn span(request: &Request) -> tracing::Span {
    let id = request
        .headers()
        .get(&REQUEST_ID)
        .and_then(|value| value.to_str().ok())
        .unwrap_or("");
    tracing::info_span!(
        "request",
        request_id = id,
        method = %request.method(),
        route = route_of(request),
    )
}

/// Counts and times a request by method, route template and status.
async fn track(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = method_label(request.method());
    let route = route_of(&request).to_owned();
    let response = next.run(request).await;
    state.metrics.request(
        method,
        &route,
        response.status().as_u16(),
        started.elapsed(),
    );
    response
}

/// The route template the request matched, or [`UNMATCHED_ROUTE`].
fn route_of(request: &Request) -> &str {
    request
        .extensions()
        .get::<MatchedPath>()
        .map_or(UNMATCHED_ROUTE, MatchedPath::as_str)
}

/// The method as a label: the standard ones by name, anything else as `other` (a client cannot
/// make up series).
fn method_label(method: &Method) -> &'static str {
    match *method {
        Method::GET => "GET",
        Method::HEAD => "HEAD",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::PATCH => "PATCH",
        Method::DELETE => "DELETE",
        Method::OPTIONS => "OPTIONS",
        _ => "other",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_short_printable_request_ids_are_kept() {
        assert!(usable_request_id(b"proxy-7f3a"));
        assert!(usable_request_id(&[b'a'; MAX_REQUEST_ID]));
        assert!(!usable_request_id(&[b'a'; MAX_REQUEST_ID + 1]));
        assert!(!usable_request_id(b""));
        assert!(!usable_request_id(b"two words"));
        assert!(!usable_request_id(b"line\nbreak"));
        assert!(!usable_request_id("caf\u{e9}".as_bytes()));
    }

    #[test]
    fn made_up_methods_share_one_label() {
        let made_up = Method::from_bytes(b"BREW").expect("a token");
        assert_eq!(method_label(&made_up), "other");
        assert_eq!(method_label(&Method::PUT), "PUT");
    }
}
