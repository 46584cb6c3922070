//! The JSON APIs answer every error as JSON, including what axum refuses before a handler runs.

use axum::body::Body;
use axum::http::{Request, StatusCode, header};

use crate::portal::helpers::spawn_sqlite;

#[tokio::test]
async fn malformed_queries_and_bodies_get_json_errors() {
    let app = spawn_sqlite().await;
    let mut customer = app.customer("xena@example.com").await;
    let huge = customer
        .api("GET", "/api/v1/events?limit=9223372036854775808", None)
        .await;
    assert_eq!(huge.status, StatusCode::BAD_REQUEST);
    assert_eq!(huge.json()["error"], "bad_request", "{}", huge.body);

    let me = customer.api("GET", "/api/v1/me", None).await.json();
    let csrf = me["csrf_token"].as_str().unwrap().to_owned();
    let post = |content_type: &'static str, body: &'static str| {
        Request::post("/api/v1/claims")
            .header("x-csrf-token", &csrf)
            .header(header::CONTENT_TYPE, content_type)
            .body(Body::from(body))
            .unwrap()
    };
    let text = customer.send(post("text/plain", "hello")).await;
    assert_eq!(text.status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    assert_eq!(
        text.json()["error"],
        "unsupported_media_type",
        "{}",
        text.body
    );
    let missing = customer.send(post("application/json", "{}")).await;
    assert_eq!(missing.status, StatusCode::UNPROCESSABLE_ENTITY);
    let answer = missing.json();
    assert_eq!(answer["error"], "invalid_body");
    assert!(
        answer["message"].as_str().unwrap().contains("serial"),
        "{answer}"
    );
    let broken = customer.send(post("application/json", "{")).await;
    assert_eq!(broken.status, StatusCode::BAD_REQUEST);
    assert_eq!(
        broken.headers[header::CONTENT_TYPE],
        "application/json",
        "{}",
        broken.body
    );
}

/// Issue 13: a mailbox drops an upload only on the API's JSON error, which the device API gives
/// after it has checked the signature. A path mangled on the way to an unknown route must not look
/// like that, or the mailbox would delete the event from its SD card.
#[tokio::test]
async fn a_mangled_device_api_path_gets_a_plain_404_the_mailbox_retries() {
    let app = spawn_sqlite().await;
    let mut browser = app.browser();
    for path in ["/api/device/v1/evnts", "/api/device/v1/events/x/photo/0"] {
        let answer = browser
            .send(
                Request::post(path)
                    .header(header::CONTENT_TYPE, "application/json")
                    .body(Body::from("{}"))
                    .unwrap(),
            )
            .await;
        assert_eq!(answer.status, StatusCode::NOT_FOUND, "{path}");
        assert!(
            serde_json::from_str::<serde_json::Value>(&answer.body)
                .map(|v| v.get("error").is_none())
                .unwrap_or(true),
            "{path}: {}",
            answer.body
        );
    }
}
