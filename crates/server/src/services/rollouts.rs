//! Staged firmware rollouts (issue 21): start one, pause, resume, advance or abort it, pin a
//! mailbox to a version, read where a rollout stands, and the gate job's step that advances a
//! soaked stage or pauses a rollout whose gate tripped (and tells staff by email, through a
//! durable job keyed by the rollout and stage).
//!
//! Starting, resuming and advancing reach more of the fleet, so they are an admin's; pausing,
//! aborting and pins are support's too. Each action writes its change and one audit entry in
//! one change set and makes the device API forget its cached rollout, so the next heartbeat
//! sees it. The rules (membership, transitions, gates, soak) are `smartbox_domain::rollout`.

use serde::Serialize;
use smartbox_domain::RolloutId;
use smartbox_domain::rollout::{
    self, DeviceProgress, GateReading, Health, Position, RolloutCommand, RolloutState, Soak,
    StagePlan, StageView, Thresholds, Verdict,
};
use smartbox_store::changes::{Applied, AuditRecord, Change, Changes, QueuedJob, StaleGuard};
use smartbox_store::{
    HealthFigures, NewRollout, NewStage, PinRow, RolloutCandidate, RolloutRow, RolloutStageRow,
};

use super::staff_devices::{Reason, by_serial, require_staff};
use super::{Actor, ServiceError, StaffRole};
use crate::state::AppState;

/// The board of every mailbox whose firmware does not report its revision.
pub const BOARD_REVISION: &str = smartbox_protocol::DEFAULT_HARDWARE_REVISION;

/// The job that tells staff a gate paused a rollout.
pub const ROLLOUT_ALERT: &str = "rollout_alert";

/// What a new rollout is made of.
#[derive(Debug, Clone)]
pub struct StartRollout {
    pub version: String,
    /// The stages, each with its own soak where one was given.
    pub plan: StagePlan,
    /// The soak of the stages without their own.
    pub soak: Soak,
}

impl StartRollout {
    /// Reads what staff typed (page, API, CLI alike): stages such as `1,5,25,50,100` (each may
    /// carry its own soak, `1:2h,5:24h:90%,25,50,100`), a soak time such as `24h` and a share
    /// of confirmed mailboxes in percent for the stages without their own; each empty one takes
    /// its default.
    pub fn parse(
        version: &str,
        stages: &str,
        soak: &str,
        confirmed_percent: &str,
    ) -> Result<StartRollout, ServiceError> {
        let invalid = |code: &'static str, message: String| ServiceError::Invalid { code, message };
        let version = version.trim();
        if version.is_empty() {
            return Err(invalid(
                "invalid_version",
                "Say which published version to roll out.".into(),
            ));
        }
        let plan = match stages.trim() {
            "" => StagePlan::standard(),
            text => StagePlan::parse(text)
                .map_err(|err| invalid("invalid_stages", format!("Stages: {err}.")))?,
        };
        let min_ms = match soak.trim() {
            "" => Soak::STANDARD.min_ms,
            text => rollout::parse_duration_ms(text).ok_or_else(|| {
                invalid(
                    "invalid_soak",
                    format!("Soak {text:?}: give a time such as 24h, 90m or 2d (at most 30 days)."),
                )
            })?,
        };
        let min_confirmed_percent = match confirmed_percent.trim().trim_end_matches('%').trim() {
            "" => Soak::STANDARD.min_confirmed_percent,
            text => text
                .parse::<u8>()
                .ok()
                .filter(|p| *p <= 100)
                .ok_or_else(|| {
                    invalid(
                        "invalid_confirmed_percent",
                        format!("Confirmed share {text:?}: give a whole percentage from 0 to 100."),
                    )
                })?,
        };
        Ok(StartRollout {
            version: version.to_owned(),
            plan,
            soak: Soak {
                min_ms,
                min_confirmed_percent,
            },
        })
    }

