//! The device API v1 (DESIGN §5): the path every mailbox takes many times a day.
//!
//! A request goes through [`guard`] first, which authenticates it (signature, clock skew,
//! lifecycle), buffers its body within the route's limit, runs the handler, then meters the
//! request and response bytes into the subscription's data counter and waits until they (and a
//! heartbeat's vitals) are committed by the [`TrafficWriter`] before answering. The handlers then apply
//! the subscription rules in the order the contract fixes: authenticate, 402 when the device
//! cannot operate, 429 when the spend cap would be passed.
//!
//! - [`auth`]: signature verification and the one 401.
//! - [`context`]: what a request knows about its device, and the cache that keeps it.
//! - [`TrafficWriter`] (the store's): group commit of heartbeats, usage, events and photos.
//! - [`metering`]: bytes on the wire (firmware downloads excluded); a replayed request is not
//!   metered again.
//! - [`ExpiringSet`]: the short memory of unknown serials and of signatures already seen.
//! - [`DeviceApiState`] (in `crate::device_caches`): the caches themselves, held by the app state.
//! - [`heartbeat`], [`events`], [`photos`], [`firmware`]: the endpoints.
//! - [`rollout_offer`]: which image a heartbeat offers (pins, staged rollouts, the newest).
//! - [`jpeg`]: the marker check photos must pass.
//! - [`docs`]: the OpenAPI description of all of the above.

pub mod auth;
pub mod context;
pub mod docs;
pub mod events;
pub mod firmware;
pub mod heartbeat;
pub mod jpeg;
pub mod json;
pub mod metering;
pub mod photos;
pub mod rollout_offer;

use axum::Router;
use axum::middleware;
use axum::routing::{get, post, put};

pub use crate::device_caches::{DeviceApiState, ExpiringSet, UNKNOWN_SERIAL_TTL_MS};
pub use auth::guard;
pub use context::{DeviceCache, DeviceContext};
pub use firmware::FirmwareCache;
pub use rollout_offer::RolloutCache;
pub use smartbox_store::TrafficWriter;

use crate::state::AppState;

/// Route of a photo upload (axum's syntax for `protocol::photo_path`).
pub const PHOTO_ROUTE: &str = "/api/device/v1/events/{event_id}/photos/{index}";
/// Route of a firmware download (axum's syntax for `protocol::firmware_path`).
pub const FIRMWARE_ROUTE: &str = "/api/device/v1/firmware/{version}";

/// The five endpoints, every one behind [`guard`].
pub fn router(state: &AppState) -> Router<AppState> {
    use smartbox_protocol::{EVENTS_PATH, FIRMWARE_REPORT_PATH, HEARTBEAT_PATH};
    Router::new()
        .route(HEARTBEAT_PATH, post(heartbeat::heartbeat))
        .route(EVENTS_PATH, post(events::create_event))
        .route(PHOTO_ROUTE, put(photos::put_photo))
        .route(FIRMWARE_REPORT_PATH, post(firmware::report))
        .route(FIRMWARE_ROUTE, get(firmware::download))
        .route_layer(middleware::from_fn_with_state(state.clone(), guard))
}
