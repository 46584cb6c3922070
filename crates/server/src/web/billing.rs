//! `/billing`: per subscription the plan, trial days left, usage bars for notifications and data
//! this period, an estimate of the period's overage once there are [`ESTIMATE_AFTER_MS`] of
//! paid use to go on, the overage prices, the exact prorated amount of each upgrade; the card on
//! file, once per account ("Visa ending 4242, expires 12/30"), with replace (the sandbox card
//! form without Stripe, Stripe Elements confirming a SetupIntent with Stripe.js when Stripe is
//! configured with a publishable key) and remove; invoices (with an HTML view) and payments.

use axum::Form;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use minijinja::context;
use serde::Deserialize;
use smartbox_billing::SetupIntentId;
use smartbox_billing::engine::{BillingError, PlanChangeResult};
use smartbox_billing::{CardDetails, ProviderError};
use smartbox_domain::epoch::{from_unix_ms, unix_ms};
use smartbox_domain::money::Cents;
use smartbox_domain::usage::{SpendCap, capped_overage};
use smartbox_domain::{
    BillingPeriod, InvoiceId, PlanChange, PlanId, SubscriptionId, SubscriptionStatus,
    UsageCounters, UserId,
};

use super::accounts::CsrfForm;
use super::claim::plan_name;
use super::format::{bytes, date, date_time, money};
use super::notice::{Done, after};
use super::{PageError, render, words};
use crate::accounts::{CurrentUser, Visitor};
use crate::services::devices::display_name;
use crate::services::payment_methods::{self, NewCard};
use crate::services::{Actor, ServiceError, subscriptions};
use crate::state::AppState;

const DAY_MS: i64 = 24 * 3600 * 1000;
/// Usage of a shorter stretch says little about a whole period (one delivery in the first hour
/// would project to hundreds), so no overage is estimated before this much of a paid period.
pub const ESTIMATE_AFTER_MS: i64 = 3 * DAY_MS;

fn actor(user: &CurrentUser) -> Actor {
    Actor::customer(user.user.id.as_str())
}

/// Percent of `used` in `limit`, 0-100 (for the usage bars).
fn percent(used: i64, limit: Option<i64>) -> i64 {
    match limit {
        Some(limit) if limit > 0 => (used.saturating_mul(100) / limit).clamp(0, 100),
        _ => 0,
    }
}

