//! One notification fanned out through [`Channels`] to each destination a customer enabled, the
//! way the server's delivery jobs call it.

use std::time::Duration;

use smartbox_domain::Email;
use smartbox_notify::email::EmailSender;
use smartbox_notify::webhook::{WebhookEndpoint, WebhookSecret, WebhookSender};
use smartbox_notify::{Channel, Channels, DeliveryId, DeliveryOutcome, Destination, Outgoing};

use crate::support::fixtures::{arrival, morning};
use crate::support::http::HttpReceiver;
use crate::support::smtp::SmtpServer;

fn no_channels() -> Channels {
    Channels {
        email: None,
        push: None,
        webhook: None,
        home_assistant: None,
    }
}

#[tokio::test]
async fn a_mail_event_reaches_the_customers_email_and_webhook_each_under_its_own_key() {
    let mut smtp = SmtpServer::start().await;
    let mut hook = HttpReceiver::start().await;
    let channels = Channels {
        email: Some(
            EmailSender::new(&smtp.url(), "n@smartbox.test".parse().expect("mailbox"))
                .expect("url"),
        ),
        webhook: Some(WebhookSender::new(Duration::from_secs(5)).expect("client")),
        ..no_channels()
    };
    let destinations = [
        Destination::Email(Email::parse("owner@example.test").expect("email")),
        Destination::Webhook(WebhookEndpoint {
            url: hook.url("/hook"),
            secret: WebhookSecret::generate(),
        }),
    ];
    let outgoing = Outgoing::Event(arrival("Front gate", morning(), 1));
    let keys: Vec<DeliveryId> = destinations
        .iter()
        .map(|_| DeliveryId::generate())
        .collect();

    for (destination, key) in destinations.iter().zip(&keys) {
        let outcome = channels
            .deliver(destination, *key, &outgoing, morning())
            .await;
        assert_eq!(
            outcome,
            DeliveryOutcome::Delivered,
            "{:?}",
            destination.channel()
        );
    }

    let mail = smtp.next_mail().await;
    assert!(String::from_utf8_lossy(&mail.data).contains(&keys[0].to_string()));
    let request = hook.next_request().await;
    assert_eq!(request.header("Idempotency-Key"), keys[1].to_string());
}

#[tokio::test]
async fn a_channel_this_server_does_not_have_fails_for_good() {
    let outcome = no_channels()
        .deliver(
            &Destination::Email(Email::parse("owner@example.test").expect("email")),
            DeliveryId::generate(),
            &Outgoing::Event(arrival("Front gate", morning(), 1)),
            morning(),
        )
        .await;
    assert!(
        matches!(outcome, DeliveryOutcome::Failed { retryable: false, ref reason } if reason.contains("SMARTBOX_SMTP_URL")),
        "{outcome:?}"
    );
    assert_eq!(
        Destination::Email(Email::parse("a@b.test").expect("email")).channel(),
        Channel::Email
    );
}
