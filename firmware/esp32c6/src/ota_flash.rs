//! The core's [`OtaPartition`] over the ESP32-C6's flash: esp-storage for the bytes,
//! esp-bootloader-esp-idf for the partition table and the `otadata` boot selection.
//!
//! Layout (`partitions.csv`): two app slots `ota_0` and `ota_1`, `otadata` (two 32-byte
//! selection entries, one per 4 KiB sector, each with a sequence number and an image state;
//! the bootloader starts the slot `(seq - 1) % 2` of the highest valid sequence) and
//! `otaclient`, one sector for the OTA client's record. "The update slot" is the slot the
//! running image was not booted from (read from the MMU through the partition table).
//!
//! The states map to ESP-IDF's: an image selected with `New` (or turned `PendingVerify` by a
//! bootloader built with `APP_ROLLBACK_ENABLE`) runs on trial until [`OtaPartition::mark_valid`];
//! an update slot whose entry says `Invalid` or `Aborted` was rolled back. espflash's stock
//! bootloader is built without rollback, so the board also rolls an unconfirmed image back by
//! itself after a number of wakes ([`OtaFlash::roll_back`], called from `main`).
//!
//! `otadata` entries are recognised by their sequence number and state; their CRC (over the
//! sequence number, with the ROM's CRC-32 variant) is left to esp-bootloader-esp-idf.

use esp_bootloader_esp_idf::ota::OtaImageState;
use esp_bootloader_esp_idf::ota_updater::OtaUpdater;
use esp_bootloader_esp_idf::partitions::{
    self, AppPartitionSubType, DataPartitionSubType, FlashStorage, PARTITION_TABLE_MAX_LEN,
    PartitionType,
};
use esp_storage::FlashStorageError;
use smartbox_firmware::ota::{ImageState, OtaPartition, RECORD_LEN};

/// Flash erase unit.
const SECTOR: u32 = 4096;
/// NOR write unit.
const WORD: usize = 4;
/// Label of the OTA client's record partition.
pub const RECORD_LABEL: &str = "otaclient";

/// Why a flash or boot-selection operation failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OtaFlashError {
    /// Reading, writing or erasing the flash failed.
    Flash(FlashStorageError),
    /// The partition table or `otadata` could not be used.
    Partition(partitions::Error),
    /// An image of this many bytes does not fit the update slot.
    TooLarge(u32),
}

impl From<FlashStorageError> for OtaFlashError {
    fn from(error: FlashStorageError) -> Self {
        Self::Flash(error)
    }
}

impl From<partitions::Error> for OtaFlashError {
    fn from(error: partitions::Error) -> Self {
        Self::Partition(error)
    }
}

#[derive(Debug, Clone, Copy)]
struct Region {
    offset: u32,
    len: u32,
}

/// One `otadata` selection entry.
#[derive(Debug, Clone, Copy)]
struct Selection {
    seq: u32,
    state: Option<OtaImageState>,
}

impl Selection {
    fn slot(self) -> usize {
        (self.seq.wrapping_sub(1) % 2) as usize
    }

    fn rolled_back(self) -> bool {
        matches!(
            self.state,
            Some(OtaImageState::Invalid | OtaImageState::Aborted)
        )
    }
}

/// The flash with its OTA partitions.
pub struct OtaFlash<'d> {
    flash: FlashStorage<'d>,
    table: [u8; PARTITION_TABLE_MAX_LEN],
    otadata: Region,
    slots: [Region; 2],
    record: Region,
    booted: usize,
}

impl core::fmt::Debug for OtaFlash<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("OtaFlash")
            .field("booted", &self.booted)
            .finish_non_exhaustive()
    }
}

fn slot_subtype(slot: usize) -> AppPartitionSubType {
    if slot == 0 {
        AppPartitionSubType::Ota0
    } else {
        AppPartitionSubType::Ota1
    }
}

