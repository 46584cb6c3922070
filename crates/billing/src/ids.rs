//! Identifiers the payment provider hands out: customers, payment methods, SetupIntents,
//! PaymentIntents and refunds.
//!
//! Each is an opaque string owned by the provider (`cus_...` at Stripe, `sbx_cus_...` in the
//! sandbox). They get distinct types so that a payment-method id can never be passed where a
//! customer id is expected; the provider, not this crate, decides what a valid id looks like.

use std::fmt;

use serde::{Deserialize, Serialize};

macro_rules! provider_id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            /// Wraps an id the provider returned earlier (read back from storage, a webhook...).
            pub fn new(id: impl Into<String>) -> Self {
                Self(id.into())
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

        impl From<$name> for String {
            fn from(id: $name) -> String {
                id.0
            }
        }
    };
}

provider_id!(
    /// A customer at the provider (`cus_...`).
    CustomerId
);
provider_id!(
    /// A saved payment method, here always a card (`pm_...`).
    PaymentMethodId
);
provider_id!(
    /// A SetupIntent, the provider's flow for saving a card for later off-session use (`seti_...`).
    SetupIntentId
);
provider_id!(
    /// A PaymentIntent, one charge of one amount (`pi_...`); its id is what reconciliation keys on.
    PaymentIntentId
);
provider_id!(
    /// A refund of (part of) a PaymentIntent (`re_...`).
    RefundId
);
