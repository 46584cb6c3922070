//! `/dashboard`: each mailbox at a glance — mail waiting or not, the last delivery with its first
//! photo (its thumbnail, or the photo until the thumbnail job has made it), battery with a
//! 30-day chart, signal and connectivity, and a status line that knows the check-in schedule
//! ([`super::status_line`]).

use axum::extract::State;
use axum::response::{IntoResponse, Redirect, Response};
use minijinja::{Value, context};
use smartbox_domain::{DeviceId, LifecycleState, MailKind};
use smartbox_store::{MailEventRow, VitalsRow};

use super::format::date_time;
use super::status_line;
use super::{PageError, render, words};
use crate::accounts::{CurrentUser, Visitor};
use crate::services::devices::display_name;
use crate::state::AppState;

const DAY_MS: i64 = 24 * 3600 * 1000;

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
    let updated = super::format::clock(state.clock.now_ms(), &user.user.time_zone);
    render::ok(
        &visitor,
        "dashboard.html",
        context! { title => "Dashboard", nav => "dashboard", mailboxes => mailboxes, updated => updated },
    )
}

/// The mailbox cards of the dashboard (also streamed live by [`super::live`]).
pub async fn mailbox_cards(state: &AppState, user: &CurrentUser) -> Result<Vec<Value>, PageError> {
    let now = state.clock.now_ms();
    let tz = user.user.time_zone.clone();
    let mut cards = Vec::new();
    for device in state.db.devices_of_owner(&user.user.id).await? {
        let recent = state.db.events_of_device(&device.id, None, 10).await?;
        // Mail waits from a delivery until a collection (false triggers change nothing); a
        // returned mailbox reports nothing any more: no mail to announce.
        let mail_waiting = device.lifecycle_state != LifecycleState::Returned
            && recent
                .iter()
                .map(MailEventRow::meaning)
                .find(|m| *m != MailKind::FalseTrigger)
                == Some(MailKind::Delivery);
        let delivery = recent.iter().find(|e| e.meaning() == MailKind::Delivery);
        let vitals = state
            .db
            .vitals_since(&DeviceId::new(device.id.as_str()), now - 30 * DAY_MS)
            .await?;
        let status = status_line::current(state, &device, recent.first(), now, &tz).await?;
        cards.push(context! {
            id => device.id.clone(),
            name => display_name(&device),
            serial => device.serial.clone(),
            location => device.location.clone(),
            mail_waiting => mail_waiting,
            last_delivery => delivery.map(|e| date_time(e.occurred_at, &tz)),
            last_delivery_event => delivery.map(|e| e.id.clone()),
            first_photo => delivery.filter(|e| e.photos_received > 0).map(|e| format!("/photos/{}/0/thumbnail", e.id)),
            battery => device.battery_percentage,
            battery_chart => battery_chart(&vitals, now),
            signal_dbm => device.signal_dbm,
            signal_bars => device.signal_dbm.map(signal_bars),
            network => words::network(device.network.as_deref()),
            status => status.text,
            late => status.warn,
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

/// The 30-day battery chart as SVG polyline points on a 300 x 60 canvas; empty (the chart is
/// hidden) with fewer than two readings, which draw no line.
pub fn battery_chart(vitals: &[VitalsRow], now: i64) -> String {
    chart(vitals, now, |v| {
        v.battery_percentage.clamp(0, 100) as f64 / 100.0
    })
}

/// Weakest and strongest signal the chart draws, in dBm (what a modem reports in practice).
const SIGNAL_RANGE: (i64, i64) = (-120, -50);

/// The 30-day signal chart, as [`battery_chart`], from -120 dBm (bottom) to -50 dBm (top).
pub fn signal_chart(vitals: &[VitalsRow], now: i64) -> String {
    let (low, high) = SIGNAL_RANGE;
    chart(vitals, now, |v| {
        (v.signal_dbm.clamp(low, high) - low) as f64 / (high - low) as f64
    })
}

/// Polyline points of `level` (0 to 1, bottom to top) over the last 30 days.
fn chart(vitals: &[VitalsRow], now: i64, level: impl Fn(&VitalsRow) -> f64) -> String {
    if vitals.len() < 2 {
        return String::new();
    }
    let start = now - 30 * DAY_MS;
    vitals
        .iter()
        .map(|v| {
            let x =
                (v.recorded_at - start).clamp(0, 30 * DAY_MS) as f64 * 300.0 / (30 * DAY_MS) as f64;
            let y = 60.0 - level(v) * 60.0;
            format!("{x:.1},{y:.1}")
        })
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reading(at: i64, battery: i64) -> VitalsRow {
        VitalsRow {
            device_id: "d".into(),
            recorded_at: at,
            battery_percentage: battery,
            power_state: "sleep".into(),
            signal_dbm: -80,
            network: "cellular".into(),
            firmware_version: "1.0.0".into(),
            modem_tx_bytes: 0,
            modem_rx_bytes: 0,
            sd_queue_len: 0,
            sd_oldest_age_s: None,
            sd_failed_deliveries: None,
        }
    }

    #[test]
    fn the_battery_chart_is_drawn_from_the_series_or_hidden() {
        let now = 30 * DAY_MS;
        assert_eq!(battery_chart(&[], now), "");
        assert_eq!(battery_chart(&[reading(now, 80)], now), "");
        assert_eq!(
            battery_chart(&[reading(0, 100), reading(now, 50)], now),
            "0.0,0.0 300.0,30.0"
        );
    }

    #[test]
    fn the_signal_chart_spans_minus_120_to_minus_50_dbm() {
        let now = 30 * DAY_MS;
        let mut weak = reading(0, 50);
        weak.signal_dbm = -130;
        let mut strong = reading(now, 50);
        strong.signal_dbm = -50;
        let mut middle = reading(now / 2, 50);
        middle.signal_dbm = -85;
        assert_eq!(
            signal_chart(&[weak, middle, strong], now),
            "0.0,60.0 150.0,30.0 300.0,0.0"
        );
    }
}
