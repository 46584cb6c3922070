//! Web push to the portal's service worker: the payload is encrypted for the browser's
//! subscription keys per RFC 8291 (`aes128gcm`, by `web-push-native`) and the request carries a
//! VAPID `Authorization`. The delivery key is the `Topic` (a push service keeps one pending
//! message per topic) and the payload's `id`; the event id is the `tag`, so the browser shows one
//! notification per event.

mod vapid;

use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use time::OffsetDateTime;
use web_push_native::{Auth, WebPushBuilder};

pub use vapid::{VapidKeyError, VapidKeys};

use crate::delivery::{DeliveryId, DeliveryOutcome};
use crate::http::{self, HttpClientError};
use crate::message::Outgoing;
use crate::targets::Targets;

/// How long a push service keeps an undelivered message (the `TTL` header): a mail
/// notification half a day late is still worth showing, a day late it is not.
pub const TIME_TO_LIVE: Duration = Duration::from_secs(12 * 60 * 60);

/// How long a VAPID JWT is valid (RFC 8292 allows at most 24 h).
const JWT_LIFETIME: time::Duration = time::Duration::hours(12);

/// A browser's push subscription as `PushSubscription.toJSON()` gives it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PushSubscription {
    pub endpoint: String,
    pub keys: SubscriptionKeys,
}

/// The subscription's keys, base64url: the browser's P-256 public key and the 16-byte secret.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SubscriptionKeys {
    pub p256dh: String,
    pub auth: String,
}

/// The JSON the service worker receives: `{id, title, body, url, tag}`.
pub fn payload(key: DeliveryId, outgoing: &Outgoing) -> Value {
    let tag = match outgoing {
        Outgoing::Event(n) => n.event_id.to_string(),
        Outgoing::Summary(_) => key.to_string(),
    };
    json!({
        "id": key.to_string(),
        "title": outgoing.title(),
        "body": outgoing.short_body(),
        "url": outgoing.link(),
        "tag": tag,
    })
}

/// Sends web push messages as one application server (one VAPID key pair).
#[derive(Debug, Clone)]
pub struct PushSender {
    client: reqwest::Client,
    vapid: VapidKeys,
    contact: String,
    targets: Targets,
}

impl PushSender {
    /// `contact` is the VAPID `sub`: a `mailto:` or `https:` URL push services can reach the
    /// operator at.
    pub fn new(
        vapid: VapidKeys,
        contact: impl Into<String>,
        timeout: Duration,
    ) -> Result<PushSender, HttpClientError> {
        PushSender::to(Targets::Any, vapid, contact, timeout)
    }

    /// A sender that connects only to `targets`.
    pub fn to(
        targets: Targets,
        vapid: VapidKeys,
        contact: impl Into<String>,
        timeout: Duration,
    ) -> Result<PushSender, HttpClientError> {
        Ok(PushSender {
            client: http::client(timeout, targets)?,
            vapid,
            contact: contact.into(),
            targets,
        })
    }

    pub fn vapid(&self) -> &VapidKeys {
        &self.vapid
    }

    /// Encrypts `outgoing` for `subscription` and POSTs it to the subscription's endpoint.
    /// 404 and 410 mean the subscription is gone (the server should delete it): a permanent
    /// failure.
    pub async fn send(
        &self,
        subscription: &PushSubscription,
        key: DeliveryId,
        outgoing: &Outgoing,
        now: OffsetDateTime,
    ) -> DeliveryOutcome {
        let endpoint = match http::parse_destination("push", &subscription.endpoint, self.targets) {
            Ok(url) => url,
            Err(outcome) => return outcome,
        };
        let builder = match builder(subscription, &endpoint) {
            Ok(builder) => builder,
            Err(reason) => return DeliveryOutcome::permanent(reason),
        };
        let encrypted = match builder.build(payload(key, outgoing).to_string()) {
            Ok(request) => request,
            Err(e) => return DeliveryOutcome::permanent(format!("cannot encrypt: {e}")),
        };
        let audience = endpoint.origin().ascii_serialization();
        let mut request = self
            .client
            .post(endpoint)
            .header(
                reqwest::header::AUTHORIZATION,
                self.vapid
                    .authorization(&audience, &self.contact, now + JWT_LIFETIME),
            )
            .header("Urgency", "high")
            .header("Topic", key.compact());
        // TTL, Content-Encoding and Content-Type; the client sets Content-Length from the body.
        for (name, value) in encrypted.headers() {
            if name != reqwest::header::CONTENT_LENGTH {
                request = request.header(name, value);
            }
        }
        match request.body(encrypted.into_body()).send().await {
            Ok(response) => {
                let status = response.status();
                if matches!(status.as_u16(), 404 | 410) {
                    DeliveryOutcome::permanent(format!(
                        "push subscription is gone ({status}): delete it"
                    ))
                } else {
                    http::outcome_for_status("push service", status)
                }
            }
            Err(e) => http::outcome_for_error("push service", &e),
        }
    }
}

fn builder(subscription: &PushSubscription, endpoint: &url::Url) -> Result<WebPushBuilder, String> {
    let uri = endpoint
        .as_str()
        .parse()
        .map_err(|e| format!("push endpoint {:?}: {e}", subscription.endpoint))?;
    let public = vapid::decode_base64url(&subscription.keys.p256dh)
        .and_then(|bytes| p256::PublicKey::from_sec1_bytes(&bytes).ok())
        .ok_or("the subscription's p256dh is not a P-256 public key")?;
    let auth: [u8; 16] = vapid::decode_base64url(&subscription.keys.auth)
        .and_then(|bytes| bytes.try_into().ok())
        .ok_or("the subscription's auth secret is not 16 bytes")?;
    Ok(WebPushBuilder::new(uri, public, Auth::from(auth)).with_valid_duration(TIME_TO_LIVE))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::message::fixtures::{arrival, morning};

    #[test]
    fn the_payload_is_tagged_with_the_event_so_repeats_replace_each_other() {
        let key = DeliveryId::generate();
        let n = arrival(morning());
        let body = payload(key, &Outgoing::Event(n.clone()));
        assert_eq!(body["tag"], n.event_id.to_string());
        assert_eq!(body["id"], key.to_string());
        assert_eq!(body["title"], "Mail arrived in Front gate");
        assert_eq!(body["url"], n.link);
    }

    #[test]
    fn malformed_subscription_keys_are_refused_before_sending() {
        let endpoint: url::Url = "https://push.example.test/x".parse().unwrap();
        let subscription = |p256dh: &str, auth: &str| PushSubscription {
            endpoint: endpoint.to_string(),
            keys: SubscriptionKeys {
                p256dh: p256dh.into(),
                auth: auth.into(),
            },
        };
        let good_public = VapidKeys::generate().public_base64url();
        assert!(
            builder(
                &subscription(&good_public, "AAAAAAAAAAAAAAAAAAAAAA"),
                &endpoint
            )
            .is_ok()
        );
        assert!(builder(&subscription("BAAA", "AAAAAAAAAAAAAAAAAAAAAA"), &endpoint).is_err());
        assert!(builder(&subscription(&good_public, "AAAA"), &endpoint).is_err());
    }
}
