//! Notification delivery records and customers' outbound webhooks.
//!
//! A delivery record is one (event, channel, destination): created once (the unique key makes a
//! repeated fan-out find the same row, and so the same id, which is the delivery key the peers
//! see), then moved by the delivery job. A record that reached `delivered` or `failed` never
//! changes again, so a retried or duplicated job cannot send twice.

use crate::devices::DEVICE_FROM;
use crate::{Db, Result, on_pool};

/// Turns a user's morning digest on or off (also a [`crate::changes::Change`]).
pub(crate) const SET_DIGEST_ENABLED_SQL: &str = "INSERT INTO notification_digests (user_id, enabled, updated_at) VALUES ($1, $2, $3) \
     ON CONFLICT (user_id) DO UPDATE SET enabled = excluded.enabled, updated_at = excluded.updated_at";

/// Record statuses.
pub mod delivery_status {
    /// Created; the delivery job has not succeeded yet (it may be retrying).
    pub const ATTEMPTED: &str = "attempted";
    /// Waiting for the end of the customer's quiet hours.
    pub const HELD: &str = "held";
    pub const DELIVERED: &str = "delivered";
    pub const FAILED: &str = "failed";
}

/// One delivery as stored.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct DeliveryRow {
    pub id: String,
    pub event_id: String,
    pub user_id: String,
    pub channel: String,
    pub destination: String,
    pub status: String,
    pub reason: Option<String>,
    pub attempts: i64,
    pub created_at: i64,
    pub updated_at: i64,
}

impl DeliveryRow {
    /// Delivered or failed for good: nothing more is sent for it.
    pub fn is_settled(&self) -> bool {
        matches!(
            self.status.as_str(),
            delivery_status::DELIVERED | delivery_status::FAILED
        )
    }
}

/// A delivery about to be recorded.
#[derive(Debug, Clone)]
pub struct NewDelivery<'a> {
    pub id: &'a str,
    pub event_id: &'a str,
    pub user_id: &'a str,
    pub channel: &'a str,
    pub destination: &'a str,
    /// `attempted`, or `held` during quiet hours.
    pub status: &'a str,
    pub created_at: i64,
}

/// A customer's webhook as stored.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct WebhookRow {
    pub user_id: String,
    pub url: String,
    pub secret_ciphertext: Vec<u8>,
    pub created_at: i64,
}

/// Sets (or replaces) a customer's webhook: `$1` user, `$2` URL, `$3` sealed secret, `$4` at.
pub(crate) const SET_CUSTOMER_WEBHOOK_SQL: &str = "INSERT INTO customer_webhooks (user_id, url, secret_ciphertext, created_at) \
     VALUES ($1, $2, $3, $4) ON CONFLICT (user_id) DO UPDATE SET url = excluded.url, \
     secret_ciphertext = excluded.secret_ciphertext, created_at = excluded.created_at";

/// Stores a browser's push subscription (a known endpoint moves to this customer with new keys).
pub(crate) const SAVE_PUSH_SUBSCRIPTION_SQL: &str = "INSERT INTO push_subscriptions (endpoint, user_id, p256dh, auth, created_at) \
     VALUES ($1, $2, $3, $4, $5) ON CONFLICT (endpoint) DO UPDATE SET user_id = excluded.user_id, \
     p256dh = excluded.p256dh, auth = excluded.auth, created_at = excluded.created_at";

/// Forgets one push subscription of a customer: `$1` user, `$2` endpoint.
pub(crate) const DELETE_PUSH_SUBSCRIPTION_SQL: &str =
    "DELETE FROM push_subscriptions WHERE user_id = $1 AND endpoint = $2";

const DELIVERY_COLUMNS: &str = "id, event_id, user_id, channel, destination, status, reason, attempts, \
    created_at, updated_at";

impl Db {
    /// Records a delivery unless (event, channel, destination) already has one; answers the stored
    /// record either way.
    pub async fn record_delivery(&self, d: &NewDelivery<'_>) -> Result<DeliveryRow> {
        on_pool!(self, pool => sqlx::query(
            "INSERT INTO notification_deliveries (id, event_id, user_id, channel, destination, status, \
             created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $7) \
             ON CONFLICT (event_id, channel, destination) DO NOTHING",
        )
        .bind(d.id)
        .bind(d.event_id)
        .bind(d.user_id)
        .bind(d.channel)
        .bind(d.destination)
        .bind(d.status)
        .bind(d.created_at)
        .execute(pool)
        .await
        .map(|_| ()))?;
        let sql = format!(
            "SELECT {DELIVERY_COLUMNS} FROM notification_deliveries \
             WHERE event_id = $1 AND channel = $2 AND destination = $3"
        );
        Ok(
            on_pool!(self, pool => sqlx::query_as(sqlx::AssertSqlSafe(sql.as_str()))
            .bind(d.event_id)
            .bind(d.channel)
            .bind(d.destination)
            .fetch_one(pool)
            .await)?,
        )
    }

