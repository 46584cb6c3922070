//! Staged firmware rollouts: the rollouts and their stages, how far each mailbox got with a
//! rollout's image, staff's pins, and the figures the health gates are measured from. Staff's
//! and the gate job's changes go through change sets (`Change::InsertRollout`,
//! `Change::MoveRollout`, `Change::PinFirmware`, `Change::UnpinFirmware`) with their audit
//! entries; the device API records a mailbox's progress directly, as it reports.

use smartbox_domain::rollout::{DeviceProgress, RolloutState, Share};
use smartbox_domain::{DeviceId, RolloutId};

use crate::{Db, Result, on_pool};

/// A rollout as stored.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct RolloutRow {
    pub id: String,
    pub version: String,
    pub hardware_revision: String,
    #[sqlx(try_from = "String")]
    pub state: RolloutState,
    /// Index of the current stage.
    pub stage: i64,
    pub soak_ms: i64,
    pub soak_confirmed_percent: i64,
    /// Why it was paused, when it is.
    pub paused_reason: Option<String>,
    pub created_by: String,
    pub created_at: i64,
    pub updated_at: i64,
    /// The tag it was aimed at, if any (its mailboxes are the targets fixed at its start).
    pub target_tag: Option<String>,
}

/// One stage of a rollout.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct RolloutStageRow {
    pub position: i64,
    pub percent: i64,
    /// When it started; `None` until it does.
    pub started_at: Option<i64>,
    /// Its own minimum time before the next stage.
    pub soak_ms: i64,
    /// Its own share of mailboxes confirmed before the next stage, percent.
    pub soak_confirmed_percent: i64,
}

/// A stage of a new rollout with its soak.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NewStage {
    pub percent: i64,
    pub soak_ms: i64,
    pub soak_confirmed_percent: i64,
}

/// How many mailboxes first offered the image in `stage` are at `progress`.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct ProgressCount {
    pub stage: i64,
    #[sqlx(try_from = "String")]
    pub progress: DeviceProgress,
    pub devices: i64,
}

/// A mailbox pinned to a version.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct PinRow {
    pub device_id: String,
    pub serial: String,
    pub version: String,
    pub reason: String,
    pub pinned_by: String,
    pub pinned_at: i64,
}

/// A mailbox a rollout may reach: in service, with its serial (its bucket's input).
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct RolloutCandidate {
    pub id: String,
    pub serial: String,
}

/// A tag on a mailbox.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct DeviceTagRow {
    pub device_id: String,
    pub tag: String,
    pub tagged_by: String,
    pub tagged_at: i64,
}

/// The figures the gates are read from (see `smartbox_domain::rollout::Health`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct HealthFigures {
    pub failures: Share,
    pub silent: Share,
    pub baseline_silent: Share,
    pub drain_cpct: Option<i64>,
    pub baseline_drain_cpct: Option<i64>,
}

/// A new rollout (`Change::InsertRollout`): its first stage starts at `created_at`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewRollout {
    pub id: String,
    pub version: String,
    pub hardware_revision: String,
    pub stages: Vec<NewStage>,
    /// The soak its stages were given by default.
    pub soak_ms: i64,
    pub soak_confirmed_percent: i64,
    pub created_by: String,
    pub created_at: i64,
    /// The serials it is limited to; empty: every mailbox in service.
    pub serials: Vec<String>,
    /// The tag `serials` were read from at the start, if it was aimed at one.
    pub target_tag: Option<String>,
}

/// Slack past a mailbox's check-in interval before it counts as silent (as on the portal).
pub const SILENT_SLACK_MS: i64 = 15 * 60_000;

/// Shortest span of battery readings a mailbox's drain is measured over.
const DRAIN_MIN_SPAN_MS: i64 = 3_600_000;

const ROLLOUT_COLUMNS: &str = "id, version, hardware_revision, state, stage, soak_ms, \
    soak_confirmed_percent, paused_reason, created_by, created_at, updated_at, target_tag";

pub(crate) const INSERT_ROLLOUT_SQL: &str = "INSERT INTO firmware_rollouts (id, version, \
    hardware_revision, state, stage, soak_ms, soak_confirmed_percent, created_by, created_at, \
    updated_at, target_tag) VALUES ($1, $2, $3, 'active', 0, $4, $5, $6, $7, $7, $8)";
