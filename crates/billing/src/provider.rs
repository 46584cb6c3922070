//! The payment-provider boundary: the `PaymentProvider` trait the billing engine and the server
//! hold as `Arc<dyn PaymentProvider>`, and the requests, records and errors that cross it.
//!
//! The types follow Stripe's model (customers, payment methods, SetupIntents, PaymentIntents,
//! refunds) because Stripe is the real provider; the sandbox imitates the same model in memory.
//!
//! What a charge result means for money is spelled out here once, because "never charge twice,
//! never lose a payment" depends on reading it right:
//! - `Ok(ChargeOutcome::Succeeded)`: the money moved.
//! - `Ok(ChargeOutcome::Failed)`: the provider decided and no money moved.
//! - `Ok(ChargeOutcome::Unknown)`: we do not know (timeout, network error, provider error 5xx,
//!   a PaymentIntent still processing). The caller must reconcile ([`PaymentProvider::find_charge`]
//!   or [`PaymentProvider::retrieve_charge`]) before charging the invoice again.
//! - `Err(ProviderError)`: the provider refused the request itself (bad parameters, unknown
//!   payment method, wrong key): nothing was charged.

use std::collections::BTreeMap;
use std::fmt;
use std::future::Future;
use std::pin::Pin;

use smartbox_domain::ids::Email;
use smartbox_domain::{CardSummary, Cents};
use thiserror::Error;

use crate::ids::{CustomerId, PaymentIntentId, PaymentMethodId, RefundId, SetupIntentId};

/// The future every provider method returns: boxed so that the trait stays object-safe and can be
/// held as `Arc<dyn PaymentProvider>`.
pub type ProviderFuture<'a, T> =
    Pin<Box<dyn Future<Output = Result<T, ProviderError>> + Send + 'a>>;

/// Metadata key carrying our invoice id on every PaymentIntent.
pub const METADATA_INVOICE_ID: &str = "invoice_id";
/// Metadata key carrying our payment attempt id (also the idempotency key) on every PaymentIntent;
/// [`PaymentProvider::find_charge`] matches on it.
pub const METADATA_PAYMENT_ATTEMPT_ID: &str = "payment_attempt_id";

/// Smallest amount Stripe charges in USD (`amount_too_small` below it); the sandbox enforces it too
/// so that the engine meets the limit before it meets real Stripe.
pub const MINIMUM_CHARGE: Cents = Cents::new(50);

/// Where payments really go, so that pages can label a sandbox as such.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProviderMode {
    /// The embedded sandbox: no money ever moves.
    Sandbox,
    /// Stripe with a test key (`sk_test_...`), or a Stripe fake such as localstripe.
    StripeTest,
    /// Stripe with a live key: real money.
    StripeLive,
}

impl ProviderMode {
    /// A short label for banners and logs.
    pub fn label(self) -> &'static str {
        match self {
            ProviderMode::Sandbox => "sandbox payments (no real money)",
            ProviderMode::StripeTest => "Stripe test mode (no real money)",
            ProviderMode::StripeLive => "Stripe live",
        }
    }

    /// True unless real money moves.
    pub fn is_test(self) -> bool {
        self != ProviderMode::StripeLive
    }
}

/// A customer to create at the provider.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewCustomer {
    pub email: Email,
    /// Our own references (e.g. `user_id`), stored on the provider's customer.
    pub metadata: BTreeMap<String, String>,
}

/// Raw card details, for saving a *test* card: the sandbox, Stripe test mode and localstripe
/// accept them. Real cards never reach our server; they go from Stripe.js to Stripe through a
/// SetupIntent ([`PaymentProvider::create_setup_intent`]).
#[derive(Clone, PartialEq, Eq)]
pub struct CardDetails {
    /// Digits, spaces or dashes allowed ("4242 4242 4242 4242").
    pub number: String,
    pub exp_month: u8,
    pub exp_year: u16,
    pub cvc: String,
}