    /// Each stage's soak: its own, else the rollout's.
    pub fn stage_soaks(&self) -> Vec<Soak> {
        self.plan.resolve(self.soak)
    }
}

/// Which mailboxes a rollout is aimed at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RolloutTarget {
    /// Every mailbox in service of the image's hardware revision.
    Fleet,
    /// These serials (each must exist).
    Serials(Vec<String>),
    /// The mailboxes that have this tag when the rollout starts: the list is fixed then, so a
    /// mailbox tagged later never changes a stage's mailboxes mid-stage.
    Tag(String),
}

impl RolloutTarget {
    /// Reads a serial list and a tag as staff type them; at most one of the two.
    pub fn parse(serials: &str, tag: &str) -> Result<RolloutTarget, ServiceError> {
        let serials = parse_serials(serials)?;
        let tag = tag.trim();
        match (serials.is_empty(), tag.is_empty()) {
            (true, true) => Ok(RolloutTarget::Fleet),
            (false, true) => Ok(RolloutTarget::Serials(serials)),
            (true, false) => Ok(RolloutTarget::Tag(
                super::device_tags::Tag::parse(tag)?.into_string(),
            )),
            (false, false) => Err(ServiceError::Invalid {
                code: "invalid_target",
                message: "Aim the rollout at a list of serials or at a tag, not both.".into(),
            }),
        }
    }
}

/// How many mailboxes are at each step, in one stage or the whole rollout.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct ProgressCounts {
    /// Offered the image, nothing reported yet.
    pub offered: u64,
    pub downloading: u64,
    /// Downloaded and checked, restarting into it.
    pub downloaded: u64,
    pub installed: u64,
    pub confirmed: u64,
    pub failed: u64,
    pub rolled_back: u64,
}

impl ProgressCounts {
    fn add(&mut self, progress: DeviceProgress, devices: u64) {
        let slot = match progress {
            DeviceProgress::Offered => &mut self.offered,
            DeviceProgress::Downloading => &mut self.downloading,
            DeviceProgress::Downloaded => &mut self.downloaded,
            DeviceProgress::Installed => &mut self.installed,
            DeviceProgress::Confirmed => &mut self.confirmed,
            DeviceProgress::Failed => &mut self.failed,
            DeviceProgress::RolledBack => &mut self.rolled_back,
        };
        *slot += devices;
    }

    /// Every mailbox offered the image.
    pub fn total(&self) -> u64 {
        self.offered
            + self.downloading
            + self.downloaded
            + self.installed
            + self.confirmed
            + self.failed
            + self.rolled_back
    }
}

/// One stage as staff see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StageReport {
    pub position: usize,
    pub percent: u8,
    pub started_at: Option<i64>,
    /// What it needs before the next stage starts.
    pub soak: Soak,
    /// Mailboxes this stage adds to the ones before it.
    pub new_members: u64,
    /// Their progress.
    pub progress: ProgressCounts,
}

/// Where a rollout stands.
#[derive(Debug, Clone)]
pub struct RolloutReport {
    pub rollout: RolloutRow,
    pub stages: Vec<StageReport>,
    pub totals: ProgressCounts,
    pub health: Health,
    pub gates: Vec<GateReading>,
    pub thresholds: Thresholds,
    /// Whether it is aimed at listed (or tagged) mailboxes rather than the whole fleet.
    pub targeted: bool,
}

impl RolloutReport {
    pub fn id(&self) -> RolloutId {
        RolloutId::new(self.rollout.id.as_str())
    }

    /// The commands that apply now.
    pub fn commands(&self) -> Vec<RolloutCommand> {
        let position = position(&self.rollout);
        [
            RolloutCommand::Pause,
            RolloutCommand::Resume,
            RolloutCommand::Advance,
            RolloutCommand::Abort,
        ]
        .into_iter()
        .filter(|&c| position.apply(c, self.stages.len()).is_ok())
        .collect()
    }
}