pub(crate) const INSERT_STAGE_SQL: &str = "INSERT INTO firmware_rollout_stages (rollout_id, \
    position, percent, started_at, soak_ms, soak_confirmed_percent) VALUES ($1, $2, $3, $4, $5, $6)";
pub(crate) const TAG_SQL: &str = "INSERT INTO device_tags (device_id, tag, tagged_by, tagged_at) \
    VALUES ($1, $2, $3, $4) ON CONFLICT (device_id, tag) DO NOTHING";
pub(crate) const UNTAG_SQL: &str = "DELETE FROM device_tags WHERE device_id = $1 AND tag = $2";
pub(crate) const INSERT_TARGET_SQL: &str =
    "INSERT INTO firmware_rollout_targets (rollout_id, serial) VALUES ($1, $2)";
pub(crate) const STAGE_IMAGE_SQL: &str =
    "UPDATE firmware_images SET staged = TRUE WHERE version = $1";
pub(crate) const MOVE_ROLLOUT_SQL: &str = "UPDATE firmware_rollouts SET state = $4, stage = $5, \
    paused_reason = $6, updated_at = $7 WHERE id = $1 AND state = $2 AND stage = $3";
pub(crate) const START_STAGE_SQL: &str = "UPDATE firmware_rollout_stages SET started_at = $3 \
    WHERE rollout_id = $1 AND position = $2 AND started_at IS NULL";
pub(crate) const PIN_SQL: &str = "INSERT INTO firmware_pins (device_id, version, reason, \
    pinned_by, pinned_at) VALUES ($1, $2, $3, $4, $5) ON CONFLICT (device_id) DO UPDATE SET \
    version = excluded.version, reason = excluded.reason, pinned_by = excluded.pinned_by, \
    pinned_at = excluded.pinned_at";
pub(crate) const UNPIN_SQL: &str = "DELETE FROM firmware_pins WHERE device_id = $1";

/// The mailboxes rollout `$1` is aimed at, as a condition on `d`: those of its hardware
/// revision, and of its targets when it has any. The gates compare the mailboxes it offered its
/// image to with the rest of these (still on the old image), never with mailboxes it could not
/// reach: a rollout to a pilot list is measured against that list.
const IN_ROLLOUT_TARGET: &str = "d.hardware_revision = \
    (SELECT hardware_revision FROM firmware_rollouts WHERE id = $1) \
    AND (NOT EXISTS (SELECT 1 FROM firmware_rollout_targets t WHERE t.rollout_id = $1) \
         OR d.serial IN (SELECT t.serial FROM firmware_rollout_targets t WHERE t.rollout_id = $1))";

/// Each mailbox the rollout `$1` is aimed at: its newest vitals time and its check-in
/// interval, with whether the rollout offered it its image.
fn last_seen_sql() -> String {
    format!(
        "SELECT d.id, d.checkin_interval_s, \
         (SELECT v.recorded_at FROM device_latest_vitals v WHERE v.device_id = d.id) AS last_seen, \
         CAST(CASE WHEN r.device_id IS NULL THEN 0 ELSE 1 END AS BIGINT) AS offered \
         FROM devices d LEFT JOIN firmware_rollout_devices r ON r.device_id = d.id AND r.rollout_id = $1 \
         WHERE d.lifecycle_state = 'active_subscription' AND {IN_ROLLOUT_TARGET}"
    )
}

/// Each mailbox rollout `$1` is aimed at: its first and last battery reading since `$2`, with
/// whether the rollout offered it its image.
fn drain_sql() -> String {
    format!(
        "SELECT s.device_id, f.battery_percentage AS first_battery, \
         l.battery_percentage AS last_battery, s.first_at, s.last_at, \
         CAST(CASE WHEN r.device_id IS NULL THEN 0 ELSE 1 END AS BIGINT) AS offered \
         FROM (SELECT device_id, MIN(recorded_at) AS first_at, MAX(recorded_at) AS last_at \
               FROM device_vitals WHERE recorded_at >= $2 GROUP BY device_id) s \
         JOIN devices d ON d.id = s.device_id \
         JOIN device_vitals f ON f.device_id = s.device_id AND f.recorded_at = s.first_at \
         JOIN device_vitals l ON l.device_id = s.device_id AND l.recorded_at = s.last_at \
         LEFT JOIN firmware_rollout_devices r ON r.device_id = s.device_id AND r.rollout_id = $1 \
         WHERE {IN_ROLLOUT_TARGET}"
    )
}

