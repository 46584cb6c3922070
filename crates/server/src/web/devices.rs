//! `/devices`: rename a mailbox, say where it is, see its vitals history, start a return (the
//! mailbox is returned and its subscription ends). The actions are `services::devices`.

use axum::Form;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use minijinja::context;
use serde::Deserialize;
use smartbox_domain::{DeviceId, checkin};
use smartbox_store::DeviceRow;

use super::dashboard::battery_chart;
use super::format::date_time;
use super::notice::{Done, after};
use super::status_line::{self, every};
use super::{PageError, render, words};
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
    let mut devices = Vec::new();
    for d in state.db.devices_of_owner(&user.user.id).await? {
        let latest = state.db.events_of_device(&d.id, None, 1).await?;
        let status =
            status_line::current(&state, &d, latest.first(), now, &user.user.time_zone).await?;
        devices.push(context! {
            id => d.id.clone(), name => display_name(&d), serial => d.serial.clone(), location => d.location.clone(),
            lifecycle => words::lifecycle(d.lifecycle_state), status => status.text, late => status.warn,
            battery => d.battery_percentage, firmware => d.firmware_version.clone(),
        });
    }
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
    notice: Option<&str>,
) -> Result<Response, PageError> {
    let now = state.clock.now_ms();
    let tz = &user.user.time_zone;
    // One read of the month's readings: the chart draws them all, the table the last week's.
    let month = state
        .db
        .vitals_since(&DeviceId::new(device.id.as_str()), now - 30 * DAY_MS)
        .await?;
    let history: Vec<_> = month
        .iter()
        .filter(|v| v.recorded_at >= now - 7 * DAY_MS)
        .rev()
        .take(50)
        .map(|v| context! {
            when => date_time(v.recorded_at, tz), battery => v.battery_percentage, power => words::power(&v.power_state),
            signal => v.signal_dbm, network => words::network(Some(&v.network)), firmware => v.firmware_version.clone(), queue => v.sd_queue_len,
        })
        .collect();
    let latest = state.db.events_of_device(&device.id, None, 1).await?;
    let line = status_line::current(state, device, latest.first(), now, tz).await?;
    let open_return = state
        .db
        .open_return_of_device(&DeviceId::new(device.id.as_str()))
        .await?;
    render::page(
        visitor,
        status,
        "device.html",
        context! {
            title => display_name(device), nav => "devices", id => device.id.clone(), name => device.name.clone(),
            serial => device.serial.clone(), location => device.location.clone(), lifecycle => words::lifecycle(device.lifecycle_state),
            status => line.text, late => line.warn, history => history, battery_chart => battery_chart(&month, now),
            returnable => services::devices::returnable(device.lifecycle_state),
            intervals => interval_choices(device.checkin_interval_s),
            held => held_text(device), error => error, notice => notice,
            open_return => open_return.as_ref().map(|r| context! {
                rma => r.rma.clone(), reason => r.reason.clone(), started => date_time(r.started_at, tz),
                steps => services::returns::steps(&r.rma),
            }),
            reasons => services::returns::REASONS,
        },
    )
}

/// The check-in intervals offered, each with the battery life it gives (the energy model's).
fn interval_choices(current: i64) -> Vec<minijinja::Value> {
    checkin::INTERVALS_S
        .iter()
        .map(|&s| {
            // Short enough for a phone's select box; the default is named in the hint.
            let label = format!(
                "{}: battery about {:.0} months",
                words::capital(&every(s)),
                checkin::battery_months(s)
            );
            context! { value => s, label => label, selected => s == current }
        })
        .collect()
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
    Query(done): Query<Done>,
) -> Result<Response, PageError> {
    let device = services::devices::get(&state, &actor(&user), &DeviceId::new(device_id)).await?;
    device_view(
        &state,
        &visitor,
        &user,
        &device,
        StatusCode::OK,
        None,
        done.sentence(),
    )
    .await
}

#[derive(Debug, Deserialize)]
pub struct DeviceForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    location: String,
    /// Seconds; absent keeps the stored interval.
    #[serde(default)]
    checkin_interval_s: Option<String>,
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
        // Not a number: 0, which the service refuses with its sentence.
        checkin_interval_s: form
            .checkin_interval_s
            .map(|s| s.trim().parse().unwrap_or(0)),
    };
    match services::devices::update(&state, &actor, &id, details).await {
        Ok(device) => {
            Ok(Redirect::to(&after(&format!("/devices/{}", device.id), "saved")).into_response())
        }
        Err(err) => refused(&state, &visitor, &user, &id, err).await,
    }
}

/// A change the service refused for its input, shown on the mailbox's page with its sentence
/// (400); any other error as the portal shows errors.
async fn refused(
    state: &AppState,
    visitor: &Visitor,
    user: &CurrentUser,
    id: &DeviceId,
    err: ServiceError,
) -> Result<Response, PageError> {
    let ServiceError::Invalid { message, .. } = err else {
        return Err(err.into());
    };
    let device = services::devices::get(state, &actor(user), id).await?;
    device_view(
        state,
        visitor,
        user,
        &device,
        StatusCode::BAD_REQUEST,
        Some(message),
        None,
    )
    .await
}

#[derive(Debug, Deserialize)]
pub struct ReturnForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    reason: String,
    #[serde(default)]
    details: String,
}

/// `POST /devices/{device_id}/return`: starts a return with its reason (an RMA number, the
/// instructions and a packing slip; the mailbox works until the warehouse receives it).
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
    let reason = match (form.reason.trim(), form.details.trim()) {
        (r, "") => r.to_owned(),
        ("", d) => d.to_owned(),
        (r, d) => format!("{r}: {d}"),
    };
    let id = DeviceId::new(device_id);
    match services::returns::start(&state, &actor(&user), &id, &reason).await {
        Ok(_) => {
            Ok(Redirect::to(&after(&format!("/devices/{id}"), "return_started")).into_response())
        }
        Err(err) => refused(&state, &visitor, &user, &id, err).await,
    }
}

/// `POST /devices/{device_id}/return/cancel`: takes the return back before the box arrives.
pub async fn cancel_return(
    State(state): State<AppState>,
    visitor: Visitor,
    user: CurrentUser,
    Path(device_id): Path<String>,
    Form(form): Form<ReturnForm>,
) -> Result<Response, PageError> {
    if !visitor.csrf_matches(&form.csrf) {
        return Err(PageError::bad_csrf());
    }
    let id = DeviceId::new(device_id);
    services::returns::cancel(&state, &actor(&user), &id).await?;
    Ok(Redirect::to(&after(&format!("/devices/{id}"), "return_canceled")).into_response())
}

/// `GET /devices/{device_id}/return/slip`: the printable packing slip of the open return.
pub async fn packing_slip(
    State(state): State<AppState>,
    visitor: Visitor,
    user: CurrentUser,
    Path(device_id): Path<String>,
) -> Result<Response, PageError> {
    let id = DeviceId::new(device_id);
    let device = services::devices::get(&state, &actor(&user), &id).await?;
    let open = services::returns::open_return(&state, &actor(&user), &id)
        .await?
        .ok_or_else(|| PageError::not_found("This return"))?;
    render::ok(
        &visitor,
        "packing_slip.html",
        context! {
            title => format!("Packing slip {}", open.rma), nav => "devices", rma => open.rma.clone(),
            name => display_name(&device), serial => device.serial.clone(), email => user.user.email.clone(),
            started => date_time(open.started_at, &user.user.time_zone), reason => open.reason.clone(),
            warehouse => services::returns::WAREHOUSE, id => device.id.clone(),
        },
    )
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
