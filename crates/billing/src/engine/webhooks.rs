//! Stripe webhook events, once their signature is verified (the server's endpoint does that):
//! each event id takes effect once, in the same transaction as its effect, and an event that
//! arrives late or out of order never moves a state backwards:
//! - payments only move forward (`pending`/`unknown` → `failed` → `succeeded` → `refunded`); a
//!   failure reported after a success is ignored, a success is never lost;
//! - the customer's default card changes only for an event newer (by `created`) than the last
//!   change applied.
//!
//! Handled: `payment_intent.succeeded`, `payment_intent.payment_failed`,
//! `setup_intent.succeeded`, `payment_method.attached`, `payment_method.detached`,
//! `charge.refunded`, `charge.dispute.created`. Other types are recorded and ignored.

use serde_json::{Value, json};
use smartbox_domain::{InvoiceId, PaymentId, PaymentStatus};
use smartbox_store::PaymentRow;
use smartbox_store::changes::{Applied, Change, Changes, PaymentUpdate, StaleGuard};
use time::OffsetDateTime;

use super::audit;
use super::decide::{self, Cause, InvoiceRef};
use super::jobs::BillingJob;
use super::{BillingEngine, BillingError, FreshIds, MAX_ROUNDS, new_id, to_ms};
use crate::provider::{METADATA_PAYMENT_ATTEMPT_ID, PaymentFailure};
use crate::webhook::{EventKind, WebhookEvent};

/// What the endpoint answers (all with 200).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WebhookOutcome {
    /// Recorded; its effect (possibly none, when it was older than what we know) is written.
    Processed,
    /// This event id was processed before.
    AlreadyProcessed,
    /// Recorded; not about anything billing tracks.
    Ignored,
}

impl WebhookOutcome {
    pub fn as_str(self) -> &'static str {
        match self {
            WebhookOutcome::Processed => "processed",
            WebhookOutcome::AlreadyProcessed => "already_processed",
            WebhookOutcome::Ignored => "ignored",
        }
    }
}

impl BillingEngine {
    /// Applies a verified webhook event at `now`.
    pub async fn handle_webhook_event(
        &self,
        event: &WebhookEvent,
        now: OffsetDateTime,
    ) -> Result<WebhookOutcome, BillingError> {
        let actor = format!("stripe:{}", event.id);
        for _ in 0..MAX_ROUNDS {
            let (effect, outcome) = self.webhook_effect(event, now, &actor).await?;
            let mut changes = Changes::new();
            changes.push(Change::RecordStripeEvent {
                id: event.id.clone(),
                event_type: event.event_type.clone(),
                created: event.created,
                processed_at: to_ms(now),
            });
            changes.ops.extend(effect.ops);
            match self.db.apply_changes(&changes).await? {
                Applied::Done => return Ok(outcome),
                Applied::Stale(stale) if stale.guard == StaleGuard::EventProcessed => {
                    return Ok(WebhookOutcome::AlreadyProcessed);
                }
                Applied::Stale(_) => continue,
            }
        }
        Err(BillingError::Contended("applying a webhook event"))
    }

    async fn webhook_effect(
        &self,
        event: &WebhookEvent,
        now: OffsetDateTime,
        actor: &str,
    ) -> Result<(Changes, WebhookOutcome), BillingError> {
        let none = |outcome| Ok((Changes::new(), outcome));
        match event.kind() {
            EventKind::PaymentIntentSucceeded | EventKind::PaymentIntentPaymentFailed => {
                let Some(payment) = self.payment_of_event(event).await? else {
                    return none(WebhookOutcome::Ignored);
                };
                self.payment_intent_effect(event, &payment, now, actor)
                    .await
                    .map(|changes| (changes, WebhookOutcome::Processed))
            }
            EventKind::ChargeRefunded | EventKind::ChargeDisputeCreated => {
                let Some(payment) = self.payment_of_event(event).await? else {
                    return none(WebhookOutcome::Ignored);
                };
                Ok((
                    charge_effect(event, &payment, now, actor),
                    WebhookOutcome::Processed,
                ))
            }
            EventKind::SetupIntentSucceeded
            | EventKind::PaymentMethodAttached
            | EventKind::PaymentMethodDetached => self.card_effect(event, now, actor).await,
            EventKind::Other => none(WebhookOutcome::Ignored),
        }
    }

