//! Staff helping a customer by email (DESIGN §6), support and admin alike, each with a reason
//! and an audit entry written in the same transaction as what it queues or stores: resend an
//! invoice's email (a keyed job, so the same request twice sends one email) and send a
//! password-reset link (the customer's own reset flow: the same one-time link and email).

use smartbox_domain::{InvoiceId, UserId};
use smartbox_store::changes::{AuditRecord, Change, Changes, QueuedJob};

use super::staff_devices::{Reason, require_staff};
use super::{Actor, ServiceError, StaffRole};
use crate::accounts::mail;
use crate::accounts::reset_link::ResetLink;
use crate::jobs::invoice_email::{INVOICE_EMAIL, InvoiceEmail};
use crate::state::AppState;

/// Queues the invoice's email to its customer once per `key` (8 to 200 characters naming
/// this request). Returns the id of the customer it goes to.
pub async fn resend_invoice(
    state: &AppState,
    actor: &Actor,
    id: &InvoiceId,
    key: &str,
    reason: &str,
) -> Result<UserId, ServiceError> {
    require_staff(actor, StaffRole::Support)?;
    let reason = Reason::parse(reason)?;
    let key = key.trim();
    if key.len() < 8 || key.len() > 200 {
        return Err(ServiceError::Invalid {
            code: "invalid_idempotency_key",
            message: "Resending needs an idempotency key of 8 to 200 characters.".into(),
        });
    }
    let invoice = state
        .db
        .invoice_by_id(id)
        .await?
        .ok_or_else(|| ServiceError::not_found("invoice", id.as_str()))?;
    let unique_key = format!("{INVOICE_EMAIL}:{}:{key}", invoice.id);
    if state.db.job_by_unique_key(&unique_key).await?.is_some() {
        return Ok(UserId::new(invoice.customer_id));
    }
    let now = state.clock.now_ms();
    let payload = InvoiceEmail {
        invoice_id: invoice.id.clone(),
    };
    let mut changes = Changes::new();
    changes.push(Change::EnqueueJob(QueuedJob {
        id: uuid::Uuid::now_v7().to_string(),
        kind: INVOICE_EMAIL.to_owned(),
        payload: serde_json::to_string(&payload).map_err(anyhow::Error::from)?,
        unique_key: Some(unique_key),
        run_at: now,
        max_attempts: 5,
    }));
    changes.push(audit(
        state,
        actor,
        ("invoice", &invoice.id),
        "invoice_email_resent",
        &reason,
        serde_json::json!({ "number": invoice.number, "customer_id": invoice.customer_id }),
    ));
    state.db.apply_changes(&changes).await?;
    state.jobs_enqueued();
    Ok(UserId::new(invoice.customer_id))
}

/// Emails the customer a one-time link to choose a new password (older links stop working).
pub async fn send_password_reset(
    state: &AppState,
    actor: &Actor,
    id: &UserId,
    reason: &str,
) -> Result<(), ServiceError> {
    require_staff(actor, StaffRole::Support)?;
    let reason = Reason::parse(reason)?;
    let user = state
        .db
        .user_by_id(id.as_str())
        .await?
        .filter(|u| !crate::accounts::Role::parse(&u.role).is_staff())
        .ok_or_else(|| ServiceError::not_found("customer", id.as_str()))?;
    let now = state.clock.now_ms();
    let link = ResetLink::new(&state.config.public_url, &user.id, &user.email, now);
    let mut changes = Changes::new();
    changes.push(link.change);
    changes.push(audit(
        state,
        actor,
        ("user", &user.id),
        "password_reset_sent",
        &reason,
        serde_json::json!({ "email": user.email }),
    ));
    state.db.apply_changes(&changes).await?;
    mail::send(&state.config, link.mail).await;
    Ok(())
}

/// One audit entry with the staff member's reason as its cause.
fn audit(
    state: &AppState,
    actor: &Actor,
    (entity_type, entity_id): (&str, &str),
    action: &str,
    reason: &Reason,
    mut detail: serde_json::Value,
) -> Change {
    if let Some(map) = detail.as_object_mut() {
        map.insert("cause".to_owned(), reason.as_str().into());
    }
    Change::Audit(AuditRecord {
        at: state.clock.now_ms(),
        actor: actor.audit_name(),
        entity_type: entity_type.to_owned(),
        entity_id: entity_id.to_owned(),
        action: action.to_owned(),
        detail: detail.to_string(),
    })
}