impl CardDetails {
    /// Whether the card expired before the month of `now` (a two-digit year counts from 2000),
    /// which Stripe refuses with `expired_card`.
    pub fn expired_at(&self, now: time::OffsetDateTime) -> bool {
        let year = if self.exp_year < 100 {
            self.exp_year + 2000
        } else {
            self.exp_year
        };
        (i32::from(year), self.exp_month) < (now.year(), u8::from(now.month()))
    }

    /// A test card with a far-away expiry and CVC 123, as Stripe's docs suggest for test numbers.
    pub fn test(number: &str) -> CardDetails {
        CardDetails {
            number: number.to_owned(),
            exp_month: 12,
            exp_year: 2034,
            cvc: "123".to_owned(),
        }
    }

    /// The number without spaces or dashes.
    pub fn digits(&self) -> String {
        self.number
            .chars()
            .filter(|c| !matches!(c, ' ' | '-'))
            .collect()
    }

    /// The last four digits, the only part of a number that may be shown or logged.
    pub fn last4(&self) -> String {
        let digits = self.digits();
        digits[digits.len().saturating_sub(4)..].to_owned()
    }
}

/// Only the last four digits: a card number must not end up in logs.
impl fmt::Debug for CardDetails {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CardDetails")
            .field("last4", &self.last4())
            .field("exp_month", &self.exp_month)
            .field("exp_year", &self.exp_year)
            .finish_non_exhaustive()
    }
}

/// Where a SetupIntent stands (Stripe's `status`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SetupIntentStatus {
    RequiresPaymentMethod,
    RequiresConfirmation,
    RequiresAction,
    Processing,
    Canceled,
    Succeeded,
}

/// A SetupIntent: the browser confirms it with `client_secret` (Stripe.js); once `Succeeded` its
/// `payment_method` is saved on the customer for off-session charges.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SetupIntent {
    pub id: SetupIntentId,
    pub client_secret: String,
    pub status: SetupIntentStatus,
    pub customer: Option<CustomerId>,
    pub payment_method: Option<PaymentMethodId>,
}

/// One off-session charge of a saved card, in US cents.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChargeRequest {
    pub customer: CustomerId,
    pub payment_method: PaymentMethodId,
    pub amount: Cents,
    /// Our payment attempt id, recorded before the provider is called. Sent as the
    /// `Idempotency-Key` and as metadata `payment_attempt_id`: the same key never charges twice.
    pub idempotency_key: String,
    /// Our invoice id, sent as metadata `invoice_id`.
    pub invoice_id: String,
}

/// Why a charge or a card was refused, as the provider says it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PaymentFailure {
    /// Stripe's error `code`: `card_declined`, `expired_card`, `incorrect_number`,
    /// `authentication_required`...
    pub code: String,
    /// For `card_declined`, the issuer's reason: `insufficient_funds`, `generic_decline`, ...
    pub decline_code: Option<String>,
    /// A message fit to show the customer ("Your card has insufficient funds.").
    pub message: String,
}

impl PaymentFailure {
    /// The most precise reason: the decline code when there is one, else the code.
    pub fn reason(&self) -> &str {
        self.decline_code.as_deref().unwrap_or(&self.code)
    }
}

impl fmt::Display for PaymentFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.message, self.reason())
    }
}

/// What became of a charge; see the module documentation for what each case means for money.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChargeOutcome {
    Succeeded {
        intent_id: PaymentIntentId,
    },
    Failed {
        /// The PaymentIntent, when the provider created one before refusing.
        intent_id: Option<PaymentIntentId>,
        failure: PaymentFailure,
    },
    /// Reconcile before charging again.
    Unknown {
        /// Known when the provider answered but the intent has not settled (`processing`).
        intent_id: Option<PaymentIntentId>,
        reason: String,
    },
}

impl ChargeOutcome {
    /// The PaymentIntent id, whenever the provider told us one.
    pub fn intent_id(&self) -> Option<&PaymentIntentId> {
        match self {
            ChargeOutcome::Succeeded { intent_id } => Some(intent_id),
            ChargeOutcome::Failed { intent_id, .. } | ChargeOutcome::Unknown { intent_id, .. } => {
                intent_id.as_ref()
            }
        }
    }
}