fn position(row: &RolloutRow) -> Position {
    Position {
        state: row.state,
        stage: usize::try_from(row.stage).unwrap_or(0),
    }
}

fn stages_of(rows: &[RolloutStageRow]) -> Vec<u8> {
    rows.iter()
        .map(|s| u8::try_from(s.percent).unwrap_or(100))
        .collect()
}

fn audit(actor: &Actor, id: &str, action: &str, detail: serde_json::Value, at: i64) -> Change {
    Change::Audit(AuditRecord {
        at,
        actor: actor.audit_name(),
        entity_type: "firmware_rollout".to_owned(),
        entity_id: id.to_owned(),
        action: action.to_owned(),
        detail: detail.to_string(),
    })
}

/// An image uploaded by staff, signed on the release machine.
#[derive(Debug, Clone, Default)]
pub struct Upload {
    pub image: Vec<u8>,
    pub version: String,
    /// The board it is built for; empty: the ESP32-C6 board.
    pub hardware_revision: String,
    /// 128 hex characters from `smartbox firmware sign`.
    pub signature: String,
    pub reason: String,
}

/// Largest image an upload takes: the board's OTA slot.
pub const MAX_IMAGE_BYTES: usize = 4 * 1024 * 1024;

/// Publishes an uploaded image signed on the release machine, for rollouts only (staged), after
/// checking its signature against the configured public key; audited like a rollout action.
pub async fn upload_image(
    state: &AppState,
    actor: &Actor,
    upload: Upload,
) -> Result<smartbox_store::FirmwareImageRow, ServiceError> {
    let Upload {
        image,
        version,
        hardware_revision,
        signature: signature_hex,
        reason,
    } = upload;
    let (version, signature_hex, reason) =
        (version.as_str(), signature_hex.as_str(), reason.as_str());
    if image.is_empty() {
        return Err(ServiceError::Invalid {
            code: "invalid_image",
            message: "Choose the image file to upload.".into(),
        });
    }
    if image.len() > MAX_IMAGE_BYTES {
        return Err(ServiceError::Invalid {
            code: "invalid_image",
            message: format!(
                "The image is {} bytes; the OTA slot holds at most {MAX_IMAGE_BYTES} (4 MiB).",
                image.len()
            ),
        });
    }
    use crate::firmware_release::{self, ReleaseError};
    require_staff(actor, StaffRole::Admin)?;
    let reason = Reason::parse(reason)?;
    let version = version.trim();
    let now = state.clock.now_ms();
    let hardware_revision = match hardware_revision.trim() {
        "" => BOARD_REVISION,
        given => given,
    };
    let published = match &state.config.firmware_public_key {
        None => Err(ReleaseError::NoPublicKey),
        Some(public) => {
            firmware_release::publish_signed_staged(
                &state.db,
                &state.blobs,
                image,
                version,
                hardware_revision,
                signature_hex,
                public,
                now,
            )
            .await
        }
    };
    let row = published.map_err(|err| {
        let message = err.to_string();
        match err {
            ReleaseError::BadSignature => ServiceError::Invalid {
                code: "bad_signature",
                message,
            },
            ReleaseError::BadVersion(_) => ServiceError::Invalid {
                code: "invalid_version",
                message,
            },
            ReleaseError::BadRevision(_) => ServiceError::Invalid {
                code: "invalid_hardware_revision",
                message,
            },
            ReleaseError::BadImage => ServiceError::Invalid {
                code: "invalid_image",
                message,
            },
            ReleaseError::AlreadyPublished(_) | ReleaseError::NoPublicKey => {
                ServiceError::Conflict(message)
            }
            ReleaseError::Store(err) => ServiceError::Store(err),
            other => ServiceError::Internal(other.into()),
        }
    })?;
    let mut changes = Changes::new();
    changes.push(Change::Audit(AuditRecord {
        at: now,
        actor: actor.audit_name(),
        entity_type: "firmware_image".to_owned(),
        entity_id: row.version.clone(),
        action: "upload".to_owned(),
        detail: serde_json::json!({
            "cause": reason.as_str(), "size_bytes": row.size_bytes, "sha256": row.sha256,
            "hardware_revision": row.hardware_revision,
        })
        .to_string(),
    }));
    state.db.apply_changes(&changes).await?;
    state.device_api.firmware.forget();
    Ok(row)
}

