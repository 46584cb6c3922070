//! Mail events reported by devices and their photos. Both are idempotent by the device's ids, and
//! the event completes (enqueuing its `event_completed` job) exactly once, in the same transaction
//! as the photo that completes it.

use smartbox_domain::{EventId, MailKind, UserId};

use crate::{Db, NewPhoto, Result, TrafficBatch, on_pool};

/// A mail event as stored.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct MailEventRow {
    pub id: String,
    pub device_id: String,
    pub subscription_id: Option<String>,
    pub kind: String,
    pub occurred_at: i64,
    pub photo_count: i64,
    pub photos_received: i64,
    pub category: Option<String>,
    pub completed_at: Option<i64>,
    pub created_at: i64,
    /// What the photos showed (delivery, collection, false trigger), once read or corrected.
    pub mail_kind: Option<String>,
    /// How sure the category is, in percent.
    pub category_confidence: Option<i64>,
    /// When the customer corrected the kind or the category.
    pub corrected_at: Option<i64>,
}

impl MailEventRow {
    /// What the photos showed, once read or corrected.
    pub fn reading(&self) -> Option<MailKind> {
        self.mail_kind.as_deref().and_then(|k| k.parse().ok())
    }

    /// What the event means for "You have mail": the photos' reading once there is one, until
    /// then what the mailbox reported (its door sensor's `mail_removed` is a collection).
    pub fn meaning(&self) -> MailKind {
        self.reading().unwrap_or(if self.kind == "mail_removed" {
            MailKind::Collection
        } else {
            MailKind::Delivery
        })
    }
}

/// A new event as the device reported it.
#[derive(Debug, Clone)]
pub struct EventInsert<'a> {
    pub id: &'a str,
    pub device_id: &'a str,
    pub subscription_id: Option<&'a str>,
    pub kind: &'a str,
    pub occurred_at: i64,
    pub photo_count: i64,
    pub created_at: i64,
}

/// A photo already written to the blob store.
#[derive(Debug, Clone)]
pub struct PhotoInsert<'a> {
    pub event_id: &'a str,
    pub idx: i64,
    pub blob_key: &'a str,
    pub size_bytes: i64,
    pub sha256: &'a str,
    pub created_at: i64,
    /// The id for the `event_completed` job, used only if this photo completes the event.
    pub completion_job_id: &'a str,
}

/// A photo as stored.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct PhotoRow {
    pub event_id: String,
    pub idx: i64,
    pub blob_key: String,
    pub size_bytes: i64,
    pub sha256: String,
    pub created_at: i64,
    /// The gallery's thumbnail, once the `event_thumbnails` job has made it.
    pub thumbnail_key: Option<String>,
}

/// What storing a photo did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PhotoStored {
    /// False when this (event, index) was already stored: a retry.
    pub new: bool,
    /// True when this photo completed the event (happens once per event).
    pub completed_event: bool,
}

const EVENT_COLUMNS: &str = "id, device_id, subscription_id, kind, occurred_at, photo_count, photos_received, \
    category, completed_at, created_at, mail_kind, category_confidence, corrected_at";

/// The job kind enqueued when every photo of an event is stored.
pub const EVENT_COMPLETED_JOB: &str = "event_completed";

/// A customer deleting one of their mail events (its photos already gone from the blob store).
#[derive(Debug, Clone)]
pub struct MailEventDeletion<'a> {
    pub owner_id: &'a UserId,
    pub event_id: &'a EventId,
    pub now: i64,
    /// The audit entry's actor and detail (JSON text).
    pub actor: &'a str,
    pub detail: String,
}

impl Db {
    /// Inserts an event; false (and nothing changed) when an event with this id already exists.
    /// An event without photos completes at once, enqueuing its `event_completed` job. It runs the
    /// device API's group-commit write (a batch of one), so there is one copy of that SQL.
    pub async fn insert_event(&self, e: &EventInsert<'_>, completion_job_id: &str) -> Result<bool> {
        self.insert_event_with_usage(e, completion_job_id, None)
            .await
    }

    /// The event with this id.
    pub async fn event_by_id(&self, id: &str) -> Result<Option<MailEventRow>> {
        let sql = format!("SELECT {EVENT_COLUMNS} FROM mail_events WHERE id = $1");
        Ok(
            on_pool!(self, pool => sqlx::query_as(sqlx::AssertSqlSafe(sql.as_str())).bind(id).fetch_optional(pool).await)?,
        )
    }

