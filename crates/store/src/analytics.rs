//! Business analytics: the daily snapshots and their movements' customers (written whole per
//! day, so recomputing a day is idempotent), the acquisition spend per month and channel, and the
//! reads the snapshots are computed from (subscriptions and their audited changes, invoices,
//! payments, shipments, notification deliveries, usage).

use smartbox_domain::metrics::{DaySnapshot, MovementKind, Movements};
use smartbox_domain::{Cents, PlanId, SubscriptionStatus, UserId};
use time::{Date, Month};

use crate::db::Pool;
use crate::{Db, Result, StoreError, on_pool};

/// `2027-03-09`.
pub fn day_key(day: Date) -> String {
    format!(
        "{:04}-{:02}-{:02}",
        day.year(),
        u8::from(day.month()),
        day.day()
    )
}

/// The date of a `YYYY-MM-DD` key.
pub fn parse_day_key(key: &str) -> Option<Date> {
    let mut parts = key.splitn(3, '-');
    let year = parts.next()?.parse().ok()?;
    let month = Month::try_from(parts.next()?.parse::<u8>().ok()?).ok()?;
    let day = parts.next()?.parse().ok()?;
    Date::from_calendar_date(year, month, day).ok()
}

/// `2027-03`.
pub fn month_key(year: i32, month: Month) -> String {
    format!("{:04}-{:02}", year, u8::from(month))
}

const DAY_COLUMNS: &str = "day, mrr_cents, paying_customers, trialing, new_cents, expansion_cents, \
    contraction_cents, churn_cents, reactivation_cents, new_customers, churned_customers, \
    reactivated_customers, other_revenue_cents, trials_ended, trials_converted, shipped, activated, \
    notifications_attempted, notifications_delivered, first_failures, recovered, data_periods, data_bytes";

#[derive(sqlx::FromRow)]
struct DayRow {
    day: String,
    mrr_cents: i64,
    paying_customers: i64,
    trialing: i64,
    new_cents: i64,
    expansion_cents: i64,
    contraction_cents: i64,
    churn_cents: i64,
    reactivation_cents: i64,
    new_customers: i64,
    churned_customers: i64,
    reactivated_customers: i64,
    other_revenue_cents: i64,
    trials_ended: i64,
    trials_converted: i64,
    shipped: i64,
    activated: i64,
    notifications_attempted: i64,
    notifications_delivered: i64,
    first_failures: i64,
    recovered: i64,
    data_periods: i64,
    data_bytes: i64,
}

fn count(n: i64) -> u64 {
    u64::try_from(n).unwrap_or(0)
}

fn stored(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

impl DayRow {
    fn into_snapshot(self) -> Result<DaySnapshot> {
        let day = parse_day_key(&self.day).ok_or_else(|| {
            StoreError::Database(sqlx::Error::Decode(
                format!("analytics day {:?} is not a date", self.day).into(),
            ))
        })?;
        Ok(DaySnapshot {
            day,
            mrr: Cents::new(self.mrr_cents),
            paying_customers: count(self.paying_customers),
            trialing: count(self.trialing),
            movements: Movements {
                new: Cents::new(self.new_cents),
                expansion: Cents::new(self.expansion_cents),
                contraction: Cents::new(self.contraction_cents),
                churn: Cents::new(self.churn_cents),
                reactivation: Cents::new(self.reactivation_cents),
                new_customers: count(self.new_customers),
                churned_customers: count(self.churned_customers),
                reactivated_customers: count(self.reactivated_customers),
            },
            other_revenue: Cents::new(self.other_revenue_cents),
            trials_ended: count(self.trials_ended),
            trials_converted: count(self.trials_converted),
            shipped: count(self.shipped),
            activated: count(self.activated),
            notifications_attempted: count(self.notifications_attempted),
            notifications_delivered: count(self.notifications_delivered),
            first_failures: count(self.first_failures),
            recovered: count(self.recovered),
            data_periods: count(self.data_periods),
            data_bytes: count(self.data_bytes),
        })
    }
}

/// One customer's MRR movement on a day, to store with the day.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewMovement {
    pub customer_id: UserId,
    pub kind: MovementKind,
    pub before: Cents,
    pub after: Cents,
}

