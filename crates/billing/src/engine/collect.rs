//! Charging open invoices and recording what the provider answered: the attempt is committed
//! before the provider is called, an attempt whose outcome is unknown is reconciled with the
//! provider before the invoice is charged again, and every answer goes through the domain's
//! state machine (dunning, resume) in the same transaction as the payment's new status.

use smartbox_domain::{
    Cents, InvoiceId, InvoiceStatus, PaymentId, PaymentStatus, SubscriptionId, UserId,
};
use smartbox_store::PaymentRow;
use smartbox_store::changes::Applied;
use time::OffsetDateTime;

use super::decide::{self, Attempt, Cause, InvoiceRef, PendingCharge};
use super::snapshot::Snapshot;
use super::{BillingEngine, BillingError, FreshIds, MAX_ROUNDS, from_ms, to_ms};
use crate::ids::PaymentIntentId;
use crate::provider::{
    ChargeLookup, ChargeOutcome, ChargeRecord, ChargeRequest, PaymentFailure, ProviderError,
};

/// What became of one attempt to collect an invoice.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChargeResult {
    /// The invoice is paid.
    Paid { invoice_id: String },
    /// The card was declined (or there was no card); dunning goes on.
    Declined { invoice_id: String, reason: String },
    /// The provider's answer is not known yet; the attempt will be reconciled.
    Unknown { invoice_id: String },
    /// Another attempt is in flight; nothing was charged now.
    InFlight { invoice_id: String },
    /// The invoice was no longer open.
    NotOpen { invoice_id: String },
}

/// A provider's answer to a charge, normalised.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Answer {
    Paid(PaymentIntentId),
    Declined(Option<PaymentIntentId>, PaymentFailure),
    Unknown(Option<PaymentIntentId>, String),
}

impl Answer {
    pub(crate) fn of(result: Result<ChargeOutcome, ProviderError>) -> Answer {
        match result {
            Ok(ChargeOutcome::Succeeded { intent_id }) => Answer::Paid(intent_id),
            Ok(ChargeOutcome::Failed { intent_id, failure }) => {
                Answer::Declined(intent_id, failure)
            }
            Ok(ChargeOutcome::Unknown { intent_id, reason }) => Answer::Unknown(intent_id, reason),
            Err(ProviderError::CardDeclined(failure)) => Answer::Declined(None, failure),
            // An idempotency error means the key was used before: what happened then is unknown
            // here, so it is reconciled rather than called a decline.
            Err(ProviderError::Rejected(api)) if api.kind == "idempotency_error" => {
                Answer::Unknown(None, api.to_string())
            }
            Err(ProviderError::Rejected(api)) => Answer::Declined(
                None,
                PaymentFailure {
                    code: api.code.clone().unwrap_or_else(|| api.kind.clone()),
                    decline_code: None,
                    message: api.message.clone(),
                },
            ),
            Err(error @ (ProviderError::Unavailable(_) | ProviderError::InvalidResponse(_))) => {
                Answer::Unknown(None, error.to_string())
            }
        }
    }

    fn result(&self, invoice_id: &str) -> ChargeResult {
        let invoice_id = invoice_id.to_owned();
        match self {
            Answer::Paid(_) => ChargeResult::Paid { invoice_id },
            Answer::Declined(_, failure) => ChargeResult::Declined {
                invoice_id,
                reason: failure.reason().to_owned(),
            },
            Answer::Unknown(..) => ChargeResult::Unknown { invoice_id },
        }
    }
}

/// What reconciling an attempt found.
enum Reconciled {
    Settled(ChargeResult),
    /// The provider never saw it: closed, a new attempt may start.
    NeverSent,
    StillUnknown,
}