/// Where a PaymentIntent stands (Stripe's `status`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IntentStatus {
    /// Created without a usable card, or its last attempt failed (see `last_failure`).
    RequiresPaymentMethod,
    RequiresConfirmation,
    /// Needs the customer (3-D Secure): an off-session charge cannot finish.
    RequiresAction,
    Processing,
    RequiresCapture,
    Canceled,
    Succeeded,
}

/// A PaymentIntent as the provider reports it now; what reconciliation reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChargeRecord {
    pub intent_id: PaymentIntentId,
    pub status: IntentStatus,
    pub amount: Cents,
    pub customer: Option<CustomerId>,
    pub payment_method: Option<PaymentMethodId>,
    /// Metadata `invoice_id`.
    pub invoice_id: Option<String>,
    /// Metadata `payment_attempt_id` (our idempotency key).
    pub payment_attempt_id: Option<String>,
    /// Why the last attempt failed, if it did.
    pub last_failure: Option<PaymentFailure>,
}

impl ChargeRecord {
    /// The charge outcome this state amounts to, so that reconciliation and the first answer are
    /// handled by the same code.
    pub fn outcome(&self) -> ChargeOutcome {
        let intent_id = Some(self.intent_id.clone());
        let failed = |code: &str, message: &str| ChargeOutcome::Failed {
            intent_id: intent_id.clone(),
            failure: self.last_failure.clone().unwrap_or_else(|| PaymentFailure {
                code: code.to_owned(),
                decline_code: None,
                message: message.to_owned(),
            }),
        };
        match self.status {
            IntentStatus::Succeeded => ChargeOutcome::Succeeded {
                intent_id: self.intent_id.clone(),
            },
            IntentStatus::RequiresPaymentMethod => {
                failed("payment_failed", "The payment could not be completed.")
            }
            IntentStatus::RequiresAction => failed(
                "authentication_required",
                "The card needs the customer to authenticate this payment.",
            ),
            IntentStatus::Canceled => failed("canceled", "The payment was canceled."),
            IntentStatus::Processing
            | IntentStatus::RequiresConfirmation
            | IntentStatus::RequiresCapture => ChargeOutcome::Unknown {
                intent_id,
                reason: format!("the payment is not settled yet ({:?})", self.status),
            },
        }
    }
}

/// What we know of an attempt whose outcome was lost (timeout, crash after "charge requested").
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChargeLookup {
    pub customer: CustomerId,
    /// The attempt's idempotency key, found in the PaymentIntent's metadata.
    pub idempotency_key: String,
    /// Unix seconds no later than the attempt was sent (its recorded time minus clock skew): only
    /// charges created since then are searched.
    pub created_since: i64,
}

/// A refund of a succeeded PaymentIntent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefundRequest {
    pub intent_id: PaymentIntentId,
    /// `None` refunds whatever has not been refunded yet.
    pub amount: Option<Cents>,
    /// Sent as `Idempotency-Key`: the same key never refunds twice.
    pub idempotency_key: String,
}

/// Where a refund stands (Stripe's `status`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RefundStatus {
    Pending,
    RequiresAction,
    Succeeded,
    Failed,
    Canceled,
}

/// A refund as the provider recorded it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refund {
    pub id: RefundId,
    pub intent_id: PaymentIntentId,
    pub amount: Cents,
    pub status: RefundStatus,
}

/// An error body from the provider's API (Stripe's `{"error": {...}}`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    /// HTTP status (the sandbox uses the status Stripe would).
    pub status: u16,
    /// Stripe's error `type`: `invalid_request_error`, `card_error`, `idempotency_error`, ...
    pub kind: String,
    pub code: Option<String>,
    pub message: String,
    /// The request parameter at fault, when the provider names one.
    pub param: Option<String>,
}

impl ApiError {
    /// True when the object asked for does not exist (HTTP 404 or `resource_missing`).
    pub fn is_not_found(&self) -> bool {
        self.status == 404 || self.code.as_deref() == Some("resource_missing")
    }
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "HTTP {} {}", self.status, self.kind)?;
        if let Some(code) = &self.code {
            write!(f, " ({code})")?;
        }
        write!(f, ": {}", self.message)?;
        if let Some(param) = &self.param {
            write!(f, " [param {param}]")?;
        }
        Ok(())
    }
}

