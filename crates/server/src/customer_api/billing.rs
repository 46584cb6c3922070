//! The billing calls of `/billing`: one subscription, the exact price of a plan change before
//! confirming it and the change itself, cancel at period end and taking that back, and saving a
//! card (a test card number with the sandbox or a Stripe test key; with Stripe Elements, a
//! SetupIntent the app confirms with Stripe and then names). Each is a call to a service
//! (`services::subscriptions`, `services::payment_methods`), as the pages make; another
//! customer's subscription answers 404.

use axum::Json;
use axum::extract::{Path, Query, State};
use serde::{Deserialize, Serialize};
use smartbox_billing::engine::{BillingError, PlanChangeResult};
use smartbox_billing::{CardDetails, ProviderError, SetupIntentId};
use smartbox_domain::epoch::unix_ms;
use smartbox_domain::{PlanChange, PlanId, SubscriptionId};

use super::{Subscription, actor, owned_subscription};
use crate::accounts::ApiUser;
use crate::error::ApiError;
use crate::services::payment_methods::{self, NewCard};
use crate::services::subscriptions;
use crate::state::AppState;

/// A billing-engine refusal: 404 for what is not the customer's, 409 for what does not apply now,
/// 402 for a declined card, 400 for what the provider refused.
pub fn billing_error(err: BillingError) -> ApiError {
    match err {
        BillingError::NotFound(what) => ApiError::NotFound(format!("no such {what}")),
        BillingError::Conflict(why) => ApiError::Conflict(why),
        BillingError::Contended(_) => ApiError::Conflict(err.to_string()),
        BillingError::Provider(ProviderError::CardDeclined(failure)) => {
            ApiError::PaymentRequired(format!("the card was declined: {}", failure.reason()))
        }
        BillingError::Provider(ProviderError::Rejected(api)) if api.is_not_found() => {
            ApiError::NotFound("no such setup intent".to_owned())
        }
        BillingError::Provider(ProviderError::Rejected(api)) => {
            ApiError::bad_request("payment_provider", api.to_string())
        }
        other => ApiError::Internal(other.into()),
    }
}

fn parse_plan(text: &str) -> Result<PlanId, ApiError> {
    text.parse::<PlanId>()
        .map_err(|_| ApiError::bad_request("invalid_plan", "`plan` must be basic, plus or premium"))
}

#[utoipa::path(get, path = "/api/v1/subscriptions/{subscription_id}", tag = "customer",
    params(("subscription_id" = String, Path, description = "Subscription id")),
    responses((status = 200, description = "The subscription", body = Subscription),
        (status = 401, description = "No session", body = crate::device_api::docs::ErrorDoc),
        (status = 404, description = "Not one of the customer's", body = crate::device_api::docs::ErrorDoc),
    ), security(("session" = [])))]
pub(crate) async fn subscription(
    State(state): State<AppState>,
    ApiUser(user): ApiUser,
    Path(subscription_id): Path<String>,
) -> Result<Json<Subscription>, ApiError> {
    Ok(Json(
        owned_subscription(&state, &user.user.id, &subscription_id)
            .await?
            .into(),
    ))
}

/// The plan to change to.
#[derive(Debug, Deserialize, utoipa::ToSchema, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PlanChoice {
    /// `basic`, `plus` or `premium`.
    #[schema(value_type = super::docs::PlanDoc)]
    #[param(value_type = super::docs::PlanDoc)]
    pub plan: String,
}

/// What a plan change would do, before confirming it.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct PlanChangePreview {
    pub from: String,
    pub to: String,
    /// `upgrade`, `downgrade` or `same`.
    pub change: String,
    /// The prorated price of an upgrade, exact to the cent (0 otherwise and during the trial).
    pub prorated_cents: i64,
    /// True when `prorated_cents` is charged at once; false when it is carried into the next
    /// invoice (under the 50-cent minimum charge) or zero.
    pub charged_now: bool,
    /// When the new plan applies (epoch ms): now for upgrades, the period's end for downgrades.
    pub effective_at: i64,
}

