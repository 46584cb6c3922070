//! A RAM-backed block device and a FAT16 formatter, so host tests and the simulator can mount
//! the same FAT volume the board reads from its microSD card.
//!
//! The image is one MBR partition holding a FAT16 volume (the smallest type `embedded-sdmmc`
//! mounts), laid out as `mkfs.fat` would: one reserved block, two FATs, a 512-entry root
//! directory, then clusters of a power-of-two number of blocks. Both work on any byte storage
//! (`Vec<u8>`, an array, a `&mut [u8]`), so nothing here allocates.

use core::cell::RefCell;
use core::fmt;

use embedded_sdmmc::{Block, BlockCount, BlockDevice, BlockIdx};

const BLOCK: usize = Block::LEN;
/// First block of the partition (blocks before it hold only the MBR).
const PARTITION_START: u32 = 8;
const ROOT_ENTRIES: u16 = 512;
const RESERVED_BLOCKS: u16 = 1;
const FATS: u8 = 2;
/// FAT16 needs at least this many clusters (fewer makes it FAT12).
const MIN_CLUSTERS: u32 = 4085;
/// FAT16 allows at most this many clusters (more makes it FAT32).
const MAX_CLUSTERS: u32 = 65524;

/// Why a RAM disk access or format failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RamDiskError {
    /// A block past the end of the image was asked for.
    OutOfRange {
        /// The first block of the request.
        block: u32,
    },
    /// The image cannot hold a FAT16 volume of this size.
    BadSize {
        /// The image length in bytes.
        bytes: usize,
    },
}

impl fmt::Display for RamDiskError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::OutOfRange { block } => write!(f, "block {block} is past the end of the disk"),
            Self::BadSize { bytes } => write!(
                f,
                "a {bytes}-byte image cannot hold a FAT16 volume (2.2 MB to 2 GB, whole blocks)"
            ),
        }
    }
}

impl core::error::Error for RamDiskError {}

/// A block device over bytes in RAM.
pub struct RamDisk<S> {
    bytes: RefCell<S>,
}

impl<S> fmt::Debug for RamDisk<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RamDisk").finish_non_exhaustive()
    }
}

impl<S: AsRef<[u8]> + AsMut<[u8]>> RamDisk<S> {
    /// A disk over `bytes` (a whole number of 512-byte blocks, e.g. an image made by
    /// [`format_fat16`]).
    pub fn new(bytes: S) -> Self {
        Self {
            bytes: RefCell::new(bytes),
        }
    }

    /// The bytes back, e.g. to mount them again as after a reboot.
    pub fn into_inner(self) -> S {
        self.bytes.into_inner()
    }

    fn range(
        &self,
        start: BlockIdx,
        count: usize,
    ) -> Result<core::ops::Range<usize>, RamDiskError> {
        let from = start.0 as usize * BLOCK;
        let to = from + count * BLOCK;
        if to > self.bytes.borrow().as_ref().len() {
            return Err(RamDiskError::OutOfRange { block: start.0 });
        }
        Ok(from..to)
    }
}

impl<S: AsRef<[u8]> + AsMut<[u8]>> BlockDevice for RamDisk<S> {
    type Error = RamDiskError;

    fn read(&self, blocks: &mut [Block], start_block_idx: BlockIdx) -> Result<(), Self::Error> {
        let range = self.range(start_block_idx, blocks.len())?;
        let bytes = self.bytes.borrow();
        for (block, source) in blocks.iter_mut().zip(bytes.as_ref()[range].chunks(BLOCK)) {
            block.contents.copy_from_slice(source);
        }
        Ok(())
    }

    fn write(&self, blocks: &[Block], start_block_idx: BlockIdx) -> Result<(), Self::Error> {
        let range = self.range(start_block_idx, blocks.len())?;
        let mut bytes = self.bytes.borrow_mut();
        for (block, target) in blocks.iter().zip(bytes.as_mut()[range].chunks_mut(BLOCK)) {
            target.copy_from_slice(&block.contents);
        }
        Ok(())
    }

    fn num_blocks(&self) -> Result<BlockCount, Self::Error> {
        Ok(BlockCount(
            (self.bytes.borrow().as_ref().len() / BLOCK) as u32,
        ))
    }
}

/// Writes an MBR and an empty FAT16 volume over the whole of `image`.
///
/// `image` must be whole blocks, from about 2.2 MB (4085 clusters of one block) to 2 GB.
pub fn format_fat16(image: &mut [u8]) -> Result<(), RamDiskError> {
    let bad_size = RamDiskError::BadSize { bytes: image.len() };
    if !image.len().is_multiple_of(BLOCK) {
        return Err(bad_size);
    }
    let total = u32::try_from(image.len() / BLOCK).map_err(|_| bad_size)?;
    let blocks = total.checked_sub(PARTITION_START).ok_or(bad_size)?;
    let layout = Layout::for_blocks(blocks).ok_or(bad_size)?;

    let metadata_end = (PARTITION_START + layout.data_start()) as usize * BLOCK;
    image[..metadata_end].fill(0);
    write_mbr(&mut image[..BLOCK], layout.total_blocks());
    let volume = &mut image[PARTITION_START as usize * BLOCK..];
    write_boot_block(&mut volume[..BLOCK], &layout);
    for fat in 0..u32::from(FATS) {
        let at = (u32::from(RESERVED_BLOCKS) + fat * layout.fat_blocks) as usize * BLOCK;
        // Entry 0 holds the media byte, entry 1 the end-of-chain mark.
        volume[at..at + 4].copy_from_slice(&[0xf8, 0xff, 0xff, 0xff]);
    }
    Ok(())
}

