//! The sandbox payment provider: the embedded default when no Stripe keys are configured
//! (DESIGN §3). No money ever moves; it reports [`ProviderMode::Sandbox`] so pages can say so.
//!
//! It behaves like Stripe's test cards (see `cards`): 4242 4242 4242 4242 pays,
//! 4000 0000 0000 0002 is declined (`card_declined`) and 4000 0000 0000 9995 is refused for
//! `insufficient_funds` when saved, and 4000 0000 0000 0341 saves but every charge is declined.
//! Like Stripe it refuses charges under 50 cents and reuse of an idempotency key with other
//! parameters.
//!
//! It is deterministic and needs no storage for what matters to billing: ids are derived from
//! their inputs (a customer from the email, a payment method from the customer and card, a
//! PaymentIntent from the idempotency key), and a saved card's behaviour is readable from its id.
//! So a restarted server can still charge cards saved before the restart, and the same attempt
//! always gets the same PaymentIntent id and outcome. The in-memory ledger (charges, refunds,
//! SetupIntents) answers `retrieve_charge`, `find_charge` and refunds within one process, and
//! makes a repeated idempotency key return the recorded outcome.

mod cards;

use std::collections::HashMap;
use std::future::ready;
use std::sync::{Mutex, PoisonError};

use sha2::{Digest, Sha256};
use smartbox_domain::{CardSummary, Cents};

use crate::ids::{CustomerId, PaymentIntentId, PaymentMethodId, RefundId, SetupIntentId};
use crate::provider::{
    ApiError, CardDetails, ChargeLookup, ChargeOutcome, ChargeRecord, ChargeRequest, IntentStatus,
    MINIMUM_CHARGE, NewCustomer, PaymentProvider, ProviderError, ProviderFuture, ProviderMode,
    Refund, RefundRequest, RefundStatus, SetupIntent, SetupIntentStatus,
};
use cards::CardBehaviour;

const CUSTOMER_PREFIX: &str = "sbx_cus_";
const PAYMENT_METHOD_PREFIX: &str = "sbx_pm_";
const INTENT_PREFIX: &str = "sbx_pi_";
const SETUP_INTENT_PREFIX: &str = "sbx_seti_";
const REFUND_PREFIX: &str = "sbx_re_";

/// The in-memory sandbox provider. Cheap to create; share it as `Arc<dyn PaymentProvider>`.
#[derive(Debug, Default)]
pub struct SandboxProvider {
    ledger: Mutex<Ledger>,
}

#[derive(Debug, Default)]
struct Ledger {
    charges: HashMap<PaymentIntentId, ChargeEntry>,
    refunds: HashMap<RefundId, RefundEntry>,
    setup_intents: HashMap<SetupIntentId, SetupIntent>,
    setup_intents_created: u64,
    /// What each card saved in this process looks like (brand, last four digits, expiry).
    cards: HashMap<PaymentMethodId, CardSummary>,
}

#[derive(Debug)]
struct ChargeEntry {
    request: ChargeRequest,
    record: ChargeRecord,
    refunded: Cents,
}

#[derive(Debug)]
struct RefundEntry {
    request: RefundRequest,
    refund: Refund,
}

impl SandboxProvider {
    pub fn new() -> SandboxProvider {
        SandboxProvider::default()
    }

