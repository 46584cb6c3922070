//! Notifications to send.

use smartbox_domain::Serial;
use smartbox_notify::{EventKind, Notification, Thumbnail};
use time::OffsetDateTime;
use time::macros::datetime;
use uuid::Uuid;

/// Bytes that start like a JPEG and contain every byte value, so a lossy transfer encoding
/// would show.
pub fn thumbnail(seed: u8) -> Thumbnail {
    let mut bytes = vec![0xFF, 0xD8, 0xFF, 0xE0, seed];
    bytes.extend(0..=255u8);
    bytes.extend([0xFF, 0xD9]);
    Thumbnail::from_jpeg(bytes).expect("starts with SOI")
}

pub fn morning() -> OffsetDateTime {
    datetime!(2026-11-25 07:00 +01:00)
}

pub fn arrival(name: &str, at: OffsetDateTime, seed: u8) -> Notification {
    Notification {
        event_id: Uuid::now_v7(),
        serial: Serial::parse("SB-TEST-0001").expect("valid serial"),
        mailbox_name: name.to_owned(),
        kind: EventKind::MailArrived,
        category: None,
        occurred_at: at,
        link: format!("http://127.0.0.1:8080/events/{seed}"),
        thumbnail: Some(thumbnail(seed)),
    }
}