struct Layout {
    blocks_per_cluster: u8,
    fat_blocks: u32,
    clusters: u32,
}

impl Layout {
    /// The smallest cluster size that keeps the cluster count in FAT16's range, with as many
    /// clusters as fill the FAT's blocks exactly.
    ///
    /// No FAT entry may be left over past the last cluster: `embedded-sdmmc` 0.10 hands out a
    /// free FAT16 entry from the FAT's last block without checking it against the cluster count,
    /// and would then write past the volume once the card is nearly full.
    fn for_blocks(blocks: u32) -> Option<Self> {
        (0..8)
            .map(|shift| 1u8 << shift)
            .find_map(|blocks_per_cluster| {
                let per_cluster = u32::from(blocks_per_cluster);
                // Grow the FAT until it covers every cluster left after it.
                let mut fat_blocks = 1;
                let clusters = loop {
                    let used = Self::metadata_blocks(fat_blocks);
                    let clusters = blocks.checked_sub(used)? / per_cluster;
                    let needed = ((clusters + 2) * 2).div_ceil(BLOCK as u32);
                    if needed <= fat_blocks {
                        break clusters;
                    }
                    fat_blocks = needed;
                };
                let entries_per_block = BLOCK as u32 / 2;
                let fat_blocks = (clusters + 2) / entries_per_block;
                let clusters = (fat_blocks * entries_per_block).checked_sub(2)?;
                (MIN_CLUSTERS..=MAX_CLUSTERS)
                    .contains(&clusters)
                    .then_some(Self {
                        blocks_per_cluster,
                        fat_blocks,
                        clusters,
                    })
            })
    }

    fn metadata_blocks(fat_blocks: u32) -> u32 {
        u32::from(RESERVED_BLOCKS)
            + u32::from(FATS) * fat_blocks
            + u32::from(ROOT_ENTRIES) * 32 / BLOCK as u32
    }

    fn data_start(&self) -> u32 {
        Self::metadata_blocks(self.fat_blocks)
    }

    /// Blocks of the volume (the image may have unused blocks after it).
    fn total_blocks(&self) -> u32 {
        self.data_start() + self.clusters * u32::from(self.blocks_per_cluster)
    }
}

fn write_mbr(block: &mut [u8], partition_blocks: u32) {
    let entry = &mut block[446..462];
    entry[0] = 0x00; // not bootable
    entry[4] = 0x0e; // FAT16, LBA addressed
    entry[8..12].copy_from_slice(&PARTITION_START.to_le_bytes());
    entry[12..16].copy_from_slice(&partition_blocks.to_le_bytes());
    block[510..512].copy_from_slice(&[0x55, 0xaa]);
}

fn write_boot_block(block: &mut [u8], layout: &Layout) {
    let blocks = layout.total_blocks();
    block[0..3].copy_from_slice(&[0xeb, 0x3c, 0x90]);
    block[3..11].copy_from_slice(b"SMARTBOX");
    block[11..13].copy_from_slice(&(BLOCK as u16).to_le_bytes());
    block[13] = layout.blocks_per_cluster;
    block[14..16].copy_from_slice(&RESERVED_BLOCKS.to_le_bytes());
    block[16] = FATS;
    block[17..19].copy_from_slice(&ROOT_ENTRIES.to_le_bytes());
    match u16::try_from(blocks) {
        Ok(small) => block[19..21].copy_from_slice(&small.to_le_bytes()),
        Err(_) => block[32..36].copy_from_slice(&blocks.to_le_bytes()),
    }
    block[21] = 0xf8; // fixed disk
    block[22..24].copy_from_slice(&(layout.fat_blocks as u16).to_le_bytes());
    block[28..32].copy_from_slice(&PARTITION_START.to_le_bytes());
    block[36] = 0x80; // drive number
    block[38] = 0x29; // the next three fields are present
    block[39..43].copy_from_slice(&0x5342_4f58u32.to_le_bytes());
    block[43..54].copy_from_slice(b"SMARTBOX SD");
    block[54..62].copy_from_slice(b"FAT16   ");
    block[510..512].copy_from_slice(&[0x55, 0xaa]);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_smallest_fat16_volume_has_one_block_clusters() {
        let layout = Layout::for_blocks(4_400).expect("fits");
        assert_eq!(layout.blocks_per_cluster, 1);
        assert!(layout.total_blocks() <= 4_400);
        assert!(Layout::for_blocks(4_000).is_none(), "that would be FAT12");
    }

    #[test]
    fn larger_volumes_get_larger_clusters_and_still_fit() {
        let layout = Layout::for_blocks(200_000).expect("fits");
        assert_eq!(layout.blocks_per_cluster, 4);
        assert!(layout.total_blocks() <= 200_000);
        assert!((MIN_CLUSTERS..=MAX_CLUSTERS).contains(&layout.clusters));
    }

    #[test]
    fn the_fat_has_no_entries_past_the_last_cluster() {
        for blocks in [4_400, 9_999, 65_000, 200_000, 1_000_000] {
            let layout = Layout::for_blocks(blocks).expect("fits");
            assert_eq!((layout.clusters + 2) * 2, layout.fat_blocks * BLOCK as u32);
        }
    }

    #[test]
    fn a_disk_refuses_blocks_past_its_end() {
        let disk = RamDisk::new([0u8; 1024]);
        let mut blocks = [Block::new()];
        assert!(disk.read(&mut blocks, BlockIdx(1)).is_ok());
        assert_eq!(
            disk.read(&mut blocks, BlockIdx(2)),
            Err(RamDiskError::OutOfRange { block: 2 })
        );
    }
}
