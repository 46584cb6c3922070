//! `/admin/customers?q=`: customers found by email, name, serial or invoice number, a page at a
//! time; `/admin/customers/{id}`: their mailboxes with vitals and schedule-aware status, their
//! subscriptions with this period's usage against the plan, invoices, payments and audit trail.

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use minijinja::{Value, context};
use serde::Deserialize;
use smartbox_domain::{PaymentStatus, PlanId, UserId};

use super::{Staff, templates};
use crate::accounts::tokens::random_token;
use crate::services::{StaffRole, staff_billing};
use crate::state::AppState;
use crate::web::PageError;
use crate::web::format::{bytes, date_time, money};

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
                lifecycle => d.lifecycle_state.as_str(), status => crate::web::status_line::status_line(d, Default::default(), now, "UTC").text,
                battery => d.battery_percentage, signal => d.signal_dbm,
                firmware => d.firmware_version.clone().unwrap_or_default(),
            }
        })
        .collect();
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
        subscriptions.push(context! {
            id => s.id, plan => s.plan_id, status => s.status.as_str(),
            period => format!("{} to {}", date_time(s.current_period_start, "UTC"), date_time(s.current_period_end, "UTC")),
            notifications => usage.notifications,
            notification_limit => plan.and_then(|p| p.notification_limit).map_or("unlimited".to_owned(), |l| l.to_string()),
            data => bytes(usage.data_bytes),
            data_limit => plan.map_or(String::new(), |p| bytes(i64::try_from(p.data_limit_bytes).unwrap_or(i64::MAX))),
            cancel_at_period_end => s.cancel_at_period_end,
        });
    }
    let invoices: Vec<Value> = state
        .db
        .invoices_of_customer(&UserId::new(user.id.as_str()))
        .await?
        .iter()
        .map(|i| {
            context! { id => i.id, number => i.number, status => i.status.as_str(), total => money(i.total_cents), issued => date_time(i.created_at, "UTC") }
        })
        .collect();
    let may_refund = staff.role == StaffRole::Admin;
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
        .audit_of_customer(&user.id, 200)
        .await?
        .iter()
        .map(|e| {
            context! { when => date_time(e.at, "UTC"), actor => e.actor, entity => format!("{} {}", e.entity_type, e.entity_id), action => e.action, detail => e.detail }
        })
        .collect();
    templates::page(
        &staff,
        StatusCode::OK,
        "admin/customer.html",
        context! {
            title => user.email.clone(), nav => "customers",
            notice => done.refunded.map(|cents| format!("Refunded {}.", money(cents))),
            customer => context! { id => user.id, email => user.email, name => user.display_name, since => date_time(user.created_at, "UTC") },
            devices => devices, subscriptions => subscriptions, invoices => invoices, payments => payments, audit => audit,
        },
    )
}
