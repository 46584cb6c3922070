//! The device API's hot paths: one read that authenticates and authorises a request (the device,
//! its sealed secret and its live subscription), and batched writes of heartbeat vitals, usage,
//! mail events and photo records so that many requests share one transaction (group commit).

use std::collections::HashMap;
use std::collections::hash_map::Entry;

use sqlx::pool::PoolConnection;
use sqlx::{Postgres, Sqlite};

use crate::jobs::INSERT_JOB_SQL;
use crate::{Db, EVENT_COMPLETED_JOB, EventInsert, PhotoStored, Result, VitalsRow, on_pool};

/// A device with its live (not canceled) subscription, if any.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct DeviceAccessRow {
    pub device_id: String,
    pub serial: String,
    pub secret_ciphertext: Vec<u8>,
    pub lifecycle_state: String,
    pub checkin_interval_s: i64,
    pub subscription_id: Option<String>,
    /// The customer of the live subscription.
    pub customer_id: Option<String>,
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

/// A new mail event for the group commit, with the notification it counts when it is new.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewEvent {
    pub id: String,
    pub device_id: String,
    pub subscription_id: Option<String>,
    pub kind: String,
    pub occurred_at: i64,
    pub photo_count: i64,
    pub created_at: i64,
    /// The id of the `event_completed` job, used only if the event completes at once (no photos).
    pub completion_job_id: String,
    /// Added to usage only when the event is new, so a retried event is never counted twice.
    pub notification: Option<UsageDelta>,
    /// The spend cap as a count: the event is refused ([`EventStored::OverCap`]) when it would
    /// bring its period's notifications above this. Checked in the event's transaction.
    pub max_notifications: Option<i64>,
}

/// What the group commit did with one event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventStored {
    /// Stored now (and its notification counted).
    New,
    /// An event with its id existed: nothing changed.
    Known,
    /// Not stored: its notification would pass the spend cap.
    OverCap,
}

/// A photo already written to the blob store, for the group commit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewPhoto {
    pub event_id: String,
    pub idx: i64,
    pub blob_key: String,
    pub size_bytes: i64,
    pub sha256: String,
    pub created_at: i64,
    /// The id of the `event_completed` job, used only if this photo completes the event.
    pub completion_job_id: String,
}

impl crate::StoreError {
    /// Whether the database refused the data written (a uniqueness, foreign-key, not-null or
    /// check rule) rather than failed: writing the same data again fails the same way, while the
    /// other writes of a refused batch would succeed on their own.
    pub fn is_refusal(&self) -> bool {
        match self {
            crate::StoreError::Conflict(_) => true,
            crate::StoreError::Database(sqlx::Error::Database(db)) => {
                db.kind() != sqlx::error::ErrorKind::Other
            }
            _ => false,
        }
    }
}

/// Everything one group commit writes, in one transaction.
#[derive(Debug, Clone, Default)]
pub struct TrafficBatch {
    pub vitals: Vec<VitalsRow>,
    pub usage: Vec<UsageDelta>,
    pub events: Vec<NewEvent>,
    pub photos: Vec<NewPhoto>,
}

impl TrafficBatch {
    /// Whether there is nothing to write.
    pub fn is_empty(&self) -> bool {
        self.vitals.is_empty()
            && self.usage.is_empty()
            && self.events.is_empty()
            && self.photos.is_empty()
    }

    /// Empties the batch, keeping its allocations.
    pub fn clear(&mut self) {
        self.vitals.clear();
        self.usage.clear();
        self.events.clear();
        self.photos.clear();
    }
}

/// What a group commit did with its events and photos, in the batch's order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TrafficOutcome {
    /// Per event, what became of it.
    pub events: Vec<EventStored>,
    /// Per photo: whether it was new and whether it completed its event.
    pub photos: Vec<PhotoStored>,
}

