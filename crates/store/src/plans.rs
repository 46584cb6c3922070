//! The plan catalog as stored, so invoices and reports can join on it. The domain crate is the
//! source of truth; the server upserts it at start-up.

use crate::{Db, Result, on_pool};

/// A plan as stored (prices and overage rates in cents; `None` means unlimited / not charged).
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct PlanRow {
    pub id: String,
    pub price_cents: i64,
    pub notification_limit: Option<i64>,
    pub data_limit_bytes: i64,
    pub notification_overage_cents: Option<i64>,
    pub data_overage_per_100mb_cents: i64,
}

impl Db {
    /// Inserts or updates a plan.
    pub async fn upsert_plan(&self, plan: &PlanRow) -> Result<()> {
        on_pool!(self, pool => sqlx::query(
            "INSERT INTO plans (id, price_cents, notification_limit, data_limit_bytes, \
             notification_overage_cents, data_overage_per_100mb_cents) VALUES ($1, $2, $3, $4, $5, $6) \
             ON CONFLICT (id) DO UPDATE SET price_cents = excluded.price_cents, \
             notification_limit = excluded.notification_limit, data_limit_bytes = excluded.data_limit_bytes, \
             notification_overage_cents = excluded.notification_overage_cents, \
             data_overage_per_100mb_cents = excluded.data_overage_per_100mb_cents",
        )
        .bind(&plan.id)
        .bind(plan.price_cents)
        .bind(plan.notification_limit)
        .bind(plan.data_limit_bytes)
        .bind(plan.notification_overage_cents)
        .bind(plan.data_overage_per_100mb_cents)
        .execute(pool)
        .await
        .map(|_| ()))?;
        Ok(())
    }

    /// Every stored plan, cheapest first.
    pub async fn plans(&self) -> Result<Vec<PlanRow>> {
        Ok(on_pool!(self, pool => sqlx::query_as(
            "SELECT id, price_cents, notification_limit, data_limit_bytes, notification_overage_cents, \
             data_overage_per_100mb_cents FROM plans ORDER BY price_cents",
        )
        .fetch_all(pool)
        .await)?)
    }
}
