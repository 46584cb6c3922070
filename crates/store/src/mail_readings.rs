//! What the `classify_event` job reads from an event's photos, each mailbox's reference frames,
//! and the customers' corrections (issue 22).
//!
//! A reading is settled in one transaction: the event's kind, category and confidences, the
//! mailbox's references moved on (guarded by the event they were last moved by, so two events
//! read against the same references cannot both move them), the notification taken back out of
//! the period's usage when the event will not be notified, and the `notify_event` job when it
//! will. Run again, it finds the event read and changes nothing.

use smartbox_domain::{MailCategory, MailKind};

use crate::{Db, NewJob, Result, on_pool};

/// A mailbox's references as stored (frames sealed by the server).
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct MailboxReferencesRow {
    pub device_id: String,
    pub empty_frame: Option<Vec<u8>>,
    pub last_frame: Option<Vec<u8>>,
    pub last_event_id: String,
    pub updated_at: i64,
}

/// One event's reading, to settle.
#[derive(Debug, Clone)]
pub struct MailReading<'a> {
    pub event_id: &'a str,
    pub device_id: &'a str,
    pub kind: MailKind,
    /// Percent.
    pub kind_confidence: i64,
    pub category: Option<MailCategory>,
    /// Percent.
    pub category_confidence: Option<i64>,
    /// The delivery's measurements, as text.
    pub features: Option<String>,
    /// The mailbox's references after this event (sealed).
    pub empty_frame: Option<Vec<u8>>,
    pub last_frame: Vec<u8>,
    /// The event that last moved the references read (`None`: the mailbox had none).
    pub references_of: Option<&'a str>,
    /// False: the notification counted when the event arrived is taken back.
    pub notified: bool,
    /// The notification's job, enqueued when `notified`.
    pub notify: NewJob<'a>,
    pub now: i64,
}

/// What settling a reading did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Settled {
    Done,
    /// The event was read (or corrected) before: nothing changed.
    AlreadyRead,
    /// The mailbox's references moved since they were read: nothing changed; read again.
    StaleReferences,
}

/// A customer's correction of an event.
#[derive(Debug, Clone)]
pub struct MailCorrection<'a> {
    pub owner_id: &'a str,
    pub event_id: &'a str,
    pub kind: MailKind,
    /// `None` clears the category (anything but a delivery has none).
    pub category: Option<MailCategory>,
    pub now: i64,
    /// The audit entry's actor and detail (JSON text).
    pub actor: &'a str,
    pub detail: String,
}

impl Db {
    /// The mailbox's references, if it has any.
    pub async fn mailbox_references(
        &self,
        device_id: &str,
    ) -> Result<Option<MailboxReferencesRow>> {
        Ok(on_pool!(self, pool => sqlx::query_as(
            "SELECT device_id, empty_frame, last_frame, last_event_id, updated_at \
             FROM mailbox_references WHERE device_id = $1",
        )
        .bind(device_id)
        .fetch_optional(pool)
        .await)?)
    }

    /// Settles an event's reading (see the module's documentation).
    pub async fn settle_mail_reading(&self, r: &MailReading<'_>) -> Result<Settled> {
        let begin = match self.backend() {
            crate::Backend::Sqlite => "BEGIN IMMEDIATE",
            crate::Backend::Postgres => "BEGIN",
        };
        let payload = r.notify.payload.to_string();
        let settled = on_pool!(self, pool => {
            let mut tx = pool.begin_with(begin).await?;
            let read = sqlx::query(
                "UPDATE mail_events SET mail_kind = $2, kind_confidence = $3, category = $4, \
                 category_confidence = $5, mail_features = $6, classified_at = $7 \
                 WHERE id = $1 AND classified_at IS NULL AND corrected_at IS NULL",
            )
            .bind(r.event_id)
            .bind(r.kind.as_str())
            .bind(r.kind_confidence)
            .bind(r.category.map(MailCategory::as_str))
            .bind(r.category_confidence)
            .bind(&r.features)
            .bind(r.now)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            if read == 0 {
                return Ok(Settled::AlreadyRead);
            }
            let moved = match r.references_of {
                None => sqlx::query(
                    "INSERT INTO mailbox_references (device_id, empty_frame, last_frame, last_event_id, updated_at) \
                     VALUES ($1, $2, $3, $4, $5) ON CONFLICT (device_id) DO NOTHING",
                )
                .bind(r.device_id)
                .bind(&r.empty_frame)
                .bind(&r.last_frame)
                .bind(r.event_id)
                .bind(r.now)
                .execute(&mut *tx)
                .await?,
                Some(previous) => sqlx::query(
                    "UPDATE mailbox_references SET empty_frame = $2, last_frame = $3, last_event_id = $4, \
                     updated_at = $5 WHERE device_id = $1 AND last_event_id = $6",
                )
                .bind(r.device_id)
                .bind(&r.empty_frame)
                .bind(&r.last_frame)
                .bind(r.event_id)
                .bind(r.now)
                .bind(previous)
                .execute(&mut *tx)
                .await?,
            }
            .rows_affected();
            if moved == 0 {
                return Ok(Settled::StaleReferences);
            }
            if r.notified {
                sqlx::query(crate::jobs::INSERT_JOB_SQL)
                    .bind(r.notify.id)
                    .bind(r.notify.kind)
                    .bind(&payload)
                    .bind(r.notify.unique_key)
                    .bind(r.notify.run_at)
                    .bind(r.notify.max_attempts)
                    .execute(&mut *tx)
                    .await?;
            } else {
                // The notification the device API counted when the event arrived, in the period
                // it arrived in.
                sqlx::query(
                    "UPDATE usage_periods SET notifications = notifications - 1 \
                     WHERE notifications > 0 AND subscription_id = \
                     (SELECT subscription_id FROM mail_events WHERE id = $1) \
                     AND period_start <= (SELECT created_at FROM mail_events WHERE id = $1) \
                     AND period_end > (SELECT created_at FROM mail_events WHERE id = $1)",
                )
                .bind(r.event_id)
                .execute(&mut *tx)
                .await?;
            }
            tx.commit().await?;
            Settled::Done
        });
        Ok(settled)
    }

