//! The device (serde-json-core, no_std) and the server (serde_json) must write and read the same
//! JSON. Each body is pinned to a literal so a renamed field or variant fails here, not in the field.

use heapless::String;
use serde::Serialize;
use serde::de::DeserializeOwned;
use smartbox_protocol::*;

fn s<const N: usize>(text: &str) -> String<N> {
    String::try_from(text).expect("test string fits")
}

/// Serializes with both libraries, checks both against `json`, and parses `json` back with both.
fn agrees<T>(value: &T, json: &str)
where
    T: Serialize + DeserializeOwned + PartialEq + core::fmt::Debug,
{
    let device: String<1024> = serde_json_core::to_string(value).expect("serde-json-core writes");
    assert_eq!(device.as_str(), json, "device JSON");
    assert_eq!(
        serde_json::to_string(value).expect("serde_json writes"),
        json,
        "server JSON"
    );
    let (parsed, used) = serde_json_core::from_str::<T>(json).expect("serde-json-core reads");
    assert_eq!(used, json.len());
    assert_eq!(&parsed, value, "device read");
    assert_eq!(
        &serde_json::from_str::<T>(json).expect("serde_json reads"),
        value,
        "server read"
    );
}

fn event_id() -> Uuid {
    Uuid::from_u128(0x67e5_5044_10b1_426f_9247_bb68_0e5f_e0c8)
}

#[test]
fn heartbeat_request_agrees() {
    let request = HeartbeatRequest {
        battery_percent: 87,
        power_state: PowerState::Uploading,
        signal_dbm: -85,
        network: Network::Cellular,
        firmware_version: s("1.4.0"),
        modem_tx_bytes: 5_000_000_000,
        modem_rx_bytes: 123,
        sd_queue_len: 2,
        link_reason: Some(s("cellular registered (home)")),
        sd_oldest_age_s: None,
        sd_failed_deliveries: None,
        wifi: None,
        hardware_revision: None,
    };
    agrees(
        &request,
        r#"{"battery_percent":87,"power_state":"uploading","signal_dbm":-85,"network":"cellular","firmware_version":"1.4.0","modem_tx_bytes":5000000000,"modem_rx_bytes":123,"sd_queue_len":2,"link_reason":"cellular registered (home)"}"#,
    );
    let wifi = HeartbeatRequest {
        network: Network::Wifi,
        power_state: PowerState::Charging,
        link_reason: None,
        ..request
    };
    agrees(
        &wifi,
        r#"{"battery_percent":87,"power_state":"charging","signal_dbm":-85,"network":"wifi","firmware_version":"1.4.0","modem_tx_bytes":5000000000,"modem_rx_bytes":123,"sd_queue_len":2,"link_reason":null}"#,
    );
    let holding = HeartbeatRequest {
        sd_oldest_age_s: Some(7_200),
        sd_failed_deliveries: Some(3),
        ..wifi.clone()
    };
    agrees(
        &holding,
        r#"{"battery_percent":87,"power_state":"charging","signal_dbm":-85,"network":"wifi","firmware_version":"1.4.0","modem_tx_bytes":5000000000,"modem_rx_bytes":123,"sd_queue_len":2,"link_reason":null,"sd_oldest_age_s":7200,"sd_failed_deliveries":3}"#,
    );
    let reported = HeartbeatRequest {
        wifi: Some(WifiReport {
            credentials: 1_767_225_600_123,
            status: WifiStatus::JoinFailed,
        }),
        ..wifi
    };
    agrees(
        &reported,
        r#"{"battery_percent":87,"power_state":"charging","signal_dbm":-85,"network":"wifi","firmware_version":"1.4.0","modem_tx_bytes":5000000000,"modem_rx_bytes":123,"sd_queue_len":2,"link_reason":null,"wifi":{"credentials":1767225600123,"status":"join_failed"}}"#,
    );
}

