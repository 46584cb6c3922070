//! The OpenAPI description of the device API, generated from the handlers' annotations.
//!
//! The wire types live in the `no_std` protocol crate, which cannot carry OpenAPI derives, so the
//! schemas here mirror them field by field; a test serialises the real types and checks that the
//! schemas name exactly the same properties, so the two cannot drift apart silently.

use utoipa::openapi::security::{ApiKey, ApiKeyValue, SecurityScheme};
use utoipa::{Modify, OpenApi, ToSchema};

/// The device API's part of `/api/openapi.json`.
#[derive(Debug, OpenApi)]
#[openapi(
    paths(
        super::heartbeat::heartbeat,
        super::events::create_event,
        super::photos::put_photo,
        super::firmware::download,
        super::firmware::report,
    ),
    components(schemas(
        HeartbeatRequestDoc,
        HeartbeatResponseDoc,
        DeviceConfigDoc,
        FirmwareOfferDoc,
        WifiReportDoc,
        SealedWifiDoc,
        EventRequestDoc,
        EventResponseDoc,
        FirmwareReportDoc,
        ErrorDoc,
    )),
    modifiers(&DeviceSignature),
    tags((name = "device", description = "Signed requests from mailboxes (DESIGN §5)"))
)]
pub struct DeviceApiDoc;

/// Declares the request signature as the security scheme of every device operation.
#[derive(Debug)]
struct DeviceSignature;

impl Modify for DeviceSignature {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "device_signature",
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::with_description(
                "X-Device-Signature",
                "Lowercase hex HMAC-SHA256(device secret, METHOD \\n PATH \\n TIME \\n hex SHA-256(body)), \
                 sent with X-Device-Serial and X-Device-Time (unix seconds, within 300 s of the server)",
            ))),
        );
    }
}

/// `{"error": "<code>", "message": "..."}`
#[derive(Debug, ToSchema)]
#[schema(as = Error)]
#[expect(
    dead_code,
    reason = "a schema only; the wire type is smartbox_protocol::ErrorBody"
)]
pub struct ErrorDoc {
    /// Machine-readable code, e.g. `unauthorized`, `payment_required`, `spend_cap_reached`.
    error: String,
    /// Human-readable explanation.
    message: String,
}

#[derive(Debug, ToSchema)]
#[schema(as = PowerState, rename_all = "snake_case")]
#[expect(dead_code, reason = "a schema only")]
enum PowerStateDoc {
    Sleep,
    Awake,
    Uploading,
    Charging,
}

#[derive(Debug, ToSchema)]
#[schema(as = Network, rename_all = "snake_case")]
#[expect(dead_code, reason = "a schema only")]
enum NetworkDoc {
    Cellular,
    Wifi,
}

/// Body of a heartbeat.
#[derive(Debug, ToSchema)]
#[schema(as = HeartbeatRequest)]
#[expect(
    dead_code,
    reason = "a schema only; the wire type is smartbox_protocol::HeartbeatRequest"
)]
pub struct HeartbeatRequestDoc {
    #[schema(minimum = 0, maximum = 100)]
    battery_percent: u8,
    power_state: PowerStateDoc,
    #[schema(minimum = -150, maximum = 0)]
    signal_dbm: i16,
    network: NetworkDoc,
    #[schema(max_length = 32)]
    firmware_version: String,
    #[schema(minimum = 0, maximum = 9_223_372_036_854_775_807_i64)]
    modem_tx_bytes: u64,
    #[schema(minimum = 0, maximum = 9_223_372_036_854_775_807_i64)]
    modem_rx_bytes: u64,
    sd_queue_len: u32,
    #[schema(max_length = 64)]
    link_reason: Option<String>,
    /// Seconds since the oldest event held on the SD card happened; absent when none is held.
    sd_oldest_age_s: Option<u32>,
    /// Deliveries that failed since the SD queue was last empty; absent when none is held.
    sd_failed_deliveries: Option<u32>,
    /// Absent in firmware without cloud WiFi credentials.
    wifi: Option<WifiReportDoc>,
    /// The board, e.g. `esp32c6` (1-16 of a-z, 0-9, `-`, `_`, `.`); absent in firmware before
    /// the report, which counts as `esp32c6`. Images are offered only to their own board.
    #[schema(max_length = 16)]
    hardware_revision: Option<String>,
}

#[derive(Debug, ToSchema)]
#[schema(as = WifiStatus, rename_all = "snake_case")]
#[expect(dead_code, reason = "a schema only")]
enum WifiStatusDoc {
    Untried,
    Joined,
    JoinFailed,
    TooWeak,
    NotHeard,
}

/// The WiFi credentials a device holds and how its last try of them went.
#[derive(Debug, ToSchema)]
#[schema(as = WifiReport)]
#[expect(
    dead_code,
    reason = "a schema only; the wire type is smartbox_protocol::WifiReport"
)]
pub struct WifiReportDoc {
    /// Version of the stored credentials (the server's, unix ms of the save); 0 = none.
    credentials: u64,
    status: WifiStatusDoc,
}