impl<'d> OtaFlash<'d> {
    /// Reads the partition table; fails when it lacks `otadata`, `ota_0`, `ota_1` or
    /// `otaclient`.
    pub fn new(mut flash: FlashStorage<'d>) -> Result<Self, OtaFlashError> {
        let mut table = [0; PARTITION_TABLE_MAX_LEN];
        let (otadata, slots, record, booted) = {
            let pt = partitions::read_partition_table(&mut flash, &mut table)?;
            let find = |kind| -> Result<Region, OtaFlashError> {
                let entry = pt.find_partition(kind)?.ok_or(partitions::Error::Invalid)?;
                Ok(Region {
                    offset: entry.offset(),
                    len: entry.len(),
                })
            };
            let otadata = find(PartitionType::Data(DataPartitionSubType::Ota))?;
            let slots = [
                find(PartitionType::App(slot_subtype(0)))?,
                find(PartitionType::App(slot_subtype(1)))?,
            ];
            let record = pt
                .iter()
                .find(|entry| entry.label_as_str() == RECORD_LABEL)
                .map(|entry| Region {
                    offset: entry.offset(),
                    len: entry.len(),
                })
                .ok_or(partitions::Error::Invalid)?;
            let booted = match pt.booted_partition()?.map(|entry| entry.partition_type()) {
                Some(PartitionType::App(AppPartitionSubType::Ota1)) => 1,
                _ => 0,
            };
            (otadata, slots, record, booted)
        };
        Ok(Self {
            flash,
            table,
            otadata,
            slots,
            record,
            booted,
        })
    }

    /// The flash itself, for the board's other records (the WiFi credentials).
    pub fn storage(&mut self) -> &mut FlashStorage<'d> {
        &mut self.flash
    }

    fn update_slot(&self) -> usize {
        1 - self.booted
    }

    fn updater(&mut self) -> Result<OtaUpdater<'_, 'd>, OtaFlashError> {
        Ok(OtaUpdater::new(&mut self.flash, &mut self.table)?)
    }

    fn selections(&mut self) -> Result<[Option<Selection>; 2], OtaFlashError> {
        let mut out = [None; 2];
        for (sector, selection) in out.iter_mut().enumerate() {
            let mut raw = [0_u8; 32];
            self.flash
                .read(self.otadata.offset + sector as u32 * SECTOR, &mut raw)?;
            let word =
                |at: usize| u32::from_le_bytes([raw[at], raw[at + 1], raw[at + 2], raw[at + 3]]);
            let seq = word(0);
            if seq != u32::MAX && seq != 0 {
                *selection = Some(Selection {
                    seq,
                    state: OtaImageState::try_from(word(24)).ok(),
                });
            }
        }
        Ok(out)
    }

    /// The newest selection entry naming `slot`, with its sector.
    fn selection_of(&mut self, slot: usize) -> Result<Option<(usize, Selection)>, OtaFlashError> {
        Ok(self
            .selections()?
            .into_iter()
            .enumerate()
            .filter_map(|(sector, selection)| selection.map(|s| (sector, s)))
            .filter(|(_, selection)| selection.slot() == slot)
            .max_by_key(|(_, selection)| selection.seq))
    }

    /// Whether the running image still waits for its confirmation.
    pub fn awaiting_confirmation(&mut self) -> bool {
        matches!(self.running_state(), Ok(ImageState::PendingVerify))
    }

    /// Gives up the running image: marks it `Invalid` and selects the other slot (the previous
    /// image) as `Valid`; takes effect at the next reset.
    pub fn roll_back(&mut self) -> Result<(), OtaFlashError> {
        let previous = slot_subtype(self.update_slot());
        let mut updater = self.updater()?;
        let mut otadata = updater.ota_data()?;
        otadata.set_current_ota_state(OtaImageState::Invalid)?;
        otadata.set_current_app_partition(previous)?;
        otadata.set_current_ota_state(OtaImageState::Valid)?;
        Ok(())
    }

    /// Makes the update slot forget a rollback: its stale selection entry is erased, once the
    /// other entry selects the running image (written first if need be).
    fn forget_rollback(&mut self) -> Result<(), OtaFlashError> {
        let Some((sector, stale)) = self.selection_of(self.update_slot())? else {
            return Ok(());
        };
        if !stale.rolled_back() {
            return Ok(());
        }
        let other = self.selections()?[1 - sector];
        if other.is_none_or(|selection| selection.slot() != self.booted) {
            let running = slot_subtype(self.booted);
            let mut updater = self.updater()?;
            let mut otadata = updater.ota_data()?;
            otadata.set_current_app_partition(running)?;
            otadata.set_current_ota_state(OtaImageState::Valid)?;
        }
        let other = self.selections()?[1 - sector];
        if other.is_some_and(|selection| selection.slot() == self.booted) {
            let at = self.otadata.offset + sector as u32 * SECTOR;
            self.flash.erase(at, at + SECTOR)?;
        }
        Ok(())
    }
}

