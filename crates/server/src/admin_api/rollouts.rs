//! `/api/admin/v1/rollouts`: the JSON twins of `/admin/firmware` — list and read rollouts with
//! their stages, progress and gates, start one, and pause, resume, advance or abort it. Each is
//! the same `services::rollouts` call as the page's.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use smartbox_domain::RolloutId;
use smartbox_domain::rollout::{Gate, GateReading};

use super::ReasonRequest;
use crate::admin::ApiStaff;
use crate::admin::firmware::parse_command;
use crate::error::ApiError;
use crate::services::rollouts::{self, ProgressCounts, RolloutReport, StartRollout};
use crate::state::AppState;

/// Rollouts listed, newest first.
const LISTED: i64 = 50;

/// One stage of a rollout.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct RolloutStage {
    pub percent: u8,
    /// Epoch milliseconds; absent until the stage starts.
    pub started_at: Option<i64>,
    /// Mailboxes this stage adds to the ones before it.
    pub new_members: u64,
    /// Their progress.
    pub progress: ProgressCounts,
}

/// A health gate's value beside its threshold.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct RolloutGate {
    /// `failure_rate`, `silent_share` (basis points) or `battery_drain` (hundredths of a
    /// percentage point a day), each measured against the mailboxes still on the old image.
    pub gate: String,
    /// Absent while there is nothing to measure.
    pub value: Option<i64>,
    pub threshold: i64,
    pub tripped: bool,
}

/// A rollout.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Rollout {
    pub id: String,
    pub version: String,
    pub hardware_revision: String,
    /// `active`, `paused`, `completed` or `aborted`.
    pub state: String,
    /// Index of the current stage in `stages`.
    pub stage: i64,
    pub paused_reason: Option<String>,
    pub soak_ms: i64,
    pub soak_confirmed_percent: i64,
    /// Epoch milliseconds.
    pub created_at: i64,
    pub stages: Vec<RolloutStage>,
    pub totals: ProgressCounts,
    pub gates: Vec<RolloutGate>,
}

fn gate_name(gate: Gate) -> &'static str {
    match gate {
        Gate::FailureRate => "failure_rate",
        Gate::SilentShare => "silent_share",
        Gate::BatteryDrain => "battery_drain",
    }
}

fn gate(reading: &GateReading) -> RolloutGate {
    RolloutGate {
        gate: gate_name(reading.gate).to_owned(),
        value: reading.value,
        threshold: reading.threshold,
        tripped: reading.tripped,
    }
}

impl From<RolloutReport> for Rollout {
    fn from(report: RolloutReport) -> Rollout {
        let row = report.rollout;
        Rollout {
            id: row.id,
            version: row.version,
            hardware_revision: row.hardware_revision,
            state: row.state.as_str().to_owned(),
            stage: row.stage,
            paused_reason: row.paused_reason,
            soak_ms: row.soak_ms,
            soak_confirmed_percent: row.soak_confirmed_percent,
            created_at: row.created_at,
            stages: report
                .stages
                .into_iter()
                .map(|s| RolloutStage {
                    percent: s.percent,
                    started_at: s.started_at,
                    new_members: s.new_members,
                    progress: s.progress,
                })
                .collect(),
            totals: report.totals,
            gates: report.gates.iter().map(gate).collect(),
        }
    }
}

/// A new rollout; empty or absent fields take their defaults.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct StartRolloutRequest {
    /// A published version.
    pub version: String,
    /// Percentages, rising, ending at 100 (default `1,5,25,50,100`).
    #[serde(default)]
    pub stages: String,
    /// Minimum time per stage such as `24h`, `90m`, `2d` (default `24h`).
    #[serde(default)]
    pub soak: String,
    /// Share of a stage's mailboxes confirmed before the next stage, percent (default 80).
    #[serde(default)]
    pub confirmed_percent: Option<u8>,
    pub reason: String,
}

#[utoipa::path(get, path = "/api/admin/v1/rollouts", tag = "admin",
    responses((status = 200, description = "Rollouts, newest first (at most 50)", body = Vec<Rollout>),
        (status = 401, description = "No session", body = crate::device_api::docs::ErrorDoc),
        (status = 404, description = "Not staff", body = crate::device_api::docs::ErrorDoc),
    ), security(("session" = [])))]
