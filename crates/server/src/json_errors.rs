//! Every error answer of the JSON APIs (`/api/...`) is JSON, and every status they can answer is
//! in the OpenAPI document. axum's own rejections (a malformed query such as `limit=2^63`, a body
//! that is not JSON, a missing field) are plain text; [`json_answers`] rewrites them into the
//! API's `{"error", "message"}` form, and [`document_errors`] lists them on every operation.

use axum::body::{Body, to_bytes};
use axum::extract::Request;
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::Response;
use utoipa::openapi::{OpenApi, RefOr, ResponseBuilder, content::ContentBuilder};

/// The longest plain-text error kept as the message.
const MAX_MESSAGE: usize = 4096;

/// Middleware: a 4xx or 5xx answer to `/api/...` that is not JSON becomes JSON.
///
/// Except on the device API: there a JSON error is the server's word on an authenticated request
/// (its handlers answer in JSON after the signature is checked), and a mailbox drops an upload
/// only on such an answer. A plain 404 or 405 from the router means the request's path or method
/// was mangled on the way (a byte lost on the modem's UART) before any signature was checked, so
/// it must stay plain for the mailbox to keep the event and try again (issue 13).
pub async fn json_answers(request: Request, next: Next) -> Response {
    let path = request.uri().path();
    let api = path.starts_with("/api/") && !path.starts_with("/api/device/");
    let response = next.run(request).await;
    let status = response.status();
    let is_json = response
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/json"));
    if !api || is_json || !(status.is_client_error() || status.is_server_error()) {
        return response;
    }
    let (mut parts, body) = response.into_parts();
    let text = to_bytes(body, MAX_MESSAGE)
        .await
        .map(|bytes| String::from_utf8_lossy(&bytes).trim().to_owned())
        .unwrap_or_default();
    let message = if text.is_empty() || status.is_server_error() {
        status.canonical_reason().unwrap_or("error").to_owned()
    } else {
        text
    };
    let body = serde_json::json!({ "error": code(status), "message": message }).to_string();
    parts.headers.remove(header::CONTENT_LENGTH);
    parts.headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    Response::from_parts(parts, Body::from(body))
}

/// The largest customer API body read: axum's default body limit, so a body refused here as
/// too large is one its `Json` extractor refused as well.
const MAX_OBJECT: usize = 2 * 1024 * 1024;

/// Middleware of the customer API: a JSON body must be an object (or `null`, which serde refuses
/// for a struct and an optional body reads as absent). serde would also take a struct written as
/// an array (`[null, null]` for `{"name": null, "location": null}`), which the OpenAPI document
/// refuses, and schemathesis found the API accepting it (422 now).
///
/// Only on the methods whose bodies the API reads: any other method (`TRACE`) goes on to the
/// router, which answers 405 with `Allow`, whatever its body.
pub async fn objects_only(request: Request, next: Next) -> Response {
    let json = request
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/json"));
    let with_body =
        [Method::POST, Method::PUT, Method::PATCH, Method::DELETE].contains(request.method());
    if !json || !with_body {
        return next.run(request).await;
    }
    let (parts, body) = request.into_parts();
    let Ok(bytes) = to_bytes(body, MAX_OBJECT).await else {
        return refusal(StatusCode::PAYLOAD_TOO_LARGE, "the body is too large");
    };
    let first = bytes.iter().find(|b| !b.is_ascii_whitespace());
    if first.is_some_and(|&b| b != b'{' && b != b'n') {
        return refusal(
            StatusCode::UNPROCESSABLE_ENTITY,
            "the body must be a JSON object",
        );
    }
    next.run(Request::from_parts(parts, Body::from(bytes)))
        .await
}

fn refusal(status: StatusCode, message: &str) -> Response {
    let body = serde_json::json!({ "error": code(status), "message": message }).to_string();
    Response::builder()
        .status(status)
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(body))
        .unwrap_or_default()
}

/// The `error` code of a status, as [`crate::error::ApiError`] names them.
fn code(status: StatusCode) -> &'static str {
    match status {
        StatusCode::BAD_REQUEST => "bad_request",
        StatusCode::UNAUTHORIZED => "unauthorized",
        StatusCode::FORBIDDEN => "forbidden",
        StatusCode::NOT_FOUND => "not_found",
        StatusCode::METHOD_NOT_ALLOWED => "method_not_allowed",
        StatusCode::PAYLOAD_TOO_LARGE => "payload_too_large",
        StatusCode::UNSUPPORTED_MEDIA_TYPE => "unsupported_media_type",
        StatusCode::UNPROCESSABLE_ENTITY => "invalid_body",
        StatusCode::TOO_MANY_REQUESTS => "rate_limited",
        s if s.is_server_error() => "internal",
        _ => "error",
    }
}

/// The statuses any operation may answer besides its own: a malformed request (400), and for a
/// body, one of another type (415) or of the wrong shape (422).
const ANY_OPERATION: [(&str, &str); 1] = [("400", "Malformed path or query parameters")];
const WITH_BODY: [(&str, &str); 3] = [
    ("400", "Malformed JSON body"),
    ("415", "The body is not application/json"),
    ("422", "The JSON body has a missing or mistyped field"),
];

/// Lists the generic error answers on every operation of `doc` that does not list them yet.
pub fn document_errors(doc: &mut OpenApi) {
    for item in doc.paths.paths.values_mut() {
        let operations = [
            &mut item.get,
            &mut item.put,
            &mut item.post,
            &mut item.delete,
            &mut item.patch,
        ];
        for operation in operations.into_iter().flatten() {
            let extra: &[(&str, &str)] = if operation.request_body.is_some() {
                &WITH_BODY
            } else {
                &ANY_OPERATION
            };
            for (status, description) in extra {
                operation
                    .responses
                    .responses
                    .entry((*status).to_owned())
                    .or_insert_with(|| RefOr::T(error_response(description)));
            }
        }
    }
}

fn error_response(description: &str) -> utoipa::openapi::Response {
    ResponseBuilder::new()
        .description(description)
        .content(
            "application/json",
            ContentBuilder::new()
                .schema(Some(RefOr::Ref(utoipa::openapi::Ref::from_schema_name(
                    "Error",
                ))))
                .build(),
        )
        .build()
}

#[cfg(test)]
mod tests {
    #[test]
    fn every_operation_documents_its_malformed_request_answers() {
        let doc = crate::openapi::document();
        for (path, item) in &doc.paths.paths {
            for (operation, has_body) in [
                (&item.get, false),
                (&item.post, true),
                (&item.patch, true),
                (&item.put, true),
            ] {
                let Some(operation) = operation else { continue };
                let listed = &operation.responses.responses;
                assert!(listed.contains_key("400"), "{path}");
                if has_body && operation.request_body.is_some() {
                    assert!(
                        listed.contains_key("415") && listed.contains_key("422"),
                        "{path}"
                    );
                }
            }
        }
    }
}