    /// Our attempt the event is about: by the attempt id in the metadata, else by the
    /// PaymentIntent id recorded on it.
    async fn payment_of_event(
        &self,
        event: &WebhookEvent,
    ) -> Result<Option<PaymentRow>, BillingError> {
        if let Some(attempt) = event.metadata(METADATA_PAYMENT_ATTEMPT_ID)
            && let Some(payment) = self.db.payment_by_id(&PaymentId::new(attempt)).await?
        {
            return Ok(Some(payment));
        }
        match event.payment_intent_id() {
            Some(intent) => Ok(self.db.payment_by_provider_id(intent.as_str()).await?),
            None => Ok(None),
        }
    }

    async fn payment_intent_effect(
        &self,
        event: &WebhookEvent,
        payment: &PaymentRow,
        now: OffsetDateTime,
        actor: &str,
    ) -> Result<Changes, BillingError> {
        let succeeded = event.kind() == EventKind::PaymentIntentSucceeded;
        let moves_forward = if succeeded {
            decide::SETTLE_SUCCESS_FROM.contains(&payment.status)
        } else {
            decide::SETTLE_FAILURE_FROM.contains(&payment.status)
                && !older_than_applied(payment, event.created)
        };
        if !moves_forward {
            return Ok(Changes::new());
        }
        let invoice = self
            .db
            .invoice_by_id(&InvoiceId::new(payment.invoice_id.as_str()))
            .await?
            .ok_or(BillingError::NotFound("invoice"))?;
        let snapshot = self.snapshot(&invoice.subscription_id).await?;
        let invoice_ref = InvoiceRef {
            id: invoice.id.clone(),
            status: invoice.status,
        };
        let intent = event.payment_intent_id();
        Ok(if succeeded {
            decide::payment_succeeded(
                &snapshot,
                &invoice_ref,
                &payment.id,
                intent.as_ref(),
                Some(event.created),
                now,
                Cause {
                    actor,
                    why: "Stripe reported the payment succeeded",
                    ids: &FreshIds,
                },
            )
        } else {
            let failure = event.payment_failure().unwrap_or_else(|| PaymentFailure {
                code: "payment_failed".into(),
                decline_code: None,
                message: "The payment failed.".into(),
            });
            decide::payment_failed(
                &snapshot,
                &invoice_ref,
                &payment.id,
                &failure,
                intent.as_ref(),
                Some(event.created),
                now,
                Cause {
                    actor,
                    why: "Stripe reported the payment failed",
                    ids: &FreshIds,
                },
            )
        })
    }

