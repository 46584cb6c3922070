//! Outbound customer webhooks: a JSON body POSTed to the customer's URL and signed like Stripe's
//! webhooks, so the same verification code works: `X-Smartbox-Signature: t=<unix>,v1=<hex
//! HMAC-SHA256(secret, "<t>.<body>")>`. The delivery key rides in `Idempotency-Key` and
//! `X-Smartbox-Delivery`, and as the body's `id`, so a receiver can drop a repeated delivery.

use std::time::Duration;

use rand::RngCore;
use serde_json::{Value, json};
use time::OffsetDateTime;

use crate::delivery::{DeliveryId, DeliveryOutcome};
use crate::http::{self, HttpClientError};
use crate::message::{EventKind, Notification, Outgoing, SummaryKind, rfc3339};
use crate::targets::Targets;

pub const SIGNATURE_HEADER: &str = "X-Smartbox-Signature";
pub const DELIVERY_HEADER: &str = "X-Smartbox-Delivery";
pub const IDEMPOTENCY_HEADER: &str = "Idempotency-Key";
pub const EVENT_TYPE_HEADER: &str = "X-Smartbox-Event";

/// The signature header's value for `body` sent at `timestamp`: `t=<timestamp>,v1=<hex
/// HMAC-SHA256(secret, "<timestamp>.<body>")>`, Stripe's scheme, so a receiver can check it with
/// Stripe's verification code. The MAC is the protocol crate's, which the billing crate's Stripe
/// verifier uses too.
fn sign(body: &[u8], secret: &str, timestamp: i64) -> String {
    let mac = smartbox_protocol::signing::timestamped_mac(secret.as_bytes(), timestamp, body);
    format!("t={timestamp},v1={}", hex::encode(mac))
}

/// How long a customer's endpoint may take to answer.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

/// The secret a customer's webhook is signed with: `whsec_` and 64 hex digits.
#[derive(Clone, PartialEq, Eq)]
pub struct WebhookSecret(String);

impl WebhookSecret {
    /// A new random secret, shown to the customer once when the webhook is created.
    pub fn generate() -> WebhookSecret {
        let mut bytes = [0u8; 32];
        rand::rng().fill_bytes(&mut bytes);
        let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
        WebhookSecret(format!("whsec_{hex}"))
    }

    /// A secret as stored.
    pub fn from_stored(secret: impl Into<String>) -> WebhookSecret {
        WebhookSecret(secret.into())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for WebhookSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("WebhookSecret(..)")
    }
}

/// One customer's webhook.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookEndpoint {
    pub url: String,
    pub secret: WebhookSecret,
}

/// The `type` of a webhook body.
pub fn event_type(outgoing: &Outgoing) -> &'static str {
    match outgoing {
        Outgoing::Event(n) => match n.kind {
            EventKind::MailArrived => "mail.arrived",
            EventKind::MailRemoved => "mail.removed",
        },
        Outgoing::Summary(s) => match s.kind {
            SummaryKind::MorningDigest => "mail.digest",
            SummaryKind::QuietHoursRelease => "mail.quiet_hours_summary",
        },
    }
}

/// The JSON body: `{id, type, created, data}`.
pub fn body(key: DeliveryId, outgoing: &Outgoing, now: OffsetDateTime) -> Value {
    let data = match outgoing {
        Outgoing::Event(n) => event_data(n),
        Outgoing::Summary(s) => json!({
            "title": s.title(),
            "from": rfc3339(s.from),
            "until": rfc3339(s.until),
            "link": s.link,
            "items": s.items.iter().map(event_data).collect::<Vec<_>>(),
        }),
    };
    envelope(key, event_type(outgoing), now, data)
}

fn envelope(key: DeliveryId, kind: &str, now: OffsetDateTime, data: Value) -> Value {
    json!({
        "id": key.to_string(),
        "type": kind,
        "created": now.unix_timestamp(),
        "data": data,
    })
}

