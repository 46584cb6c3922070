//! What the customer portal reads and the preferences it writes. Every read is scoped to the owner
//! in SQL, so another customer's id finds nothing (the pages answer 404).

use crate::{Db, MailEventRow, Result, on_pool};

/// Turns a mailbox's notification channel on or off (also a [`crate::changes::Change`]).
pub(crate) const SET_NOTIFICATION_PREF_SQL: &str = "INSERT INTO notification_prefs (device_id, channel, enabled) VALUES ($1, $2, $3) \
     ON CONFLICT (device_id, channel) DO UPDATE SET enabled = excluded.enabled";

/// Sets a user's time zone and quiet hours (also a [`crate::changes::Change`]).
pub(crate) const SET_USER_PREFERENCES_SQL: &str =
    "UPDATE users SET time_zone = $2, quiet_start_min = $3, quiet_end_min = $4 WHERE id = $1";

/// A mail event with the mailbox it came from, for the gallery.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct GalleryRow {
    pub id: String,
    pub device_id: String,
    pub device_name: String,
    pub device_serial: String,
    pub kind: String,
    pub occurred_at: i64,
    pub photo_count: i64,
    pub photos_received: i64,
    pub category: Option<String>,
    pub mail_kind: Option<String>,
    pub category_confidence: Option<i64>,
    pub corrected_at: Option<i64>,
}

/// The gallery's filters; `None` = any.
#[derive(Debug, Clone, Default)]
pub struct GalleryFilter<'a> {
    pub device_id: Option<&'a str>,
    /// Events at or after (epoch ms).
    pub from: Option<i64>,
    /// Events before (epoch ms).
    pub until: Option<i64>,
    /// A category name, or [`UNCATEGORISED`] for events without one.
    pub category: Option<&'a str>,
    /// A mail kind name (delivery, collection, false_trigger).
    pub kind: Option<&'a str>,
    /// Keyset cursor: events strictly older than `(occurred_at, id)`.
    pub before: Option<(i64, &'a str)>,
}

/// Parses a gallery keyset cursor `<occurred_at>~<id>` (what [`GalleryFilter::before`] holds,
/// as pages and the API pass it around).
pub fn parse_gallery_cursor(text: &str) -> Option<(i64, &str)> {
    let (at, id) = text.split_once('~')?;
    Some((at.parse().ok()?, id))
}

/// The category filter value meaning "not categorised yet".
pub const UNCATEGORISED: &str = "uncategorised";

/// Changes that the live dashboard watches for: the newest event, the newest photo and the newest
/// heartbeat across a customer's mailboxes (epoch ms, 0 when none).
#[derive(Debug, Clone, Copy, PartialEq, Eq, sqlx::FromRow)]
pub struct ActivityMark {
    pub last_event_at: i64,
    pub last_photo_at: i64,
    pub last_seen_at: i64,
}

const EVENT_COLUMNS: &str = "e.id, e.device_id, e.subscription_id, e.kind, e.occurred_at, e.photo_count, \
    e.photos_received, e.category, e.completed_at, e.created_at, e.mail_kind, e.category_confidence, e.corrected_at";

impl Db {
    /// One page of the owner's mail events, newest first, matching `filter`.
    pub async fn gallery_page(
        &self,
        owner_id: &str,
        filter: &GalleryFilter<'_>,
        limit: i64,
    ) -> Result<Vec<GalleryRow>> {
        let (at, id) = filter.before.unwrap_or((i64::MAX, ""));
        let category_clause = match filter.category {
            None => "$6 = ''",
            Some(UNCATEGORISED) => "($6 = '' AND e.category IS NULL)",
            Some(_) => "e.category = $6",
        };
        let sql = format!(
            "SELECT e.id, e.device_id, d.name AS device_name, d.serial AS device_serial, e.kind, e.occurred_at, \
             e.photo_count, e.photos_received, e.category, e.mail_kind, e.category_confidence, e.corrected_at \
             FROM mail_events e JOIN devices d ON d.id = e.device_id \
             LEFT JOIN subscriptions s ON s.id = e.subscription_id \
             WHERE d.owner_id = $1 AND (s.customer_id IS NULL OR s.customer_id = $1) AND ($2 = '' OR e.device_id = $2) AND e.occurred_at >= $3 AND e.occurred_at < $4 \
             AND {category_clause} AND ($9 = '' OR e.mail_kind = $9) \
             AND (e.occurred_at < $5 OR (e.occurred_at = $5 AND e.id < $7)) \
             ORDER BY e.occurred_at DESC, e.id DESC LIMIT $8"
        );
        let category = match filter.category {
            Some(UNCATEGORISED) | None => "",
            Some(c) => c,
        };
        Ok(
            on_pool!(self, pool => sqlx::query_as(sqlx::AssertSqlSafe(sql.as_str()))
            .bind(owner_id)
            .bind(filter.device_id.unwrap_or(""))
            .bind(filter.from.unwrap_or(i64::MIN))
            .bind(filter.until.unwrap_or(i64::MAX))
            .bind(at)
            .bind(category)
            .bind(id)
            .bind(limit)
            .bind(filter.kind.unwrap_or(""))
            .fetch_all(pool)
            .await)?,
        )
    }