    /// Whether the mailbox has an event before `(occurred_at, id)`, completed after
    /// `completed_since`, whose photos are not read yet and whose reading job (unique key
    /// `reading_key_prefix` + its id) has not finished or failed for good: readings go in the
    /// events' order, since each moves the mailbox's references.
    pub async fn earlier_event_unread(
        &self,
        device_id: &str,
        occurred_at: i64,
        id: &str,
        completed_since: i64,
        reading_key_prefix: &str,
    ) -> Result<bool> {
        // `SELECT 1` is an INT4 on PostgreSQL and an INTEGER on SQLite: both decode as i32.
        let found: Option<i32> = on_pool!(self, pool => sqlx::query_scalar(
            "SELECT 1 FROM mail_events e WHERE e.device_id = $1 AND e.mail_kind IS NULL \
             AND e.completed_at IS NOT NULL AND e.completed_at >= $4 \
             AND (e.occurred_at < $2 OR (e.occurred_at = $2 AND e.id < $3)) \
             AND NOT EXISTS (SELECT 1 FROM jobs j WHERE j.unique_key = $5 || e.id \
                             AND j.status IN ('done', 'failed')) LIMIT 1",
        )
        .bind(device_id)
        .bind(occurred_at)
        .bind(id)
        .bind(completed_since)
        .bind(reading_key_prefix)
        .fetch_optional(pool)
        .await)?;
        Ok(found.is_some())
    }

    /// The mailbox's corrected deliveries with their measurements: `(features, category)` as
    /// stored, newest first.
    pub async fn corrected_examples(
        &self,
        device_id: &str,
        limit: i64,
    ) -> Result<Vec<(String, String)>> {
        Ok(on_pool!(self, pool => sqlx::query_as(
            "SELECT mail_features, category FROM mail_events WHERE device_id = $1 \
             AND corrected_at IS NOT NULL AND mail_kind = $2 AND category IS NOT NULL \
             AND mail_features IS NOT NULL ORDER BY corrected_at DESC LIMIT $3",
        )
        .bind(device_id)
        .bind(MailKind::Delivery.as_str())
        .bind(limit)
        .fetch_all(pool)
        .await)?)
    }

    /// Stores a customer's correction of one of their events with its audit entry; false (and
    /// nothing changed) when the event is not theirs.
    pub async fn correct_mail_event(&self, c: &MailCorrection<'_>) -> Result<bool> {
        let corrected = on_pool!(self, pool => {
            let mut tx = pool.begin().await?;
            let changed = sqlx::query(
                "UPDATE mail_events SET mail_kind = $3, category = $4, \
                 kind_confidence = 100, category_confidence = CASE WHEN $4 IS NULL THEN NULL ELSE 100 END, \
                 corrected_at = $5 \
                 WHERE id = $1 AND device_id IN (SELECT id FROM devices WHERE owner_id = $2)",
            )
            .bind(c.event_id)
            .bind(c.owner_id)
            .bind(c.kind.as_str())
            .bind(c.category.map(MailCategory::as_str))
            .bind(c.now)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            if changed == 0 {
                return Ok(false);
            }
            sqlx::query(
                "INSERT INTO audit_log (at, actor, entity_type, entity_id, action, detail) \
                 VALUES ($1, $2, 'mail_event', $3, 'mail_corrected', $4)",
            )
            .bind(c.now)
            .bind(c.actor)
            .bind(c.event_id)
            .bind(&c.detail)
            .execute(&mut *tx)
            .await?;
            tx.commit().await?;
            true
        });
        Ok(corrected)
    }

    /// Whether the mailbox's customer asked to be told of deliveries only.
    pub async fn notify_deliveries_only(&self, device_id: &str) -> Result<bool> {
        Ok(on_pool!(self, pool => sqlx::query_scalar(
            "SELECT notify_deliveries_only FROM devices WHERE id = $1",
        )
        .bind(device_id)
        .fetch_optional(pool)
        .await)?
        .unwrap_or(false))
    }
}