/// A customer behind a movement, for the drill-down.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct MovementRow {
    pub day: String,
    pub customer_id: String,
    pub email: String,
    #[sqlx(try_from = "String")]
    pub kind: MovementKind,
    pub before_cents: i64,
    pub after_cents: i64,
}

/// Acquisition spend of one month and channel.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct SpendRow {
    pub month: String,
    pub channel: String,
    pub amount_cents: i64,
    pub updated_at: i64,
}

/// A subscription as the analytics rebuild its history: now, and since when.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct AnalyticsSubscriptionRow {
    pub id: String,
    pub device_id: String,
    pub customer_id: String,
    #[sqlx(try_from = "String")]
    pub plan_id: PlanId,
    #[sqlx(try_from = "String")]
    pub status: SubscriptionStatus,
    pub created_at: i64,
    /// The trial's end.
    pub anchor_at: i64,
}

/// An audited change of a subscription, oldest first: an entry about the subscription itself,
/// or about a device whose lifecycle change ended its subscription (`detail` names it). `detail`
/// is the audit entry's JSON.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct SubscriptionChangeRow {
    /// The audit entry's id: entries of one instant in the order recorded.
    pub id: i64,
    pub entity_type: String,
    pub entity_id: String,
    pub at: i64,
    pub detail: String,
}

/// An invoice's revenue outside MRR (overage, carried and one-off charges) and when it was made.
#[derive(Debug, Clone, Copy, PartialEq, Eq, sqlx::FromRow)]
pub struct OtherRevenueRow {
    pub created_at: i64,
    pub amount_cents: i64,
}

/// A payment attempt of an invoice, with the invoice's payment time.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct ChargeAttemptRow {
    pub invoice_id: String,
    pub failed: bool,
    pub created_at: i64,
    pub invoice_paid_at: Option<i64>,
}

/// A notified mail event: when it was first sent and whether a channel delivered it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, sqlx::FromRow)]
pub struct NotifiedEventRow {
    pub notified_at: i64,
    pub delivered: bool,
}

/// A usage period that ended, and its data bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, sqlx::FromRow)]
pub struct UsageEndedRow {
    pub period_end: i64,
    pub data_bytes: i64,
}

/// A shipped device and when it was claimed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, sqlx::FromRow)]
pub struct ShipmentRow {
    pub shipped_at: i64,
    pub claimed_at: Option<i64>,
}

/// Values per `IN (...)` list: SQLite slows down quadratically with numbered parameters.
const IN_CHUNK: usize = 500;

/// `$first, $first+1, ...`, `count` of them.
fn placeholders(first: usize, count: usize) -> String {
    (first..first + count)
        .map(|n| format!("${n}"))
        .collect::<Vec<_>>()
        .join(", ")
}