    /// The id of the owner's event that comes right after (`occurred_at`, `id`) in time: the
    /// "newer" neighbour of an event page (the older one is a [`Db::gallery_page`] of one).
    pub async fn newer_event_of_owner(
        &self,
        owner_id: &str,
        occurred_at: i64,
        id: &str,
    ) -> Result<Option<String>> {
        Ok(on_pool!(self, pool => sqlx::query_scalar(
            "SELECT e.id FROM mail_events e JOIN devices d ON d.id = e.device_id \
             WHERE d.owner_id = $1 AND (e.occurred_at > $2 OR (e.occurred_at = $2 AND e.id > $3)) \
             ORDER BY e.occurred_at, e.id LIMIT 1",
        )
        .bind(owner_id)
        .bind(occurred_at)
        .bind(id)
        .fetch_optional(pool)
        .await)?)
    }

    /// The event with this id if one of the owner's mailboxes reported it.
    pub async fn event_of_owner(
        &self,
        owner_id: &str,
        event_id: &str,
    ) -> Result<Option<MailEventRow>> {
        let sql = format!(
            "SELECT {EVENT_COLUMNS} FROM mail_events e JOIN devices d ON d.id = e.device_id \
             LEFT JOIN subscriptions s ON s.id = e.subscription_id \
             WHERE e.id = $1 AND d.owner_id = $2 AND (s.customer_id IS NULL OR s.customer_id = $2)"
        );
        Ok(
            on_pool!(self, pool => sqlx::query_as(sqlx::AssertSqlSafe(sql.as_str()))
            .bind(event_id)
            .bind(owner_id)
            .fetch_optional(pool)
            .await)?,
        )
    }

    /// What changed last across the owner's mailboxes (see [`ActivityMark`]).
    pub async fn activity_mark(&self, owner_id: &str) -> Result<ActivityMark> {
        Ok(on_pool!(self, pool => sqlx::query_as(
            "SELECT \
             COALESCE((SELECT MAX(e.created_at) FROM mail_events e JOIN devices d ON d.id = e.device_id WHERE d.owner_id = $1), 0) AS last_event_at, \
             COALESCE((SELECT MAX(p.created_at) FROM photos p JOIN mail_events e ON e.id = p.event_id \
                       JOIN devices d ON d.id = e.device_id WHERE d.owner_id = $1), 0) AS last_photo_at, \
             COALESCE((SELECT MAX(v.recorded_at) FROM device_latest_vitals v \
                       JOIN devices d ON d.id = v.device_id WHERE d.owner_id = $1), 0) AS last_seen_at",
        )
        .bind(owner_id)
        .fetch_one(pool)
        .await)?)
    }

    /// A device's notification channels that have a stored choice: `(channel, enabled)`.
    pub async fn notification_prefs(&self, device_id: &str) -> Result<Vec<(String, bool)>> {
        Ok(on_pool!(self, pool => sqlx::query_as(
            "SELECT channel, enabled FROM notification_prefs WHERE device_id = $1 ORDER BY channel",
        )
        .bind(device_id)
        .fetch_all(pool)
        .await)?)
    }

    /// Turns a device's channel on or off.
    pub async fn set_notification_pref(
        &self,
        device_id: &str,
        channel: &str,
        enabled: bool,
    ) -> Result<()> {
        on_pool!(self, pool => sqlx::query(SET_NOTIFICATION_PREF_SQL)
        .bind(device_id)
        .bind(channel)
        .bind(enabled)
        .execute(pool)
        .await
        .map(|_| ()))?;
        Ok(())
    }

    /// The user's quiet hours as minutes after local midnight `(start, end)`.
    pub async fn quiet_hours(&self, user_id: &str) -> Result<(Option<i64>, Option<i64>)> {
        let row: Option<(Option<i64>, Option<i64>)> = on_pool!(self, pool => sqlx::query_as(
            "SELECT quiet_start_min, quiet_end_min FROM users WHERE id = $1",
        )
        .bind(user_id)
        .fetch_optional(pool)
        .await)?;
        Ok(row.unwrap_or((None, None)))
    }

    /// Sets the user's time zone and quiet hours.
    pub async fn set_user_preferences(
        &self,
        user_id: &str,
        time_zone: &str,
        quiet: (Option<i64>, Option<i64>),
    ) -> Result<()> {
        on_pool!(self, pool => sqlx::query(SET_USER_PREFERENCES_SQL)
        .bind(user_id)
        .bind(time_zone)
        .bind(quiet.0)
        .bind(quiet.1)
        .execute(pool)
        .await
        .map(|_| ()))?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::parse_gallery_cursor;

    #[test]
    fn a_cursor_is_the_time_and_id_of_the_last_event_shown() {
        assert_eq!(parse_gallery_cursor("12~abc"), Some((12, "abc")));
        assert_eq!(parse_gallery_cursor("x~abc"), None);
    }
}