/// The batched statements of one backend. Each takes its rows as one JSON array of arrays, so
/// its text never changes with the batch's size: it is prepared once per connection, and the rows
/// cost no bound parameters (SQLite looks each numbered parameter up by name in a list, which
/// made binding a multi-row statement of `n` parameters O(n^2): it dominated heartbeat batches).
struct BatchSql {
    /// Appends `[device_id, recorded_at, battery, power_state, signal, network, firmware, tx, rx,
    /// sd_queue, sd_oldest_age, sd_failed_deliveries]` rows (at most one per device and instant) to the series; a row for an instant
    /// already stored replaces it.
    vitals: &'static str,
    /// Adds `[subscription_id, period_start, period_end, notifications, data_bytes]` rows (at
    /// most one per period) to the counters.
    usage: &'static str,
    /// Reads a period's notification count for the spend-cap check (see
    /// [`NewEvent::max_notifications`]).
    notifications: &'static str,
}

/// The conflict clause of both backends' vitals statements: a report for an instant already stored
/// replaces it (a macro, so that `concat!` can join it to each statement at compile time).
macro_rules! vitals_upsert {
    () => {
        "ON CONFLICT (device_id, recorded_at) DO UPDATE SET battery_percentage = excluded.battery_percentage, \
        power_state = excluded.power_state, signal_dbm = excluded.signal_dbm, network = excluded.network, \
        firmware_version = excluded.firmware_version, modem_tx_bytes = excluded.modem_tx_bytes, \
        modem_rx_bytes = excluded.modem_rx_bytes, sd_queue_len = excluded.sd_queue_len, \
        sd_oldest_age_s = excluded.sd_oldest_age_s, sd_failed_deliveries = excluded.sd_failed_deliveries"
    };
}

/// SQLite's vitals statement reading its rows from parameter `$p` (see [`BatchSql::vitals`]).
macro_rules! sqlite_vitals {
    ($p:literal) => {
        concat!(
            "INSERT INTO device_vitals (device_id, recorded_at, battery_percentage, power_state, signal_dbm, \
            network, firmware_version, modem_tx_bytes, modem_rx_bytes, sd_queue_len, sd_oldest_age_s, \
            sd_failed_deliveries) \
            SELECT value ->> 0, value ->> 1, value ->> 2, value ->> 3, value ->> 4, value ->> 5, value ->> 6, \
            value ->> 7, value ->> 8, value ->> 9, value ->> 10, value ->> 11 FROM json_each(", $p, ") WHERE true ",
            vitals_upsert!()
        )
    };
}

/// SQLite's usage statement reading its rows from parameter `$p` (see [`BatchSql::usage`]). An
/// upsert's SELECT needs a WHERE on SQLite (else ON CONFLICT would parse as a join's ON).
macro_rules! sqlite_usage {
    ($p:literal) => {
        concat!(
            "INSERT INTO usage_periods (subscription_id, period_start, period_end, notifications, data_bytes) \
            SELECT value ->> 0, value ->> 1, value ->> 2, value ->> 3, value ->> 4 FROM json_each(", $p, ") WHERE true \
            ON CONFLICT (subscription_id, period_start) DO UPDATE SET \
            notifications = usage_periods.notifications + excluded.notifications, \
            data_bytes = usage_periods.data_bytes + excluded.data_bytes"
        )
    };
}

const SQLITE: BatchSql = BatchSql {
    vitals: sqlite_vitals!("$1"),
    usage: sqlite_usage!("$1"),
    notifications: NOTIFICATIONS,
};

/// A period's notifications so far (`$1` subscription, `$2` period start). On SQLite one writer
/// at a time commits, so nothing changes the count between this read and the batch's commit.
const NOTIFICATIONS: &str =
    "SELECT notifications FROM usage_periods WHERE subscription_id = $1 AND period_start = $2";

/// A batch of heartbeats alone on SQLite, as one transaction sent in one call (`$1` the vitals,
/// `$2` the usage): sqlx runs each call on its connection's thread, and the four calls of
/// [`TrafficConnection::write`] (begin, vitals, usage, commit) kept the writer waiting for
/// thread switches as long as for SQLite itself.
const SQLITE_HEARTBEATS: &str = concat!(
    "BEGIN; ",
    sqlite_vitals!("$1"),
    "; ",
    sqlite_usage!("$2"),
    "; COMMIT"
);

