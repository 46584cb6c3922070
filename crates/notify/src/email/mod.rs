//! Email over SMTP (`SMARTBOX_SMTP_URL`): one message per delivery, HTML + text, thumbnails
//! inline. Plain `smtp://host:port` talks without TLS (a local relay); `smtp://…?tls=required`
//! uses STARTTLS and `smtps://` implicit TLS, both through rustls with the `ring` provider.

mod compose;
mod html;

use std::time::Duration;

use lettre::message::Mailbox;
use lettre::{Address, AsyncSmtpTransport, AsyncTransport, Tokio1Executor};
use smartbox_domain::Email;

pub use compose::{compose, compose_text};

use crate::delivery::{DeliveryId, DeliveryOutcome};
use crate::message::Outgoing;

/// The environment variable naming the SMTP server; unset means email is disabled.
pub const SMTP_URL_VAR: &str = "SMARTBOX_SMTP_URL";

/// How long one SMTP conversation may take.
const SMTP_TIMEOUT: Duration = Duration::from_secs(20);

/// A bad `SMARTBOX_SMTP_URL` or sender address.
#[derive(Debug, thiserror::Error)]
#[error("SMTP URL {url:?}: {source}")]
pub struct EmailConfigError {
    url: String,
    source: lettre::transport::smtp::Error,
}

/// Sends notification emails through one SMTP server.
#[derive(Clone)]
pub struct EmailSender {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
}

impl std::fmt::Debug for EmailSender {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EmailSender")
            .field("from", &self.from)
            .finish_non_exhaustive()
    }
}

impl EmailSender {
    /// A sender for `smtp_url` (see the module doc for the schemes) writing as `from`.
    pub fn new(smtp_url: &str, from: Mailbox) -> Result<EmailSender, EmailConfigError> {
        if rustls::crypto::CryptoProvider::get_default().is_none() {
            // An error means another thread installed a provider first, which is as good.
            let _ = rustls::crypto::ring::default_provider().install_default();
        }
        let transport = AsyncSmtpTransport::<Tokio1Executor>::from_url(smtp_url)
            .map_err(|source| EmailConfigError {
                url: smtp_url.to_owned(),
                source,
            })?
            .timeout(Some(SMTP_TIMEOUT))
            .build();
        Ok(EmailSender { transport, from })
    }

    /// The sender configured by `SMARTBOX_SMTP_URL`, or `None` when it is unset or empty.
    pub fn from_env(from: Mailbox) -> Result<Option<EmailSender>, EmailConfigError> {
        match std::env::var(SMTP_URL_VAR) {
            Ok(url) if !url.trim().is_empty() => EmailSender::new(url.trim(), from).map(Some),
            _ => Ok(None),
        }
    }

    pub fn from_address(&self) -> &Mailbox {
        &self.from
    }

    /// Sends `outgoing` to `to`. A 5xx answer from the server (or an address it cannot take) is a
    /// permanent failure; a 4xx answer, a timeout or a lost connection is worth retrying.
    pub async fn send(&self, to: &Email, key: DeliveryId, outgoing: &Outgoing) -> DeliveryOutcome {
        self.deliver(to, |to| compose(&self.from, &to, key, outgoing))
            .await
    }

    /// Sends a plain-text message (support tickets' news) to `to` under `key`, the Message-ID a
    /// retried job keeps; failures as [`EmailSender::send`].
    pub async fn send_text(
        &self,
        to: &Email,
        key: DeliveryId,
        subject: &str,
        body: &str,
    ) -> DeliveryOutcome {
        self.deliver(to, |to| compose_text(&self.from, &to, key, subject, body))
            .await
    }

    async fn deliver(
        &self,
        to: &Email,
        build: impl FnOnce(Mailbox) -> Result<lettre::Message, lettre::error::Error>,
    ) -> DeliveryOutcome {
        let address: Address = match to.as_str().parse() {
            Ok(address) => address,
            Err(e) => {
                return DeliveryOutcome::permanent(format!(
                    "{:?} is not a deliverable address: {e}",
                    to.as_str()
                ));
            }
        };
        let message = match build(Mailbox::new(None, address)) {
            Ok(message) => message,
            Err(e) => return DeliveryOutcome::permanent(format!("cannot build the email: {e}")),
        };
        match self.transport.send(message).await {
            Ok(_) => DeliveryOutcome::Delivered,
            Err(e) if e.is_permanent() => {
                DeliveryOutcome::permanent(format!("SMTP server refused the email: {e}"))
            }
            Err(e) => DeliveryOutcome::retryable(format!("SMTP: {e}")),
        }
    }
}