fn change_name(change: PlanChange) -> &'static str {
    match change {
        PlanChange::Upgrade => "upgrade",
        PlanChange::Downgrade => "downgrade",
        PlanChange::Same => "same",
    }
}

#[utoipa::path(get, path = "/api/v1/subscriptions/{subscription_id}/plan-change", tag = "customer",
    params(("subscription_id" = String, Path, description = "Subscription id"), PlanChoice),
    responses((status = 200, description = "The change's exact price and when it applies", body = PlanChangePreview),
        (status = 400, description = "Not one of the plans", body = crate::device_api::docs::ErrorDoc),
        (status = 401, description = "No session", body = crate::device_api::docs::ErrorDoc),
        (status = 404, description = "Not one of the customer's", body = crate::device_api::docs::ErrorDoc),
        (status = 409, description = "The subscription cannot change plan now", body = crate::device_api::docs::ErrorDoc),
    ), security(("session" = [])))]
pub(crate) async fn preview_plan_change(
    State(state): State<AppState>,
    ApiUser(user): ApiUser,
    Path(subscription_id): Path<String>,
    Query(choice): Query<PlanChoice>,
) -> Result<Json<PlanChangePreview>, ApiError> {
    let to = parse_plan(&choice.plan)?;
    let id = SubscriptionId::new(subscription_id);
    let preview = subscriptions::preview_plan_change(&state, &actor(&user), &id, to).await?;
    Ok(Json(PlanChangePreview {
        from: preview.from.as_str().to_owned(),
        to: preview.to.as_str().to_owned(),
        change: change_name(preview.change).to_owned(),
        prorated_cents: preview.prorated.get(),
        charged_now: preview.charged_now,
        effective_at: unix_ms(preview.effective_at),
    }))
}

/// What a confirmed plan change did, and the subscription after it.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct PlanChanged {
    /// `unchanged`, `changed` (during the trial), `upgraded`, `downgrade_scheduled` or
    /// `downgrade_withdrawn`.
    pub result: String,
    /// An upgrade's prorated price.
    pub prorated_cents: Option<i64>,
    /// An upgrade's invoice, when one was made (see `/api/v1/invoices/{id}`).
    pub invoice_id: Option<String>,
    /// When a scheduled downgrade applies (epoch ms).
    pub effective_at: Option<i64>,
    pub subscription: Subscription,
}

#[utoipa::path(post, path = "/api/v1/subscriptions/{subscription_id}/plan-change", tag = "customer",
    params(("subscription_id" = String, Path, description = "Subscription id")),
    request_body(content = PlanChoice, content_type = "application/json"),
    responses((status = 200, description = "Upgraded at once (prorated invoice), or the downgrade scheduled for the period's end", body = PlanChanged),
        (status = 400, description = "Not one of the plans", body = crate::device_api::docs::ErrorDoc),
        (status = 401, description = "No session", body = crate::device_api::docs::ErrorDoc),
        (status = 403, description = "Missing or wrong X-CSRF-Token, or a cross-site request", body = crate::device_api::docs::ErrorDoc),
        (status = 404, description = "Not one of the customer's", body = crate::device_api::docs::ErrorDoc),
        (status = 409, description = "The subscription cannot change plan now", body = crate::device_api::docs::ErrorDoc),
    ), security(("session" = [], "csrf" = [])))]
pub(crate) async fn change_plan(
    State(state): State<AppState>,
    ApiUser(user): ApiUser,
    Path(subscription_id): Path<String>,
    Json(choice): Json<PlanChoice>,
) -> Result<Json<PlanChanged>, ApiError> {
    let to = parse_plan(&choice.plan)?;
    let id = SubscriptionId::new(subscription_id.as_str());
    let result = subscriptions::change_plan(&state, &actor(&user), &id, to).await?;
    let (name, prorated_cents, invoice_id, effective_at) = match result {
        PlanChangeResult::Unchanged => ("unchanged", None, None, None),
        PlanChangeResult::Changed => ("changed", None, None, None),
        PlanChangeResult::Upgraded {
            prorated,
            invoice_id,
            ..
        } => ("upgraded", Some(prorated.get()), invoice_id, None),
        PlanChangeResult::DowngradeScheduled { effective_at } => (
            "downgrade_scheduled",
            None,
            None,
            Some(unix_ms(effective_at)),
        ),
        PlanChangeResult::DowngradeWithdrawn => ("downgrade_withdrawn", None, None, None),
    };
    let subscription = owned_subscription(&state, &user.user.id, &subscription_id)
        .await?
        .into();
    Ok(Json(PlanChanged {
        result: name.to_owned(),
        prorated_cents,
        invoice_id,
        effective_at,
        subscription,
    }))
}

