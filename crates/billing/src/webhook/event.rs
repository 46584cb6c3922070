//! The Stripe webhook event envelope (`id`, `type`, `created`, `data.object`) and typed access to
//! the ids and metadata the billing engine needs from the object inside.
//!
//! `data.object` stays a `serde_json::Value`: each event type carries a different object, Stripe
//! adds fields over time, and the handlers read only a few of them. The helpers know where each id
//! lives in each object type (a PaymentIntent's own `id`, a charge's `payment_intent`, ...) and
//! accept both plain ids and expanded objects.

use serde::Deserialize;
use serde_json::Value;
use thiserror::Error;

use crate::ids::{CustomerId, PaymentIntentId, PaymentMethodId, SetupIntentId};
use crate::provider::PaymentFailure;
use crate::webhook::signature::{SignatureError, verify_stripe_signature};

/// A webhook event as Stripe sends it.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct WebhookEvent {
    /// `evt_...`: process each id once.
    pub id: String,
    /// `payment_intent.succeeded`, ...; see [`WebhookEvent::kind`].
    #[serde(rename = "type")]
    pub event_type: String,
    /// Unix seconds when the event happened at Stripe: compare it so that an older event never
    /// moves a state backwards.
    pub created: i64,
    #[serde(default)]
    pub livemode: bool,
    pub data: EventData,
}

/// The object the event is about, as it was when the event happened.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct EventData {
    pub object: Value,
    /// For `*.updated` and `payment_method.detached`: the fields as they were before.
    #[serde(default)]
    pub previous_attributes: Option<Value>,
}

/// The event types billing acts on; everything else is acknowledged and ignored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventKind {
    PaymentIntentSucceeded,
    PaymentIntentPaymentFailed,
    SetupIntentSucceeded,
    PaymentMethodAttached,
    PaymentMethodDetached,
    ChargeRefunded,
    ChargeDisputeCreated,
    Other,
}