    /// Completes a SetupIntent with a test card, as Stripe.js would in the browser: the sandbox's
    /// card form calls this. A refused card leaves the intent waiting for another card.
    pub fn confirm_setup_intent(
        &self,
        id: &SetupIntentId,
        card: &CardDetails,
    ) -> Result<SetupIntent, ProviderError> {
        let mut ledger = self.lock();
        let intent = ledger
            .setup_intents
            .get_mut(id)
            .ok_or_else(|| not_found("setup_intent", id.as_str()))?;
        let customer = intent.customer.clone().ok_or_else(|| {
            ProviderError::invalid_parameter("customer", "The SetupIntent has no customer.")
        })?;
        let payment_method = save_card(&customer, card)?;
        intent.status = SetupIntentStatus::Succeeded;
        intent.payment_method = Some(payment_method.clone());
        let intent = intent.clone();
        ledger.cards.insert(payment_method, summary(card));
        Ok(intent)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Ledger> {
        // Every update of the ledger is a single insert or field write, so a panic elsewhere
        // cannot leave it half-changed: a poisoned lock is still consistent.
        self.ledger.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn charge_now(&self, request: &ChargeRequest) -> Result<ChargeOutcome, ProviderError> {
        check_customer(&request.customer)?;
        if request.amount < MINIMUM_CHARGE {
            return Err(ProviderError::Rejected(ApiError {
                status: 400,
                kind: "invalid_request_error".into(),
                code: Some("amount_too_small".into()),
                message: format!("Amount must be at least {MINIMUM_CHARGE} usd."),
                param: Some("amount".into()),
            }));
        }
        let behaviour = saved_card_behaviour(&request.payment_method)?;
        let intent_id =
            PaymentIntentId::new(derived_id(INTENT_PREFIX, &[&request.idempotency_key]));

        let mut ledger = self.lock();
        if let Some(entry) = ledger.charges.get(&intent_id) {
            return if entry.request == *request {
                Ok(entry.record.outcome())
            } else {
                Err(idempotency_error(&request.idempotency_key))
            };
        }
        let (status, last_failure) = match behaviour {
            CardBehaviour::Pays => (IntentStatus::Succeeded, None),
            CardBehaviour::DeclinesCharges(refusal) | CardBehaviour::RefusedOnSave(refusal) => {
                (IntentStatus::RequiresPaymentMethod, Some(refusal.failure()))
            }
        };
        let record = ChargeRecord {
            intent_id: intent_id.clone(),
            status,
            amount: request.amount,
            customer: Some(request.customer.clone()),
            payment_method: Some(request.payment_method.clone()),
            invoice_id: Some(request.invoice_id.clone()),
            payment_attempt_id: Some(request.idempotency_key.clone()),
            last_failure,
        };
        let outcome = record.outcome();
        ledger.charges.insert(
            intent_id,
            ChargeEntry {
                request: request.clone(),
                record,
                refunded: Cents::ZERO,
            },
        );
        Ok(outcome)
    }

    fn refund_now(&self, request: &RefundRequest) -> Result<Refund, ProviderError> {
        let refund_id = RefundId::new(derived_id(REFUND_PREFIX, &[&request.idempotency_key]));
        let mut ledger = self.lock();
        if let Some(entry) = ledger.refunds.get(&refund_id) {
            return if entry.request == *request {
                Ok(entry.refund.clone())
            } else {
                Err(idempotency_error(&request.idempotency_key))
            };
        }
        let charge = ledger
            .charges
            .get_mut(&request.intent_id)
            .ok_or_else(|| not_found("payment_intent", request.intent_id.as_str()))?;
        if charge.record.status != IntentStatus::Succeeded {
            return Err(ProviderError::invalid_parameter(
                "payment_intent",
                "This PaymentIntent does not have a successful charge to refund.",
            ));
        }
        let refundable = charge.record.amount - charge.refunded;
        let amount = request.amount.unwrap_or(refundable);
        if refundable.is_zero() {
            return Err(ProviderError::Rejected(ApiError {
                status: 400,
                kind: "invalid_request_error".into(),
                code: Some("charge_already_refunded".into()),
                message: "The charge has already been refunded.".into(),
                param: None,
            }));
        }
        if amount <= Cents::ZERO || amount > refundable {
            return Err(ProviderError::Rejected(ApiError {
                status: 400,
                kind: "invalid_request_error".into(),
                code: Some("amount_too_large".into()),
                message: format!(
                    "Refund amount ({amount}) must be between $0.01 and the unrefunded {refundable}."
                ),
                param: Some("amount".into()),
            }));
        }
        charge.refunded += amount;
        let refund = Refund {
            id: refund_id.clone(),
            intent_id: request.intent_id.clone(),
            amount,
            status: RefundStatus::Succeeded,
        };
        ledger.refunds.insert(
            refund_id,
            RefundEntry {
                request: request.clone(),
                refund: refund.clone(),
            },
        );
        Ok(refund)
    }

    fn find_now(&self, lookup: &ChargeLookup) -> Option<ChargeRecord> {
        // The intent id is derived from the key; `created_since` does not matter without a clock.
        let intent_id = PaymentIntentId::new(derived_id(INTENT_PREFIX, &[&lookup.idempotency_key]));
        self.lock()
            .charges
            .get(&intent_id)
            .filter(|entry| entry.request.customer == lookup.customer)
            .map(|entry| entry.record.clone())
    }

    fn create_setup_intent_now(&self, customer: &CustomerId) -> Result<SetupIntent, ProviderError> {
        check_customer(customer)?;
        let mut ledger = self.lock();
        ledger.setup_intents_created += 1;
        let sequence = ledger.setup_intents_created.to_string();
        let id = SetupIntentId::new(derived_id(
            SETUP_INTENT_PREFIX,
            &[customer.as_str(), &sequence],
        ));
        let intent = SetupIntent {
            client_secret: format!("{id}_secret_sandbox"),
            id: id.clone(),
            status: SetupIntentStatus::RequiresPaymentMethod,
            customer: Some(customer.clone()),
            payment_method: None,
        };
        ledger.setup_intents.insert(id, intent.clone());
        Ok(intent)
    }
}

impl PaymentProvider for SandboxProvider {
    fn mode(&self) -> ProviderMode {
        ProviderMode::Sandbox
    }

    fn create_customer<'a>(&'a self, customer: &'a NewCustomer) -> ProviderFuture<'a, CustomerId> {
        let id = CustomerId::new(derived_id(CUSTOMER_PREFIX, &[customer.email.as_str()]));
        Box::pin(ready(Ok(id)))
    }

    fn create_setup_intent<'a>(
        &'a self,
        customer: &'a CustomerId,
    ) -> ProviderFuture<'a, SetupIntent> {
        Box::pin(ready(self.create_setup_intent_now(customer)))
    }