impl BillingEngine {
    /// Charges every open invoice of a subscription, oldest first.
    pub async fn collect_subscription(
        &self,
        subscription_id: &str,
        now: OffsetDateTime,
        actor: &str,
        why: &str,
    ) -> Result<Vec<ChargeResult>, BillingError> {
        let open = self
            .db
            .invoices_of_subscription_with_status(
                &SubscriptionId::new(subscription_id),
                InvoiceStatus::Open,
            )
            .await?;
        let mut results = Vec::with_capacity(open.len());
        for invoice in open {
            results.push(self.charge_invoice(&invoice.id, now, actor, why).await?);
        }
        Ok(results)
    }

    /// Charges every open invoice of a customer, oldest first (after the card changed).
    pub async fn collect_customer(
        &self,
        customer_id: &str,
        now: OffsetDateTime,
        actor: &str,
        why: &str,
    ) -> Result<Vec<ChargeResult>, BillingError> {
        let open = self
            .db
            .open_invoices_of_customer(&UserId::new(customer_id))
            .await?;
        let mut results = Vec::with_capacity(open.len());
        for invoice in open {
            results.push(self.charge_invoice(&invoice.id, now, actor, why).await?);
        }
        Ok(results)
    }

    /// Charges one open invoice: reconciles an earlier attempt whose outcome is unknown first,
    /// records a new attempt, calls the provider, records the answer.
    pub async fn charge_invoice(
        &self,
        invoice_id: &str,
        now: OffsetDateTime,
        actor: &str,
        why: &str,
    ) -> Result<ChargeResult, BillingError> {
        let cause = Cause {
            actor,
            why,
            ids: &FreshIds,
        };
        let not_open = || ChargeResult::NotOpen {
            invoice_id: invoice_id.to_owned(),
        };
        for _ in 0..MAX_ROUNDS {
            let invoice = self
                .db
                .invoice_by_id(&InvoiceId::new(invoice_id))
                .await?
                .ok_or(BillingError::NotFound("invoice"))?;
            if invoice.status != InvoiceStatus::Open {
                return Ok(not_open());
            }
            let payments = self
                .db
                .payments_of_invoice(&InvoiceId::new(invoice_id))
                .await?;
            if payments
                .iter()
                .any(|p| p.status == PaymentStatus::Succeeded)
            {
                // Paid already, whatever the invoice says: never charge it again.
                return Ok(not_open());
            }
            if let Some(in_flight) = payments.iter().find(|p| p.status.in_flight()) {
                if from_ms(in_flight.created_at) + self.config.in_flight_grace > now {
                    return Ok(ChargeResult::InFlight {
                        invoice_id: invoice_id.to_owned(),
                    });
                }
                match self.reconcile(in_flight, now, cause).await? {
                    Reconciled::Settled(result) => return Ok(result),
                    Reconciled::StillUnknown => {
                        return Ok(ChargeResult::Unknown {
                            invoice_id: invoice_id.to_owned(),
                        });
                    }
                    Reconciled::NeverSent => continue,
                }
            }
            let snapshot = self.snapshot(&invoice.subscription_id).await?;
            let invoice_ref = InvoiceRef {
                id: invoice.id.clone(),
                status: invoice.status,
            };
            let (changes, charge) = decide::new_attempt(
                &snapshot,
                &invoice_ref,
                Cents::new(invoice.total_cents),
                self.provider_name(),
                now,
                cause,
            );
            if let Applied::Stale(_) = self.db.apply_changes(&changes).await? {
                continue;
            }
            let Some(charge) = charge else {
                return Ok(ChargeResult::Declined {
                    invoice_id: invoice_id.to_owned(),
                    reason: decide::NO_PAYMENT_METHOD.to_owned(),
                });
            };
            let answer = self.send(&charge).await;
            return self
                .record_answer(&charge.attempt(), &answer, None, now, cause)
                .await;
        }
        Err(BillingError::Contended("charging an invoice"))
    }

    /// Sends a recorded attempt to the provider.
    pub(crate) async fn send(&self, charge: &PendingCharge) -> Answer {
        let request = ChargeRequest {
            customer: charge.payer.customer.clone(),
            payment_method: charge.payer.payment_method.clone(),
            amount: charge.amount,
            idempotency_key: charge.payment_id.clone(),
            invoice_id: charge.invoice_id.clone(),
        };
        Answer::of(self.provider.charge(&request).await)
    }

