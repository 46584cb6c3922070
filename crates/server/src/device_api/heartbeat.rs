//! `POST /api/device/v1/heartbeat`: the device reports its vitals and learns the service state,
//! its configuration and, when one applies, a firmware offer ([`super::rollout_offer`]) and WiFi credentials from the portal
//! ([`crate::device_wifi`]). Never refused with 402 or 429, so a
//! suspended or capped device still reports and learns why its events are refused.

use axum::Extension;
use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use smartbox_protocol::{DeviceConfig, HeartbeatRequest, HeartbeatResponse, Network, PowerState};
use smartbox_store::VitalsRow;

use super::auth::Authenticated;
use super::json;
use super::metering::PendingVitals;
use crate::error::ApiError;
use crate::state::AppState;

/// Stores the vitals (through the metering step, which commits them with the request's usage)
/// and answers with the service state, config and firmware offer.
#[utoipa::path(
    post,
    path = "/api/device/v1/heartbeat",
    tag = "device",
    request_body(content = super::docs::HeartbeatRequestDoc, content_type = "application/json"),
    responses(
        (status = 200, description = "Vitals stored", body = super::docs::HeartbeatResponseDoc),
        (status = 400, description = "Malformed JSON or a value out of range; the message names the field", body = super::docs::ErrorDoc),
        (status = 401, description = "Unknown serial, bad signature, clock off by more than 300 s, or decommissioned", body = super::docs::ErrorDoc),
        (status = 413, description = "Body over 16 KiB", body = super::docs::ErrorDoc),
        (status = 415, description = "Not application/json", body = super::docs::ErrorDoc),
    ),
    security(("device_signature" = []))
)]
pub async fn heartbeat(
    State(state): State<AppState>,
    Extension(Authenticated(device)): Extension<Authenticated>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let request: HeartbeatRequest = json::parse(&headers, &body)?;
    request.validate().map_err(json::invalid_field)?;
    let now = state.clock.now();
    let rollouts = &state.device_api.rollouts;
    let hardware_revision = request.hardware_revision();
    rollouts
        .note_revision(&state, &device, hardware_revision)
        .await?;
    let firmware = rollouts
        .offer_for(
            &state,
            &device,
            hardware_revision,
            request.firmware_version.as_str(),
        )
        .await?;
    let answer = HeartbeatResponse {
        server_time: state.clock.now_s(),
        service: device.service(now),
        config: DeviceConfig {
            checkin_interval_s: u32::try_from(device.checkin_interval_s)
                .unwrap_or(DeviceConfig::DEFAULT_CHECKIN_INTERVAL_S),
            ..DeviceConfig::default()
        },
        firmware,
        wifi: crate::device_wifi::on_heartbeat(
            &state,
            &device.device_id,
            &device.secret,
            device.wifi.as_ref(),
            request.wifi,
        )
        .await?,
    };
    let vitals = VitalsRow {
        device_id: device.device_id.clone(),
        recorded_at: state.clock.now_ms(),
        battery_percentage: i64::from(request.battery_percent),
        power_state: power_state_name(request.power_state).to_owned(),
        signal_dbm: i64::from(request.signal_dbm),
        network: network_name(request.network).to_owned(),
        firmware_version: request.firmware_version.as_str().to_owned(),
        modem_tx_bytes: i64::try_from(request.modem_tx_bytes).unwrap_or(i64::MAX),
        modem_rx_bytes: i64::try_from(request.modem_rx_bytes).unwrap_or(i64::MAX),
        sd_queue_len: i64::from(request.sd_queue_len),
        sd_oldest_age_s: request.sd_oldest_age_s.map(i64::from),
        sd_failed_deliveries: request.sd_failed_deliveries.map(i64::from),
    };
    let mut response = Json(answer).into_response();
    response.extensions_mut().insert(PendingVitals(vitals));
    Ok(response)
}

fn power_state_name(state: PowerState) -> &'static str {
    match state {
        PowerState::Sleep => "sleep",
        PowerState::Awake => "awake",
        PowerState::Uploading => "uploading",
        PowerState::Charging => "charging",
    }
}

fn network_name(network: Network) -> &'static str {
    match network {
        Network::Cellular => "cellular",
        Network::Wifi => "wifi",
    }
}
