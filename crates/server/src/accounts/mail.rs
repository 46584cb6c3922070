//! Outgoing account email (password-reset links). Sent over SMTP when `SMARTBOX_SMTP_URL` is set
//! (`smtp://host:port` plain, `smtps://` TLS; user and password may be in the URL); otherwise
//! not sent, and the log says so without the body: a reset link in a log is a way into the
//! account for whoever reads the log.

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

/// Sends a message. Failing to send is logged, not returned: the page answers the same whether
/// or not an account exists, so it must not reveal delivery either.
pub async fn send(config: &Config, mail: Mail) {
    match &config.smtp_url {
        Some(url) => {
            if let Err(err) = send_smtp(url, &mail).await {
                tracing::error!(to = %mail.to, error = %err, "account email not sent");
            }
        }
        None => {
            tracing::warn!(to = %mail.to, subject = %mail.subject, "account email not sent: SMARTBOX_SMTP_URL is unset");
        }
    }
}

/// Sends a message for a job that retries until it goes out: an SMTP failure is returned.
/// Without `SMARTBOX_SMTP_URL` the message is logged as not sent (there is nothing to retry).
pub async fn deliver(config: &Config, mail: &Mail) -> anyhow::Result<()> {
    match &config.smtp_url {
        Some(url) => send_smtp(url, mail).await,
        None => {
            tracing::warn!(to = %mail.to, subject = %mail.subject, "staff email not sent: SMARTBOX_SMTP_URL is unset");
            Ok(())
        }
    }
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