    /// Records the provider's answer to an attempt (re-reading and re-deciding when the
    /// subscription changed meanwhile). An attempt settled by someone else first (a webhook) is
    /// left as it is.
    pub(crate) async fn record_answer(
        &self,
        charge: &Attempt,
        answer: &Answer,
        event_created: Option<i64>,
        now: OffsetDateTime,
        cause: Cause<'_>,
    ) -> Result<ChargeResult, BillingError> {
        for _ in 0..MAX_ROUNDS {
            let payment = self
                .db
                .payment_by_id(&PaymentId::new(charge.payment_id.as_str()))
                .await?
                .ok_or(BillingError::NotFound("payment"))?;
            let settled_elsewhere = match answer {
                Answer::Paid(_) => !decide::SETTLE_SUCCESS_FROM.contains(&payment.status),
                Answer::Declined(..) => !decide::SETTLE_FAILURE_FROM.contains(&payment.status),
                Answer::Unknown(..) => payment.status != PaymentStatus::Pending,
            };
            if settled_elsewhere {
                return Ok(settled_result(&payment));
            }
            let invoice = self
                .db
                .invoice_by_id(&InvoiceId::new(charge.invoice_id.as_str()))
                .await?
                .ok_or(BillingError::NotFound("invoice"))?;
            let snapshot = self.snapshot(&charge.subscription_id).await?;
            let invoice_ref = InvoiceRef {
                id: invoice.id.clone(),
                status: invoice.status,
            };
            let changes = match answer {
                Answer::Paid(intent) => decide::payment_succeeded(
                    &snapshot,
                    &invoice_ref,
                    &payment.id,
                    Some(intent),
                    event_created,
                    now,
                    cause,
                ),
                Answer::Declined(intent, failure) => decide::payment_failed(
                    &snapshot,
                    &invoice_ref,
                    &payment.id,
                    failure,
                    intent.as_ref(),
                    event_created,
                    now,
                    cause,
                ),
                Answer::Unknown(intent, reason) => {
                    decide::payment_unknown(&payment.id, intent.as_ref(), reason, now)
                }
            };
            if self.db.apply_changes(&changes).await? == Applied::Done {
                return Ok(answer.result(&charge.invoice_id));
            }
        }
        Err(BillingError::Contended("recording a payment"))
    }

    /// Asks the provider what became of an attempt whose outcome we do not know, and records it.
    async fn reconcile(
        &self,
        payment: &PaymentRow,
        now: OffsetDateTime,
        cause: Cause<'_>,
    ) -> Result<Reconciled, BillingError> {
        let invoice = self
            .db
            .invoice_by_id(&InvoiceId::new(payment.invoice_id.as_str()))
            .await?
            .ok_or(BillingError::NotFound("invoice"))?;
        let snapshot = self.snapshot(&invoice.subscription_id).await?;
        let found = match self.look_up(payment, &snapshot).await {
            Ok(found) => found,
            Err(error) => {
                tracing::warn!(payment = %payment.id, %error, "reconciliation: the provider did not answer");
                return Ok(Reconciled::StillUnknown);
            }
        };
        let Some(record) = found else {
            let changes = decide::payment_never_sent(&payment.id, now);
            self.db.apply_changes(&changes).await?;
            return Ok(Reconciled::NeverSent);
        };
        let answer = answer_of_record(&record);
        if let Answer::Unknown(..) = answer {
            return Ok(Reconciled::StillUnknown);
        }
        let attempt = Attempt {
            invoice_id: invoice.id.clone(),
            subscription_id: invoice.subscription_id.clone(),
            payment_id: payment.id.clone(),
        };
        let cause = Cause {
            actor: cause.actor,
            why: "reconciled with the payment provider",
            ids: &FreshIds,
        };
        let result = self
            .record_answer(&attempt, &answer, None, now, cause)
            .await?;
        Ok(Reconciled::Settled(result))
    }