const POSTGRES: BatchSql = BatchSql {
    vitals: concat!(
        "INSERT INTO device_vitals (device_id, recorded_at, battery_percentage, power_state, signal_dbm, \
        network, firmware_version, modem_tx_bytes, modem_rx_bytes, sd_queue_len, sd_oldest_age_s, \
        sd_failed_deliveries) \
        SELECT v ->> 0, (v ->> 1)::bigint, (v ->> 2)::bigint, v ->> 3, (v ->> 4)::bigint, v ->> 5, v ->> 6, \
        (v ->> 7)::bigint, (v ->> 8)::bigint, (v ->> 9)::bigint, (v ->> 10)::bigint, (v ->> 11)::bigint \
        FROM jsonb_array_elements($1::jsonb) AS v ",
        vitals_upsert!()
    ),
    usage: "INSERT INTO usage_periods (subscription_id, period_start, period_end, notifications, data_bytes) \
        SELECT v ->> 0, (v ->> 1)::bigint, (v ->> 2)::bigint, (v ->> 3)::bigint, (v ->> 4)::bigint \
        FROM jsonb_array_elements($1::jsonb) AS v \
        ON CONFLICT (subscription_id, period_start) DO UPDATE SET \
        notifications = usage_periods.notifications + excluded.notifications, \
        data_bytes = usage_periods.data_bytes + excluded.data_bytes",
    // Locks the row until commit, so another process's event waits for this one's count.
    notifications: concat!(
        "SELECT notifications FROM usage_periods WHERE subscription_id = $1 AND period_start = $2",
        " FOR UPDATE"
    ),
};

/// WAL pages (4 KiB) after which the writer's connection checkpoints by itself after each commit
/// (SQLite's default is 1,000): 2 GiB, a safety net only. The checkpoints run beside the writer
/// ([`Db::checkpoint_wal`]), and the writer lets the WAL start over when asked to
/// ([`TrafficConnection::checkpoint_wal`]); a writer checkpointing on its own, as it did at 64 MiB,
/// synced the WAL and the database after commit after commit until the WAL started over (a
/// checkpoint beside it usually held the lock), and those commits took 20-30 ms.
const WRITER_AUTOCHECKPOINT_PAGES: u32 = 524_288;

/// The SQLite WAL after a checkpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WalFrames {
    /// Pages the WAL holds since it last started over.
    pub written: i64,
}

/// A connection set aside for the device API's group commit. One writer keeping one connection
/// keeps that connection's page cache warm (SQLite drops a connection's cache whenever another
/// connection wrote since its last transaction) and its prepared statements at hand.
#[derive(Debug)]
pub struct TrafficConnection(Conn);

#[derive(Debug)]
enum Conn {
    Sqlite(PoolConnection<Sqlite>),
    Postgres(PoolConnection<Postgres>),
}

/// Runs `$body` with `$conn` bound to the connection of whichever backend, like [`on_pool!`].
macro_rules! on_conn {
    ($conn:expr, $c:ident => $body:expr) => {
        match $conn {
            Conn::Sqlite($c) => $body,
            Conn::Postgres($c) => $body,
        }
    };
}

/// Enqueues the `event_completed` job of `$event_id` on `$tx` (once per event: the unique key
/// is derived from the event).
macro_rules! enqueue_completion {
    ($tx:expr, $event_id:expr, $job_id:expr, $at:expr) => {
        sqlx::query(INSERT_JOB_SQL)
            .bind($job_id)
            .bind(EVENT_COMPLETED_JOB)
            .bind(serde_json::json!({ "event_id": $event_id }).to_string())
            .bind(format!("{EVENT_COMPLETED_JOB}:{}", $event_id))
            .bind($at)
            .bind(25_i64)
            .execute($tx)
            .await?
    };
}

impl Db {
    /// The device with this serial and its live subscription, in one query.
    pub async fn device_access_by_serial(&self, serial: &str) -> Result<Option<DeviceAccessRow>> {
        Ok(on_pool!(self, pool => sqlx::query_as(
            "SELECT d.id AS device_id, d.serial, d.secret_ciphertext, d.lifecycle_state, \
             d.checkin_interval_s, s.id AS subscription_id, s.customer_id, s.plan_id, s.status AS subscription_status, \
             s.anchor_at, s.spend_cap_cents \
             FROM devices d LEFT JOIN subscriptions s ON s.device_id = d.id AND s.status <> 'canceled' \
             WHERE d.serial = $1",
        )
        .bind(serial)
        .fetch_optional(pool)
        .await)?)
    }

