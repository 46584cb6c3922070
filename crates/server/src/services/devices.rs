//! Actions on a mailbox: its name, location and check-in interval. Its return is
//! [`super::returns`] (started by the customer) and [`super::staff_devices::receive_return`].

use smartbox_domain::{DeviceId, LifecycleEvent, LifecycleState, checkin};
use smartbox_store::DeviceRow;
use smartbox_store::changes::{AuditRecord, Change, Changes};

use super::{Actor, ServiceError};
use crate::state::AppState;

/// Longest name or location accepted.
pub const MAX_TEXT: usize = 60;

/// The mailbox `id`, when the actor may see it.
pub async fn get(
    state: &AppState,
    actor: &Actor,
    id: &DeviceId,
) -> Result<DeviceRow, ServiceError> {
    state
        .db
        .device_by_id(id.as_str())
        .await?
        .filter(|d| actor.may_act_for(d.owner_id.as_deref()))
        .ok_or_else(|| ServiceError::not_found("mailbox", id.as_str()))
}

/// The name shown for a mailbox: its own, or its serial.
pub fn display_name(device: &DeviceRow) -> String {
    if device.name.is_empty() {
        format!("Mailbox {}", device.serial)
    } else {
        device.name.clone()
    }
}

/// Whether a mailbox in `lifecycle` can be returned (the lifecycle state machine decides).
pub fn returnable(lifecycle: LifecycleState) -> bool {
    lifecycle.apply(LifecycleEvent::Return).is_ok()
}

/// A new name, location and check-in interval; `None` keeps what is stored.
#[derive(Debug, Clone, Default)]
pub struct DeviceDetails {
    pub name: Option<String>,
    pub location: Option<String>,
    /// Seconds between check-ins, one of [`smartbox_domain::checkin::INTERVALS_S`]; the mailbox
    /// learns it from its next heartbeat's answer.
    pub checkin_interval_s: Option<i64>,
}

/// Renames a mailbox, sets where it is (at most [`MAX_TEXT`] characters as sent, no control
/// characters; stored trimmed) and how often it checks in. Returns the mailbox as stored after the
/// change.
pub async fn update(
    state: &AppState,
    actor: &Actor,
    id: &DeviceId,
    details: DeviceDetails,
) -> Result<DeviceRow, ServiceError> {
    let device = get(state, actor, id).await?;
    // Judged as sent, as the API document's `maxLength` does; stored trimmed.
    for (label, given) in [("name", &details.name), ("location", &details.location)] {
        if let Some(text) = given {
            check_text(label, text)?;
        }
    }
    let name = details
        .name
        .as_deref()
        .map_or(device.name.as_str(), str::trim);
    let location = details
        .location
        .as_deref()
        .map_or(device.location.as_str(), str::trim);
    let interval = details
        .checkin_interval_s
        .unwrap_or(device.checkin_interval_s);
    if interval != device.checkin_interval_s && !checkin::is_allowed(interval) {
        return Err(ServiceError::Invalid {
            code: "invalid_checkin_interval",
            message: "Choose one of the check-in intervals offered (30 minutes to 24 hours)."
                .to_owned(),
        });
    }
    let mut changes = Changes::new();
    changes.push(Change::SetDeviceNameLocation {
        device_id: device.id.clone(),
        name: name.to_owned(),
        location: location.to_owned(),
    });
    if interval != device.checkin_interval_s {
        changes.push(Change::SetCheckinInterval {
            device_id: device.id.clone(),
            interval_s: interval,
        });
    }
    changes.push(Change::Audit(AuditRecord {
        at: state.clock.now_ms(),
        actor: actor.audit_name(),
        entity_type: "device".to_owned(),
        entity_id: device.id.clone(),
        action: "update".to_owned(),
        detail: serde_json::json!({
            "cause": actor.default_reason(),
            "before": { "name": device.name, "location": device.location, "checkin_interval_s": device.checkin_interval_s },
            "after": { "name": name, "location": location, "checkin_interval_s": interval },
        })
        .to_string(),
    }));
    state.db.apply_changes(&changes).await?;
    if interval != device.checkin_interval_s {
        state.devices_changed();
    }
    get(state, actor, id).await
}

/// Why a name or location is refused.
fn check_text(label: &str, text: &str) -> Result<(), ServiceError> {
    let refuse = |message: String| {
        Err(ServiceError::Invalid {
            code: "invalid_device",
            message,
        })
    };
    if text.chars().count() > MAX_TEXT {
        return refuse(format!(
            "The {label} may have at most {MAX_TEXT} characters."
        ));
    }
    if text.chars().any(char::is_control) {
        return refuse(format!("The {label} may not contain control characters."));
    }
    Ok(())
}
