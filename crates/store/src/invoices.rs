//! Invoices and their lines. An invoice is written once with its lines (see `changes`) and then
//! only changes status: `draft` (too small to charge alone, carried into the next renewal),
//! `open` (awaiting payment), `paid`, `uncollectible` (written off when the subscription ended
//! unpaid) or `void`. The database keeps one renewal invoice per (subscription, period start).

use smartbox_domain::{InvoiceId, InvoiceStatus, SubscriptionId, UserId};

use crate::{Db, Result, on_pool};

/// An invoice as stored.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct InvoiceRow {
    pub id: String,
    pub number: String,
    pub subscription_id: String,
    pub customer_id: String,
    /// `renewal` or `proration`.
    pub kind: String,
    pub period_start: i64,
    pub period_end: i64,
    #[sqlx(try_from = "String")]
    pub status: InvoiceStatus,
    pub total_cents: i64,
    pub idempotency_key: String,
    pub created_at: i64,
    pub paid_at: Option<i64>,
    /// For a draft carried into a later invoice: that invoice's id.
    pub carried_into: Option<String>,
}

/// One line of an invoice.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct InvoiceLineRow {
    pub invoice_id: String,
    pub position: i64,
    pub description: String,
    pub amount_cents: i64,
}

pub(crate) const INVOICE_COLUMNS: &str = "id, number, subscription_id, customer_id, kind, period_start, \
    period_end, status, total_cents, idempotency_key, created_at, paid_at, carried_into";

impl Db {
    /// The invoice with this id.
    pub async fn invoice_by_id(&self, id: &InvoiceId) -> Result<Option<InvoiceRow>> {
        let sql = format!("SELECT {INVOICE_COLUMNS} FROM invoices WHERE id = $1");
        Ok(
            on_pool!(self, pool => sqlx::query_as(sqlx::AssertSqlSafe(sql.as_str())).bind(id.as_str()).fetch_optional(pool).await)?,
        )
    }

    /// The invoice with this number (`SB-0000001`).
    pub async fn invoice_by_number(&self, number: &str) -> Result<Option<InvoiceRow>> {
        let sql = format!("SELECT {INVOICE_COLUMNS} FROM invoices WHERE number = $1");
        Ok(
            on_pool!(self, pool => sqlx::query_as(sqlx::AssertSqlSafe(sql.as_str())).bind(number).fetch_optional(pool).await)?,
        )
    }

    /// An invoice's lines in order.
    pub async fn invoice_lines(&self, invoice_id: &InvoiceId) -> Result<Vec<InvoiceLineRow>> {
        Ok(on_pool!(self, pool => sqlx::query_as(
            "SELECT invoice_id, position, description, amount_cents FROM invoice_lines \
             WHERE invoice_id = $1 ORDER BY position",
        )
        .bind(invoice_id.as_str())
        .fetch_all(pool)
        .await)?)
    }

    /// A customer's invoices, newest first (drafts included: they show what the next invoice
    /// will carry).
    pub async fn invoices_of_customer(&self, customer_id: &UserId) -> Result<Vec<InvoiceRow>> {
        let sql = format!(
            "SELECT {INVOICE_COLUMNS} FROM invoices WHERE customer_id = $1 \
             ORDER BY created_at DESC, number DESC"
        );
        Ok(
            on_pool!(self, pool => sqlx::query_as(sqlx::AssertSqlSafe(sql.as_str())).bind(customer_id.as_str()).fetch_all(pool).await)?,
        )
    }

    /// A subscription's invoices, oldest first.
    pub async fn invoices_of_subscription(
        &self,
        subscription_id: &SubscriptionId,
    ) -> Result<Vec<InvoiceRow>> {
        let sql = format!(
            "SELECT {INVOICE_COLUMNS} FROM invoices WHERE subscription_id = $1 \
             ORDER BY created_at, number"
        );
        Ok(
            on_pool!(self, pool => sqlx::query_as(sqlx::AssertSqlSafe(sql.as_str())).bind(subscription_id.as_str()).fetch_all(pool).await)?,
        )
    }

    /// A subscription's invoices in one status, oldest first.
    pub async fn invoices_of_subscription_with_status(
        &self,
        subscription_id: &SubscriptionId,
        status: InvoiceStatus,
    ) -> Result<Vec<InvoiceRow>> {
        let sql = format!(
            "SELECT {INVOICE_COLUMNS} FROM invoices WHERE subscription_id = $1 AND status = $2 \
             ORDER BY created_at, number"
        );
        Ok(
            on_pool!(self, pool => sqlx::query_as(sqlx::AssertSqlSafe(sql.as_str())).bind(subscription_id.as_str()).bind(status.as_str()).fetch_all(pool).await)?,
        )
    }

    /// The open invoices of every live subscription of a customer, oldest first.
    pub async fn open_invoices_of_customer(&self, customer_id: &UserId) -> Result<Vec<InvoiceRow>> {
        let sql = format!(
            "SELECT {INVOICE_COLUMNS} FROM invoices WHERE customer_id = $1 AND status = 'open' \
             ORDER BY created_at, number"
        );
        Ok(
            on_pool!(self, pool => sqlx::query_as(sqlx::AssertSqlSafe(sql.as_str())).bind(customer_id.as_str()).fetch_all(pool).await)?,
        )
    }

    /// How many invoices exist in each status, for reports and tests: `(status, count)`.
    pub async fn invoice_status_counts(&self) -> Result<Vec<(String, i64)>> {
        Ok(on_pool!(self, pool => sqlx::query_as(
            "SELECT status, COUNT(*) FROM invoices GROUP BY status ORDER BY status",
        )
        .fetch_all(pool)
        .await)?)
    }
}