type LastSeen = (String, i64, Option<i64>, i64);
type Drain = (String, i64, i64, i64, i64, i64);

impl Db {
    /// The open (active or paused) rollout of a hardware revision.
    pub async fn open_rollout(&self, hardware_revision: &str) -> Result<Option<RolloutRow>> {
        let sql = format!(
            "SELECT {ROLLOUT_COLUMNS} FROM firmware_rollouts \
             WHERE hardware_revision = $1 AND state IN ('active', 'paused')"
        );
        Ok(
            on_pool!(self, pool => sqlx::query_as(sqlx::AssertSqlSafe(sql.as_str()))
            .bind(hardware_revision)
            .fetch_optional(pool)
            .await)?,
        )
    }

    /// A rollout by id.
    pub async fn rollout(&self, id: &RolloutId) -> Result<Option<RolloutRow>> {
        let sql = format!("SELECT {ROLLOUT_COLUMNS} FROM firmware_rollouts WHERE id = $1");
        Ok(
            on_pool!(self, pool => sqlx::query_as(sqlx::AssertSqlSafe(sql.as_str()))
            .bind(id.as_str())
            .fetch_optional(pool)
            .await)?,
        )
    }

    /// The newest rollouts first.
    pub async fn recent_rollouts(&self, limit: i64) -> Result<Vec<RolloutRow>> {
        let sql = format!(
            "SELECT {ROLLOUT_COLUMNS} FROM firmware_rollouts ORDER BY created_at DESC, id DESC LIMIT $1"
        );
        Ok(
            on_pool!(self, pool => sqlx::query_as(sqlx::AssertSqlSafe(sql.as_str()))
            .bind(limit)
            .fetch_all(pool)
            .await)?,
        )
    }

    /// A rollout's stages in order.
    pub async fn rollout_stages(&self, id: &RolloutId) -> Result<Vec<RolloutStageRow>> {
        Ok(on_pool!(self, pool => sqlx::query_as(
            "SELECT s.position, s.percent, s.started_at, \
             COALESCE(s.soak_ms, r.soak_ms) AS soak_ms, \
             COALESCE(s.soak_confirmed_percent, r.soak_confirmed_percent) AS soak_confirmed_percent \
             FROM firmware_rollout_stages s JOIN firmware_rollouts r ON r.id = s.rollout_id \
             WHERE s.rollout_id = $1 ORDER BY s.position",
        )
        .bind(id.as_str())
        .fetch_all(pool)
        .await)?)
    }

    /// How many mailboxes are at each progress, by the stage that first offered them the image.
    pub async fn rollout_progress(&self, id: &RolloutId) -> Result<Vec<ProgressCount>> {
        Ok(on_pool!(self, pool => sqlx::query_as(
            "SELECT stage, progress, COUNT(*) AS devices FROM firmware_rollout_devices \
             WHERE rollout_id = $1 GROUP BY stage, progress ORDER BY stage, progress",
        )
        .bind(id.as_str())
        .fetch_all(pool)
        .await)?)
    }

    /// Records that the heartbeat offered the image to a mailbox in `stage` (kept if it was
    /// offered before). Returns whether this is the first offer.
    pub async fn record_rollout_offer(
        &self,
        id: &RolloutId,
        device: &DeviceId,
        stage: i64,
        now: i64,
    ) -> Result<bool> {
        let inserted = on_pool!(self, pool => sqlx::query(
            "INSERT INTO firmware_rollout_devices (rollout_id, device_id, stage, progress, offered_at, updated_at) \
             VALUES ($1, $2, $3, 'offered', $4, $4) ON CONFLICT (rollout_id, device_id) DO NOTHING",
        )
        .bind(id.as_str())
        .bind(device.as_str())
        .bind(stage)
        .bind(now)
        .execute(pool)
        .await
        .map(|r| r.rows_affected()))?;
        Ok(inserted == 1)
    }

