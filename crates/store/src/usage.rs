//! Usage counters per (subscription, billing period): notifications and device-API bytes.
//! Each period has its own row, so history is kept and a new period starts at zero.

use crate::{Db, Result, on_pool};

/// One period's counters.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct UsageRow {
    pub subscription_id: String,
    pub period_start: i64,
    pub period_end: i64,
    pub notifications: i64,
    pub data_bytes: i64,
}

impl Db {
    /// Adds to a period's counters, creating the row at zero first when needed.
    pub async fn add_usage(
        &self,
        subscription_id: &str,
        period_start: i64,
        period_end: i64,
        notifications: i64,
        data_bytes: i64,
    ) -> Result<()> {
        on_pool!(self, pool => sqlx::query(
            "INSERT INTO usage_periods (subscription_id, period_start, period_end, notifications, data_bytes) \
             VALUES ($1, $2, $3, $4, $5) ON CONFLICT (subscription_id, period_start) DO UPDATE SET \
             notifications = usage_periods.notifications + excluded.notifications, \
             data_bytes = usage_periods.data_bytes + excluded.data_bytes",
        )
        .bind(subscription_id)
        .bind(period_start)
        .bind(period_end)
        .bind(notifications)
        .bind(data_bytes)
        .execute(pool)
        .await
        .map(|_| ()))?;
        Ok(())
    }

    /// A period's counters (zero when nothing was recorded yet).
    pub async fn usage(
        &self,
        subscription_id: &str,
        period_start: i64,
        period_end: i64,
    ) -> Result<UsageRow> {
        let row: Option<UsageRow> = on_pool!(self, pool => sqlx::query_as(
            "SELECT subscription_id, period_start, period_end, notifications, data_bytes FROM usage_periods \
             WHERE subscription_id = $1 AND period_start = $2",
        )
        .bind(subscription_id)
        .bind(period_start)
        .fetch_optional(pool)
        .await)?;
        Ok(row.unwrap_or_else(|| UsageRow {
            subscription_id: subscription_id.to_owned(),
            period_start,
            period_end,
            notifications: 0,
            data_bytes: 0,
        }))
    }

    /// Every period of a subscription, oldest first.
    pub async fn usage_history(&self, subscription_id: &str) -> Result<Vec<UsageRow>> {
        Ok(on_pool!(self, pool => sqlx::query_as(
            "SELECT subscription_id, period_start, period_end, notifications, data_bytes FROM usage_periods \
             WHERE subscription_id = $1 ORDER BY period_start",
        )
        .bind(subscription_id)
        .fetch_all(pool)
        .await)?)
    }
}
