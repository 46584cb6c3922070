//! `/admin/jobs`: the jobs that failed for good with their last error, and retrying one.

use axum::Form;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use minijinja::{Value, context};
use serde::Deserialize;

use super::devices::ReasonForm;
use super::{Staff, templates};
use crate::services::staff_jobs;
use crate::state::AppState;
use crate::web::PageError;
use crate::web::format::date_time;

/// Failed jobs listed at most.
pub const LIMIT: i64 = 200;

#[derive(Debug, Deserialize, Default)]
pub struct JobsQuery {
    #[serde(default)]
    pub kind: String,
    #[serde(default)]
    done: String,
}

/// `GET /admin/jobs`.
pub async fn list(
    State(state): State<AppState>,
    staff: Staff,
    Query(q): Query<JobsQuery>,
) -> Result<Response, PageError> {
    let jobs: Vec<Value> = state
        .db
        .failed_jobs(q.kind.trim(), LIMIT)
        .await?
        .iter()
        .map(|j| {
            context! {
                id => j.id, kind => j.kind, attempts => j.attempts, failed => date_time(j.updated_at, "UTC"),
                error => j.last_error.clone().unwrap_or_default(),
            }
        })
        .collect();
    let notice = (q.done == "retry").then_some("Queued again.");
    templates::page(
        &staff,
        StatusCode::OK,
        "admin/jobs.html",
        context! { title => "Failed jobs", nav => "jobs", notice => notice, kind => q.kind, jobs => jobs },
    )
}

/// `POST /admin/jobs/{id}/retry` with the staff member's reason.
pub async fn retry(
    State(state): State<AppState>,
    staff: Staff,
    Path(job_id): Path<String>,
    Form(form): Form<ReasonForm>,
) -> Result<Response, PageError> {
    if !staff.csrf_matches(&form.csrf) {
        return Err(PageError::bad_csrf());
    }
    staff_jobs::retry(&state, &staff.actor(), &job_id, &form.reason).await?;
    Ok(Redirect::to("/admin/jobs?done=retry").into_response())
}