#[utoipa::path(post, path = "/api/v1/subscriptions/{subscription_id}/cancel", tag = "customer",
    params(("subscription_id" = String, Path, description = "Subscription id")),
    responses((status = 200, description = "Cancels at the period's end (`cancel_at_period_end`)", body = Subscription),
        (status = 401, description = "No session", body = crate::device_api::docs::ErrorDoc),
        (status = 403, description = "Missing or wrong X-CSRF-Token, or a cross-site request", body = crate::device_api::docs::ErrorDoc),
        (status = 404, description = "Not one of the customer's", body = crate::device_api::docs::ErrorDoc),
        (status = 409, description = "Already canceled", body = crate::device_api::docs::ErrorDoc),
    ), security(("session" = [], "csrf" = [])))]
pub(crate) async fn cancel(
    State(state): State<AppState>,
    ApiUser(user): ApiUser,
    Path(subscription_id): Path<String>,
) -> Result<Json<Subscription>, ApiError> {
    let id = SubscriptionId::new(subscription_id.as_str());
    subscriptions::cancel(&state, &actor(&user), &id).await?;
    subscription(State(state), ApiUser(user), Path(subscription_id)).await
}

#[utoipa::path(post, path = "/api/v1/subscriptions/{subscription_id}/resume", tag = "customer",
    params(("subscription_id" = String, Path, description = "Subscription id")),
    responses((status = 200, description = "The pending cancel is taken back", body = Subscription),
        (status = 401, description = "No session", body = crate::device_api::docs::ErrorDoc),
        (status = 403, description = "Missing or wrong X-CSRF-Token, or a cross-site request", body = crate::device_api::docs::ErrorDoc),
        (status = 404, description = "Not one of the customer's", body = crate::device_api::docs::ErrorDoc),
        (status = 409, description = "Already canceled", body = crate::device_api::docs::ErrorDoc),
    ), security(("session" = [], "csrf" = [])))]
pub(crate) async fn resume(
    State(state): State<AppState>,
    ApiUser(user): ApiUser,
    Path(subscription_id): Path<String>,
) -> Result<Json<Subscription>, ApiError> {
    let id = SubscriptionId::new(subscription_id.as_str());
    subscriptions::resume(&state, &actor(&user), &id).await?;
    subscription(State(state), ApiUser(user), Path(subscription_id)).await
}

/// A SetupIntent for Stripe Elements: confirm it with Stripe.js (or a mobile SDK) and the
/// publishable key, then `POST /api/v1/payment-method` with its id.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct CardSetup {
    pub setup_intent: String,
    pub client_secret: String,
    pub publishable_key: String,
}

#[utoipa::path(post, path = "/api/v1/payment-method/setup", tag = "customer",
    responses((status = 200, description = "A SetupIntent to confirm with Stripe", body = CardSetup),
        (status = 401, description = "No session", body = crate::device_api::docs::ErrorDoc),
        (status = 403, description = "Missing or wrong X-CSRF-Token, or a cross-site request", body = crate::device_api::docs::ErrorDoc),
        (status = 409, description = "Stripe is not configured (sandbox payments take a test card number)", body = crate::device_api::docs::ErrorDoc),
    ), security(("session" = [], "csrf" = [])))]
