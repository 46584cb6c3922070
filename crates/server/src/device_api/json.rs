//! Strict request bodies: the content type must be what the endpoint takes (415 otherwise), and
//! malformed JSON or an out-of-range value is a 400 whose message names the field.

use axum::body::Bytes;
use axum::http::{HeaderMap, header};
use serde::de::DeserializeOwned;
use smartbox_protocol::InvalidField;

use crate::error::ApiError;

/// Refuses with 415 unless the `Content-Type` is `expected` (parameters such as `charset` aside).
pub fn require_content_type(headers: &HeaderMap, expected: &str) -> Result<(), ApiError> {
    let given = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let essence = given.split(';').next().unwrap_or("").trim();
    if essence.eq_ignore_ascii_case(expected) {
        Ok(())
    } else {
        Err(ApiError::UnsupportedMediaType(format!(
            "the body must be {expected}, not {:?}",
            if given.is_empty() { "nothing" } else { given }
        )))
    }
}

/// Parses a JSON body of type `T` sent as `application/json`.
pub fn parse<T: DeserializeOwned>(headers: &HeaderMap, body: &Bytes) -> Result<T, ApiError> {
    require_content_type(headers, "application/json")?;
    let mut deserializer = serde_json::Deserializer::from_slice(body);
    let value: T = serde_path_to_error::deserialize(&mut deserializer).map_err(|err| {
        let path = err.path().to_string();
        let inner = err.into_inner();
        let message = if path == "." || path.is_empty() {
            format!("invalid JSON body: {inner}")
        } else {
            format!("invalid `{path}`: {inner}")
        };
        ApiError::bad_request("invalid_body", message)
    })?;
    deserializer.end().map_err(|err| {
        ApiError::bad_request("invalid_body", format!("invalid JSON body: {err}"))
    })?;
    Ok(value)
}

/// A range check of the protocol crate, as a 400 naming the field.
pub fn invalid_field(err: InvalidField) -> ApiError {
    ApiError::bad_request("invalid_field", err.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;
    use smartbox_protocol::HeartbeatRequest;

    fn json_headers() -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json; charset=utf-8"),
        );
        headers
    }

    fn message(err: ApiError) -> String {
        err.to_string()
    }

    #[test]
    fn a_wrong_value_is_named_by_its_field() {
        let body = Bytes::from_static(
            br#"{"battery_percent":300,"power_state":"awake","signal_dbm":-80,"network":"cellular",
            "firmware_version":"1.0.0","modem_tx_bytes":1,"modem_rx_bytes":2,"sd_queue_len":0}"#,
        );
        let err = parse::<HeartbeatRequest>(&json_headers(), &body).map(|_| ());
        let text = err.map_err(message).unwrap_err();
        assert!(text.starts_with("invalid `battery_percent`"), "{text}");
    }

    #[test]
    fn a_missing_field_and_broken_json_say_so() {
        let err = parse::<HeartbeatRequest>(&json_headers(), &Bytes::from_static(b"{}"));
        let text = err.map(|_| ()).map_err(message).unwrap_err();
        assert!(text.contains("missing field `battery_percent`"), "{text}");
        let err = parse::<HeartbeatRequest>(&json_headers(), &Bytes::from_static(b"{\"x\""));
        assert!(err.is_err());
    }

    #[test]
    fn only_the_expected_content_type_passes() {
        let mut headers = HeaderMap::new();
        assert!(matches!(
            require_content_type(&headers, "application/json"),
            Err(ApiError::UnsupportedMediaType(_))
        ));
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain"));
        assert!(require_content_type(&headers, "application/json").is_err());
        assert!(require_content_type(&json_headers(), "application/json").is_ok());
    }
}
