//! Staff credits on a subscription: written by an admin through a change set
//! (`Change::InsertCredit`), taken by the billing engine into the next invoice it builds for the
//! subscription (`Change::ApplyCredit`, once), and listed on the customer's admin page.

use smartbox_domain::{SubscriptionId, UserId};

use crate::{Db, Result, on_pool};

/// A credit, pending until `applied_invoice_id` names the invoice that took it.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct CreditRow {
    pub id: String,
    pub subscription_id: String,
    pub customer_id: String,
    /// Always positive: the invoice line is its negative.
    pub amount_cents: i64,
    /// The invoice line's words (the reason is in the audit entry).
    pub description: String,
    pub created_at: i64,
    pub applied_invoice_id: Option<String>,
}

const CREDIT_COLUMNS: &str =
    "id, subscription_id, customer_id, amount_cents, description, created_at, applied_invoice_id";

impl Db {
    /// The subscription's credits no invoice has taken yet, oldest first.
    pub async fn pending_credits(
        &self,
        subscription_id: &SubscriptionId,
    ) -> Result<Vec<CreditRow>> {
        let sql = format!(
            "SELECT {CREDIT_COLUMNS} FROM credits \
             WHERE subscription_id = $1 AND applied_invoice_id IS NULL ORDER BY created_at, id"
        );
        Ok(
            on_pool!(self, pool => sqlx::query_as(sqlx::AssertSqlSafe(sql.as_str()))
            .bind(subscription_id.as_str())
            .fetch_all(pool)
            .await)?,
        )
    }

    /// A customer's credits, newest first.
    pub async fn credits_of_customer(&self, customer_id: &UserId) -> Result<Vec<CreditRow>> {
        let sql = format!(
            "SELECT {CREDIT_COLUMNS} FROM credits WHERE customer_id = $1 ORDER BY created_at DESC, id"
        );
        Ok(
            on_pool!(self, pool => sqlx::query_as(sqlx::AssertSqlSafe(sql.as_str()))
            .bind(customer_id.as_str())
            .fetch_all(pool)
            .await)?,
        )
    }
}
