//! One entry point for the server's delivery job: a [`Destination`] (one enabled channel of one
//! customer) and the configured [`Channels`] turn a delivery into one [`DeliveryOutcome`].

use smartbox_domain::Email;
use time::OffsetDateTime;

use crate::delivery::{Channel, DeliveryId, DeliveryOutcome};
use crate::email::EmailSender;
use crate::message::Outgoing;
use crate::mqtt::{self, HomeAssistant, Mailbox};
use crate::push::{PushSender, PushSubscription};
use crate::webhook::{WebhookEndpoint, WebhookSender};

/// Where one delivery goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Destination {
    Email(Email),
    Push(PushSubscription),
    Webhook(WebhookEndpoint),
    /// The mailbox's entities on the operator's broker (`SMARTBOX_MQTT_URL`).
    HomeAssistant(Mailbox),
}

impl Destination {
    pub fn channel(&self) -> Channel {
        match self {
            Destination::Email(_) => Channel::Email,
            Destination::Push(_) => Channel::Push,
            Destination::Webhook(_) => Channel::Webhook,
            Destination::HomeAssistant(_) => Channel::HomeAssistant,
        }
    }
}

/// The senders this server has; a channel without one is disabled (its variable unset).
#[derive(Debug, Clone)]
pub struct Channels {
    pub email: Option<EmailSender>,
    pub push: Option<PushSender>,
    pub webhook: Option<WebhookSender>,
    pub home_assistant: Option<HomeAssistant>,
}

impl Channels {
    /// Delivers `outgoing` to `destination` under `key`. A disabled channel is a permanent
    /// failure (configuration, not the peer, has to change).
    ///
    /// Home Assistant gets its discovery config and the mailbox's state after the event (for a
    /// summary, after its latest event), both retained, so repeating a delivery changes nothing.
    pub async fn deliver(
        &self,
        destination: &Destination,
        key: DeliveryId,
        outgoing: &Outgoing,
        now: OffsetDateTime,
    ) -> DeliveryOutcome {
        let disabled = |what: &str| DeliveryOutcome::permanent(format!("{what} is not configured"));
        match destination {
            Destination::Email(to) => match &self.email {
                Some(sender) => sender.send(to, key, outgoing).await,
                None => disabled("email (SMARTBOX_SMTP_URL)"),
            },
            Destination::Push(subscription) => match &self.push {
                Some(sender) => sender.send(subscription, key, outgoing, now).await,
                None => disabled("web push (VAPID keys)"),
            },
            Destination::Webhook(endpoint) => match &self.webhook {
                Some(sender) => sender.send(endpoint, key, outgoing, now).await,
                None => disabled("webhooks"),
            },
            Destination::HomeAssistant(mailbox) => match &self.home_assistant {
                Some(broker) => {
                    let latest = match outgoing {
                        Outgoing::Event(n) => Some(n),
                        Outgoing::Summary(s) => s.items.iter().max_by_key(|n| n.occurred_at),
                    };
                    let mut messages = mqtt::discovery(mailbox);
                    messages.extend(latest.map(|n| mqtt::mail_state(key, n)).unwrap_or_default());
                    broker.publish(&messages).await
                }
                None => disabled("Home Assistant (SMARTBOX_MQTT_URL)"),
            },
        }
    }
}
