//! Mailboxes: identity and credentials from manufacture, ownership, lifecycle and latest vitals.

use smartbox_domain::{DeviceId, LifecycleState, UserId};

use crate::{Db, Result, StoreError, on_pool};

/// A device as stored. `secret_ciphertext` is the device secret sealed with the master key.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct DeviceRow {
    pub id: String,
    pub serial: String,
    pub secret_ciphertext: Vec<u8>,
    pub claim_code_hash: String,
    pub owner_id: Option<String>,
    #[sqlx(try_from = "String")]
    pub lifecycle_state: LifecycleState,
    pub power_state: String,
    pub battery_percentage: Option<i64>,
    pub firmware_version: Option<String>,
    pub name: String,
    pub location: String,
    pub signal_dbm: Option<i64>,
    pub network: Option<String>,
    pub sd_queue_len: Option<i64>,
    /// Seconds since the oldest event held on SD happened, at the last heartbeat.
    pub sd_oldest_age_s: Option<i64>,
    /// Deliveries that failed since the SD queue was last empty, at the last heartbeat.
    pub sd_failed_deliveries: Option<i64>,
    pub modem_tx_bytes: Option<i64>,
    pub modem_rx_bytes: Option<i64>,
    pub checkin_interval_s: i64,
    pub last_seen_at: Option<i64>,
    pub activated_at: Option<i64>,
    pub claimed_at: Option<i64>,
    pub created_at: i64,
}

/// A device made at the factory, in `pre_activation`.
#[derive(Debug, Clone)]
pub struct NewDevice {
    pub id: String,
    pub serial: String,
    pub secret_ciphertext: Vec<u8>,
    pub claim_code_hash: String,
    pub created_at: i64,
}

/// A device's columns with its latest vitals, which are its newest row of the vitals series (see
/// [`DEVICE_FROM`]); a device never heard from has none, and sleeps.
pub(crate) const DEVICE_COLUMNS: &str = "d.id, d.serial, d.secret_ciphertext, d.claim_code_hash, d.owner_id, d.lifecycle_state, \
    COALESCE(v.power_state, 'sleep') AS power_state, v.battery_percentage, v.firmware_version, d.name, d.location, \
    v.signal_dbm, v.network, v.sd_queue_len, v.sd_oldest_age_s, v.sd_failed_deliveries, v.modem_tx_bytes, v.modem_rx_bytes, d.checkin_interval_s, \
    v.recorded_at AS last_seen_at, d.activated_at, d.claimed_at, d.created_at";

/// Gives a `pre_activation` device to its owner and makes it `active_subscription` (also a
/// [`crate::changes::Change`]).
pub(crate) const CLAIM_DEVICE_SQL: &str = "UPDATE devices SET owner_id = $2, \
    lifecycle_state = 'active_subscription', claimed_at = $3, activated_at = $3 \
    WHERE id = $1 AND lifecycle_state = 'pre_activation'";

/// Devices `d` joined to their newest vitals `v`, which a trigger on the series keeps (migration
/// 0024). The heartbeat writes only the series, so it never rewrites the device row.
pub(crate) const DEVICE_FROM: &str =
    "devices d LEFT JOIN device_latest_vitals v ON v.device_id = d.id";

impl Db {
    /// Inserts factory devices in one transaction: all or none. A serial already known is a
    /// [`StoreError::Conflict`] naming that serial.
    pub async fn insert_devices(&self, devices: &[NewDevice]) -> Result<()> {
        on_pool!(self, pool => {
            let mut tx = pool.begin().await?;
            for device in devices {
                let inserted = sqlx::query(
                    "INSERT INTO devices (id, serial, secret_ciphertext, claim_code_hash, lifecycle_state, created_at) \
                     VALUES ($1, $2, $3, $4, 'pre_activation', $5)",
                )
                .bind(&device.id)
                .bind(&device.serial)
                .bind(&device.secret_ciphertext)
                .bind(&device.claim_code_hash)
                .bind(device.created_at)
                .execute(&mut *tx)
                .await;
                if let Err(err) = inserted {
                    return Err(match StoreError::from(err) {
                        StoreError::Conflict(_) => StoreError::Conflict(device.serial.clone()),
                        other => other,
                    });
                }
            }
            tx.commit().await?;
        });
        Ok(())
    }