/// Starts a rollout of a published image at its first stage, for every mailbox in service of
/// the image's hardware revision. Refused while another rollout of that revision is open.
pub async fn start(
    state: &AppState,
    actor: &Actor,
    input: StartRollout,
    reason: &str,
) -> Result<RolloutRow, ServiceError> {
    start_targeted(state, actor, input, &RolloutTarget::Fleet, reason).await
}

/// Longest explicit target list a rollout takes.
pub const MAX_TARGETS: usize = 10_000;

/// Reads a list of serials as staff type it (separated by commas, spaces or new lines),
/// without repeats; empty: the whole fleet.
pub fn parse_serials(text: &str) -> Result<Vec<String>, ServiceError> {
    let mut serials: Vec<String> = Vec::new();
    for serial in text.split(|c: char| c == ',' || c.is_whitespace()) {
        if serial.is_empty() || serials.iter().any(|s| s == serial) {
            continue;
        }
        if serial.len() > 64
            || !serial
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-')
        {
            return Err(ServiceError::Invalid {
                code: "invalid_serial",
                message: format!("{serial:?} is not a serial (letters, digits and '-')."),
            });
        }
        serials.push(serial.to_owned());
    }
    if serials.len() > MAX_TARGETS {
        return Err(ServiceError::Invalid {
            code: "invalid_serial",
            message: format!("At most {MAX_TARGETS} serials per rollout."),
        });
    }
    Ok(serials)
}

/// [`start`] aimed at `target`: a list of serials (every one must exist) or the mailboxes
/// tagged so at this moment; the stages' percentages are taken among them, and nobody else
/// is offered the image.
pub async fn start_targeted(
    state: &AppState,
    actor: &Actor,
    input: StartRollout,
    target: &RolloutTarget,
    reason: &str,
) -> Result<RolloutRow, ServiceError> {
    require_staff(actor, StaffRole::Admin)?;
    let reason = Reason::parse(reason)?;
    let (serials, target_tag) = match target {
        RolloutTarget::Fleet => (Vec::new(), None),
        RolloutTarget::Serials(serials) => {
            for serial in serials {
                if state.db.device_by_serial(serial).await?.is_none() {
                    return Err(ServiceError::Invalid {
                        code: "unknown_serial",
                        message: format!("No mailbox has the serial {serial}."),
                    });
                }
            }
            (serials.clone(), None)
        }
        RolloutTarget::Tag(tag) => {
            let serials = state.db.serials_tagged(tag).await?;
            if serials.is_empty() {
                return Err(ServiceError::Invalid {
                    code: "unknown_tag",
                    message: format!("No mailbox has the tag {tag}."),
                });
            }
            (serials, Some(tag.clone()))
        }
    };
    let image = state
        .db
        .firmware_by_version(&input.version)
        .await?
        .ok_or_else(|| ServiceError::Invalid {
            code: "unknown_version",
            message: format!(
                "No firmware {} is published; upload or publish it first.",
                input.version
            ),
        })?;
    let now = state.clock.now_ms();
    let id = uuid::Uuid::now_v7().to_string();
    let stages = input
        .plan
        .stages
        .percents()
        .iter()
        .zip(input.stage_soaks())
        .map(|(&percent, soak)| NewStage {
            percent: i64::from(percent),
            soak_ms: soak.min_ms,
            soak_confirmed_percent: i64::from(soak.min_confirmed_percent),
        })
        .collect();
    let mut changes = Changes::new();
    changes.push(Change::InsertRollout(NewRollout {
        id: id.clone(),
        version: image.version.clone(),
        hardware_revision: image.hardware_revision.clone(),
        stages,
        soak_ms: input.soak.min_ms,
        soak_confirmed_percent: i64::from(input.soak.min_confirmed_percent),
        created_by: actor.audit_name(),
        created_at: now,
        serials: serials.clone(),
        target_tag: target_tag.clone(),
    }));
    changes.push(audit(
        actor,
        &id,
        "start",
        serde_json::json!({
            "cause": reason.as_str(),
            "version": image.version,
            "hardware_revision": image.hardware_revision,
            "stages": input.plan.to_string(),
            "soak_ms": input.soak.min_ms,
            "soak_confirmed_percent": input.soak.min_confirmed_percent,
            "targets": serials.len(),
            "tag": target_tag,
        }),
        now,
    ));
    match state.db.apply_changes(&changes).await? {
        Applied::Done => {}
        Applied::Stale(_) => {
            return Err(ServiceError::Conflict(format!(
                "Another rollout for {} boards is still running or paused; finish or abort it first.",
                image.hardware_revision
            )));
        }
    }
    state.rollouts_changed();
    let id = RolloutId::new(id);
    state
        .db
        .rollout(&id)
        .await?
        .ok_or_else(|| ServiceError::not_found("rollout", id.as_str()))
}

