//! The HTTP surface: one router built from the shared state, so tests can drive it in-process
//! (`app(state).oneshot(request)`) or over a real socket.

use axum::extract::State;
use axum::http::StatusCode;
use axum::middleware;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::{Json, Router};

use crate::state::AppState;

/// Every route of the service.
pub fn app(state: AppState) -> Router {
    let router = Router::new().route("/healthz", get(healthz));
    let router = crate::telemetry::scrape::route(router, &state)
        .merge(crate::device_api::router(&state))
        .merge(crate::openapi::router())
        .merge(
            crate::web::router()
                .merge(crate::customer_api::router())
                .layer(middleware::from_fn_with_state(
                    state.clone(),
                    crate::accounts::guard::protect,
                )),
        )
        .merge(crate::admin::router(state.clone()))
        .merge(crate::webhooks::router())
        .fallback(crate::web::error::no_such_page)
        .layer(middleware::from_fn(crate::json_errors::json_answers))
        .layer(middleware::from_fn_with_state(
            state.clone(),
            crate::accounts::client_address::resolve,
        ));
    crate::telemetry::requests::layers(router, &state).with_state(state)
}

/// Liveness and database reachability: `{"status":"ok","database":"sqlite"}`.
async fn healthz(State(state): State<AppState>) -> impl IntoResponse {
    let database = state.db.backend().as_str();
    match state.db.ping().await {
        Ok(()) => (
            StatusCode::OK,
            Json(serde_json::json!({"status": "ok", "database": database})),
        ),
        Err(err) => {
            tracing::error!(error = %err, "health check: database unreachable");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                Json(serde_json::json!({"status": "error", "database": database})),
            )
        }
    }
}
