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
}

/// One stage of a rollout.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct RolloutStageRow {
    pub position: i64,
    pub percent: i64,
    /// When it started; `None` until it does.
    pub started_at: Option<i64>,
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
    pub stages: Vec<i64>,
    pub soak_ms: i64,
    pub soak_confirmed_percent: i64,
    pub created_by: String,
    pub created_at: i64,
    /// The serials it is limited to; empty: every mailbox in service.
    pub serials: Vec<String>,
}

/// Slack past a mailbox's check-in interval before it counts as silent (as on the portal).
pub const SILENT_SLACK_MS: i64 = 15 * 60_000;

/// Shortest span of battery readings a mailbox's drain is measured over.
const DRAIN_MIN_SPAN_MS: i64 = 3_600_000;

const ROLLOUT_COLUMNS: &str = "id, version, hardware_revision, state, stage, soak_ms, \
    soak_confirmed_percent, paused_reason, created_by, created_at, updated_at";

pub(crate) const INSERT_ROLLOUT_SQL: &str = "INSERT INTO firmware_rollouts (id, version, \
    hardware_revision, state, stage, soak_ms, soak_confirmed_percent, created_by, created_at, \
    updated_at) VALUES ($1, $2, $3, 'active', 0, $4, $5, $6, $7, $7)";
pub(crate) const INSERT_STAGE_SQL: &str = "INSERT INTO firmware_rollout_stages (rollout_id, \
    position, percent, started_at) VALUES ($1, $2, $3, $4)";
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

/// Each mailbox's newest vitals time and its check-in interval, with whether rollout `$1`
/// offered it its image.
const LAST_SEEN_SQL: &str = "SELECT d.id, d.checkin_interval_s, \
    (SELECT v.recorded_at FROM device_latest_vitals v WHERE v.device_id = d.id) AS last_seen, \
    CAST(CASE WHEN r.device_id IS NULL THEN 0 ELSE 1 END AS BIGINT) AS offered \
    FROM devices d LEFT JOIN firmware_rollout_devices r ON r.device_id = d.id AND r.rollout_id = $1 \
    WHERE d.lifecycle_state = 'active_subscription'";

/// Each mailbox's first and last battery reading since `$2`, with whether rollout `$1`
/// offered it its image.
const DRAIN_SQL: &str = "SELECT s.device_id, f.battery_percentage AS first_battery, \
    l.battery_percentage AS last_battery, s.first_at, s.last_at, \
    CAST(CASE WHEN r.device_id IS NULL THEN 0 ELSE 1 END AS BIGINT) AS offered \
    FROM (SELECT device_id, MIN(recorded_at) AS first_at, MAX(recorded_at) AS last_at \
          FROM device_vitals WHERE recorded_at >= $2 GROUP BY device_id) s \
    JOIN device_vitals f ON f.device_id = s.device_id AND f.recorded_at = s.first_at \
    JOIN device_vitals l ON l.device_id = s.device_id AND l.recorded_at = s.last_at \
    LEFT JOIN firmware_rollout_devices r ON r.device_id = s.device_id AND r.rollout_id = $1";

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
            "SELECT position, percent, started_at FROM firmware_rollout_stages \
             WHERE rollout_id = $1 ORDER BY position",
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

    /// The mailboxes a rollout may reach: those in service.
    pub async fn rollout_candidates(&self) -> Result<Vec<RolloutCandidate>> {
        Ok(on_pool!(self, pool => sqlx::query_as(
            "SELECT id, serial FROM devices WHERE lifecycle_state = 'active_subscription'",
        )
        .fetch_all(pool)
        .await)?)
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
        let seen: Vec<LastSeen> = on_pool!(self, pool => sqlx::query_as(LAST_SEEN_SQL)
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
        let drains: Vec<Drain> = on_pool!(self, pool => sqlx::query_as(DRAIN_SQL)
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