/// A rollout by id.
async fn rollout(state: &AppState, id: &RolloutId) -> Result<RolloutRow, ServiceError> {
    state
        .db
        .rollout(id)
        .await?
        .ok_or_else(|| ServiceError::not_found("rollout", id.as_str()))
}

/// The rollout `id`, else the open one, else the newest one (what the CLI acts on). With
/// rollouts open for several hardware revisions, an id is needed.
pub async fn current(state: &AppState, id: Option<&str>) -> Result<RolloutRow, ServiceError> {
    if let Some(id) = id {
        return rollout(state, &RolloutId::new(id)).await;
    }
    let mut open = state.db.open_rollouts().await?;
    if open.len() > 1 {
        let listed: Vec<String> = open
            .iter()
            .map(|r| format!("{} ({} boards)", r.id, r.hardware_revision))
            .collect();
        return Err(ServiceError::Invalid {
            code: "which_rollout",
            message: format!(
                "{} rollouts are open: {}; say which with its id.",
                open.len(),
                listed.join(", ")
            ),
        });
    }
    if let Some(open) = open.pop() {
        return Ok(open);
    }
    state
        .db
        .recent_rollouts(1)
        .await?
        .pop()
        .ok_or_else(|| ServiceError::not_found("rollout", "(none yet)"))
}

/// Pauses, resumes, advances or aborts a rollout.
pub async fn command(
    state: &AppState,
    actor: &Actor,
    id: &RolloutId,
    command: RolloutCommand,
    reason: &str,
) -> Result<RolloutRow, ServiceError> {
    let needed = match command {
        RolloutCommand::Resume | RolloutCommand::Advance => StaffRole::Admin,
        RolloutCommand::Pause | RolloutCommand::Abort => StaffRole::Support,
    };
    require_staff(actor, needed)?;
    let reason = Reason::parse(reason)?;
    let row = rollout(state, id).await?;
    let stages = state.db.rollout_stages(id).await?;
    let paused_reason = (command == RolloutCommand::Pause).then(|| reason.as_str().to_owned());
    move_rollout(
        state,
        actor,
        &row,
        stages.len(),
        command,
        paused_reason,
        serde_json::json!({ "cause": reason.as_str() }),
        None,
    )
    .await?;
    rollout(state, id).await
}

