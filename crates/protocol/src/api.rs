//! Paths, header names and limits of the device API v1 (DESIGN §5).

use core::fmt::Write as _;

use heapless::String;
use uuid::Uuid;

/// `POST`: a [`HeartbeatRequest`](crate::HeartbeatRequest), answered by a
/// [`HeartbeatResponse`](crate::HeartbeatResponse). Never answered with 402 or 429.
pub const HEARTBEAT_PATH: &str = "/api/device/v1/heartbeat";
/// `POST`: an [`EventRequest`](crate::EventRequest); 201 new, 200 same event again, 402 the device
/// cannot operate, 429 over the spend cap (with `Retry-After`).
pub const EVENTS_PATH: &str = "/api/device/v1/events";
/// `POST`: a [`FirmwareReport`](crate::FirmwareReport); 204.
pub const FIRMWARE_REPORT_PATH: &str = "/api/device/v1/firmware/report";
/// Prefix of `GET /api/device/v1/firmware/{version}` (the image; `Range` supported).
pub const FIRMWARE_PATH_PREFIX: &str = "/api/device/v1/firmware/";

/// Header carrying the device serial (4-32 characters of `A-Z`, `0-9`, `-`).
pub const HEADER_SERIAL: &str = "X-Device-Serial";
/// Header carrying the device's clock as decimal unix seconds; it is the `TIME` that is signed.
pub const HEADER_TIME: &str = "X-Device-Time";
/// Header carrying the signature: `v2=` and the 64 lowercase hex characters of
/// [`sign_v2`](crate::sign_v2), or (version 1, older firmware) the 64 of [`sign`](crate::sign).
pub const HEADER_SIGNATURE: &str = "X-Device-Signature";

/// Largest photo the server stores: 2 MiB.
pub const MAX_PHOTO_BYTES: u32 = 2 * 1024 * 1024;
/// Photos per event; `photo_count` is at most this and a photo index is below `photo_count`.
pub const MAX_PHOTOS: u8 = 3;
/// Largest accepted `|server now - X-Device-Time|`; beyond it the request is refused with 401.
pub const MAX_CLOCK_SKEW_S: i64 = 300;
/// Longest serial number.
pub const MAX_SERIAL_LEN: usize = 32;

/// `PUT` path of photo `index` of an event: `/api/device/v1/events/{event_id}/photos/{index}`,
/// the uuid hyphenated and lowercase. The body is the raw JPEG.
pub fn photo_path(event_id: Uuid, index: u8) -> String<80> {
    let mut path = String::new();
    // 22 + 36 + 8 + at most 3 digits = 69 bytes: always fits.
    let _ = write!(
        path,
        "{EVENTS_PATH}/{}/photos/{index}",
        event_id.hyphenated()
    );
    path
}

/// `GET` path of a firmware image: `/api/device/v1/firmware/{version}`.
pub fn firmware_path(version: &str) -> Result<String<64>, crate::InvalidField> {
    let mut path = String::new();
    path.push_str(FIRMWARE_PATH_PREFIX)
        .and_then(|()| path.push_str(version))
        .map_err(|_| crate::InvalidField::new("version", "longer than 40 bytes"))?;
    Ok(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn photo_path_spells_the_uuid_hyphenated_and_the_index() {
        let id = Uuid::from_u128(0x67e5_5044_10b1_426f_9247_bb68_0e5f_e0c8);
        assert_eq!(
            photo_path(id, 2).as_str(),
            "/api/device/v1/events/67e55044-10b1-426f-9247-bb680e5fe0c8/photos/2"
        );
        assert_eq!(photo_path(Uuid::max(), 255).len(), 69);
    }

    #[test]
    fn firmware_path_appends_the_version_and_refuses_overlong_ones() {
        assert_eq!(
            firmware_path("1.2.3").map(|p| p.as_str() == "/api/device/v1/firmware/1.2.3"),
            Ok(true)
        );
        assert!(firmware_path(&"9".repeat(41)).is_err());
        assert!(firmware_path(&"9".repeat(40)).is_ok());
    }
}
