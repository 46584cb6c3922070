//! Authentication of device requests (DESIGN §5) and the middleware every device route runs in.
//!
//! The order is chosen so that nothing expensive happens for a request that cannot be authentic
//! and nothing large is read for a body that is too large: the headers first (serial known, clock
//! within [`MAX_CLOCK_SKEW_S`], device not decommissioned), then the body up to the route's limit
//! (413 as soon as the limit is passed, from `Content-Length` alone when it is sent), then the
//! signature over the buffered body. Every authentication failure answers the very same 401, with
//! a `Date` header the device can resynchronise its clock from.

use std::sync::Arc;

use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, header, request};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use http_body_util::BodyExt;
use smartbox_domain::LifecycleState;
use smartbox_protocol::{
    HEADER_SERIAL, HEADER_SIGNATURE, HEADER_TIME, MAX_CLOCK_SKEW_S, MAX_PHOTO_BYTES,
    MAX_SERIAL_LEN, body_sha256, verify_request,
};

use super::context::{DeviceContext, LoadError};
use super::metering;
use crate::error::ApiError;
use crate::state::AppState;

/// Largest JSON body of the device API (heartbeat, event, firmware report).
pub const MAX_JSON_BYTES: usize = 16 * 1024;

/// The authenticated device, put in the request's extensions by [`guard`].
#[derive(Debug, Clone)]
pub struct Authenticated(pub Arc<DeviceContext>);

/// The SHA-256 of the request's body, computed once to check its signature and put in the
/// request's extensions by [`guard`] (a photo is stored with it).
#[derive(Debug, Clone, Copy)]
pub struct BodyDigest(pub [u8; 32]);

/// Why a request was refused before reaching its handler.
#[derive(Debug)]
enum Refusal {
    Unauthorized,
    TooLarge { limit: usize },
    Api(ApiError),
}

/// The middleware of every device route: authenticate, run the handler, meter, answer.
pub async fn guard(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let (parts, body) = request.into_parts();
    let (context, body, digest) = match authenticate(&state, &parts, body).await {
        Ok(authenticated) => authenticated,
        Err(Refusal::Unauthorized) => return unauthorized(&state),
        Err(Refusal::TooLarge { limit }) => {
            return ApiError::PayloadTooLarge(format!("the body is larger than {limit} bytes"))
                .into_response();
        }
        Err(Refusal::Api(err)) => return err.into_response(),
    };
    // A replay (the same signed request again within the clock skew) is answered, but its bytes
    // were counted the first time.
    let first_time = state
        .device_api
        .seen_signatures
        .insert(signature_key(&parts.headers), state.clock.now_ms());
    let request_bytes = (first_time && metering::is_metered(&parts))
        .then(|| metering::request_wire_len(&parts, body.len()));
    let mut request = Request::from_parts(parts, Body::from(body));
    request
        .extensions_mut()
        .insert(Authenticated(Arc::clone(&context)));
    request.extensions_mut().insert(BodyDigest(digest));
    let response = next.run(request).await;
    metering::record(&state, &context, request_bytes, response).await
}

/// The one answer to every authentication failure.
pub fn unauthorized(state: &AppState) -> Response {
    let mut response = ApiError::Unauthorized.into_response();
    let now = std::time::UNIX_EPOCH
        + std::time::Duration::from_millis(u64::try_from(state.clock.now_ms()).unwrap_or(0));
    if let Ok(date) = HeaderValue::from_str(&httpdate::fmt_http_date(now)) {
        response.headers_mut().insert(header::DATE, date);
    }
    response
}

async fn authenticate(
    state: &AppState,
    parts: &request::Parts,
    body: Body,
) -> Result<(Arc<DeviceContext>, Bytes, [u8; 32]), Refusal> {
    let headers = &parts.headers;
    let serial = header_str(headers, HEADER_SERIAL).ok_or(Refusal::Unauthorized)?;
    let time: i64 = header_str(headers, HEADER_TIME)
        .and_then(|t| t.parse().ok())
        .ok_or(Refusal::Unauthorized)?;
    let signature = header_str(headers, HEADER_SIGNATURE).ok_or(Refusal::Unauthorized)?;
    if !plausible_serial(serial) || state.clock.now_s().abs_diff(time) > MAX_CLOCK_SKEW_S as u64 {
        return Err(Refusal::Unauthorized);
    }
    let unknown = &state.device_api.unknown_serials;
    if unknown.contains(&serial.to_owned(), state.clock.now_ms()) {
        return Err(Refusal::Unauthorized);
    }
    let context = match state.device_api.devices.get(state, serial).await {
        Ok(context) => context,
        Err(LoadError::Unknown) => {
            unknown.insert(serial.to_owned(), state.clock.now_ms());
            return Err(Refusal::Unauthorized);
        }
        Err(LoadError::Internal(err)) => return Err(Refusal::Api(ApiError::Internal(err))),
    };
    if context.lifecycle == LifecycleState::Decommissioned {
        return Err(Refusal::Unauthorized);
    }
    let body = read_limited(headers, body, body_limit(parts)).await?;
    let path = parts.uri.path();
    let digest = body_sha256(&body);
    let content_type = header_str(headers, header::CONTENT_TYPE.as_str());
    if !verify_request(
        &context.secret,
        parts.method.as_str(),
        path,
        time,
        content_type,
        &digest,
        signature.as_bytes(),
    ) {
        return Err(Refusal::Unauthorized);
    }
    Ok((context, body, digest))
}

/// The key a request's signature is remembered by (its SHA-256, with the serial).
fn signature_key(headers: &HeaderMap) -> [u8; 32] {
    let serial = header_str(headers, HEADER_SERIAL).unwrap_or("");
    let signature = header_str(headers, HEADER_SIGNATURE).unwrap_or("");
    body_sha256(format!("{serial}\n{signature}").as_bytes())
}

fn header_str<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name)?.to_str().ok()
}

fn plausible_serial(serial: &str) -> bool {
    (4..=MAX_SERIAL_LEN).contains(&serial.len())
        && serial
            .bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'-')
}

/// Photos may be up to 2 MiB; everything else is a small JSON document (or nothing, for GET).
fn body_limit(parts: &request::Parts) -> usize {
    if parts.method == Method::PUT {
        MAX_PHOTO_BYTES as usize
    } else {
        MAX_JSON_BYTES
    }
}

/// Reads the body, refusing it as soon as it is known to pass `limit`: from `Content-Length`
/// before reading anything, or at the first frame past the limit.
async fn read_limited(headers: &HeaderMap, body: Body, limit: usize) -> Result<Bytes, Refusal> {
    let declared = header_str(headers, header::CONTENT_LENGTH.as_str())
        .and_then(|len| len.parse::<u64>().ok());
    if declared.is_some_and(|len| len > limit as u64) {
        return Err(Refusal::TooLarge { limit });
    }
    let collected = http_body_util::Limited::new(body, limit)
        .collect()
        .await
        .map_err(|err| {
            if err
                .downcast_ref::<http_body_util::LengthLimitError>()
                .is_some()
            {
                Refusal::TooLarge { limit }
            } else {
                Refusal::Api(ApiError::bad_request(
                    "unreadable_body",
                    format!("the body could not be read: {err}"),
                ))
            }
        })?;
    Ok(collected.to_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serials_are_checked_for_shape_before_any_lookup() {
        assert!(plausible_serial("SB-0001"));
        assert!(!plausible_serial("sb-0001"));
        assert!(!plausible_serial("SB1"));
        assert!(!plausible_serial(&"A".repeat(33)));
        assert!(!plausible_serial("SB 0001"));
    }
}
