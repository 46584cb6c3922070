//! `/admin/customers?q=`: customers found by email, name, serial or invoice number, a page at a
//! time; `/admin/customers/{id}`: their mailboxes with vitals and schedule-aware status, their
//! subscriptions with this period's usage against the plan and the staff actions on them
//! (`account_actions`), invoices, payments, recent notification deliveries and audit trail.

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use minijinja::{Value, context};
use serde::Deserialize;
use smartbox_domain::{
    InvoiceStatus, PaymentStatus, PlanId, SubscriptionId, SubscriptionStatus, UserId,
};

use super::{Staff, templates};
use crate::accounts::tokens::random_token;
use crate::services::{StaffRole, staff_billing};
use crate::state::AppState;
use crate::web::PageError;
use crate::web::format::{bytes, date_time, money};
use crate::web::words;

/// Customers per search page.
pub const PAGE_SIZE: i64 = 50;

/// The search and its page (1-based).
#[derive(Debug, Deserialize, Default)]
pub struct SearchQuery {
    #[serde(default)]
    pub q: String,
    #[serde(default)]
    pub page: Option<i64>,
}

impl SearchQuery {
    /// The page number, at least 1; a page past 10,000 is refused.
    pub fn page(&self) -> Result<i64, String> {
        match self.page.unwrap_or(1) {
            page @ 1..=10_000 => Ok(page),
            _ => Err("The page must be between 1 and 10000.".to_owned()),
        }
    }
}

/// `GET /admin/customers`.
pub async fn list(
    State(state): State<AppState>,
    staff: Staff,
    Query(query): Query<SearchQuery>,
) -> Result<Response, PageError> {
    let page = query
        .page()
        .map_err(|message| PageError::Status(StatusCode::BAD_REQUEST, message))?;
    let rows = state
        .db
        .customers_page(&query.q, PAGE_SIZE + 1, (page - 1) * PAGE_SIZE)
        .await?;
    let more = rows.len() as i64 > PAGE_SIZE;
    let customers: Vec<Value> = rows
        .iter()
        .take(PAGE_SIZE as usize)
        .map(|c| {
            context! { id => c.id, email => c.email, name => c.display_name, since => date_time(c.created_at, "UTC"), devices => c.devices }
        })
        .collect();
    templates::page(
        &staff,
        StatusCode::OK,
        "admin/customers.html",
        context! {
            title => "Customers", nav => "customers", notice => None::<String>,
            q => query.q, customers => customers, page => page,
            previous => (page > 1).then_some(page - 1), next => more.then_some(page + 1),
        },
    )
}

#[derive(Debug, Deserialize, Default)]
pub struct Done {
    #[serde(default)]
    refunded: Option<i64>,
    /// What a staff action on this page did (see [`notice`]).
    #[serde(default)]
    done: String,
}

/// Notification deliveries shown on a customer's page.
pub const DELIVERIES_SHOWN: i64 = 30;

/// The page's notice after a staff action.
fn notice(done: &Done) -> Option<String> {
    if let Some(cents) = done.refunded {
        return Some(format!("Refunded {}.", money(cents)));
    }
    let text = match done.done.as_str() {
        "cancel_at_period_end" => "The subscription will end at the end of its period.",
        "ended" => "The subscription has ended; the mailbox no longer operates.",
        "cancel_withdrawn" => "The cancel was taken back; the subscription renews as usual.",
        "plan_changed" => "The plan was changed.",
        "credited" => "The credit was added; the next invoice takes it.",
        "invoice_resent" => "The invoice email is on its way.",
        "reset_sent" => "A password-reset link was emailed to the customer.",
        _ => return None,
    };
    Some(text.to_owned())
}