    fn retrieve_setup_intent<'a>(
        &'a self,
        id: &'a SetupIntentId,
    ) -> ProviderFuture<'a, SetupIntent> {
        let found = self.lock().setup_intents.get(id).cloned();
        Box::pin(ready(
            found.ok_or_else(|| not_found("setup_intent", id.as_str())),
        ))
    }

    fn save_test_card<'a>(
        &'a self,
        customer: &'a CustomerId,
        card: &'a CardDetails,
    ) -> ProviderFuture<'a, PaymentMethodId> {
        let saved = save_card(customer, card);
        if let Ok(id) = &saved {
            self.lock().cards.insert(id.clone(), summary(card));
        }
        Box::pin(ready(saved))
    }

    fn retrieve_card<'a>(
        &'a self,
        payment_method: &'a PaymentMethodId,
    ) -> ProviderFuture<'a, CardSummary> {
        let found = self.lock().cards.get(payment_method).cloned();
        Box::pin(ready(found.ok_or_else(|| {
            not_found("payment_method", payment_method.as_str())
        })))
    }

    fn detach_payment_method<'a>(
        &'a self,
        payment_method: &'a PaymentMethodId,
    ) -> ProviderFuture<'a, ()> {
        let checked = saved_card_behaviour(payment_method).map(drop);
        self.lock().cards.remove(payment_method);
        Box::pin(ready(checked))
    }

    fn attach_payment_method<'a>(
        &'a self,
        payment_method: &'a PaymentMethodId,
        customer: &'a CustomerId,
    ) -> ProviderFuture<'a, ()> {
        let checked = check_customer(customer).and(saved_card_behaviour(payment_method).map(drop));
        Box::pin(ready(checked))
    }

    fn set_default_payment_method<'a>(
        &'a self,
        customer: &'a CustomerId,
        payment_method: &'a PaymentMethodId,
    ) -> ProviderFuture<'a, ()> {
        let checked = check_customer(customer).and(saved_card_behaviour(payment_method).map(drop));
        Box::pin(ready(checked))
    }

    fn charge<'a>(&'a self, request: &'a ChargeRequest) -> ProviderFuture<'a, ChargeOutcome> {
        Box::pin(ready(self.charge_now(request)))
    }

    fn retrieve_charge<'a>(&'a self, id: &'a PaymentIntentId) -> ProviderFuture<'a, ChargeRecord> {
        let found = self
            .lock()
            .charges
            .get(id)
            .map(|entry| entry.record.clone());
        Box::pin(ready(
            found.ok_or_else(|| not_found("payment_intent", id.as_str())),
        ))
    }

    fn find_charge<'a>(
        &'a self,
        lookup: &'a ChargeLookup,
    ) -> ProviderFuture<'a, Option<ChargeRecord>> {
        Box::pin(ready(Ok(self.find_now(lookup))))
    }

    fn refund<'a>(&'a self, request: &'a RefundRequest) -> ProviderFuture<'a, Refund> {
        Box::pin(ready(self.refund_now(request)))
    }
}

