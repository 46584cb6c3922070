//! `/devices`: rename a mailbox, say where it is, see its vitals history, start a return (the
//! mailbox becomes `returned` and its subscription ends).

use axum::Form;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use minijinja::context;
use serde::Deserialize;
use smartbox_store::DeviceRow;

use super::dashboard::{battery_chart, display_name, status_text};
use super::format::date_time;
use super::{PageError, render};
use crate::accounts::{CurrentUser, Visitor};
use crate::state::AppState;

const DAY_MS: i64 = 24 * 3600 * 1000;
/// Longest name or location accepted.
pub const MAX_TEXT: usize = 60;

/// The customer's device with this id; another customer's answers 404.
pub async fn owned_device(
    state: &AppState,
    user: &CurrentUser,
    device_id: &str,
) -> Result<DeviceRow, PageError> {
    state
        .db
        .device_by_id(device_id)
        .await?
        .filter(|d| d.owner_id.as_deref() == Some(user.user.id.as_str()))
        .ok_or_else(|| PageError::not_found("This mailbox"))
}

/// `GET /devices`.
pub async fn page(
    State(state): State<AppState>,
    visitor: Visitor,
    user: CurrentUser,
) -> Result<Response, PageError> {
    let now = state.clock.now_ms();
    let devices: Vec<_> = state
        .db
        .devices_of_owner(&user.user.id)
        .await?
        .iter()
        .map(|d| context! {
            id => d.id.clone(), name => display_name(d), serial => d.serial.clone(), location => d.location.clone(),
            lifecycle => d.lifecycle_state.clone(), status => status_text(d, now, &user.user.time_zone),
            battery => d.battery_percentage, firmware => d.firmware_version.clone(),
        })
        .collect();
    render::ok(
        &visitor,
        "devices.html",
        context! { title => "Mailboxes", nav => "devices", devices => devices },
    )
}

async fn device_view(
    state: &AppState,
    visitor: &Visitor,
    user: &CurrentUser,
    device: &DeviceRow,
    status: StatusCode,
    error: Option<String>,
) -> Result<Response, PageError> {
    let now = state.clock.now_ms();
    let tz = &user.user.time_zone;
    let vitals = state.db.vitals_since(&device.id, now - 7 * DAY_MS).await?;
    let history: Vec<_> = vitals
        .iter()
        .rev()
        .take(50)
        .map(|v| context! {
            when => date_time(v.recorded_at, tz), battery => v.battery_percentage, power => v.power_state.clone(),
            signal => v.signal_dbm, network => v.network.clone(), firmware => v.firmware_version.clone(), queue => v.sd_queue_len,
        })
        .collect();
    let month = state.db.vitals_since(&device.id, now - 30 * DAY_MS).await?;
    render::page(
        visitor,
        status,
        "device.html",
        context! {
            title => display_name(device), nav => "devices", id => device.id.clone(), name => device.name.clone(),
            serial => device.serial.clone(), location => device.location.clone(), lifecycle => device.lifecycle_state.clone(),
            status => status_text(device, now, tz), history => history, battery_chart => battery_chart(&month, now),
            returnable => matches!(device.lifecycle_state.as_str(), "active_subscription" | "suspended"),
            held => held_text(device), error => error,
        },
    )
}

/// What the mailbox said at its last check-in about mail events it holds on its SD card (they
/// keep failing to be delivered, or it had no link): never dropped, so shown until delivered.
fn held_text(device: &DeviceRow) -> Option<String> {
    let events = device.sd_queue_len.filter(|n| *n > 0)?;
    let mut text = if events == 1 {
        "1 mail event is waiting on the mailbox's SD card".to_owned()
    } else {
        format!("{events} mail events are waiting on the mailbox's SD card")
    };
    if let Some(age) = device.sd_oldest_age_s {
        text.push_str(&format!(" (the oldest from {} ago", age_text(age)));
        if let Some(failed) = device.sd_failed_deliveries.filter(|n| *n > 0) {
            text.push_str(&format!("; {failed} delivery attempts failed"));
        }
        text.push(')');
    }
    text.push_str(". The mailbox sends what it holds at its next check-in.");
    Some(text)
}

fn age_text(seconds: i64) -> String {
    let seconds = seconds.max(0);
    match seconds {
        0..120 => format!("{seconds} s"),
        120..7_200 => format!("{} min", seconds / 60),
        7_200..172_800 => format!("{} h", seconds / 3_600),
        _ => format!("{} days", seconds / 86_400),
    }
}

/// `GET /devices/{device_id}`: settings and vitals history of one mailbox.
pub async fn device_page(
    State(state): State<AppState>,
    visitor: Visitor,
    user: CurrentUser,
    Path(device_id): Path<String>,
) -> Result<Response, PageError> {
    let device = owned_device(&state, &user, &device_id).await?;
    device_view(&state, &visitor, &user, &device, StatusCode::OK, None).await
}

