//! The `ticket_email` job (issue 20): tells a staff member that a ticket was opened, or a
//! customer that staff answered. The customer's email carries the subject and a link to the
//! ticket, never the thread (a note or an answer stays behind the login).
//!
//! The job is enqueued with the change that causes it under a unique key (one per new ticket
//! and staff member, one per staff reply), so it exists once; its id is the email's Message-ID,
//! so a copy sent again after a lost acknowledgement is recognisably the same message. Without
//! `SMARTBOX_SMTP_URL` the email is written to the log instead, as notifications are.

use smartbox_domain::{Email, TicketId};

use super::deliver::delivery_key;
use crate::jobs::{JobContext, JobError};
use crate::services::tickets::TicketEmail;
use crate::state::AppState;

/// One email about a ticket.
#[derive(Debug, Clone, PartialEq, Eq)]
struct TicketMail {
    to: String,
    subject: String,
    body: String,
}

/// Sends the job's email, unless the ticket or its reader is gone.
pub async fn run(ctx: JobContext) -> Result<(), JobError> {
    let email: TicketEmail = ctx.payload()?;
    let state = &ctx.state;
    let Some(mail) = compose(state, &email).await.map_err(JobError::retry)? else {
        tracing::info!(job = %ctx.job.id, "ticket email dropped: its ticket or reader is gone");
        return Ok(());
    };
    let channels = super::channels(&state.config).map_err(JobError::permanent)?;
    let Some(sender) = &channels.email else {
        tracing::info!(to = %mail.to, subject = %mail.subject, "ticket email (SMARTBOX_SMTP_URL unset: written to the log)");
        return Ok(());
    };
    let to = Email::parse(&mail.to).map_err(|err| JobError::permanent(anyhow::anyhow!("{err}")))?;
    let key = delivery_key(&ctx.job.id)?;
    super::job_result(sender.send_text(&to, key, &mail.subject, &mail.body).await)
}

/// The email `email` names, read now; `None` when the ticket or the reader is gone.
async fn compose(
    state: &AppState,
    email: &TicketEmail,
) -> Result<Option<TicketMail>, smartbox_store::StoreError> {
    let base = &state.config.public_url;
    let ticket_id = match email {
        TicketEmail::NewTicket { ticket_id, .. } | TicketEmail::StaffReply { ticket_id, .. } => {
            TicketId::new(ticket_id.as_str())
        }
    };
    let Some(ticket) = state.db.ticket_by_id(&ticket_id).await? else {
        return Ok(None);
    };
    Ok(match email {
        TicketEmail::NewTicket { to, .. } => {
            let Some(staff) = state.db.user_by_id(to).await? else {
                return Ok(None);
            };
            let customer = state
                .db
                .user_by_id(&ticket.customer_id)
                .await?
                .map(|u| u.email)
                .unwrap_or_default();
            Some(TicketMail {
                to: staff.email,
                subject: format!("New support ticket: {}", ticket.subject),
                body: format!(
                    "{customer} opened a support ticket about {category} ({priority} priority).\n\n\
                     Subject: {subject}\n\nAnswer it in the admin console:\n{base}/admin/tickets/{id}\n",
                    category = ticket.category,
                    priority = ticket.priority,
                    subject = ticket.subject,
                    id = ticket.id,
                ),
            })
        }
        TicketEmail::StaffReply { .. } => {
            let Some(customer) = state.db.user_by_id(&ticket.customer_id).await? else {
                return Ok(None);
            };
            Some(TicketMail {
                to: customer.email,
                subject: format!("Support answered: {}", ticket.subject),
                body: format!(
                    "Our support team answered your question \"{subject}\".\n\n\
                     Read the answer and reply here (you may need to log in):\n{base}/support/{id}\n\n\
                     For your privacy the answer is not in this email.\n",
                    subject = ticket.subject,
                    id = ticket.id,
                ),
            })
        }
    })
}
