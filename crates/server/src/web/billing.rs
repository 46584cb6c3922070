//! `/billing`: per subscription the plan, trial days left, usage bars for notifications and data
//! this period, the projected overage, the exact prorated amount of each upgrade; the card on
//! file (the sandbox card form without Stripe); invoices (with an HTML view) and payments.

use axum::Form;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use minijinja::context;
use serde::Deserialize;
use smartbox_billing::{
    CardDetails, CustomerId, NewCustomer, PaymentProvider, ProviderError, SandboxProvider,
};
use smartbox_domain::money::Cents;
use smartbox_domain::usage::{SpendCap, capped_overage};
use smartbox_domain::{BillingPeriod, Email, PlanChange, PlanId, UsageCounters};
use smartbox_store::changes::{Change, Changes};
use time::OffsetDateTime;

use super::claim::plan_name;
use super::dashboard::display_name;
use super::format::{bytes, date, date_time, money};
use super::{PageError, render};
use crate::accounts::{CurrentUser, Visitor};
use crate::state::AppState;

const DAY_MS: i64 = 24 * 3600 * 1000;

fn at(ms: i64) -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .unwrap_or(OffsetDateTime::UNIX_EPOCH)
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
) -> Result<Response, PageError> {
    let now = state.clock.now_ms();
    let tz = user.user.time_zone.clone();
    let mut subscriptions = Vec::new();
    for sub in state.db.subscriptions_of_customer(&user.user.id).await? {
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
        let trialing = sub.status == "trialing";
        let period = BillingPeriod {
            start: at(sub.current_period_start),
            end: at(sub.current_period_end),
        };
        let upgrades: Vec<_> = PlanId::ALL
            .iter()
            .filter(|to| plan_id.change_to(**to) == PlanChange::Upgrade)
            .map(|to| {
                let charge = if trialing {
                    Some(0)
                } else {
                    smartbox_domain::proration::prorate_upgrade(plan_id, *to, period, at(now))
                        .ok()
                        .map(Cents::get)
                };
                context! { id => to.as_str(), name => plan_name(*to), price => money(to.plan().price.get()), prorated => charge.map(money) }
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
            status => sub.status.clone(),
            trialing => trialing,
            trial_days_left => trialing.then(|| ((sub.current_period_end - now).max(0) + DAY_MS - 1) / DAY_MS),
            period_end => date(sub.current_period_end, &tz),
            pending_plan => sub.pending_plan_id.clone(),
            cancel_at_period_end => sub.cancel_at_period_end,
            notifications_used => usage.notifications,
            notifications_limit => notification_limit,
            notifications_percent => percent(usage.notifications, notification_limit),
            data_used => bytes(usage.data_bytes),
            data_limit => bytes(data_limit),
            data_percent => percent(usage.data_bytes, Some(data_limit)),
            projected_overage => money(capped_overage(plan_id, projected, cap).get()),
            spend_cap => money(cap.get().get()),
            has_card => sub.payment_method_id.is_some(),
            upgrades => upgrades,
            live => sub.status != "canceled",
        });
    }
    let invoice_rows: Vec<_> = state
        .db
        .invoices_of_customer(&user.user.id)
        .await?
        .into_iter()
        .filter(|i| i.status != "draft")
        .collect();
    let invoices: Vec<_> = invoice_rows
        .iter()
        .map(|i| context! { id => i.id.clone(), number => i.number.clone(), date => date(i.created_at, &tz), kind => i.kind.clone(), status => i.status.clone(), total => money(i.total_cents) })
        .collect();
    let payments: Vec<_> = state
        .db
        .payments_of_customer(&user.user.id)
        .await?
        .into_iter()
        .map(|p| {
            let number = invoice_rows.iter().find(|i| i.id == p.invoice_id).map(|i| i.number.clone());
            context! { when => date_time(p.created_at, &tz), invoice => number, amount => money(p.amount_cents), status => p.status, failure => p.failure_message }
        })
        .collect();
    render::ok(
        &visitor,
        "billing.html",
        context! {
            title => "Billing", nav => "billing", subscriptions => subscriptions, invoices => invoices,
            payments => payments, sandbox => state.config.stripe.is_none(),
        },
    )
}

