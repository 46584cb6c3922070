//! The device API's hot paths: one read that authenticates and authorises a request (the device,
//! its sealed secret and its live subscription), and batched writes of heartbeat vitals and usage
//! so that many requests share one transaction (group commit).

use std::collections::HashMap;

use crate::jobs::INSERT_JOB_SQL;
use crate::{Db, EVENT_COMPLETED_JOB, EventInsert, Result, VitalsRow, on_pool};

/// A device with its live (not canceled) subscription, if any.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct DeviceAccessRow {
    pub device_id: String,
    pub serial: String,
    pub secret_ciphertext: Vec<u8>,
    pub lifecycle_state: String,
    pub firmware_version: Option<String>,
    pub checkin_interval_s: i64,
    pub subscription_id: Option<String>,
    pub plan_id: Option<String>,
    pub subscription_status: Option<String>,
    pub anchor_at: Option<i64>,
    pub spend_cap_cents: Option<i64>,
}

/// Usage to add to one (subscription, period) row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UsageDelta {
    pub subscription_id: String,
    pub period_start: i64,
    pub period_end: i64,
    pub notifications: i64,
    pub data_bytes: i64,
}

/// Rows per multi-row statement: 10 vitals columns x 500 stays under both backends' limits on
/// bound parameters (32,766 on SQLite, 65,535 on PostgreSQL).
const CHUNK: usize = 500;

impl Db {
    /// The device with this serial and its live subscription, in one query.
    pub async fn device_access_by_serial(&self, serial: &str) -> Result<Option<DeviceAccessRow>> {
        Ok(on_pool!(self, pool => sqlx::query_as(
            "SELECT d.id AS device_id, d.serial, d.secret_ciphertext, d.lifecycle_state, d.firmware_version, \
             d.checkin_interval_s, s.id AS subscription_id, s.plan_id, s.status AS subscription_status, \
             s.anchor_at, s.spend_cap_cents \
             FROM devices d LEFT JOIN subscriptions s ON s.device_id = d.id AND s.status <> 'canceled' \
             WHERE d.serial = $1",
        )
        .bind(serial)
        .fetch_optional(pool)
        .await)?)
    }

    /// Writes heartbeats and usage in one transaction: every vitals row is appended to the series,
    /// each device's latest vitals and `last_seen_at` become those of its newest row in the batch,
    /// and the usage deltas are added (several deltas for one period add up).
    pub async fn write_device_traffic(
        &self,
        vitals: &[VitalsRow],
        usage: &[UsageDelta],
    ) -> Result<()> {
        let latest = latest_per_device(vitals);
        let usage = sum_per_period(usage);
        on_pool!(self, pool => {
            let mut tx = pool.begin().await?;
            for chunk in vitals.chunks(CHUNK) {
                let sql = format!(
                    "INSERT INTO device_vitals (device_id, recorded_at, battery_percentage, power_state, \
                     signal_dbm, network, firmware_version, modem_tx_bytes, modem_rx_bytes, sd_queue_len) VALUES {}",
                    placeholders(chunk.len(), 10)
                );
                let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
                for v in chunk {
                    query = query
                        .bind(&v.device_id)
                        .bind(v.recorded_at)
                        .bind(v.battery_percentage)
                        .bind(&v.power_state)
                        .bind(v.signal_dbm)
                        .bind(&v.network)
                        .bind(&v.firmware_version)
                        .bind(v.modem_tx_bytes)
                        .bind(v.modem_rx_bytes)
                        .bind(v.sd_queue_len);
                }
                query.execute(&mut *tx).await?;
            }
            for chunk in latest.chunks(CHUNK) {
                // VALUES columns are named column1..columnN on both SQLite and PostgreSQL.
                let sql = format!(
                    "UPDATE devices SET battery_percentage = v.column2, power_state = v.column3, \
                     signal_dbm = v.column4, network = v.column5, firmware_version = v.column6, \
                     modem_tx_bytes = v.column7, modem_rx_bytes = v.column8, sd_queue_len = v.column9, \
                     last_seen_at = v.column10 FROM (VALUES {}) AS v WHERE devices.id = v.column1",
                    placeholders(chunk.len(), 10)
                );
                let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
                for v in chunk {
                    query = query
                        .bind(&v.device_id)
                        .bind(v.battery_percentage)
                        .bind(&v.power_state)
                        .bind(v.signal_dbm)
                        .bind(&v.network)
                        .bind(&v.firmware_version)
                        .bind(v.modem_tx_bytes)
                        .bind(v.modem_rx_bytes)
                        .bind(v.sd_queue_len)
                        .bind(v.recorded_at);
                }
                query.execute(&mut *tx).await?;
            }
            for chunk in usage.chunks(CHUNK) {
                let sql = format!(
                    "INSERT INTO usage_periods (subscription_id, period_start, period_end, notifications, \
                     data_bytes) VALUES {} ON CONFLICT (subscription_id, period_start) DO UPDATE SET \
                     notifications = usage_periods.notifications + excluded.notifications, \
                     data_bytes = usage_periods.data_bytes + excluded.data_bytes",
                    placeholders(chunk.len(), 5)
                );
                let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
                for u in chunk {
                    query = query
                        .bind(&u.subscription_id)
                        .bind(u.period_start)
                        .bind(u.period_end)
                        .bind(u.notifications)
                        .bind(u.data_bytes);
                }
                query.execute(&mut *tx).await?;
            }
            tx.commit().await?;
        });
        Ok(())
    }

