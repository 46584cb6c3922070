//! Staff actions on a mailbox's life (DESIGN §4, §6): mark it shipped, receive it back,
//! decommission it for good, refurbish a returned one for its next customer. Support and admin
//! may take them all (the CLI too, as an operator); each needs a reason, goes through the
//! lifecycle state machine, writes its change and one audit entry in one transaction and makes
//! the device API forget its cached view of the mailbox.

use smartbox_billing::BillingError;
use smartbox_billing::engine::{DeviceReturned, ReturnCause};
use smartbox_domain::{DeviceId, LifecycleEffect, LifecycleEvent, LifecycleState, Serial};
use smartbox_store::DeviceRow;
use smartbox_store::changes::{Applied, AuditRecord, Change, Changes, DeviceMark};

use super::{Actor, ServiceError, StaffRole};
use crate::accounts::mail::{self, Mail};
use crate::provisioning::{self, Credentials, FactoryRecord, ImportError};
use crate::state::AppState;

/// Longest reason accepted.
pub const MAX_REASON: usize = 500;

/// A staff member's reason for an action: trimmed, 3 to [`MAX_REASON`] characters, no control
/// characters but line breaks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reason(String);

impl Reason {
    pub fn parse(text: &str) -> Result<Reason, ServiceError> {
        let text = text.trim();
        let refuse = |message: &str| {
            Err(ServiceError::Invalid {
                code: "invalid_reason",
                message: message.to_owned(),
            })
        };
        if text.chars().count() < 3 {
            return refuse("Say why (a reason of at least 3 characters is required).");
        }
        if text.chars().count() > MAX_REASON {
            return refuse("The reason may have at most 500 characters.");
        }
        if text
            .chars()
            .any(|c| c.is_control() && c != '\n' && c != '\r')
        {
            return refuse("The reason may not contain control characters.");
        }
        Ok(Reason(text.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Refuses unless the actor is staff with at least `needed` (admin covers support) or the
/// command line; a customer learns nothing (not found).
pub fn require_staff(actor: &Actor, needed: StaffRole) -> Result<(), ServiceError> {
    match actor {
        Actor::Staff { role, .. } if *role == StaffRole::Admin || *role == needed => Ok(()),
        Actor::Staff { .. } => Err(ServiceError::Forbidden(
            "Only an admin may do this.".to_owned(),
        )),
        Actor::Cli => Ok(()),
        Actor::Customer(_) | Actor::Job(_) => Err(ServiceError::not_found("page", "")),
    }
}

/// The mailbox `id` for a staff action.
async fn device(state: &AppState, id: &DeviceId) -> Result<DeviceRow, ServiceError> {
    state
        .db
        .device_by_id(id.as_str())
        .await?
        .ok_or_else(|| ServiceError::not_found("mailbox", id.as_str()))
}

/// The mailbox with `serial` (the CLI names boxes by serial).
pub async fn by_serial(state: &AppState, serial: &str) -> Result<DeviceRow, ServiceError> {
    let serial = Serial::parse(serial).map_err(|err| ServiceError::Invalid {
        code: "invalid_serial",
        message: err.to_string(),
    })?;
    state
        .db
        .device_by_serial(serial.as_str())
        .await?
        .ok_or_else(|| ServiceError::not_found("mailbox", serial.as_str()))
}

/// One audit entry about a device, with the staff member's reason as its cause.
fn audit(
    state: &AppState,
    actor: &Actor,
    device: &DeviceRow,
    action: &str,
    reason: &Reason,
    detail: serde_json::Value,
) -> Change {
    let mut detail = detail;
    if let Some(map) = detail.as_object_mut() {
        map.insert("cause".to_owned(), reason.as_str().into());
        map.insert("serial".to_owned(), device.serial.clone().into());
    }
    Change::Audit(AuditRecord {
        at: state.clock.now_ms(),
        actor: actor.audit_name(),
        entity_type: "device".to_owned(),
        entity_id: device.id.clone(),
        action: action.to_owned(),
        detail: detail.to_string(),
    })
}

/// Writes a staff date (shipped, return received) with its audit entry. Shipping applies to a
/// mailbox not yet claimed; receiving to one the customer returned (a box that arrives before
/// its customer said so is returned here first, which ends its subscription).
async fn mark(
    state: &AppState,
    actor: &Actor,
    id: &DeviceId,
    reason: &str,
    mark: DeviceMark,
) -> Result<DeviceRow, ServiceError> {
    require_staff(actor, StaffRole::Support)?;
    let reason = Reason::parse(reason)?;
    let mut device = device(state, id).await?;
    let (action, allowed) = match mark {
        DeviceMark::Shipped => (
            "shipped",
            device.lifecycle_state == LifecycleState::PreActivation,
        ),
        DeviceMark::ReturnReceived => ("return_received", true),
    };
    if mark == DeviceMark::ReturnReceived && device.lifecycle_state != LifecycleState::Returned {
        if device
            .lifecycle_state
            .apply(LifecycleEvent::Return)
            .is_err()
        {
            return Err(ServiceError::Conflict(format!(
                "A {} mailbox cannot be received as a return.",
                device.lifecycle_state
            )));
        }
        take_out(state, actor, &device, &reason, None).await?;
        device = self::device(state, id).await?;
    }
    if !allowed {
        return Err(ServiceError::Conflict(format!(
            "Only a mailbox waiting for its customer can be shipped; this one is {}.",
            device.lifecycle_state
        )));
    }
    let now = state.clock.now_ms();
    let mut changes = Changes::new();
    changes.push(Change::MarkDevice {
        device_id: device.id.clone(),
        mark,
        at: now,
    });
    // The customer's open return (its RMA) closes with the receipt, in the same change set.
    let open_return = match mark {
        DeviceMark::ReturnReceived => {
            state
                .db
                .open_return_of_device(&DeviceId::new(device.id.as_str()))
                .await?
        }
        DeviceMark::Shipped => None,
    };
    if let Some(open) = &open_return {
        changes.push(Change::CloseReturn {
            id: open.id.clone(),
            received: true,
            at: now,
        });
    }
    changes.push(audit(
        state,
        actor,
        &device,
        action,
        &reason,
        serde_json::json!({
            "lifecycle": device.lifecycle_state.as_str(),
            "rma": open_return.as_ref().map(|r| r.rma.as_str()),
        }),
    ));
    state.db.apply_changes(&changes).await?;
    Ok(device)
}

/// The most serials one import takes.
pub const MAX_IMPORT: usize = 10_000;

/// Imports a factory batch (a CSV with a `serial` column) as `pre_activation` mailboxes, all or
/// none, exactly as `smartbox devices import`: their factory records (secret and claim code,
/// shown once) come back.
pub async fn import(
    state: &AppState,
    actor: &Actor,
    csv: &str,
) -> Result<Vec<FactoryRecord>, ServiceError> {
    require_staff(actor, StaffRole::Support)?;
    let invalid = |message: String| ServiceError::Invalid {
        code: "invalid_csv",
        message,
    };
    let serials = provisioning::read_serials(csv.as_bytes()).map_err(|e| invalid(e.to_string()))?;
    if serials.is_empty() {
        return Err(invalid(
            "The CSV has no serials under its `serial` header.".into(),
        ));
    }
    if serials.len() > MAX_IMPORT {
        return Err(invalid(format!(
            "One import takes at most {MAX_IMPORT} serials; split the batch."
        )));
    }
    let records =
        provisioning::import_devices(&state.db, &state.master_key, &serials, state.clock.now_ms())
            .await
            .map_err(|err| match err {
                ImportError::Store(err) => ServiceError::Store(err),
                other => invalid(other.to_string()),
            })?;
    tracing::info!(count = records.len(), actor = %actor.audit_name(), "factory batch imported");
    Ok(records)
}

/// Records that the mailbox left the warehouse (it must be waiting for its customer).
pub async fn mark_shipped(
    state: &AppState,
    actor: &Actor,
    id: &DeviceId,
    reason: &str,
) -> Result<DeviceRow, ServiceError> {
    mark(state, actor, id, reason, DeviceMark::Shipped).await
}

/// Records that a returned mailbox arrived at the warehouse; one still in service is returned
/// first (its subscription ends at once).
pub async fn receive_return(
    state: &AppState,
    actor: &Actor,
    id: &DeviceId,
    reason: &str,
) -> Result<DeviceRow, ServiceError> {
    mark(state, actor, id, reason, DeviceMark::ReturnReceived).await
}

/// Returns or decommissions through the billing engine (the live subscription ends with it).
async fn take_out(
    state: &AppState,
    actor: &Actor,
    device: &DeviceRow,
    reason: &Reason,
    revoked_secret: Option<Vec<u8>>,
) -> Result<DeviceReturned, ServiceError> {
    let by = actor.audit_name();
    let cause = ReturnCause {
        actor: &by,
        reason: reason.as_str(),
    };
    let engine = state.billing();
    let now = state.clock.now();
    let result = match revoked_secret {
        Some(sealed) => {
            engine
                .decommission_device(&device.id, now, cause, sealed)
                .await
        }
        None => engine.return_device(&device.id, now, cause).await,
    };
    let done = result.map_err(|err| match err {
        BillingError::Conflict(message) => ServiceError::Conflict(message),
        other => other.into(),
    })?;
    state.devices_changed();
    Ok(done)
}

/// Takes the mailbox out of service for good: `decommissioned`, its secret replaced by one
/// nobody holds (the next signed request is 401), its live subscription ended; its owner is
/// told by email.
pub async fn decommission(
    state: &AppState,
    actor: &Actor,
    id: &DeviceId,
    reason: &str,
) -> Result<DeviceReturned, ServiceError> {
    require_staff(actor, StaffRole::Support)?;
    let reason = Reason::parse(reason)?;
    let device = device(state, id).await?;
    let transition = device
        .lifecycle_state
        .apply(LifecycleEvent::Decommission)
        .map_err(|_| ServiceError::Conflict("This mailbox is decommissioned already.".into()))?;
    let revoked = transition
        .effects
        .contains(&LifecycleEffect::RevokeCredentials)
        .then(|| {
            let serial = Serial::parse(&device.serial).map_err(|err| ServiceError::Invalid {
                code: "invalid_serial",
                message: err.to_string(),
            })?;
            Ok::<_, ServiceError>(Credentials::new(&state.master_key, &serial).secret_ciphertext)
        })
        .transpose()?;
    let done = take_out(state, actor, &device, &reason, revoked).await?;
    tracing::info!(serial = %device.serial, actor = %actor.audit_name(), "mailbox decommissioned");
    if let Some(owner) = &device.owner_id
        && let Some(user) = state.db.user_by_id(owner).await?
    {
        mail::send(
            &state.config,
            Mail {
                to: user.email,
                subject: format!("Your mailbox {} was taken out of service", device.serial),
                body: format!(
                    "Your Smart Mailbox {} ({}) was taken out of service by our support team and \
                     no longer connects. Its subscription has ended; you are not charged for it \
                     again.\n\nYour photos stay in your account as before. If you did not expect \
                     this, reply to this email.\n",
                    super::devices::display_name(&device),
                    device.serial
                ),
            },
        )
        .await;
    }
    Ok(done)
}

/// Refurbishes a returned mailbox for its next customer: `pre_activation` again with a new
/// secret and claim code (returned here, to be flashed and printed; shown once), the old secret
/// refused from now on, and the previous customer's link cleared (owner, name, location, WiFi,
/// notification preferences). Their mail events and photos stay theirs: sealed under their key,
/// in their export, and never shown to the next owner (see docs/operations.md).
pub async fn refurbish(
    state: &AppState,
    actor: &Actor,
    id: &DeviceId,
    reason: &str,
) -> Result<FactoryRecord, ServiceError> {
    require_staff(actor, StaffRole::Support)?;
    let reason = Reason::parse(reason)?;
    let device = device(state, id).await?;
    let transition = device
        .lifecycle_state
        .apply(LifecycleEvent::Refurbish)
        .map_err(|_| {
            ServiceError::Conflict(format!(
                "Only a returned mailbox can be refurbished; this one is {}.",
                device.lifecycle_state
            ))
        })?;
    if !transition
        .effects
        .contains(&LifecycleEffect::IssueNewSecretAndClaimCode)
    {
        return Err(ServiceError::Conflict(
            "The lifecycle gave no new credentials.".into(),
        ));
    }
    let serial = Serial::parse(&device.serial).map_err(|err| ServiceError::Invalid {
        code: "invalid_serial",
        message: err.to_string(),
    })?;
    let credentials = Credentials::new(&state.master_key, &serial);
    let mut changes = Changes::new();
    changes.push(Change::RefurbishDevice {
        device_id: device.id.clone(),
        secret_ciphertext: credentials.secret_ciphertext,
        claim_code_hash: credentials.claim_code_hash,
    });
    changes.push(audit(
        state,
        actor,
        &device,
        LifecycleEvent::Refurbish.name(),
        &reason,
        serde_json::json!({
            "before": { "lifecycle": device.lifecycle_state.as_str(), "owner_id": device.owner_id },
            "after": { "lifecycle": transition.to.as_str(), "owner_id": null },
        }),
    ));
    if state.db.apply_changes(&changes).await? != Applied::Done {
        return Err(ServiceError::Conflict(
            "The mailbox changed meanwhile; reload and try again.".into(),
        ));
    }
    state.devices_changed();
    tracing::info!(serial = %device.serial, actor = %actor.audit_name(), "mailbox refurbished");
    Ok(credentials.record)
}

#[cfg(test)]
mod tests {
    use super::*;
    use smartbox_domain::UserId;

    #[test]
    fn a_reason_is_required_and_bounded() {
        assert!(Reason::parse("  ").is_err());
        assert!(Reason::parse("ok").is_err());
        assert!(Reason::parse(&"x".repeat(501)).is_err());
        assert!(Reason::parse("lost\u{7}").is_err());
        assert_eq!(
            Reason::parse(" lost in transit \n").unwrap().as_str(),
            "lost in transit"
        );
    }

    #[test]
    fn support_acts_on_devices_only_admin_on_money_and_customers_not_at_all() {
        let staff = |role| Actor::Staff {
            id: UserId::new("s"),
            role,
        };
        assert!(require_staff(&staff(StaffRole::Support), StaffRole::Support).is_ok());
        assert!(require_staff(&staff(StaffRole::Admin), StaffRole::Support).is_ok());
        assert!(require_staff(&staff(StaffRole::Admin), StaffRole::Admin).is_ok());
        assert!(matches!(
            require_staff(&staff(StaffRole::Support), StaffRole::Admin),
            Err(ServiceError::Forbidden(_))
        ));
        assert!(matches!(
            require_staff(&Actor::customer("c"), StaffRole::Support),
            Err(ServiceError::NotFound { .. })
        ));
        assert!(require_staff(&Actor::Cli, StaffRole::Admin).is_ok());
    }
}