#[derive(Debug, Deserialize)]
pub struct DeviceForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    location: String,
}

/// Why a name or location is refused.
pub fn check_text(label: &str, text: &str) -> Result<(), String> {
    if text.chars().count() > MAX_TEXT {
        return Err(format!(
            "The {label} may have at most {MAX_TEXT} characters."
        ));
    }
    if text.chars().any(char::is_control) {
        return Err(format!("The {label} may not contain control characters."));
    }
    Ok(())
}

/// `POST /devices/{device_id}`: rename and set the location.
pub async fn save(
    State(state): State<AppState>,
    visitor: Visitor,
    user: CurrentUser,
    Path(device_id): Path<String>,
    Form(form): Form<DeviceForm>,
) -> Result<Response, PageError> {
    if !visitor.csrf_matches(&form.csrf) {
        return Err(PageError::bad_csrf());
    }
    let device = owned_device(&state, &user, &device_id).await?;
    let (name, location) = (form.name.trim(), form.location.trim());
    if let Err(message) = check_text("name", name).and_then(|()| check_text("location", location)) {
        return device_view(
            &state,
            &visitor,
            &user,
            &device,
            StatusCode::BAD_REQUEST,
            Some(message),
        )
        .await;
    }
    state
        .db
        .set_device_name_location(&device.id, name, location)
        .await?;
    Ok(Redirect::to(&format!("/devices/{}", device.id)).into_response())
}

#[derive(Debug, Deserialize)]
pub struct ReturnForm {
    #[serde(default)]
    csrf: String,
}

/// `POST /devices/{device_id}/return`: the mailbox becomes `returned` and its subscription is
/// canceled; the warehouse refurbishes it.
pub async fn start_return(
    State(state): State<AppState>,
    visitor: Visitor,
    user: CurrentUser,
    Path(device_id): Path<String>,
    Form(form): Form<ReturnForm>,
) -> Result<Response, PageError> {
    if !visitor.csrf_matches(&form.csrf) {
        return Err(PageError::bad_csrf());
    }
    let device = owned_device(&state, &user, &device_id).await?;
    start_device_return(&state, &device).await?;
    Ok(Redirect::to("/devices").into_response())
}

/// Moves an owned device to `returned` and cancels its live subscription. 409 when the device is
/// not in a state that can be returned.
pub async fn start_device_return(state: &AppState, device: &DeviceRow) -> Result<(), PageError> {
    let from = device.lifecycle_state.as_str();
    if !matches!(from, "active_subscription" | "suspended")
        || !state
            .db
            .set_device_lifecycle(&device.id, from, "returned")
            .await?
    {
        return Err(PageError::Status(
            StatusCode::CONFLICT,
            "This mailbox cannot be returned in its current state.".to_owned(),
        ));
    }
    state.devices_changed();
    if let Some(sub) = state.db.live_subscription_of_device(&device.id).await? {
        state
            .db
            .set_subscription_status(&sub.id, &sub.status, "canceled", state.clock.now_ms())
            .await?;
    }
    tracing::info!(serial = %device.serial, "return started");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn holding(events: Option<i64>, age: Option<i64>, failed: Option<i64>) -> DeviceRow {
        DeviceRow {
            id: "d".into(),
            serial: "SB-1".into(),
            secret_ciphertext: vec![],
            claim_code_hash: String::new(),
            owner_id: None,
            lifecycle_state: "active_subscription".into(),
            power_state: "sleep".into(),
            battery_percentage: Some(80),
            firmware_version: None,
            name: String::new(),
            location: String::new(),
            signal_dbm: Some(-80),
            network: Some("cellular".into()),
            sd_queue_len: events,
            sd_oldest_age_s: age,
            sd_failed_deliveries: failed,
            modem_tx_bytes: None,
            modem_rx_bytes: None,
            checkin_interval_s: 6 * 3600,
            last_seen_at: Some(0),
            activated_at: None,
            claimed_at: None,
            created_at: 0,
        }
    }

    #[test]
    fn events_held_on_sd_are_shown_with_their_age_and_failed_tries() {
        assert_eq!(held_text(&holding(Some(0), None, None)), None);
        assert_eq!(held_text(&holding(None, None, None)), None);
        assert_eq!(
            held_text(&holding(Some(3), Some(5 * 3_600), Some(4))).as_deref(),
            Some(
                "3 mail events are waiting on the mailbox's SD card (the oldest from 5 h ago; \
                 4 delivery attempts failed). The mailbox sends what it holds at its next check-in."
            )
        );
        assert_eq!(
            held_text(&holding(Some(1), None, None)).as_deref(),
            Some(
                "1 mail event is waiting on the mailbox's SD card. The mailbox sends what it holds at its next check-in."
            )
        );
    }
}
