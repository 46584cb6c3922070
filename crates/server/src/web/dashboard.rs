//! `/dashboard`: each mailbox at a glance — mail waiting or not, the last delivery with its first
//! photo (its thumbnail, or the photo until the thumbnail job has made it), battery with a 30-day chart, signal, power state and connectivity, and a status that
//! knows the check-in schedule ("asleep, next check-in 14:30"; "late" only after a missed one).

use axum::extract::State;
use axum::response::{IntoResponse, Redirect, Response};
use minijinja::{Value, context};
use smartbox_domain::LifecycleState;
use smartbox_store::{DeviceRow, VitalsRow};

use super::format::{self, date_time};
use super::{PageError, render};
use crate::accounts::{CurrentUser, Visitor};
use crate::services::devices::display_name;
use crate::state::AppState;

const DAY_MS: i64 = 24 * 3600 * 1000;
/// A check-in counts as missed this long after it was due (a slow cellular attach is not "late").
pub const LATE_AFTER_MS: i64 = 15 * 60 * 1000;

/// `GET /`: the dashboard when signed in, the login page otherwise.
pub async fn home(visitor: Visitor) -> Response {
    if visitor.user().is_some() {
        Redirect::to("/dashboard").into_response()
    } else {
        Redirect::to("/login").into_response()
    }
}

/// `GET /dashboard`.
pub async fn page(
    State(state): State<AppState>,
    visitor: Visitor,
    user: CurrentUser,
) -> Result<Response, PageError> {
    let mailboxes = mailbox_cards(&state, &user).await?;
    render::ok(
        &visitor,
        "dashboard.html",
        context! { title => "Dashboard", nav => "dashboard", mailboxes => mailboxes },
    )
}

/// The mailbox cards of the dashboard (also streamed live by [`super::live`]).
pub async fn mailbox_cards(state: &AppState, user: &CurrentUser) -> Result<Vec<Value>, PageError> {
    let now = state.clock.now_ms();
    let tz = user.user.time_zone.clone();
    let mut cards = Vec::new();
    for device in state.db.devices_of_owner(&user.user.id).await? {
        let recent = state.db.events_of_device(&device.id, None, 10).await?;
        let mail_waiting = recent.first().is_some_and(|e| e.kind == "mail_arrived");
        let delivery = recent.iter().find(|e| e.kind == "mail_arrived");
        let vitals = state.db.vitals_since(&device.id, now - 30 * DAY_MS).await?;
        cards.push(context! {
            id => device.id.clone(),
            name => display_name(&device),
            serial => device.serial.clone(),
            location => device.location.clone(),
            lifecycle => device.lifecycle_state.clone(),
            mail_waiting => mail_waiting,
            last_delivery => delivery.map(|e| date_time(e.occurred_at, &tz)),
            last_delivery_event => delivery.map(|e| e.id.clone()),
            first_photo => delivery.filter(|e| e.photos_received > 0).map(|e| format!("/photos/{}/0/thumbnail", e.id)),
            battery => device.battery_percentage,
            battery_chart => battery_chart(&vitals, now),
            signal_dbm => device.signal_dbm,
            signal_bars => device.signal_dbm.map(signal_bars),
            power_state => device.power_state.clone(),
            network => device.network.clone(),
            status => status_text(&device, now, &tz),
            late => is_late(&device, now),
        });
    }
    Ok(cards)
}

/// 0-4 bars from dBm (LTE RSSI as the modem reports it).
pub fn signal_bars(dbm: i64) -> i64 {
    match dbm {
        d if d >= -70 => 4,
        d if d >= -85 => 3,
        d if d >= -100 => 2,
        d if d >= -110 => 1,
        _ => 0,
    }
}

fn is_late(device: &DeviceRow, now: i64) -> bool {
    device
        .last_seen_at
        .is_some_and(|seen| now > seen + device.checkin_interval_s * 1000 + LATE_AFTER_MS)
}

/// What the mailbox is doing, in words that know its schedule.
pub fn status_text(device: &DeviceRow, now: i64, tz: &str) -> String {
    match device.lifecycle_state {
        LifecycleState::Suspended => {
            return "Suspended: update your payment method to resume service".to_owned();
        }
        LifecycleState::Returned => return "Returned".to_owned(),
        LifecycleState::Decommissioned => return "Decommissioned".to_owned(),
        LifecycleState::PreActivation => return "Not activated yet".to_owned(),
        LifecycleState::ActiveSubscription => {}
    }
    let Some(seen) = device.last_seen_at else {
        return "Waiting for its first check-in".to_owned();
    };
    let due = seen + device.checkin_interval_s * 1000;
    if is_late(device, now) {
        return format!(
            "Late: the check-in due {} was missed (last seen {})",
            date_time(due, tz),
            date_time(seen, tz)
        );
    }
    let when = if format::date(due, tz) == format::date(now, tz) {
        format::clock(due, tz)
    } else {
        date_time(due, tz)
    };
    match device.power_state.as_str() {
        "awake" => format!("Awake now; next check-in {when}"),
        "uploading" => "Uploading now".to_owned(),
        "charging" => format!("Charging; next check-in {when}"),
        _ => format!("Asleep, next check-in {when}"),
    }
}

/// The 30-day battery chart as SVG polyline points on a 300 x 60 canvas (empty with no vitals).
pub fn battery_chart(vitals: &[VitalsRow], now: i64) -> String {
    let start = now - 30 * DAY_MS;
    vitals
        .iter()
        .map(|v| {
            let x =
                (v.recorded_at - start).clamp(0, 30 * DAY_MS) as f64 * 300.0 / (30 * DAY_MS) as f64;
            let y = 60.0 - v.battery_percentage.clamp(0, 100) as f64 * 0.6;
            format!("{x:.1},{y:.1}")
        })
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn device(last_seen: Option<i64>, power: &str) -> DeviceRow {
        DeviceRow {
            id: "d".into(),
            serial: "SB-1".into(),
            secret_ciphertext: vec![],
            claim_code_hash: String::new(),
            owner_id: None,
            lifecycle_state: LifecycleState::ActiveSubscription,
            power_state: power.into(),
            battery_percentage: Some(80),
            firmware_version: None,
            name: String::new(),
            location: String::new(),
            signal_dbm: Some(-80),
            network: Some("cellular".into()),
            sd_queue_len: None,
            sd_oldest_age_s: None,
            sd_failed_deliveries: None,
            modem_tx_bytes: None,
            modem_rx_bytes: None,
            checkin_interval_s: 6 * 3600,
            last_seen_at: last_seen,
            activated_at: None,
            claimed_at: None,
            created_at: 0,
        }
    }

    #[test]
    fn a_sleeping_mailbox_shows_its_next_check_in_not_offline() {
        let seen = 1_764_072_000_000; // 2025-11-25 12:00 UTC
        let d = device(Some(seen), "sleep");
        assert_eq!(
            status_text(&d, seen + 3_600_000, "UTC"),
            "Asleep, next check-in 18:00"
        );
        assert!(!is_late(&d, seen + 6 * 3_600_000 + 60_000));
    }

    #[test]
    fn a_mailbox_is_late_only_after_a_missed_check_in() {
        let seen = 1_764_072_000_000;
        let d = device(Some(seen), "sleep");
        let text = status_text(&d, seen + 6 * 3_600_000 + LATE_AFTER_MS + 1, "UTC");
        assert!(
            text.starts_with("Late: the check-in due 2025-11-25 18:00"),
            "{text}"
        );
        assert_eq!(
            status_text(&device(None, "sleep"), seen, "UTC"),
            "Waiting for its first check-in"
        );
    }
}
