//! A mailbox's WiFi credentials, typed into the portal or sent to the JSON API: checked, sealed
//! with the master key (bound to the mailbox), written with their audit entry in one
//! transaction, and sent to the mailbox by the device API at its next heartbeat
//! ([`crate::device_wifi`]). The passphrase is never logged nor audited.

use smartbox_domain::DeviceId;
use smartbox_protocol::wifi::WifiCredentials;
use smartbox_store::changes::{AuditRecord, Change, Changes};

use super::devices::get;
use super::{Actor, ServiceError};
use crate::device_wifi;
use crate::state::AppState;

/// What a mailbox holds: the network's name and the mailbox's word on it, in plain words.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WifiStatus {
    pub ssid: String,
    pub note: String,
}

/// The credentials saved for mailbox `id`, when the actor may see it (`None`: none saved).
pub async fn status(
    state: &AppState,
    actor: &Actor,
    id: &DeviceId,
) -> Result<Option<WifiStatus>, ServiceError> {
    let device = get(state, actor, id).await?;
    Ok(state
        .db
        .device_wifi(&DeviceId::new(device.id.as_str()))
        .await?
        .map(|row| WifiStatus {
            note: device_wifi::describe(&row),
            ssid: row.ssid,
        }))
}

/// Saves `ssid` and `passphrase` for mailbox `id`. Their version is the save's instant, past any
/// earlier version, so the mailbox takes them at its next heartbeat. A bad SSID or passphrase
/// is refused with a sentence naming what is wrong; another customer's mailbox is not found.
pub async fn save(
    state: &AppState,
    actor: &Actor,
    id: &DeviceId,
    ssid: &str,
    passphrase: &str,
) -> Result<WifiStatus, ServiceError> {
    let device = get(state, actor, id).await?;
    let credentials = WifiCredentials::new(ssid, passphrase).map_err(|invalid| {
        let what = if invalid.field == "ssid" {
            "The network name"
        } else {
            "The WiFi password"
        };
        ServiceError::Invalid {
            code: "invalid_wifi",
            message: format!("{what} is {}.", invalid.reason),
        }
    })?;
    let previous = state
        .db
        .device_wifi(&DeviceId::new(device.id.as_str()))
        .await?;
    let now = state.clock.now_ms();
    let version = now.max(previous.as_ref().map_or(0, |row| row.version + 1));
    let sealed = state
        .master_key
        .seal_wifi_credentials(&device.id, &device_wifi::plaintext(&credentials));
    let mut changes = Changes::new();
    changes.push(Change::SetDeviceWifi {
        device_id: device.id.clone(),
        ssid: credentials.ssid().to_owned(),
        sealed,
        version,
    });
    changes.push(Change::Audit(AuditRecord {
        at: now,
        actor: actor.audit_name(),
        entity_type: "device".to_owned(),
        entity_id: device.id.clone(),
        action: "wifi_saved".to_owned(),
        detail: serde_json::json!({
            "cause": actor.default_reason(),
            "before": { "ssid": previous.map(|row| row.ssid) },
            "after": { "ssid": credentials.ssid() },
        })
        .to_string(),
    }));
    state.db.apply_changes(&changes).await?;
    state.devices_changed();
    status(state, actor, id)
        .await?
        .ok_or_else(|| ServiceError::not_found("mailbox", id.as_str()))
}
