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
