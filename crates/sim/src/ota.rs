//! The board's OTA flash, emulated: two app slots, an `otadata` that names the slot to boot and
//! its state, and the bootloader's rollback, as ESP-IDF's bootloader does it with
//! `CONFIG_BOOTLOADER_APP_ROLLBACK_ENABLE`:
//!
//! - an image set to boot is `New`; the boot that starts it makes it `PendingVerify`;
//! - a boot that finds the selected image still `PendingVerify` (it never called
//!   `mark_valid`) marks it `Aborted` and starts the other slot again.
//!
//! Waking from deep sleep goes through the bootloader on the ESP32-C6, so [`SimOtaFlash::boot`]
//! runs at every wake. The simulated images are not executables: each slot remembers the
//! version it was written for, which the simulated device then reports as its own.

use smartbox_firmware::ota::{ImageState, OtaPartition, RECORD_LEN};

/// One slot's `otadata` state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SlotState {
    /// Nothing bootable.
    Empty,
    /// Set to boot, not started yet.
    New,
    /// Started once, not confirmed.
    PendingVerify,
    /// Confirmed.
    Valid,
    /// Given up by the bootloader.
    Aborted,
}

/// Why a flash operation failed (never, here; the type the trait wants).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FlashError;

/// Two OTA slots of NOR flash and the bootloader's choice between them.
#[derive(Debug, Clone)]
pub struct SimOtaFlash {
    slots: [Vec<u8>; 2],
    /// Each slot's `otadata` state.
    pub states: [SlotState; 2],
    /// The version each slot holds.
    pub versions: [String; 2],
    /// The slot the running image was started from.
    pub running: usize,
    boot_next: usize,
    record: [u8; RECORD_LEN],
    /// Bytes written into the update slot since it was made.
    pub bytes_written: u64,
}

impl SimOtaFlash {
    /// A board running `version` (confirmed) from slot 0, with slots of `capacity` bytes.
    pub fn new(capacity: usize, version: &str) -> Self {
        Self {
            slots: [vec![0xff; capacity], vec![0xff; capacity]],
            states: [SlotState::Valid, SlotState::Empty],
            versions: [version.to_owned(), String::new()],
            running: 0,
            boot_next: 0,
            record: [0xff; RECORD_LEN],
            bytes_written: 0,
        }
    }

    fn update(&self) -> usize {
        1 - self.running
    }

    /// A boot through the bootloader: picks the slot to start, rolling back an image that did
    /// not confirm itself during its first boot.
    pub fn boot(&mut self) {
        let slot = self.boot_next;
        match self.states[slot] {
            SlotState::New => {
                self.states[slot] = SlotState::PendingVerify;
                self.running = slot;
            }
            SlotState::PendingVerify => {
                self.states[slot] = SlotState::Aborted;
                self.boot_next = 1 - slot;
                self.running = 1 - slot;
            }
            _ => self.running = slot,
        }
    }

    /// The version of the running image.
    pub fn running_version(&self) -> &str {
        &self.versions[self.running]
    }

    /// Names the version the image in the update slot was downloaded as (the simulated image
    /// cannot say it itself).
    pub fn label_update(&mut self, version: &str) {
        let update = self.update();
        self.versions[update] = version.to_owned();
    }

    /// The update slot's first `len` bytes.
    pub fn update_image(&self, len: usize) -> &[u8] {
        &self.slots[self.update()][..len]
    }
}

impl OtaPartition for SimOtaFlash {
    type Error = FlashError;

    fn capacity(&self) -> u32 {
        self.slots[0].len() as u32
    }

    fn erase(&mut self, len: u32) -> Result<(), FlashError> {
        if len as usize > self.slots[0].len() {
            return Err(FlashError);
        }
        let update = self.update();
        self.slots[update].fill(0xff);
        self.states[update] = SlotState::Empty;
        self.versions[update].clear();
        Ok(())
    }

    fn write(&mut self, offset: u32, bytes: &[u8]) -> Result<(), FlashError> {
        let update = self.update();
        let start = offset as usize;
        let target = self.slots[update]
            .get_mut(start..start + bytes.len())
            .ok_or(FlashError)?;
        // NOR flash: programming only clears bits.
        for (cell, byte) in target.iter_mut().zip(bytes) {
            *cell &= byte;
        }
        self.bytes_written += bytes.len() as u64;
        Ok(())
    }

    fn read(&mut self, offset: u32, out: &mut [u8]) -> Result<(), FlashError> {
        let update = self.update();
        let start = offset as usize;
        let source = self.slots[update]
            .get(start..start + out.len())
            .ok_or(FlashError)?;
        out.copy_from_slice(source);
        Ok(())
    }

    fn set_boot(&mut self) -> Result<(), FlashError> {
        let update = self.update();
        self.boot_next = update;
        self.states[update] = SlotState::New;
        Ok(())
    }

    fn mark_valid(&mut self) -> Result<(), FlashError> {
        self.states[self.running] = SlotState::Valid;
        Ok(())
    }

    fn running_state(&mut self) -> Result<ImageState, FlashError> {
        Ok(match self.states[self.running] {
            SlotState::PendingVerify => ImageState::PendingVerify,
            _ => ImageState::Valid,
        })
    }

    fn update_rolled_back(&mut self) -> Result<bool, FlashError> {
        Ok(self.states[self.update()] == SlotState::Aborted)
    }

    fn load_record(&mut self, out: &mut [u8; RECORD_LEN]) -> Result<(), FlashError> {
        *out = self.record;
        Ok(())
    }

    fn store_record(&mut self, record: &[u8; RECORD_LEN]) -> Result<(), FlashError> {
        self.record = *record;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_image_not_confirmed_during_its_first_boot_is_rolled_back_at_the_next() {
        let mut flash = SimOtaFlash::new(1024, "1.0.0");
        flash.erase(8).expect("erased");
        flash.write(0, &[1, 2, 3, 4]).expect("written");
        flash.label_update("2.0.0");
        flash.set_boot().expect("switched");
        flash.boot();
        assert_eq!(flash.running_version(), "2.0.0");
        assert_eq!(flash.running_state(), Ok(ImageState::PendingVerify));
        flash.boot();
        assert_eq!(flash.running_version(), "1.0.0");
        assert_eq!(flash.update_rolled_back(), Ok(true));
    }

    #[test]
    fn a_confirmed_image_keeps_booting() {
        let mut flash = SimOtaFlash::new(1024, "1.0.0");
        flash.label_update("2.0.0");
        flash.set_boot().expect("switched");
        flash.boot();
        flash.mark_valid().expect("confirmed");
        flash.boot();
        flash.boot();
        assert_eq!(flash.running_version(), "2.0.0");
        assert_eq!(flash.running_state(), Ok(ImageState::Valid));
        assert_eq!(flash.update_image(4), &[0xff; 4]);
    }
}
