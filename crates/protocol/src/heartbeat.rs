//! `POST /api/device/v1/heartbeat`: the device's status in, the service state and config out.

use heapless::String;
use serde::{Deserialize, Serialize};

use crate::{FirmwareOffer, InvalidField, SealedWifi, WifiReport};

/// What the device is doing when it reports (DESIGN §4 "Power state").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PowerState {
    /// Deep sleep between wakes (reported by the server for a silent device, rarely by a device).
    Sleep,
    /// Awake and doing local work.
    Awake,
    /// Awake and uploading an event, photos or its SD queue.
    Uploading,
    /// On external power, charging the battery.
    Charging,
}

/// The link the request travels over.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Network {
    /// The A7670 LTE modem.
    Cellular,
    /// The ESP32's WiFi, used only above `wifi_min_rssi_dbm`.
    Wifi,
}

/// Body of `POST /api/device/v1/heartbeat`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HeartbeatRequest {
    /// State of charge, 0-100 (see [`HeartbeatRequest::validate`]).
    pub battery_percent: u8,
    /// What the device is doing.
    pub power_state: PowerState,
    /// Received signal strength of the link in use, in dBm (e.g. -113..=-51 for cellular).
    pub signal_dbm: i16,
    /// The link in use.
    pub network: Network,
    /// Running firmware version, e.g. `1.4.0`; at most 32 bytes.
    pub firmware_version: String<32>,
    /// Bytes the device sent through the modem since manufacture (the modem keeps no counter).
    pub modem_tx_bytes: u64,
    /// Bytes the device received through the modem since manufacture.
    pub modem_rx_bytes: u64,
    /// Records waiting in the SD upload queue after this wake's flush.
    pub sd_queue_len: u32,
    /// Why the device chose this link, e.g. `cellular registered` or
    /// `wifi -61 dBm; cellular: registration denied`; at most 64 bytes.
    #[serde(default)]
    pub link_reason: Option<String<64>>,
    /// Seconds since the oldest event held in the SD queue happened; absent when the queue is
    /// empty (and from firmware before it was reported).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sd_oldest_age_s: Option<u32>,
    /// Deliveries that failed since the SD queue was last empty: events that keep failing are
    /// kept and reported here, never dropped silently. Absent when the queue is empty.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sd_failed_deliveries: Option<u32>,
    /// The WiFi credentials the device holds and how its last try of them went; absent in
    /// firmware without cloud WiFi credentials (the server then sends it none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wifi: Option<WifiReport>,
    /// The board the firmware runs on, e.g. `esp32c6`: a firmware image is built for one
    /// revision and offered only to mailboxes reporting it. Absent from firmware before the
    /// report, which ran on the only board there was ([`DEFAULT_HARDWARE_REVISION`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hardware_revision: Option<String<16>>,
}

/// The board of every mailbox whose firmware does not report one.
pub const DEFAULT_HARDWARE_REVISION: &str = "esp32c6";

/// Whether `revision` can name a board: 1 to 16 of `a-z`, `0-9`, `-`, `_` and `.`.
pub fn valid_hardware_revision(revision: &str) -> bool {
    (1..=16).contains(&revision.len())
        && revision.bytes().all(|b| {
            b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'-' | b'_' | b'.')
        })
}

/// The weakest signal a report may carry, in dBm (below any modem's sensitivity).
pub const MIN_SIGNAL_DBM: i16 = -150;
/// The strongest: a received signal is never above 0 dBm (1 mW) at the antenna.
pub const MAX_SIGNAL_DBM: i16 = 0;

impl HeartbeatRequest {
    /// Checks the ranges the types cannot express.
    pub fn validate(&self) -> Result<(), InvalidField> {
        if self.battery_percent > 100 {
            return Err(InvalidField::new("battery_percent", "above 100"));
        }
        if !(MIN_SIGNAL_DBM..=MAX_SIGNAL_DBM).contains(&self.signal_dbm) {
            return Err(InvalidField::new("signal_dbm", "outside -150..=0"));
        }
        // The store keeps the counters as signed 64-bit integers.
        if self.modem_tx_bytes > i64::MAX as u64 {
            return Err(InvalidField::new("modem_tx_bytes", "above 2^63 - 1"));
        }
        if self.modem_rx_bytes > i64::MAX as u64 {
            return Err(InvalidField::new("modem_rx_bytes", "above 2^63 - 1"));
        }
        if let Some(revision) = &self.hardware_revision
            && !valid_hardware_revision(revision)
        {
            return Err(InvalidField::new(
                "hardware_revision",
                "not 1-16 of a-z, 0-9, '-', '_', '.'",
            ));
        }
        Ok(())
    }

    /// The board the device runs on: the one it reported, else [`DEFAULT_HARDWARE_REVISION`].
    pub fn hardware_revision(&self) -> &str {
        self.hardware_revision
            .as_deref()
            .unwrap_or(DEFAULT_HARDWARE_REVISION)
    }
}

/// Whether the subscription lets the device deliver mail.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ServiceState {
    /// Trialing, active or past due: events are accepted.
    Active,
    /// The device cannot operate: events get 402; the device keeps them on SD.
    Suspended,
    /// The spend cap is reached: events get 429 until the period ends.
    Limited,
}

/// Settings the server pushes to the device on every heartbeat. A missing field takes its default,
/// so a newer device still understands an older server.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct DeviceConfig {
    /// Seconds between check-ins when no mail arrives and the SD queue is empty; default 21,600 (6 h).
    pub checkin_interval_s: u32,
    /// JPEG quality of the photos, 1-100; default 80.
    pub jpeg_quality: u8,
    /// WiFi is used only when its RSSI is strictly above this, in dBm; default -70.
    pub wifi_min_rssi_dbm: i16,
}

impl DeviceConfig {
    /// Default check-in interval: 6 hours.
    pub const DEFAULT_CHECKIN_INTERVAL_S: u32 = 21_600;
    /// Default JPEG quality.
    pub const DEFAULT_JPEG_QUALITY: u8 = 80;
    /// Default WiFi threshold.
    pub const DEFAULT_WIFI_MIN_RSSI_DBM: i16 = -70;
}

impl Default for DeviceConfig {
    fn default() -> Self {
        Self {
            checkin_interval_s: Self::DEFAULT_CHECKIN_INTERVAL_S,
            jpeg_quality: Self::DEFAULT_JPEG_QUALITY,
            wifi_min_rssi_dbm: Self::DEFAULT_WIFI_MIN_RSSI_DBM,
        }
    }
}

/// Body of the 200 answer to a heartbeat.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HeartbeatResponse {
    /// The server's clock, unix seconds; the device sets its clock from it.
    pub server_time: i64,
    /// Whether events will be accepted.
    pub service: ServiceState,
    /// Settings to apply from now on.
    #[serde(default)]
    pub config: DeviceConfig,
    /// A firmware image to install, when the server has one newer than `firmware_version`.
    #[serde(default)]
    pub firmware: Option<FirmwareOffer>,
    /// WiFi credentials saved in the portal, sealed for this device ([`crate::wifi`]); present
    /// only while the device reports another version than the server's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wifi: Option<SealedWifi>,
}