    /// The device with this serial.
    pub async fn device_by_serial(&self, serial: &str) -> Result<Option<DeviceRow>> {
        let sql = format!("SELECT {DEVICE_COLUMNS} FROM {DEVICE_FROM} WHERE d.serial = $1");
        Ok(
            on_pool!(self, pool => sqlx::query_as(sqlx::AssertSqlSafe(sql.as_str())).bind(serial).fetch_optional(pool).await)?,
        )
    }

    /// The device with this id.
    pub async fn device_by_id(&self, id: &str) -> Result<Option<DeviceRow>> {
        let sql = format!("SELECT {DEVICE_COLUMNS} FROM {DEVICE_FROM} WHERE d.id = $1");
        Ok(
            on_pool!(self, pool => sqlx::query_as(sqlx::AssertSqlSafe(sql.as_str())).bind(id).fetch_optional(pool).await)?,
        )
    }

    /// The devices a customer owns, by name then serial.
    pub async fn devices_of_owner(&self, owner_id: &str) -> Result<Vec<DeviceRow>> {
        let sql = format!(
            "SELECT {DEVICE_COLUMNS} FROM {DEVICE_FROM} WHERE d.owner_id = $1 ORDER BY d.name, d.serial"
        );
        Ok(
            on_pool!(self, pool => sqlx::query_as(sqlx::AssertSqlSafe(sql.as_str())).bind(owner_id).fetch_all(pool).await)?,
        )
    }

    /// Every device, by serial (admin inventory).
    pub async fn all_devices(&self) -> Result<Vec<DeviceRow>> {
        let sql = format!("SELECT {DEVICE_COLUMNS} FROM {DEVICE_FROM} ORDER BY d.serial");
        Ok(
            on_pool!(self, pool => sqlx::query_as(sqlx::AssertSqlSafe(sql.as_str())).fetch_all(pool).await)?,
        )
    }

    /// Gives a `pre_activation` device to its owner and makes it `active_subscription`. Returns false
    /// (and changes nothing) when the device is not in `pre_activation`, so two claims cannot both win.
    pub async fn claim_device(
        &self,
        device_id: &DeviceId,
        owner_id: &UserId,
        now: i64,
    ) -> Result<bool> {
        let done = on_pool!(self, pool => sqlx::query(CLAIM_DEVICE_SQL)
        .bind(device_id.as_str())
        .bind(owner_id.as_str())
        .bind(now)
        .execute(pool)
        .await?
        .rows_affected());
        Ok(done == 1)
    }

    /// Moves a device from lifecycle state `from` to `to`; false when it was not in `from`.
    pub async fn set_device_lifecycle(
        &self,
        device_id: &DeviceId,
        from: LifecycleState,
        to: LifecycleState,
    ) -> Result<bool> {
        let done = on_pool!(self, pool => sqlx::query(
            "UPDATE devices SET lifecycle_state = $3 WHERE id = $1 AND lifecycle_state = $2",
        )
        .bind(device_id.as_str())
        .bind(from.as_str())
        .bind(to.as_str())
        .execute(pool)
        .await?
        .rows_affected());
        Ok(done == 1)
    }

    /// Renames a device and sets where it is.
    pub async fn set_device_name_location(
        &self,
        device_id: &DeviceId,
        name: &str,
        location: &str,
    ) -> Result<()> {
        on_pool!(self, pool => sqlx::query("UPDATE devices SET name = $2, location = $3 WHERE id = $1")
            .bind(device_id.as_str())
            .bind(name)
            .bind(location)
            .execute(pool)
            .await
            .map(|_| ()))?;
        Ok(())
    }
}
