//! Stripe's JSON, as far as this client reads it, and its translation into the provider types.
//!
//! Only the fields billing uses are declared; unknown fields are ignored, so both Stripe and
//! localstripe (which embeds some objects where Stripe puts ids) parse.

use std::collections::HashMap;

use serde::Deserialize;
use smartbox_domain::{CardSummary, Cents};

use crate::ids::{CustomerId, PaymentIntentId, PaymentMethodId, RefundId, SetupIntentId};
use crate::provider::{
    ApiError, ChargeRecord, IntentStatus, METADATA_INVOICE_ID, METADATA_PAYMENT_ATTEMPT_ID,
    PaymentFailure, Refund, RefundStatus, SetupIntent, SetupIntentStatus,
};

/// An id field: a plain id, or the object itself when expanded (localstripe always embeds some).
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub(crate) enum IdOrObject {
    Id(String),
    Object { id: String },
}

impl IdOrObject {
    pub(crate) fn into_id(self) -> String {
        match self {
            IdOrObject::Id(id) | IdOrObject::Object { id } => id,
        }
    }
}

/// `{"error": {...}}`.
#[derive(Debug, Deserialize)]
pub(crate) struct ErrorEnvelope {
    pub(crate) error: StripeError,
}

/// Stripe's error object. On a declined PaymentIntent it also names the intent (Stripe) or the
/// charge (localstripe).
#[derive(Debug, Clone, Default, Deserialize)]
pub(crate) struct StripeError {
    #[serde(rename = "type")]
    pub(crate) kind: Option<String>,
    pub(crate) code: Option<String>,
    pub(crate) decline_code: Option<String>,
    pub(crate) message: Option<String>,
    pub(crate) param: Option<String>,
    pub(crate) payment_intent: Option<IdOrObject>,
    pub(crate) charge: Option<String>,
}

impl StripeError {
    /// What the customer is told about a refused card.
    pub(crate) fn failure(&self) -> PaymentFailure {
        PaymentFailure {
            code: self
                .code
                .clone()
                .unwrap_or_else(|| "card_declined".to_owned()),
            decline_code: self.decline_code.clone(),
            message: self
                .message
                .clone()
                .unwrap_or_else(|| "Your card was declined.".to_owned()),
        }
    }

    pub(crate) fn into_api_error(self, status: u16) -> ApiError {
        ApiError {
            status,
            kind: self.kind.unwrap_or_else(|| "api_error".to_owned()),
            code: self.code,
            message: self.message.unwrap_or_default(),
            param: self.param,
        }
    }
}

#[derive(Debug, Deserialize)]
pub(crate) struct Created {
    pub(crate) id: String,
}

/// A PaymentMethod; only a card's brand, last four digits and expiry are read.
#[derive(Debug, Deserialize)]
pub(crate) struct PaymentMethodObject {
    pub(crate) id: String,
    pub(crate) card: Option<CardObject>,
}

/// `payment_method.card`.
#[derive(Debug, Deserialize)]
pub(crate) struct CardObject {
    pub(crate) brand: String,
    pub(crate) last4: String,
    pub(crate) exp_month: u8,
    pub(crate) exp_year: u16,
}

impl PaymentMethodObject {
    pub(crate) fn into_card(self) -> Result<CardSummary, String> {
        let card = self
            .card
            .ok_or_else(|| format!("payment method {} is not a card", self.id))?;
        Ok(CardSummary {
            brand: card.brand.to_ascii_lowercase(),
            last4: card.last4,
            exp_month: card.exp_month,
            exp_year: card.exp_year,
        })
    }
}

#[derive(Debug, Deserialize)]
pub(crate) struct List<T> {
    pub(crate) data: Vec<T>,
    #[serde(default)]
    pub(crate) has_more: bool,
}

#[derive(Debug, Deserialize)]
pub(crate) struct Charge {
    pub(crate) id: String,
    pub(crate) payment_intent: Option<IdOrObject>,
}

#[derive(Debug, Deserialize)]
pub(crate) struct PaymentIntent {
    id: String,
    status: String,
    amount: i64,
    customer: Option<IdOrObject>,
    payment_method: Option<IdOrObject>,
    #[serde(default)]
    metadata: HashMap<String, String>,
    last_payment_error: Option<StripeError>,
}

impl PaymentIntent {
    pub(crate) fn into_record(mut self) -> Result<ChargeRecord, String> {
        let status = match self.status.as_str() {
            "requires_payment_method" => IntentStatus::RequiresPaymentMethod,
            "requires_confirmation" => IntentStatus::RequiresConfirmation,
            "requires_action" => IntentStatus::RequiresAction,
            "processing" => IntentStatus::Processing,
            "requires_capture" => IntentStatus::RequiresCapture,
            "canceled" => IntentStatus::Canceled,
            "succeeded" => IntentStatus::Succeeded,
            other => {
                return Err(format!(
                    "PaymentIntent {} has unknown status {other:?}",
                    self.id
                ));
            }
        };
        Ok(ChargeRecord {
            intent_id: PaymentIntentId::new(self.id),
            status,
            amount: Cents::new(self.amount),
            customer: self.customer.map(|c| CustomerId::new(c.into_id())),
            payment_method: self
                .payment_method
                .map(|p| PaymentMethodId::new(p.into_id())),
            invoice_id: self.metadata.remove(METADATA_INVOICE_ID),
            payment_attempt_id: self.metadata.remove(METADATA_PAYMENT_ATTEMPT_ID),
            last_failure: self.last_payment_error.map(|e| e.failure()),
        })
    }
}

