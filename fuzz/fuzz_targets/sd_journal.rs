//! The SD journal's recovery scan over whatever a card holds: a formatted card with a journal
//! whose first 64 KiB are the input. Opening must succeed or fail with an error, never panic,
//! and what it recovers must read back.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use smartbox_firmware::sd_queue::ram_disk::{RamDisk, format_fat16};
use smartbox_firmware::sd_queue::{QueueConfig, SdQueue};

const CARD: usize = 4_400 * 512;
const JOURNAL: u32 = 64 * 1024;

/// A card with an empty journal, and where the journal's bytes start.
fn card() -> &'static (Vec<u8>, usize) {
    static CARD_IMAGE: OnceLock<(Vec<u8>, usize)> = OnceLock::new();
    CARD_IMAGE.get_or_init(|| {
        let mut image = vec![0u8; CARD];
        format_fat16(&mut image).expect("formats");
        let disk = RamDisk::new(&mut image[..]);
        SdQueue::<_, 8>::open(
            disk,
            QueueConfig {
                journal_bytes: JOURNAL,
            },
        )
        .expect("a journal is made");
        // The journal is the volume's first file: its data starts after the metadata.
        let boot = 8 * 512;
        let fat_blocks = u16::from_le_bytes([image[boot + 22], image[boot + 23]]) as usize;
        let start = (8 + 1 + 2 * fat_blocks + 32) * 512;
        (image, start)
    })
}

fuzz_target!(|data: &[u8]| {
    let (base, start) = card();
    let mut image = base.clone();
    let len = data.len().min(JOURNAL as usize);
    image[*start..*start + len].copy_from_slice(&data[..len]);
    let config = QueueConfig {
        journal_bytes: JOURNAL,
    };
    if let Ok(queue) = SdQueue::<_, 8>::open(RamDisk::new(image), config) {
        let _ = queue.len();
    }
});