/// WiFi credentials from the portal, sealed for this device: AES-256-GCM under
/// HMAC-SHA256(device secret, "smartbox wifi credentials v1"), additional data "smartbox wifi"
/// and the version as 8 big-endian bytes; the plaintext is the SSID's length as one byte, the
/// SSID and the passphrase.
#[derive(Debug, ToSchema)]
#[schema(as = SealedWifi)]
#[expect(
    dead_code,
    reason = "a schema only; the wire type is smartbox_protocol::SealedWifi"
)]
pub struct SealedWifiDoc {
    version: u64,
    /// 12 bytes, lowercase hex.
    #[schema(min_length = 24, max_length = 24)]
    nonce: String,
    /// Ciphertext and 16-byte tag, lowercase hex.
    #[schema(max_length = 224)]
    sealed: String,
}

#[derive(Debug, ToSchema)]
#[schema(as = ServiceState, rename_all = "snake_case")]
#[expect(dead_code, reason = "a schema only")]
enum ServiceStateDoc {
    Active,
    Suspended,
    Limited,
}

/// Settings pushed on every heartbeat.
#[derive(Debug, ToSchema)]
#[schema(as = DeviceConfig)]
#[expect(
    dead_code,
    reason = "a schema only; the wire type is smartbox_protocol::DeviceConfig"
)]
pub struct DeviceConfigDoc {
    #[schema(default = 21600)]
    checkin_interval_s: u32,
    #[schema(default = 80, minimum = 1, maximum = 100)]
    jpeg_quality: u8,
    #[schema(default = -70)]
    wifi_min_rssi_dbm: i16,
}

/// A firmware image to install: Ed25519 signature over the 32 raw bytes of the image's SHA-256.
#[derive(Debug, ToSchema)]
#[schema(as = FirmwareOffer)]
#[expect(
    dead_code,
    reason = "a schema only; the wire type is smartbox_protocol::FirmwareOffer"
)]
pub struct FirmwareOfferDoc {
    #[schema(max_length = 32)]
    version: String,
    size: u32,
    #[schema(min_length = 64, max_length = 64)]
    sha256: String,
    #[schema(min_length = 128, max_length = 128)]
    signature: String,
}

/// Answer to a heartbeat.
#[derive(Debug, ToSchema)]
#[schema(as = HeartbeatResponse)]
#[expect(
    dead_code,
    reason = "a schema only; the wire type is smartbox_protocol::HeartbeatResponse"
)]
pub struct HeartbeatResponseDoc {
    server_time: i64,
    service: ServiceStateDoc,
    config: DeviceConfigDoc,
    firmware: Option<FirmwareOfferDoc>,
    /// Present only while the device reports another credentials version than the server's.
    wifi: Option<SealedWifiDoc>,
}

#[derive(Debug, ToSchema)]
#[schema(as = EventKind, rename_all = "snake_case")]
#[expect(dead_code, reason = "a schema only")]
enum EventKindDoc {
    MailArrived,
    MailRemoved,
}

/// A mail event.
#[derive(Debug, ToSchema)]
#[schema(as = EventRequest)]
#[expect(
    dead_code,
    reason = "a schema only; the wire type is smartbox_protocol::EventRequest"
)]
pub struct EventRequestDoc {
    event_id: uuid::Uuid,
    kind: EventKindDoc,
    /// Unix seconds of the device's clock: from 0, before 2100-01-01, and at most a day ahead
    /// of the server's clock.
    #[schema(minimum = 0, maximum = 4_102_444_799_i64)]
    occurred_at: i64,
    #[schema(minimum = 0, maximum = 3)]
    photo_count: u8,
}

/// Answer about an event or one of its photos.
#[derive(Debug, ToSchema)]
#[schema(as = EventResponse)]
#[expect(
    dead_code,
    reason = "a schema only; the wire type is smartbox_protocol::EventResponse"
)]
pub struct EventResponseDoc {
    event_id: uuid::Uuid,
    photos_received: u8,
    complete: bool,
}

#[derive(Debug, ToSchema)]
#[schema(as = FirmwareStatus, rename_all = "snake_case")]
#[expect(dead_code, reason = "a schema only")]
enum FirmwareStatusDoc {
    Downloaded,
    Installed,
    Failed,
    RolledBack,
}

/// How an offered update went.
#[derive(Debug, ToSchema)]
#[schema(as = FirmwareReport)]
#[expect(
    dead_code,
    reason = "a schema only; the wire type is smartbox_protocol::FirmwareReport"
)]
pub struct FirmwareReportDoc {
    #[schema(max_length = 32)]
    version: String,
    status: FirmwareStatusDoc,
    #[schema(max_length = 128)]
    detail: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;
    use smartbox_protocol::{
        DeviceConfig, EventKind, EventRequest, EventResponse, FirmwareOffer, FirmwareReport,
        FirmwareStatus, HeartbeatRequest, HeartbeatResponse, Network, PowerState, ServiceState,
        Uuid,
    };