    /// Takes a connection out of the pool for the device API's group commit. On SQLite it
    /// checkpoints the WAL by itself only past [`WRITER_AUTOCHECKPOINT_PAGES`]: a checkpoint copies
    /// and syncs pages while the writer's batch waits, so [`Db::checkpoint_wal`] does that work
    /// beside it. Dropped, it is closed rather than returned to the pool with that setting.
    pub async fn traffic_connection(&self) -> Result<TrafficConnection> {
        Ok(TrafficConnection(match &self.pool {
            crate::db::Pool::Sqlite(pool) => {
                let mut conn = pool.acquire().await?;
                conn.close_on_drop();
                sqlx::query(sqlx::AssertSqlSafe(format!(
                    "PRAGMA wal_autocheckpoint = {WRITER_AUTOCHECKPOINT_PAGES}"
                )))
                .execute(&mut *conn)
                .await?;
                Conn::Sqlite(conn)
            }
            crate::db::Pool::Postgres(pool) => Conn::Postgres(pool.acquire().await?),
        }))
    }

    /// Completes once [`Db::close`] is called. A task keeping a connection (the device API's
    /// writer) must give it back then: closing waits for every connection to return.
    pub async fn closing(&self) {
        match &self.pool {
            crate::db::Pool::Sqlite(pool) => pool.close_event().await,
            crate::db::Pool::Postgres(pool) => pool.close_event().await,
        }
    }

    /// Copies what the SQLite WAL holds into the database as far as readers allow, without
    /// waiting for anyone (`PRAGMA wal_checkpoint(PASSIVE)`), so the writer's connection seldom
    /// has to, and tells how large the WAL is; nothing on PostgreSQL.
    pub async fn checkpoint_wal(&self) -> Result<Option<WalFrames>> {
        match &self.pool {
            crate::db::Pool::Sqlite(pool) => Ok(Some(passive_checkpoint(pool).await?)),
            crate::db::Pool::Postgres(_) => Ok(None),
        }
    }

