//! The one error of every service. Each adapter words it its own way (the JSON API as its error
//! body in `customer_api`, the pages as an error page in `web::error`), so services never import
//! their adapters.

use smartbox_billing::BillingError;
use smartbox_store::StoreError;

/// Why a service refused or failed.
#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    /// No such thing, or not the actor's (the same answer, so ids of others reveal nothing).
    #[error("no {what} {id}")]
    NotFound { what: &'static str, id: String },
    /// A value the caller sent is refused; `code` names the kind, `message` says what is wrong.
    #[error("{message}")]
    Invalid { code: &'static str, message: String },
    /// The actor's role may not take this action (support asking for an admin's action).
    #[error("{0}")]
    Forbidden(String),
    /// The action does not apply in the current state; the message is for the customer.
    #[error("{0}")]
    Conflict(String),
    /// The billing engine refused or failed; each adapter words it as it always has.
    #[error(transparent)]
    Billing(#[from] BillingError),
    /// Too many requests are being served (password hashing slots); try again shortly.
    #[error("the server is busy; try again in a moment")]
    Busy,
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

impl ServiceError {
    pub(crate) fn not_found(what: &'static str, id: impl Into<String>) -> ServiceError {
        ServiceError::NotFound {
            what,
            id: id.into(),
        }
    }
}
