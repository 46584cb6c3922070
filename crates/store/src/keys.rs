//! Key material kept in the database: each customer's photo data key (wrapped by the master key),
//! and every value sealed with the master key, listed and replaced together when it rotates.

use crate::{Db, Result, StoreError, on_pool};

/// A customer's photo data key, as stored: wrapped by the master key.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct DataKeyRow {
    pub id: String,
    pub customer_id: String,
    pub wrapped_key: Vec<u8>,
}

/// Where a value sealed with the master key lives, and what it is bound to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SealedSlot {
    /// `devices.secret_ciphertext` of this device.
    DeviceSecret { device_id: String, serial: String },
    /// `customer_webhooks.secret_ciphertext` of this customer.
    WebhookSecret { user_id: String },
    /// `server_keys.ciphertext` of this name.
    ServerKey { name: String },
    /// `photo_data_keys.wrapped_key` of this key.
    PhotoDataKey { key_id: String },
    /// `device_wifi.sealed` of this device (the WiFi credentials from the portal).
    WifiCredentials { device_id: String },
}

/// One sealed value and where it lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SealedValue {
    pub slot: SealedSlot,
    pub ciphertext: Vec<u8>,
}

/// A photo that may still be stored in the clear, with the customer whose key should seal it.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct PhotoToSeal {
    pub event_id: String,
    pub idx: i64,
    pub blob_key: String,
    pub thumbnail_key: Option<String>,
    /// The customer whose subscription accepted the event, else the mailbox's owner.
    pub customer_id: Option<String>,
}

impl Db {
    /// The customer's data key, inserting `candidate` first if they have none (two writers
    /// racing keep the first one).
    pub async fn photo_data_key_or_insert(
        &self,
        candidate: &DataKeyRow,
        now: i64,
    ) -> Result<DataKeyRow> {
        on_pool!(self, pool => sqlx::query(
            "INSERT INTO photo_data_keys (id, customer_id, wrapped_key, created_at) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (customer_id) DO NOTHING",
        )
        .bind(&candidate.id)
        .bind(&candidate.customer_id)
        .bind(&candidate.wrapped_key)
        .bind(now)
        .execute(pool)
        .await
        .map(|_| ()))?;
        Ok(on_pool!(self, pool => sqlx::query_as(
            "SELECT id, customer_id, wrapped_key FROM photo_data_keys WHERE customer_id = $1",
        )
        .bind(&candidate.customer_id)
        .fetch_one(pool)
        .await)?)
    }

    /// The data key with this id.
    pub async fn photo_data_key(&self, id: &str) -> Result<Option<DataKeyRow>> {
        Ok(on_pool!(self, pool => sqlx::query_as(
            "SELECT id, customer_id, wrapped_key FROM photo_data_keys WHERE id = $1",
        )
        .bind(id)
        .fetch_optional(pool)
        .await)?)
    }

    /// The customer whose photos of this event are: the one whose subscription accepted it, else
    /// the mailbox's owner.
    pub async fn photo_owner_of_event(&self, event_id: &str) -> Result<Option<String>> {
        let row: Option<(Option<String>,)> = on_pool!(self, pool => sqlx::query_as(
            "SELECT COALESCE(s.customer_id, d.owner_id) FROM mail_events e \
             JOIN devices d ON d.id = e.device_id \
             LEFT JOIN subscriptions s ON s.id = e.subscription_id WHERE e.id = $1",
        )
        .bind(event_id)
        .fetch_optional(pool)
        .await)?;
        Ok(row.and_then(|(owner,)| owner))
    }

    /// Photos after `(event_id, idx)` in key order, at most `limit`, with their owner.
    pub async fn photos_to_seal(
        &self,
        after: Option<(&str, i64)>,
        limit: i64,
    ) -> Result<Vec<PhotoToSeal>> {
        let (event_id, idx) = after.unwrap_or(("", -1));
        Ok(on_pool!(self, pool => sqlx::query_as(
            "SELECT p.event_id, p.idx, p.blob_key, p.thumbnail_key, COALESCE(s.customer_id, d.owner_id) AS customer_id \
             FROM photos p JOIN mail_events e ON e.id = p.event_id \
             JOIN devices d ON d.id = e.device_id \
             LEFT JOIN subscriptions s ON s.id = e.subscription_id \
             WHERE p.event_id > $1 OR (p.event_id = $1 AND p.idx > $2) \
             ORDER BY p.event_id, p.idx LIMIT $3",
        )
        .bind(event_id)
        .bind(idx)
        .bind(limit)
        .fetch_all(pool)
        .await)?)
    }

