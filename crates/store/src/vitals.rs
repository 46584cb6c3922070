//! Device vitals: the latest values on the device row and a time series for charts.

use crate::{Db, Result, on_pool};

/// One heartbeat's vitals.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct VitalsRow {
    pub device_id: String,
    pub recorded_at: i64,
    pub battery_percentage: i64,
    pub power_state: String,
    pub signal_dbm: i64,
    pub network: String,
    pub firmware_version: String,
    pub modem_tx_bytes: i64,
    pub modem_rx_bytes: i64,
    pub sd_queue_len: i64,
}

impl Db {
    /// Stores a heartbeat: appends to the series and updates the device's latest vitals and
    /// `last_seen_at`, in one transaction.
    pub async fn record_vitals(&self, v: &VitalsRow) -> Result<()> {
        on_pool!(self, pool => {
            let mut tx = pool.begin().await?;
            sqlx::query(
                "INSERT INTO device_vitals (device_id, recorded_at, battery_percentage, power_state, signal_dbm, \
                 network, firmware_version, modem_tx_bytes, modem_rx_bytes, sd_queue_len) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
            )
            .bind(&v.device_id)
            .bind(v.recorded_at)
            .bind(v.battery_percentage)
            .bind(&v.power_state)
            .bind(v.signal_dbm)
            .bind(&v.network)
            .bind(&v.firmware_version)
            .bind(v.modem_tx_bytes)
            .bind(v.modem_rx_bytes)
            .bind(v.sd_queue_len)
            .execute(&mut *tx)
            .await?;
            sqlx::query(
                "UPDATE devices SET battery_percentage = $2, power_state = $3, signal_dbm = $4, network = $5, \
                 firmware_version = $6, modem_tx_bytes = $7, modem_rx_bytes = $8, sd_queue_len = $9, \
                 last_seen_at = $10 WHERE id = $1",
            )
            .bind(&v.device_id)
            .bind(v.battery_percentage)
            .bind(&v.power_state)
            .bind(v.signal_dbm)
            .bind(&v.network)
            .bind(&v.firmware_version)
            .bind(v.modem_tx_bytes)
            .bind(v.modem_rx_bytes)
            .bind(v.sd_queue_len)
            .bind(v.recorded_at)
            .execute(&mut *tx)
            .await?;
            tx.commit().await?;
        });
        Ok(())
    }

    /// A device's vitals recorded at or after `since`, oldest first.
    pub async fn vitals_since(&self, device_id: &str, since: i64) -> Result<Vec<VitalsRow>> {
        Ok(on_pool!(self, pool => sqlx::query_as(
            "SELECT device_id, recorded_at, battery_percentage, power_state, signal_dbm, network, \
             firmware_version, modem_tx_bytes, modem_rx_bytes, sd_queue_len FROM device_vitals \
             WHERE device_id = $1 AND recorded_at >= $2 ORDER BY recorded_at",
        )
        .bind(device_id)
        .bind(since)
        .fetch_all(pool)
        .await)?)
    }
}