    /// Writes heartbeats and usage in one transaction (see [`TrafficConnection::write`]).
    pub async fn write_device_traffic(
        &self,
        vitals: &[VitalsRow],
        usage: &[UsageDelta],
    ) -> Result<()> {
        let batch = TrafficBatch {
            vitals: vitals.to_vec(),
            usage: usage.to_vec(),
            ..TrafficBatch::default()
        };
        self.traffic_connection().await?.write(&batch).await?;
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
        let batch = TrafficBatch {
            events: vec![NewEvent {
                id: e.id.to_owned(),
                device_id: e.device_id.to_owned(),
                subscription_id: e.subscription_id.map(str::to_owned),
                kind: e.kind.to_owned(),
                occurred_at: e.occurred_at,
                photo_count: e.photo_count,
                created_at: e.created_at,
                completion_job_id: completion_job_id.to_owned(),
                notification: usage.cloned(),
                max_notifications: None,
            }],
            ..TrafficBatch::default()
        };
        let outcome = self.traffic_connection().await?.write(&batch).await?;
        Ok(outcome.events.first() == Some(&EventStored::New))
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

impl TrafficConnection {
    /// Copies the rest of the SQLite WAL into the database on the writer's own connection, so
    /// that its next transaction starts the WAL over from its beginning (SQLite starts it over
    /// only in a transaction that begins with the whole WAL copied, which a checkpoint beside a
    /// busy writer never leaves it: the writer has appended again meanwhile). This syncs the WAL
    /// and the database, and starting over syncs the WAL again, so the caller does it seldom, just
    /// after a checkpoint beside it, when the rest is small. Nothing on PostgreSQL.
    pub async fn checkpoint_wal(&mut self) -> Result<()> {
        if let Conn::Sqlite(conn) = &mut self.0 {
            passive_checkpoint(&mut **conn).await?;
        }
        Ok(())
    }

    /// Writes a batch in one transaction (on SQLite, a batch of heartbeats alone goes as one call,
    /// see [`SQLITE_HEARTBEATS`]):
    /// - each event is inserted unless its id exists; a new one adds its notification to usage
    ///   and, without photos, completes at once with its `event_completed` job;
    /// - each photo is recorded unless its (event, index) exists; the one that completes its
    ///   event marks it complete and enqueues its `event_completed` job (once per event);
    /// - every vitals row is appended to the series (a device's latest vitals and `last_seen_at`
    ///   are its newest row there, copied by a trigger); of two rows for one device and instant
    ///   the later stands;
    /// - the usage deltas are added (several deltas for one period add up).
    pub async fn write(&mut self, batch: &TrafficBatch) -> Result<TrafficOutcome> {
        let sql = match self.0 {
            Conn::Sqlite(_) => &SQLITE,
            Conn::Postgres(_) => &POSTGRES,
        };
        let mut outcome = TrafficOutcome {
            events: Vec::with_capacity(batch.events.len()),
            photos: Vec::with_capacity(batch.photos.len()),
        };
        let mut usage: Vec<&UsageDelta> = batch.usage.iter().collect();
        let vitals = one_per_instant(&batch.vitals);
        if let Conn::Sqlite(conn) = &mut self.0
            && batch.events.is_empty()
            && batch.photos.is_empty()
        {
            if let Err(err) = sqlx::query(SQLITE_HEARTBEATS)
                .bind(vitals_json(&vitals))
                .bind(usage_json(&sum_per_period(&usage)))
                .execute(&mut **conn)
                .await
            {
                // A statement failed after BEGIN: end the transaction, which holds the write lock.
                let _ = sqlx::query("ROLLBACK").execute(&mut **conn).await;
                return Err(err.into());
            }
            return Ok(outcome);
        }
        on_conn!(&mut self.0, conn => {
            let mut tx = sqlx::Connection::begin(&mut **conn).await?;
            for e in &batch.events {
                if let (Some(max), Some(delta)) = (e.max_notifications, &e.notification) {
                    let (known,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM mail_events WHERE id = $1")
                        .bind(&e.id)
                        .fetch_one(&mut *tx)
                        .await?;
                    let stored: Option<(i64,)> = sqlx::query_as(sql.notifications)
                        .bind(&delta.subscription_id)
                        .bind(delta.period_start)
                        .fetch_optional(&mut *tx)
                        .await?;
                    // Earlier events of this batch count too.
                    let pending: i64 = usage
                        .iter()
                        .filter(|u| u.subscription_id == delta.subscription_id && u.period_start == delta.period_start)
                        .map(|u| u.notifications)
                        .sum();
                    if known == 0 && stored.map_or(0, |(n,)| n) + pending + delta.notifications > max {
                        outcome.events.push(EventStored::OverCap);
                        continue;
                    }
                }
                let completed_at = (e.photo_count == 0).then_some(e.created_at);
                let new = sqlx::query(
                    "INSERT INTO mail_events (id, device_id, subscription_id, kind, occurred_at, photo_count, \
                     completed_at, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (id) DO NOTHING",
                )
                .bind(&e.id)
                .bind(&e.device_id)
                .bind(&e.subscription_id)
                .bind(&e.kind)
                .bind(e.occurred_at)
                .bind(e.photo_count)
                .bind(completed_at)
                .bind(e.created_at)
                .execute(&mut *tx)
                .await?
                .rows_affected()
                    == 1;
                if new && completed_at.is_some() {
                    enqueue_completion!(&mut *tx, &e.id, &e.completion_job_id, e.created_at);
                }
                if new {
                    usage.extend(&e.notification);
                }
                outcome.events.push(if new { EventStored::New } else { EventStored::Known });
            }
            for p in &batch.photos {
                let new = sqlx::query(
                    "INSERT INTO photos (event_id, idx, blob_key, size_bytes, sha256, created_at) \
                     VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (event_id, idx) DO NOTHING",
                )
                .bind(&p.event_id)
                .bind(p.idx)
                .bind(&p.blob_key)
                .bind(p.size_bytes)
                .bind(&p.sha256)
                .bind(p.created_at)
                .execute(&mut *tx)
                .await?
                .rows_affected()
                    == 1;
                let mut completed_event = false;
                if new {
                    completed_event = sqlx::query(
                        "UPDATE mail_events SET photos_received = photos_received + 1, completed_at = $2 \
                         WHERE id = $1 AND completed_at IS NULL AND photos_received + 1 >= photo_count",
                    )
                    .bind(&p.event_id)
                    .bind(p.created_at)
                    .execute(&mut *tx)
                    .await?
                    .rows_affected()
                        == 1;
                    if completed_event {
                        enqueue_completion!(&mut *tx, &p.event_id, &p.completion_job_id, p.created_at);
                    } else {
                        sqlx::query("UPDATE mail_events SET photos_received = photos_received + 1 WHERE id = $1")
                            .bind(&p.event_id)
                            .execute(&mut *tx)
                            .await?;
                    }
                }
                outcome.photos.push(PhotoStored { new, completed_event });
            }
            if !vitals.is_empty() {
                sqlx::query(sql.vitals).bind(vitals_json(&vitals)).execute(&mut *tx).await?;
            }
            let usage = sum_per_period(&usage);
            if !usage.is_empty() {
                sqlx::query(sql.usage).bind(usage_json(&usage)).execute(&mut *tx).await?;
            }
            tx.commit().await?;
        });
        Ok(outcome)
    }
}

/// `PRAGMA wal_checkpoint(PASSIVE)` on `conn`, and the WAL's size after it.
async fn passive_checkpoint<'c, E>(conn: E) -> Result<WalFrames>
where
    E: sqlx::Executor<'c, Database = Sqlite>,
{
    let (_busy, written, _checkpointed): (i64, i64, i64) =
        sqlx::query_as("PRAGMA wal_checkpoint(PASSIVE)")
            .fetch_one(conn)
            .await?;
    Ok(WalFrames { written })
}

/// The vitals rows as the JSON the batched statement reads.
fn vitals_json(rows: &[&VitalsRow]) -> String {
    let rows: Vec<_> = rows.iter().map(|v| vitals_cells(v)).collect();
    serde_json::Value::from(rows).to_string()
}

fn vitals_cells(v: &VitalsRow) -> serde_json::Value {
    serde_json::json!([
        v.device_id,
        v.recorded_at,
        v.battery_percentage,
        v.power_state,
        v.signal_dbm,
        v.network,
        v.firmware_version,
        v.modem_tx_bytes,
        v.modem_rx_bytes,
        v.sd_queue_len,
        v.sd_oldest_age_s,
        v.sd_failed_deliveries,
    ])
}

/// The usage rows as the JSON the batched statement reads.
fn usage_json(rows: &[UsageDelta]) -> String {
    let rows: Vec<_> = rows
        .iter()
        .map(|u| {
            serde_json::json!([
                u.subscription_id,
                u.period_start,
                u.period_end,
                u.notifications,
                u.data_bytes,
            ])
        })
        .collect();
    serde_json::Value::from(rows).to_string()
}

/// The rows to store, the later of two for one device and instant replacing the earlier (an
/// upsert may touch a row once per statement), ordered by device and instant: the trigger that
/// keeps each device's latest vitals locks that device's row, and two processes' batches that
/// lock in one order cannot deadlock.
fn one_per_instant(vitals: &[VitalsRow]) -> Vec<&VitalsRow> {
    let mut slot: HashMap<(&str, i64), usize> = HashMap::with_capacity(vitals.len());
    let mut rows: Vec<&VitalsRow> = Vec::with_capacity(vitals.len());
    for v in vitals {
        match slot.entry((&v.device_id, v.recorded_at)) {
            Entry::Occupied(at) => rows[*at.get()] = v,
            Entry::Vacant(at) => {
                at.insert(rows.len());
                rows.push(v);
            }
        }
    }
    rows.sort_by(|a, b| (&a.device_id, a.recorded_at).cmp(&(&b.device_id, b.recorded_at)));
    rows
}

/// The deltas summed per (subscription, period): PostgreSQL refuses an upsert that touches one row
/// twice.
fn sum_per_period(usage: &[&UsageDelta]) -> Vec<UsageDelta> {
    let mut sums: HashMap<(&str, i64), UsageDelta> = HashMap::with_capacity(usage.len());
    for &u in usage {
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
    fn rows_travel_as_a_json_array_of_arrays_in_column_order() {
        let usage = UsageDelta {
            subscription_id: "s".into(),
            period_start: 1,
            period_end: 2,
            notifications: 3,
            data_bytes: i64::MAX,
        };
        assert_eq!(
            usage_json(&[usage]),
            format!(r#"[["s",1,2,3,{}]]"#, i64::MAX)
        );
        assert_eq!(usage_json(&[]), "[]");
    }
}
