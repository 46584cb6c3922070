//! Wire contract between a mailbox and the cloud (DESIGN §5).
//!
//! This crate is `no_std` and allocation-free so that the firmware and the server compile the very
//! same types and the very same signing function: what one side writes, the other reads. Strings are
//! `heapless::String<N>`; the bound of each is part of the contract and documented on the field.
//!
//! - [`api`]: paths, header names and limits of the device API.
//! - [`heartbeat`], [`event`], [`firmware`], [`error`]: JSON bodies.
//! - [`signing`]: the request signature every device request carries.
//! - [`wifi`]: WiFi credentials from the portal, sealed for one device.
//!
//! The device reads JSON with `serde_json_core::from_slice_escaped` (plain `from_slice` leaves
//! `\"` and `\n` escaped inside strings); the server uses `serde_json`. `tests/json.rs` pins every
//! body to a literal and checks that both libraries write and read it alike.
#![cfg_attr(not(test), no_std)]

pub mod api;
pub mod error;
pub mod event;
pub mod firmware;
pub mod heartbeat;
pub mod signing;
pub mod wifi;

pub use api::*;
pub use error::{ErrorBody, InvalidField};
pub use event::{EventKind, EventRequest, EventResponse};
pub use firmware::{FirmwareOffer, FirmwareReport, FirmwareStatus};
pub use heartbeat::{
    DEFAULT_HARDWARE_REVISION, DeviceConfig, HeartbeatRequest, HeartbeatResponse, Network,
    PowerState, ServiceState, valid_hardware_revision,
};
pub use signing::{
    BodyHasher, SIGNATURE_V2_PREFIX, body_sha256, sign, sign_v2, verify, verify_request,
};
/// The event id type, re-exported so both sides use the same `uuid` major version.
pub use uuid::Uuid;
pub use wifi::{SealedWifi, WifiCredentials, WifiReport, WifiStatus};
