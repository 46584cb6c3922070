//! The static files the pages load (a stylesheet and small progressive scripts), embedded in the
//! binary and served with a long cache lifetime.

use axum::extract::Path;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};

const FILES: &[(&str, &str, &str)] = &[
    (
        "app.css",
        "text/css; charset=utf-8",
        include_str!("../../static/app.css"),
    ),
    (
        "dashboard.js",
        "text/javascript; charset=utf-8",
        include_str!("../../static/dashboard.js"),
    ),
    (
        "confirm.js",
        "text/javascript; charset=utf-8",
        include_str!("../../static/confirm.js"),
    ),
    (
        "stripe-card.js",
        "text/javascript; charset=utf-8",
        include_str!("../../static/stripe-card.js"),
    ),
];

/// `GET /static/{file}`.
pub async fn file(Path(name): Path<String>) -> Response {
    match FILES.iter().find(|(n, _, _)| *n == name) {
        Some((_, content_type, body)) => (
            [
                (header::CONTENT_TYPE, *content_type),
                (header::CACHE_CONTROL, "public, max-age=3600"),
            ],
            *body,
        )
            .into_response(),
        None => (StatusCode::NOT_FOUND, "not found").into_response(),
    }
}