/// Applies `command` to `row` with its audit entry (and `alert`, a job to enqueue with it).
#[allow(clippy::too_many_arguments)]
async fn move_rollout(
    state: &AppState,
    actor: &Actor,
    row: &RolloutRow,
    stage_count: usize,
    command: RolloutCommand,
    paused_reason: Option<String>,
    mut detail: serde_json::Value,
    alert: Option<QueuedJob>,
) -> Result<(), ServiceError> {
    let from = position(row);
    let to = from.apply(command, stage_count).map_err(|refused| {
        ServiceError::Conflict(format!(
            "This rollout is {}; it cannot {} now.",
            words::state(refused.state),
            refused.command
        ))
    })?;
    let now = state.clock.now_ms();
    detail["from"] = serde_json::json!({ "state": from.state.as_str(), "stage": from.stage });
    detail["to"] = serde_json::json!({ "state": to.state.as_str(), "stage": to.stage });
    let mut changes = Changes::new();
    changes.push(Change::MoveRollout {
        id: row.id.clone(),
        from: from.state,
        from_stage: row.stage,
        to: to.state,
        to_stage: i64::try_from(to.stage).unwrap_or(row.stage),
        paused_reason,
        now,
    });
    if let Some(job) = alert {
        changes.push(Change::EnqueueJob(job));
    }
    changes.push(audit(actor, &row.id, &command.to_string(), detail, now));
    match state.db.apply_changes(&changes).await? {
        Applied::Done => {
            state.rollouts_changed();
            state.jobs_enqueued();
            Ok(())
        }
        Applied::Stale(stale) if stale.guard == StaleGuard::RolloutState => Err(
            ServiceError::Conflict("The rollout changed meanwhile; look again.".into()),
        ),
        Applied::Stale(_) => Err(ServiceError::Conflict(
            "The rollout could not be changed; look again.".into(),
        )),
    }
}

/// Pins the mailbox `serial` to `version`: it is offered that version whatever any rollout does.
pub async fn pin(
    state: &AppState,
    actor: &Actor,
    serial: &str,
    version: &str,
    reason: &str,
) -> Result<(), ServiceError> {
    require_staff(actor, StaffRole::Support)?;
    let reason = Reason::parse(reason)?;
    let device = by_serial(state, serial).await?;
    if state.db.firmware_by_version(version).await?.is_none() {
        return Err(ServiceError::Invalid {
            code: "unknown_version",
            message: format!("No firmware {version} is published."),
        });
    }
    let now = state.clock.now_ms();
    let mut changes = Changes::new();
    changes.push(Change::PinFirmware {
        device_id: device.id.clone(),
        version: version.to_owned(),
        reason: reason.as_str().to_owned(),
        pinned_by: actor.audit_name(),
        at: now,
    });
    changes.push(Change::Audit(AuditRecord {
        at: now,
        actor: actor.audit_name(),
        entity_type: "device".to_owned(),
        entity_id: device.id.clone(),
        action: "pin_firmware".to_owned(),
        detail: serde_json::json!({ "cause": reason.as_str(), "version": version }).to_string(),
    }));
    state.db.apply_changes(&changes).await?;
    state.rollouts_changed();
    Ok(())
}

/// Removes the pin of the mailbox `serial`.
pub async fn unpin(
    state: &AppState,
    actor: &Actor,
    serial: &str,
    reason: &str,
) -> Result<(), ServiceError> {
    require_staff(actor, StaffRole::Support)?;
    let reason = Reason::parse(reason)?;
    let device = by_serial(state, serial).await?;
    let now = state.clock.now_ms();
    let mut changes = Changes::new();
    changes.push(Change::UnpinFirmware {
        device_id: device.id.clone(),
    });
    changes.push(Change::Audit(AuditRecord {
        at: now,
        actor: actor.audit_name(),
        entity_type: "device".to_owned(),
        entity_id: device.id.clone(),
        action: "unpin_firmware".to_owned(),
        detail: serde_json::json!({ "cause": reason.as_str() }).to_string(),
    }));
    state.db.apply_changes(&changes).await?;
    state.rollouts_changed();
    Ok(())
}

