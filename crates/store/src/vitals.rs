//! Device vitals: a time series per device for charts, whose newest row is the device's latest.

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
    /// Seconds since the oldest event held on SD happened; `None` when none is held.
    pub sd_oldest_age_s: Option<i64>,
    /// Deliveries that failed since the SD queue was last empty; `None` when none is held.
    pub sd_failed_deliveries: Option<i64>,
}

impl Db {
    /// Stores a heartbeat through the device API's group commit (a batch of one): the newest row
    /// of a device's series is its latest vitals and `last_seen_at`.
    pub async fn record_vitals(&self, v: &VitalsRow) -> Result<()> {
        self.write_device_traffic(std::slice::from_ref(v), &[])
            .await
    }

    /// A device's vitals recorded at or after `since`, oldest first.
    pub async fn vitals_since(&self, device_id: &str, since: i64) -> Result<Vec<VitalsRow>> {
        Ok(on_pool!(self, pool => sqlx::query_as(
            "SELECT device_id, recorded_at, battery_percentage, power_state, signal_dbm, network, \
             firmware_version, modem_tx_bytes, modem_rx_bytes, sd_queue_len, sd_oldest_age_s, \
             sd_failed_deliveries FROM device_vitals \
             WHERE device_id = $1 AND recorded_at >= $2 ORDER BY recorded_at",
        )
        .bind(device_id)
        .bind(since)
        .fetch_all(pool)
        .await)?)
    }
}