    /// Inserts an event as [`Db::insert_event`] does and, only when it is new, adds `usage` (the
    /// notification it counts) in the same transaction, so a retried event is never counted twice.
    pub async fn insert_event_with_usage(
        &self,
        e: &EventInsert<'_>,
        completion_job_id: &str,
        usage: Option<&UsageDelta>,
    ) -> Result<bool> {
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
            if let (true, Some(u)) = (inserted, usage) {
                sqlx::query(
                    "INSERT INTO usage_periods (subscription_id, period_start, period_end, notifications, data_bytes) \
                     VALUES ($1, $2, $3, $4, $5) ON CONFLICT (subscription_id, period_start) DO UPDATE SET \
                     notifications = usage_periods.notifications + excluded.notifications, \
                     data_bytes = usage_periods.data_bytes + excluded.data_bytes",
                )
                .bind(&u.subscription_id)
                .bind(u.period_start)
                .bind(u.period_end)
                .bind(u.notifications)
                .bind(u.data_bytes)
                .execute(&mut *tx)
                .await?;
            }
            tx.commit().await?;
            inserted
        });
        Ok(new)
    }

    /// The stored photo of an event at `idx`, if any.
    pub async fn photo_exists(&self, event_id: &str, idx: i64) -> Result<bool> {
        let found: Option<(i64,)> = on_pool!(self, pool => sqlx::query_as(
            "SELECT idx FROM photos WHERE event_id = $1 AND idx = $2",
        )
        .bind(event_id)
        .bind(idx)
        .fetch_optional(pool)
        .await)?;
        Ok(found.is_some())
    }
}

/// `(?, ?, ...), (...)` for `rows` rows of `columns` numbered placeholders.
fn placeholders(rows: usize, columns: usize) -> String {
    let mut out = String::with_capacity(rows * columns * 5);
    for row in 0..rows {
        if row > 0 {
            out.push_str(", ");
        }
        out.push('(');
        for column in 0..columns {
            if column > 0 {
                out.push_str(", ");
            }
            out.push('$');
            out.push_str(&(row * columns + column + 1).to_string());
        }
        out.push(')');
    }
    out
}

/// The newest vitals of each device (a device can appear twice in a batch; an UPDATE ... FROM with
/// two matching rows would pick either).
fn latest_per_device(vitals: &[VitalsRow]) -> Vec<&VitalsRow> {
    let mut latest: HashMap<&str, &VitalsRow> = HashMap::with_capacity(vitals.len());
    for v in vitals {
        latest
            .entry(&v.device_id)
            .and_modify(|kept| {
                if v.recorded_at >= kept.recorded_at {
                    *kept = v;
                }
            })
            .or_insert(v);
    }
    latest.into_values().collect()
}

/// The deltas summed per (subscription, period): PostgreSQL refuses an upsert that touches one row
/// twice.
fn sum_per_period(usage: &[UsageDelta]) -> Vec<UsageDelta> {
    let mut sums: HashMap<(&str, i64), UsageDelta> = HashMap::with_capacity(usage.len());
    for u in usage {
        sums.entry((&u.subscription_id, u.period_start))
            .and_modify(|sum| {
                sum.notifications += u.notifications;
                sum.data_bytes += u.data_bytes;
            })
            .or_insert_with(|| u.clone());
    }
    sums.into_values().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_number_rows_then_columns() {
        assert_eq!(placeholders(2, 3), "($1, $2, $3), ($4, $5, $6)");
        assert_eq!(placeholders(1, 1), "($1)");
    }
}