    /// Moves a mailbox that a rollout of `version` offered its image to `to`, if its progress
    /// may become that (`DeviceProgress::may_become`). Returns whether it moved.
    pub async fn move_rollout_progress(
        &self,
        device: &DeviceId,
        version: &str,
        to: DeviceProgress,
        now: i64,
    ) -> Result<bool> {
        let from: Vec<&str> = DeviceProgress::ALL
            .iter()
            .filter(|p| p.may_become(to))
            .map(|p| p.as_str())
            .collect();
        if from.is_empty() {
            return Ok(false);
        }
        let list: Vec<String> = (0..from.len()).map(|i| format!("${}", i + 5)).collect();
        let sql = format!(
            "UPDATE firmware_rollout_devices SET progress = $3, updated_at = $4 \
             WHERE device_id = $1 AND rollout_id IN (SELECT id FROM firmware_rollouts WHERE version = $2) \
             AND progress IN ({})",
            list.join(", ")
        );
        let moved = on_pool!(self, pool => {
            let mut query = sqlx::query(sqlx::AssertSqlSafe(sql.as_str()))
                .bind(device.as_str())
                .bind(version)
                .bind(to.as_str())
                .bind(now);
            for name in &from {
                query = query.bind(*name);
            }
            query.execute(pool).await.map(|r| r.rows_affected())
        })?;
        Ok(moved > 0)
    }

    /// Every pinned mailbox, by serial.
    pub async fn firmware_pins(&self) -> Result<Vec<PinRow>> {
        Ok(on_pool!(self, pool => sqlx::query_as(
            "SELECT p.device_id, d.serial, p.version, p.reason, p.pinned_by, p.pinned_at \
             FROM firmware_pins p JOIN devices d ON d.id = p.device_id ORDER BY d.serial",
        )
        .fetch_all(pool)
        .await)?)
    }

    /// The serials rollout `id` is limited to; empty: every mailbox in service.
    pub async fn rollout_targets(&self, id: &RolloutId) -> Result<Vec<String>> {
        let rows: Vec<(String,)> = on_pool!(self, pool => sqlx::query_as(
            "SELECT serial FROM firmware_rollout_targets WHERE rollout_id = $1 ORDER BY serial",
        )
        .bind(id.as_str())
        .fetch_all(pool)
        .await)?;
        Ok(rows.into_iter().map(|(serial,)| serial).collect())
    }

    /// The mailboxes a rollout of `hardware_revision` may reach: those in service of that
    /// revision.
    pub async fn rollout_candidates(
        &self,
        hardware_revision: &str,
    ) -> Result<Vec<RolloutCandidate>> {
        Ok(on_pool!(self, pool => sqlx::query_as(
            "SELECT id, serial FROM devices WHERE lifecycle_state = 'active_subscription' \
             AND hardware_revision = $1",
        )
        .bind(hardware_revision)
        .fetch_all(pool)
        .await)?)
    }

    /// Every open (active or paused) rollout, one per hardware revision at most.
    pub async fn open_rollouts(&self) -> Result<Vec<RolloutRow>> {
        let sql = format!(
            "SELECT {ROLLOUT_COLUMNS} FROM firmware_rollouts \
             WHERE state IN ('active', 'paused') ORDER BY hardware_revision"
        );
        Ok(
            on_pool!(self, pool => sqlx::query_as(sqlx::AssertSqlSafe(sql.as_str()))
            .fetch_all(pool)
            .await)?,
        )
    }

    /// The serials of the mailboxes tagged `tag`, in order.
    pub async fn serials_tagged(&self, tag: &str) -> Result<Vec<String>> {
        let rows: Vec<(String,)> = on_pool!(self, pool => sqlx::query_as(
            "SELECT d.serial FROM device_tags t JOIN devices d ON d.id = t.device_id \
             WHERE t.tag = $1 ORDER BY d.serial",
        )
        .bind(tag)
        .fetch_all(pool)
        .await)?;
        Ok(rows.into_iter().map(|(serial,)| serial).collect())
    }

    /// A mailbox's tags, in order.
    pub async fn device_tags(&self, device: &DeviceId) -> Result<Vec<DeviceTagRow>> {
        Ok(on_pool!(self, pool => sqlx::query_as(
            "SELECT device_id, tag, tagged_by, tagged_at FROM device_tags \
             WHERE device_id = $1 ORDER BY tag",
        )
        .bind(device.as_str())
        .fetch_all(pool)
        .await)?)
    }

