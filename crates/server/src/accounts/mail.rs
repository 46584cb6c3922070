//! Outgoing account email (password-reset links). Sent over SMTP when `SMARTBOX_SMTP_URL` is set
//! (`smtp://host:port` plain, `smtps://` TLS; user and password may be in the URL); otherwise
//! written to the log. Either way the last messages are kept in memory so the demo and the tests
//! can follow a link without a mail server.

use std::collections::VecDeque;
use std::sync::Mutex;

use lettre::message::header::ContentType;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

use crate::config::Config;

/// One message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mail {
    pub to: String,
    pub subject: String,
    pub body: String,
}

/// The sender of account email.
pub const FROM: &str = "Smart Mailbox <no-reply@smartbox.example>";

const KEPT: usize = 100;
static RECENT: Mutex<VecDeque<Mail>> = Mutex::new(VecDeque::new());

/// Sends (or logs) a message. Failing to send is logged, not returned: the page answers the same
/// whether or not an account exists, so it must not reveal delivery either.
pub async fn send(config: &Config, mail: Mail) {
    match &config.smtp_url {
        Some(url) => {
            if let Err(err) = send_smtp(url, &mail).await {
                tracing::error!(to = %mail.to, error = %err, "account email not sent");
            }
        }
        None => {
            tracing::info!(to = %mail.to, subject = %mail.subject, body = %mail.body, "account email (SMTP not configured)");
        }
    }
    let mut recent = RECENT
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    if recent.len() == KEPT {
        recent.pop_front();
    }
    recent.push_back(mail);
}

async fn send_smtp(url: &str, mail: &Mail) -> anyhow::Result<()> {
    let message = Message::builder()
        .from(FROM.parse()?)
        .to(mail.to.parse()?)
        .subject(&mail.subject)
        .header(ContentType::TEXT_PLAIN)
        .body(mail.body.clone())?;
    let transport = AsyncSmtpTransport::<Tokio1Executor>::from_url(url)?.build();
    transport.send(message).await?;
    Ok(())
}

/// The newest message sent to `to`, if any.
pub fn last_sent_to(to: &str) -> Option<Mail> {
    let recent = RECENT
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    recent.iter().rev().find(|m| m.to == to).cloned()
}
