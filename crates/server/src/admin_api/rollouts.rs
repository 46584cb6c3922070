//! `/api/admin/v1/rollouts`: the JSON twins of `/admin/firmware` — list and read rollouts with
//! their stages, progress and gates, start one (for the fleet, listed serials or a tag, with a
//! soak per stage), pause, resume, advance or abort it; and `/api/admin/v1/firmware/images`,
//! the signed image upload. Each is the same `services::rollouts` call as the page's.

use axum::Json;
use axum::extract::{Multipart, Path, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use smartbox_domain::RolloutId;
use smartbox_domain::rollout::{Gate, GateReading};

use super::ReasonRequest;
use crate::admin::ApiStaff;
use crate::admin::firmware::parse_command;
use crate::error::ApiError;
use crate::services::rollouts::{self, ProgressCounts, RolloutReport, RolloutTarget, StartRollout};
use crate::state::AppState;

/// Rollouts listed, newest first.
const LISTED: i64 = 50;

/// One stage of a rollout.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct RolloutStage {
    pub percent: u8,
    /// Epoch milliseconds; absent until the stage starts.
    pub started_at: Option<i64>,
    /// Its minimum time before the next stage, ms.
    pub soak_ms: i64,
    /// Its share of mailboxes confirmed before the next stage, percent.
    pub soak_confirmed_percent: u8,
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
    /// The soak of the stages started without their own (each stage's is in `stages`).
    pub soak_ms: i64,
    pub soak_confirmed_percent: i64,
    /// `fleet` (every mailbox of its hardware revision), `serials` or `tag`.
    pub target: String,
    /// The tag it is aimed at, when it is.
    pub target_tag: Option<String>,
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
            target: match (&row.target_tag, report.targeted) {
                (Some(_), _) => "tag",
                (None, true) => "serials",
                (None, false) => "fleet",
            }
            .to_owned(),
            target_tag: row.target_tag,
            created_at: row.created_at,
            stages: report
                .stages
                .into_iter()
                .map(|s| RolloutStage {
                    percent: s.percent,
                    started_at: s.started_at,
                    soak_ms: s.soak.min_ms,
                    soak_confirmed_percent: s.soak.min_confirmed_percent,
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
    /// Percentages, rising, ending at 100 (default `1,5,25,50,100`); a stage may carry its own
    /// soak as `PERCENT:TIME[:CONFIRMED%]`, e.g. `1:2h,5:24h:90%,25,50,100`.
    #[serde(default)]
    pub stages: String,
    /// Minimum time per stage such as `24h`, `90m`, `2d` (default `24h`).
    #[serde(default)]
    pub soak: String,
    /// Share of a stage's mailboxes confirmed before the next stage, percent (default 80).
    #[serde(default)]
    pub confirmed_percent: Option<u8>,
    /// Only these mailboxes (each must exist); the stages' percentages are taken among them.
    #[serde(default)]
    pub serials: Vec<String>,
    /// Only the mailboxes with this tag when the rollout starts (not with `serials`).
    #[serde(default)]
    pub tag: Option<String>,
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
        (status = 400, description = "Unknown version, bad stages, soak or share, an unknown or malformed serial or tag, both serials and a tag, or no reason", body = crate::device_api::docs::ErrorDoc),
        (status = 401, description = "No session", body = crate::device_api::docs::ErrorDoc),
        (status = 403, description = "Support (only admin starts a rollout), or a missing X-CSRF-Token", body = crate::device_api::docs::ErrorDoc),
        (status = 404, description = "Not staff", body = crate::device_api::docs::ErrorDoc),
        (status = 409, description = "Another rollout for the image's hardware revision is running or paused", body = crate::device_api::docs::ErrorDoc),
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
    let target = RolloutTarget::parse(
        &body.serials.join(","),
        body.tag.as_deref().unwrap_or_default(),
    )?;
    let actor = staff.actor();
    let row = rollouts::start_targeted(&state, &actor, input, &target, &body.reason).await?;
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

/// A published image.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct FirmwareImage {
    pub version: String,
    pub hardware_revision: String,
    pub size_bytes: i64,
    /// Lowercase hex.
    pub sha256: String,
    /// Offered only through rollouts (always, for an upload).
    pub staged: bool,
    /// Epoch milliseconds.
    pub created_at: i64,
}

/// The upload's multipart fields (the page's form, without `csrf`: the API takes the
/// `X-CSRF-Token` header).
#[allow(dead_code)]
#[derive(utoipa::ToSchema)]
pub struct ImageUpload {
    /// The image, at most 4 MiB.
    #[schema(format = Binary, value_type = String)]
    image: Vec<u8>,
    /// e.g. `2.1.0`: 1-32 of A-Z a-z 0-9 `.` `-` `_` `+`.
    version: String,
    /// The board it is built for (default `esp32c6`).
    hardware_revision: Option<String>,
    /// 128 hex characters from `smartbox firmware sign`.
    signature: String,
    reason: String,
}

#[utoipa::path(post, path = "/api/admin/v1/firmware/images", tag = "admin",
    request_body(content = ImageUpload, content_type = "multipart/form-data"),
    responses((status = 201, description = "Stored for rollouts only, after its signature checked", body = FirmwareImage),
        (status = 400, description = "No image, a bad version or revision, or a signature that is not the release key's of this image", body = crate::device_api::docs::ErrorDoc),
        (status = 401, description = "No session", body = crate::device_api::docs::ErrorDoc),
        (status = 403, description = "Support (only admin uploads), or a missing X-CSRF-Token", body = crate::device_api::docs::ErrorDoc),
        (status = 404, description = "Not staff", body = crate::device_api::docs::ErrorDoc),
        (status = 409, description = "The version is published already, or SMARTBOX_FIRMWARE_PUBLIC_KEY is not set", body = crate::device_api::docs::ErrorDoc),
        (status = 413, description = "Over 4 MiB", body = crate::device_api::docs::ErrorDoc),
    ), security(("session" = [], "csrf" = [])))]
pub(crate) async fn upload(
    State(state): State<AppState>,
    ApiStaff(staff): ApiStaff,
    form: Multipart,
) -> Result<(StatusCode, Json<FirmwareImage>), ApiError> {
    let (upload, _) = crate::admin::firmware::read_upload(form).await.map_err(
        |(status, message)| match status {
            StatusCode::PAYLOAD_TOO_LARGE => ApiError::PayloadTooLarge(message),
            _ => ApiError::bad_request("invalid_upload", message),
        },
    )?;
    let row = rollouts::upload_image(&state, &staff.actor(), upload).await?;
    Ok((
        StatusCode::CREATED,
        Json(FirmwareImage {
            version: row.version,
            hardware_revision: row.hardware_revision,
            size_bytes: row.size_bytes,
            sha256: row.sha256,
            staged: row.staged,
            created_at: row.created_at,
        }),
    ))
}