/// `GET /billing`.
pub async fn page(
    State(state): State<AppState>,
    visitor: Visitor,
    user: CurrentUser,
    Query(done): Query<Done>,
) -> Result<Response, PageError> {
    let now = state.clock.now_ms();
    let tz = user.user.time_zone.clone();
    let card = payment_methods::card(&state, &actor(&user))
        .await?
        .map(|c| c.describe());
    let mut subscriptions = Vec::new();
    for sub in state
        .db
        .subscriptions_of_customer(&UserId::new(user.user.id.as_str()))
        .await?
    {
        let Ok(plan_id) = sub.plan_id.parse::<PlanId>() else {
            continue;
        };
        let plan = plan_id.plan();
        let device = state.db.device_by_id(&sub.device_id).await?;
        let usage = state
            .db
            .usage(&sub.id, sub.current_period_start, sub.current_period_end)
            .await?;
        let counters = UsageCounters {
            notifications: u64::try_from(usage.notifications).unwrap_or(0),
            data_bytes: u64::try_from(usage.data_bytes).unwrap_or(0),
        };
        let cap = sub
            .spend_cap_cents
            .and_then(|c| SpendCap::new(plan_id, Cents::new(c)).ok())
            .unwrap_or_else(|| SpendCap::default_for(plan_id));
        let elapsed = (now - sub.current_period_start).max(1);
        let length = (sub.current_period_end - sub.current_period_start).max(1);
        let scale = |v: u64| -> u64 {
            u64::try_from(i128::from(v) * i128::from(length) / i128::from(elapsed))
                .unwrap_or(u64::MAX)
        };
        let projected = UsageCounters {
            notifications: scale(counters.notifications),
            data_bytes: scale(counters.data_bytes),
        };
        let trialing = sub.status == SubscriptionStatus::Trialing;
        let estimate = (!trialing && now - sub.current_period_start >= ESTIMATE_AFTER_MS)
            .then(|| money(capped_overage(plan_id, projected, cap).get()));
        let period = BillingPeriod {
            start: from_unix_ms(sub.current_period_start),
            end: from_unix_ms(sub.current_period_end),
        };
        let changes: Vec<_> = PlanId::ALL
            .iter()
            .filter(|to| **to != plan_id)
            .map(|to| {
                let upgrade = plan_id.change_to(*to) == PlanChange::Upgrade;
                let charge = match (upgrade, trialing) {
                    (false, _) => None,
                    (true, true) => Some(0),
                    (true, false) => smartbox_domain::proration::prorate_upgrade(plan_id, *to, period, from_unix_ms(now))
                        .ok()
                        .map(Cents::get),
                };
                context! {
                    id => to.as_str(), name => plan_name(*to), price => money(to.plan().price.get()),
                    upgrade => upgrade, prorated => charge.map(money), overage => words::overage(*to),
                    href => format!("/billing/plan?subscription={}&plan={}", sub.id, to.as_str()),
                }
            })
            .collect();
        let notification_limit = plan
            .notification_limit
            .map(|n| i64::try_from(n).unwrap_or(i64::MAX));
        let data_limit = i64::try_from(plan.data_limit_bytes).unwrap_or(i64::MAX);
        subscriptions.push(context! {
            id => sub.id.clone(),
            mailbox => device.as_ref().map(display_name),
            plan => plan_name(plan_id),
            price => money(plan.price.get()),
            status => words::subscription(sub.status),
            trialing => trialing,
            trial_left => trialing.then(|| words::count(((sub.current_period_end - now).max(0) + DAY_MS - 1) / DAY_MS, "day", "days")),
            period_end => date(sub.current_period_end, &tz),
            pending_plan => sub.pending_plan_id.as_deref().and_then(|p| p.parse::<PlanId>().ok()).map(plan_name),
            cancel_at_period_end => sub.cancel_at_period_end,
            notifications_used => usage.notifications,
            notifications_limit => notification_limit,
            notifications_percent => percent(usage.notifications, notification_limit),
            data_used => bytes(usage.data_bytes),
            data_limit => bytes(data_limit),
            data_percent => percent(usage.data_bytes, Some(data_limit)),
            estimated_overage => estimate,
            overage => words::overage(plan_id),
            spend_cap => money(cap.get().get()),
            changes => changes,
            live => sub.status != SubscriptionStatus::Canceled,
            support => super::support::billing_help(sub.status, device.as_ref()),
        });
    }
    let invoice_rows: Vec<_> = state
        .db
        .invoices_of_customer(&UserId::new(user.user.id.as_str()))
        .await?
        .into_iter()
        .filter(|i| i.status.is_issued())
        .collect();
    let invoices: Vec<_> = invoice_rows
        .iter()
        .map(|i| context! { id => i.id.clone(), number => i.number.clone(), date => date(i.created_at, &tz), kind => words::invoice_kind(&i.kind), status => words::invoice(i.status), total => money(i.total_cents) })
        .collect();
    let payments: Vec<_> = state
        .db
        .payments_of_customer(&UserId::new(user.user.id.as_str()))
        .await?
        .into_iter()
        .map(|p| {
            let number = invoice_rows.iter().find(|i| i.id == p.invoice_id).map(|i| i.number.clone());
            context! { when => date_time(p.created_at, &tz), invoice => number, amount => money(p.amount_cents), status => words::payment(p.status), failure => p.failure_message.as_deref().map(words::decline) }
        })
        .collect();
    render::ok(
        &visitor,
        "billing.html",
        context! {
            title => "Billing", nav => "billing", subscriptions => subscriptions, invoices => invoices,
            payments => payments, sandbox => state.config.stripe.is_none(), card => card,
            notice => done.sentence(),
        },
    )
}

