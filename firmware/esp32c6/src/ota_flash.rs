//! The OTA slots in flash, through esp-bootloader-esp-idf's OTA updater over esp-storage.
//!
//! Partition layout (`partitions.csv`): `otadata` plus two app slots `ota_0` and `ota_1`. The
//! running image lives in one slot; an update is written into the other ("next") slot, checked,
//! and selected in `otadata` with the state `New`. The image then confirms itself (`Valid`)
//! after its first successful check-in; an image that keeps failing to check in is marked
//! `Invalid` and the previous slot is selected again ([`OtaFlash::roll_back`]), so rollback does
//! not depend on the second-stage bootloader being built with `APP_ROLLBACK_ENABLE` (espflash's
//! default bootloader is not).
//!
//! The download itself (ranged, resumable, SHA-256 and ed25519 checked before activation) is the
//! firmware core's OTA client; this module is only the flash it writes to.

use esp_bootloader_esp_idf::ota::OtaImageState;
use esp_bootloader_esp_idf::ota_updater::OtaUpdater;
use esp_bootloader_esp_idf::partitions::{Error, FlashStorage, PARTITION_TABLE_MAX_LEN};

/// Flash sector: erases happen in these units.
pub const SECTOR: u32 = 4096;

/// The flash with its OTA partitions.
pub struct OtaFlash<'d> {
    flash: FlashStorage<'d>,
    table: [u8; PARTITION_TABLE_MAX_LEN],
}

impl core::fmt::Debug for OtaFlash<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("OtaFlash").finish_non_exhaustive()
    }
}

impl<'d> OtaFlash<'d> {
    /// The flash.
    pub fn new(flash: FlashStorage<'d>) -> Self {
        Self {
            flash,
            table: [0; PARTITION_TABLE_MAX_LEN],
        }
    }

    fn updater(&mut self) -> Result<OtaUpdater<'_, 'd>, Error> {
        OtaUpdater::new(&mut self.flash, &mut self.table)
    }

    /// The state of the running image's slot; `None` when no update was ever installed (the
    /// device boots the image espflash wrote, and there is nothing to confirm).
    pub fn state(&mut self) -> Result<Option<OtaImageState>, Error> {
        match self.updater()?.current_ota_state() {
            Ok(state) => Ok(Some(state)),
            Err(Error::InvalidState) => Ok(None),
            Err(other) => Err(other),
        }
    }

    /// Whether the running image still waits for its confirmation.
    pub fn awaiting_confirmation(&mut self) -> bool {
        matches!(
            self.state(),
            Ok(Some(OtaImageState::New | OtaImageState::PendingVerify))
        )
    }

    /// Marks the running image as good: it stays selected from now on.
    pub fn confirm(&mut self) -> Result<(), Error> {
        self.updater()?.set_current_ota_state(OtaImageState::Valid)
    }

    /// Marks the running image as bad and selects the other slot (the previous image); takes
    /// effect at the next reset.
    pub fn roll_back(&mut self) -> Result<(), Error> {
        let mut updater = self.updater()?;
        updater.set_current_ota_state(OtaImageState::Invalid)?;
        updater.activate_next_partition()?;
        updater.set_current_ota_state(OtaImageState::Valid)
    }

    /// Bytes the next slot holds.
    pub fn next_capacity(&mut self) -> Result<u32, Error> {
        let mut updater = self.updater()?;
        let (region, _) = updater.next_partition()?;
        Ok(region.partition_size() as u32)
    }

    /// Erases `from..to` (sector-aligned) of the next slot.
    pub fn erase_next(&mut self, from: u32, to: u32) -> Result<(), Error> {
        let mut updater = self.updater()?;
        let (mut region, _) = updater.next_partition()?;
        region.erase(from, to)
    }

    /// Writes `bytes` at `offset` of the next slot (erased beforehand).
    pub fn write_next(&mut self, offset: u32, bytes: &[u8]) -> Result<(), Error> {
        let mut updater = self.updater()?;
        let (mut region, _) = updater.next_partition()?;
        region.write(offset, bytes)
    }

    /// Reads `out.len()` bytes at `offset` of the next slot (to digest what was written).
    pub fn read_next(&mut self, offset: u32, out: &mut [u8]) -> Result<(), Error> {
        let mut updater = self.updater()?;
        let (mut region, _) = updater.next_partition()?;
        region.read(offset, out)
    }

    /// Selects the next slot for the next boot, in state `New` (to be confirmed).
    pub fn activate_next(&mut self) -> Result<(), Error> {
        let mut updater = self.updater()?;
        updater.activate_next_partition()?;
        updater.set_current_ota_state(OtaImageState::New)
    }
}