#[derive(Debug, Deserialize)]
pub(crate) struct SetupIntentObject {
    id: String,
    client_secret: String,
    status: String,
    customer: Option<IdOrObject>,
    payment_method: Option<IdOrObject>,
}

impl SetupIntentObject {
    pub(crate) fn into_setup_intent(self) -> Result<SetupIntent, String> {
        let status = match self.status.as_str() {
            "requires_payment_method" => SetupIntentStatus::RequiresPaymentMethod,
            "requires_confirmation" => SetupIntentStatus::RequiresConfirmation,
            "requires_action" => SetupIntentStatus::RequiresAction,
            "processing" => SetupIntentStatus::Processing,
            "canceled" => SetupIntentStatus::Canceled,
            "succeeded" => SetupIntentStatus::Succeeded,
            other => {
                return Err(format!(
                    "SetupIntent {} has unknown status {other:?}",
                    self.id
                ));
            }
        };
        Ok(SetupIntent {
            id: SetupIntentId::new(self.id),
            client_secret: self.client_secret,
            status,
            customer: self.customer.map(|c| CustomerId::new(c.into_id())),
            payment_method: self
                .payment_method
                .map(|p| PaymentMethodId::new(p.into_id())),
        })
    }
}

#[derive(Debug, Deserialize)]
pub(crate) struct RefundObject {
    id: String,
    amount: i64,
    status: String,
}

impl RefundObject {
    pub(crate) fn into_refund(self, intent_id: PaymentIntentId) -> Result<Refund, String> {
        let status = match self.status.as_str() {
            "pending" => RefundStatus::Pending,
            "requires_action" => RefundStatus::RequiresAction,
            "succeeded" => RefundStatus::Succeeded,
            "failed" => RefundStatus::Failed,
            "canceled" => RefundStatus::Canceled,
            other => return Err(format!("refund {} has unknown status {other:?}", self.id)),
        };
        Ok(Refund {
            id: RefundId::new(self.id),
            intent_id,
            amount: Cents::new(self.amount),
            status,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stripe_decline_names_the_payment_intent() {
        let body = r#"{"error": {"type": "card_error", "code": "card_declined",
            "decline_code": "insufficient_funds", "message": "Your card has insufficient funds.",
            "charge": "ch_1", "payment_intent": {"id": "pi_1", "object": "payment_intent",
            "status": "requires_payment_method"}}}"#;
        let error = serde_json::from_str::<ErrorEnvelope>(body)
            .expect("parses")
            .error;
        assert_eq!(error.failure().reason(), "insufficient_funds");
        assert_eq!(
            error.payment_intent.map(IdOrObject::into_id).as_deref(),
            Some("pi_1")
        );
    }

    #[test]
    fn a_localstripe_decline_names_only_the_charge() {
        let body = r#"{"error": {"charge": "ch_9", "code": "card_declined",
            "message": "Your card was declined.", "type": "invalid_request_error"}}"#;
        let error = serde_json::from_str::<ErrorEnvelope>(body)
            .expect("parses")
            .error;
        assert!(error.payment_intent.is_none());
        assert_eq!(error.charge.as_deref(), Some("ch_9"));
        let api = error.into_api_error(402);
        assert_eq!(api.code.as_deref(), Some("card_declined"));
        assert_eq!(api.status, 402);
    }

    #[test]
    fn a_payment_intent_becomes_a_charge_record_with_our_metadata() {
        let body = r#"{"id": "pi_1", "object": "payment_intent", "status": "requires_payment_method",
            "amount": 1500, "currency": "usd", "customer": "cus_1", "payment_method": "pm_1",
            "latest_charge": {"id": "ch_1", "object": "charge"},
            "metadata": {"invoice_id": "inv_1", "payment_attempt_id": "att_1", "other": "x"},
            "last_payment_error": {"code": "card_declined", "message": "Your card was declined."}}"#;
        let record = serde_json::from_str::<PaymentIntent>(body)
            .expect("parses")
            .into_record()
            .expect("known status");
        assert_eq!(record.intent_id, PaymentIntentId::new("pi_1"));
        assert_eq!(record.status, IntentStatus::RequiresPaymentMethod);
        assert_eq!(record.amount, Cents::new(1500));
        assert_eq!(record.customer, Some(CustomerId::new("cus_1")));
        assert_eq!(record.invoice_id.as_deref(), Some("inv_1"));
        assert_eq!(record.payment_attempt_id.as_deref(), Some("att_1"));
        assert_eq!(
            record.last_failure.map(|f| f.code).as_deref(),
            Some("card_declined")
        );
    }

    #[test]
    fn an_unknown_status_is_an_error_not_a_guess() {
        let body = r#"{"id": "pi_1", "status": "teleported", "amount": 1}"#;
        let intent = serde_json::from_str::<PaymentIntent>(body).expect("parses");
        assert!(intent.into_record().is_err());
    }
}
