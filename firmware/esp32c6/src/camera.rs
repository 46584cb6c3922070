//! Driver for an Arducam Mega SPI camera (3 MP or 5 MP) behind the core's [`Camera`] trait.
//!
//! The Mega carries its own controller: the sensor, the JPEG encoder and a frame FIFO sit behind
//! a small register file on SPI (mode 0, at most 8 MHz), so no sensor register tables are needed.
//! The protocol, from Arducam's "Mega SPI Camera Application Note" (2023) and their Apache-2.0
//! Zephyr driver:
//!
//! - write a register: `[addr | 0x80, value]`;
//! - read a register: `[addr & 0x7f, dummy, dummy]`, the value is the third byte clocked in;
//! - the controller is busy after a settings write until `SENSOR_STATE & 0x03 == 0x02` (idle);
//! - capture: `FIFO_CTRL = CLEAR`, `FIFO_CTRL = START`, poll `TRIG & CAP_DONE`, read the length
//!   from `FIFO_SIZE1..3` (little-endian, 24 bits), then a burst read: `[0x3c, dummy]` followed by
//!   the image bytes in the same chip-select frame.
//!
//! Quality: the Mega has three JPEG levels, not a 1-100 scale; [`level_for`] maps the server's
//! `jpeg_quality` onto them (80, the default, is "high"). A frame larger than the caller's buffer
//! is taken again one level lower before giving up.

use embedded_hal::spi::{Operation, SpiDevice};
use smartbox_firmware::clock::Clock;
use smartbox_firmware::ports::Camera;

const REG_FIFO_CTRL: u8 = 0x04;
const FIFO_CLEAR: u8 = 0x01;
const FIFO_START: u8 = 0x02;
const REG_SENSOR_RESET: u8 = 0x07;
const SENSOR_RESET: u8 = 0x40;
const REG_FORMAT: u8 = 0x20;
const FORMAT_JPEG: u8 = 0x01;
const REG_RESOLUTION: u8 = 0x21;
/// 640 x 480: a mail slot needs no more, and three frames fit the board's RAM.
const RESOLUTION_VGA: u8 = 0x02;
const REG_QUALITY: u8 = 0x2a;
const REG_SENSOR_ID: u8 = 0x40;
/// Sensor state in the low two bits; also the capture trigger register (bit 2: capture done).
const REG_STATE: u8 = 0x44;
const STATE_IDLE: u8 = 0x02;
const CAPTURE_DONE: u8 = 0x04;
const REG_FIFO_SIZE: [u8; 3] = [0x45, 0x46, 0x47];
const BURST_FIFO_READ: u8 = 0x3c;

/// Sensor ids the Mega reports: 5 MP and 3 MP, two revisions each.
const KNOWN_SENSORS: [u8; 4] = [0x81, 0x82, 0x83, 0x84];

/// Time the controller may take to boot after power-on or reset.
const BOOT_MS: u64 = 1_500;
/// Time a settings write may keep the controller busy.
const SETTLE_MS: u64 = 100;
/// Time one exposure plus encoding may take.
const CAPTURE_MS: u64 = 3_000;
const POLL_MS: u64 = 5;

/// JPEG quality levels of the Mega, best first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    /// Least compression.
    High = 0,
    /// The controller's default.
    Default = 1,
    /// Most compression.
    Low = 2,
}

impl Level {
    fn lower(self) -> Option<Self> {
        match self {
            Self::High => Some(Self::Default),
            Self::Default => Some(Self::Low),
            Self::Low => None,
        }
    }
}

/// The Mega level for a 1-100 JPEG quality: 75 and above high, 40-74 default, below low.
pub fn level_for(quality: u8) -> Level {
    match quality {
        75.. => Level::High,
        40..=74 => Level::Default,
        _ => Level::Low,
    }
}

/// Why a capture failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CameraError<E> {
    /// The SPI bus failed.
    Spi(E),
    /// The controller stayed busy, or never reported a finished frame.
    Timeout,
    /// The sensor id register named no known Mega sensor (not connected or not powered).
    NotDetected(u8),
    /// The FIFO held no frame.
    Empty,
    /// Even the lowest quality gave a frame of `len` bytes, more than the buffer holds.
    TooLarge {
        /// Frame length in the FIFO.
        len: u32,
    },
    /// The frame does not start with a JPEG SOI marker.
    NotJpeg,
}

/// An Arducam Mega on its own chip select.
#[derive(Debug)]
pub struct ArducamMega<SPI, K> {
    spi: SPI,
    clock: K,
    ready: bool,
    level: Option<Level>,
}

