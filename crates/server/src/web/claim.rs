//! Onboarding: claim a mailbox with its serial and the one-time code printed on the box (typed, or
//! from the QR link `/claim?serial=...&code=...`) -> sign up or log in -> choose a plan -> the 7-day
//! trial starts and the mailbox becomes `active_subscription` -> add a payment method.
//!
//! A verified pair waits in a short-lived HttpOnly cookie while the visitor signs up or logs in;
//! it is checked again when the plan is chosen, because someone else may have claimed it meanwhile.

use axum::Form;
use axum::extract::{Query, State};
use axum::http::{Extensions, HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use minijinja::context;
use serde::Deserialize;
use smartbox_domain::ids::{ClaimCode, Serial};
use smartbox_domain::{LifecycleState, PlanId};
use smartbox_store::DeviceRow;

use super::{PageError, render};
use crate::accounts::rate_limit::{self, Scope};
use crate::accounts::session::{append_cookies, cookie, is_https, set_cookie};
use crate::accounts::tokens::constant_time_eq;
use crate::accounts::{CurrentUser, Visitor};
use crate::provisioning;
use crate::state::AppState;

/// The cookie holding a verified `SERIAL:CODE` during sign-up.
pub const PENDING_CLAIM_COOKIE: &str = "sb_claim";

/// Why a claim was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClaimRefusal {
    /// Unknown serial, wrong code, or not a serial/code at all: 404.
    WrongPair,
    /// The mailbox already has an owner: 409.
    AlreadyClaimed,
    /// Too many wrong pairs from this address: 429.
    RateLimited,
}

impl ClaimRefusal {
    /// The status and the message shown to the visitor.
    pub fn status_and_message(&self) -> (StatusCode, &'static str) {
        match self {
            ClaimRefusal::WrongPair => (
                StatusCode::NOT_FOUND,
                "We could not find a mailbox with this serial number and claim code. Check both against the label inside the lid.",
            ),
            ClaimRefusal::AlreadyClaimed => (
                StatusCode::CONFLICT,
                "This mailbox has already been claimed. If it is yours, log in with the account that claimed it, or contact support.",
            ),
            ClaimRefusal::RateLimited => (
                StatusCode::TOO_MANY_REQUESTS,
                "Too many wrong claim codes from your network. Wait 15 minutes and try again.",
            ),
        }
    }
}

/// Checks a serial and claim code: the device when the pair is right and unclaimed. Wrong pairs
/// count against the caller's address.
pub async fn verify_pair(
    state: &AppState,
    address: &str,
    serial: &str,
    code: &str,
) -> Result<Result<DeviceRow, ClaimRefusal>, PageError> {
    let now = state.clock.now_ms();
    let scope = Scope::ClaimAddress(address.to_owned());
    if rate_limit::is_limited(&state.db, &scope, now).await? {
        return Ok(Err(ClaimRefusal::RateLimited));
    }
    let found = match (Serial::parse(serial), ClaimCode::parse(code)) {
        (Ok(serial), Ok(code)) => {
            state
                .db
                .device_by_serial(serial.as_str())
                .await?
                .filter(|device| {
                    let expected = state
                        .master_key
                        .claim_code_hash(serial.as_str(), code.as_str());
                    constant_time_eq(&expected, &device.claim_code_hash)
                })
        }
        _ => None,
    };
    match found {
        None => {
            rate_limit::record_failure(&state.db, &scope, now).await?;
            Ok(Err(ClaimRefusal::WrongPair))
        }
        Some(device) if device.lifecycle_state != LifecycleState::PreActivation => {
            Ok(Err(ClaimRefusal::AlreadyClaimed))
        }
        Some(device) => Ok(Ok(device)),
    }
}

/// The serial of a pending-claim cookie value.
pub fn pending_serial(value: &str) -> Option<String> {
    value
        .split_once(':')
        .map(|(serial, _)| serial.to_owned())
        .filter(|s| !s.is_empty())
}

#[derive(Debug, Deserialize, Default)]
pub struct ClaimQuery {
    #[serde(default)]
    serial: String,
    #[serde(default)]
    code: String,
}

/// `GET /claim`: the form, filled in from the QR link when it carries the pair.
pub async fn claim_page(
    visitor: Visitor,
    Query(q): Query<ClaimQuery>,
) -> Result<Response, PageError> {
    render::ok(
        &visitor,
        "claim.html",
        context! { title => "Activate your mailbox", serial => q.serial, code => q.code, error => None::<String> },
    )
}

#[derive(Debug, Deserialize)]
pub struct ClaimForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    serial: String,
    #[serde(default)]
    code: String,
}

