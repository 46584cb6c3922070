//! `/admin`: customers, mailboxes by lifecycle state, subscriptions by status, failed jobs.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use minijinja::context;

use super::{Staff, templates};
use crate::state::AppState;
use crate::web::PageError;
use crate::web::status_line::OVERDUE_AFTER_MS;
use crate::web::words;

/// `GET /admin`.
pub async fn page(State(state): State<AppState>, staff: Staff) -> Result<Response, PageError> {
    let overview = state
        .db
        .admin_overview(state.clock.now_ms(), OVERDUE_AFTER_MS)
        .await?;
    let lifecycles: Vec<_> = overview
        .devices_by_lifecycle
        .iter()
        .map(|(s, count)| context! { name => s.as_str(), words => words::lifecycle(*s), count => count })
        .collect();
    let subscriptions: Vec<_> = overview
        .subscriptions_by_status
        .iter()
        .map(|(s, count)| context! { words => words::subscription(*s), count => count })
        .collect();
    templates::page(
        &staff,
        StatusCode::OK,
        "admin/overview.html",
        context! {
            title => "Overview", nav => "overview", notice => None::<String>,
            customers => overview.customers, failed_jobs => overview.failed_jobs, overdue => overview.overdue,
            lifecycles => lifecycles, subscriptions => subscriptions,
        },
    )
}