    /// The delivery with this id.
    pub async fn delivery_by_id(&self, id: &str) -> Result<Option<DeliveryRow>> {
        let sql = format!("SELECT {DELIVERY_COLUMNS} FROM notification_deliveries WHERE id = $1");
        Ok(
            on_pool!(self, pool => sqlx::query_as(sqlx::AssertSqlSafe(sql.as_str()))
            .bind(id)
            .fetch_optional(pool)
            .await)?,
        )
    }

    /// Records the result of one attempt on unsettled deliveries (one, or every one a quiet-hours
    /// release merged): `status` and `reason`, one more attempt. Settled records are left alone;
    /// answers how many changed.
    pub async fn settle_deliveries(
        &self,
        ids: &[&str],
        status: &str,
        reason: Option<&str>,
        now: i64,
    ) -> Result<u64> {
        if ids.is_empty() {
            return Ok(0);
        }
        let placeholders: Vec<String> = (0..ids.len()).map(|i| format!("${}", i + 4)).collect();
        let sql = format!(
            "UPDATE notification_deliveries SET status = $1, reason = $2, attempts = attempts + 1, \
             updated_at = $3 WHERE status IN ('attempted', 'held') AND id IN ({})",
            placeholders.join(", ")
        );
        let changed = on_pool!(self, pool => {
            let mut query = sqlx::query(sqlx::AssertSqlSafe(sql.as_str()))
                .bind(status)
                .bind(reason)
                .bind(now);
            for id in ids {
                query = query.bind(*id);
            }
            query.execute(pool).await?.rows_affected()
        });
        Ok(changed)
    }

    /// The deliveries held by quiet hours for one destination, created before `until`, oldest
    /// first.
    pub async fn held_deliveries(
        &self,
        user_id: &str,
        channel: &str,
        destination: &str,
        until: i64,
    ) -> Result<Vec<DeliveryRow>> {
        let sql = format!(
            "SELECT {DELIVERY_COLUMNS} FROM notification_deliveries WHERE user_id = $1 AND channel = $2 \
             AND destination = $3 AND status = 'held' AND created_at <= $4 ORDER BY created_at, id"
        );
        Ok(
            on_pool!(self, pool => sqlx::query_as(sqlx::AssertSqlSafe(sql.as_str()))
            .bind(user_id)
            .bind(channel)
            .bind(destination)
            .bind(until)
            .fetch_all(pool)
            .await)?,
        )
    }

    /// A customer's latest deliveries on one channel, newest first (the settings page's log).
    pub async fn deliveries_of_user(
        &self,
        user_id: &str,
        channel: &str,
        limit: i64,
    ) -> Result<Vec<DeliveryRow>> {
        let sql = format!(
            "SELECT {DELIVERY_COLUMNS} FROM notification_deliveries WHERE user_id = $1 AND channel = $2 \
             ORDER BY created_at DESC, id DESC LIMIT $3"
        );
        Ok(
            on_pool!(self, pool => sqlx::query_as(sqlx::AssertSqlSafe(sql.as_str()))
            .bind(user_id)
            .bind(channel)
            .bind(limit)
            .fetch_all(pool)
            .await)?,
        )
    }

    /// A customer's latest deliveries on every channel, newest first (their admin page).
    pub async fn recent_deliveries_of_user(
        &self,
        user_id: &smartbox_domain::UserId,
        limit: i64,
    ) -> Result<Vec<DeliveryRow>> {
        let sql = format!(
            "SELECT {DELIVERY_COLUMNS} FROM notification_deliveries WHERE user_id = $1 \
             ORDER BY created_at DESC, id DESC LIMIT $2"
        );
        Ok(
            on_pool!(self, pool => sqlx::query_as(sqlx::AssertSqlSafe(sql.as_str()))
            .bind(user_id.as_str())
            .bind(limit)
            .fetch_all(pool)
            .await)?,
        )
    }

    /// The deliveries of one event.
    pub async fn deliveries_of_event(&self, event_id: &str) -> Result<Vec<DeliveryRow>> {
        let sql = format!(
            "SELECT {DELIVERY_COLUMNS} FROM notification_deliveries WHERE event_id = $1 \
             ORDER BY channel, destination"
        );
        Ok(
            on_pool!(self, pool => sqlx::query_as(sqlx::AssertSqlSafe(sql.as_str()))
            .bind(event_id)
            .fetch_all(pool)
            .await)?,
        )
    }

