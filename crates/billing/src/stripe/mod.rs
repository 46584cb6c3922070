//! The Stripe provider: a thin typed client over `reqwest` for the handful of Stripe endpoints
//! billing uses (customers, SetupIntents, payment methods, off-session PaymentIntents, refunds).
//!
//! Why not async-stripe: it is at 1.0 release candidates and generates bindings for the whole
//! API, with reported compile times of minutes (DESIGN §10), while billing needs about ten
//! endpoints. Here each is one form-encoded request and one small `Deserialize` type (`wire`),
//! readable in one file, and the same code talks to localstripe in tests (`STRIPE_API_BASE`).
//!
//! Conventions: bearer auth with the secret key, form-encoded bodies, a pinned `Stripe-Version`
//! so that response shapes do not change under us, and `Idempotency-Key` on charges and refunds.
//! TLS is rustls with the `ring` provider (no aws-lc; DESIGN §10), installed here if the process
//! has not installed one.
//!
//! Reconciliation: Stripe replays the recorded answer when a request is repeated with the same
//! `Idempotency-Key` (for 24 h), so repeating `charge` is safe there. localstripe has no
//! idempotency keys, so [`PaymentProvider::find_charge`] does not rely on them: it lists the
//! customer's charges since the attempt and matches the `payment_attempt_id` metadata of their
//! PaymentIntents, which works against both.

mod wire;

use std::env;
use std::fmt;
use std::time::Duration;

use reqwest::Method;
use serde::de::DeserializeOwned;
use smartbox_domain::CardSummary;

use crate::ids::{CustomerId, PaymentIntentId, PaymentMethodId, SetupIntentId};
use crate::provider::{
    ApiError, CardDetails, ChargeLookup, ChargeOutcome, ChargeRecord, ChargeRequest,
    METADATA_INVOICE_ID, METADATA_PAYMENT_ATTEMPT_ID, NewCustomer, PaymentProvider, ProviderError,
    ProviderFuture, ProviderMode, Refund, RefundRequest, SetupIntent,
};
use wire::{
    Charge, Created, ErrorEnvelope, List, PaymentIntent, PaymentMethodObject, RefundObject,
    SetupIntentObject, StripeError,
};

/// Stripe's API, used when `STRIPE_API_BASE` is not set.
pub const DEFAULT_API_BASE: &str = "https://api.stripe.com";
/// The API version every request asks for.
pub const API_VERSION: &str = "2024-06-20";

/// Pages of 100 charges that `find_charge` reads at most (a customer has a few charges a month).
const MAX_LOOKUP_PAGES: usize = 20;

/// How to reach Stripe. The secret key never appears in `Debug` output.
#[derive(Clone)]
pub struct StripeConfig {
    secret_key: String,
    api_base: String,
    timeout: Duration,
    connect_timeout: Duration,
}

impl StripeConfig {
    /// Stripe at [`DEFAULT_API_BASE`] with this secret key, 30 s per request (10 s to connect).
    pub fn new(secret_key: impl Into<String>) -> StripeConfig {
        StripeConfig {
            secret_key: secret_key.into(),
            api_base: DEFAULT_API_BASE.to_owned(),
            timeout: Duration::from_secs(30),
            connect_timeout: Duration::from_secs(10),
        }
    }

    /// `STRIPE_SECRET_KEY` (and `STRIPE_API_BASE` if set), or `None` when no key is set, which
    /// means sandbox payments (DESIGN §3).
    pub fn from_env() -> Option<StripeConfig> {
        StripeConfig::from_lookup(|name| env::var(name).ok())
    }

    /// [`StripeConfig::from_env`] over any source of variables (a config file, a test's map).
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Option<StripeConfig> {
        let set = |name| lookup(name).filter(|value: &String| !value.trim().is_empty());
        let config = StripeConfig::new(set("STRIPE_SECRET_KEY")?.trim());
        Some(match set("STRIPE_API_BASE") {
            Some(base) => config.with_api_base(base.trim()),
            None => config,
        })
    }

    /// Another API base, e.g. localstripe's `http://127.0.0.1:8420`.
    pub fn with_api_base(mut self, api_base: &str) -> StripeConfig {
        self.api_base = api_base.trim_end_matches('/').to_owned();
        self
    }

    /// Another limit for a whole request; a charge that hits it has an unknown outcome.
    pub fn with_timeout(mut self, timeout: Duration) -> StripeConfig {
        self.timeout = timeout;
        self.connect_timeout = self.connect_timeout.min(timeout);
        self
    }