impl<SPI: SpiDevice, K: Clock> ArducamMega<SPI, K> {
    /// A camera that is set up on its first capture (its boot overlaps the modem's).
    pub fn new(spi: SPI, clock: K) -> Self {
        Self {
            spi,
            clock,
            ready: false,
            level: None,
        }
    }

    fn write(&mut self, register: u8, value: u8) -> Result<(), CameraError<SPI::Error>> {
        self.spi
            .write(&[register | 0x80, value])
            .map_err(CameraError::Spi)
    }

    fn read(&mut self, register: u8) -> Result<u8, CameraError<SPI::Error>> {
        let mut frame = [register & 0x7f, 0, 0];
        self.spi
            .transfer_in_place(&mut frame)
            .map_err(CameraError::Spi)?;
        Ok(frame[2])
    }

    async fn wait_idle(&mut self, within_ms: u64) -> Result<(), CameraError<SPI::Error>> {
        let deadline = self.clock.now_ms().saturating_add(within_ms);
        loop {
            if self.read(REG_STATE)? & 0x03 == STATE_IDLE {
                return Ok(());
            }
            if self.clock.now_ms() >= deadline {
                return Err(CameraError::Timeout);
            }
            self.clock.sleep_ms(POLL_MS).await;
        }
    }

    /// Waits for the controller, checks the sensor and selects JPEG at VGA.
    async fn set_up(&mut self) -> Result<(), CameraError<SPI::Error>> {
        if let Err(first) = self.wait_idle(BOOT_MS).await {
            // A controller left in a bad state by an earlier wake: reset it once.
            self.write(REG_SENSOR_RESET, SENSOR_RESET)?;
            self.clock.sleep_ms(BOOT_MS).await;
            self.wait_idle(BOOT_MS).await.map_err(|_| first)?;
        }
        let id = self.read(REG_SENSOR_ID)?;
        if !KNOWN_SENSORS.contains(&id) {
            return Err(CameraError::NotDetected(id));
        }
        self.write(REG_FORMAT, FORMAT_JPEG)?;
        self.wait_idle(SETTLE_MS).await?;
        self.write(REG_RESOLUTION, RESOLUTION_VGA)?;
        self.wait_idle(SETTLE_MS).await?;
        self.ready = true;
        Ok(())
    }

    async fn set_level(&mut self, level: Level) -> Result<(), CameraError<SPI::Error>> {
        if self.level != Some(level) {
            self.write(REG_QUALITY, level as u8)?;
            self.wait_idle(SETTLE_MS).await?;
            self.level = Some(level);
        }
        Ok(())
    }

    /// Exposes one frame into the FIFO and returns its length.
    async fn expose(&mut self) -> Result<u32, CameraError<SPI::Error>> {
        self.write(REG_FIFO_CTRL, FIFO_CLEAR)?;
        self.write(REG_FIFO_CTRL, FIFO_START)?;
        let deadline = self.clock.now_ms().saturating_add(CAPTURE_MS);
        while self.read(REG_STATE)? & CAPTURE_DONE == 0 {
            if self.clock.now_ms() >= deadline {
                return Err(CameraError::Timeout);
            }
            self.clock.sleep_ms(POLL_MS).await;
        }
        let mut len = 0_u32;
        for (shift, register) in REG_FIFO_SIZE.into_iter().enumerate() {
            len |= u32::from(self.read(register)?) << (8 * shift);
        }
        Ok(len)
    }

    fn read_fifo(&mut self, out: &mut [u8]) -> Result<(), CameraError<SPI::Error>> {
        self.spi
            .transaction(&mut [
                Operation::Write(&[BURST_FIFO_READ, 0]),
                Operation::Read(out),
            ])
            .map_err(CameraError::Spi)
    }
}

impl<SPI: SpiDevice, K: Clock> Camera for ArducamMega<SPI, K> {
    type Error = CameraError<SPI::Error>;

    async fn capture(&mut self, quality: u8, out: &mut [u8]) -> Result<usize, Self::Error> {
        if !self.ready {
            self.set_up().await?;
        }
        let mut level = level_for(quality);
        let len = loop {
            self.set_level(level).await?;
            let len = self.expose().await?;
            if len == 0 {
                return Err(CameraError::Empty);
            }
            if len as usize <= out.len() {
                break len as usize;
            }
            level = level.lower().ok_or(CameraError::TooLarge { len })?;
        };
        let frame = &mut out[..len];
        self.read_fifo(frame)?;
        if !frame.starts_with(&[0xff, 0xd8]) {
            return Err(CameraError::NotJpeg);
        }
        // The FIFO length is rounded up by the controller: cut after the EOI marker when found.
        let end = frame
            .windows(2)
            .rposition(|pair| pair == [0xff, 0xd9])
            .map_or(len, |at| at + 2);
        Ok(end)
    }
}
