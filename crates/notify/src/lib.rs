//! Notification channels for the smart mailbox: what the server's job handlers call to tell a
//! customer that mail came.
//!
//! The crate knows nothing about the database or the job runner. A handler loads a
//! [`Notification`] (or a [`Summary`] of several), picks a [`DeliveryId`] that is stable across
//! retries of the same (notification, channel) pair, and calls one channel's sender:
//!
//! - [`email::EmailSender`]: SMTP through `lettre`, HTML + text with the thumbnail inline;
//! - [`push::PushSender`]: web push encrypted per RFC 8291 with VAPID (RFC 8292) authentication;
//! - [`webhook::WebhookSender`]: JSON POSTs signed like Stripe's webhooks;
//! - [`mqtt::HomeAssistant`]: MQTT discovery and state for Home Assistant.
//!
//! Every sender answers with a [`DeliveryOutcome`] (delivered, or failed and whether a retry can
//! help) instead of an error, so the handler records it and lets the runner back off.
//! [`quiet_hours`] decides whether to deliver now or hold, and merges what was held into one
//! message.

pub mod delivery;
pub mod dispatch;
pub mod email;
mod http;
pub mod message;
pub mod mqtt;
pub mod push;
pub mod quiet_hours;
pub mod targets;
#[cfg(feature = "testing")]
pub mod testing;
pub mod webhook;

pub use delivery::{Channel, DeliveryId, DeliveryOutcome, success_rate};
pub use dispatch::{Channels, Destination};
pub use http::HttpClientError;
pub use message::{EventKind, Notification, Outgoing, Summary, SummaryKind, Thumbnail};
