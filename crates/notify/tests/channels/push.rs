//! Web push to a push endpoint on loopback that holds the browser's keys: it decrypts the
//! payload as a browser would and checks the VAPID signature as a push service would.

use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use p256::ecdsa::signature::Verifier;
use p256::ecdsa::{Signature, VerifyingKey};
use serde_json::Value;
use smartbox_notify::push::{PushSender, PushSubscription, VapidKeys};
use smartbox_notify::testing::push::PushBrowser;
use smartbox_notify::{DeliveryId, DeliveryOutcome, Outgoing};
use time::OffsetDateTime;
use web_push_native::Auth;

use crate::support::fixtures::{arrival, morning};
use crate::support::http::{HttpReceiver, ReceivedRequest};

/// The browser: its keys, and decrypting what the endpoint received.
struct Browser(PushBrowser);

impl Browser {
    fn new() -> Browser {
        Browser(PushBrowser::new())
    }

    fn subscribe(&self, endpoint: String) -> PushSubscription {
        self.0.subscribe(endpoint)
    }

    fn decrypt(&self, request: &ReceivedRequest) -> Value {
        self.0.decrypt(&request.body)
    }
}

fn b64(input: &str) -> Vec<u8> {
    URL_SAFE_NO_PAD.decode(input).expect("base64url")
}

/// What a push service checks: a JWT signed by `k`, for its origin, not expired.
fn vapid_claims(request: &ReceivedRequest, expected_key: &str) -> Value {
    let header = request.header("authorization");
    let (jwt, k) = header
        .strip_prefix("vapid t=")
        .and_then(|rest| rest.split_once(", k="))
        .expect("vapid t=..., k=...");
    assert_eq!(k, expected_key);
    let (signing_input, signature) = jwt.rsplit_once('.').expect("three JWT parts");
    VerifyingKey::from_sec1_bytes(&b64(k))
        .expect("a P-256 point")
        .verify(
            signing_input.as_bytes(),
            &Signature::from_slice(&b64(signature)).expect("r||s"),
        )
        .expect("the JWT is signed by the VAPID key");
    let claims = signing_input.split('.').nth(1).expect("claims");
    serde_json::from_slice(&b64(claims)).expect("JSON claims")
}

#[tokio::test]
async fn a_push_endpoint_decrypts_the_notification_with_the_subscriptions_keys() {
    let mut endpoint = HttpReceiver::start().await;
    endpoint.answer_with(201);
    let browser = Browser::new();
    let subscription = browser.subscribe(endpoint.url("/push/v1/abc"));
    let vapid = VapidKeys::generate();
    let sender = PushSender::new(
        vapid.clone(),
        "mailto:ops@smartbox.test",
        Duration::from_secs(5),
    )
    .expect("client");
    let key = DeliveryId::generate();
    let event = arrival("Front gate", morning(), 1);
    let now = OffsetDateTime::now_utc();

    let outcome = sender
        .send(&subscription, key, &Outgoing::Event(event.clone()), now)
        .await;

    assert_eq!(outcome, DeliveryOutcome::Delivered);
    let request = endpoint.next_request().await;
    assert_eq!(request.path, "/push/v1/abc");
    assert_eq!(request.header("content-encoding"), "aes128gcm");
    assert_eq!(request.header("ttl"), "43200");
    assert_eq!(request.header("topic"), key.compact());
    assert!(
        !String::from_utf8_lossy(&request.body).contains("Front gate"),
        "the body is encrypted"
    );
    let payload = browser.decrypt(&request);
    assert_eq!(payload["id"], key.to_string());
    assert_eq!(payload["title"], "Mail arrived in Front gate");
    assert_eq!(payload["body"], "Front gate received mail at 07:00.");
    assert_eq!(payload["url"], event.link);
    assert_eq!(payload["tag"], event.event_id.to_string());
    let claims = vapid_claims(&request, &vapid.public_base64url());
    assert_eq!(claims["aud"], format!("http://{}", endpoint.addr));
    assert_eq!(claims["sub"], "mailto:ops@smartbox.test");
    let exp = claims["exp"].as_i64().expect("exp");
    assert!(exp > now.unix_timestamp() && exp <= now.unix_timestamp() + 24 * 3600);
}

#[tokio::test]
async fn another_browsers_keys_cannot_read_the_payload() {
    let mut endpoint = HttpReceiver::start().await;
    endpoint.answer_with(201);
    let browser = Browser::new();
    let sender = PushSender::new(
        VapidKeys::generate(),
        "mailto:ops@smartbox.test",
        Duration::from_secs(5),
    )
    .expect("client");
    sender
        .send(
            &browser.subscribe(endpoint.url("/p")),
            DeliveryId::generate(),
            &Outgoing::Event(arrival("Front gate", morning(), 1)),
            OffsetDateTime::now_utc(),
        )
        .await;
    let request = endpoint.next_request().await;
    let stranger = Browser::new();
    assert!(
        web_push_native::decrypt(
            request.body.clone(),
            stranger.0.secret(),
            &Auth::from(browser.0.auth())
        )
        .is_err()
    );
}

#[tokio::test]
async fn an_expired_subscription_is_a_permanent_failure_and_a_throttled_one_is_retried() {
    let endpoint = HttpReceiver::start().await;
    let browser = Browser::new();
    let subscription = browser.subscribe(endpoint.url("/p"));
    let sender = PushSender::new(
        VapidKeys::generate(),
        "mailto:ops@smartbox.test",
        Duration::from_secs(5),
    )
    .expect("client");
    let outgoing = Outgoing::Event(arrival("Front gate", morning(), 1));
    let send = || sender.send(&subscription, DeliveryId::generate(), &outgoing, morning());

    endpoint.answer_with(410);
    let gone = send().await;
    assert!(
        matches!(gone, DeliveryOutcome::Failed { retryable: false, ref reason } if reason.contains("gone")),
        "{gone:?}"
    );
    endpoint.answer_with(429);
    assert!(send().await.should_retry());
}