/// `GET /billing/invoices/{invoice_id}`: the invoice as a printable page.
pub async fn invoice_page(
    State(state): State<AppState>,
    visitor: Visitor,
    user: CurrentUser,
    Path(invoice_id): Path<String>,
    Query(done): Query<Done>,
) -> Result<Response, PageError> {
    let invoice = state
        .db
        .invoice_by_id(&InvoiceId::new(invoice_id.as_str()))
        .await?
        .filter(|i| i.customer_id == user.user.id && i.status.is_issued())
        .ok_or_else(|| PageError::not_found("This invoice"))?;
    let tz = &user.user.time_zone;
    let lines: Vec<_> = state
        .db
        .invoice_lines(&InvoiceId::new(invoice.id.as_str()))
        .await?
        .into_iter()
        .map(|l| context! { description => l.description, amount => money(l.amount_cents) })
        .collect();
    render::ok(
        &visitor,
        "invoice.html",
        context! {
            title => format!("Invoice {}", invoice.number), nav => "billing",
            number => invoice.number, status => words::invoice(invoice.status), kind => words::invoice_kind(&invoice.kind),
            issued => date(invoice.created_at, tz), period_start => date(invoice.period_start, tz),
            period_end => date(invoice.period_end, tz), total => money(invoice.total_cents),
            paid => invoice.paid_at.map(|p| date_time(p, tz)), lines => lines, email => user.user.email.clone(),
            notice => done.sentence(),
        },
    )
}

#[derive(Debug, Deserialize, Default)]
pub struct WelcomeQuery {
    #[serde(default)]
    welcome: Option<String>,
}

/// The Content-Security-Policy of the payment-method page when the card goes through Stripe
/// Elements: the page's own policy plus Stripe.js from js.stripe.com, its card and 3-D Secure
/// iframes (js.stripe.com, hooks.stripe.com) and the API it calls, as Stripe's integration
/// security guide lists them. Every other page keeps [`crate::accounts::guard::CONTENT_SECURITY_POLICY`].
pub const STRIPE_CONTENT_SECURITY_POLICY: &str = "default-src 'self'; \
    script-src 'self' https://js.stripe.com https://*.js.stripe.com; style-src 'self'; img-src 'self' data:; \
    connect-src 'self' https://api.stripe.com; \
    frame-src https://js.stripe.com https://*.js.stripe.com https://hooks.stripe.com; \
    font-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

/// How the page takes a card: the sandbox's (or a Stripe test key's) card form, or Stripe
/// Elements when Stripe is configured with a publishable key.
fn elements_key(state: &AppState) -> Option<&str> {
    state.config.stripe.as_ref()?.publishable_key.as_deref()
}

/// Payments' mode in words, for the page's note.
fn mode_note(state: &AppState) -> &'static str {
    match &state.config.stripe {
        None => "sandbox",
        Some(s) if s.secret_key.expose().starts_with("sk_live") => "live",
        Some(_) => "test",
    }
}

async fn card_page(
    state: &AppState,
    visitor: &Visitor,
    user: &CurrentUser,
    status: StatusCode,
    welcome: bool,
    error: Option<String>,
) -> Result<Response, PageError> {
    let (mut status, mut error) = (status, error);
    let mut unreachable = false;
    let stripe = match elements_key(state) {
        // A fresh SetupIntent per visit: Stripe.js confirms it in the browser with the card.
        Some(key) => match payment_methods::start_card_setup(state, &actor(user)).await {
            Ok(intent) => {
                Some(context! { publishable_key => key, client_secret => intent.client_secret })
            }
            Err(ServiceError::Billing(BillingError::Provider(ProviderError::Unavailable(why)))) => {
                tracing::warn!(customer = %user.user.id, %why, "card page: Stripe unreachable");
                unreachable = true;
                status = StatusCode::SERVICE_UNAVAILABLE;
                error = Some(
                    "Stripe cannot be reached right now, so a card cannot be added. Try again in a minute."
                        .to_owned(),
                );
                None
            }
            Err(err) => return Err(err.into()),
        },
        None => None,
    };
    let elements = stripe.is_some();
    let current = payment_methods::card(state, &actor(user))
        .await?
        .map(|c| c.describe());
    let mut response = render::page(
        visitor,
        status,
        "payment_method.html",
        context! {
            title => "Payment method", nav => "billing", welcome => welcome, error => error,
            sandbox => state.config.stripe.is_none(), mode => mode_note(state), stripe => stripe,
            unreachable => unreachable, card_on_file => current,
        },
    )?;
    if elements {
        response.headers_mut().insert(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(STRIPE_CONTENT_SECURITY_POLICY),
        );
    }
    Ok(response)
}

/// `GET /billing/payment-method`.
pub async fn payment_method_page(
    State(state): State<AppState>,
    visitor: Visitor,
    user: CurrentUser,
    Query(q): Query<WelcomeQuery>,
) -> Result<Response, PageError> {
    card_page(
        &state,
        &visitor,
        &user,
        StatusCode::OK,
        q.welcome.is_some(),
        None,
    )
    .await
}