    async fn card_effect(
        &self,
        event: &WebhookEvent,
        now: OffsetDateTime,
        actor: &str,
    ) -> Result<(Changes, WebhookOutcome), BillingError> {
        let (Some(customer_id), Some(payment_method)) =
            (event.customer_id(), event.payment_method_id())
        else {
            return Ok((Changes::new(), WebhookOutcome::Ignored));
        };
        let Some(customer) = self
            .db
            .billing_customer_by_provider_id(customer_id.as_str())
            .await?
        else {
            return Ok((Changes::new(), WebhookOutcome::Ignored));
        };
        let newer_applied = customer
            .payment_method_changed_at
            .is_some_and(|at| at > event.created);
        let is_default =
            customer.default_payment_method_id.as_deref() == Some(payment_method.as_str());
        let mut changes = Changes::new();
        if newer_applied {
            return Ok((changes, WebhookOutcome::Processed));
        }
        let now_ms = to_ms(now);
        if event.kind() == EventKind::PaymentMethodDetached {
            if is_default {
                changes.push(Change::SetCustomerPaymentMethod {
                    customer_id: customer.id.clone(),
                    payment_method_id: None,
                    card: None,
                    changed_at: event.created,
                });
                changes.push(audit::entry(
                    now_ms,
                    actor,
                    ("customer", &customer.id),
                    "payment_method_removed",
                    "Stripe reported the card detached",
                    json!({ "payment_method": payment_method.as_str() }),
                ));
            }
            return Ok((changes, WebhookOutcome::Processed));
        }
        if !is_default {
            changes.push(Change::SetCustomerPaymentMethod {
                customer_id: customer.id.clone(),
                payment_method_id: Some(payment_method.as_str().to_owned()),
                // A webhook carries no card details: the page says only that a card is on file.
                card: None,
                changed_at: event.created,
            });
            changes.push(audit::entry(
                now_ms,
                actor,
                ("customer", &customer.id),
                "payment_method_set",
                "Stripe reported a card saved for the customer",
                json!({ "payment_method": payment_method.as_str(), "event_type": event.event_type }),
            ));
            // The card changed: charge the customer's open invoices at once, from a job (the
            // charges call the provider, which must not happen inside this transaction).
            changes.push(
                BillingJob::CollectCustomer {
                    customer_id: customer.id.clone(),
                }
                .enqueue(
                    new_id(),
                    format!(
                        "{}:{}:{}",
                        BillingJob::COLLECT_CUSTOMER,
                        customer.id,
                        payment_method.as_str()
                    ),
                    now,
                ),
            );
        }
        Ok((changes, WebhookOutcome::Processed))
    }
}

/// The refund or dispute of a charge, recorded on its attempt and invoice.
fn charge_effect(
    event: &WebhookEvent,
    payment: &PaymentRow,
    now: OffsetDateTime,
    actor: &str,
) -> Changes {
    let now_ms = to_ms(now);
    let object = &event.data.object;
    let amount = |key: &str| object.get(key).and_then(Value::as_i64);
    let mut changes = Changes::new();
    if event.kind() == EventKind::ChargeDisputeCreated {
        changes.push(audit::entry(
            now_ms,
            actor,
            ("invoice", &payment.invoice_id),
            "dispute_opened",
            "the customer disputed the charge with their bank",
            json!({
                "payment_id": payment.id,
                "dispute_id": event.object_id(),
                "amount_cents": amount("amount"),
                "reason": object.get("reason").and_then(Value::as_str),
            }),
        ));
        return changes;
    }
    if payment.status != PaymentStatus::Succeeded || older_than_applied(payment, event.created) {
        return changes;
    }
    let refunded = amount("amount_refunded").unwrap_or(0);
    let fully = object.get("refunded").and_then(Value::as_bool) == Some(true)
        || refunded >= payment.amount_cents;
    if fully {
        changes.push(Change::UpdatePayment(PaymentUpdate {
            id: payment.id.clone(),
            from: vec![PaymentStatus::Succeeded],
            status: PaymentStatus::Refunded,
            provider_payment_id: None,
            failure_code: None,
            failure_message: None,
            provider_event_created: Some(event.created),
            updated_at: now_ms,
        }));
    }
    changes.push(audit::entry(
        now_ms,
        actor,
        ("invoice", &payment.invoice_id),
        if fully {
            "refunded"
        } else {
            "partially_refunded"
        },
        "Stripe reported a refund",
        json!({ "payment_id": payment.id, "amount_refunded_cents": refunded }),
    ));
    changes
}

/// True when an event newer than `created` was applied to this attempt already.
fn older_than_applied(payment: &PaymentRow, created: i64) -> bool {
    payment
        .provider_event_created
        .is_some_and(|applied| applied > created)
}
