//! Stripe webhooks: signature verification over the raw body (`signature`) and the typed event
//! envelope (`event`). Pure: no IO, no clock; the server's `POST /webhooks/stripe` handler
//! supplies the header, the body, the secret and `now`, and records event ids itself.

mod event;
mod signature;

pub use event::{EventData, EventKind, WebhookError, WebhookEvent};
pub use signature::{
    DEFAULT_TOLERANCE_S, SignatureError, sign_stripe_payload, verify_stripe_signature,
};
