//! `POST /api/device/v1/events`: a mail event, whose photos follow with `PUT`.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::{InvalidField, MAX_PHOTOS};

/// What the IR sensor saw.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EventKind {
    /// Something was put into the box.
    MailArrived,
    /// The box was emptied.
    MailRemoved,
}

/// Body of `POST /api/device/v1/events`. Sending the same `event_id` again is answered 200 and
/// changes nothing, so a device retries freely.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct EventRequest {
    /// Made by the device when the event happens (hyphenated lowercase on the wire).
    pub event_id: Uuid,
    /// What happened.
    pub kind: EventKind,
    /// When it happened, unix seconds of the device's clock.
    pub occurred_at: i64,
    /// Photos that will follow, 0-3 ([`MAX_PHOTOS`]).
    pub photo_count: u8,
}

/// The earliest `occurred_at` taken: the epoch (a device that has not yet set its clock counts
/// from there, and its events must not be lost).
pub const EARLIEST_OCCURRED_AT: i64 = 0;
/// The first `occurred_at` refused: 2100-01-01 00:00 UTC (a clock gone wrong; the server also
/// refuses times well ahead of its own clock).
pub const LATEST_OCCURRED_AT: i64 = 4_102_444_800;

impl EventRequest {
    /// Checks the ranges the types cannot express.
    pub fn validate(&self) -> Result<(), InvalidField> {
        if self.photo_count > MAX_PHOTOS {
            return Err(InvalidField::new("photo_count", "above 3"));
        }
        if !(EARLIEST_OCCURRED_AT..LATEST_OCCURRED_AT).contains(&self.occurred_at) {
            return Err(InvalidField::new(
                "occurred_at",
                "outside 1970-01-01..2100-01-01 (unix seconds)",
            ));
        }
        Ok(())
    }
}

/// Body of the 201/200 answer to an event and of the 201/200 answer to a photo.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct EventResponse {
    /// The event this is about.
    pub event_id: Uuid,
    /// Distinct photos stored so far.
    pub photos_received: u8,
    /// True once every announced photo is stored (the customer is then notified, once).
    pub complete: bool,
}
