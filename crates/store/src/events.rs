//! Mail events reported by devices and their photos. Both are idempotent by the device's ids, and
//! the event completes (enqueuing its `event_completed` job) exactly once, in the same transaction
//! as the photo that completes it.

use crate::jobs::INSERT_JOB_SQL;
use crate::{Db, Result, on_pool};

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
    category, completed_at, created_at";

/// The job kind enqueued when every photo of an event is stored.
pub const EVENT_COMPLETED_JOB: &str = "event_completed";

impl Db {
    /// Inserts an event; false (and nothing changed) when an event with this id already exists.
    /// An event without photos completes at once, enqueuing its `event_completed` job.
    pub async fn insert_event(&self, e: &EventInsert<'_>, completion_job_id: &str) -> Result<bool> {
        let payload = serde_json::json!({ "event_id": e.id }).to_string();
        let unique_key = format!("{EVENT_COMPLETED_JOB}:{}", e.id);
        let completed_at = (e.photo_count == 0).then_some(e.created_at);
        let new = on_pool!(self, pool => {
            let mut tx = pool.begin().await?;
            let inserted = sqlx::query(
                "INSERT INTO mail_events (id, device_id, subscription_id, kind, occurred_at, photo_count, \
                 completed_at, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (id) DO NOTHING",
            )
            .bind(e.id)
            .bind(e.device_id)
            .bind(e.subscription_id)
            .bind(e.kind)
            .bind(e.occurred_at)
            .bind(e.photo_count)
            .bind(completed_at)
            .bind(e.created_at)
            .execute(&mut *tx)
            .await?
            .rows_affected()
                == 1;
            if inserted && completed_at.is_some() {
                sqlx::query(INSERT_JOB_SQL)
                    .bind(completion_job_id)
                    .bind(EVENT_COMPLETED_JOB)
                    .bind(&payload)
                    .bind(&unique_key)
                    .bind(e.created_at)
                    .bind(25_i64)
                    .execute(&mut *tx)
                    .await?;
            }
            tx.commit().await?;
            inserted
        });
        Ok(new)
    }

    /// The event with this id.
    pub async fn event_by_id(&self, id: &str) -> Result<Option<MailEventRow>> {
        let sql = format!("SELECT {EVENT_COLUMNS} FROM mail_events WHERE id = $1");
        Ok(
            on_pool!(self, pool => sqlx::query_as(sqlx::AssertSqlSafe(sql.as_str())).bind(id).fetch_optional(pool).await)?,
        )
    }

    /// Stores a photo's record; when it is the event's last missing photo, marks the event complete
    /// and enqueues its `event_completed` job in the same transaction.
    pub async fn insert_photo(&self, p: &PhotoInsert<'_>) -> Result<PhotoStored> {
        let payload = serde_json::json!({ "event_id": p.event_id }).to_string();
        let unique_key = format!("{EVENT_COMPLETED_JOB}:{}", p.event_id);
        let stored = on_pool!(self, pool => {
            let mut tx = pool.begin().await?;
            let new = sqlx::query(
                "INSERT INTO photos (event_id, idx, blob_key, size_bytes, sha256, created_at) \
                 VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (event_id, idx) DO NOTHING",
            )
            .bind(p.event_id)
            .bind(p.idx)
            .bind(p.blob_key)
            .bind(p.size_bytes)
            .bind(p.sha256)
            .bind(p.created_at)
            .execute(&mut *tx)
            .await?
            .rows_affected()
                == 1;
            let mut completed_event = false;
            if new {
                completed_event = sqlx::query(
                    "UPDATE mail_events SET photos_received = photos_received + 1, \
                     completed_at = CASE WHEN photos_received + 1 >= photo_count THEN $2 ELSE completed_at END \
                     WHERE id = $1 AND completed_at IS NULL AND photos_received + 1 >= photo_count",
                )
                .bind(p.event_id)
                .bind(p.created_at)
                .execute(&mut *tx)
                .await?
                .rows_affected()
                    == 1;
                if !completed_event {
                    sqlx::query("UPDATE mail_events SET photos_received = photos_received + 1 WHERE id = $1")
                        .bind(p.event_id)
                        .execute(&mut *tx)
                        .await?;
                } else {
                    sqlx::query(INSERT_JOB_SQL)
                        .bind(p.completion_job_id)
                        .bind(EVENT_COMPLETED_JOB)
                        .bind(&payload)
                        .bind(&unique_key)
                        .bind(p.created_at)
                        .bind(25_i64)
                        .execute(&mut *tx)
                        .await?;
                }
            }
            tx.commit().await?;
            PhotoStored { new, completed_event }
        });
        Ok(stored)
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