/// `GET /billing/invoices/{invoice_id}`: the invoice as a printable page.
pub async fn invoice_page(
    State(state): State<AppState>,
    visitor: Visitor,
    user: CurrentUser,
    Path(invoice_id): Path<String>,
) -> Result<Response, PageError> {
    let invoice = state
        .db
        .invoice_by_id(&invoice_id)
        .await?
        .filter(|i| i.customer_id == user.user.id && i.status != "draft")
        .ok_or_else(|| PageError::not_found("This invoice"))?;
    let tz = &user.user.time_zone;
    let lines: Vec<_> = state
        .db
        .invoice_lines(&invoice.id)
        .await?
        .into_iter()
        .map(|l| context! { description => l.description, amount => money(l.amount_cents) })
        .collect();
    render::ok(
        &visitor,
        "invoice.html",
        context! {
            title => format!("Invoice {}", invoice.number), nav => "billing",
            number => invoice.number, status => invoice.status, kind => invoice.kind,
            issued => date(invoice.created_at, tz), period_start => date(invoice.period_start, tz),
            period_end => date(invoice.period_end, tz), total => money(invoice.total_cents),
            paid => invoice.paid_at.map(|p| date_time(p, tz)), lines => lines, email => user.user.email.clone(),
        },
    )
}

#[derive(Debug, Deserialize, Default)]
pub struct WelcomeQuery {
    #[serde(default)]
    welcome: Option<String>,
}

fn card_page(
    state: &AppState,
    visitor: &Visitor,
    status: StatusCode,
    welcome: bool,
    error: Option<String>,
) -> Result<Response, PageError> {
    render::page(
        visitor,
        status,
        "payment_method.html",
        context! {
            title => "Payment method", nav => "billing", welcome => welcome, error => error,
            sandbox => state.config.stripe.is_none(),
        },
    )
}

/// `GET /billing/payment-method`.
pub async fn payment_method_page(
    State(state): State<AppState>,
    visitor: Visitor,
    _user: CurrentUser,
    Query(q): Query<WelcomeQuery>,
) -> Result<Response, PageError> {
    card_page(&state, &visitor, StatusCode::OK, q.welcome.is_some(), None)
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
    #[serde(default)]
    welcome: String,
}

/// `POST /billing/payment-method`: saves a test card with the payment provider and makes it the
/// customer's default card (`users.default_payment_method_id`, which the billing engine charges)
/// and the card of each live subscription.
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
    let provider: std::sync::Arc<dyn PaymentProvider> = match state.config.stripe {
        None => std::sync::Arc::new(SandboxProvider::new()),
        Some(_) => {
            smartbox_billing::provider_from_env().map_err(|err| PageError::Internal(err.into()))?
        }
    };
    let card = CardDetails {
        number: form.number.clone(),
        exp_month: form.exp_month.trim().parse().unwrap_or(0),
        exp_year: form.exp_year.trim().parse().unwrap_or(0),
        cvc: form.cvc.trim().to_owned(),
    };
    if card.digits().len() < 12 || !card.digits().chars().all(|c| c.is_ascii_digit()) {
        return card_page(
            &state,
            &visitor,
            StatusCode::BAD_REQUEST,
            welcome,
            Some("Enter the card number.".to_owned()),
        );
    }
    let customer = match &user.user.provider_customer_id {
        Some(id) => CustomerId::new(id.clone()),
        None => {
            let email =
                Email::parse(&user.user.email).map_err(|err| PageError::Internal(err.into()))?;
            let new = NewCustomer {
                email,
                metadata: [("user_id".to_owned(), user.user.id.clone())].into(),
            };
            let id = provider
                .create_customer(&new)
                .await
                .map_err(|err| PageError::Internal(err.into()))?;
            state
                .db
                .set_provider_customer_id(&user.user.id, id.as_str())
                .await?;
            id
        }
    };
    let method = match provider.save_test_card(&customer, &card).await {
        Ok(method) => method,
        Err(ProviderError::CardDeclined(failure)) => {
            return card_page(
                &state,
                &visitor,
                StatusCode::PAYMENT_REQUIRED,
                welcome,
                Some(format!("The card was declined: {}", failure.reason())),
            );
        }
        Err(ProviderError::Rejected(err)) => {
            return card_page(
                &state,
                &visitor,
                StatusCode::BAD_REQUEST,
                welcome,
                Some(err.to_string()),
            );
        }
        Err(err) => return Err(PageError::Internal(err.into())),
    };
    provider
        .set_default_payment_method(&customer, &method)
        .await
        .map_err(|err| PageError::Internal(err.into()))?;
    let now = state.clock.now_ms();
    let mut changes = Changes::new();
    changes.push(Change::SetCustomerPaymentMethod {
        customer_id: user.user.id.clone(),
        payment_method_id: Some(method.as_str().to_owned()),
        changed_at: now / 1000,
    });
    state.db.apply_changes(&changes).await?;
    for sub in state.db.subscriptions_of_customer(&user.user.id).await? {
        if sub.status != "canceled" {
            state
                .db
                .set_subscription_payment_method(&sub.id, method.as_str(), now)
                .await?;
        }
    }
    tracing::info!(customer = %user.user.id, last4 = %card.last4(), "payment method saved");
    Ok(Redirect::to(if welcome { "/dashboard" } else { "/billing" }).into_response())
}
