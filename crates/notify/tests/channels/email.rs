//! Email over a real SMTP conversation with the server in `support::smtp`.

use mail_parser::{MessageParser, MimeHeaders};
use smartbox_domain::Email;
use smartbox_notify::email::EmailSender;
use smartbox_notify::quiet_hours::release_held;
use smartbox_notify::{DeliveryId, DeliveryOutcome, Outgoing, Summary};
use time::Duration;

use crate::support::fixtures::{arrival, morning, thumbnail};
use crate::support::smtp::SmtpServer;

fn sender(server: &SmtpServer) -> EmailSender {
    EmailSender::new(
        &server.url(),
        "Smartbox <notifications@smartbox.test>"
            .parse()
            .expect("mailbox"),
    )
    .expect("smtp url")
}

fn customer() -> Email {
    Email::parse("owner@example.test").expect("email")
}

fn jpeg_parts(message: &mail_parser::Message<'_>) -> Vec<(String, Vec<u8>)> {
    message
        .parts
        .iter()
        .filter(|part| {
            part.content_type()
                .is_some_and(|ct| ct.ctype() == "image" && ct.subtype() == Some("jpeg"))
        })
        .map(|part| {
            (
                part.content_id().unwrap_or_default().to_owned(),
                part.contents().to_vec(),
            )
        })
        .collect()
}

#[tokio::test]
async fn a_mail_event_arrives_over_smtp_with_the_mailbox_in_the_subject_and_the_photo_inline() {
    let mut server = SmtpServer::start().await;
    let key = DeliveryId::generate();
    let event = arrival("Front gate", morning(), 7);

    let outcome = sender(&server)
        .send(&customer(), key, &Outgoing::Event(event.clone()))
        .await;

    assert_eq!(outcome, DeliveryOutcome::Delivered);
    let mail = server.next_mail().await;
    assert_eq!(mail.rcpt_to, vec!["owner@example.test".to_owned()]);
    assert_eq!(mail.mail_from, "notifications@smartbox.test");
    let message = MessageParser::default()
        .parse(&mail.data)
        .expect("a MIME message");
    assert_eq!(message.subject(), Some("Mail arrived in Front gate"));
    assert_eq!(
        message.message_id(),
        Some(format!("{key}@smartbox.test").as_str())
    );
    assert_eq!(
        jpeg_parts(&message),
        vec![(
            "photo-0@smartbox".to_owned(),
            thumbnail(7).as_bytes().to_vec()
        )]
    );
    let html = message.body_html(0).expect("an HTML body");
    assert!(html.contains("cid:photo-0@smartbox"), "{html}");
    assert!(html.contains(&event.link), "{html}");
    let text = message.body_text(0).expect("a text body");
    assert!(
        text.contains("Front gate received mail at 07:00."),
        "{text}"
    );
    assert!(text.contains(&event.link), "{text}");
}

#[tokio::test]
async fn the_morning_digest_lists_each_piece_of_the_last_day_with_its_thumbnail() {
    let mut server = SmtpServer::start().await;
    let now = morning();
    let events = vec![
        arrival("Front gate", now - Duration::hours(30), 1),
        arrival("Front gate", now - Duration::hours(20), 2),
        arrival("Back door", now - Duration::hours(9), 3),
        arrival("Front gate", now - Duration::hours(1), 4),
    ];
    let digest = Summary::morning_digest(now, "http://127.0.0.1:8080/gallery", events);

    let outcome = sender(&server)
        .send(
            &customer(),
            DeliveryId::generate(),
            &Outgoing::Summary(digest),
        )
        .await;

    assert_eq!(outcome, DeliveryOutcome::Delivered);
    let mail = server.next_mail().await;
    let message = MessageParser::default().parse(&mail.data).expect("MIME");
    assert_eq!(
        message.subject(),
        Some("Your mail digest: 3 pieces in the last 24 hours")
    );
    let images = jpeg_parts(&message);
    assert_eq!(
        images,
        (0..3)
            .map(|i| (
                format!("photo-{i}@smartbox"),
                thumbnail(i as u8 + 2).as_bytes().to_vec()
            ))
            .collect::<Vec<_>>()
    );
    let text = message.body_text(0).expect("text");
    assert!(
        text.contains("Wed 25 Nov 06:00 — Mail arrived in Front gate"),
        "{text}"
    );
    assert!(
        text.contains("Tue 24 Nov 22:00 — Mail arrived in Back door"),
        "{text}"
    );
    assert!(
        !text.contains("Tue 24 Nov 01:00"),
        "older than a day: {text}"
    );
}

#[tokio::test]
async fn notifications_held_during_quiet_hours_arrive_as_one_summary_email() {
    let mut server = SmtpServer::start().await;
    let held = vec![
        arrival("Front gate", morning() - Duration::hours(6), 1),
        arrival("Front gate", morning() - Duration::hours(2), 2),
    ];
    let summary = release_held(
        morning() - Duration::hours(9),
        morning(),
        "http://127.0.0.1:8080/gallery",
        held,
    )
    .expect("something was held");

    let outcome = sender(&server)
        .send(
            &customer(),
            DeliveryId::generate(),
            &Outgoing::Summary(summary),
        )
        .await;

    assert_eq!(outcome, DeliveryOutcome::Delivered);
    let message_bytes = server.next_mail().await.data;
    let message = MessageParser::default()
        .parse(&message_bytes)
        .expect("MIME");
    assert_eq!(message.subject(), Some("During quiet hours: 2 mail pieces"));
    assert_eq!(jpeg_parts(&message).len(), 2);
    assert!(server.no_mail_waiting(), "one message for all held");
}

#[tokio::test]
async fn a_refused_recipient_is_a_permanent_failure_and_a_busy_server_a_retryable_one() {
    let server = SmtpServer::start().await;
    let outgoing = Outgoing::Event(arrival("Front gate", morning(), 1));

    server.refuse_recipients_with("550 5.1.1 no such user");
    let refused = sender(&server)
        .send(&customer(), DeliveryId::generate(), &outgoing)
        .await;
    assert!(
        matches!(refused, DeliveryOutcome::Failed { retryable: false, ref reason } if reason.contains("550")),
        "{refused:?}"
    );

    server.refuse_recipients_with("451 4.3.0 try again later");
    let busy = sender(&server)
        .send(&customer(), DeliveryId::generate(), &outgoing)
        .await;
    assert!(busy.should_retry(), "{busy:?}");
}

#[tokio::test]
async fn an_unreachable_smtp_server_is_worth_retrying() {
    let closed = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!("smtp://{}", closed.local_addr().expect("addr"));
    drop(closed);
    let sender = EmailSender::new(&url, "n@smartbox.test".parse().expect("mailbox")).expect("url");

    let outcome = sender
        .send(
            &customer(),
            DeliveryId::generate(),
            &Outgoing::Event(arrival("Front gate", morning(), 1)),
        )
        .await;

    assert!(outcome.should_retry(), "{outcome:?}");
}