impl OtaPartition for OtaFlash<'_> {
    type Error = OtaFlashError;

    fn capacity(&self) -> u32 {
        self.slots[self.update_slot()].len
    }

    fn erase(&mut self, len: u32) -> Result<(), Self::Error> {
        let slot = self.slots[self.update_slot()];
        if len > slot.len {
            return Err(OtaFlashError::TooLarge(len));
        }
        let end = len.div_ceil(SECTOR) * SECTOR;
        self.flash.erase(slot.offset, slot.offset + end)?;
        self.forget_rollback()
    }

    fn write(&mut self, offset: u32, bytes: &[u8]) -> Result<(), Self::Error> {
        let slot = self.slots[self.update_slot()];
        if u64::from(offset) + bytes.len() as u64 > u64::from(slot.len) {
            return Err(OtaFlashError::TooLarge(offset + bytes.len() as u32));
        }
        let whole = bytes.len() - bytes.len() % WORD;
        if whole > 0 {
            self.flash
                .write_nor(slot.offset + offset, &bytes[..whole])?;
        }
        if whole < bytes.len() {
            // The image's last bytes: pad the word with erased bits.
            let mut tail = [0xff_u8; WORD];
            tail[..bytes.len() - whole].copy_from_slice(&bytes[whole..]);
            self.flash
                .write_nor(slot.offset + offset + whole as u32, &tail)?;
        }
        Ok(())
    }

    fn read(&mut self, offset: u32, out: &mut [u8]) -> Result<(), Self::Error> {
        let slot = self.slots[self.update_slot()];
        Ok(self.flash.read(slot.offset + offset, out)?)
    }

    fn set_boot(&mut self) -> Result<(), Self::Error> {
        let next = slot_subtype(self.update_slot());
        let mut updater = self.updater()?;
        let mut otadata = updater.ota_data()?;
        otadata.set_current_app_partition(next)?;
        otadata.set_current_ota_state(OtaImageState::New)?;
        Ok(())
    }

    fn mark_valid(&mut self) -> Result<(), Self::Error> {
        let running = slot_subtype(self.booted);
        let mut updater = self.updater()?;
        let mut otadata = updater.ota_data()?;
        // The selected slot is not the running one after a bootloader rollback; the running
        // image was confirmed long ago then.
        if otadata.current_app_partition()? == running {
            otadata.set_current_ota_state(OtaImageState::Valid)?;
        }
        Ok(())
    }

    fn running_state(&mut self) -> Result<ImageState, Self::Error> {
        let on_trial = self
            .selection_of(self.booted)?
            .is_some_and(|(_, selection)| {
                matches!(
                    selection.state,
                    Some(OtaImageState::New | OtaImageState::PendingVerify)
                )
            });
        Ok(if on_trial {
            ImageState::PendingVerify
        } else {
            ImageState::Valid
        })
    }

    fn update_rolled_back(&mut self) -> Result<bool, Self::Error> {
        Ok(self
            .selection_of(self.update_slot())?
            .is_some_and(|(_, selection)| selection.rolled_back()))
    }

    fn load_record(&mut self, out: &mut [u8; RECORD_LEN]) -> Result<(), Self::Error> {
        Ok(self.flash.read(self.record.offset, out)?)
    }

    fn store_record(&mut self, record: &[u8; RECORD_LEN]) -> Result<(), Self::Error> {
        // One sector, erased and rewritten: a power cut in between loses the record, and the
        // client starts the download over (it never trusts a record that does not decode).
        let sector = self.record.offset;
        self.flash
            .erase(sector, sector + SECTOR.min(self.record.len))?;
        self.flash.write_nor(sector, record)?;
        Ok(())
    }
}
