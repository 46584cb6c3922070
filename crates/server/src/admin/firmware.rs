//! `/admin/firmware`: the published images, starting a staged rollout, and each rollout's
//! stages with their mailboxes' progress as bars, the health gates beside their thresholds, and
//! pause / resume / advance / abort. Every action is one call to `services::rollouts`.

use axum::Form;
use axum::extract::{Multipart, Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use minijinja::{Value, context};
use serde::Deserialize;
use smartbox_domain::RolloutId;
use smartbox_domain::rollout::{Gate, GateReading, RolloutCommand};

use super::devices::ReasonForm;
use super::{Staff, templates};
use crate::services::rollouts::{
    self, ProgressCounts, RolloutReport, RolloutTarget, StartRollout, Upload, words,
};
use crate::state::AppState;
use crate::web::PageError;
use crate::web::format::date_time;

/// Rollouts shown, newest first.
const ROLLOUTS_SHOWN: i64 = 10;
/// Images offered in the start form.
const IMAGES_SHOWN: i64 = 20;
/// Largest upload: the board's OTA slot ([`rollouts::MAX_IMAGE_BYTES`]), plus room for the
/// form's other fields.
pub const MAX_UPLOAD_BYTES: usize = rollouts::MAX_IMAGE_BYTES + 64 * 1024;

#[derive(Debug, Deserialize, Default)]
pub struct FirmwareQuery {
    #[serde(default)]
    done: String,
}

/// `GET /admin/firmware`.
pub async fn page(
    State(state): State<AppState>,
    staff: Staff,
    Query(q): Query<FirmwareQuery>,
) -> Result<Response, PageError> {
    let reports = rollouts::recent(&state, &staff.actor(), ROLLOUTS_SHOWN).await?;
    let images: Vec<Value> = state
        .db
        .recent_firmware(IMAGES_SHOWN)
        .await?
        .iter()
        .map(|image| {
            context! {
                version => image.version, board => image.hardware_revision, size => format!("{} KB", (image.size_bytes + 999) / 1000),
                published => date_time(image.created_at, "UTC"),
                audience => if image.staged { "through rollouts only" } else { "every mailbox" },
            }
        })
        .collect();
    let open: Vec<&str> = reports
        .iter()
        .filter(|r| r.rollout.state.is_open())
        .map(|r| r.rollout.hardware_revision.as_str())
        .collect();
    let open = open.join(", ");
    let notice = match q.done.as_str() {
        "upload" => Some("Image uploaded and its signature checked: start a rollout of it below."),
        "start" => {
            Some("Rollout started: its first stage is offered the image at their next check-in.")
        }
        "pause" => Some("Rollout paused: nobody new is offered the image."),
        "resume" => Some("Rollout resumed."),
        "advance" => Some("Moved to the next stage."),
        "abort" => Some("Rollout aborted: nobody is offered the image any more."),
        _ => None,
    };
    templates::page(
        &staff,
        StatusCode::OK,
        "admin/firmware.html",
        context! {
            title => "Firmware", nav => "firmware", notice => notice, images => images,
            open => open, rollouts => reports.iter().map(rollout_view).collect::<Vec<_>>(),
        },
    )
}

/// What a rollout looks like on the page.
fn rollout_view(report: &RolloutReport) -> Value {
    let row = &report.rollout;
    let stage_count = report.stages.len();
    let stages: Vec<Value> = report
        .stages
        .iter()
        .map(|stage| {
            context! {
                label => format!("Stage {} · {} %", stage.position + 1, stage.percent),
                soak => format!(
                    "soaks {} with {} % confirmed",
                    smartbox_domain::rollout::format_duration_ms(stage.soak.min_ms),
                    stage.soak.min_confirmed_percent
                ),
                members => stage.new_members,
                current => stage.position as i64 == row.stage && row.state.is_open(),
                started => stage.started_at.map(|at| date_time(at, "UTC")),
                bars => bars(&stage.progress, stage.new_members),
            }
        })
        .collect();
    let commands: Vec<Value> = report
        .commands()
        .into_iter()
        .map(|command| {
            let (label, hint, danger) =
                command_words(command, row.stage as usize + 1 >= stage_count);
            context! { id => command.to_string(), label => label, hint => hint, danger => danger }
        })
        .collect();
    context! {
        id => row.id, version => row.version, state => words::state(row.state),
        stage => format!("stage {} of {}", row.stage + 1, stage_count),
        started => date_time(row.created_at, "UTC"), paused_reason => row.paused_reason,
        board => row.hardware_revision, target => target_words(report),
        stages => stages, gates => report.gates.iter().map(gate_view).collect::<Vec<_>>(),
        commands => commands,
    }
}

/// Which mailboxes a rollout is aimed at, in words.
fn target_words(report: &RolloutReport) -> String {
    let row = &report.rollout;
    let listed: u64 = report.stages.iter().map(|s| s.new_members).sum();
    match &row.target_tag {
        Some(tag) => format!("mailboxes tagged {tag} at its start ({listed} in service)"),
        None if report.targeted => format!("{listed} listed mailboxes in service"),
        None => format!("every {} mailbox in service", row.hardware_revision),
    }
}

/// One bar per step, each out of the stage's mailboxes.
fn bars(progress: &ProgressCounts, of: u64) -> Vec<Value> {
    [
        ("Offered, not started", progress.offered),
        ("Downloading", progress.downloading),
        ("Downloaded", progress.downloaded),
        ("Installed", progress.installed),
        ("Confirmed", progress.confirmed),
        ("Failed", progress.failed),
        ("Rolled back", progress.rolled_back),
    ]
    .into_iter()
    .map(|(label, count)| context! { label => label, count => count, max => of.max(1) })
    .collect()
}

fn gate_view(reading: &GateReading) -> Value {
    let show = |value: i64| match reading.gate {
        Gate::FailureRate | Gate::SilentShare => format!("{:.1} %", value as f64 / 100.0),
        Gate::BatteryDrain => format!("{:.2} points a day", value as f64 / 100.0),
    };
    context! {
        label => reading.gate.label(),
        value => reading.value.map_or_else(|| "not measured yet".to_owned(), show),
        threshold => format!("at most {}", show(reading.threshold)),
        tripped => reading.tripped,
    }
}

fn command_words(command: RolloutCommand, last_stage: bool) -> (&'static str, &'static str, bool) {
    match command {
        RolloutCommand::Pause => (
            "Pause",
            "Nobody new is offered the image until it resumes.",
            false,
        ),
        RolloutCommand::Resume => (
            "Resume",
            "Offer the image to the current stage again.",
            false,
        ),
        RolloutCommand::Advance if last_stage => (
            "Finish",
            "End the rollout now: the image becomes every mailbox's.",
            false,
        ),
        RolloutCommand::Advance => (
            "Advance",
            "Start the next stage now, without waiting for its soak.",
            false,
        ),
        RolloutCommand::Abort => (
            "Abort",
            "Stop for good: nobody is offered this image any more.",
            true,
        ),
    }
}

/// The start form.
#[derive(Debug, Deserialize)]
pub struct StartForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    version: String,
    #[serde(default)]
    stages: String,
    #[serde(default)]
    soak: String,
    #[serde(default)]
    confirmed: String,
    /// Serials to limit it to; empty: the whole fleet.
    #[serde(default)]
    serials: String,
    /// A tag to limit it to (the mailboxes tagged so when it starts).
    #[serde(default)]
    tag: String,
    #[serde(default)]
    reason: String,
}