/// `GET /admin/customers/{id}`.
pub async fn page(
    State(state): State<AppState>,
    staff: Staff,
    Path(customer_id): Path<String>,
    Query(done): Query<Done>,
) -> Result<Response, PageError> {
    let user = state
        .db
        .user_by_id(&customer_id)
        .await?
        .filter(|u| !crate::accounts::Role::parse(&u.role).is_staff())
        .ok_or_else(|| PageError::not_found("This customer"))?;
    let now = state.clock.now_ms();
    let devices: Vec<Value> = state
        .db
        .devices_of_owner(&user.id)
        .await?
        .iter()
        .map(|d| {
            context! {
                id => d.id, serial => d.serial, name => crate::services::devices::display_name(d),
                lifecycle => words::lifecycle(d.lifecycle_state), status => crate::web::status_line::status_line(d, Default::default(), now, "UTC").text,
                battery => d.battery_percentage, signal => d.signal_dbm,
                firmware => d.firmware_version.clone().unwrap_or_default(),
            }
        })
        .collect();
    let is_admin = staff.role == StaffRole::Admin;
    let mut subscriptions = Vec::new();
    for s in state
        .db
        .subscriptions_of_customer(&UserId::new(user.id.as_str()))
        .await?
    {
        let usage = state
            .db
            .usage(&s.id, s.current_period_start, s.current_period_end)
            .await?;
        let plan = s.plan_id.parse::<PlanId>().ok().map(PlanId::plan);
        let pending_credit: i64 = state
            .db
            .pending_credits(&SubscriptionId::new(s.id.clone()))
            .await?
            .iter()
            .map(|c| c.amount_cents)
            .sum();
        subscriptions.push(context! {
            id => s.id, plan => s.plan_id, status => s.status.as_str(),
            period => format!("{} to {}", date_time(s.current_period_start, "UTC"), date_time(s.current_period_end, "UTC")),
            notifications => usage.notifications,
            notification_limit => plan.and_then(|p| p.notification_limit).map_or("unlimited".to_owned(), |l| l.to_string()),
            data => bytes(usage.data_bytes),
            data_limit => plan.map_or(String::new(), |p| bytes(i64::try_from(p.data_limit_bytes).unwrap_or(i64::MAX))),
            cancel_at_period_end => s.cancel_at_period_end,
            live => s.status != SubscriptionStatus::Canceled,
            status_words => words::subscription(s.status),
            pending_plan => s.pending_plan_id,
            pending_credit => (pending_credit > 0).then(|| money(pending_credit)),
            may_change_money => is_admin,
            other_plans => PlanId::ALL.iter().filter(|p| p.as_str() != s.plan_id).map(|p| context! { id => p.as_str(), name => words::capital(p.as_str()) }).collect::<Vec<_>>(),
        });
    }
    let invoices: Vec<Value> = state
        .db
        .invoices_of_customer(&UserId::new(user.id.as_str()))
        .await?
        .iter()
        .map(|i| {
            context! { id => i.id, number => i.number, status => words::invoice(i.status), total => money(i.total_cents), issued => date_time(i.created_at, "UTC"),
                resendable => i.status != InvoiceStatus::Draft, key => random_token() }
        })
        .collect();
    let may_refund = is_admin;
    let mut payments: Vec<Value> = Vec::new();
    for p in state
        .db
        .payments_of_customer(&UserId::new(user.id.as_str()))
        .await?
    {
        let refunded = staff_billing::refunded_so_far(&state, &p).await?;
        let refundable =
            may_refund && p.status == PaymentStatus::Succeeded && p.amount_cents > refunded;
        payments.push(context! {
            id => p.id, amount => money(p.amount_cents), status => p.status.as_str(), provider => p.provider,
            when => date_time(p.created_at, "UTC"), refunded => (refunded > 0).then(|| money(refunded)),
            refundable => refundable, left => money(p.amount_cents - refunded), key => random_token(),
        });
    }
    let audit: Vec<Value> = state
        .db
        .audit_of_customer(&UserId::new(&user.id), 200)
        .await?
        .iter()
        .map(|e| {
            context! { when => date_time(e.at, "UTC"), actor => e.actor, entity => format!("{} {}", e.entity_type, e.entity_id), action => e.action, detail => e.detail }
        })
        .collect();
    let deliveries: Vec<Value> = state
        .db
        .recent_deliveries_of_user(&UserId::new(user.id.clone()), DELIVERIES_SHOWN)
        .await?
        .iter()
        .map(|d| {
            context! { when => date_time(d.created_at, "UTC"), channel => words::channel(&d.channel), outcome => words::delivery(&d.status),
                reason => d.reason, attempts => d.attempts }
        })
        .collect();
    templates::page(
        &staff,
        StatusCode::OK,
        "admin/customer.html",
        context! {
            title => user.email.clone(), nav => "customers",
            notice => notice(&done), deliveries => deliveries,
            customer => context! { id => user.id, email => user.email, name => user.display_name, since => date_time(user.created_at, "UTC") },
            devices => devices, subscriptions => subscriptions, invoices => invoices, payments => payments, audit => audit,
        },
    )
}
