//! `PUT /api/v1/devices/{id}/wifi`: a mailbox's WiFi credentials, as the settings page saves
//! them (`services::wifi`).

use axum::Json;
use axum::extract::{Path, State};
use serde::{Deserialize, Serialize};
use smartbox_domain::DeviceId;

use super::actor;
use crate::accounts::ApiUser;
use crate::error::ApiError;
use crate::services::wifi;
use crate::state::AppState;

/// `PUT /api/v1/devices/{id}/wifi`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WifiRequest {
    /// The network's name (1-32 bytes of UTF-8: at most 32 characters, fewer when some take
    /// more than a byte).
    #[schema(min_length = 1, max_length = 32)]
    pub ssid: String,
    /// WPA2 passphrase (8-63 printable ASCII characters).
    #[schema(min_length = 8, max_length = 63, pattern = "^[\\x20-\\x7E]*$")]
    pub passphrase: String,
}

/// The credentials a mailbox holds or will take at its next check-in (never the passphrase).
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Wifi {
    pub ssid: String,
    /// The mailbox's last word on them, in plain words.
    pub status: String,
}

#[utoipa::path(put, path = "/api/v1/devices/{device_id}/wifi", tag = "customer",
    params(("device_id" = String, Path, description = "Mailbox id")),
    request_body(content = WifiRequest, content_type = "application/json"),
    responses((status = 200, description = "Saved; the mailbox takes them at its next check-in", body = Wifi),
        (status = 400, description = "`invalid_wifi`: the network name or the password is refused", body = crate::device_api::docs::ErrorDoc),
        (status = 401, description = "No session", body = crate::device_api::docs::ErrorDoc),
        (status = 403, description = "Missing or wrong X-CSRF-Token, or a cross-site request", body = crate::device_api::docs::ErrorDoc),
        (status = 404, description = "Not one of the customer's", body = crate::device_api::docs::ErrorDoc),
    ), security(("session" = [], "csrf" = [])))]
pub(crate) async fn save(
    State(state): State<AppState>,
    ApiUser(user): ApiUser,
    Path(device_id): Path<String>,
    Json(body): Json<WifiRequest>,
) -> Result<Json<Wifi>, ApiError> {
    let saved = wifi::save(
        &state,
        &actor(&user),
        &DeviceId::new(device_id),
        &body.ssid,
        &body.passphrase,
    )
    .await?;
    Ok(Json(Wifi {
        ssid: saved.ssid,
        status: saved.note,
    }))
}