impl Db {
    /// Writes `snapshot`, its movements and the data bytes of the usage periods that ended on
    /// the day (`data_bytes`, any order), replacing what an earlier run wrote for the day.
    pub async fn save_analytics_day(
        &self,
        snapshot: &DaySnapshot,
        movements: &[NewMovement],
        data_bytes: &[u64],
        now_ms: i64,
    ) -> Result<()> {
        let mut sorted = data_bytes.to_vec();
        sorted.sort_unstable();
        let data: Vec<u8> = sorted.iter().flat_map(|b| b.to_le_bytes()).collect();
        let day = day_key(snapshot.day);
        let m = &snapshot.movements;
        let values: [i64; 22] = [
            snapshot.mrr.get(),
            stored(snapshot.paying_customers),
            stored(snapshot.trialing),
            m.new.get(),
            m.expansion.get(),
            m.contraction.get(),
            m.churn.get(),
            m.reactivation.get(),
            stored(m.new_customers),
            stored(m.churned_customers),
            stored(m.reactivated_customers),
            snapshot.other_revenue.get(),
            stored(snapshot.trials_ended),
            stored(snapshot.trials_converted),
            stored(snapshot.shipped),
            stored(snapshot.activated),
            stored(snapshot.notifications_attempted),
            stored(snapshot.notifications_delivered),
            stored(snapshot.first_failures),
            stored(snapshot.recovered),
            stored(snapshot.data_periods),
            stored(snapshot.data_bytes),
        ];
        let values_sql = placeholders(2, 23);
        let updates: Vec<String> = DAY_COLUMNS
            .split(", ")
            .skip(1)
            .chain(["computed_at"])
            .map(|c| format!("{c} = excluded.{c}"))
            .collect();
        let upsert = format!(
            "INSERT INTO analytics_days ({DAY_COLUMNS}, computed_at) VALUES ($1, {values_sql}) \
             ON CONFLICT (day) DO UPDATE SET {}",
            updates.join(", ")
        );
        on_pool!(self, pool => {
            let mut tx = pool.begin().await?;
            sqlx::query("DELETE FROM analytics_movements WHERE day = $1")
                .bind(&day)
                .execute(&mut *tx)
                .await?;
            let mut query = sqlx::query(sqlx::AssertSqlSafe(upsert.as_str())).bind(&day);
            for value in values {
                query = query.bind(value);
            }
            query.bind(now_ms).execute(&mut *tx).await?;
            sqlx::query(
                "INSERT INTO analytics_day_data (day, bytes) VALUES ($1, $2) \
                 ON CONFLICT (day) DO UPDATE SET bytes = excluded.bytes",
            )
            .bind(&day)
            .bind(&data)
            .execute(&mut *tx)
            .await?;
            for movement in movements {
                sqlx::query(
                    "INSERT INTO analytics_movements (day, customer_id, kind, before_cents, after_cents) \
                     VALUES ($1, $2, $3, $4, $5)",
                )
                .bind(&day)
                .bind(movement.customer_id.as_str())
                .bind(movement.kind.as_str())
                .bind(movement.before.get())
                .bind(movement.after.get())
                .execute(&mut *tx)
                .await?;
            }
            tx.commit().await
        })?;
        Ok(())
    }

    /// The snapshots of the days `from..=to`, oldest first (days never snapshotted are absent).
    pub async fn analytics_days(&self, from: Date, to: Date) -> Result<Vec<DaySnapshot>> {
        let sql = format!(
            "SELECT {DAY_COLUMNS} FROM analytics_days WHERE day >= $1 AND day <= $2 ORDER BY day"
        );
        let rows: Vec<DayRow> = on_pool!(self, pool => sqlx::query_as(sqlx::AssertSqlSafe(sql.as_str()))
            .bind(day_key(from))
            .bind(day_key(to))
            .fetch_all(pool)
            .await)?;
        rows.into_iter().map(DayRow::into_snapshot).collect()
    }

    /// The data bytes the snapshots of the days `from..=to` saw end, by day, each day's sorted
    /// (days never snapshotted, or snapshotted before these were kept, are absent).
    pub async fn analytics_day_data(&self, from: Date, to: Date) -> Result<Vec<(Date, Vec<u64>)>> {
        let rows: Vec<(String, Vec<u8>)> = on_pool!(self, pool => sqlx::query_as(
            "SELECT day, bytes FROM analytics_day_data WHERE day >= $1 AND day <= $2 ORDER BY day",
        )
        .bind(day_key(from))
        .bind(day_key(to))
        .fetch_all(pool)
        .await)?;
        rows.into_iter()
            .map(|(day, bytes)| {
                let day = parse_day_key(&day).ok_or_else(|| {
                    StoreError::Database(sqlx::Error::Decode(
                        format!("analytics day {day:?} is not a date").into(),
                    ))
                })?;
                let values = bytes
                    .chunks_exact(8)
                    .map(|b| u64::from_le_bytes(b.try_into().unwrap_or([0; 8])))
                    .collect();
                Ok((day, values))
            })
            .collect()
    }