    /// Records the hardware revision a mailbox reported, if it is not the one stored. Returns
    /// whether it changed (the write happens only then).
    pub async fn set_hardware_revision(
        &self,
        device: &DeviceId,
        hardware_revision: &str,
    ) -> Result<bool> {
        let changed = on_pool!(self, pool => sqlx::query(
            "UPDATE devices SET hardware_revision = $2 WHERE id = $1 AND hardware_revision <> $2",
        )
        .bind(device.as_str())
        .bind(hardware_revision)
        .execute(pool)
        .await
        .map(|r| r.rows_affected()))?;
        Ok(changed > 0)
    }

    /// The hardware revision stored for a mailbox.
    pub async fn hardware_revision(&self, device: &DeviceId) -> Result<Option<String>> {
        let row: Option<(String,)> = on_pool!(self, pool => sqlx::query_as(
            "SELECT hardware_revision FROM devices WHERE id = $1",
        )
        .bind(device.as_str())
        .fetch_optional(pool)
        .await)?;
        Ok(row.map(|(revision,)| revision))
    }

    /// The gates' figures for rollout `id` at `now`, battery drain measured since `since`.
    pub async fn rollout_health(
        &self,
        id: &RolloutId,
        since: i64,
        now: i64,
    ) -> Result<HealthFigures> {
        let outcomes: Vec<(String, i64)> = on_pool!(self, pool => sqlx::query_as(
            "SELECT progress, COUNT(*) FROM firmware_rollout_devices WHERE rollout_id = $1 \
             AND progress IN ('confirmed', 'failed', 'rolled_back') GROUP BY progress",
        )
        .bind(id.as_str())
        .fetch_all(pool)
        .await)?;
        let mut failures = Share::default();
        for (progress, count) in outcomes {
            let count = u64::try_from(count).unwrap_or(0);
            failures.of += count;
            if progress != DeviceProgress::Confirmed.as_str() {
                failures.part += count;
            }
        }
        let sql = last_seen_sql();
        let seen: Vec<LastSeen> = on_pool!(self, pool => sqlx::query_as(sqlx::AssertSqlSafe(sql.as_str()))
            .bind(id.as_str())
            .fetch_all(pool)
            .await)?;
        let (mut silent, mut baseline_silent) = (Share::default(), Share::default());
        for (_, interval_s, last_seen, offered) in seen {
            let Some(last_seen) = last_seen else { continue };
            let share = if offered == 1 {
                &mut silent
            } else {
                &mut baseline_silent
            };
            share.of += 1;
            if now - last_seen > interval_s * 1_000 + SILENT_SLACK_MS {
                share.part += 1;
            }
        }
        let sql = drain_sql();
        let drains: Vec<Drain> = on_pool!(self, pool => sqlx::query_as(sqlx::AssertSqlSafe(sql.as_str()))
            .bind(id.as_str())
            .bind(since)
            .fetch_all(pool)
            .await)?;
        let mut sums = [(0i64, 0i64); 2];
        for (_, first, last, first_at, last_at, offered) in drains {
            let span = last_at - first_at;
            if span < DRAIN_MIN_SPAN_MS {
                continue;
            }
            // Hundredths of a point per day; charging counts as no drain.
            let drain = ((first - last).max(0) * 100 * 86_400_000) / span;
            let sum = &mut sums[usize::from(offered == 1)];
            sum.0 += drain;
            sum.1 += 1;
        }
        let mean = |(total, count): (i64, i64)| (count > 0).then(|| total / count);
        Ok(HealthFigures {
            failures,
            silent,
            baseline_silent,
            drain_cpct: mean(sums[1]),
            baseline_drain_cpct: mean(sums[0]),
        })
    }

    /// The email addresses of staff (admin and support), to tell of a paused rollout.
    pub async fn staff_emails(&self) -> Result<Vec<String>> {
        let rows: Vec<(String,)> = on_pool!(self, pool => sqlx::query_as(
            "SELECT email FROM users WHERE role IN ('admin', 'support') ORDER BY email",
        )
        .fetch_all(pool)
        .await)?;
        Ok(rows.into_iter().map(|(email,)| email).collect())
    }
}
