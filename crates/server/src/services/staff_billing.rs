//! Staff actions on money (DESIGN §6): only an admin refunds. A refund goes to the payment
//! provider (Stripe, or the sandbox) under an idempotency key, so a retried request never
//! refunds twice; what the provider refunded is then written with its audit entry in one
//! transaction (a full refund moves the payment to `refunded`; Stripe's `charge.refunded`
//! webhook, arriving later, finds it there and changes nothing more).

use smartbox_billing::{BillingError, PaymentIntentId, RefundRequest, RefundStatus};
use smartbox_domain::{Cents, InvoiceId, PaymentId, PaymentStatus};
use smartbox_store::PaymentRow;
use smartbox_store::changes::{AuditRecord, Change, Changes, PaymentUpdate};

use super::staff_devices::{Reason, require_staff};
use super::{Actor, ServiceError, StaffRole};
use crate::state::AppState;

/// What a refund did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refunded {
    pub refund_id: String,
    pub amount: Cents,
    /// True when nothing of the payment is left to refund.
    pub full: bool,
    /// Whose payment it was.
    pub customer_id: String,
}

/// Refunds `amount` of the payment `payment_id` (all that is left when `None`). `key` names
/// this request: the same key again returns the same refund instead of a second one.
pub async fn refund(
    state: &AppState,
    actor: &Actor,
    payment_id: &str,
    amount: Option<Cents>,
    key: &str,
    reason: &str,
) -> Result<Refunded, ServiceError> {
    require_staff(actor, StaffRole::Admin)?;
    let reason = Reason::parse(reason)?;
    if key.trim().len() < 8 || key.len() > 200 {
        return Err(ServiceError::Invalid {
            code: "invalid_idempotency_key",
            message: "The refund needs an idempotency key of 8 to 200 characters.".into(),
        });
    }
    if amount.is_some_and(|a| a <= Cents::ZERO) {
        return Err(ServiceError::Invalid {
            code: "invalid_amount",
            message: "The amount to refund must be at least 1 cent.".into(),
        });
    }
    let payment = state
        .db
        .payment_by_id(&PaymentId::new(payment_id))
        .await?
        .ok_or_else(|| ServiceError::not_found("payment", payment_id))?;
    let intent = refundable(&payment)?;
    let customer_id = state
        .db
        .invoice_by_id(&InvoiceId::new(payment.invoice_id.as_str()))
        .await?
        .map(|i| i.customer_id)
        .unwrap_or_default();
    // What is left is checked here, not left to the provider: not every provider refuses a
    // refund beyond the charge (localstripe does not), and "all" is sent as the cents left.
    let refunded_before = refunded_so_far(state, &payment).await?;
    let left = Cents::new(payment.amount_cents - refunded_before);
    if left <= Cents::ZERO {
        return Err(ServiceError::Conflict(
            "Nothing of this payment is left to refund.".into(),
        ));
    }
    if amount.is_some_and(|a| a > left) {
        return Err(ServiceError::Invalid {
            code: "invalid_amount",
            message: format!("Only {left} of this payment is left to refund."),
        });
    }
    let request = RefundRequest {
        intent_id: PaymentIntentId::new(intent),
        amount: Some(amount.unwrap_or(left)),
        idempotency_key: format!("staff-refund:{}:{}", payment.id, key.trim()),
    };
    let refund = state
        .payments
        .refund(&request)
        .await
        .map_err(|err| ServiceError::Billing(BillingError::Provider(err)))?;
    if matches!(refund.status, RefundStatus::Failed | RefundStatus::Canceled) {
        return Err(ServiceError::Conflict(format!(
            "The payment provider did not refund it ({:?}).",
            refund.status
        )));
    }
    let already_recorded = state
        .db
        .audit_for("invoice", &payment.invoice_id)
        .await?
        .iter()
        .any(|e| e.action == "staff_refund" && e.detail.contains(refund.id.as_str()));
    let total = refunded_before
        + if already_recorded {
            0
        } else {
            refund.amount.get()
        };
    let full = total >= payment.amount_cents;
    if already_recorded {
        return Ok(Refunded {
            refund_id: refund.id.as_str().to_owned(),
            amount: refund.amount,
            full,
            customer_id,
        });
    }
    let now = state.clock.now_ms();
    let mut changes = Changes::new();
    if full {
        changes.push(Change::UpdatePayment(PaymentUpdate {
            id: payment.id.clone(),
            from: vec![PaymentStatus::Succeeded],
            status: PaymentStatus::Refunded,
            provider_payment_id: None,
            failure_code: None,
            failure_message: None,
            provider_event_created: None,
            updated_at: now,
        }));
    }
    changes.push(Change::Audit(AuditRecord {
        at: now,
        actor: actor.audit_name(),
        entity_type: "invoice".to_owned(),
        entity_id: payment.invoice_id.clone(),
        action: "staff_refund".to_owned(),
        detail: serde_json::json!({
            "cause": reason.as_str(),
            "payment_id": payment.id,
            "refund_id": refund.id.as_str(),
            "amount_cents": refund.amount.get(),
            "refunded_total_cents": total,
            "full": full,
        })
        .to_string(),
    }));
    state.db.apply_changes(&changes).await?;
    tracing::info!(payment = %payment.id, amount = refund.amount.get(), actor = %actor.audit_name(), "payment refunded");
    Ok(Refunded {
        refund_id: refund.id.as_str().to_owned(),
        amount: refund.amount,
        full,
        customer_id,
    })
}

/// The provider's PaymentIntent of a succeeded payment, or why it cannot be refunded.
fn refundable(payment: &PaymentRow) -> Result<String, ServiceError> {
    if payment.status != PaymentStatus::Succeeded {
        return Err(ServiceError::Conflict(format!(
            "Only a succeeded payment can be refunded; this one is {}.",
            payment.status
        )));
    }
    payment.provider_payment_id.clone().ok_or_else(|| {
        ServiceError::Conflict("The payment provider never named this payment.".into())
    })
}

/// Cents of the payment staff refunded before (from the audit log, where each refund is kept).
pub async fn refunded_so_far(state: &AppState, payment: &PaymentRow) -> Result<i64, ServiceError> {
    Ok(state
        .db
        .audit_for("invoice", &payment.invoice_id)
        .await?
        .iter()
        .filter(|e| e.action == "staff_refund")
        .filter_map(|e| serde_json::from_str::<serde_json::Value>(&e.detail).ok())
        .filter(|d| d["payment_id"] == payment.id.as_str())
        .filter_map(|d| d["amount_cents"].as_i64())
        .sum())
}
