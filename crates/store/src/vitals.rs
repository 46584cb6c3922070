//! Device vitals: a time series per device for charts, whose newest row is the device's latest.

use smartbox_domain::DeviceId;

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
    pub async fn vitals_since(&self, device_id: &DeviceId, since: i64) -> Result<Vec<VitalsRow>> {
        Ok(on_pool!(self, pool => sqlx::query_as(
            "SELECT device_id, recorded_at, battery_percentage, power_state, signal_dbm, network, \
             firmware_version, modem_tx_bytes, modem_rx_bytes, sd_queue_len, sd_oldest_age_s, \
             sd_failed_deliveries FROM device_vitals \
             WHERE device_id = $1 AND recorded_at >= $2 ORDER BY recorded_at",
        )
        .bind(device_id.as_str())
        .bind(since)
        .fetch_all(pool)
        .await)?)
    }

    /// Retention of the series, at most `limit` rows per call: rows older than `hourly_before`
    /// are thinned to the last report of each device and hour, and rows older than
    /// `delete_before` are deleted, except each device's newest row (its latest vitals). Answers
    /// how many rows went.
    pub async fn thin_vitals(
        &self,
        hourly_before: i64,
        delete_before: i64,
        limit: i64,
    ) -> Result<u64> {
        Ok(on_pool!(self, pool => sqlx::query(
            "DELETE FROM device_vitals WHERE (device_id, recorded_at) IN ( \
               SELECT v.device_id, v.recorded_at FROM device_vitals v \
               WHERE v.recorded_at < $1 AND ( \
                 EXISTS (SELECT 1 FROM device_vitals w WHERE w.device_id = v.device_id \
                         AND w.recorded_at > v.recorded_at \
                         AND w.recorded_at / 3600000 = v.recorded_at / 3600000) \
                 OR (v.recorded_at < $2 AND EXISTS (SELECT 1 FROM device_vitals n \
                         WHERE n.device_id = v.device_id AND n.recorded_at > v.recorded_at))) \
               LIMIT $3)",
        )
        .bind(hourly_before)
        .bind(delete_before)
        .bind(limit)
        .execute(pool)
        .await
        .map(|done| done.rows_affected()))?)
    }
}
