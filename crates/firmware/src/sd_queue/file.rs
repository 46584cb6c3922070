//! The journal file on the card's FAT volume: made once at full size, then only rewritten in place.
//!
//! Growing a FAT file rewrites its directory entry and the FAT on every flush; a torn write there
//! could shorten the file and lose records. So the file is made at its final size when the queue
//! is first opened and afterwards only its data blocks are written: power loss during a push can
//! then only tear the data of the record being written, which the record framing detects. The
//! directory entry is never rewritten afterwards (the file is never flushed again, and a flush
//! would only rewrite the same size and the same fixed timestamp).

use embedded_sdmmc::{BlockDevice, Mode, RawFile, TimeSource, Timestamp, VolumeIdx, VolumeManager};

use super::QueueError;
use super::superblock::{self, SLOT_LEN, Superblock};

/// Name of the journal in the card's root directory.
pub const JOURNAL_FILE: &str = "QUEUE.JNL";
/// File offset of the ring: after the two superblock slots.
pub(crate) const RING_START: u32 = 2 * SLOT_LEN;
/// While the file is being made, its length is written to the directory this often, so that
/// power loss during the (long) first zero-fill leaks at most this much of the card.
const EXTEND_FLUSH_BYTES: u32 = 256 * 1024;

/// File dates on the card: the core has no clock, so every file carries this one.
#[derive(Debug, Clone, Copy)]
pub(crate) struct FixedTime;

impl TimeSource for FixedTime {
    fn get_timestamp(&self) -> Timestamp {
        Timestamp {
            year_since_1970: 55,
            zero_indexed_month: 0,
            zero_indexed_day: 0,
            hours: 0,
            minutes: 0,
            seconds: 0,
        }
    }
}

/// The open journal file; byte offsets are file offsets.
pub(crate) struct JournalFile<D: BlockDevice> {
    volumes: VolumeManager<D, FixedTime, 1, 1, 1>,
    file: RawFile,
}

impl<D: BlockDevice> JournalFile<D> {
    /// Opens (or creates, empty) the journal on the card's first partition.
    pub fn open(device: D) -> Result<Self, QueueError<D::Error>> {
        let volumes = VolumeManager::new_with_limits(device, FixedTime, 0x5b0c);
        let volume = volumes.open_raw_volume(VolumeIdx(0))?;
        let root = volumes.open_root_dir(volume)?;
        let file = volumes.open_file_in_dir(root, JOURNAL_FILE, Mode::ReadWriteCreateOrAppend)?;
        Ok(Self { volumes, file })
    }

    pub fn len(&self) -> Result<u32, QueueError<D::Error>> {
        Ok(self.volumes.file_length(self.file)?)
    }

    /// Appends zeros until the file is `target` bytes long.
    pub fn extend_to(&mut self, target: u32) -> Result<(), QueueError<D::Error>> {
        const ZEROS: [u8; 512] = [0; 512];
        let mut length = self.len()?;
        self.volumes.file_seek_from_end(self.file, 0)?;
        let mut since_flush = 0;
        while length < target {
            // Block-aligned pieces, so that each write covers whole blocks after the first.
            let piece = (512 - length % 512).min(target - length);
            match self.volumes.write(self.file, &ZEROS[..piece as usize]) {
                Ok(()) => {}
                Err(embedded_sdmmc::Error::DiskFull) => {
                    self.volumes.flush_file(self.file)?;
                    return Err(QueueError::CardFull {
                        needed: target,
                        available: self.len()?,
                    });
                }
                Err(other) => return Err(other.into()),
            }
            length += piece;
            since_flush += piece;
            if since_flush >= EXTEND_FLUSH_BYTES {
                self.volumes.flush_file(self.file)?;
                since_flush = 0;
            }
        }
        self.volumes.flush_file(self.file)?;
        Ok(())
    }

    /// Fills `out` from `offset`.
    pub fn read_at(&mut self, offset: u32, out: &mut [u8]) -> Result<(), QueueError<D::Error>> {
        self.volumes.file_seek_from_start(self.file, offset)?;
        let mut done = 0;
        while done < out.len() {
            let read = self.volumes.read(self.file, &mut out[done..])?;
            if read == 0 {
                return Err(QueueError::Card(embedded_sdmmc::Error::EndOfFile));
            }
            done += read;
        }
        Ok(())
    }

    /// Overwrites bytes inside the file; the caller never writes past its end.
    pub fn write_at(&mut self, offset: u32, bytes: &[u8]) -> Result<(), QueueError<D::Error>> {
        self.volumes.file_seek_from_start(self.file, offset)?;
        Ok(self.volumes.write(self.file, bytes)?)
    }

    /// Both slots decoded; `None` for a slot that is not a whole superblock.
    pub fn read_superblocks(&mut self) -> Result<[Option<Superblock>; 2], QueueError<D::Error>> {
        if self.len()? < RING_START {
            return Ok([None, None]);
        }
        let mut slots = [None, None];
        for (slot, decoded) in slots.iter_mut().enumerate() {
            let mut bytes = [0; superblock::ENCODED_LEN];
            self.read_at(slot as u32 * SLOT_LEN, &mut bytes)?;
            *decoded = Superblock::decode(&bytes);
        }
        Ok(slots)
    }

    pub fn write_superblock(&mut self, block: &Superblock) -> Result<(), QueueError<D::Error>> {
        self.write_at(block.slot() * SLOT_LEN, &block.encode())
    }
}
