//! Billing: the subscription engine and the payment providers.
//!
//! - [`engine::BillingEngine`] (`engine`): the subscription rules of DESIGN §4 over the store —
//!   trials, renewals, invoices, charges, dunning, suspension, plan changes, webhook events.
//! - [`PaymentProvider`] (`provider`): the object-safe trait the billing engine and the server
//!   hold as `Arc<dyn PaymentProvider>`, with the request, outcome and error types whose meaning
//!   for money ("succeeded", "failed", "unknown: reconcile first") is defined there.
//! - [`SandboxProvider`] (`sandbox`): the deterministic in-memory default when no Stripe key is
//!   configured, behaving like Stripe's test cards.
//! - [`StripeProvider`] (`stripe`): a thin typed client over reqwest for the few Stripe endpoints
//!   used; `STRIPE_API_BASE` points it at localstripe in tests.
//! - `webhook`: Stripe webhook signature verification and the event envelope, pure functions.
//!
//! [`provider_from_env`] picks the provider as DESIGN §3 says: Stripe when `STRIPE_SECRET_KEY`
//! is set, the sandbox otherwise.

pub mod engine;
pub mod ids;
pub mod provider;
pub mod sandbox;
pub mod stripe;
pub mod webhook;

use std::sync::Arc;

pub use engine::{BillingEngine, BillingError, BillingJob};
pub use ids::{CustomerId, PaymentIntentId, PaymentMethodId, RefundId, SetupIntentId};
pub use provider::{
    ApiError, CardDetails, ChargeLookup, ChargeOutcome, ChargeRecord, ChargeRequest, IntentStatus,
    NewCustomer, PaymentFailure, PaymentProvider, ProviderError, ProviderFuture, ProviderMode,
    Refund, RefundRequest, RefundStatus, SetupIntent, SetupIntentStatus,
};
pub use sandbox::SandboxProvider;
pub use stripe::{StripeConfig, StripeProvider};

/// The provider for this configuration: Stripe when given its config, the sandbox otherwise.
pub fn provider_for(
    stripe: Option<StripeConfig>,
) -> Result<Arc<dyn PaymentProvider>, ProviderError> {
    Ok(match stripe {
        Some(config) => Arc::new(StripeProvider::new(config)?),
        None => Arc::new(SandboxProvider::new()),
    })
}

/// The provider the environment asks for (`STRIPE_SECRET_KEY`, `STRIPE_API_BASE`; DESIGN §3).
pub fn provider_from_env() -> Result<Arc<dyn PaymentProvider>, ProviderError> {
    provider_for(StripeConfig::from_env())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn without_stripe_config_payments_go_to_the_sandbox() {
        let provider = provider_for(None).expect("sandbox");
        assert_eq!(provider.mode(), ProviderMode::Sandbox);
    }

    #[test]
    fn with_stripe_config_payments_go_to_stripe() {
        let provider = provider_for(Some(StripeConfig::new("sk_live_1"))).expect("stripe");
        assert_eq!(provider.mode(), ProviderMode::StripeLive);
    }
}
