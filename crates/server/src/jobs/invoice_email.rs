//! Emails an invoice to its customer: its number, lines, total and status, and a link to the
//! invoice in the portal. Queued by support's "resend the invoice email" under a key naming the
//! request, so pressing the button twice (or a retried request) sends one email.

use serde::{Deserialize, Serialize};
use smartbox_domain::epoch::from_unix_ms;
use smartbox_domain::{Cents, InvoiceStatus};

use super::{JobContext, JobError};
use crate::accounts::mail::{self, Mail};

/// The job kind.
pub const INVOICE_EMAIL: &str = "invoice_email";

/// The job's payload.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct InvoiceEmail {
    pub invoice_id: String,
}

/// Sends the invoice's email; a missing invoice or customer fails the job for good.
pub async fn run(ctx: JobContext) -> Result<(), JobError> {
    let payload: InvoiceEmail = ctx.payload()?;
    let db = &ctx.state.db;
    let invoice = db
        .invoice_by_id(&smartbox_domain::InvoiceId::new(
            payload.invoice_id.as_str(),
        ))
        .await
        .map_err(JobError::retry)?
        .ok_or_else(|| JobError::permanent(anyhow::anyhow!("no invoice {}", payload.invoice_id)))?;
    let user = db
        .user_by_id(&invoice.customer_id)
        .await
        .map_err(JobError::retry)?
        .ok_or_else(|| {
            JobError::permanent(anyhow::anyhow!("no customer {}", invoice.customer_id))
        })?;
    let lines = db
        .invoice_lines(&smartbox_domain::InvoiceId::new(invoice.id.as_str()))
        .await
        .map_err(JobError::retry)?;
    let mut body = format!(
        "Here is your Smart Mailbox invoice {}, issued {} (UTC).\n\n",
        invoice.number,
        from_unix_ms(invoice.created_at).date()
    );
    for line in &lines {
        body.push_str(&format!(
            "{}  {}\n",
            line.description,
            Cents::new(line.amount_cents)
        ));
    }
    body.push_str(&format!(
        "\nTotal: {} ({})\n\nSee it online: {}/billing/invoices/{}\n",
        Cents::new(invoice.total_cents),
        status_words(invoice.status),
        ctx.state.config.public_url,
        invoice.id
    ));
    mail::send(
        &ctx.state.config,
        Mail {
            to: user.email,
            subject: format!("Your Smart Mailbox invoice {}", invoice.number),
            body,
        },
    )
    .await;
    Ok(())
}

/// What the email says of the invoice's status.
fn status_words(status: InvoiceStatus) -> &'static str {
    match status {
        InvoiceStatus::Paid => "paid, thank you",
        InvoiceStatus::Open => "due",
        InvoiceStatus::Draft => "not final yet",
        InvoiceStatus::Uncollectible => "written off",
        InvoiceStatus::Void => "voided",
    }
}