/// `POST /admin/firmware/rollouts`.
pub async fn start(
    State(state): State<AppState>,
    staff: Staff,
    Form(form): Form<StartForm>,
) -> Result<Response, PageError> {
    if !staff.csrf_matches(&form.csrf) {
        return Err(PageError::bad_csrf());
    }
    let input = StartRollout::parse(&form.version, &form.stages, &form.soak, &form.confirmed)?;
    let target = RolloutTarget::parse(&form.serials, &form.tag)?;
    rollouts::start_targeted(&state, &staff.actor(), input, &target, &form.reason).await?;
    Ok(Redirect::to("/admin/firmware?done=start").into_response())
}

/// `POST /admin/firmware/images`: a signed image (multipart: `csrf`, `version`,
/// `hardware_revision`, `signature`, `reason`, `image`), checked and stored as `smartbox
/// firmware publish --staged` stores it.
pub async fn upload(
    State(state): State<AppState>,
    staff: Staff,
    form: Multipart,
) -> Result<Response, PageError> {
    let (upload, csrf) = read_upload(form)
        .await
        .map_err(|(status, message)| PageError::Status(status, message))?;
    if !staff.csrf_matches(&csrf) {
        return Err(PageError::bad_csrf());
    }
    rollouts::upload_image(&state, &staff.actor(), upload).await?;
    Ok(Redirect::to("/admin/firmware?done=upload").into_response())
}

/// Reads an image upload's multipart fields (the page's and the admin API's): the upload, and
/// the `csrf` field when there is one. Unknown fields are ignored. A body past the route's
/// limit is a 413, anything else unreadable a 400, each with a sentence.
pub async fn read_upload(mut form: Multipart) -> Result<(Upload, String), (StatusCode, String)> {
    let mut upload = Upload::default();
    let mut csrf = String::new();
    let failed = |what: String, err: axum::extract::multipart::MultipartError| {
        (
            err.status(),
            format!(
                "{what} could not be read: {} (images are at most {} MiB).",
                err.body_text(),
                rollouts::MAX_IMAGE_BYTES / (1024 * 1024)
            ),
        )
    };
    while let Some(field) = form
        .next_field()
        .await
        .map_err(|err| failed("The upload".to_owned(), err))?
    {
        let name = field.name().unwrap_or_default().to_owned();
        if name == "image" {
            let bytes = field
                .bytes()
                .await
                .map_err(|err| failed("The image".to_owned(), err))?;
            upload.image = bytes.to_vec();
            continue;
        }
        let text = field
            .text()
            .await
            .map_err(|err| failed(format!("The field {name}"), err))?;
        match name.as_str() {
            "csrf" => csrf = text,
            "version" => upload.version = text,
            "hardware_revision" => upload.hardware_revision = text,
            "signature" => upload.signature = text,
            "reason" => upload.reason = text,
            _ => {}
        }
    }
    Ok((upload, csrf))
}

/// `POST /admin/firmware/rollouts/{id}/{command}` with the staff member's reason.
pub async fn act(
    State(state): State<AppState>,
    staff: Staff,
    Path((id, command)): Path<(String, String)>,
    Form(form): Form<ReasonForm>,
) -> Result<Response, PageError> {
    if !staff.csrf_matches(&form.csrf) {
        return Err(PageError::bad_csrf());
    }
    let command = parse_command(&command).ok_or_else(|| PageError::not_found("This action"))?;
    rollouts::command(
        &state,
        &staff.actor(),
        &RolloutId::new(id),
        command,
        &form.reason,
    )
    .await?;
    Ok(Redirect::to(&format!("/admin/firmware?done={command}")).into_response())
}

/// A command by its name in a path.
pub fn parse_command(name: &str) -> Option<RolloutCommand> {
    match name {
        "pause" => Some(RolloutCommand::Pause),
        "resume" => Some(RolloutCommand::Resume),
        "advance" => Some(RolloutCommand::Advance),
        "abort" => Some(RolloutCommand::Abort),
        _ => None,
    }
}
