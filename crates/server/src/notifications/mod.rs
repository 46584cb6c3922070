//! Telling customers that mail came (issue 7), as durable jobs over the `smartbox-notify` channels.
//!
//! The flow, each step a job (DESIGN §7) and each idempotent:
//! 1. `event_completed` (enqueued with the event's last photo) enqueues one `notify_event`.
//! 2. `notify_event` ([`fan_out`]) reads the event, its mailbox, the owner and their choices, and
//!    records one delivery per destination: the owner's address when email is on for the mailbox
//!    (the default), each browser the owner subscribed to web push (on by default), the
//!    customer's webhook when they set one, the mailbox's Home Assistant
//!    entities when `SMARTBOX_MQTT_URL` is set. Each record gets one `notify_delivery` job — or,
//!    during the customer's quiet hours, is held and one `notify_release` job per destination is
//!    queued for the end of the quiet hours.
//! 3. `notify_delivery` ([`deliver`]) sends one record's message under the record's id (the
//!    delivery key the peers see), unless the record is already settled; a retryable failure
//!    retries the job with the runner's backoff. `notify_release` sends everything held for one
//!    destination as one message.
//!
//! Customers who ask for it get a morning digest email ([`digest`]).
//!
//! Home Assistant's battery and signal sensors follow heartbeats through a recurring job
//! ([`home_assistant`]).
//!
//! Usage: the notification counts in the plan's usage when the device API accepts the event
//! (POST /events, in the event's transaction, where the spend cap is enforced), so nothing here
//! counts it again — one count per event whatever the number of channels or retries.

pub mod deliver;
pub mod digest;
pub mod fan_out;
pub mod home_assistant;
pub mod message;
pub mod push;
pub mod ticket_mail;
pub mod webhooks;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use smartbox_notify::Channels;
use smartbox_notify::email::EmailSender;
use smartbox_notify::mqtt::HomeAssistant;
use smartbox_notify::targets::Targets;
use smartbox_notify::webhook::WebhookSender;

use crate::config::Config;

/// A sent message's outcome as its job's: a retryable failure retries the job with the
/// runner's backoff, a permanent one fails it.
pub(crate) fn job_result(
    outcome: smartbox_notify::DeliveryOutcome,
) -> Result<(), crate::jobs::JobError> {
    use crate::jobs::JobError;
    use smartbox_notify::DeliveryOutcome;
    match outcome {
        DeliveryOutcome::Delivered => Ok(()),
        DeliveryOutcome::Failed {
            retryable: true,
            reason,
        } => Err(JobError::retry(anyhow::anyhow!(reason))),
        DeliveryOutcome::Failed { reason, .. } => Err(JobError::permanent(anyhow::anyhow!(reason))),
    }
}

/// The notification channels, and whether each is on before the customer chooses.
pub const CHANNELS: &[(&str, &str, bool)] = &[
    ("email", "Email", true),
    ("push", "Push notification", true),
];

/// Sends one delivery record's message. Payload `{"delivery_id": ...}`.
pub const NOTIFY_DELIVERY: &str = "notify_delivery";
/// Sends what quiet hours held for one destination as one message. Payload
/// `{"user_id", "channel", "destination", "from", "until"}` (instants in epoch ms).
pub const NOTIFY_RELEASE: &str = "notify_release";

/// Attempts of a delivery before its record is failed: retries over about 40 minutes.
pub const DELIVERY_ATTEMPTS: i64 = 9;

/// How long an MQTT broker may take to acknowledge.
const MQTT_TIMEOUT: Duration = Duration::from_secs(10);

type ChannelsKey = (Option<String>, Option<String>, Targets);

/// Senders by configuration: building them (TLS roots for reqwest, the SMTP transport) costs
/// milliseconds, so each configuration builds them once per process.
static BUILT: Mutex<Vec<(ChannelsKey, Arc<Channels>)>> = Mutex::new(Vec::new());

/// The channels this configuration enables: email with `SMARTBOX_SMTP_URL`, Home Assistant with
/// `SMARTBOX_MQTT_URL`, webhooks always. Web push's sender depends on the database's VAPID keys,
/// not on the configuration: see [`push::sender`].
pub fn channels(config: &Config) -> anyhow::Result<Arc<Channels>> {
    let key = (
        config.smtp_url.clone(),
        config.mqtt_url.clone(),
        targets(config),
    );
    let mut built = BUILT
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    if let Some((_, channels)) = built.iter().find(|(k, _)| *k == key) {
        return Ok(Arc::clone(channels));
    }
    let email = match &config.smtp_url {
        Some(url) => Some(EmailSender::new(url, crate::accounts::mail::FROM.parse()?)?),
        None => None,
    };
    let home_assistant = match &config.mqtt_url {
        Some(url) => Some(HomeAssistant::new(url, MQTT_TIMEOUT)?),
        None => None,
    };
    let channels = Arc::new(Channels {
        email,
        push: None,
        webhook: Some(WebhookSender::to(
            targets(config),
            smartbox_notify::webhook::DEFAULT_TIMEOUT,
        )?),
        home_assistant,
    });
    built.push((key, Arc::clone(&channels)));
    Ok(channels)
}

/// Where customers' webhooks and push endpoints may point: public addresses only, unless
/// `SMARTBOX_ALLOW_PRIVATE_WEBHOOKS=true`.
pub fn targets(config: &Config) -> Targets {
    if config.allow_private_webhooks {
        Targets::Any
    } else {
        Targets::PublicOnly
    }
}
