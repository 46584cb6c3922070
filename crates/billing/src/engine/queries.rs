//! Reads: snapshots for decisions, and the invoice and payment views the portal shows. Views
//! take the customer's id and answer "not found" for another customer's invoice.

use smartbox_store::{InvoiceLineRow, InvoiceRow, PaymentRow};

use super::decide::{Credit, Draft, PeriodEndExtras};
use super::html::render_invoice_html;
use super::lines::Line;
use super::snapshot::Snapshot;
use super::{BillingEngine, BillingError};
use smartbox_domain::{Cents, InvoiceId, InvoiceStatus, SubscriptionId, UserId};

/// An invoice with its lines and payment attempts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvoiceView {
    pub invoice: InvoiceRow,
    pub lines: Vec<InvoiceLineRow>,
    /// Every attempt, oldest first.
    pub payments: Vec<PaymentRow>,
    /// The customer's email, printed on the invoice.
    pub customer_email: String,
}

impl BillingEngine {
    /// The subscription as a decision needs it.
    pub(crate) async fn snapshot(&self, subscription_id: &str) -> Result<Snapshot, BillingError> {
        let row = self
            .db
            .billing_subscription(subscription_id)
            .await?
            .ok_or(BillingError::NotFound("subscription"))?;
        Snapshot::from_row(&row)
    }

    /// The customer's subscription `subscription_id` (not found when it is someone else's).
    pub(crate) async fn own_snapshot(
        &self,
        customer_id: &str,
        subscription_id: &str,
    ) -> Result<Snapshot, BillingError> {
        let snapshot = self.snapshot(subscription_id).await?;
        if snapshot.customer_id != customer_id {
            return Err(BillingError::NotFound("subscription"));
        }
        Ok(snapshot)
    }

    /// Drafts to carry and open invoices to write off, when the snapshot says there are any.
    pub(crate) async fn period_end_extras(
        &self,
        snapshot: &Snapshot,
    ) -> Result<PeriodEndExtras, BillingError> {
        let mut extras = PeriodEndExtras::default();
        if snapshot.draft_invoices > 0 {
            for draft in self
                .db
                .invoices_of_subscription_with_status(
                    &SubscriptionId::new(snapshot.id.as_str()),
                    InvoiceStatus::Draft,
                )
                .await?
            {
                let lines = self
                    .db
                    .invoice_lines(&InvoiceId::new(draft.id.as_str()))
                    .await?;
                extras.drafts.push(Draft {
                    id: draft.id,
                    number: draft.number,
                    lines: lines
                        .into_iter()
                        .map(|l| Line {
                            description: l.description,
                            amount: Cents::new(l.amount_cents),
                        })
                        .collect(),
                });
            }
        }
        if snapshot.pending_credits > 0 {
            let id = smartbox_domain::SubscriptionId::new(snapshot.id.clone());
            extras.credits = self
                .db
                .pending_credits(&id)
                .await?
                .into_iter()
                .map(|c| Credit {
                    id: c.id,
                    description: c.description,
                    amount: Cents::new(c.amount_cents),
                })
                .collect();
        }
        if snapshot.open_invoices > 0 && snapshot.state.cancel_at_period_end() {
            extras.open_invoice_ids = self
                .db
                .invoices_of_subscription_with_status(
                    &SubscriptionId::new(snapshot.id.as_str()),
                    InvoiceStatus::Open,
                )
                .await?
                .into_iter()
                .map(|i| i.id)
                .collect();
        }
        Ok(extras)
    }

    /// A customer's invoices, newest first.
    pub async fn invoices_of_customer(
        &self,
        customer_id: &str,
    ) -> Result<Vec<InvoiceRow>, BillingError> {
        Ok(self
            .db
            .invoices_of_customer(&UserId::new(customer_id))
            .await?)
    }

    /// Every payment attempt on a customer's invoices, newest first.
    pub async fn payments_of_customer(
        &self,
        customer_id: &str,
    ) -> Result<Vec<PaymentRow>, BillingError> {
        Ok(self
            .db
            .payments_of_customer(&UserId::new(customer_id))
            .await?)
    }

    /// One of the customer's invoices with its lines and attempts.
    pub async fn invoice(
        &self,
        customer_id: &str,
        invoice_id: &str,
    ) -> Result<InvoiceView, BillingError> {
        let invoice = self
            .db
            .invoice_by_id(&InvoiceId::new(invoice_id))
            .await?
            .filter(|i| i.customer_id == customer_id)
            .ok_or(BillingError::NotFound("invoice"))?;
        let customer = self
            .db
            .billing_customer(customer_id)
            .await?
            .ok_or(BillingError::NotFound("customer"))?;
        Ok(InvoiceView {
            lines: self
                .db
                .invoice_lines(&InvoiceId::new(invoice.id.as_str()))
                .await?,
            payments: self
                .db
                .payments_of_invoice(&InvoiceId::new(invoice.id.as_str()))
                .await?,
            invoice,
            customer_email: customer.email,
        })
    }

    /// The printable HTML page of one of the customer's invoices.
    pub async fn invoice_html(
        &self,
        customer_id: &str,
        invoice_id: &str,
    ) -> Result<String, BillingError> {
        let view = self.invoice(customer_id, invoice_id).await?;
        Ok(render_invoice_html(&view, self.provider.mode()))
    }
}