#[test]
fn the_hardware_revision_is_reported_and_old_firmware_counts_as_the_esp32c6_board() {
    let old = r#"{"battery_percent":5,"power_state":"sleep","signal_dbm":-51,"network":"cellular","firmware_version":"1","modem_tx_bytes":0,"modem_rx_bytes":0,"sd_queue_len":0}"#;
    let (request, _) = serde_json_core::from_str::<HeartbeatRequest>(old).expect("reads");
    assert_eq!(request.hardware_revision, None);
    assert_eq!(request.hardware_revision(), "esp32c6");
    assert_eq!(smartbox_protocol::DEFAULT_HARDWARE_REVISION, "esp32c6");
    let reported = HeartbeatRequest {
        hardware_revision: Some(s("esp32c6-r2")),
        ..request.clone()
    };
    agrees(
        &reported,
        r#"{"battery_percent":5,"power_state":"sleep","signal_dbm":-51,"network":"cellular","firmware_version":"1","modem_tx_bytes":0,"modem_rx_bytes":0,"sd_queue_len":0,"link_reason":null,"hardware_revision":"esp32c6-r2"}"#,
    );
    assert_eq!(reported.hardware_revision(), "esp32c6-r2");
    assert!(reported.validate().is_ok());
    for bad in ["ESP32", "", "esp 32", "r2;drop"] {
        let r = HeartbeatRequest {
            hardware_revision: Some(s(bad)),
            ..request.clone()
        };
        assert_eq!(
            r.validate().map_err(|e| e.field),
            Err("hardware_revision"),
            "{bad:?}"
        );
    }
}

#[test]
fn heartbeat_request_without_link_reason_reads_as_none() {
    let json = r#"{"battery_percent":5,"power_state":"sleep","signal_dbm":-51,"network":"cellular","firmware_version":"1","modem_tx_bytes":0,"modem_rx_bytes":0,"sd_queue_len":0}"#;
    let (request, _) = serde_json_core::from_str::<HeartbeatRequest>(json).expect("reads");
    assert_eq!(request.link_reason, None);
    assert_eq!(
        request.sd_oldest_age_s, None,
        "older firmware does not report what it holds"
    );
    assert_eq!(request.sd_failed_deliveries, None);
    assert_eq!(request.power_state, PowerState::Sleep);
}

#[test]
fn heartbeat_request_validation_names_the_field() {
    let json = r#"{"battery_percent":101,"power_state":"awake","signal_dbm":-51,"network":"cellular","firmware_version":"1","modem_tx_bytes":0,"modem_rx_bytes":0,"sd_queue_len":0}"#;
    let request: HeartbeatRequest = serde_json::from_str(json).expect("reads");
    let error = request.validate().expect_err("101 % is refused");
    assert_eq!(error.field, "battery_percent");
    assert_eq!(error.to_string(), "invalid `battery_percent`: above 100");
    assert!(
        HeartbeatRequest {
            battery_percent: 100,
            ..request
        }
        .validate()
        .is_ok()
    );
}

#[test]
fn a_signal_above_0_dbm_or_a_counter_past_i64_is_invalid() {
    let json = r#"{"battery_percent":50,"power_state":"awake","signal_dbm":-51,"network":"cellular","firmware_version":"1","modem_tx_bytes":0,"modem_rx_bytes":0,"sd_queue_len":0}"#;
    let request: HeartbeatRequest = serde_json::from_str(json).expect("reads");
    let field = |r: HeartbeatRequest| r.validate().map_err(|e| e.field);
    assert_eq!(field(request.clone()), Ok(()));
    for signal_dbm in [30, 1, -151] {
        let r = HeartbeatRequest {
            signal_dbm,
            ..request.clone()
        };
        assert_eq!(field(r), Err("signal_dbm"));
    }
    let r = HeartbeatRequest {
        modem_tx_bytes: u64::MAX,
        ..request.clone()
    };
    assert_eq!(field(r), Err("modem_tx_bytes"));
    let r = HeartbeatRequest {
        modem_rx_bytes: 1 << 63,
        ..request
    };
    assert_eq!(field(r), Err("modem_rx_bytes"));
}

