//! Claiming a mailbox: the serial and one-time code printed on the box prove possession; the
//! chosen plan's 7-day trial starts and the mailbox becomes `active_subscription`. Wrong pairs
//! count against the caller's address (rate limited); a mailbox someone claimed first is refused.
//! Staff and the command line activate a mailbox for a customer without the code.

use axum::http::StatusCode;
use smartbox_domain::ids::{ClaimCode, Serial};
use smartbox_domain::{LifecycleEvent, PlanId, SubscriptionId};
use smartbox_store::DeviceRow;

use super::{Actor, ServiceError};
use crate::accounts::rate_limit::{self, Scope};
use crate::accounts::tokens::constant_time_eq;
use crate::provisioning::{self, Activation, ProvisioningError};
use crate::state::AppState;

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

/// Checks a serial and claim code: the device when the pair is right and unclaimed. Every try is
/// admitted against the caller's address first; a right pair is taken back.
pub async fn verify_pair(
    state: &AppState,
    address: &str,
    serial: &str,
    code: &str,
) -> Result<Result<DeviceRow, ClaimRefusal>, ServiceError> {
    let now = state.clock.now_ms();
    let scope = Scope::ClaimAddress(address.to_owned());
    let Some(attempt) = rate_limit::admit(&state.db, &scope, now).await? else {
        return Ok(Err(ClaimRefusal::RateLimited));
    };
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
    let Some(device) = found else {
        return Ok(Err(ClaimRefusal::WrongPair));
    };
    rate_limit::release(&state.db, &attempt).await?;
    if device.lifecycle_state.apply(LifecycleEvent::Claim).is_err() {
        return Ok(Err(ClaimRefusal::AlreadyClaimed));
    }
    Ok(Ok(device))
}

/// A claimed mailbox and its new trialing subscription.
#[derive(Debug, Clone)]
pub struct Claimed {
    pub device: DeviceRow,
    pub subscription_id: SubscriptionId,
}

/// Claims the mailbox with this pair for the customer acting, on `plan`: the pair is checked
/// (again, when it was checked before sign-up), then the trial starts. A customer claims for
/// themselves only.
pub async fn claim(
    state: &AppState,
    actor: &Actor,
    address: &str,
    serial: &str,
    code: &str,
    plan: PlanId,
) -> Result<Result<Claimed, ClaimRefusal>, ServiceError> {
    let Actor::Customer(customer) = actor else {
        return Err(ServiceError::Conflict(
            "only a customer claims a mailbox, for themselves".to_owned(),
        ));
    };
    let device = match verify_pair(state, address, serial, code).await? {
        Ok(device) => device,
        Err(refusal) => return Ok(Err(refusal)),
    };
    let now = state.clock.now_ms();
    let by = actor.audit_name();
    let (subscription_id, claimed) =
        provisioning::start_trial(&state.db, &device.id, customer.as_str(), plan, now, &by).await?;
    state.devices_changed();
    if !claimed {
        return Ok(Err(ClaimRefusal::AlreadyClaimed));
    }
    tracing::info!(serial = %device.serial, %customer, plan = plan.as_str(), "mailbox claimed, trial started");
    Ok(Ok(Claimed {
        device,
        subscription_id: SubscriptionId::new(subscription_id),
    }))
}

/// Activates the mailbox with `serial` for the customer with `email` (an account is made, with a
/// random first password, when there is none) and starts the trial on `plan`: the operator's
/// path, without the claim code. Staff and the command line only.
pub async fn activate(
    state: &AppState,
    actor: &Actor,
    serial: &str,
    email: &str,
    plan: PlanId,
) -> Result<Activation, ServiceError> {
    if let Actor::Customer(_) = actor {
        return Err(ServiceError::Conflict(
            "a customer claims a mailbox with its claim code".to_owned(),
        ));
    }
    let now = state.clock.now_ms();
    let activated =
        provisioning::activate_device(&state.db, serial, email, plan, now, &actor.audit_name())
            .await;
    state.devices_changed();
    activated.map_err(|err| match err {
        ProvisioningError::Invalid(message) => ServiceError::Invalid {
            code: "invalid_activation",
            message,
        },
        ProvisioningError::UnknownDevice(serial) => ServiceError::not_found("mailbox", serial),
        ProvisioningError::Store(err) => ServiceError::Store(err),
        other => ServiceError::Conflict(other.to_string()),
    })
}