    /// One device's serial and sealed secret, if any device exists: enough to tell whether a
    /// master key is the one the devices were sealed with.
    pub async fn any_device_secret(&self) -> Result<Option<(String, Vec<u8>)>> {
        Ok(on_pool!(self, pool => sqlx::query_as(
            "SELECT serial, secret_ciphertext FROM devices ORDER BY created_at LIMIT 1",
        )
        .fetch_optional(pool)
        .await)?)
    }

    /// Every value sealed with the master key.
    pub async fn sealed_values(&self) -> Result<Vec<SealedValue>> {
        let devices: Vec<(String, String, Vec<u8>)> = on_pool!(self, pool => sqlx::query_as(
            "SELECT id, serial, secret_ciphertext FROM devices ORDER BY id",
        )
        .fetch_all(pool)
        .await)?;
        let webhooks: Vec<(String, Vec<u8>)> = on_pool!(self, pool => sqlx::query_as(
            "SELECT user_id, secret_ciphertext FROM customer_webhooks ORDER BY user_id",
        )
        .fetch_all(pool)
        .await)?;
        let server_keys: Vec<(String, Vec<u8>)> = on_pool!(self, pool => sqlx::query_as(
            "SELECT name, ciphertext FROM server_keys ORDER BY name",
        )
        .fetch_all(pool)
        .await)?;
        let data_keys: Vec<(String, Vec<u8>)> = on_pool!(self, pool => sqlx::query_as(
            "SELECT id, wrapped_key FROM photo_data_keys ORDER BY id",
        )
        .fetch_all(pool)
        .await)?;
        let wifi: Vec<(String, Vec<u8>)> = on_pool!(self, pool => sqlx::query_as(
            "SELECT device_id, sealed FROM device_wifi ORDER BY device_id",
        )
        .fetch_all(pool)
        .await)?;
        let devices = devices
            .into_iter()
            .map(|(device_id, serial, ciphertext)| SealedValue {
                slot: SealedSlot::DeviceSecret { device_id, serial },
                ciphertext,
            });
        let webhooks = webhooks
            .into_iter()
            .map(|(user_id, ciphertext)| SealedValue {
                slot: SealedSlot::WebhookSecret { user_id },
                ciphertext,
            });
        let server_keys = server_keys
            .into_iter()
            .map(|(name, ciphertext)| SealedValue {
                slot: SealedSlot::ServerKey { name },
                ciphertext,
            });
        let data_keys = data_keys
            .into_iter()
            .map(|(key_id, ciphertext)| SealedValue {
                slot: SealedSlot::PhotoDataKey { key_id },
                ciphertext,
            });
        let wifi = wifi.into_iter().map(|(device_id, ciphertext)| SealedValue {
            slot: SealedSlot::WifiCredentials { device_id },
            ciphertext,
        });
        Ok(devices
            .chain(wifi)
            .chain(webhooks)
            .chain(server_keys)
            .chain(data_keys)
            .collect())
    }

    /// Replaces sealed values in one transaction: each `(old, new)` pair's slot must still hold
    /// `old`, or nothing is written and the answer is a [`StoreError::Conflict`] naming the slot.
    pub async fn replace_sealed_values(&self, pairs: &[(SealedValue, Vec<u8>)]) -> Result<()> {
        on_pool!(self, pool => {
            let mut tx = pool.begin().await?;
            for (old, new) in pairs {
                let (sql, id) = match &old.slot {
                    SealedSlot::DeviceSecret { device_id, .. } => (
                        "UPDATE devices SET secret_ciphertext = $1 WHERE id = $2 AND secret_ciphertext = $3",
                        device_id,
                    ),
                    SealedSlot::WebhookSecret { user_id } => (
                        "UPDATE customer_webhooks SET secret_ciphertext = $1 WHERE user_id = $2 AND secret_ciphertext = $3",
                        user_id,
                    ),
                    SealedSlot::ServerKey { name } => (
                        "UPDATE server_keys SET ciphertext = $1 WHERE name = $2 AND ciphertext = $3",
                        name,
                    ),
                    SealedSlot::PhotoDataKey { key_id } => (
                        "UPDATE photo_data_keys SET wrapped_key = $1 WHERE id = $2 AND wrapped_key = $3",
                        key_id,
                    ),
                    SealedSlot::WifiCredentials { device_id } => (
                        "UPDATE device_wifi SET sealed = $1 WHERE device_id = $2 AND sealed = $3",
                        device_id,
                    ),
                };
                let updated = sqlx::query(sql)
                    .bind(new)
                    .bind(id)
                    .bind(&old.ciphertext)
                    .execute(&mut *tx)
                    .await?
                    .rows_affected();
                if updated != 1 {
                    return Err(StoreError::Conflict(format!("{:?} changed meanwhile", old.slot)));
                }
            }
            tx.commit().await?;
        });
        Ok(())
    }
}
