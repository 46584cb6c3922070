//! The traits the wake cycle drives besides the links ([`crate::link`]): camera, upload queue,
//! battery gauge and entropy. The board and the simulator implement them; the SD-card queue
//! implements [`UploadQueue`].

use core::fmt::Debug;

use smartbox_protocol::{EventRequest, Uuid};

/// The JPEG camera.
pub trait Camera {
    /// Why a capture failed.
    type Error: Debug;
    /// Takes one JPEG at `quality` (1-100) into `out`; returns its length.
    async fn capture(&mut self, quality: u8, out: &mut [u8]) -> Result<usize, Self::Error>;
}

/// Events waiting for upload, kept on SD so that they survive power loss; oldest first.
pub trait UploadQueue {
    /// Why the queue could not be read or written.
    type Error: Debug;
    /// Appends an event with its photos (`photos.len() == event.photo_count`), durably.
    async fn push(&mut self, event: &EventRequest, photos: &[&[u8]]) -> Result<(), Self::Error>;
    /// Events waiting.
    async fn pending(&mut self) -> Result<u32, Self::Error>;
    /// The oldest event, without removing it.
    async fn oldest(&mut self) -> Result<Option<EventRequest>, Self::Error>;
    /// Photo `index` of the oldest event into `out`; returns its length.
    async fn read_photo(&mut self, index: u8, out: &mut [u8]) -> Result<usize, Self::Error>;
    /// Removes the oldest event (after the server stored it, or refused it for good).
    async fn pop_oldest(&mut self) -> Result<(), Self::Error>;
}

/// The battery as the heartbeat reports it.
pub trait BatteryGauge {
    /// State of charge, 0-100.
    async fn percent(&mut self) -> u8;
    /// Whether external power is charging the battery.
    async fn charging(&mut self) -> bool;
}

/// A source of random bytes (the ESP32's hardware RNG).
pub trait Entropy {
    /// 16 random bytes.
    fn random_16(&mut self) -> [u8; 16];
}

/// A new random (version 4) event id.
pub fn new_event_id(entropy: &mut impl Entropy) -> Uuid {
    uuid::Builder::from_random_bytes(entropy.random_16()).into_uuid()
}
