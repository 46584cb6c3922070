//! Returning a mailbox: the customer starts a return with a reason and gets an RMA number, the
//! instructions and a packing slip (and an email of them); the mailbox stays in service and
//! its subscription runs until the warehouse receives the box, so until then the customer may
//! cancel the return and nothing is lost. On receipt (staff,
//! [`super::staff_devices::receive_return`]) the return closes and the mailbox is returned (its
//! subscription ends).

use smartbox_domain::{ClaimCode, DeviceId};
use smartbox_store::ReturnRow;
use smartbox_store::changes::{Applied, AuditRecord, Change, Changes};

use super::devices::{display_name, get, returnable};
use super::{Actor, ServiceError};
use crate::accounts::mail::{self, Mail};
use crate::state::AppState;

/// Longest reason accepted.
pub const MAX_REASON: usize = 500;

/// The reasons offered on the form (any other text is accepted too).
pub const REASONS: &[&str] = &[
    "I no longer need it",
    "It does not work as expected",
    "The battery runs out too fast",
    "Poor mobile signal at my mailbox",
    "Moving house",
    "Other",
];

/// The address the box goes back to.
pub const WAREHOUSE: &str = "Smart Mailbox Returns, 12 Depot Road, Springfield 01010";

/// `RMA-` and 8 characters of Crockford base32 (the claim code's alphabet: read off a slip, no
/// digit is mistaken for a letter).
fn new_rma() -> String {
    format!(
        "RMA-{}",
        ClaimCode::from_random_bytes(rand::random()).as_str()
    )
}

fn audit(state: &AppState, actor: &Actor, r: &ReturnRow, action: &str) -> Change {
    Change::Audit(AuditRecord {
        at: state.clock.now_ms(),
        actor: actor.audit_name(),
        entity_type: "device".to_owned(),
        entity_id: r.device_id.clone(),
        action: action.to_owned(),
        detail:
            serde_json::json!({ "cause": actor.default_reason(), "rma": r.rma, "reason": r.reason })
                .to_string(),
    })
}

/// The open return of mailbox `id`, when the actor may see the mailbox.
pub async fn open_return(
    state: &AppState,
    actor: &Actor,
    id: &DeviceId,
) -> Result<Option<ReturnRow>, ServiceError> {
    let device = get(state, actor, id).await?;
    Ok(state
        .db
        .open_return_of_device(&DeviceId::new(device.id.as_str()))
        .await?)
}

/// Starts a return of mailbox `id` for `reason` and emails the instructions.
pub async fn start(
    state: &AppState,
    actor: &Actor,
    id: &DeviceId,
    reason: &str,
) -> Result<ReturnRow, ServiceError> {
    let device = get(state, actor, id).await?;
    // Counted as sent, as the API's `maxLength` counts it.
    let too_long = reason.chars().count() > MAX_REASON;
    let reason = reason.trim();
    if reason.is_empty() || too_long {
        return Err(ServiceError::Invalid {
            code: "invalid_reason",
            message: format!("Say why you return the mailbox (at most {MAX_REASON} characters)."),
        });
    }
    if !returnable(device.lifecycle_state) {
        return Err(ServiceError::Conflict(
            "This mailbox cannot be returned in its current state.".to_owned(),
        ));
    }
    if state
        .db
        .open_return_of_device(&DeviceId::new(device.id.as_str()))
        .await?
        .is_some()
    {
        return Err(ServiceError::Conflict(
            "A return of this mailbox is already started.".to_owned(),
        ));
    }
    let owner = device
        .owner_id
        .clone()
        .ok_or_else(|| ServiceError::not_found("mailbox", id.as_str()))?;
    let row = ReturnRow {
        id: uuid::Uuid::now_v7().to_string(),
        device_id: device.id.clone(),
        customer_id: owner.clone(),
        rma: new_rma(),
        reason: reason.to_owned(),
        started_at: state.clock.now_ms(),
        canceled_at: None,
        received_at: None,
    };
    let mut changes = Changes::new();
    changes.push(Change::InsertReturn(row.clone()));
    changes.push(audit(state, actor, &row, "return_started"));
    match state.db.apply_changes(&changes).await {
        Ok(_) => {}
        Err(smartbox_store::StoreError::Conflict(_)) => {
            return Err(ServiceError::Conflict(
                "A return of this mailbox is already started.".to_owned(),
            ));
        }
        Err(err) => return Err(err.into()),
    }
    if let Some(user) = state.db.user_by_id(&owner).await? {
        let name = display_name(&device);
        let slip = format!(
            "{}/devices/{}/return/slip",
            state.config.public_url.trim_end_matches('/'),
            device.id
        );
        mail::send(
            &state.config,
            Mail {
                to: user.email,
                subject: format!("Your return {} of {name}", row.rma),
                body: format!(
                    "You started the return of {name} (serial {}).\n\n{}\n\nPacking slip: {slip}\n\n\
                     The mailbox keeps working until we receive it; until then you can cancel the \
                     return on its page.\n",
                    device.serial,
                    instructions(&row.rma)
                ),
            },
        )
        .await;
    }
    tracing::info!(serial = %device.serial, rma = %row.rma, "return started");
    Ok(row)
}

/// What to do with the box, step by step.
pub fn steps(rma: &str) -> Vec<String> {
    vec![
        "Take the batteries out and pack the mailbox in any sturdy box.".to_owned(),
        format!("Print the packing slip, put it in the box and write {rma} on the outside."),
        format!("Send it to: {WAREHOUSE}. Your subscription ends when we receive it."),
    ]
}

/// The steps as numbered lines, for the email.
pub fn instructions(rma: &str) -> String {
    steps(rma)
        .iter()
        .enumerate()
        .map(|(i, step)| format!("{}. {step}", i + 1))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Cancels the open return of mailbox `id` (only before the warehouse received it).
pub async fn cancel(
    state: &AppState,
    actor: &Actor,
    id: &DeviceId,
) -> Result<ReturnRow, ServiceError> {
    let mut row = open_return(state, actor, id).await?.ok_or_else(|| {
        ServiceError::Conflict("This mailbox has no return to cancel.".to_owned())
    })?;
    let at = state.clock.now_ms();
    let mut changes = Changes::new();
    changes.push(Change::CloseReturn {
        id: row.id.clone(),
        received: false,
        at,
    });
    changes.push(audit(state, actor, &row, "return_canceled"));
    if let Applied::Stale(_) = state.db.apply_changes(&changes).await? {
        return Err(ServiceError::Conflict(
            "This return was already closed.".to_owned(),
        ));
    }
    row.canceled_at = Some(at);
    Ok(row)
}
