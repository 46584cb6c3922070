//! `/devices`: rename a mailbox, say where it is, see its vitals history, start a return (the
//! mailbox becomes `returned` and its subscription ends). The actions are `services::devices`.

use axum::Form;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use minijinja::context;
use serde::Deserialize;
use smartbox_domain::DeviceId;
use smartbox_store::DeviceRow;

use super::dashboard::{battery_chart, status_text};
use super::format::date_time;
use super::{PageError, render};
use crate::accounts::{CurrentUser, Visitor};
use crate::services::devices::{DeviceDetails, display_name};
use crate::services::{self, Actor, ServiceError};
use crate::state::AppState;

const DAY_MS: i64 = 24 * 3600 * 1000;

fn actor(user: &CurrentUser) -> Actor {
    Actor::customer(user.user.id.as_str())
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
            returnable => services::devices::returnable(device.lifecycle_state),
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
    let device = services::devices::get(&state, &actor(&user), &DeviceId::new(device_id)).await?;
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
    let (actor, id) = (actor(&user), DeviceId::new(device_id));
    let details = DeviceDetails {
        name: Some(form.name),
        location: Some(form.location),
    };
    match services::devices::update(&state, &actor, &id, details).await {
        Ok(device) => Ok(Redirect::to(&format!("/devices/{}", device.id)).into_response()),
        Err(ServiceError::Invalid { message, .. }) => {
            let device = services::devices::get(&state, &actor, &id).await?;
            device_view(
                &state,
                &visitor,
                &user,
                &device,
                StatusCode::BAD_REQUEST,
                Some(message),
            )
            .await
        }
        Err(err) => Err(err.into()),
    }
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
    services::devices::return_device(&state, &actor(&user), &DeviceId::new(device_id), None)
        .await?;
    Ok(Redirect::to("/devices").into_response())
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
            lifecycle_state: smartbox_domain::LifecycleState::ActiveSubscription,
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
