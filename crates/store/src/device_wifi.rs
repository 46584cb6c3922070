//! A mailbox's WiFi credentials from the portal: sealed with the master key (the store never sees
//! the passphrase), versioned so the device API sends them until the device holds them, and the
//! device's last report about them.

use smartbox_domain::DeviceId;

use crate::{Db, Result, on_pool};

/// Saves new credentials (`$1` device, `$2` SSID, `$3` sealed, `$4` version), written by
/// [`crate::changes::Change::SetDeviceWifi`].
pub(crate) const SET_DEVICE_WIFI_SQL: &str = "INSERT INTO device_wifi (device_id, ssid, sealed, version, updated_at) \
     VALUES ($1, $2, $3, $4, $4) \
     ON CONFLICT (device_id) DO UPDATE SET ssid = excluded.ssid, sealed = excluded.sealed, \
     version = excluded.version, updated_at = excluded.updated_at";

/// The credentials saved for a device and what the device last said about them.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct DeviceWifiRow {
    pub device_id: String,
    /// Shown in the portal.
    pub ssid: String,
    /// SSID and passphrase sealed with the master key.
    pub sealed: Vec<u8>,
    /// Unix ms of the save; the device reports it back once it stores them.
    pub version: i64,
    /// The version the device last reported holding (0: none).
    pub reported_version: i64,
    /// Its last WiFi status (`untried`, `joined`, `join_failed`, `too_weak`, `not_heard`).
    pub reported_status: Option<String>,
    pub reported_at: Option<i64>,
    pub updated_at: i64,
}

impl Db {
    /// The credentials saved for `device_id`, if any.
    pub async fn device_wifi(&self, device_id: &DeviceId) -> Result<Option<DeviceWifiRow>> {
        Ok(on_pool!(self, pool => sqlx::query_as(
            "SELECT device_id, ssid, sealed, version, reported_version, reported_status, \
             reported_at, updated_at FROM device_wifi WHERE device_id = $1",
        )
        .bind(device_id.as_str())
        .fetch_optional(pool)
        .await)?)
    }

    /// Records what the device reported: the version it holds and how its last try went.
    pub async fn record_wifi_report(
        &self,
        device_id: &DeviceId,
        version: i64,
        status: &str,
        at: i64,
    ) -> Result<()> {
        on_pool!(self, pool => sqlx::query(
            "UPDATE device_wifi SET reported_version = $2, reported_status = $3, reported_at = $4 \
             WHERE device_id = $1",
        )
        .bind(device_id.as_str())
        .bind(version)
        .bind(status)
        .bind(at)
        .execute(pool)
        .await
        .map(|_| ()))?;
        Ok(())
    }
}
