//! Data metering (DESIGN §4): every authenticated device request adds its request and response
//! bytes, headers included, to the current period's data counter; firmware downloads are not
//! counted. Sizes are those of the HTTP/1.1 messages as they cross the wire (request line or status
//! line, every header line, the blank line, the body), including the `date` and `content-length`
//! headers the HTTP layer adds after the handler.
//!
//! The count is written together with a heartbeat's vitals by the group-commit [`writer`](super::writer),
//! and the answer leaves only once that write is committed.

use axum::body::HttpBody as _;
use axum::http::{HeaderMap, Method, StatusCode, header, request};
use axum::response::{IntoResponse, Response};
use smartbox_protocol::FIRMWARE_PATH_PREFIX;
use smartbox_store::VitalsRow;

use super::context::DeviceContext;
use crate::error::ApiError;
use crate::state::AppState;

/// Put in a response's extensions by the heartbeat handler: the vitals to write with the usage.
#[derive(Debug, Clone)]
pub struct PendingVitals(pub VitalsRow);

/// `len("Sun, 06 Nov 1994 08:49:37 GMT")`: an HTTP date always has 29 characters.
const HTTP_DATE_LEN: u64 = 29;

/// Whether a request is metered: everything but firmware downloads (whatever their answer).
pub fn is_metered(parts: &request::Parts) -> bool {
    !(parts.method == Method::GET && parts.uri.path().starts_with(FIRMWARE_PATH_PREFIX))
}

/// Bytes of the request as received: request line, headers, blank line, body.
pub fn request_wire_len(parts: &request::Parts, body_len: usize) -> u64 {
    let target = parts
        .uri
        .path_and_query()
        .map_or(parts.uri.path().len(), |pq| pq.as_str().len());
    let version = "HTTP/1.1".len();
    let request_line = parts.method.as_str().len() + 1 + target + 1 + version + 2;
    len(request_line) + headers_len(&parts.headers) + 2 + len(body_len)
}

/// Bytes of the response as it will be sent, or `None` when its body length is not known in
/// advance (never the case for the device API's answers, which are all buffered).
pub fn response_wire_len(response: &Response) -> Option<u64> {
    let body = response.body().size_hint().exact()?;
    let status = response.status();
    let reason = status.canonical_reason().unwrap_or("").len();
    // "HTTP/1.1 200 OK\r\n"
    let status_line = len("HTTP/1.1".len() + 1 + 3 + 1 + reason + 2);
    let headers = response.headers();
    let mut total = status_line + headers_len(headers) + 2 + body;
    if !headers.contains_key(header::DATE) {
        total += header_line_len("date", HTTP_DATE_LEN);
    }
    let body_allowed = !(status.is_informational()
        || status == StatusCode::NO_CONTENT
        || status == StatusCode::NOT_MODIFIED);
    if body_allowed && !headers.contains_key(header::CONTENT_LENGTH) {
        total += header_line_len("content-length", len(body.to_string().len()));
    }
    Some(total)
}

fn headers_len(headers: &HeaderMap) -> u64 {
    headers
        .iter()
        .map(|(name, value)| header_line_len(name.as_str(), len(value.len())))
        .sum()
}

/// `name: value\r\n`
fn header_line_len(name: &str, value_len: u64) -> u64 {
    len(name.len()) + 2 + value_len + 2
}

fn len(n: usize) -> u64 {
    u64::try_from(n).unwrap_or(u64::MAX)
}

/// Writes the request's metered bytes (`None`: not metered) and the heartbeat's vitals, if any,
/// and answers once they are committed; a failed write turns the answer into a 500, so the device
/// retries.
pub async fn record(
    state: &AppState,
    context: &DeviceContext,
    request_bytes: Option<u64>,
    mut response: Response,
) -> Response {
    let vitals = response
        .extensions_mut()
        .remove::<PendingVitals>()
        .map(|p| p.0);
    let usage = request_bytes.zip(response_wire_len(&response)).and_then(
        |(request_bytes, response_bytes)| {
            let total = request_bytes.saturating_add(response_bytes);
            context.usage_delta(0, i64::try_from(total).unwrap_or(i64::MAX))
        },
    );
    if vitals.is_none() && usage.is_none() {
        return response;
    }
    let news = vitals.is_some();
    match state.device_api.writer.write(vitals, usage).await {
        Ok(()) => {
            if news {
                state.metrics.checkin();
            }
            if let (true, Some(sub)) = (news, &context.subscription) {
                state.cluster.news_for(&sub.customer_id);
            }
            response
        }
        Err(err) => ApiError::from(err).into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::Body;
    use axum::http::Request;

    #[test]
    fn a_request_counts_its_line_headers_blank_line_and_body() {
        let request = Request::post("/api/device/v1/heartbeat?x=1")
            .header("host", "a")
            .body(())
            .unwrap_or_default();
        let (parts, ()) = request.into_parts();
        // "POST /api/device/v1/heartbeat?x=1 HTTP/1.1\r\n" = 44, "host: a\r\n" = 9, "\r\n" = 2.
        assert_eq!(request_wire_len(&parts, 10), 44 + 9 + 2 + 10);
    }

    #[test]
    fn a_response_counts_the_date_and_length_headers_added_after_it() {
        let response = Response::builder()
            .status(StatusCode::OK)
            .header("content-type", "application/json")
            .body(Body::from("{}"))
            .unwrap_or_default();
        // "HTTP/1.1 200 OK\r\n" = 17, "content-type: application/json\r\n" = 32,
        // "date: <29>\r\n" = 37, "content-length: 2\r\n" = 19, "\r\n" = 2, body = 2.
        assert_eq!(
            response_wire_len(&response),
            Some(17 + 32 + 37 + 19 + 2 + 2)
        );
    }
}