    fn property_names(doc: &Value, schema: &str) -> Vec<String> {
        let mut names: Vec<String> = doc["components"]["schemas"][schema]["properties"]
            .as_object()
            .unwrap_or_else(|| panic!("schema {schema} has properties"))
            .keys()
            .cloned()
            .collect();
        names.sort();
        names
    }

    fn field_names(value: impl serde::Serialize) -> Vec<String> {
        let value = serde_json::to_value(value).unwrap_or(Value::Null);
        let mut names: Vec<String> = value
            .as_object()
            .map(|o| o.keys().cloned().collect())
            .unwrap_or_default();
        names.sort();
        names
    }

    fn text<const N: usize>(s: &str) -> heapless::String<N> {
        heapless::String::try_from(s).unwrap_or_default()
    }

    #[test]
    fn every_schema_names_exactly_the_fields_of_its_wire_type() {
        let doc = serde_json::to_value(DeviceApiDoc::openapi()).unwrap_or(Value::Null);
        let offer = FirmwareOffer {
            version: text("1"),
            size: 1,
            sha256: text("00"),
            signature: text("00"),
        };
        let wifi_report = smartbox_protocol::WifiReport {
            credentials: 1,
            status: smartbox_protocol::WifiStatus::Joined,
        };
        let sealed = smartbox_protocol::SealedWifi {
            version: 1,
            nonce: text("00"),
            sealed: text("00"),
        };
        let heartbeat = HeartbeatRequest {
            battery_percent: 1,
            power_state: PowerState::Awake,
            signal_dbm: -1,
            network: Network::Wifi,
            firmware_version: text("1"),
            modem_tx_bytes: 1,
            modem_rx_bytes: 1,
            sd_queue_len: 1,
            link_reason: Some(text("x")),
            sd_oldest_age_s: Some(1),
            sd_failed_deliveries: Some(1),
            wifi: Some(wifi_report),
            hardware_revision: Some(text("esp32c6")),
        };
        let answer = HeartbeatResponse {
            server_time: 1,
            service: ServiceState::Active,
            config: DeviceConfig::default(),
            firmware: Some(offer.clone()),
            wifi: Some(sealed.clone()),
        };
        let event = EventRequest {
            event_id: Uuid::nil(),
            kind: EventKind::MailArrived,
            occurred_at: 1,
            photo_count: 1,
        };
        let event_answer = EventResponse {
            event_id: Uuid::nil(),
            photos_received: 1,
            complete: true,
        };
        let report = FirmwareReport {
            version: text("1"),
            status: FirmwareStatus::Failed,
            detail: Some(text("x")),
        };
        let error = smartbox_protocol::ErrorBody {
            error: text("x"),
            message: text("x"),
        };
        let cases = [
            ("HeartbeatRequest", field_names(&heartbeat)),
            ("HeartbeatResponse", field_names(&answer)),
            ("DeviceConfig", field_names(DeviceConfig::default())),
            ("FirmwareOffer", field_names(&offer)),
            ("WifiReport", field_names(wifi_report)),
            ("SealedWifi", field_names(&sealed)),
            ("EventRequest", field_names(event)),
            ("EventResponse", field_names(event_answer)),
            ("FirmwareReport", field_names(&report)),
            ("Error", field_names(&error)),
        ];
        for (schema, fields) in cases {
            assert_eq!(property_names(&doc, schema), fields, "schema {schema}");
        }
    }

    fn wire_names<T: serde::Serialize>(values: &[T]) -> Value {
        Value::Array(
            values
                .iter()
                .map(|v| serde_json::to_value(v).unwrap_or_default())
                .collect(),
        )
    }

    #[test]
    fn enum_schemas_spell_the_wire_names() {
        use FirmwareStatus::*;
        let doc = serde_json::to_value(DeviceApiDoc::openapi()).unwrap_or(Value::Null);
        let names = |schema: &str| doc["components"]["schemas"][schema]["enum"].clone();
        let power = [
            PowerState::Sleep,
            PowerState::Awake,
            PowerState::Uploading,
            PowerState::Charging,
        ];
        assert_eq!(names("PowerState"), wire_names(&power));
        assert_eq!(
            names("FirmwareStatus"),
            wire_names(&[Downloaded, Installed, Failed, RolledBack])
        );
        let service = [
            ServiceState::Active,
            ServiceState::Suspended,
            ServiceState::Limited,
        ];
        assert_eq!(names("ServiceState"), wire_names(&service));
        assert_eq!(
            names("EventKind"),
            wire_names(&[EventKind::MailArrived, EventKind::MailRemoved])
        );
        assert_eq!(
            names("Network"),
            wire_names(&[Network::Cellular, Network::Wifi])
        );
        use smartbox_protocol::WifiStatus;
        let wifi = [
            WifiStatus::Untried,
            WifiStatus::Joined,
            WifiStatus::JoinFailed,
            WifiStatus::TooWeak,
            WifiStatus::NotHeard,
        ];
        assert_eq!(names("WifiStatus"), wire_names(&wifi));
    }
}
