//! Subscriptions: one per device, the plan, the state and the billing anchor.

use smartbox_domain::{DeviceId, SubscriptionId, SubscriptionStatus, UserId};

use crate::{Db, Result, on_pool};

/// A subscription as stored.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct SubscriptionRow {
    pub id: String,
    pub device_id: String,
    pub customer_id: String,
    pub plan_id: String,
    pub pending_plan_id: Option<String>,
    #[sqlx(try_from = "String")]
    pub status: SubscriptionStatus,
    pub anchor_at: i64,
    pub current_period_start: i64,
    pub current_period_end: i64,
    pub cancel_at_period_end: bool,
    pub spend_cap_cents: Option<i64>,
    pub past_due_since: Option<i64>,
    pub payment_method_id: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
}

/// A subscription starting its trial.
#[derive(Debug, Clone)]
pub struct NewSubscription<'a> {
    pub id: &'a str,
    pub device_id: &'a str,
    pub customer_id: &'a str,
    pub plan_id: &'a str,
    pub status: SubscriptionStatus,
    /// The billing anchor (trial end).
    pub anchor_at: i64,
    pub current_period_start: i64,
    pub current_period_end: i64,
    pub created_at: i64,
}

/// Creates a subscription (also a [`crate::changes::Change`]).
pub(crate) const INSERT_SUBSCRIPTION_SQL: &str = "INSERT INTO subscriptions (id, device_id, customer_id, \
    plan_id, status, anchor_at, current_period_start, current_period_end, created_at, updated_at) \
    VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $9)";

/// Sets a subscription's spend cap (also a [`crate::changes::Change`]).
pub(crate) const SET_SPEND_CAP_SQL: &str =
    "UPDATE subscriptions SET spend_cap_cents = $2, updated_at = $3 WHERE id = $1";

const SUBSCRIPTION_COLUMNS: &str = "id, device_id, customer_id, plan_id, pending_plan_id, status, anchor_at, \
    current_period_start, current_period_end, cancel_at_period_end, spend_cap_cents, past_due_since, \
    payment_method_id, created_at, updated_at";

impl Db {
    /// Creates a subscription; a device that already has a live one is a conflict.
    pub async fn insert_subscription(&self, s: &NewSubscription<'_>) -> Result<()> {
        on_pool!(self, pool => sqlx::query(INSERT_SUBSCRIPTION_SQL)
        .bind(s.id)
        .bind(s.device_id)
        .bind(s.customer_id)
        .bind(s.plan_id)
        .bind(s.status.as_str())
        .bind(s.anchor_at)
        .bind(s.current_period_start)
        .bind(s.current_period_end)
        .bind(s.created_at)
        .execute(pool)
        .await
        .map(|_| ()))?;
        Ok(())
    }

    /// The device's live (not canceled) subscription.
    pub async fn live_subscription_of_device(
        &self,
        device_id: &DeviceId,
    ) -> Result<Option<SubscriptionRow>> {
        let sql = format!(
            "SELECT {SUBSCRIPTION_COLUMNS} FROM subscriptions WHERE device_id = $1 AND status <> 'canceled'"
        );
        Ok(
            on_pool!(self, pool => sqlx::query_as(sqlx::AssertSqlSafe(sql.as_str())).bind(device_id.as_str()).fetch_optional(pool).await)?,
        )
    }

    /// The subscription with this id.
    pub async fn subscription_by_id(&self, id: &SubscriptionId) -> Result<Option<SubscriptionRow>> {
        let sql = format!("SELECT {SUBSCRIPTION_COLUMNS} FROM subscriptions WHERE id = $1");
        Ok(
            on_pool!(self, pool => sqlx::query_as(sqlx::AssertSqlSafe(sql.as_str())).bind(id.as_str()).fetch_optional(pool).await)?,
        )
    }

    /// A customer's subscriptions, newest first.
    pub async fn subscriptions_of_customer(
        &self,
        customer_id: &UserId,
    ) -> Result<Vec<SubscriptionRow>> {
        let sql = format!(
            "SELECT {SUBSCRIPTION_COLUMNS} FROM subscriptions WHERE customer_id = $1 ORDER BY created_at DESC, id"
        );
        Ok(
            on_pool!(self, pool => sqlx::query_as(sqlx::AssertSqlSafe(sql.as_str())).bind(customer_id.as_str()).fetch_all(pool).await)?,
        )
    }

    /// Sets the customer's spend cap for overage (`None` = the plan price).
    pub async fn set_spend_cap(
        &self,
        subscription_id: &SubscriptionId,
        cap_cents: Option<i64>,
        now: i64,
    ) -> Result<()> {
        on_pool!(self, pool => sqlx::query(SET_SPEND_CAP_SQL)
        .bind(subscription_id.as_str())
        .bind(cap_cents)
        .bind(now)
        .execute(pool)
        .await
        .map(|_| ()))?;
        Ok(())
    }

    /// Moves a subscription from status `from` to `to`; false when it was not in `from`.
    pub async fn set_subscription_status(
        &self,
        id: &SubscriptionId,
        from: SubscriptionStatus,
        to: SubscriptionStatus,
        now: i64,
    ) -> Result<bool> {
        let done = on_pool!(self, pool => sqlx::query(
            "UPDATE subscriptions SET status = $3, updated_at = $4 WHERE id = $1 AND status = $2",
        )
        .bind(id.as_str())
        .bind(from.as_str())
        .bind(to.as_str())
        .bind(now)
        .execute(pool)
        .await?
        .rows_affected());
        Ok(done == 1)
    }
}
