//! A camera that makes real JPEGs of the simulated mailbox's inside ([`crate::scene`]: the box,
//! its mail, the flash, the sun, sensor noise), encoded at the quality the firmware asks for.
//!
//! Capture time and current are those of an SPI camera module (ArduCAM Mini 2MP class, OV2640:
//! a few hundred milliseconds to expose and read the frame out of the module's FIFO); the power
//! meter sees the camera rail on for that long.

use jpeg_encoder::{ColorType, Encoder};
use smartbox_firmware::clock::Clock;
use smartbox_firmware::ports::Camera;

use crate::board::Board;
use crate::power::{Rail, State};
use crate::scene::MailboxScenes;

/// Frame size and capture time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CameraSpec {
    /// Pixels across.
    pub width: u16,
    /// Pixels down.
    pub height: u16,
    /// Exposure plus FIFO read-out.
    pub capture_ms: u64,
}

impl CameraSpec {
    /// VGA, what the product ships: photos of a few tens of kilobytes at quality 80.
    pub const VGA: Self = Self {
        width: 640,
        height: 480,
        capture_ms: 300,
    };
    /// Thumbnails of a few kilobytes or less, for fleets of hundreds of devices in tests.
    pub const TINY: Self = Self {
        width: 64,
        height: 48,
        capture_ms: 300,
    };
}

/// Why a capture failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CaptureError {
    /// The JPEG does not fit the firmware's buffer.
    #[error("a {needed}-byte JPEG does not fit a {room}-byte buffer")]
    BufferTooSmall {
        /// JPEG length.
        needed: usize,
        /// Buffer length.
        room: usize,
    },
    /// The encoder refused the frame.
    #[error("jpeg encoding failed: {0}")]
    Encode(String),
}

/// The simulated camera module.
#[derive(Debug)]
pub struct SimCamera {
    board: Board,
    spec: CameraSpec,
    scenes: MailboxScenes,
    shots: u64,
}

impl SimCamera {
    /// A camera on `board`, its mailbox's scenes and story drawn from `seed`.
    pub fn new(board: Board, spec: CameraSpec, seed: u64) -> Self {
        Self {
            board,
            spec,
            scenes: MailboxScenes::new(seed),
            shots: 0,
        }
    }

    /// Frames taken so far.
    pub fn shots(&self) -> u64 {
        self.shots
    }

    /// The box the camera looks into (what lies in it, its story so far).
    pub fn scenes(&self) -> &MailboxScenes {
        &self.scenes
    }

    /// The box the camera looks into, to make something happen in it.
    pub fn scenes_mut(&mut self) -> &mut MailboxScenes {
        &mut self.scenes
    }

    /// One frame of the box as it is now, as a JPEG at `quality`.
    pub fn frame(&mut self, quality: u8) -> Result<Vec<u8>, CaptureError> {
        let rgb = self
            .scenes
            .shot(usize::from(self.spec.width), usize::from(self.spec.height));
        let mut jpeg = Vec::new();
        Encoder::new(&mut jpeg, quality.clamp(1, 100))
            .encode(&rgb, self.spec.width, self.spec.height, ColorType::Rgb)
            .map_err(|e| CaptureError::Encode(e.to_string()))?;
        Ok(jpeg)
    }
}

impl Camera for SimCamera {
    type Error = CaptureError;

    async fn capture(&mut self, quality: u8, out: &mut [u8]) -> Result<usize, CaptureError> {
        let clock = self.board.clock();
        let start = clock.now_ms();
        self.board
            .with(|s| s.meter.set(Rail::Camera, start, State::CameraCapture));
        clock.sleep_ms(self.spec.capture_ms).await;
        let end = clock.now_ms();
        self.board
            .with(|s| s.meter.set(Rail::Camera, end, State::Off));
        self.shots += 1;
        let jpeg = self.frame(quality)?;
        let room = out.len();
        let target = out
            .get_mut(..jpeg.len())
            .ok_or(CaptureError::BufferTooSmall {
                needed: jpeg.len(),
                room,
            })?;
        target.copy_from_slice(&jpeg);
        Ok(jpeg.len())
    }
}
