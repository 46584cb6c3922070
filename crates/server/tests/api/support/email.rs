//! The emails of a ticket through a real SMTP peer (the test server on loopback) and the job
//! queue: staff hear of a new ticket, the customer of each staff reply with a link and never
//! the text; an internal note mails nobody; each email is sent once however often the jobs run,
//! and one the SMTP server refused for a while arrives once it accepts.

use mail_parser::MessageParser;
use smartbox_notify::testing::smtp::SmtpServer;

use super::{clock, mail_worker, open_ticket, staff_write};
use crate::admin::staff;
use crate::portal::helpers::spawn_apps;

/// The subject and the plain-text body of a received message.
pub(super) fn text_of(data: &[u8]) -> (String, String) {
    let message = MessageParser::default()
        .parse(data)
        .expect("a MIME message");
    (
        message.subject().unwrap_or("").to_owned(),
        message
            .body_text(0)
            .map(|t| t.into_owned())
            .unwrap_or_default(),
    )
}

#[tokio::test]
async fn staff_hear_of_a_new_ticket_and_the_customer_of_each_reply_by_a_link_only() {
    for app in spawn_apps().await {
        let backend = app.backend;
        let mut smtp = SmtpServer::start().await;
        let worker = mail_worker(&app.state, clock(&app), &smtp.url());
        let mut support = staff(&app, "sam@smartbox.example", "support").await;
        let mut ann = app.customer("ann@example.com").await;
        let id = open_ticket(&mut ann, "Payment failed", "Why was my card declined?").await;

        worker.run_until_idle(50).await.expect("jobs run");
        let mail = smtp.next_mail().await;
        assert_eq!(mail.rcpt_to, ["sam@smartbox.example"], "{backend}");
        let (subject, body) = text_of(&mail.data);
        assert_eq!(subject, "New support ticket: Payment failed");
        assert!(
            body.contains(&format!("https://mailbox.example/admin/tickets/{id}")),
            "{body}"
        );
        assert!(
            smtp.no_mail_waiting(),
            "{backend}: one staff member, one email"
        );

        // A note mails nobody; a reply mails the customer a link, not the answer.
        staff_write(
            &mut support,
            &id,
            "Card expired in the provider's log",
            true,
        )
        .await;
        worker.run_until_idle(50).await.expect("jobs run");
        assert!(smtp.no_mail_waiting(), "{backend}: a note is not mailed");
        smtp.refuse_recipients_with("451 4.3.0 try again later");
        staff_write(
            &mut support,
            &id,
            "Please add a new card under Billing.",
            false,
        )
        .await;
        worker.run_until_idle(5).await.expect("jobs run");
        assert!(smtp.no_mail_waiting(), "{backend}: refused for now");
        smtp.accept_recipients();
        app.clock.advance_s(120);
        worker.run_until_idle(50).await.expect("jobs run");
        let mail = smtp.next_mail().await;
        assert_eq!(mail.rcpt_to, ["ann@example.com"], "{backend}");
        let (subject, body) = text_of(&mail.data);
        assert_eq!(subject, "Support answered: Payment failed");
        assert!(
            body.contains(&format!("https://mailbox.example/support/{id}")),
            "{body}"
        );
        assert!(
            !body.contains("new card"),
            "the answer stays behind the login: {body}"
        );
        assert!(!body.contains("expired"), "never the note: {body}");
        app.clock.advance_s(3_600);
        worker.run_until_idle(50).await.expect("jobs run");
        assert!(smtp.no_mail_waiting(), "{backend}: sent once");
    }
}