    /// Live keys (`sk_live_`, `rk_live_`) move real money; anything else is test mode.
    pub fn mode(&self) -> ProviderMode {
        if self.secret_key.starts_with("sk_live_") || self.secret_key.starts_with("rk_live_") {
            ProviderMode::StripeLive
        } else {
            ProviderMode::StripeTest
        }
    }
}

impl fmt::Debug for StripeConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StripeConfig")
            .field("secret_key", &"<redacted>")
            .field("api_base", &self.api_base)
            .field("timeout", &self.timeout)
            .finish()
    }
}

/// The Stripe payment provider.
#[derive(Debug, Clone)]
pub struct StripeProvider {
    http: reqwest::Client,
    config: StripeConfig,
}

/// A Stripe call that did not return the expected object.
#[derive(Debug)]
enum CallError {
    /// No HTTP answer (connection refused, reset, timed out).
    Transport(String),
    /// An HTTP error status with Stripe's error object (or a stand-in when the body was not one).
    Status(u16, StripeError),
    /// A success status whose body we could not read.
    Decode(String),
}

impl CallError {
    /// Stripe may or may not have acted: no answer, an unreadable answer, or 409 (the same
    /// idempotency key in flight), 429 or 5xx.
    fn outcome_unknown(&self) -> bool {
        match self {
            CallError::Transport(_) | CallError::Decode(_) => true,
            CallError::Status(status, _) => retry_later(*status),
        }
    }
}

fn retry_later(status: u16) -> bool {
    status == 409 || status == 429 || status >= 500
}

impl fmt::Display for CallError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CallError::Transport(message) | CallError::Decode(message) => f.write_str(message),
            CallError::Status(status, error) => {
                write!(f, "{}", error.clone().into_api_error(*status))
            }
        }
    }
}

impl From<CallError> for ProviderError {
    fn from(error: CallError) -> ProviderError {
        match error {
            CallError::Transport(message) => ProviderError::Unavailable(message),
            CallError::Decode(message) => ProviderError::InvalidResponse(message),
            CallError::Status(status, error) if retry_later(status) => {
                ProviderError::Unavailable(error.into_api_error(status).to_string())
            }
            CallError::Status(402, error) => ProviderError::CardDeclined(error.failure()),
            CallError::Status(status, error) => {
                ProviderError::Rejected(error.into_api_error(status))
            }
        }
    }
}

type Form = Vec<(String, String)>;

fn form<const N: usize>(pairs: [(&str, &str); N]) -> Form {
    pairs
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
}

impl StripeProvider {
    /// A client for `config`. Installs rustls' `ring` provider as the process default if none is
    /// installed yet.
    pub fn new(config: StripeConfig) -> Result<StripeProvider, ProviderError> {
        if rustls::crypto::CryptoProvider::get_default().is_none() {
            // An error means another thread installed a provider first, which is as good.
            let _ = rustls::crypto::ring::default_provider().install_default();
        }
        let http = reqwest::Client::builder()
            .timeout(config.timeout)
            .connect_timeout(config.connect_timeout)
            .user_agent(concat!("smartbox-billing/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| {
                ProviderError::Unavailable(format!("cannot build the HTTP client: {e}"))
            })?;
        Ok(StripeProvider { http, config })
    }

