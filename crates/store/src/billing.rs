//! What the billing engine reads: a subscription with everything one billing decision needs (its
//! customer's card, its device, the current period's usage, how many invoices are open) in one
//! query, the subscriptions whose period is over, and the customer's payment profile.

use smartbox_domain::{CardSummary, LifecycleState, SubscriptionStatus};

use crate::{Db, Result, on_pool};

/// A subscription as billing sees it.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct BillingSubscriptionRow {
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
    /// A card for this subscription only; `None` = the customer's default card.
    pub payment_method_id: Option<String>,
    /// Optimistic-concurrency version: every billing write checks and bumps it.
    pub version: i64,
    pub customer_email: String,
    pub provider_customer_id: Option<String>,
    pub default_payment_method_id: Option<String>,
    pub device_serial: String,
    #[sqlx(try_from = "String")]
    pub device_lifecycle: LifecycleState,
    /// Usage counted in the period starting at `current_period_start`.
    pub period_notifications: i64,
    pub period_data_bytes: i64,
    /// Invoices of this subscription in status `open`.
    pub open_invoices: i64,
    /// Invoices of this subscription in status `draft` (to carry into the next renewal).
    pub draft_invoices: i64,
    /// Staff credits not yet taken by an invoice.
    pub pending_credits: i64,
}

/// A customer's payment profile.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct BillingCustomerRow {
    pub id: String,
    pub email: String,
    pub provider_customer_id: Option<String>,
    pub default_payment_method_id: Option<String>,
    /// Unix seconds of the newest payment-method change applied (ours or a webhook's).
    pub payment_method_changed_at: Option<i64>,
    /// The default card as the provider described it when it was saved (see [`Self::card`]).
    pub card_brand: Option<String>,
    pub card_last4: Option<String>,
    pub card_exp_month: Option<i64>,
    pub card_exp_year: Option<i64>,
}

impl BillingCustomerRow {
    /// The default card's brand, last four digits and expiry; `None` without a card or for a
    /// card saved before they were kept.
    pub fn card(&self) -> Option<CardSummary> {
        self.default_payment_method_id.as_ref()?;
        Some(CardSummary {
            brand: self.card_brand.clone()?,
            last4: self.card_last4.clone()?,
            exp_month: u8::try_from(self.card_exp_month?).ok()?,
            exp_year: u16::try_from(self.card_exp_year?).ok()?,
        })
    }
}

const BILLING_SELECT: &str = "SELECT s.id, s.device_id, s.customer_id, s.plan_id, s.pending_plan_id, \
    s.status, s.anchor_at, s.current_period_start, s.current_period_end, s.cancel_at_period_end, \
    s.spend_cap_cents, s.past_due_since, s.payment_method_id, s.version, \
    u.email AS customer_email, u.provider_customer_id, u.default_payment_method_id, \
    d.serial AS device_serial, d.lifecycle_state AS device_lifecycle, \
    COALESCE(up.notifications, 0) AS period_notifications, COALESCE(up.data_bytes, 0) AS period_data_bytes, \
    (SELECT COUNT(*) FROM invoices i WHERE i.subscription_id = s.id AND i.status = 'open') AS open_invoices, \
    (SELECT COUNT(*) FROM invoices i WHERE i.subscription_id = s.id AND i.status = 'draft') AS draft_invoices, \
    (SELECT COUNT(*) FROM credits c WHERE c.subscription_id = s.id AND c.applied_invoice_id IS NULL) AS pending_credits \
    FROM subscriptions s JOIN users u ON u.id = s.customer_id JOIN devices d ON d.id = s.device_id \
    LEFT JOIN usage_periods up ON up.subscription_id = s.id AND up.period_start = s.current_period_start";

const CUSTOMER_COLUMNS: &str = "id, email, provider_customer_id, default_payment_method_id, \
    payment_method_changed_at, card_brand, card_last4, card_exp_month, card_exp_year";

impl Db {
    /// One subscription as billing sees it.
    pub async fn billing_subscription(&self, id: &str) -> Result<Option<BillingSubscriptionRow>> {
        let sql = format!("{BILLING_SELECT} WHERE s.id = $1");
        Ok(
            on_pool!(self, pool => sqlx::query_as(sqlx::AssertSqlSafe(sql.as_str())).bind(id).fetch_optional(pool).await)?,
        )
    }

    /// A customer's subscriptions that are not canceled, oldest first.
    pub async fn billing_subscriptions_of_customer(
        &self,
        customer_id: &str,
    ) -> Result<Vec<BillingSubscriptionRow>> {
        let sql = format!(
            "{BILLING_SELECT} WHERE s.customer_id = $1 AND s.status <> 'canceled' ORDER BY s.created_at, s.id"
        );
        Ok(
            on_pool!(self, pool => sqlx::query_as(sqlx::AssertSqlSafe(sql.as_str())).bind(customer_id).fetch_all(pool).await)?,
        )
    }

    /// Up to `limit` subscriptions whose current period ended at or before `now` (epoch ms) and
    /// that billing must act on: trials, active and past-due subscriptions, and suspended ones
    /// with a pending cancel. (A suspended subscription is not renewed while suspended; once paid
    /// it is active again and renews into the period containing that moment.) Earliest first.
    pub async fn due_subscriptions(
        &self,
        now: i64,
        limit: i64,
    ) -> Result<Vec<BillingSubscriptionRow>> {
        // The batch's ids first (from the index, in order), then what billing needs of them:
        // the joins and counts run for the batch only, never for the whole backlog.
        let sql = BILLING_SELECT.replacen(
            "FROM subscriptions s ",
            "FROM (SELECT id FROM subscriptions WHERE current_period_end <= $1 AND status <> 'canceled' \
             AND (status IN ('trialing', 'active', 'past_due') \
                  OR (status = 'suspended' AND cancel_at_period_end = TRUE)) \
             ORDER BY current_period_end, id LIMIT $2) due \
             JOIN subscriptions s ON s.id = due.id ",
            1,
        ) + " ORDER BY s.current_period_end, s.id";
        Ok(
            on_pool!(self, pool => sqlx::query_as(sqlx::AssertSqlSafe(sql.as_str())).bind(now).bind(limit).fetch_all(pool).await)?,
        )
    }

    /// A customer's payment profile.
    pub async fn billing_customer(&self, id: &str) -> Result<Option<BillingCustomerRow>> {
        let sql = format!("SELECT {CUSTOMER_COLUMNS} FROM users WHERE id = $1");
        Ok(
            on_pool!(self, pool => sqlx::query_as(sqlx::AssertSqlSafe(sql.as_str())).bind(id).fetch_optional(pool).await)?,
        )
    }

    /// The customer the payment provider knows as `provider_customer_id`.
    pub async fn billing_customer_by_provider_id(
        &self,
        provider_customer_id: &str,
    ) -> Result<Option<BillingCustomerRow>> {
        let sql = format!("SELECT {CUSTOMER_COLUMNS} FROM users WHERE provider_customer_id = $1");
        Ok(
            on_pool!(self, pool => sqlx::query_as(sqlx::AssertSqlSafe(sql.as_str())).bind(provider_customer_id).fetch_optional(pool).await)?,
        )
    }
}