/// Every pin.
pub async fn pins(state: &AppState, actor: &Actor) -> Result<Vec<PinRow>, ServiceError> {
    require_staff(actor, StaffRole::Support)?;
    Ok(state.db.firmware_pins().await?)
}

/// Mailboxes reached by each stage, cumulative (stage `i` reaches those of stages before it),
/// among `targets` when the rollout names any.
fn members_by_stage(
    candidates: &[RolloutCandidate],
    targets: &std::collections::HashSet<String>,
    rollout_id: &str,
    percents: &[u8],
) -> Vec<u64> {
    let mut reached = vec![0u64; percents.len()];
    for candidate in candidates {
        if !targets.is_empty() && !targets.contains(&candidate.serial) {
            continue;
        }
        let bucket = rollout::bucket(&candidate.serial, rollout_id);
        for (i, &percent) in percents.iter().enumerate() {
            if bucket < u32::from(percent) * (rollout::BUCKETS / 100) {
                reached[i] += 1;
            }
        }
    }
    reached
}

fn health(figures: HealthFigures) -> Health {
    Health {
        failures: figures.failures,
        silent: figures.silent,
        baseline_silent: figures.baseline_silent,
        drain_cpct: figures.drain_cpct,
        baseline_drain_cpct: figures.baseline_drain_cpct,
    }
}

/// Where rollout `id` stands: each stage's mailboxes and their progress, the gates beside their
/// thresholds.
pub async fn report(
    state: &AppState,
    actor: &Actor,
    id: &RolloutId,
) -> Result<RolloutReport, ServiceError> {
    require_staff(actor, StaffRole::Support)?;
    let row = rollout(state, id).await?;
    report_of(state, row).await
}

/// The newest rollouts, each with its report.
pub async fn recent(
    state: &AppState,
    actor: &Actor,
    limit: i64,
) -> Result<Vec<RolloutReport>, ServiceError> {
    require_staff(actor, StaffRole::Support)?;
    let mut reports = Vec::new();
    for row in state.db.recent_rollouts(limit).await? {
        reports.push(report_of(state, row).await?);
    }
    Ok(reports)
}

async fn report_of(state: &AppState, row: RolloutRow) -> Result<RolloutReport, ServiceError> {
    let id = RolloutId::new(row.id.as_str());
    let stage_rows = state.db.rollout_stages(&id).await?;
    let percents = stages_of(&stage_rows);
    let candidates = state.db.rollout_candidates(&row.hardware_revision).await?;
    let targets: std::collections::HashSet<String> =
        state.db.rollout_targets(&id).await?.into_iter().collect();
    let reached = members_by_stage(&candidates, &targets, &row.id, &percents);
    let mut stages: Vec<StageReport> = stage_rows
        .iter()
        .enumerate()
        .map(|(i, s)| StageReport {
            position: i,
            percent: percents[i],
            started_at: s.started_at,
            soak: Soak {
                min_ms: s.soak_ms,
                min_confirmed_percent: u8::try_from(s.soak_confirmed_percent).unwrap_or(100),
            },
            new_members: reached[i] - if i == 0 { 0 } else { reached[i - 1] },
            progress: ProgressCounts::default(),
        })
        .collect();
    let mut totals = ProgressCounts::default();
    for count in state.db.rollout_progress(&id).await? {
        let devices = u64::try_from(count.devices).unwrap_or(0);
        totals.add(count.progress, devices);
        if let Some(stage) = usize::try_from(count.stage)
            .ok()
            .and_then(|i| stages.get_mut(i))
        {
            stage.progress.add(count.progress, devices);
        }
    }
    let since = stage_rows
        .first()
        .and_then(|s| s.started_at)
        .unwrap_or(row.created_at);
    let figures = state
        .db
        .rollout_health(&id, since, state.clock.now_ms())
        .await?;
    let thresholds = Thresholds::STANDARD;
    let health = health(figures);
    Ok(RolloutReport {
        gates: health.read(&thresholds),
        health,
        rollout: row,
        stages,
        totals,
        thresholds,
        targeted: !targets.is_empty(),
    })
}