/// Why a webhook request was refused (answer 400).
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum WebhookError {
    #[error(transparent)]
    Signature(#[from] SignatureError),
    #[error("the webhook body is not a Stripe event: {0}")]
    Body(String),
}

impl WebhookEvent {
    /// Parses a raw event body (JSON).
    pub fn parse(payload: &[u8]) -> Result<WebhookEvent, WebhookError> {
        serde_json::from_slice(payload).map_err(|e| WebhookError::Body(e.to_string()))
    }

    /// Verifies the `Stripe-Signature` header over the raw body, then parses it: what
    /// `POST /webhooks/stripe` does first.
    pub fn verify_and_parse(
        signature_header: &str,
        payload: &[u8],
        secret: &str,
        now_unix: i64,
        tolerance_s: i64,
    ) -> Result<WebhookEvent, WebhookError> {
        verify_stripe_signature(signature_header, payload, secret, now_unix, tolerance_s)?;
        WebhookEvent::parse(payload)
    }

    pub fn kind(&self) -> EventKind {
        match self.event_type.as_str() {
            "payment_intent.succeeded" => EventKind::PaymentIntentSucceeded,
            "payment_intent.payment_failed" => EventKind::PaymentIntentPaymentFailed,
            "setup_intent.succeeded" => EventKind::SetupIntentSucceeded,
            "payment_method.attached" => EventKind::PaymentMethodAttached,
            "payment_method.detached" => EventKind::PaymentMethodDetached,
            "charge.refunded" => EventKind::ChargeRefunded,
            "charge.dispute.created" => EventKind::ChargeDisputeCreated,
            _ => EventKind::Other,
        }
    }

    /// `data.object.object`: `payment_intent`, `setup_intent`, `charge`, `dispute`, ...
    pub fn object_type(&self) -> Option<&str> {
        self.data.object.get("object")?.as_str()
    }

    /// `data.object.id`.
    pub fn object_id(&self) -> Option<&str> {
        self.data.object.get("id")?.as_str()
    }

    /// The PaymentIntent: the object itself, or the `payment_intent` of a charge, dispute or refund.
    pub fn payment_intent_id(&self) -> Option<PaymentIntentId> {
        self.own_or_field("payment_intent", "payment_intent")
            .map(PaymentIntentId::new)
    }

    /// The SetupIntent: the object itself.
    pub fn setup_intent_id(&self) -> Option<SetupIntentId> {
        self.own_or_field("setup_intent", "setup_intent")
            .map(SetupIntentId::new)
    }

    /// The charge: the object itself, a dispute's or refund's `charge`, or a PaymentIntent's
    /// `latest_charge`.
    pub fn charge_id(&self) -> Option<&str> {
        if self.object_type() == Some("charge") {
            return self.object_id();
        }
        self.field_id("charge")
            .or_else(|| self.field_id("latest_charge"))
    }

    /// The payment method: the object itself, or the `payment_method` of an intent or charge.
    pub fn payment_method_id(&self) -> Option<PaymentMethodId> {
        self.own_or_field("payment_method", "payment_method")
            .map(PaymentMethodId::new)
    }

    /// The customer: the object itself, or its `customer` field. For `payment_method.detached`
    /// the customer is gone from the object and found in `previous_attributes`.
    pub fn customer_id(&self) -> Option<CustomerId> {
        let previous = || {
            self.data
                .previous_attributes
                .as_ref()
                .and_then(|p| id_of(p.get("customer")?))
        };
        self.own_or_field("customer", "customer")
            .or_else(previous)
            .map(CustomerId::new)
    }

    /// A metadata value of the object (`invoice_id`, `payment_attempt_id`, ...).
    pub fn metadata(&self, key: &str) -> Option<&str> {
        self.data.object.get("metadata")?.get(key)?.as_str()
    }

    /// Why a payment failed: a PaymentIntent's `last_payment_error`, or a charge's
    /// `failure_code` / `failure_message`.
    pub fn payment_failure(&self) -> Option<PaymentFailure> {
        let object = &self.data.object;
        let text = |v: &Value, key: &str| v.get(key).and_then(Value::as_str).map(str::to_owned);
        if let Some(error) = object.get("last_payment_error").filter(|e| e.is_object()) {
            return Some(PaymentFailure {
                code: text(error, "code").unwrap_or_else(|| "payment_failed".to_owned()),
                decline_code: text(error, "decline_code"),
                message: text(error, "message").unwrap_or_default(),
            });
        }
        let code = text(object, "failure_code")?;
        Some(PaymentFailure {
            code,
            decline_code: None,
            message: text(object, "failure_message").unwrap_or_default(),
        })
    }

    fn own_or_field(&self, object_type: &str, field: &str) -> Option<&str> {
        if self.object_type() == Some(object_type) {
            self.object_id()
        } else {
            self.field_id(field)
        }
    }

    fn field_id(&self, field: &str) -> Option<&str> {
        id_of(self.data.object.get(field)?)
    }
}

/// An id field may hold the id or, when expanded, the object with its `id`.
fn id_of(value: &Value) -> Option<&str> {
    value
        .as_str()
        .or_else(|| value.get("id").and_then(Value::as_str))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::webhook::signature::{DEFAULT_TOLERANCE_S, sign_stripe_payload};

    fn event(event_type: &str, object: Value) -> WebhookEvent {
        let body = json!({
            "id": "evt_1", "object": "event", "type": event_type, "created": 1_700_000_000,
            "livemode": false, "api_version": "2024-06-20", "data": { "object": object },
        });
        WebhookEvent::parse(body.to_string().as_bytes()).expect("event parses")
    }

    #[test]
    fn a_payment_intent_event_gives_its_ids_and_metadata() {
        let e = event(
            "payment_intent.succeeded",
            json!({
                "id": "pi_1", "object": "payment_intent", "status": "succeeded", "amount": 500,
                "customer": "cus_1", "payment_method": "pm_1", "latest_charge": "ch_1",
                "metadata": { "invoice_id": "inv_7", "payment_attempt_id": "att_3" },
            }),
        );
        assert_eq!(e.kind(), EventKind::PaymentIntentSucceeded);
        assert_eq!(e.id, "evt_1");
        assert_eq!(e.created, 1_700_000_000);
        assert_eq!(e.object_type(), Some("payment_intent"));
        assert_eq!(e.payment_intent_id(), Some(PaymentIntentId::new("pi_1")));
        assert_eq!(e.customer_id(), Some(CustomerId::new("cus_1")));
        assert_eq!(e.payment_method_id(), Some(PaymentMethodId::new("pm_1")));
        assert_eq!(e.charge_id(), Some("ch_1"));
        assert_eq!(e.metadata("invoice_id"), Some("inv_7"));
        assert_eq!(e.metadata("payment_attempt_id"), Some("att_3"));
        assert_eq!(e.metadata("missing"), None);
        assert_eq!(e.payment_failure(), None);
    }

    #[test]
    fn a_failed_payment_intent_gives_its_failure() {
        let e = event(
            "payment_intent.payment_failed",
            json!({
                "id": "pi_2", "object": "payment_intent", "status": "requires_payment_method",
                "last_payment_error": {
                    "code": "card_declined", "decline_code": "insufficient_funds",
                    "message": "Your card has insufficient funds.",
                },
                // localstripe embeds the whole charge object instead of its id.
                "latest_charge": { "id": "ch_2", "object": "charge" },
            }),
        );
        assert_eq!(e.kind(), EventKind::PaymentIntentPaymentFailed);
        let failure = e.payment_failure().expect("failure");
        assert_eq!(failure.reason(), "insufficient_funds");
        assert_eq!(e.charge_id(), Some("ch_2"));
    }

    #[test]
    fn charge_and_dispute_events_point_to_their_payment_intent() {
        let refunded = event(
            "charge.refunded",
            json!({ "id": "ch_3", "object": "charge", "payment_intent": "pi_3", "customer": "cus_3",
                    "failure_code": null }),
        );
        assert_eq!(refunded.kind(), EventKind::ChargeRefunded);
        assert_eq!(refunded.charge_id(), Some("ch_3"));
        assert_eq!(
            refunded.payment_intent_id(),
            Some(PaymentIntentId::new("pi_3"))
        );
        assert_eq!(refunded.payment_failure(), None);

        let dispute = event(
            "charge.dispute.created",
            json!({ "id": "dp_1", "object": "dispute", "charge": "ch_3", "payment_intent": "pi_3" }),
        );
        assert_eq!(dispute.kind(), EventKind::ChargeDisputeCreated);
        assert_eq!(dispute.charge_id(), Some("ch_3"));
        assert_eq!(
            dispute.payment_intent_id(),
            Some(PaymentIntentId::new("pi_3"))
        );
    }

    #[test]
    fn setup_intent_and_payment_method_events_give_the_card_and_customer() {
        let setup = event(
            "setup_intent.succeeded",
            json!({ "id": "seti_1", "object": "setup_intent", "customer": "cus_1",
                    "payment_method": { "id": "pm_9", "object": "payment_method" } }),
        );
        assert_eq!(setup.kind(), EventKind::SetupIntentSucceeded);
        assert_eq!(setup.setup_intent_id(), Some(SetupIntentId::new("seti_1")));
        assert_eq!(
            setup.payment_method_id(),
            Some(PaymentMethodId::new("pm_9"))
        );
        assert_eq!(setup.payment_intent_id(), None);

        let attached = event(
            "payment_method.attached",
            json!({ "id": "pm_9", "object": "payment_method", "customer": "cus_1" }),
        );
        assert_eq!(attached.kind(), EventKind::PaymentMethodAttached);
        assert_eq!(
            attached.payment_method_id(),
            Some(PaymentMethodId::new("pm_9"))
        );
        assert_eq!(attached.customer_id(), Some(CustomerId::new("cus_1")));

        let body = json!({
            "id": "evt_2", "type": "payment_method.detached", "created": 1_700_000_100,
            "data": { "object": { "id": "pm_9", "object": "payment_method", "customer": null },
                      "previous_attributes": { "customer": "cus_1" } },
        });
        let detached = WebhookEvent::parse(body.to_string().as_bytes()).expect("parses");
        assert_eq!(detached.kind(), EventKind::PaymentMethodDetached);
        assert_eq!(detached.customer_id(), Some(CustomerId::new("cus_1")));
    }

    #[test]
    fn unknown_event_types_are_other() {
        let e = event(
            "customer.created",
            json!({ "id": "cus_1", "object": "customer" }),
        );
        assert_eq!(e.kind(), EventKind::Other);
        assert_eq!(e.customer_id(), Some(CustomerId::new("cus_1")));
    }

    #[test]
    fn a_body_without_the_envelope_fields_is_refused() {
        assert!(matches!(
            WebhookEvent::parse(br#"{"id":"evt_1"}"#),
            Err(WebhookError::Body(_))
        ));
        assert!(matches!(
            WebhookEvent::parse(b"not json"),
            Err(WebhookError::Body(_))
        ));
    }

    #[test]
    fn verify_and_parse_checks_the_signature_first() {
        let body =
            br#"{"id":"evt_1","type":"charge.refunded","created":1700000000,"data":{"object":{}}}"#;
        let header = sign_stripe_payload(body, "whsec_1", 1_700_000_000);
        let parsed = WebhookEvent::verify_and_parse(
            &header,
            body,
            "whsec_1",
            1_700_000_000,
            DEFAULT_TOLERANCE_S,
        )
        .expect("valid");
        assert_eq!(parsed.kind(), EventKind::ChargeRefunded);
        assert_eq!(
            WebhookEvent::verify_and_parse(
                &header,
                body,
                "whsec_2",
                1_700_000_000,
                DEFAULT_TOLERANCE_S
            ),
            Err(WebhookError::Signature(SignatureError::Mismatch))
        );
    }
}
