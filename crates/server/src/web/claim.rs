//! Onboarding: claim a mailbox with its serial and the one-time code printed on the box (typed, or
//! from the QR link `/claim?serial=...&code=...`) -> sign up or log in -> choose a plan -> the 7-day
//! trial starts and the mailbox becomes `active_subscription` -> add a payment method.
//!
//! A verified pair waits in a short-lived HttpOnly cookie while the visitor signs up or logs in;
//! it is checked again when the plan is chosen, because someone else may have claimed it meanwhile.
//! The checks and the claim itself are `services::claims`, shared with `POST /api/v1/claims`.

use axum::Form;
use axum::extract::{Query, State};
use axum::http::{Extensions, HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use minijinja::context;
use serde::Deserialize;
use smartbox_domain::PlanId;
use smartbox_domain::ids::ClaimCode;

use super::{PageError, render};
use crate::accounts::rate_limit;
use crate::accounts::session::{append_cookies, cookie, is_https, set_cookie};
use crate::accounts::{CurrentUser, Visitor};
use crate::services::Actor;
use crate::services::claims::{self, verify_pair};
use crate::state::AppState;

/// The cookie holding a verified `SERIAL:CODE` during sign-up.
pub const PENDING_CLAIM_COOKIE: &str = "sb_claim";

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
                overage => super::words::overage(*id),
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
    let actor = Actor::customer(user.user.id.as_str());
    if let Err(refusal) = claims::claim(&state, &actor, &address, &serial, &code, plan).await? {
        let (status, message) = refusal.status_and_message();
        return Err(PageError::Status(status, message.to_owned()));
    }
    let mut response = Redirect::to("/billing/payment-method?welcome=1").into_response();
    response.headers_mut().append(
        header::SET_COOKIE,
        set_cookie(PENDING_CLAIM_COOKIE, "", 0, is_https(&state)),
    );
    Ok(response)
}