/// What the gate job did with a rollout.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Judged {
    Waiting,
    Advanced,
    Paused(Vec<rollout::Gate>),
}

/// The gate job's step for every active rollout (one per hardware revision), in the order of
/// their revisions: see [`judge`].
pub async fn judge_open(state: &AppState) -> Result<Vec<Judged>, ServiceError> {
    let mut judged = Vec::new();
    for row in state.db.open_rollouts().await? {
        if row.state == RolloutState::Active {
            judged.push(judge(state, row).await?);
        }
    }
    Ok(judged)
}

/// The gate job's step for an active rollout: pauses it (and queues the email to staff) when a
/// gate tripped, advances its stage once the stage's own soak is over, else waits.
async fn judge(state: &AppState, row: RolloutRow) -> Result<Judged, ServiceError> {
    let report = report_of(state, row).await?;
    let row = &report.rollout;
    let stage_index = usize::try_from(row.stage).unwrap_or(0);
    let stage = &report.stages[stage_index.min(report.stages.len() - 1)];
    let members: u64 = report.stages[..=stage_index.min(report.stages.len() - 1)]
        .iter()
        .map(|s| s.new_members)
        .sum();
    let view = StageView {
        started_at_ms: stage.started_at.unwrap_or(row.updated_at),
        members,
        confirmed: report.totals.confirmed,
    };
    let soak = stage.soak;
    let actor = Actor::Job(GATE_JOB);
    let now = state.clock.now_ms();
    match rollout::judge(view, &report.health, &report.thresholds, soak, now) {
        Verdict::Wait => Ok(Judged::Waiting),
        Verdict::Advance => {
            move_rollout(
                state,
                &actor,
                row,
                report.stages.len(),
                RolloutCommand::Advance,
                None,
                serde_json::json!({ "cause": "soaked", "confirmed": view.confirmed, "members": members }),
                None,
            )
            .await?;
            Ok(Judged::Advanced)
        }
        Verdict::Pause(gates) => {
            let tripped: Vec<&str> = gates.iter().map(|g| g.label()).collect();
            let reason = format!("A health gate tripped: {}.", tripped.join(", "));
            let alert = QueuedJob {
                id: uuid::Uuid::now_v7().to_string(),
                kind: ROLLOUT_ALERT.to_owned(),
                payload: serde_json::json!({ "rollout_id": row.id, "stage": row.stage })
                    .to_string(),
                unique_key: Some(format!("{ROLLOUT_ALERT}:{}:{}", row.id, row.stage)),
                run_at: now,
                max_attempts: 10,
            };
            let readings: Vec<serde_json::Value> = report
                .gates
                .iter()
                .map(|g| {
                    serde_json::json!({
                        "gate": g.gate.label(), "value": g.value, "threshold": g.threshold,
                    })
                })
                .collect();
            move_rollout(
                state,
                &actor,
                row,
                report.stages.len(),
                RolloutCommand::Pause,
                Some(reason),
                serde_json::json!({ "cause": "gate tripped", "gates": readings }),
                Some(alert),
            )
            .await?;
            Ok(Judged::Paused(gates))
        }
    }
}

/// The gate job's kind (`jobs::rollouts`).
pub const GATE_JOB: &str = "rollout_gates";

/// Plain words for states, shared by the page, the CLI and messages.
pub mod words {
    use smartbox_domain::rollout::RolloutState;

    pub fn state(state: RolloutState) -> &'static str {
        match state {
            RolloutState::Active => "running",
            RolloutState::Paused => "paused",
            RolloutState::Completed => "finished",
            RolloutState::Aborted => "aborted",
        }
    }
}