    /// The provider's record of an attempt: by its PaymentIntent when we know it, else by the
    /// attempt id in the metadata of the customer's charges. `None`: no charge was made.
    async fn look_up(
        &self,
        payment: &PaymentRow,
        snapshot: &Snapshot,
    ) -> Result<Option<ChargeRecord>, ProviderError> {
        if let Some(intent) = &payment.provider_payment_id {
            return match self
                .provider
                .retrieve_charge(&PaymentIntentId::new(intent.clone()))
                .await
            {
                Ok(record) => Ok(Some(record)),
                Err(error) if error.is_not_found() => Ok(None),
                Err(error) => Err(error),
            };
        }
        let Some(payer) = &snapshot.payer else {
            // Without a customer at the provider no charge can have been made.
            return Ok(None);
        };
        let lookup = ChargeLookup {
            customer: payer.customer.clone(),
            idempotency_key: payment.id.clone(),
            // Our clock and the provider's may disagree: search from a day before the attempt.
            created_since: payment.created_at.div_euclid(1000) - 86_400,
        };
        self.provider.find_charge(&lookup).await
    }

    /// Reconciles attempts left `pending` or `unknown` for longer than the in-flight grace (a
    /// crash between "charge requested" and "charge recorded", a timeout), and charges the
    /// invoices whose attempt never reached the provider. Returns how many were looked at.
    pub async fn reconcile_stale_attempts(
        &self,
        now: OffsetDateTime,
        actor: &str,
    ) -> Result<usize, BillingError> {
        let before = to_ms(now - self.config.in_flight_grace);
        let stale = self.db.payments_in_flight_before(before, 200).await?;
        let cause = Cause {
            actor,
            why: "an attempt's outcome was unknown",
            ids: &FreshIds,
        };
        for payment in &stale {
            // Reconciled whatever became of its invoice meanwhile (a success is recorded even on
            // an invoice written off), so no attempt stays in flight for ever.
            if let Reconciled::NeverSent = self.reconcile(payment, now, cause).await? {
                self.charge_invoice(&payment.invoice_id, now, actor, cause.why)
                    .await?;
            }
        }
        Ok(stale.len())
    }
}

impl BillingEngine {
    /// The grace of a dunning episode ended at `at`: suspends the subscription and its device
    /// when still unpaid. False when it no longer applies (paid meanwhile, or an earlier
    /// episode's job).
    pub async fn expire_grace(
        &self,
        subscription_id: &str,
        at: OffsetDateTime,
        now: OffsetDateTime,
        actor: &str,
    ) -> Result<bool, BillingError> {
        let cause = Cause {
            actor,
            why: "72 hours after the first failed charge, still unpaid",
            ids: &FreshIds,
        };
        for _ in 0..MAX_ROUNDS {
            let snapshot = self.snapshot(subscription_id).await?;
            let Some(changes) = decide::grace_expired(&snapshot, at, now, cause) else {
                return Ok(false);
            };
            if self.db.apply_changes(&changes).await? == Applied::Done {
                return Ok(true);
            }
        }
        Err(BillingError::Contended("expiring the grace period"))
    }
}

/// The answer a provider's record of a PaymentIntent amounts to.
pub(crate) fn answer_of_record(record: &ChargeRecord) -> Answer {
    Answer::of(Ok(record.outcome()))
}

/// The result an attempt already settled stands for.
fn settled_result(payment: &PaymentRow) -> ChargeResult {
    let invoice_id = payment.invoice_id.clone();
    match payment.status {
        PaymentStatus::Succeeded | PaymentStatus::Refunded => ChargeResult::Paid { invoice_id },
        PaymentStatus::Failed => ChargeResult::Declined {
            invoice_id,
            reason: payment.failure_code.clone().unwrap_or_default(),
        },
        PaymentStatus::Pending | PaymentStatus::Unknown => ChargeResult::Unknown { invoice_id },
    }
}