#[test]
fn heartbeat_response_agrees_with_and_without_firmware() {
    let plain = HeartbeatResponse {
        server_time: 1_767_225_600,
        service: ServiceState::Active,
        config: DeviceConfig::default(),
        firmware: None,
        wifi: None,
    };
    agrees(
        &plain,
        r#"{"server_time":1767225600,"service":"active","config":{"checkin_interval_s":21600,"jpeg_quality":80,"wifi_min_rssi_dbm":-70},"firmware":null}"#,
    );
    let offer = HeartbeatResponse {
        service: ServiceState::Limited,
        config: DeviceConfig {
            checkin_interval_s: 1800,
            jpeg_quality: 60,
            wifi_min_rssi_dbm: -65,
        },
        firmware: Some(FirmwareOffer {
            version: s("1.5.0"),
            size: 1_048_576,
            sha256: s(&"ab".repeat(32)),
            signature: s(&"cd".repeat(64)),
        }),
        ..plain
    };
    let json = format!(
        r#"{{"server_time":1767225600,"service":"limited","config":{{"checkin_interval_s":1800,"jpeg_quality":60,"wifi_min_rssi_dbm":-65}},"firmware":{{"version":"1.5.0","size":1048576,"sha256":"{}","signature":"{}"}}}}"#,
        "ab".repeat(32),
        "cd".repeat(64)
    );
    agrees(&offer, &json);
}

#[test]
fn heartbeat_response_with_sealed_wifi_agrees_and_older_firmware_still_reads_it() {
    let credentials = WifiCredentials::new("home", "correct horse").expect("valid");
    let sealed = smartbox_protocol::wifi::seal(&[9; 32], 77, [3; 12], &credentials);
    let answer = HeartbeatResponse {
        server_time: 1,
        service: ServiceState::Active,
        config: DeviceConfig::default(),
        firmware: None,
        wifi: Some(sealed.clone()),
    };
    let json = format!(
        r#"{{"server_time":1,"service":"active","config":{{"checkin_interval_s":21600,"jpeg_quality":80,"wifi_min_rssi_dbm":-70}},"firmware":null,"wifi":{{"version":77,"nonce":"{}","sealed":"{}"}}}}"#,
        sealed.nonce, sealed.sealed
    );
    agrees(&answer, &json);
    assert!(!json.contains("horse"));
    /// The answer as firmware before cloud WiFi credentials reads it.
    #[derive(serde::Deserialize)]
    struct Older {
        server_time: i64,
        service: ServiceState,
    }
    let mut scratch = [0; 64];
    let (older, _) = serde_json_core::from_slice_escaped::<Older>(json.as_bytes(), &mut scratch)
        .expect("older firmware reads");
    assert_eq!(
        (older.server_time, older.service),
        (1, ServiceState::Active)
    );
}

#[test]
fn heartbeat_response_missing_config_fields_take_defaults() {
    let json = r#"{"server_time":1,"service":"suspended","config":{"checkin_interval_s":3600}}"#;
    let (response, _) = serde_json_core::from_str::<HeartbeatResponse>(json).expect("reads");
    assert_eq!(response.service, ServiceState::Suspended);
    assert_eq!(response.config.checkin_interval_s, 3600);
    assert_eq!(response.config.jpeg_quality, 80);
    assert_eq!(response.config.wifi_min_rssi_dbm, -70);
    assert_eq!(response.firmware, None);
}

#[test]
fn event_request_and_response_agree() {
    let request = EventRequest {
        event_id: event_id(),
        kind: EventKind::MailArrived,
        occurred_at: 1_767_225_600,
        photo_count: 3,
    };
    agrees(
        &request,
        r#"{"event_id":"67e55044-10b1-426f-9247-bb680e5fe0c8","kind":"mail_arrived","occurred_at":1767225600,"photo_count":3}"#,
    );
    agrees(
        &EventRequest {
            kind: EventKind::MailRemoved,
            photo_count: 0,
            ..request
        },
        r#"{"event_id":"67e55044-10b1-426f-9247-bb680e5fe0c8","kind":"mail_removed","occurred_at":1767225600,"photo_count":0}"#,
    );
    agrees(
        &EventResponse {
            event_id: event_id(),
            photos_received: 1,
            complete: false,
        },
        r#"{"event_id":"67e55044-10b1-426f-9247-bb680e5fe0c8","photos_received":1,"complete":false}"#,
    );
}

