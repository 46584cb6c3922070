//! Recovery: rebuilding the list of live events by reading the journal from the superblock's tail.
//!
//! Records are read in sequence-number order. Those before the superblock's head were complete
//! when it was written and nothing has overwritten them since, so for them the header CRC is
//! enough (a photo's bytes are not read again at every boot). Records past it may have been torn
//! by power loss: each is accepted only with a complete trailer whose CRC covers header and
//! payload, and the scan stops at the first one that is not, which becomes the new head.
//!
//! Photos are written before the event record that commits them; photos of a push that never
//! reached its event record are left behind as orphans and skipped.

use embedded_sdmmc::BlockDevice;
use heapless::Vec;
use smartbox_protocol::{MAX_PHOTOS, Uuid};

use super::file::{JournalFile, RING_START};
use super::record::{
    self, ACK_PAYLOAD_LEN, CRC32, EVENT_PAYLOAD_LEN, HEADER_LEN, Header, Kind, MIN_RECORD_LEN,
    PHOTO_PREFIX_LEN, TRAILER_LEN,
};
use super::superblock::{Cursor, Superblock};
use super::{Entry, Photo, QueueError};

/// What the journal holds, as found by [`scan`].
pub(crate) struct Recovered<const N: usize> {
    pub entries: Vec<Entry, N>,
    pub head: Cursor,
    /// Events dropped because more were found than the index holds (only after `N` shrank).
    pub evicted: u32,
}

/// Photos read since the last event record, all of one event.
struct Group {
    event_id: Uuid,
    start: Cursor,
    photos: [Option<Photo>; MAX_PHOTOS as usize],
}

pub(crate) fn scan<D: BlockDevice, const N: usize>(
    file: &mut JournalFile<D>,
    block: &Superblock,
) -> Result<Recovered<N>, QueueError<D::Error>> {
    let capacity = block.capacity;
    let mut found = Recovered {
        entries: Vec::new(),
        head: block.tail,
        evicted: 0,
    };
    let mut group: Option<Group> = None;
    let mut at = block.tail;
    loop {
        if at.pos + MIN_RECORD_LEN > capacity {
            at.pos = 0;
        }
        let mut bytes = [0; HEADER_LEN as usize];
        file.read_at(RING_START + at.pos, &mut bytes)?;
        let Some(header) = Header::decode(&bytes) else {
            break;
        };
        if header.seq != at.seq || at.pos as u64 + header.record_len() as u64 > capacity as u64 {
            break;
        }
        let committed = at.seq < block.head.seq;
        if !committed && !payload_intact(file, at.pos, &header, &bytes)? {
            break;
        }
        let payload = RING_START + at.pos + HEADER_LEN;
        match header.kind {
            Kind::Wrap => {}
            Kind::Photo => {
                if header.payload_len < PHOTO_PREFIX_LEN {
                    break;
                }
                let mut prefix = [0; PHOTO_PREFIX_LEN as usize];
                file.read_at(payload, &mut prefix)?;
                let (event_id, index) = record::decode_photo_prefix(&prefix);
                let slot = usize::from(index);
                if slot >= usize::from(MAX_PHOTOS) {
                    break;
                }
                let current = match &mut group {
                    Some(current) if current.event_id == event_id => current,
                    _ => group.insert(Group {
                        event_id,
                        start: at,
                        photos: [None; MAX_PHOTOS as usize],
                    }),
                };
                current.photos[slot] = Some(Photo {
                    at: at.pos + HEADER_LEN + PHOTO_PREFIX_LEN,
                    len: header.payload_len - PHOTO_PREFIX_LEN,
                });
            }
            Kind::Event => {
                if header.payload_len != EVENT_PAYLOAD_LEN {
                    break;
                }
                let mut bytes = [0; EVENT_PAYLOAD_LEN as usize];
                file.read_at(payload, &mut bytes)?;
                let Some(event) = record::decode_event(&bytes) else {
                    break;
                };
                let (start, photos) = match group.take() {
                    Some(group) if group.event_id == event.event_id => (group.start, group.photos),
                    _ => (at, [None; MAX_PHOTOS as usize]),
                };
                if let Some(entry) = Entry::new(event, start, photos) {
                    if found.entries.is_full() {
                        found.entries.remove(0);
                        found.evicted += 1;
                    }
                    // Cannot fail: there is room after the line above.
                    let _ = found.entries.push(entry);
                }
            }
            Kind::Ack => {
                if header.payload_len != ACK_PAYLOAD_LEN {
                    break;
                }
                let mut id = [0; 16];
                file.read_at(payload, &mut id)?;
                let id = Uuid::from_bytes(id);
                if let Some(entry) = found
                    .entries
                    .iter_mut()
                    .find(|e| e.queued.event.event_id == id)
                {
                    entry.acked = true;
                }
            }
        }
        at.pos = if header.kind == Kind::Wrap {
            0
        } else {
            at.pos + header.record_len()
        };
        at.seq += 1;
    }
    if at.pos + MIN_RECORD_LEN > capacity {
        at.pos = 0;
    }
    found.head = at;
    Ok(found)
}

/// Whether the payload and trailer after `header` are complete and match its CRC.
fn payload_intact<D: BlockDevice>(
    file: &mut JournalFile<D>,
    pos: u32,
    header: &Header,
    header_bytes: &[u8; HEADER_LEN as usize],
) -> Result<bool, QueueError<D::Error>> {
    let mut digest = CRC32.digest();
    digest.update(header_bytes);
    let mut offset = RING_START + pos + HEADER_LEN;
    let mut left = header.payload_len;
    let mut chunk = [0; 256];
    while left > 0 {
        let piece = left.min(chunk.len() as u32) as usize;
        file.read_at(offset, &mut chunk[..piece])?;
        digest.update(&chunk[..piece]);
        offset += piece as u32;
        left -= piece as u32;
    }
    let mut trailer = [0; TRAILER_LEN as usize];
    file.read_at(offset, &mut trailer)?;
    Ok(record::trailer_matches(&trailer, digest.finalize()))
}
