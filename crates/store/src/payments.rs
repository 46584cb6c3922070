//! Payment attempts: one row per charge attempt of an invoice, written `pending` before the
//! provider is called (its id is the charge's idempotency key) and then moved forward to
//! `succeeded`, `failed` or `unknown` (to be reconciled), and from `succeeded` to `refunded`.
//! The database keeps one succeeded attempt per invoice and one attempt in flight per invoice.

use smartbox_domain::{InvoiceId, PaymentId, PaymentStatus, UserId};

use crate::{Db, Result, on_pool};

/// A payment attempt as stored.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct PaymentRow {
    pub id: String,
    pub invoice_id: String,
    pub amount_cents: i64,
    #[sqlx(try_from = "String")]
    pub status: PaymentStatus,
    /// `sandbox` or `stripe`.
    pub provider: String,
    /// The PaymentIntent, once the provider named it.
    pub provider_payment_id: Option<String>,
    pub failure_code: Option<String>,
    pub failure_message: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
    /// The `created` (unix seconds) of the newest webhook event applied to this attempt.
    pub provider_event_created: Option<i64>,
}

pub(crate) const PAYMENT_COLUMNS: &str = "id, invoice_id, amount_cents, status, provider, provider_payment_id, \
    failure_code, failure_message, created_at, updated_at, provider_event_created";

impl Db {
    /// The attempt with this id.
    pub async fn payment_by_id(&self, id: &PaymentId) -> Result<Option<PaymentRow>> {
        let sql = format!("SELECT {PAYMENT_COLUMNS} FROM payments WHERE id = $1");
        Ok(
            on_pool!(self, pool => sqlx::query_as(sqlx::AssertSqlSafe(sql.as_str())).bind(id.as_str()).fetch_optional(pool).await)?,
        )
    }

    /// The attempt the provider knows as `provider_payment_id` (a PaymentIntent id).
    pub async fn payment_by_provider_id(
        &self,
        provider_payment_id: &str,
    ) -> Result<Option<PaymentRow>> {
        let sql = format!(
            "SELECT {PAYMENT_COLUMNS} FROM payments WHERE provider_payment_id = $1 \
             ORDER BY created_at DESC LIMIT 1"
        );
        Ok(
            on_pool!(self, pool => sqlx::query_as(sqlx::AssertSqlSafe(sql.as_str())).bind(provider_payment_id).fetch_optional(pool).await)?,
        )
    }

    /// Every attempt of an invoice, oldest first.
    pub async fn payments_of_invoice(&self, invoice_id: &InvoiceId) -> Result<Vec<PaymentRow>> {
        let sql = format!(
            "SELECT {PAYMENT_COLUMNS} FROM payments WHERE invoice_id = $1 ORDER BY created_at, id"
        );
        Ok(
            on_pool!(self, pool => sqlx::query_as(sqlx::AssertSqlSafe(sql.as_str())).bind(invoice_id.as_str()).fetch_all(pool).await)?,
        )
    }

    /// Every attempt on a customer's invoices, newest first (payment history).
    pub async fn payments_of_customer(&self, customer_id: &UserId) -> Result<Vec<PaymentRow>> {
        let sql = format!(
            "SELECT {} FROM payments p JOIN invoices i ON i.id = p.invoice_id \
             WHERE i.customer_id = $1 ORDER BY p.created_at DESC, p.id DESC",
            qualified("p", PAYMENT_COLUMNS)
        );
        Ok(
            on_pool!(self, pool => sqlx::query_as(sqlx::AssertSqlSafe(sql.as_str())).bind(customer_id.as_str()).fetch_all(pool).await)?,
        )
    }

    /// Attempts still `pending` or `unknown` that were recorded before `before` (epoch ms): their
    /// outcome must be asked of the provider. Oldest first.
    pub async fn payments_in_flight_before(
        &self,
        before: i64,
        limit: i64,
    ) -> Result<Vec<PaymentRow>> {
        let sql = format!(
            "SELECT {PAYMENT_COLUMNS} FROM payments WHERE status IN ('pending', 'unknown') \
             AND created_at < $1 ORDER BY created_at, id LIMIT $2"
        );
        Ok(
            on_pool!(self, pool => sqlx::query_as(sqlx::AssertSqlSafe(sql.as_str())).bind(before).bind(limit).fetch_all(pool).await)?,
        )
    }
}

/// `a.x, a.y, ...` for a column list.
fn qualified(alias: &str, columns: &str) -> String {
    columns
        .split(',')
        .map(|c| format!("{alias}.{}", c.trim()))
        .collect::<Vec<_>>()
        .join(", ")
}