/// `POST /claim`: verifies the pair, then continues to sign-up (or the plan when signed in).
pub async fn claim(
    State(state): State<AppState>,
    visitor: Visitor,
    extensions: Extensions,
    Form(form): Form<ClaimForm>,
) -> Result<Response, PageError> {
    if !visitor.csrf_matches(&form.csrf) {
        return Err(PageError::bad_csrf());
    }
    let address = rate_limit::client_address(&extensions);
    match verify_pair(&state, &address, &form.serial, &form.code).await? {
        Ok(device) => {
            let code = ClaimCode::parse(&form.code)
                .map(|c| c.as_str().to_owned())
                .unwrap_or_default();
            let value = format!("{}:{code}", device.serial);
            let to = if visitor.user().is_some() {
                "/claim/plan"
            } else {
                "/signup"
            };
            let mut response = Redirect::to(to).into_response();
            append_cookies(
                response.headers_mut(),
                [set_cookie(
                    PENDING_CLAIM_COOKIE,
                    &value,
                    3600,
                    is_https(&state),
                )],
            );
            Ok(response)
        }
        Err(refusal) => {
            let (status, message) = refusal.status_and_message();
            render::page(
                &visitor,
                status,
                "claim.html",
                context! { title => "Activate your mailbox", serial => form.serial, code => form.code, error => message },
            )
        }
    }
}

fn plans_context() -> Vec<minijinja::Value> {
    PlanId::ALL
        .iter()
        .map(|id| {
            let plan = id.plan();
            context! {
                id => id.as_str(),
                name => plan_name(*id),
                price_cents => plan.price.get(),
                notifications => plan.notification_limit.map_or_else(|| "Unlimited".to_owned(), |n| n.to_string()),
                data_gb => plan.data_limit_bytes / smartbox_domain::plan::GB,
            }
        })
        .collect()
}

/// The plan's name as shown to customers.
pub fn plan_name(id: PlanId) -> &'static str {
    match id {
        PlanId::Basic => "Basic",
        PlanId::Plus => "Plus",
        PlanId::Premium => "Premium",
    }
}

/// `GET /claim/plan`: choose the plan of the mailbox being claimed.
pub async fn plan_page(
    visitor: Visitor,
    user: CurrentUser,
    headers: HeaderMap,
) -> Result<Response, PageError> {
    let _ = user;
    let Some(serial) = cookie(&headers, PENDING_CLAIM_COOKIE).and_then(|v| pending_serial(&v))
    else {
        return Ok(Redirect::to("/claim").into_response());
    };
    render::ok(
        &visitor,
        "claim_plan.html",
        context! { title => "Choose a plan", serial => serial, plans => plans_context(), error => None::<String> },
    )
}

#[derive(Debug, Deserialize)]
pub struct PlanForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    plan: String,
}

/// `POST /claim/plan`: starts the trial on the chosen plan; the mailbox becomes the customer's.
pub async fn choose_plan(
    State(state): State<AppState>,
    visitor: Visitor,
    user: CurrentUser,
    headers: HeaderMap,
    extensions: Extensions,
    Form(form): Form<PlanForm>,
) -> Result<Response, PageError> {
    if !visitor.csrf_matches(&form.csrf) {
        return Err(PageError::bad_csrf());
    }
    let Some((serial, code)) = cookie(&headers, PENDING_CLAIM_COOKIE)
        .and_then(|v| v.split_once(':').map(|(s, c)| (s.to_owned(), c.to_owned())))
    else {
        return Ok(Redirect::to("/claim").into_response());
    };
    let Ok(plan) = form.plan.parse::<PlanId>() else {
        return render::page(
            &visitor,
            StatusCode::BAD_REQUEST,
            "claim_plan.html",
            context! { title => "Choose a plan", serial => serial, plans => plans_context(), error => "Choose one of the plans." },
        );
    };
    let address = rate_limit::client_address(&extensions);
    let device = match verify_pair(&state, &address, &serial, &code).await? {
        Ok(device) => device,
        Err(refusal) => {
            let (status, message) = refusal.status_and_message();
            return Err(PageError::Status(status, message.to_owned()));
        }
    };
    let now = state.clock.now_ms();
    let (_, claimed) =
        provisioning::start_trial(&state.db, &device.id, &user.user.id, plan, now).await?;
    state.devices_changed();
    if !claimed {
        let (status, message) = ClaimRefusal::AlreadyClaimed.status_and_message();
        return Err(PageError::Status(status, message.to_owned()));
    }
    tracing::info!(serial = %device.serial, customer = %user.user.id, plan = plan.as_str(), "mailbox claimed, trial started");
    let mut response = Redirect::to("/billing/payment-method?welcome=1").into_response();
    response.headers_mut().append(
        header::SET_COOKIE,
        set_cookie(PENDING_CLAIM_COOKIE, "", 0, is_https(&state)),
    );
    Ok(response)
}