pub(crate) async fn list(
    State(state): State<AppState>,
    ApiStaff(staff): ApiStaff,
) -> Result<Json<Vec<Rollout>>, ApiError> {
    let reports = rollouts::recent(&state, &staff.actor(), LISTED).await?;
    Ok(Json(reports.into_iter().map(Rollout::from).collect()))
}

#[utoipa::path(post, path = "/api/admin/v1/rollouts", tag = "admin",
    request_body = StartRolloutRequest,
    responses((status = 201, description = "Started at its first stage", body = Rollout),
        (status = 400, description = "Unknown version, bad stages, soak or share, or no reason", body = crate::device_api::docs::ErrorDoc),
        (status = 401, description = "No session", body = crate::device_api::docs::ErrorDoc),
        (status = 403, description = "Support (only admin starts a rollout), or a missing X-CSRF-Token", body = crate::device_api::docs::ErrorDoc),
        (status = 404, description = "Not staff", body = crate::device_api::docs::ErrorDoc),
        (status = 409, description = "Another rollout is running or paused", body = crate::device_api::docs::ErrorDoc),
    ), security(("session" = [], "csrf" = [])))]
pub(crate) async fn start(
    State(state): State<AppState>,
    ApiStaff(staff): ApiStaff,
    Json(body): Json<StartRolloutRequest>,
) -> Result<(StatusCode, Json<Rollout>), ApiError> {
    let confirmed = body
        .confirmed_percent
        .map(|p| p.to_string())
        .unwrap_or_default();
    let input = StartRollout::parse(&body.version, &body.stages, &body.soak, &confirmed)?;
    let actor = staff.actor();
    let row = rollouts::start(&state, &actor, input, &body.reason).await?;
    let report = rollouts::report(&state, &actor, &RolloutId::new(row.id)).await?;
    Ok((StatusCode::CREATED, Json(report.into())))
}

#[utoipa::path(get, path = "/api/admin/v1/rollouts/{rollout_id}", tag = "admin",
    params(("rollout_id" = String, Path, description = "Rollout id")),
    responses((status = 200, description = "The rollout, its stages, progress and gates", body = Rollout),
        (status = 401, description = "No session", body = crate::device_api::docs::ErrorDoc),
        (status = 404, description = "No such rollout, or not staff", body = crate::device_api::docs::ErrorDoc),
    ), security(("session" = [])))]
pub(crate) async fn get(
    State(state): State<AppState>,
    ApiStaff(staff): ApiStaff,
    Path(rollout_id): Path<String>,
) -> Result<Json<Rollout>, ApiError> {
    let report = rollouts::report(&state, &staff.actor(), &RolloutId::new(rollout_id)).await?;
    Ok(Json(report.into()))
}

#[utoipa::path(post, path = "/api/admin/v1/rollouts/{rollout_id}/{command}", tag = "admin",
    params(("rollout_id" = String, Path, description = "Rollout id"),
        ("command" = String, Path, description = "`pause`, `resume`, `advance` (past the last stage: finish) or `abort`")),
    request_body = ReasonRequest,
    responses((status = 200, description = "Done; the rollout as it is now", body = Rollout),
        (status = 400, description = "No reason", body = crate::device_api::docs::ErrorDoc),
        (status = 401, description = "No session", body = crate::device_api::docs::ErrorDoc),
        (status = 403, description = "Support resuming or advancing (admin only), or a missing X-CSRF-Token", body = crate::device_api::docs::ErrorDoc),
        (status = 404, description = "No such rollout or command, or not staff", body = crate::device_api::docs::ErrorDoc),
        (status = 409, description = "The command does not apply to the rollout's state", body = crate::device_api::docs::ErrorDoc),
    ), security(("session" = [], "csrf" = [])))]
pub(crate) async fn act(
    State(state): State<AppState>,
    ApiStaff(staff): ApiStaff,
    Path((rollout_id, command)): Path<(String, String)>,
    Json(body): Json<ReasonRequest>,
) -> Result<Json<Rollout>, ApiError> {
    let command = parse_command(&command)
        .ok_or_else(|| ApiError::NotFound(format!("no rollout action {command:?}")))?;
    let id = RolloutId::new(rollout_id);
    let actor = staff.actor();
    rollouts::command(&state, &actor, &id, command, &body.reason).await?;
    Ok(Json(rollouts::report(&state, &actor, &id).await?.into()))
}
