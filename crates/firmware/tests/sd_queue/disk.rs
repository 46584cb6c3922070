//! Test disks: a FAT16 image in RAM, and a block device that stops persisting mid-write.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::rc::Rc;

use embedded_sdmmc::{Block, BlockCount, BlockDevice, BlockIdx};
use smartbox_firmware::sd_queue::ram_disk::format_fat16;

/// The smallest FAT16 card: 4400 blocks (2.2 MB).
pub const SMALL_CARD: usize = 4_400 * 512;

/// A freshly formatted card image of `bytes` bytes.
pub fn card(bytes: usize) -> Vec<u8> {
    let mut image = vec![0; bytes];
    format_fat16(&mut image).expect("formats");
    image
}

/// First byte after the FAT volume's metadata (MBR, boot block, FATs, root directory).
pub fn metadata_end(image: &[u8]) -> usize {
    let boot = 8 * 512;
    let fat_blocks = u16::from_le_bytes([image[boot + 22], image[boot + 23]]) as usize;
    (8 + 1 + 2 * fat_blocks + 32) * 512
}

/// Why a [`PowerCutDisk`] access failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DiskError {
    /// The power is gone: nothing is read or written any more.
    PowerCut,
    /// A block past the end of the card.
    OutOfRange(u32),
}

impl std::fmt::Display for DiskError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{self:?}")
    }
}

impl std::error::Error for DiskError {}

/// A card shared between the device under test and the test, which persists only the first
/// `budget` bytes written after [`PowerCutDisk::cut_after`] (in write order, a block's bytes in
/// address order): the rest of the block being written at that moment keeps its old bytes, and
/// every access after it fails, as when power fails and the device stops.
///
/// Written blocks live in an overlay over a shared base image, so that the thousands of cards a
/// power-cut test mounts cost no image copies.
#[derive(Clone)]
pub struct PowerCutDisk {
    base: Rc<Vec<u8>>,
    overlay: Rc<RefCell<HashMap<u32, [u8; 512]>>>,
    budget: Rc<Cell<Option<usize>>>,
    dead: Rc<Cell<bool>>,
    written: Rc<Cell<usize>>,
    /// Blocks written, in order.
    blocks: Rc<RefCell<Vec<u32>>>,
}

impl PowerCutDisk {
    pub fn new(image: Vec<u8>) -> Self {
        Self::over(Rc::new(image), HashMap::new())
    }

    fn over(base: Rc<Vec<u8>>, overlay: HashMap<u32, [u8; 512]>) -> Self {
        Self {
            base,
            overlay: Rc::new(RefCell::new(overlay)),
            budget: Rc::new(Cell::new(None)),
            dead: Rc::new(Cell::new(false)),
            written: Rc::new(Cell::new(0)),
            blocks: Rc::new(RefCell::new(Vec::new())),
        }
    }

    /// The card as it is now, as a separate card with power back on (as after a reboot).
    pub fn snapshot(&self) -> Self {
        Self::over(self.base.clone(), self.overlay.borrow().clone())
    }

    /// From now on, persist only `bytes` more bytes.
    pub fn cut_after(&self, bytes: usize) {
        self.budget.set(Some(bytes));
    }

    /// Bytes the device has written (persisted or not) since the disk was made.
    pub fn written(&self) -> usize {
        self.written.get()
    }

    /// Blocks written since the disk was made, in order.
    pub fn written_blocks(&self) -> Vec<u32> {
        self.blocks.borrow().clone()
    }

    /// What is on the card now.
    pub fn image(&self) -> Vec<u8> {
        let mut image = self.base.as_ref().clone();
        for (index, block) in self.overlay.borrow().iter() {
            let at = *index as usize * 512;
            image[at..at + 512].copy_from_slice(block);
        }
        image
    }

    fn block(&self, index: u32) -> Result<[u8; 512], DiskError> {
        if self.dead.get() {
            return Err(DiskError::PowerCut);
        }
        if let Some(block) = self.overlay.borrow().get(&index) {
            return Ok(*block);
        }
        let at = index as usize * 512;
        let bytes = self
            .base
            .get(at..at + 512)
            .ok_or(DiskError::OutOfRange(index))?;
        let mut block = [0; 512];
        block.copy_from_slice(bytes);
        Ok(block)
    }
}

impl BlockDevice for PowerCutDisk {
    type Error = DiskError;

    fn read(&self, blocks: &mut [Block], start: BlockIdx) -> Result<(), Self::Error> {
        for (i, block) in blocks.iter_mut().enumerate() {
            block.contents = self.block(start.0 + i as u32)?;
        }
        Ok(())
    }

    fn write(&self, blocks: &[Block], start: BlockIdx) -> Result<(), Self::Error> {
        for (i, block) in blocks.iter().enumerate() {
            let index = start.0 + i as u32;
            let mut target = self.block(index)?;
            self.written.set(self.written.get() + 512);
            self.blocks.borrow_mut().push(index);
            let budget = self.budget.get().unwrap_or(usize::MAX);
            let persisted = budget.min(512);
            self.budget.set(self.budget.get().map(|b| b - persisted));
            target[..persisted].copy_from_slice(&block.contents[..persisted]);
            self.overlay.borrow_mut().insert(index, target);
            if persisted < 512 {
                self.dead.set(true);
                return Err(DiskError::PowerCut);
            }
        }
        Ok(())
    }

    fn num_blocks(&self) -> Result<BlockCount, Self::Error> {
        Ok(BlockCount((self.base.len() / 512) as u32))
    }
}