    async fn call<T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        query: &[(&str, String)],
        body: Option<&Form>,
        idempotency_key: Option<&str>,
    ) -> Result<T, CallError> {
        let url = format!("{}{path}", self.config.api_base);
        let mut request = self
            .http
            .request(method.clone(), &url)
            .bearer_auth(&self.config.secret_key)
            .header("Stripe-Version", API_VERSION);
        if !query.is_empty() {
            request = request.query(query);
        }
        if let Some(body) = body {
            request = request.form(body);
        }
        if let Some(key) = idempotency_key {
            request = request.header("Idempotency-Key", key);
        }
        let describe = |e: reqwest::Error| {
            let what = if e.is_timeout() {
                "timed out"
            } else {
                "failed"
            };
            CallError::Transport(format!("{method} {path} {what}: {e}"))
        };
        let response = request.send().await.map_err(describe)?;
        let status = response.status();
        let bytes = response.bytes().await.map_err(describe)?;
        if status.is_success() {
            return serde_json::from_slice(&bytes).map_err(|e| {
                CallError::Decode(format!(
                    "{method} {path} answered {status} with an unreadable body: {e}"
                ))
            });
        }
        let error = serde_json::from_slice::<ErrorEnvelope>(&bytes)
            .map(|envelope| envelope.error)
            .unwrap_or_else(|_| StripeError {
                message: Some(format!(
                    "{method} {path} answered {status}: {}",
                    String::from_utf8_lossy(&bytes[..bytes.len().min(200)])
                )),
                ..StripeError::default()
            });
        Err(CallError::Status(status.as_u16(), error))
    }

    async fn get<T: DeserializeOwned>(
        &self,
        path: &str,
        query: &[(&str, String)],
    ) -> Result<T, CallError> {
        self.call(Method::GET, path, query, None, None).await
    }

    async fn post<T: DeserializeOwned>(
        &self,
        path: &str,
        body: &Form,
        idempotency_key: Option<&str>,
    ) -> Result<T, CallError> {
        self.call(Method::POST, path, &[], Some(body), idempotency_key)
            .await
    }

    async fn charge_now(&self, request: &ChargeRequest) -> Result<ChargeOutcome, ProviderError> {
        let body: Form = vec![
            ("amount".into(), request.amount.get().to_string()),
            ("currency".into(), "usd".into()),
            ("customer".into(), request.customer.to_string()),
            ("payment_method".into(), request.payment_method.to_string()),
            ("confirm".into(), "true".into()),
            ("off_session".into(), "true".into()),
            (
                format!("metadata[{METADATA_INVOICE_ID}]"),
                request.invoice_id.clone(),
            ),
            (
                format!("metadata[{METADATA_PAYMENT_ATTEMPT_ID}]"),
                request.idempotency_key.clone(),
            ),
        ];
        let answer = self
            .post::<PaymentIntent>("/v1/payment_intents", &body, Some(&request.idempotency_key))
            .await;
        match answer {
            Ok(intent) => Ok(match intent.into_record() {
                Ok(record) => record.outcome(),
                Err(reason) => ChargeOutcome::Unknown {
                    intent_id: None,
                    reason,
                },
            }),
            Err(error) if error.outcome_unknown() => Ok(ChargeOutcome::Unknown {
                intent_id: None,
                reason: error.to_string(),
            }),
            Err(CallError::Status(402, error)) => {
                let intent_id = match (&error.payment_intent, &error.charge) {
                    (Some(intent), _) => Some(PaymentIntentId::new(intent.clone().into_id())),
                    // localstripe names only the charge; its intent is one request away.
                    (None, Some(charge)) => self.intent_of_charge(charge).await,
                    (None, None) => None,
                };
                Ok(ChargeOutcome::Failed {
                    intent_id,
                    failure: error.failure(),
                })
            }
            Err(error) => Err(error.into()),
        }
    }

    /// The PaymentIntent a charge belongs to; `None` if it cannot be learnt now (the decline is
    /// certain either way, the id only helps payment history).
    async fn intent_of_charge(&self, charge: &str) -> Option<PaymentIntentId> {
        let path = format!("/v1/charges/{}", path_segment(charge).ok()?);
        let charge: Charge = self.get(&path, &[]).await.ok()?;
        charge
            .payment_intent
            .map(|intent| PaymentIntentId::new(intent.into_id()))
    }

    async fn retrieve_now(&self, id: &PaymentIntentId) -> Result<ChargeRecord, ProviderError> {
        let path = format!("/v1/payment_intents/{}", path_segment(id.as_str())?);
        let intent: PaymentIntent = self.get(&path, &[]).await?;
        intent.into_record().map_err(ProviderError::InvalidResponse)
    }

    async fn find_now(&self, lookup: &ChargeLookup) -> Result<Option<ChargeRecord>, ProviderError> {
        let mut intents: Vec<PaymentIntentId> = Vec::new();
        let mut starting_after: Option<String> = None;
        for page in 0.. {
            if page == MAX_LOOKUP_PAGES {
                return Err(ProviderError::InvalidResponse(format!(
                    "customer {} has more than {} charges since {}",
                    lookup.customer,
                    MAX_LOOKUP_PAGES * 100,
                    lookup.created_since
                )));
            }
            let mut query = vec![
                ("customer", lookup.customer.to_string()),
                ("created[gt]", (lookup.created_since - 1).to_string()),
                ("limit", "100".to_owned()),
            ];
            if let Some(after) = &starting_after {
                query.push(("starting_after", after.clone()));
            }
            let list: List<Charge> = self.get("/v1/charges", &query).await?;
            starting_after = list.data.last().map(|charge| charge.id.clone());
            for charge in list.data {
                if let Some(intent) = charge.payment_intent {
                    let id = PaymentIntentId::new(intent.into_id());
                    if !intents.contains(&id) {
                        intents.push(id);
                    }
                }
            }
            if !list.has_more || starting_after.is_none() {
                break;
            }
        }
        let mut best: Option<ChargeRecord> = None;
        for id in &intents {
            let record = self.retrieve_now(id).await?;
            if record.payment_attempt_id.as_deref() != Some(lookup.idempotency_key.as_str()) {
                continue;
            }
            if best.as_ref().is_none_or(|b| settles_better(&record, b)) {
                best = Some(record);
            }
        }
        Ok(best)
    }

    async fn save_card_now(
        &self,
        customer: &CustomerId,
        card: &CardDetails,
    ) -> Result<PaymentMethodId, ProviderError> {
        let body: Form = vec![
            ("type".into(), "card".into()),
            ("card[number]".into(), card.digits()),
            ("card[exp_month]".into(), card.exp_month.to_string()),
            ("card[exp_year]".into(), card.exp_year.to_string()),
            ("card[cvc]".into(), card.cvc.clone()),
        ];
        let created: Created = self.post("/v1/payment_methods", &body, None).await?;
        let payment_method = PaymentMethodId::new(created.id);
        self.attach_now(&payment_method, customer).await?;
        Ok(payment_method)
    }

    async fn attach_now(
        &self,
        payment_method: &PaymentMethodId,
        customer: &CustomerId,
    ) -> Result<(), ProviderError> {
        let path = format!(
            "/v1/payment_methods/{}/attach",
            path_segment(payment_method.as_str())?
        );
        let _: Created = self
            .post(&path, &form([("customer", customer.as_str())]), None)
            .await?;
        Ok(())
    }
}