    /// Stores a photo's record; when it is the event's last missing photo, marks the event complete
    /// and enqueues its `event_completed` job in the same transaction. It runs the device API's
    /// group-commit write (a batch of one), so there is one copy of that SQL.
    pub async fn insert_photo(&self, p: &PhotoInsert<'_>) -> Result<PhotoStored> {
        let batch = TrafficBatch {
            photos: vec![NewPhoto {
                event_id: p.event_id.to_owned(),
                idx: p.idx,
                blob_key: p.blob_key.to_owned(),
                size_bytes: p.size_bytes,
                sha256: p.sha256.to_owned(),
                created_at: p.created_at,
                completion_job_id: p.completion_job_id.to_owned(),
            }],
            ..TrafficBatch::default()
        };
        let outcome = self.traffic_connection().await?.write(&batch).await?;
        Ok(outcome.photos[0])
    }

    /// The stored photos of an event, by index.
    pub async fn photos_of_event(&self, event_id: &str) -> Result<Vec<PhotoRow>> {
        Ok(on_pool!(self, pool => sqlx::query_as(
            "SELECT event_id, idx, blob_key, size_bytes, sha256, created_at, thumbnail_key FROM photos \
             WHERE event_id = $1 ORDER BY idx",
        )
        .bind(event_id)
        .fetch_all(pool)
        .await)?)
    }

    /// Deletes one of the owner's events in one transaction: its notification records, its
    /// photo rows, the event, and an audit entry. Usage counted for it stays counted. False (and
    /// nothing changed) when the event is not one of the owner's mailboxes'.
    pub async fn delete_mail_event(&self, d: &MailEventDeletion<'_>) -> Result<bool> {
        let deleted = on_pool!(self, pool => {
            let mut tx = pool.begin().await?;
            let owned: Option<String> = sqlx::query_scalar(
                "SELECT id FROM mail_events WHERE id = $1 \
                 AND device_id IN (SELECT id FROM devices WHERE owner_id = $2)",
            )
            .bind(d.event_id.as_str())
            .bind(d.owner_id.as_str())
            .fetch_optional(&mut *tx)
            .await?;
            if owned.is_none() {
                return Ok(false);
            }
            for sql in [
                "DELETE FROM notification_deliveries WHERE event_id = $1",
                "DELETE FROM photos WHERE event_id = $1",
                "DELETE FROM mail_events WHERE id = $1",
            ] {
                sqlx::query(sql)
                    .bind(d.event_id.as_str())
                    .execute(&mut *tx)
                    .await?;
            }
            sqlx::query(
                "INSERT INTO audit_log (at, actor, entity_type, entity_id, action, detail) \
                 VALUES ($1, $2, 'mail_event', $3, 'mail_event_deleted', $4)",
            )
            .bind(d.now)
            .bind(d.actor)
            .bind(d.event_id.as_str())
            .bind(&d.detail)
            .execute(&mut *tx)
            .await?;
            tx.commit().await?;
            true
        });
        Ok(deleted)
    }

    /// Records the thumbnail of a photo (the `event_thumbnails` job, once it is stored).
    pub async fn set_photo_thumbnail(
        &self,
        event_id: &str,
        idx: i64,
        thumbnail_key: &str,
    ) -> Result<()> {
        on_pool!(self, pool => sqlx::query(
            "UPDATE photos SET thumbnail_key = $3 WHERE event_id = $1 AND idx = $2",
        )
        .bind(event_id)
        .bind(idx)
        .bind(thumbnail_key)
        .execute(pool)
        .await
        .map(|_| ()))?;
        Ok(())
    }

    /// A device's events, newest first, before the keyset cursor `(occurred_at, id)` when given.
    pub async fn events_of_device(
        &self,
        device_id: &str,
        before: Option<(i64, &str)>,
        limit: i64,
    ) -> Result<Vec<MailEventRow>> {
        let (at, id) = before.unwrap_or((i64::MAX, ""));
        let sql = format!(
            "SELECT {EVENT_COLUMNS} FROM mail_events WHERE device_id = $1 \
             AND (occurred_at < $2 OR (occurred_at = $2 AND id < $3)) \
             ORDER BY occurred_at DESC, id DESC LIMIT $4"
        );
        Ok(
            on_pool!(self, pool => sqlx::query_as(sqlx::AssertSqlSafe(sql.as_str()))
            .bind(device_id)
            .bind(at)
            .bind(id)
            .bind(limit)
            .fetch_all(pool)
            .await)?,
        )
    }
}