    /// The newest day snapshotted.
    pub async fn last_analytics_day(&self) -> Result<Option<Date>> {
        let day: Option<String> = on_pool!(self, pool => sqlx::query_scalar(
            "SELECT MAX(day) FROM analytics_days",
        )
        .fetch_one(pool)
        .await)?;
        Ok(day.as_deref().and_then(parse_day_key))
    }

    /// The customers behind the `kind` movements of the days `from..=to`, by day then email.
    pub async fn analytics_movements(
        &self,
        from: Date,
        to: Date,
        kind: MovementKind,
        limit: i64,
    ) -> Result<Vec<MovementRow>> {
        Ok(on_pool!(self, pool => sqlx::query_as(
            "SELECT m.day, m.customer_id, u.email, m.kind, m.before_cents, m.after_cents \
             FROM analytics_movements m JOIN users u ON u.id = m.customer_id \
             WHERE m.kind = $1 AND m.day >= $2 AND m.day <= $3 ORDER BY m.day, u.email LIMIT $4",
        )
        .bind(kind.as_str())
        .bind(day_key(from))
        .bind(day_key(to))
        .bind(limit)
        .fetch_all(pool)
        .await)?)
    }

    /// The spend entered for the months `from..=to` (`YYYY-MM`), by month and channel.
    pub async fn acquisition_spend(&self, from: &str, to: &str) -> Result<Vec<SpendRow>> {
        Ok(on_pool!(self, pool => sqlx::query_as(
            "SELECT month, channel, amount_cents, updated_at FROM acquisition_spend \
             WHERE month >= $1 AND month <= $2 ORDER BY month, channel",
        )
        .bind(from)
        .bind(to)
        .fetch_all(pool)
        .await)?)
    }

    /// One month's spend on one channel, if entered.
    pub async fn acquisition_spend_of(&self, month: &str, channel: &str) -> Result<Option<i64>> {
        Ok(on_pool!(self, pool => sqlx::query_scalar(
            "SELECT amount_cents FROM acquisition_spend WHERE month = $1 AND channel = $2",
        )
        .bind(month)
        .bind(channel)
        .fetch_optional(pool)
        .await)?)
    }

    /// When the first subscription was made, if any.
    pub async fn first_subscription_at(&self) -> Result<Option<i64>> {
        Ok(on_pool!(self, pool => sqlx::query_scalar(
            "SELECT MIN(created_at) FROM subscriptions",
        )
        .fetch_one(pool)
        .await)?)
    }

    /// Every subscription, for rebuilding history.
    pub async fn analytics_subscriptions(&self) -> Result<Vec<AnalyticsSubscriptionRow>> {
        Ok(on_pool!(self, pool => sqlx::query_as(
            "SELECT id, device_id, customer_id, plan_id, status, created_at, anchor_at FROM subscriptions",
        )
        .fetch_all(pool)
        .await)?)
    }

    /// The customers whose subscriptions were made or written since `since_ms` (every billing
    /// write bumps `updated_at`), or whose trial ended in `[trials_from_ms, trials_to_ms)`: the
    /// only ones whose figures today can differ from yesterday's end.
    pub async fn analytics_customers_changed(
        &self,
        since_ms: i64,
        trials_from_ms: i64,
        trials_to_ms: i64,
    ) -> Result<Vec<String>> {
        Ok(on_pool!(self, pool => sqlx::query_scalar(
            "SELECT DISTINCT customer_id FROM subscriptions \
             WHERE updated_at >= $1 OR created_at >= $1 OR (anchor_at >= $2 AND anchor_at < $3)",
        )
        .bind(since_ms)
        .bind(trials_from_ms)
        .bind(trials_to_ms)
        .fetch_all(pool)
        .await)?)
    }