#[test]
fn event_request_with_four_photos_is_invalid() {
    let request = EventRequest {
        event_id: event_id(),
        kind: EventKind::MailArrived,
        occurred_at: 0,
        photo_count: 4,
    };
    assert_eq!(request.validate().map_err(|e| e.field), Err("photo_count"));
    assert!(
        EventRequest {
            photo_count: 3,
            ..request
        }
        .validate()
        .is_ok()
    );
}

#[test]
fn event_times_before_the_epoch_or_from_2100_are_invalid() {
    let request = EventRequest {
        event_id: event_id(),
        kind: EventKind::MailArrived,
        occurred_at: 0,
        photo_count: 0,
    };
    assert!(request.validate().is_ok());
    for occurred_at in [-1, 4_102_444_800, 253_402_300_799] {
        let invalid = EventRequest {
            occurred_at,
            ..request
        };
        assert_eq!(invalid.validate().map_err(|e| e.field), Err("occurred_at"));
    }
}

#[test]
fn event_id_in_upper_case_is_read_too() {
    let json = r#"{"event_id":"67E55044-10B1-426F-9247-BB680E5FE0C8","kind":"mail_arrived","occurred_at":0,"photo_count":0}"#;
    let (request, _) = serde_json_core::from_str::<EventRequest>(json).expect("reads");
    assert_eq!(request.event_id, event_id());
}

#[test]
fn firmware_report_agrees() {
    agrees(
        &FirmwareReport {
            version: s("1.5.0"),
            status: FirmwareStatus::RolledBack,
            detail: Some(s("no confirm after boot")),
        },
        r#"{"version":"1.5.0","status":"rolled_back","detail":"no confirm after boot"}"#,
    );
    agrees(
        &FirmwareReport {
            version: s("1.5.0"),
            status: FirmwareStatus::Installed,
            detail: None,
        },
        r#"{"version":"1.5.0","status":"installed","detail":null}"#,
    );
    for (status, word) in [
        (FirmwareStatus::Downloaded, "downloaded"),
        (FirmwareStatus::Failed, "failed"),
    ] {
        assert_eq!(serde_json::to_value(status).expect("writes"), word);
    }
}

#[test]
fn error_body_agrees() {
    agrees(
        &ErrorBody {
            error: s("unauthorized"),
            message: s("bad credentials"),
        },
        r#"{"error":"unauthorized","message":"bad credentials"}"#,
    );
}

#[test]
fn error_body_ignores_extra_fields_and_cuts_long_messages() {
    let long = "é".repeat(100);
    let json = format!(
        r#"{{"error":"over_cap","retry_after":3600,"message":"{long}","details":{{"a":[1,2]}}}}"#
    );
    let (body, _) = serde_json_core::from_str::<ErrorBody>(&json).expect("device reads");
    assert_eq!(body.error.as_str(), "over_cap");
    assert_eq!(body.message.as_str(), "é".repeat(64));
    let server: ErrorBody = serde_json::from_str(&json).expect("server reads");
    assert_eq!(server, body);
}

#[test]
fn unknown_enum_words_are_refused() {
    let json = r#"{"event_id":"67e55044-10b1-426f-9247-bb680e5fe0c8","kind":"mail_lost","occurred_at":0,"photo_count":0}"#;
    assert!(serde_json_core::from_str::<EventRequest>(json).is_err());
    assert!(serde_json::from_str::<EventRequest>(json).is_err());
}

/// serde-json-core keeps escapes verbatim unless given a buffer: the device must parse with
/// `from_slice_escaped`, as this test does.
#[test]
fn escaped_characters_in_strings_are_read_by_the_device() {
    let json = r#"{"error":"bad_request","message":"field \"kind\"\nis wrong"}"#;
    let mut unescaped = [0; 128];
    let (body, _) =
        serde_json_core::from_slice_escaped::<ErrorBody>(json.as_bytes(), &mut unescaped)
            .expect("device reads escapes");
    assert_eq!(body.message.as_str(), "field \"kind\"\nis wrong");
    let server: ErrorBody = serde_json::from_str(json).expect("server reads");
    assert_eq!(server, body);
}