fn event_data(n: &Notification) -> Value {
    json!({
        "event_id": n.event_id.to_string(),
        "serial": n.serial.as_str(),
        "mailbox": n.mailbox_name,
        "kind": n.kind.as_str(),
        "occurred_at": rfc3339(n.occurred_at),
        "link": n.link,
        "has_photo": n.thumbnail.is_some(),
    })
}

/// POSTs signed webhook bodies.
#[derive(Debug, Clone)]
pub struct WebhookSender {
    client: reqwest::Client,
    targets: Targets,
}

impl WebhookSender {
    /// A sender that may reach any address (see [`WebhookSender::to`]).
    pub fn new(timeout: Duration) -> Result<WebhookSender, HttpClientError> {
        WebhookSender::to(Targets::Any, timeout)
    }

    /// A sender that connects only to `targets`.
    pub fn to(targets: Targets, timeout: Duration) -> Result<WebhookSender, HttpClientError> {
        Ok(WebhookSender {
            client: http::client(timeout, targets)?,
            targets,
        })
    }

    /// Delivers `outgoing`, signed with the endpoint's secret at `now`.
    pub async fn send(
        &self,
        endpoint: &WebhookEndpoint,
        key: DeliveryId,
        outgoing: &Outgoing,
        now: OffsetDateTime,
    ) -> DeliveryOutcome {
        self.post(
            endpoint,
            key,
            event_type(outgoing),
            &body(key, outgoing, now),
            now,
        )
        .await
    }

    /// The settings page's "send test": a `test` event, delivered and reported like any other.
    pub async fn send_test(
        &self,
        endpoint: &WebhookEndpoint,
        key: DeliveryId,
        now: OffsetDateTime,
    ) -> DeliveryOutcome {
        let data = json!({ "message": "A test from Smartbox: your webhook works." });
        let body = envelope(key, "test", now, data);
        self.post(endpoint, key, "test", &body, now).await
    }

    async fn post(
        &self,
        endpoint: &WebhookEndpoint,
        key: DeliveryId,
        kind: &str,
        body: &Value,
        now: OffsetDateTime,
    ) -> DeliveryOutcome {
        let url = match http::parse_destination("webhook", &endpoint.url, self.targets) {
            Ok(url) => url,
            Err(outcome) => return outcome,
        };
        let bytes = body.to_string().into_bytes();
        let signature = sign(&bytes, endpoint.secret.expose(), now.unix_timestamp());
        let request = self
            .client
            .post(url)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .header(SIGNATURE_HEADER, signature)
            .header(IDEMPOTENCY_HEADER, key.to_string())
            .header(DELIVERY_HEADER, key.to_string())
            .header(EVENT_TYPE_HEADER, kind)
            .body(bytes);
        match request.send().await {
            Ok(response) => http::outcome_for_status("webhook endpoint", response.status()),
            Err(e) => http::outcome_for_error("webhook endpoint", &e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::message::fixtures::{arrival, morning};

    #[test]
    fn a_generated_secret_is_random_and_shaped_like_stripes() {
        let a = WebhookSecret::generate();
        assert!(a.expose().starts_with("whsec_") && a.expose().len() == 6 + 64);
        assert_ne!(a, WebhookSecret::generate());
        assert_eq!(format!("{a:?}"), "WebhookSecret(..)");
    }

    #[test]
    fn an_event_body_carries_the_key_and_the_event() {
        let key = DeliveryId::generate();
        let n = arrival(morning());
        let body = body(key, &Outgoing::Event(n.clone()), morning());
        assert_eq!(body["id"], key.to_string());
        assert_eq!(body["type"], "mail.arrived");
        assert_eq!(body["created"], morning().unix_timestamp());
        assert_eq!(body["data"]["event_id"], n.event_id.to_string());
        assert_eq!(body["data"]["occurred_at"], "2026-11-25T07:00:00+01:00");
        assert_eq!(body["data"]["has_photo"], true);
    }
}