#[derive(Debug, Deserialize)]
pub struct CardForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    number: String,
    #[serde(default)]
    exp_month: String,
    #[serde(default)]
    exp_year: String,
    #[serde(default)]
    cvc: String,
    /// The SetupIntent Stripe.js confirmed (Stripe Elements); the card fields are empty then.
    #[serde(default)]
    setup_intent: String,
    #[serde(default)]
    welcome: String,
}

/// `POST /billing/payment-method`: saves the card through the billing engine, which makes it the
/// customer's default card and charges their open invoices with it at once. With Stripe
/// Elements the form carries the confirmed SetupIntent's id: its payment method is read from
/// Stripe (the intent must be this customer's and succeeded), never taken from the browser.
pub async fn save_card(
    State(state): State<AppState>,
    visitor: Visitor,
    user: CurrentUser,
    Form(form): Form<CardForm>,
) -> Result<Response, PageError> {
    if !visitor.csrf_matches(&form.csrf) {
        return Err(PageError::bad_csrf());
    }
    let welcome = !form.welcome.is_empty();
    let card = if form.setup_intent.trim().is_empty() {
        let card = CardDetails {
            number: form.number.clone(),
            exp_month: form.exp_month.trim().parse().unwrap_or(0),
            exp_year: form.exp_year.trim().parse().unwrap_or(0),
            cvc: form.cvc.trim().to_owned(),
        };
        let digits = card.digits();
        if digits.len() < 12 || !digits.chars().all(|c| c.is_ascii_digit()) {
            return card_page(
                &state,
                &visitor,
                &user,
                StatusCode::BAD_REQUEST,
                welcome,
                Some("Enter the card number.".to_owned()),
            )
            .await;
        }
        NewCard::TestCard(card)
    } else {
        NewCard::SetupIntent(SetupIntentId::new(form.setup_intent.trim()))
    };
    let saved = payment_methods::save(&state, &actor(&user), card).await;
    let refusal = match saved {
        Ok(attached) => {
            tracing::info!(customer = %user.user.id, payment_method = %attached.payment_method, "payment method saved");
            let to = if welcome { "/dashboard" } else { "/billing" };
            return Ok(Redirect::to(&after(to, "card")).into_response());
        }
        Err(ServiceError::Billing(BillingError::Provider(ProviderError::CardDeclined(
            failure,
        )))) => (
            StatusCode::PAYMENT_REQUIRED,
            format!(
                "The card was not saved: {}",
                words::decline(failure.reason())
            ),
        ),
        Err(ServiceError::Billing(BillingError::Provider(ProviderError::Rejected(err))))
            if err.is_not_found() =>
        {
            return Err(PageError::not_found("This card setup"));
        }
        Err(ServiceError::Billing(BillingError::Provider(ProviderError::Rejected(err)))) => {
            (StatusCode::BAD_REQUEST, err.to_string())
        }
        Err(ServiceError::Billing(BillingError::Conflict(why))) => {
            (StatusCode::CONFLICT, words::capital(&why) + ".")
        }
        Err(err) => return Err(err.into()),
    };
    card_page(&state, &visitor, &user, refusal.0, welcome, Some(refusal.1)).await
}

/// `POST /billing/payment-method/remove`: detaches the card at the provider and forgets it.
pub async fn remove_card(
    State(state): State<AppState>,
    visitor: Visitor,
    user: CurrentUser,
    Form(form): Form<CsrfForm>,
) -> Result<Response, PageError> {
    if !visitor.csrf_matches(&form.csrf) {
        return Err(PageError::bad_csrf());
    }
    payment_methods::remove(&state, &actor(&user)).await?;
    Ok(Redirect::to(&after("/billing", "card_removed")).into_response())
}

/// A billing-engine refusal as a page: 404 for what is not the customer's, 409 with the engine's
/// reason for what does not apply now.
pub fn billing_error(err: BillingError) -> PageError {
    match err {
        BillingError::NotFound(what) => PageError::not_found(&words::capital(what)),
        BillingError::Conflict(why) => {
            PageError::Status(StatusCode::CONFLICT, words::capital(&why) + ".")
        }
        BillingError::Contended(_) => PageError::Status(StatusCode::CONFLICT, err.to_string()),
        other => PageError::Internal(other.into()),
    }
}