pub(crate) async fn start_card_setup(
    State(state): State<AppState>,
    ApiUser(user): ApiUser,
) -> Result<Json<CardSetup>, ApiError> {
    let Some(key) = state
        .config
        .stripe
        .as_ref()
        .and_then(|s| s.publishable_key.clone())
    else {
        return Err(ApiError::Conflict(
            "Stripe Elements is not configured: send a test card number instead".to_owned(),
        ));
    };
    let intent = payment_methods::start_card_setup(&state, &actor(&user)).await?;
    Ok(Json(CardSetup {
        setup_intent: intent.id.as_str().to_owned(),
        client_secret: intent.client_secret,
        publishable_key: key,
    }))
}

/// A card to save: a confirmed SetupIntent's id, or (sandbox or Stripe test key) a test card;
/// exactly one of the two (its schema, [`PaymentMethodRequest::schema`], says so).
#[derive(Debug, Deserialize)]
pub struct PaymentMethodRequest {
    /// The SetupIntent confirmed with Stripe (from `/api/v1/payment-method/setup`).
    pub setup_intent: Option<String>,
    pub card: Option<TestCard>,
}

/// The schema of [`PaymentMethodRequest`]: one of `{"setup_intent": "seti_..."}` and
/// `{"card": {...}}`, the other field absent or `null`, as the handler takes it.
impl utoipa::PartialSchema for PaymentMethodRequest {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        use utoipa::openapi::schema::{ObjectBuilder, OneOfBuilder, Type};
        use utoipa::openapi::{Ref, RefOr};
        let null = || ObjectBuilder::new().schema_type(Type::Null);
        let intent = ObjectBuilder::new()
            .property(
                "setup_intent",
                ObjectBuilder::new()
                    .schema_type(Type::String)
                    .min_length(Some(1))
                    .description(Some(
                        "The SetupIntent confirmed with Stripe (from `/api/v1/payment-method/setup`)",
                    )),
            )
            .required("setup_intent")
            .property("card", null());
        let card = ObjectBuilder::new()
            .property("card", Ref::from_schema_name("TestCard"))
            .required("card")
            .property("setup_intent", null());
        RefOr::T(
            OneOfBuilder::new()
                .item(intent)
                .item(card)
                .description(Some(
                    "A confirmed SetupIntent's id, or (sandbox or Stripe test key) a test card",
                ))
                .into(),
        )
    }
}

impl utoipa::ToSchema for PaymentMethodRequest {
    fn schemas(
        schemas: &mut Vec<(
            String,
            utoipa::openapi::RefOr<utoipa::openapi::schema::Schema>,
        )>,
    ) {
        schemas.push((
            "TestCard".to_owned(),
            <TestCard as utoipa::PartialSchema>::schema(),
        ));
    }
}

/// A test card number (sandbox: 4242 4242 4242 4242 succeeds, 4000 0000 0000 0002 declines).
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct TestCard {
    pub number: String,
    #[schema(minimum = 1, maximum = 12)]
    #[serde(deserialize_with = "super::whole_number::whole")]
    pub exp_month: u8,
    #[schema(minimum = 0, maximum = 65535)]
    #[serde(deserialize_with = "super::whole_number::whole")]
    pub exp_year: u16,
    pub cvc: String,
}

/// The customer's default card after saving it.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct PaymentMethodSaved {
    pub payment_method: String,
    /// What the provider reports about it.
    pub card: CardView,
    /// Open invoices paid with it at once.
    pub invoices_paid: Vec<String>,
}

/// The card on file, one per account (`GET /api/v1/payment-method`).
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct PaymentMethodOnFile {
    /// `null` when no card is on file.
    pub card: Option<CardView>,
}

/// A saved card as the billing page shows it. The details are `null` for a card saved before
/// they were kept (or recorded from a Stripe webhook).
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct CardView {
    /// `Visa ending 4242, expires 12/30`.
    pub description: String,
    /// `Visa`, `Mastercard`, `American Express`, ...
    pub brand: Option<String>,
    pub last4: Option<String>,
    pub exp_month: Option<u8>,
    pub exp_year: Option<u16>,
}

