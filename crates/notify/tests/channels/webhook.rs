//! Signed webhooks POSTed to a receiver on loopback, which checks the signature on its own.

use std::time::Duration;

use hmac::{Hmac, Mac};
use serde_json::Value;
use sha2::Sha256;
use smartbox_notify::webhook::{WebhookEndpoint, WebhookSecret, WebhookSender};
use smartbox_notify::{DeliveryId, DeliveryOutcome, Outgoing};
use time::OffsetDateTime;

use crate::support::fixtures::{arrival, morning};
use crate::support::http::{HttpReceiver, ReceivedRequest};

fn endpoint(receiver: &HttpReceiver) -> WebhookEndpoint {
    WebhookEndpoint {
        url: receiver.url("/hooks/smartbox"),
        secret: WebhookSecret::generate(),
    }
}

/// What a customer's receiver does: recompute HMAC-SHA256(secret, "t.body") and compare.
fn signature_is_valid(request: &ReceivedRequest, secret: &WebhookSecret) -> bool {
    let header = request.header("X-Smartbox-Signature");
    let mut t = None;
    let mut v1 = Vec::new();
    for part in header.split(',') {
        match part.split_once('=') {
            Some(("t", value)) => t = Some(value.to_owned()),
            Some(("v1", value)) => v1.push(value.to_owned()),
            _ => {}
        }
    }
    let Some(t) = t else { return false };
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.expose().as_bytes()).expect("any key");
    mac.update(t.as_bytes());
    mac.update(b".");
    mac.update(&request.body);
    let expected = hex::encode(mac.finalize().into_bytes());
    v1.contains(&expected)
}

#[tokio::test]
async fn a_mail_event_is_posted_as_json_signed_with_the_customers_secret() {
    let mut receiver = HttpReceiver::start().await;
    let endpoint = endpoint(&receiver);
    let key = DeliveryId::generate();
    let event = arrival("Front gate", morning(), 1);
    let now = OffsetDateTime::now_utc();

    let outcome = WebhookSender::new(Duration::from_secs(5))
        .expect("client")
        .send(&endpoint, key, &Outgoing::Event(event.clone()), now)
        .await;

    assert_eq!(outcome, DeliveryOutcome::Delivered);
    let request = receiver.next_request().await;
    assert_eq!(request.path, "/hooks/smartbox");
    assert!(signature_is_valid(&request, &endpoint.secret));
    assert!(!signature_is_valid(
        &request,
        &WebhookSecret::from_stored("whsec_other")
    ));
    assert!(
        request
            .header("X-Smartbox-Signature")
            .starts_with(&format!("t={},v1=", now.unix_timestamp()))
    );
    assert_eq!(request.header("Idempotency-Key"), key.to_string());
    assert_eq!(request.header("X-Smartbox-Delivery"), key.to_string());
    assert_eq!(request.header("X-Smartbox-Event"), "mail.arrived");
    assert_eq!(request.header("content-type"), "application/json");
    let body: Value = serde_json::from_slice(&request.body).expect("JSON");
    assert_eq!(body["id"], key.to_string());
    assert_eq!(body["type"], "mail.arrived");
    assert_eq!(body["data"]["mailbox"], "Front gate");
    assert_eq!(body["data"]["serial"], "SB-TEST-0001");
    assert_eq!(body["data"]["event_id"], event.event_id.to_string());
    assert_eq!(body["data"]["link"], event.link);
}

#[tokio::test]
async fn send_test_posts_a_signed_test_event() {
    let mut receiver = HttpReceiver::start().await;
    let endpoint = endpoint(&receiver);

    let outcome = WebhookSender::new(Duration::from_secs(5))
        .expect("client")
        .send_test(&endpoint, DeliveryId::generate(), OffsetDateTime::now_utc())
        .await;

    assert_eq!(outcome, DeliveryOutcome::Delivered);
    let request = receiver.next_request().await;
    assert!(signature_is_valid(&request, &endpoint.secret));
    let body: Value = serde_json::from_slice(&request.body).expect("JSON");
    assert_eq!(body["type"], "test");
}

#[tokio::test]
async fn a_failing_endpoint_is_retried_on_5xx_and_timeouts_but_not_on_4xx() {
    let receiver = HttpReceiver::start().await;
    let endpoint = endpoint(&receiver);
    let sender = WebhookSender::new(Duration::from_millis(500)).expect("client");
    let outgoing = Outgoing::Event(arrival("Front gate", morning(), 1));
    let send = || sender.send(&endpoint, DeliveryId::generate(), &outgoing, morning());

    receiver.answer_with(503);
    assert!(send().await.should_retry());
    receiver.answer_with(410);
    let gone = send().await;
    assert!(
        matches!(gone, DeliveryOutcome::Failed { retryable: false, ref reason } if reason.contains("410")),
        "{gone:?}"
    );
    receiver.answer_with(200);
    receiver.answer_after(Duration::from_secs(2));
    let slow = send().await;
    assert!(
        matches!(slow, DeliveryOutcome::Failed { retryable: true, ref reason } if reason.contains("in time")),
        "{slow:?}"
    );
}

#[tokio::test]
async fn a_url_that_is_not_http_is_a_permanent_failure() {
    let endpoint = WebhookEndpoint {
        url: "file:///etc/passwd".into(),
        secret: WebhookSecret::generate(),
    };
    let outcome = WebhookSender::new(Duration::from_secs(1))
        .expect("client")
        .send_test(&endpoint, DeliveryId::generate(), morning())
        .await;
    assert!(matches!(
        outcome,
        DeliveryOutcome::Failed {
            retryable: false,
            ..
        }
    ));
}
