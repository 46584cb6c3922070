//! Delivery keys and outcomes shared by every channel, and the notification success rate over
//! delivery records.

use std::collections::HashMap;
use std::fmt;
use std::hash::Hash;

use serde::{Deserialize, Serialize};
use smartbox_domain::metrics::{NotificationOutcomes, Ratio, notification_success_rate};
use uuid::Uuid;

/// The key of one delivery: one notification to one channel destination.
///
/// The server stores it with the delivery record and passes the same key on every retry, so a
/// handler that finds the record delivered sends nothing, and peers that deduplicate (a push
/// service's `Topic`, a webhook receiver's `Idempotency-Key`, a mail store's `Message-ID`) see
/// one message however often the job runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct DeliveryId(Uuid);

impl DeliveryId {
    pub const fn from_uuid(id: Uuid) -> DeliveryId {
        DeliveryId(id)
    }

    /// A new time-ordered key (UUID v7), for a delivery record about to be created.
    pub fn generate() -> DeliveryId {
        DeliveryId(Uuid::now_v7())
    }

    pub const fn as_uuid(&self) -> Uuid {
        self.0
    }

    /// 32 lowercase hex digits: fits the 32-character, URL-safe limit of a push `Topic`.
    pub fn compact(&self) -> String {
        self.0.simple().to_string()
    }
}

impl fmt::Display for DeliveryId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.hyphenated().fmt(f)
    }
}

/// What one attempt to deliver produced.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum DeliveryOutcome {
    /// The peer accepted the message (SMTP 250 after DATA, HTTP 2xx, MQTT PUBACK).
    Delivered,
    /// The peer refused it or could not be reached. `retryable` is false when sending the same
    /// message again cannot succeed (SMTP 5xx, HTTP 4xx other than 408/429, a push subscription
    /// that is gone, a malformed destination); `reason` is for the delivery log.
    Failed { retryable: bool, reason: String },
}

impl DeliveryOutcome {
    pub fn retryable(reason: impl Into<String>) -> DeliveryOutcome {
        DeliveryOutcome::Failed {
            retryable: true,
            reason: reason.into(),
        }
    }

    pub fn permanent(reason: impl Into<String>) -> DeliveryOutcome {
        DeliveryOutcome::Failed {
            retryable: false,
            reason: reason.into(),
        }
    }

    pub fn is_delivered(&self) -> bool {
        matches!(self, DeliveryOutcome::Delivered)
    }

    /// Whether the job should be tried again later.
    pub fn should_retry(&self) -> bool {
        matches!(
            self,
            DeliveryOutcome::Failed {
                retryable: true,
                ..
            }
        )
    }
}

/// The channels a customer can enable; `as_str` is the value stored in delivery records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Channel {
    Email,
    Push,
    Webhook,
    HomeAssistant,
}

impl Channel {
    pub const ALL: [Channel; 4] = [
        Channel::Email,
        Channel::Push,
        Channel::Webhook,
        Channel::HomeAssistant,
    ];

    pub const fn as_str(self) -> &'static str {
        match self {
            Channel::Email => "email",
            Channel::Push => "push",
            Channel::Webhook => "webhook",
            Channel::HomeAssistant => "home_assistant",
        }
    }

    pub fn parse(input: &str) -> Option<Channel> {
        Channel::ALL.into_iter().find(|c| c.as_str() == input)
    }
}

/// Notification success (DESIGN §4) over delivery records given as `(notification, delivered)`:
/// a notification counts as attempted once however many channels it went to, and as delivered
/// when at least one of its records is. `None` when nothing was attempted.
pub fn success_rate<N: Eq + Hash>(records: impl IntoIterator<Item = (N, bool)>) -> Option<Ratio> {
    let mut any_delivered: HashMap<N, bool> = HashMap::new();
    for (notification, delivered) in records {
        *any_delivered.entry(notification).or_default() |= delivered;
    }
    let delivered = any_delivered.values().filter(|d| **d).count();
    notification_success_rate(NotificationOutcomes {
        attempted: any_delivered.len() as u64,
        delivered: delivered as u64,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_notification_counts_once_and_is_a_success_when_any_channel_delivered() {
        let records = [
            (1, false),
            (1, true),
            (2, false),
            (2, false),
            (3, true),
            (4, false),
        ];
        assert_eq!(success_rate(records), Ratio::new(2, 4));
    }

    #[test]
    fn no_records_has_no_rate() {
        assert_eq!(success_rate(Vec::<(u8, bool)>::new()), None);
    }

    #[test]
    fn the_compact_key_is_32_hex_digits_and_the_display_is_the_uuid() {
        let id = DeliveryId::from_uuid(Uuid::from_u128(0xabc));
        assert_eq!(id.compact(), "00000000000000000000000000000abc");
        assert_eq!(id.to_string(), "00000000-0000-0000-0000-000000000abc");
    }

    #[test]
    fn channels_round_trip_through_their_stored_name() {
        for channel in Channel::ALL {
            assert_eq!(Channel::parse(channel.as_str()), Some(channel));
        }
        assert_eq!(Channel::parse("sms"), None);
    }
}