/// Succeeded beats anything; a pending intent beats a failed one (it may still succeed).
fn settles_better(candidate: &ChargeRecord, current: &ChargeRecord) -> bool {
    let rank = |record: &ChargeRecord| match record.outcome() {
        ChargeOutcome::Succeeded { .. } => 0,
        ChargeOutcome::Unknown { .. } => 1,
        ChargeOutcome::Failed { .. } => 2,
    };
    rank(candidate) < rank(current)
}

/// Ids go into URL paths: only Stripe's id alphabet is let through, so that an id from a webhook
/// or a database can never change the path.
fn path_segment(id: &str) -> Result<&str, ProviderError> {
    if !id.is_empty()
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
    {
        Ok(id)
    } else {
        Err(ProviderError::Rejected(ApiError {
            status: 400,
            kind: "invalid_request_error".into(),
            code: Some("resource_missing".into()),
            message: format!("{id:?} is not a Stripe id"),
            param: None,
        }))
    }
}

impl PaymentProvider for StripeProvider {
    fn mode(&self) -> ProviderMode {
        self.config.mode()
    }

    fn create_customer<'a>(&'a self, customer: &'a NewCustomer) -> ProviderFuture<'a, CustomerId> {
        Box::pin(async move {
            let mut body = form([("email", customer.email.as_str())]);
            body.extend(
                customer
                    .metadata
                    .iter()
                    .map(|(k, v)| (format!("metadata[{k}]"), v.clone())),
            );
            let created: Created = self.post("/v1/customers", &body, None).await?;
            Ok(CustomerId::new(created.id))
        })
    }