    /// The customer's webhook, if they set one.
    pub async fn customer_webhook(&self, user_id: &str) -> Result<Option<WebhookRow>> {
        Ok(on_pool!(self, pool => sqlx::query_as(
            "SELECT user_id, url, secret_ciphertext, created_at FROM customer_webhooks WHERE user_id = $1",
        )
        .bind(user_id)
        .fetch_optional(pool)
        .await)?)
    }
}

/// What Home Assistant shows of a mailbox's latest heartbeat.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct MailboxStatusRow {
    pub serial: String,
    pub name: String,
    pub firmware_version: Option<String>,
    pub battery_percentage: Option<i64>,
    pub signal_dbm: Option<i64>,
}

impl Db {
    /// Owned mailboxes that reported at or after `since` (epoch ms), by serial.
    pub async fn mailbox_status_since(&self, since: i64) -> Result<Vec<MailboxStatusRow>> {
        let sql = format!(
            "SELECT d.serial, d.name, v.firmware_version, v.battery_percentage, v.signal_dbm FROM {DEVICE_FROM} \
             WHERE d.owner_id IS NOT NULL AND v.recorded_at >= $1 ORDER BY d.serial"
        );
        Ok(
            on_pool!(self, pool => sqlx::query_as(sqlx::AssertSqlSafe(sql.as_str()))
        .bind(since)
        .fetch_all(pool)
        .await)?,
        )
    }
}

impl Db {
    /// Whether the customer asked for the morning digest.
    pub async fn digest_enabled(&self, user_id: &str) -> Result<bool> {
        let row: Option<(bool,)> = on_pool!(self, pool => sqlx::query_as(
            "SELECT enabled FROM notification_digests WHERE user_id = $1",
        )
        .bind(user_id)
        .fetch_optional(pool)
        .await)?;
        Ok(row.is_some_and(|(enabled,)| enabled))
    }

    /// Turns the customer's morning digest on or off.
    pub async fn set_digest_enabled(&self, user_id: &str, enabled: bool, now: i64) -> Result<()> {
        on_pool!(self, pool => sqlx::query(SET_DIGEST_ENABLED_SQL)
        .bind(user_id)
        .bind(enabled)
        .bind(now)
        .execute(pool)
        .await
        .map(|_| ()))?;
        Ok(())
    }

    /// The customers who asked for the morning digest: `(user id, time zone)`.
    pub async fn digest_subscribers(&self) -> Result<Vec<(String, String)>> {
        Ok(on_pool!(self, pool => sqlx::query_as(
            "SELECT u.id, u.time_zone FROM notification_digests n JOIN users u ON u.id = n.user_id \
             WHERE n.enabled ORDER BY u.id",
        )
        .fetch_all(pool)
        .await)?)
    }
}

/// A browser's push subscription as stored.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct PushSubscriptionRow {
    pub endpoint: String,
    pub user_id: String,
    pub p256dh: String,
    pub auth: String,
    pub created_at: i64,
}

impl Db {
    /// The customer's push subscriptions, oldest first.
    pub async fn push_subscriptions_of_user(
        &self,
        user_id: &str,
    ) -> Result<Vec<PushSubscriptionRow>> {
        Ok(on_pool!(self, pool => sqlx::query_as(
            "SELECT endpoint, user_id, p256dh, auth, created_at FROM push_subscriptions \
             WHERE user_id = $1 ORDER BY created_at, endpoint",
        )
        .bind(user_id)
        .fetch_all(pool)
        .await)?)
    }

    /// Forgets a subscription of this customer that is gone at the push service (a customer's
    /// own unsubscribe is [`crate::changes::Change::DeletePushSubscription`]).
    pub async fn delete_push_subscription(&self, user_id: &str, endpoint: &str) -> Result<()> {
        on_pool!(self, pool => sqlx::query(DELETE_PUSH_SUBSCRIPTION_SQL)
        .bind(user_id)
        .bind(endpoint)
        .execute(pool)
        .await
        .map(|_| ()))?;
        Ok(())
    }

    /// The server key `name`, storing `candidate` first if there is none yet: every process
    /// (and every race between them) ends up with the same key.
    pub async fn server_key_or_insert(
        &self,
        name: &str,
        candidate: &[u8],
        now: i64,
    ) -> Result<Vec<u8>> {
        on_pool!(self, pool => sqlx::query(
            "INSERT INTO server_keys (name, ciphertext, created_at) VALUES ($1, $2, $3) \
             ON CONFLICT (name) DO NOTHING",
        )
        .bind(name)
        .bind(candidate)
        .bind(now)
        .execute(pool)
        .await
        .map(|_| ()))?;
        let (key,): (Vec<u8>,) = on_pool!(self, pool => sqlx::query_as(
            "SELECT ciphertext FROM server_keys WHERE name = $1",
        )
        .bind(name)
        .fetch_one(pool)
        .await)?;
        Ok(key)
    }
}