/// Why a provider call did not give an answer.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ProviderError {
    /// The card was refused while being saved (e.g. Stripe's 4000 0000 0000 9995 at attach).
    #[error("card refused: {0}")]
    CardDeclined(PaymentFailure),
    /// The provider refused the request: invalid parameters, an unknown id, a bad API key.
    #[error("payment provider refused the request: {0}")]
    Rejected(ApiError),
    /// No answer: network error, timeout, rate limit or a provider-side 5xx. Try again later.
    #[error("payment provider unavailable: {0}")]
    Unavailable(String),
    /// An answer we could not read.
    #[error("unexpected answer from the payment provider: {0}")]
    InvalidResponse(String),
}

impl ProviderError {
    /// A request parameter refused as Stripe refuses it (400, `parameter_invalid`).
    pub fn invalid_parameter(param: &str, message: &str) -> ProviderError {
        ProviderError::Rejected(ApiError {
            status: 400,
            kind: "invalid_request_error".into(),
            code: Some("parameter_invalid".into()),
            message: message.to_owned(),
            param: Some(param.to_owned()),
        })
    }
}

impl ProviderError {
    /// True when the object asked for does not exist.
    pub fn is_not_found(&self) -> bool {
        matches!(self, ProviderError::Rejected(api) if api.is_not_found())
    }
}

/// A payment provider: Stripe ([`crate::StripeProvider`]) or the embedded sandbox
/// ([`crate::SandboxProvider`]).
///
/// Every method may be called concurrently. Methods that create something are safe to retry
/// only where they say so (`charge` and `refund`, through their idempotency keys).
pub trait PaymentProvider: Send + Sync + fmt::Debug {
    /// Sandbox, Stripe test or Stripe live: what pages should say about payments.
    fn mode(&self) -> ProviderMode;

    /// Creates a customer and returns its id.
    fn create_customer<'a>(&'a self, customer: &'a NewCustomer) -> ProviderFuture<'a, CustomerId>;

    /// Starts saving a card for off-session use; the browser confirms the returned intent.
    fn create_setup_intent<'a>(
        &'a self,
        customer: &'a CustomerId,
    ) -> ProviderFuture<'a, SetupIntent>;

    /// The SetupIntent as it stands now, with its payment method once it succeeded.
    fn retrieve_setup_intent<'a>(
        &'a self,
        id: &'a SetupIntentId,
    ) -> ProviderFuture<'a, SetupIntent>;

    /// Saves a test card on the customer (creates the payment method and attaches it). A card
    /// that cannot be saved answers [`ProviderError::CardDeclined`].
    fn save_test_card<'a>(
        &'a self,
        customer: &'a CustomerId,
        card: &'a CardDetails,
    ) -> ProviderFuture<'a, PaymentMethodId>;

    /// Attaches an existing payment method to the customer (idempotent for the same customer).
    fn attach_payment_method<'a>(
        &'a self,
        payment_method: &'a PaymentMethodId,
        customer: &'a CustomerId,
    ) -> ProviderFuture<'a, ()>;

    /// The brand, last four digits and expiry of a saved card, as the billing page shows them.
    fn retrieve_card<'a>(
        &'a self,
        payment_method: &'a PaymentMethodId,
    ) -> ProviderFuture<'a, CardSummary>;

    /// Detaches the payment method from its customer: it can never be charged again. A
    /// payment method already detached or gone answers not found ([`ProviderError::is_not_found`]).
    fn detach_payment_method<'a>(
        &'a self,
        payment_method: &'a PaymentMethodId,
    ) -> ProviderFuture<'a, ()>;

    /// Makes the payment method the customer's default one.
    fn set_default_payment_method<'a>(
        &'a self,
        customer: &'a CustomerId,
        payment_method: &'a PaymentMethodId,
    ) -> ProviderFuture<'a, ()>;

    /// Charges a saved card off-session. Idempotent by `request.idempotency_key`: repeating the
    /// same request returns the first outcome and never charges twice. See the module
    /// documentation for what each result means.
    fn charge<'a>(&'a self, request: &'a ChargeRequest) -> ProviderFuture<'a, ChargeOutcome>;

    /// The PaymentIntent as it stands now.
    fn retrieve_charge<'a>(&'a self, id: &'a PaymentIntentId) -> ProviderFuture<'a, ChargeRecord>;

    /// Finds the PaymentIntent an earlier attempt created, by the attempt id in its metadata;
    /// `None` when no charge was made for it (so charging it again cannot charge twice). A
    /// succeeded intent is preferred over failed ones.
    fn find_charge<'a>(
        &'a self,
        lookup: &'a ChargeLookup,
    ) -> ProviderFuture<'a, Option<ChargeRecord>>;

    /// Refunds (part of) a succeeded charge. Idempotent by `request.idempotency_key`.
    fn refund<'a>(&'a self, request: &'a RefundRequest) -> ProviderFuture<'a, Refund>;
}

