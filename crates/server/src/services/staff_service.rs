//! Staff suspending a mailbox's service and resuming it (DESIGN §4, §6): support and admin may,
//! with a reason. Suspending moves the mailbox's lifecycle from `active_subscription` to
//! `suspended` through the lifecycle state machine, so it cannot operate (its next event is
//! 402, its heartbeat says `suspended`) while its subscription and photos stay as they are.
//! Resuming takes it back, unless its subscription itself is suspended for an unpaid invoice:
//! paying resumes that one (the billing engine does). Each writes the lifecycle move under a
//! guard with one audit entry (before and after) in one transaction.

use smartbox_domain::{DeviceId, LifecycleEvent};
use smartbox_store::DeviceRow;
use smartbox_store::changes::{Applied, AuditRecord, Change, Changes};

use super::staff_devices::{Reason, require_staff};
use super::{Actor, ServiceError, StaffRole};
use crate::state::AppState;

/// Suspends the mailbox's service: it stops operating until resumed.
pub async fn suspend(
    state: &AppState,
    actor: &Actor,
    id: &DeviceId,
    reason: &str,
) -> Result<DeviceRow, ServiceError> {
    move_lifecycle(state, actor, id, reason, LifecycleEvent::Suspend).await
}

/// Resumes a suspended mailbox whose subscription allows service.
pub async fn resume(
    state: &AppState,
    actor: &Actor,
    id: &DeviceId,
    reason: &str,
) -> Result<DeviceRow, ServiceError> {
    move_lifecycle(state, actor, id, reason, LifecycleEvent::Resume).await
}

async fn move_lifecycle(
    state: &AppState,
    actor: &Actor,
    id: &DeviceId,
    reason: &str,
    event: LifecycleEvent,
) -> Result<DeviceRow, ServiceError> {
    require_staff(actor, StaffRole::Support)?;
    let reason = Reason::parse(reason)?;
    let device = state
        .db
        .device_by_id(id.as_str())
        .await?
        .ok_or_else(|| ServiceError::not_found("mailbox", id.as_str()))?;
    let from = device.lifecycle_state;
    let transition = from.apply(event).map_err(|_| {
        ServiceError::Conflict(match event {
            LifecycleEvent::Suspend => {
                format!("Only a mailbox in service can be suspended; this one is {from}.")
            }
            _ => "Only a suspended mailbox can be resumed.".to_owned(),
        })
    })?;
    let subscription = state
        .db
        .live_subscription_of_device(&smartbox_domain::DeviceId::new(device.id.as_str()))
        .await?;
    if event == LifecycleEvent::Resume
        && !subscription
            .as_ref()
            .is_some_and(|s| s.status.allows_service())
    {
        return Err(ServiceError::Conflict(
            "This mailbox's subscription is suspended for an unpaid invoice (or has ended); \
             it resumes when the invoice is paid."
                .into(),
        ));
    }
    let action = match event {
        LifecycleEvent::Suspend => "service_suspended",
        _ => "service_resumed",
    };
    let mut changes = Changes::new();
    changes.push(Change::MoveDeviceLifecycle {
        device_id: device.id.clone(),
        from,
        to: transition.to,
    });
    changes.push(Change::Audit(AuditRecord {
        at: state.clock.now_ms(),
        actor: actor.audit_name(),
        entity_type: "device".to_owned(),
        entity_id: device.id.clone(),
        action: action.to_owned(),
        detail: serde_json::json!({
            "cause": reason.as_str(),
            "serial": device.serial,
            "subscription_id": subscription.as_ref().map(|s| s.id.as_str()),
            "before": { "lifecycle": from.as_str() },
            "after": { "lifecycle": transition.to.as_str() },
        })
        .to_string(),
    }));
    if state.db.apply_changes(&changes).await? != Applied::Done {
        return Err(ServiceError::Conflict(
            "The mailbox changed meanwhile; reload and try again.".into(),
        ));
    }
    state.devices_changed();
    tracing::info!(serial = %device.serial, action, actor = %actor.audit_name(), "mailbox service changed by staff");
    Ok(DeviceRow {
        lifecycle_state: transition.to,
        ..device
    })
}
