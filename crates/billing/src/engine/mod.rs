//! The billing engine: the subscription rules of DESIGN §4 run against the store and a payment
//! provider. It ends trials, renews periods on the anchor, invoices (plan price in advance plus
//! the ended period's capped overage in arrears), charges off-session, runs dunning (retries at
//! +24 h and +48 h, suspension at +72 h), resumes on payment, changes plans (upgrades at once with
//! a prorated invoice, downgrades and cancels at period end), ends the subscription of a returned
//! mailbox, applies Stripe webhook events, and writes every state change to the audit log with
//! its cause.
//!
//! How it stays correct when jobs run twice, processes race and answers get lost:
//! - **Read, decide, write with guards.** Each operation reads a snapshot, decides with the pure
//!   domain rules (`decide`), and writes one `Changes` set that the store applies only if the
//!   snapshot still holds (subscription version, invoice and payment statuses, uniqueness). A stale
//!   decision is recomputed, never half-written.
//! - **The attempt before the charge.** A payment attempt is committed as `pending` before the
//!   provider is called; its id is the idempotency key and sits in the PaymentIntent's metadata.
//!   The database allows one attempt in flight per invoice and one success per invoice.
//! - **Reconcile before charging again.** An attempt whose outcome is unknown (timeout, crash) is
//!   looked up at the provider before the invoice is charged again (`collect`).
//!
//! Time is always passed in (`now`); the engine never reads a clock. Jobs the engine needs later
//! (retries, grace expiry, collecting after a card change) are enqueued in the same transaction
//! as the decision that needs them; their kinds and payloads are [`BillingJob`].

mod audit;
mod collect;
mod decide;
mod html;
mod jobs;
mod lines;
mod pass;
mod payment_methods;
mod plan_change;
mod queries;
mod returns;
mod runner;
mod snapshot;
mod staff;
mod webhooks;

use std::sync::Arc;

use smartbox_store::{Backend, Db, StoreError};
use thiserror::Error;

use crate::provider::{PaymentProvider, ProviderError, ProviderMode};

pub use collect::ChargeResult;
pub use html::render_invoice_html;
pub use jobs::BillingJob;
pub use pass::PassReport;
pub use payment_methods::CardAttached;
pub use plan_change::{PlanChangePreview, PlanChangeResult};
pub use queries::InvoiceView;
pub use returns::{DeviceReturned, ReturnCause};
pub use runner::JobReport;
pub use staff::{Credited, EndedNow, StaffCause};
pub use webhooks::WebhookOutcome;

/// Tuning of the engine; [`EngineConfig::for_backend`] suits production.
#[derive(Debug, Clone)]
pub struct EngineConfig {
    /// Subscriptions renewed per database transaction in a billing pass.
    pub batch_size: usize,
    /// Batches a billing pass writes at once (each on its own connection).
    pub parallel_batches: usize,
    /// Charges sent to the provider at once during a billing pass.
    pub charge_concurrency: usize,
    /// How long an attempt may stay `pending` before it is presumed lost and reconciled: longer
    /// than the provider's request timeout, so a charge still in flight is never taken for lost.
    pub in_flight_grace: time::Duration,
}

impl EngineConfig {
    /// The defaults for a backend: SQLite has one writer at a time, so one batch at once; a
    /// PostgreSQL server works on several.
    pub fn for_backend(backend: Backend) -> EngineConfig {
        EngineConfig {
            batch_size: 500,
            parallel_batches: match backend {
                Backend::Sqlite => 1,
                Backend::Postgres => 3,
            },
            charge_concurrency: 16,
            in_flight_grace: time::Duration::minutes(2),
        }
    }
}

/// The billing engine. Cheap to clone: a database handle and a provider handle.
#[derive(Debug, Clone)]
pub struct BillingEngine {
    db: Db,
    provider: Arc<dyn PaymentProvider>,
    config: EngineConfig,
}

/// Why a billing operation failed.
#[derive(Debug, Error)]
pub enum BillingError {
    /// The subscription, invoice or customer does not exist (or is not the caller's).
    #[error("{0} not found")]
    NotFound(&'static str),
    /// The operation does not apply in the current state (e.g. an upgrade while invoices are
    /// unpaid); the message says why, for the customer.
    #[error("{0}")]
    Conflict(String),
    /// The card or a request was refused by the payment provider.
    #[error(transparent)]
    Provider(#[from] ProviderError),
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Stored values that do not make sense (an unknown plan or status).
    #[error("inconsistent billing data: {0}")]
    Corrupt(String),
    /// Kept losing races against concurrent writers; try again.
    #[error("billing data kept changing while {0}; try again")]
    Contended(&'static str),
}

/// How many times an operation re-reads and re-decides after a stale write before giving up.
const MAX_ROUNDS: usize = 8;

impl BillingEngine {
    pub fn new(db: Db, provider: Arc<dyn PaymentProvider>) -> BillingEngine {
        let config = EngineConfig::for_backend(db.backend());
        BillingEngine::with_config(db, provider, config)
    }

    pub fn with_config(
        db: Db,
        provider: Arc<dyn PaymentProvider>,
        config: EngineConfig,
    ) -> BillingEngine {
        BillingEngine {
            db,
            provider,
            config,
        }
    }

    pub fn db(&self) -> &Db {
        &self.db
    }

    pub fn provider(&self) -> &Arc<dyn PaymentProvider> {
        &self.provider
    }

    /// The provider's name as stored on payment attempts.
    fn provider_name(&self) -> &'static str {
        match self.provider.mode() {
            ProviderMode::Sandbox => "sandbox",
            ProviderMode::StripeTest | ProviderMode::StripeLive => "stripe",
        }
    }
}

/// Epoch milliseconds (the store's time columns) to and from instants.
pub(crate) use smartbox_domain::epoch::{from_unix_ms as from_ms, unix_ms as to_ms};

/// A fresh id for an invoice, attempt or job.
pub(crate) fn new_id() -> String {
    uuid::Uuid::now_v7().to_string()
}

/// The ids the engine hands its decisions: fresh time-ordered uuids.
#[derive(Debug, Clone, Copy)]
pub(crate) struct FreshIds;

impl decide::NewIds for FreshIds {
    fn next_id(&self) -> String {
        new_id()
    }
}