#[cfg(test)]
mod tests {

    #[test]
    fn a_card_expires_after_its_month() {
        let now = time::macros::datetime!(2026-05-20 10:00 UTC);
        let card = |m: u8, y: u16| CardDetails {
            exp_month: m,
            exp_year: y,
            ..CardDetails::test("4242424242424242")
        };
        assert!(!card(5, 2026).expired_at(now));
        assert!(card(4, 2026).expired_at(now));
        assert!(card(12, 25).expired_at(now));
        assert!(!card(1, 30).expired_at(now));
    }

    use super::*;

    fn record(status: IntentStatus, last_failure: Option<PaymentFailure>) -> ChargeRecord {
        ChargeRecord {
            intent_id: PaymentIntentId::new("pi_1"),
            status,
            amount: Cents::new(500),
            customer: None,
            payment_method: None,
            invoice_id: None,
            payment_attempt_id: None,
            last_failure,
        }
    }

    #[test]
    fn a_succeeded_intent_reconciles_to_a_success() {
        assert_eq!(
            record(IntentStatus::Succeeded, None).outcome(),
            ChargeOutcome::Succeeded {
                intent_id: PaymentIntentId::new("pi_1")
            }
        );
    }

    #[test]
    fn a_failed_intent_reconciles_to_its_last_failure() {
        let failure = PaymentFailure {
            code: "card_declined".into(),
            decline_code: Some("insufficient_funds".into()),
            message: "Your card has insufficient funds.".into(),
        };
        let outcome = record(IntentStatus::RequiresPaymentMethod, Some(failure.clone())).outcome();
        assert_eq!(
            outcome,
            ChargeOutcome::Failed {
                intent_id: Some(PaymentIntentId::new("pi_1")),
                failure
            }
        );
    }

    #[test]
    fn an_intent_needing_the_customer_fails_an_off_session_charge() {
        let ChargeOutcome::Failed { failure, .. } =
            record(IntentStatus::RequiresAction, None).outcome()
        else {
            panic!("requires_action must fail an off-session charge");
        };
        assert_eq!(failure.code, "authentication_required");
    }

    #[test]
    fn a_processing_intent_stays_unknown() {
        let outcome = record(IntentStatus::Processing, None).outcome();
        assert!(matches!(
            outcome,
            ChargeOutcome::Unknown {
                intent_id: Some(_),
                ..
            }
        ));
    }

    #[test]
    fn card_details_show_only_the_last_four_digits() {
        let card = CardDetails::test("4242 4242 4242 4242");
        assert_eq!(card.digits(), "4242424242424242");
        assert_eq!(card.last4(), "4242");
        let debug = format!("{card:?}");
        assert!(!debug.contains("42424242"), "{debug}");
        assert!(!debug.contains("123"), "{debug}");
    }

    #[test]
    fn the_failure_reason_prefers_the_decline_code() {
        let mut failure = PaymentFailure {
            code: "card_declined".into(),
            decline_code: None,
            message: "Your card was declined.".into(),
        };
        assert_eq!(failure.reason(), "card_declined");
        failure.decline_code = Some("insufficient_funds".into());
        assert_eq!(failure.reason(), "insufficient_funds");
    }
}
