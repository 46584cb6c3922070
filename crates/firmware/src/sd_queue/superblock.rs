//! The journal's superblock: where the live records start and end, kept twice.
//!
//! Two 512-byte slots at the start of the journal file hold alternate generations; each write
//! goes to the slot of the older one, so a write torn by power loss leaves the newer intact
//! generation in the other slot. The superblock is a checkpoint, not the truth: records written
//! after its `head` are found again by scanning forward from it.
//!
//! ```text
//! magic "SBQS" | generation u64 | capacity u32 | tail pos u32 | tail seq u64 |
//! head pos u32 | head seq u64 | evicted u32 | 0 u32 | CRC-32 of the 48 bytes before
//! ```

use super::record::CRC32;

const MAGIC: [u8; 4] = *b"SBQS";
/// Bytes used of a slot.
pub(crate) const ENCODED_LEN: usize = 52;
/// Bytes reserved for one slot; the ring starts after two of them.
pub(crate) const SLOT_LEN: u32 = 512;

/// A ring offset together with the sequence number of the record that starts there.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Cursor {
    pub pos: u32,
    pub seq: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Superblock {
    /// Grows by one per write; the valid slot with the larger one wins.
    pub generation: u64,
    /// Ring bytes; fixed when the journal is made.
    pub capacity: u32,
    /// First record of the oldest live event.
    pub tail: Cursor,
    /// Where the next record goes; every record in `[tail, head)` was complete when this was written.
    pub head: Cursor,
    /// Events dropped unsent to make room, since the journal was made.
    pub evicted: u32,
}

impl Superblock {
    /// An empty journal of `capacity` ring bytes.
    pub fn empty(capacity: u32) -> Self {
        let start = Cursor { pos: 0, seq: 1 };
        Self {
            generation: 0,
            capacity,
            tail: start,
            head: start,
            evicted: 0,
        }
    }

    /// Which of the two slots this generation is written to.
    pub fn slot(&self) -> u32 {
        (self.generation % 2) as u32
    }

    pub fn encode(&self) -> [u8; ENCODED_LEN] {
        let mut out = [0; ENCODED_LEN];
        out[0..4].copy_from_slice(&MAGIC);
        out[4..12].copy_from_slice(&self.generation.to_le_bytes());
        out[12..16].copy_from_slice(&self.capacity.to_le_bytes());
        out[16..20].copy_from_slice(&self.tail.pos.to_le_bytes());
        out[20..28].copy_from_slice(&self.tail.seq.to_le_bytes());
        out[28..32].copy_from_slice(&self.head.pos.to_le_bytes());
        out[32..40].copy_from_slice(&self.head.seq.to_le_bytes());
        out[40..44].copy_from_slice(&self.evicted.to_le_bytes());
        let crc = CRC32.checksum(&out[0..48]);
        out[48..52].copy_from_slice(&crc.to_le_bytes());
        out
    }

    /// `None` unless the bytes are a whole, consistent superblock.
    pub fn decode(bytes: &[u8; ENCODED_LEN]) -> Option<Self> {
        if bytes[0..4] != MAGIC || CRC32.checksum(&bytes[0..48]) != u32_at(bytes, 48) {
            return None;
        }
        let block = Self {
            generation: u64_at(bytes, 4),
            capacity: u32_at(bytes, 12),
            tail: Cursor {
                pos: u32_at(bytes, 16),
                seq: u64_at(bytes, 20),
            },
            head: Cursor {
                pos: u32_at(bytes, 28),
                seq: u64_at(bytes, 32),
            },
            evicted: u32_at(bytes, 40),
        };
        let consistent = block.tail.pos < block.capacity
            && block.head.pos < block.capacity
            && block.tail.seq <= block.head.seq;
        consistent.then_some(block)
    }

    /// The newer of two slots' contents, if either is valid.
    pub fn newest(a: Option<Self>, b: Option<Self>) -> Option<Self> {
        match (a, b) {
            (Some(a), Some(b)) => Some(if b.generation > a.generation { b } else { a }),
            (a, b) => a.or(b),
        }
    }
}

fn u32_at(bytes: &[u8], at: usize) -> u32 {
    let mut out = [0; 4];
    out.copy_from_slice(&bytes[at..at + 4]);
    u32::from_le_bytes(out)
}

fn u64_at(bytes: &[u8], at: usize) -> u64 {
    let mut out = [0; 8];
    out.copy_from_slice(&bytes[at..at + 8]);
    u64::from_le_bytes(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(generation: u64) -> Superblock {
        Superblock {
            generation,
            capacity: 4096,
            tail: Cursor { pos: 100, seq: 7 },
            head: Cursor { pos: 900, seq: 12 },
            evicted: 3,
        }
    }

    #[test]
    fn a_superblock_round_trips() {
        assert_eq!(Superblock::decode(&sample(5).encode()), Some(sample(5)));
    }

    #[test]
    fn a_superblock_torn_at_any_byte_is_refused() {
        let old = sample(4).encode();
        let new = sample(6).encode();
        let mut refused = 0;
        for cut in 1..ENCODED_LEN {
            let mut torn = old;
            torn[..cut].copy_from_slice(&new[..cut]);
            // A cut before the first differing byte leaves the old block whole, one past the
            // last differing byte the new one.
            if torn != new && torn != old {
                assert_eq!(Superblock::decode(&torn), None, "cut at {cut}");
                refused += 1;
            }
        }
        assert!(refused >= 40, "only {refused} torn variants were mixed");
    }

    #[test]
    fn positions_outside_the_ring_are_refused() {
        let mut block = sample(1);
        block.head.pos = block.capacity;
        assert_eq!(Superblock::decode(&block.encode()), None);
    }

    #[test]
    fn the_newest_valid_slot_wins() {
        assert_eq!(
            Superblock::newest(Some(sample(3)), Some(sample(4))),
            Some(sample(4))
        );
        assert_eq!(
            Superblock::newest(Some(sample(5)), Some(sample(4))),
            Some(sample(5))
        );
        assert_eq!(Superblock::newest(None, Some(sample(4))), Some(sample(4)));
        assert_eq!(Superblock::newest(None, None), None);
    }

    #[test]
    fn generations_alternate_slots() {
        assert_ne!(sample(4).slot(), sample(5).slot());
    }
}