    fn create_setup_intent<'a>(
        &'a self,
        customer: &'a CustomerId,
    ) -> ProviderFuture<'a, SetupIntent> {
        Box::pin(async move {
            let body = form([
                ("customer", customer.as_str()),
                ("usage", "off_session"),
                ("payment_method_types[0]", "card"),
            ]);
            let intent: SetupIntentObject = self.post("/v1/setup_intents", &body, None).await?;
            intent
                .into_setup_intent()
                .map_err(ProviderError::InvalidResponse)
        })
    }

    fn retrieve_setup_intent<'a>(
        &'a self,
        id: &'a SetupIntentId,
    ) -> ProviderFuture<'a, SetupIntent> {
        Box::pin(async move {
            let path = format!("/v1/setup_intents/{}", path_segment(id.as_str())?);
            let intent: SetupIntentObject = self.get(&path, &[]).await?;
            intent
                .into_setup_intent()
                .map_err(ProviderError::InvalidResponse)
        })
    }

    /// Works against Stripe test mode and localstripe; live Stripe refuses raw card numbers.
    fn save_test_card<'a>(
        &'a self,
        customer: &'a CustomerId,
        card: &'a CardDetails,
    ) -> ProviderFuture<'a, PaymentMethodId> {
        Box::pin(self.save_card_now(customer, card))
    }

    fn attach_payment_method<'a>(
        &'a self,
        payment_method: &'a PaymentMethodId,
        customer: &'a CustomerId,
    ) -> ProviderFuture<'a, ()> {
        Box::pin(self.attach_now(payment_method, customer))
    }

    fn retrieve_card<'a>(
        &'a self,
        payment_method: &'a PaymentMethodId,
    ) -> ProviderFuture<'a, CardSummary> {
        Box::pin(async move {
            let path = format!(
                "/v1/payment_methods/{}",
                path_segment(payment_method.as_str())?
            );
            let object: PaymentMethodObject = self.get(&path, &[]).await?;
            object.into_card().map_err(ProviderError::InvalidResponse)
        })
    }

    fn detach_payment_method<'a>(
        &'a self,
        payment_method: &'a PaymentMethodId,
    ) -> ProviderFuture<'a, ()> {
        Box::pin(async move {
            let path = format!(
                "/v1/payment_methods/{}/detach",
                path_segment(payment_method.as_str())?
            );
            let _: Created = self.post(&path, &Form::new(), None).await?;
            Ok(())
        })
    }

    fn set_default_payment_method<'a>(
        &'a self,
        customer: &'a CustomerId,
        payment_method: &'a PaymentMethodId,
    ) -> ProviderFuture<'a, ()> {
        Box::pin(async move {
            let path = format!("/v1/customers/{}", path_segment(customer.as_str())?);
            let body = form([(
                "invoice_settings[default_payment_method]",
                payment_method.as_str(),
            )]);
            let _: Created = self.post(&path, &body, None).await?;
            Ok(())
        })
    }

    fn charge<'a>(&'a self, request: &'a ChargeRequest) -> ProviderFuture<'a, ChargeOutcome> {
        Box::pin(self.charge_now(request))
    }

    fn retrieve_charge<'a>(&'a self, id: &'a PaymentIntentId) -> ProviderFuture<'a, ChargeRecord> {
        Box::pin(self.retrieve_now(id))
    }

    fn find_charge<'a>(
        &'a self,
        lookup: &'a ChargeLookup,
    ) -> ProviderFuture<'a, Option<ChargeRecord>> {
        Box::pin(self.find_now(lookup))
    }

    fn refund<'a>(&'a self, request: &'a RefundRequest) -> ProviderFuture<'a, Refund> {
        Box::pin(async move {
            let mut body = form([("payment_intent", request.intent_id.as_str())]);
            if let Some(amount) = request.amount {
                body.push(("amount".into(), amount.get().to_string()));
            }
            let refund: RefundObject = self
                .post("/v1/refunds", &body, Some(&request.idempotency_key))
                .await?;
            refund
                .into_refund(request.intent_id.clone())
                .map_err(ProviderError::InvalidResponse)
        })
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn config_from(vars: &[(&str, &str)]) -> Option<StripeConfig> {
        let vars: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        StripeConfig::from_lookup(|name| vars.get(name).cloned())
    }

    #[test]
    fn no_or_blank_secret_key_means_sandbox_payments() {
        assert!(config_from(&[]).is_none());
        assert!(config_from(&[("STRIPE_SECRET_KEY", "  ")]).is_none());
        assert!(config_from(&[("STRIPE_API_BASE", "http://127.0.0.1:8420")]).is_none());
    }

    #[test]
    fn the_api_base_defaults_to_stripe_and_can_point_at_localstripe() {
        let stripe = config_from(&[("STRIPE_SECRET_KEY", "sk_test_1")]).expect("configured");
        assert_eq!(stripe.api_base, DEFAULT_API_BASE);
        assert_eq!(stripe.mode(), ProviderMode::StripeTest);
        let local = config_from(&[
            ("STRIPE_SECRET_KEY", "sk_test_1"),
            ("STRIPE_API_BASE", "http://127.0.0.1:8420/"),
        ])
        .expect("configured");
        assert_eq!(local.api_base, "http://127.0.0.1:8420");
    }

    #[test]
    fn ids_outside_stripes_alphabet_never_reach_a_url() {
        assert_eq!(path_segment("pi_3Abc-x").ok(), Some("pi_3Abc-x"));
        for bad in ["", "pi_1/refunds", "pi_1?expand=x", "pi_1#", "..", "pi 1"] {
            assert!(path_segment(bad).is_err(), "{bad:?}");
        }
    }
}