impl From<payment_methods::CardOnFile> for CardView {
    fn from(card: payment_methods::CardOnFile) -> CardView {
        let summary = card.summary.as_ref();
        CardView {
            description: card.describe(),
            brand: summary.map(|c| c.brand_label().to_owned()),
            last4: summary.map(|c| c.last4.clone()),
            exp_month: summary.map(|c| c.exp_month),
            exp_year: summary.map(|c| c.exp_year),
        }
    }
}

#[utoipa::path(get, path = "/api/v1/payment-method", tag = "customer",
    responses((status = 200, description = "The card on file, or `card: null`", body = PaymentMethodOnFile),
        (status = 401, description = "No session", body = crate::device_api::docs::ErrorDoc),
    ), security(("session" = [])))]
pub(crate) async fn payment_method(
    State(state): State<AppState>,
    ApiUser(user): ApiUser,
) -> Result<Json<PaymentMethodOnFile>, ApiError> {
    let card = payment_methods::card(&state, &actor(&user)).await?;
    Ok(Json(PaymentMethodOnFile {
        card: card.map(CardView::from),
    }))
}

#[utoipa::path(delete, path = "/api/v1/payment-method", tag = "customer",
    responses((status = 204, description = "Detached at the provider and forgotten; the next invoice finds no card"),
        (status = 401, description = "No session", body = crate::device_api::docs::ErrorDoc),
        (status = 403, description = "Missing or wrong X-CSRF-Token, or a cross-site request", body = crate::device_api::docs::ErrorDoc),
        (status = 404, description = "No card on file", body = crate::device_api::docs::ErrorDoc),
    ), security(("session" = [], "csrf" = [])))]
pub(crate) async fn remove_payment_method(
    State(state): State<AppState>,
    ApiUser(user): ApiUser,
) -> Result<axum::http::StatusCode, ApiError> {
    payment_methods::remove(&state, &actor(&user)).await?;
    Ok(axum::http::StatusCode::NO_CONTENT)
}

#[utoipa::path(post, path = "/api/v1/payment-method", tag = "customer",
    request_body(content = PaymentMethodRequest, content_type = "application/json"),
    responses((status = 200, description = "The card is the default and paid the open invoices it could", body = PaymentMethodSaved),
        (status = 400, description = "Neither a setup intent nor a card, or the provider refused it", body = crate::device_api::docs::ErrorDoc),
        (status = 401, description = "No session", body = crate::device_api::docs::ErrorDoc),
        (status = 402, description = "The card was declined", body = crate::device_api::docs::ErrorDoc),
        (status = 403, description = "Missing or wrong X-CSRF-Token, or a cross-site request", body = crate::device_api::docs::ErrorDoc),
        (status = 404, description = "Not one of the customer's setup intents", body = crate::device_api::docs::ErrorDoc),
        (status = 409, description = "The setup intent is not confirmed yet", body = crate::device_api::docs::ErrorDoc),
    ), security(("session" = [], "csrf" = [])))]
pub(crate) async fn save_payment_method(
    State(state): State<AppState>,
    ApiUser(user): ApiUser,
    Json(request): Json<PaymentMethodRequest>,
) -> Result<Json<PaymentMethodSaved>, ApiError> {
    let card = match (request.setup_intent, request.card) {
        (Some(intent), None) => NewCard::SetupIntent(SetupIntentId::new(intent.trim())),
        (None, Some(card)) => NewCard::TestCard(CardDetails {
            number: card.number,
            exp_month: card.exp_month,
            exp_year: card.exp_year,
            cvc: card.cvc,
        }),
        _ => {
            return Err(ApiError::bad_request(
                "invalid_payment_method",
                "send either `setup_intent` or `card`",
            ));
        }
    };
    let attached = payment_methods::save(&state, &actor(&user), card).await?;
    let invoices_paid = attached
        .collected
        .iter()
        .filter_map(|c| match c {
            smartbox_billing::engine::ChargeResult::Paid { invoice_id } => Some(invoice_id.clone()),
            _ => None,
        })
        .collect();
    Ok(Json(PaymentMethodSaved {
        payment_method: attached.payment_method.as_str().to_owned(),
        card: CardView::from(payment_methods::CardOnFile {
            summary: Some(attached.card),
        }),
        invoices_paid,
    }))
}