    /// The subscriptions of these customers, and the audit entries about them (as
    /// [`Db::analytics_subscription_changes`] reads for all).
    pub async fn analytics_history_of(
        &self,
        customers: &[String],
    ) -> Result<(Vec<AnalyticsSubscriptionRow>, Vec<SubscriptionChangeRow>)> {
        let mut subscriptions: Vec<AnalyticsSubscriptionRow> = Vec::new();
        let mut changes: Vec<SubscriptionChangeRow> = Vec::new();
        match &self.pool {
            Pool::Postgres(pool) => {
                subscriptions = sqlx::query_as(
                    "SELECT id, device_id, customer_id, plan_id, status, created_at, anchor_at \
                     FROM subscriptions WHERE customer_id = ANY($1)",
                )
                .bind(customers)
                .fetch_all(pool)
                .await?;
            }
            Pool::Sqlite(pool) => {
                for chunk in customers.chunks(IN_CHUNK) {
                    let sql = format!(
                        "SELECT id, device_id, customer_id, plan_id, status, created_at, anchor_at \
                         FROM subscriptions WHERE customer_id IN ({})",
                        placeholders(1, chunk.len())
                    );
                    let mut q = sqlx::query_as(sqlx::AssertSqlSafe(sql.as_str()));
                    for c in chunk {
                        q = q.bind(c);
                    }
                    subscriptions.extend(q.fetch_all(pool).await?);
                }
            }
        }
        let ids: Vec<&str> = subscriptions
            .iter()
            .flat_map(|s| [s.id.as_str(), s.device_id.as_str()])
            .collect();
        // One array parameter on PostgreSQL: with 500 numbered ones its generic plan (sqlx
        // prepares each statement) looked up the entity type alone and filtered 600,000 entries
        // by the list, 3.4 s a chunk; `= ANY($1)` keeps both columns in the index lookup.
        match &self.pool {
            Pool::Postgres(pool) => {
                changes = sqlx::query_as(
                    "SELECT id, entity_type, entity_id, at, detail FROM audit_log \
                     WHERE entity_type IN ('subscription', 'device') AND entity_id = ANY($1)",
                )
                .bind(&ids)
                .fetch_all(pool)
                .await?;
            }
            Pool::Sqlite(pool) => {
                for chunk in ids.chunks(IN_CHUNK) {
                    let sql = format!(
                        "SELECT id, entity_type, entity_id, at, detail FROM audit_log \
                         WHERE entity_type IN ('subscription', 'device') AND entity_id IN ({})",
                        placeholders(1, chunk.len())
                    );
                    let mut q = sqlx::query_as(sqlx::AssertSqlSafe(sql.as_str()));
                    for id in chunk {
                        q = q.bind(*id);
                    }
                    changes.extend(q.fetch_all(pool).await?);
                }
            }
        }
        // In the order recorded (chunks on SQLite come back one after another).
        changes.sort_by_key(|c| (c.at, c.id));
        Ok((subscriptions, changes))
    }

    /// Every audit entry about a subscription (and every device entry naming one), in the order
    /// recorded; the caller keeps those that say what the plan or status was before.
    pub async fn analytics_subscription_changes(&self) -> Result<Vec<SubscriptionChangeRow>> {
        Ok(on_pool!(self, pool => sqlx::query_as(
            "SELECT id, entity_type, entity_id, at, detail FROM audit_log \
             WHERE entity_type = 'subscription' \
                OR (entity_type = 'device' AND detail LIKE '%\"subscription_id\":\"%') \
             ORDER BY at, id",
        )
        .fetch_all(pool)
        .await)?)
    }