/// Saves a test card: refused cards answer `CardDeclined`, others get an id that carries the
/// card's last four digits (and so its behaviour).
fn save_card(customer: &CustomerId, card: &CardDetails) -> Result<PaymentMethodId, ProviderError> {
    check_customer(customer)?;
    if !(1..=12).contains(&card.exp_month) {
        return Err(ProviderError::invalid_parameter(
            "exp_month",
            "Your card's expiration month is invalid.",
        ));
    }
    let cvc = card.cvc.trim();
    if !(3..=4).contains(&cvc.len()) || !cvc.bytes().all(|b| b.is_ascii_digit()) {
        return Err(ProviderError::invalid_parameter(
            "cvc",
            "Your card's security code is invalid.",
        ));
    }
    let digits = card.digits();
    match cards::behaviour_of_number(&digits) {
        CardBehaviour::RefusedOnSave(refusal) => {
            Err(ProviderError::CardDeclined(refusal.failure()))
        }
        CardBehaviour::Pays | CardBehaviour::DeclinesCharges(_) => {
            let last4 = card.last4();
            let prefix = format!("{PAYMENT_METHOD_PREFIX}{last4}_");
            Ok(PaymentMethodId::new(derived_id(
                &prefix,
                &[customer.as_str(), &digits],
            )))
        }
    }
}

/// What a saved test card looks like on the billing page.
fn summary(card: &CardDetails) -> CardSummary {
    CardSummary {
        brand: cards::brand_of_number(&card.digits()).to_owned(),
        last4: card.last4(),
        exp_month: card.exp_month,
        exp_year: if card.exp_year < 100 {
            card.exp_year + 2000
        } else {
            card.exp_year
        },
    }
}

/// The behaviour of a payment method this sandbox created.
fn saved_card_behaviour(payment_method: &PaymentMethodId) -> Result<CardBehaviour, ProviderError> {
    payment_method
        .as_str()
        .strip_prefix(PAYMENT_METHOD_PREFIX)
        .and_then(|rest| rest.split_once('_'))
        .and_then(|(last4, _)| cards::behaviour_of_saved(last4))
        .ok_or_else(|| not_found("payment_method", payment_method.as_str()))
}

fn check_customer(customer: &CustomerId) -> Result<(), ProviderError> {
    if customer.as_str().starts_with(CUSTOMER_PREFIX) {
        Ok(())
    } else {
        Err(not_found("customer", customer.as_str()))
    }
}

/// `prefix` + 24 hex digits of SHA-256 over the parts: stable across restarts, and distinct for
/// distinct inputs in practice (96 bits).
fn derived_id(prefix: &str, parts: &[&str]) -> String {
    let mut hasher = Sha256::new();
    for part in parts {
        hasher.update(part.as_bytes());
        hasher.update([0]);
    }
    let digest = hasher.finalize();
    format!("{prefix}{}", hex::encode(&digest[..12]))
}

fn not_found(object: &str, id: &str) -> ProviderError {
    ProviderError::Rejected(ApiError {
        status: 404,
        kind: "invalid_request_error".into(),
        code: Some("resource_missing".into()),
        message: format!("No such {object} in the sandbox: '{id}'"),
        param: None,
    })
}

fn idempotency_error(key: &str) -> ProviderError {
    ProviderError::Rejected(ApiError {
        status: 400,
        kind: "idempotency_error".into(),
        code: None,
        message: format!(
            "Keys for idempotent requests can only be used with the same parameters they were \
             first used with; {key:?} was used with others."
        ),
        param: None,
    })
}

#[cfg(test)]
mod tests;
