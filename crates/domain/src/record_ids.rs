//! The ids of stored things: mailboxes, users, subscriptions, invoices, payment attempts, mail
//! events. Each is its own type so that a subscription id can never be passed where a device id
//! is expected; functions that take one say which in their signature.
//!
//! The values are opaque text (uuids made by the server, or by the device for a mail event). An
//! id that names nothing is not malformed, it is unknown: the store answers "not found", so
//! these types check nothing when made.

use std::fmt;

use serde::{Deserialize, Serialize};

macro_rules! record_id {
    ($( $(#[$doc:meta])* $name:ident ),+ $(,)?) => {$(
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            /// Wraps an id read from storage, a path or a payload.
            pub fn new(id: impl Into<String>) -> Self {
                $name(id.into())
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl From<String> for $name {
            fn from(id: String) -> Self {
                $name(id)
            }
        }

        impl From<&str> for $name {
            fn from(id: &str) -> Self {
                $name(id.to_owned())
            }
        }

        impl From<$name> for String {
            fn from(id: $name) -> String {
                id.0
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }
    )+};
}

record_id!(
    /// A mailbox (`devices.id`).
    DeviceId,
    /// A person with an account (`users.id`): a customer, or staff acting on customers' things.
    UserId,
    /// A subscription (`subscriptions.id`).
    SubscriptionId,
    /// An invoice (`invoices.id`).
    InvoiceId,
    /// A payment attempt (`payments.id`); also its idempotency key at the provider.
    PaymentId,
    /// A mail event, named by the device that saw it (`mail_events.id`).
    EventId,
    /// A support ticket (`tickets.id`).
    TicketId,
    /// A staged firmware rollout (`firmware_rollouts.id`).
    RolloutId,
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_their_text_on_the_wire_and_in_logs() {
        let id = DeviceId::new("0190-abc");
        assert_eq!(id.to_string(), "0190-abc");
        assert_eq!(
            serde_json::to_string(&id).ok().as_deref(),
            Some("\"0190-abc\"")
        );
        let back: Option<DeviceId> = serde_json::from_str("\"0190-abc\"").ok();
        assert_eq!(back, Some(id));
    }
}