#[derive(Debug, Deserialize)]
pub struct PlanQuery {
    #[serde(default)]
    subscription: String,
    #[serde(default)]
    plan: String,
}

fn parse_plan(text: &str) -> Result<PlanId, PageError> {
    text.parse::<PlanId>().map_err(|_| {
        PageError::Status(
            StatusCode::BAD_REQUEST,
            "Choose one of the plans.".to_owned(),
        )
    })
}

/// `GET /billing/plan?subscription=...&plan=...`: what the change costs and when it takes
/// effect, before confirming.
pub async fn plan_preview(
    State(state): State<AppState>,
    visitor: Visitor,
    user: CurrentUser,
    Query(q): Query<PlanQuery>,
) -> Result<Response, PageError> {
    let to = parse_plan(&q.plan)?;
    let id = SubscriptionId::new(q.subscription.as_str());
    let preview = subscriptions::preview_plan_change(&state, &actor(&user), &id, to).await?;
    let tz = &user.user.time_zone;
    let effective_ms = unix_ms(preview.effective_at);
    render::ok(
        &visitor,
        "billing_plan.html",
        context! {
            title => "Change plan", nav => "billing", subscription => q.subscription,
            from => plan_name(preview.from), to => plan_name(preview.to), to_id => preview.to.as_str(),
            change => match preview.change { PlanChange::Upgrade => "upgrade", PlanChange::Downgrade => "downgrade", PlanChange::Same => "same" },
            prorated => money(preview.prorated.get()), charged_now => preview.charged_now,
            price => money(preview.to.plan().price.get()), overage => words::overage(preview.to),
            effective => date_time(effective_ms, tz), immediate => effective_ms <= state.clock.now_ms(),
        },
    )
}

#[derive(Debug, Deserialize)]
pub struct PlanForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    subscription: String,
    #[serde(default)]
    plan: String,
}

/// `POST /billing/plan`: changes the plan (upgrades at once with a prorated invoice, downgrades at
/// the next period); an upgrade's invoice is shown next.
pub async fn change_plan(
    State(state): State<AppState>,
    visitor: Visitor,
    user: CurrentUser,
    Form(form): Form<PlanForm>,
) -> Result<Response, PageError> {
    if !visitor.csrf_matches(&form.csrf) {
        return Err(PageError::bad_csrf());
    }
    let to = parse_plan(&form.plan)?;
    let id = SubscriptionId::new(form.subscription);
    let result = subscriptions::change_plan(&state, &actor(&user), &id, to).await?;
    let to_page = match result {
        PlanChangeResult::Upgraded {
            invoice_id: Some(id),
            ..
        } => after(&format!("/billing/invoices/{id}"), "upgraded"),
        PlanChangeResult::DowngradeScheduled { .. } => after("/billing", "downgrade_scheduled"),
        _ => after("/billing", "plan_changed"),
    };
    Ok(Redirect::to(&to_page).into_response())
}

#[derive(Debug, Deserialize)]
pub struct SubscriptionForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    subscription: String,
}

/// `POST /billing/cancel`: cancels at the end of the current period.
pub async fn cancel(
    State(state): State<AppState>,
    visitor: Visitor,
    user: CurrentUser,
    Form(form): Form<SubscriptionForm>,
) -> Result<Response, PageError> {
    if !visitor.csrf_matches(&form.csrf) {
        return Err(PageError::bad_csrf());
    }
    let id = SubscriptionId::new(form.subscription);
    subscriptions::cancel(&state, &actor(&user), &id).await?;
    Ok(Redirect::to(&after("/billing", "cancel_requested")).into_response())
}

/// `POST /billing/resume`: takes back a pending cancel.
pub async fn resume(
    State(state): State<AppState>,
    visitor: Visitor,
    user: CurrentUser,
    Form(form): Form<SubscriptionForm>,
) -> Result<Response, PageError> {
    if !visitor.csrf_matches(&form.csrf) {
        return Err(PageError::bad_csrf());
    }
    let id = SubscriptionId::new(form.subscription);
    subscriptions::resume(&state, &actor(&user), &id).await?;
    Ok(Redirect::to(&after("/billing", "resumed")).into_response())
}