    /// Revenue outside MRR of the invoices made in `[from_ms, to_ms)`: a renewal's lines after
    /// the plan price (its first line), a proration's or a final overage invoice's (a renewal
    /// of an empty period, at a cancel) total; drafts, voided and carried invoices left out.
    pub async fn analytics_other_revenue(
        &self,
        from_ms: i64,
        to_ms: i64,
    ) -> Result<Vec<OtherRevenueRow>> {
        Ok(on_pool!(self, pool => sqlx::query_as(
            "SELECT i.created_at, i.total_cents - CASE WHEN i.kind = 'renewal' AND i.period_start < i.period_end THEN \
               COALESCE((SELECT l.amount_cents FROM invoice_lines l WHERE l.invoice_id = i.id AND l.position = 0), 0) \
               ELSE 0 END AS amount_cents \
             FROM invoices i WHERE i.created_at >= $1 AND i.created_at < $2 \
               AND i.status NOT IN ('draft', 'void') AND i.carried_into IS NULL",
        )
        .bind(from_ms)
        .bind(to_ms)
        .fetch_all(pool)
        .await)?)
    }

    /// The payment attempts of invoices that had one in `[from_ms, to_ms)` or were paid then,
    /// by invoice, oldest attempt first.
    pub async fn analytics_charge_attempts(
        &self,
        from_ms: i64,
        to_ms: i64,
    ) -> Result<Vec<ChargeAttemptRow>> {
        Ok(on_pool!(self, pool => sqlx::query_as(
            "SELECT p.invoice_id, p.status = 'failed' AS failed, p.created_at, i.paid_at AS invoice_paid_at \
             FROM payments p JOIN invoices i ON i.id = p.invoice_id \
             WHERE p.invoice_id IN (SELECT invoice_id FROM payments WHERE created_at >= $1 AND created_at < $2) \
                OR (i.paid_at >= $1 AND i.paid_at < $2) \
             ORDER BY p.invoice_id, p.created_at, p.id",
        )
        .bind(from_ms)
        .bind(to_ms)
        .fetch_all(pool)
        .await)?)
    }

    /// Mail events first notified in `[from_ms, to_ms)`, with whether a channel delivered.
    pub async fn analytics_notified_events(
        &self,
        from_ms: i64,
        to_ms: i64,
    ) -> Result<Vec<NotifiedEventRow>> {
        Ok(on_pool!(self, pool => sqlx::query_as(
            "SELECT MIN(created_at) AS notified_at, \
               MAX(CASE WHEN status = 'delivered' THEN 1 ELSE 0 END) = 1 AS delivered \
             FROM notification_deliveries GROUP BY event_id \
             HAVING MIN(created_at) >= $1 AND MIN(created_at) < $2",
        )
        .bind(from_ms)
        .bind(to_ms)
        .fetch_all(pool)
        .await)?)
    }

    /// Devices shipped in `[from_ms, to_ms)`.
    pub async fn analytics_shipments(&self, from_ms: i64, to_ms: i64) -> Result<Vec<ShipmentRow>> {
        Ok(on_pool!(self, pool => sqlx::query_as(
            "SELECT shipped_at, claimed_at FROM devices WHERE shipped_at >= $1 AND shipped_at < $2",
        )
        .bind(from_ms)
        .bind(to_ms)
        .fetch_all(pool)
        .await)?)
    }

    /// The usage periods that ended in `[from_ms, to_ms)`: when, and their data bytes.
    pub async fn analytics_usage_ended(
        &self,
        from_ms: i64,
        to_ms: i64,
    ) -> Result<Vec<UsageEndedRow>> {
        Ok(on_pool!(self, pool => sqlx::query_as(
            "SELECT period_end, data_bytes FROM usage_periods WHERE period_end >= $1 AND period_end < $2",
        )
        .bind(from_ms)
        .bind(to_ms)
        .fetch_all(pool)
        .await)?)
    }
}
