//! `GET /api/admin/v1/metrics?from=&to=`: the analytics page's figures as JSON, each with its
//! exact numerator and denominator (money in cents), for the period and the one before it.

use axum::Json;
use axum::extract::{Query, State};
use serde::Serialize;

use crate::admin::ApiStaff;
use crate::admin::analytics::PeriodQuery;
use crate::analytics::figures::{Figure, figures};
use crate::analytics::{self, day_of};
use crate::error::ApiError;
use crate::state::AppState;

/// The figures of a period.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Metrics {
    /// First day, `YYYY-MM-DD` (UTC).
    pub from: String,
    /// Last day, inclusive.
    pub to: String,
    /// The period compared with: as long, just before.
    pub previous_from: String,
    pub previous_to: String,
    /// Past days of the period without a daily snapshot (their flows count as zero).
    pub missing_days: i64,
    pub figures: Vec<Figure>,
}

#[utoipa::path(get, path = "/api/admin/v1/metrics", tag = "admin",
    params(("from" = Option<String>, Query, description = "First day, 2027-01-01 (with `to`)"),
        ("to" = Option<String>, Query, description = "Last day, inclusive, not after today"),
        ("period" = Option<String>, Query, description = "Instead of from and to: 30d (default), 90d or 12m, ending today")),
    responses((status = 200, description = "The period's figures and the previous period's", body = Metrics),
        (status = 400, description = "A date or period that cannot be read, or a period longer than three years", body = crate::device_api::docs::ErrorDoc),
        (status = 401, description = "No session", body = crate::device_api::docs::ErrorDoc),
        (status = 404, description = "Not staff", body = crate::device_api::docs::ErrorDoc),
    ), security(("session" = [])))]
pub(crate) async fn metrics(
    State(state): State<AppState>,
    _staff: ApiStaff,
    Query(q): Query<PeriodQuery>,
) -> Result<Json<Metrics>, ApiError> {
    let now = state.clock.now_ms();
    let range = q
        .range(day_of(now))
        .map_err(|m| ApiError::bad_request("invalid_period", m))?;
    let report = analytics::report(&state.db, range, now).await?;
    Ok(Json(Metrics {
        from: range.from.to_string(),
        to: range.to.to_string(),
        previous_from: report.previous_range.from.to_string(),
        previous_to: report.previous_range.to.to_string(),
        missing_days: report.missing_days,
        figures: figures(&report),
    }))
}
