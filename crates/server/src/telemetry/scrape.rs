//! `GET /metrics`: the Prometheus text format (version 0.0.4), behind `SMARTBOX_METRICS_TOKEN`.
//!
//! Unset, the route does not exist (404, like any unknown page). Set, a scrape must send
//! `Authorization: Bearer <token>`; anything else is 401. The token is compared through SHA-256
//! digests in constant time, so neither its bytes nor its length leak through timing.

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use prometheus_client::encoding::prometheus_text;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::{Metrics, QueueLabels};
use crate::state::AppState;

/// The route, registered only when a token is configured.
pub const METRICS_PATH: &str = "/metrics";

/// `GET /metrics` when `SMARTBOX_METRICS_TOKEN` is set; without it the route is not there.
pub fn route(router: Router<AppState>, state: &AppState) -> Router<AppState> {
    let Some(token) = state.config.metrics_token.clone() else {
        return router;
    };
    router.route(
        METRICS_PATH,
        get(
            move |State(state): State<AppState>, headers: HeaderMap| async move {
                metrics(&state, &headers, token.expose()).await
            },
        ),
    )
}

/// Answers a scrape: the queue depth read now, then every series.
async fn metrics(state: &AppState, headers: &HeaderMap, token: &str) -> Response {
    if !authorized(headers, token) {
        return (
            StatusCode::UNAUTHORIZED,
            [(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"metrics\""),
            )],
            "a bearer token is required\n",
        )
            .into_response();
    }
    match render(state).await {
        Ok(text) => (
            [(
                header::CONTENT_TYPE,
                HeaderValue::from_static(prometheus_text::CONTENT_TYPE),
            )],
            text,
        )
            .into_response(),
        Err(error) => {
            tracing::error!(%error, "metrics: cannot render");
            StatusCode::INTERNAL_SERVER_ERROR.into_response()
        }
    }
}

/// Whether the request carries `Authorization: Bearer <token>`.
fn authorized(headers: &HeaderMap, token: &str) -> bool {
    let Some(sent) = headers
        .get(header::AUTHORIZATION)
        .and_then(|value| value.as_bytes().strip_prefix(b"Bearer "))
    else {
        return false;
    };
    let sent = Sha256::digest(sent);
    let expected = Sha256::digest(token.as_bytes());
    sent.ct_eq(&expected).into()
}

/// Refreshes the queue depth and renders every series. A database that cannot be read leaves
/// the queue depth out (and logs why) rather than failing the scrape: the HTTP series matter
/// most when the database is in trouble.
async fn render(state: &AppState) -> Result<String, std::fmt::Error> {
    let metrics: &Metrics = &state.metrics;
    let _one_at_a_time = metrics.scraping.lock().await;
    metrics.jobs_queued.clear();
    match state.db.queued_jobs_by_kind(state.clock.now_ms()).await {
        Ok(queued) => {
            for kinds in queued {
                for (due, count) in [("now", kinds.due), ("later", kinds.later)] {
                    metrics
                        .jobs_queued
                        .get_or_create(&QueueLabels {
                            kind: kinds.kind.clone(),
                            due,
                        })
                        .set(count);
                }
            }
        }
        Err(error) => tracing::warn!(%error, "metrics: the job queue cannot be read"),
    }
    let mut text = String::with_capacity(16 * 1024);
    prometheus_text::encode(&mut text, &metrics.registry)?;
    Ok(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bearer(value: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::AUTHORIZATION,
            HeaderValue::from_str(value).expect("a header value"),
        );
        headers
    }

    #[test]
    fn only_the_exact_bearer_token_is_authorized() {
        assert!(authorized(&bearer("Bearer s3cret"), "s3cret"));
        assert!(!authorized(&bearer("Bearer s3cre"), "s3cret"));
        assert!(!authorized(&bearer("Bearer s3cret "), "s3cret"));
        assert!(!authorized(&bearer("bearer s3cret"), "s3cret"));
        assert!(!authorized(&bearer("Basic s3cret"), "s3cret"));
        assert!(!authorized(&HeaderMap::new(), "s3cret"));
    }
}
