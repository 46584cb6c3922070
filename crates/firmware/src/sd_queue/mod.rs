//! The SD upload queue: mail events and their photos kept on the microSD card until the server
//! has stored them, surviving power loss at any byte.
//!
//! # On the card
//! One file, [`JOURNAL_FILE`], in the root of the card's first FAT partition, made once at its
//! full size ([`QueueConfig::journal_bytes`] plus 1 KiB) and afterwards only rewritten in place
//! (see `file`). It holds two superblock slots and a ring of CRC-framed records:
//! photo records, then the event record that commits them, and ack records.
//!
//! # Durability
//! - A push writes the photos, then the event record, then a superblock pointing past them; it
//!   returns only after all of that is on the card. Cut anywhere before the event record's last
//!   byte, the event is simply absent after a reboot; cut after it, it is there with all its photos.
//! - Records already stored are never written into until they are dropped: the ring's live region
//!   is only reused after a superblock moving its start past the dropped records is on the card.
//! - An ack of the oldest event moves the live region's start in a new superblock; an ack of any
//!   other event appends an ack record. Either is on the card when [`SdQueue::ack`] returns.
//!
//! # Bounds
//! The ring has a fixed size and the in-RAM index holds at most `N` events. A push that does not
//! fit drops the oldest events, whole and oldest first, until it does; [`SdQueue::evicted`] counts
//! them (kept on the card). A push that could not fit even into an empty journal is refused
//! before anything is dropped. A card without room for the journal is refused when the queue is
//! opened ([`QueueError::CardFull`]); once made, the journal never needs more of the card.

mod file;
mod port;
pub mod ram_disk;
mod record;
mod ring;
mod scan;
mod superblock;

use core::fmt;

use embedded_sdmmc::BlockDevice;
use heapless::Vec;
use smartbox_protocol::{EventRequest, MAX_PHOTO_BYTES, MAX_PHOTOS, Uuid};

pub use file::JOURNAL_FILE;

use file::{JournalFile, RING_START};
use record::{
    ACK_PAYLOAD_LEN, CRC32, EVENT_PAYLOAD_LEN, HEADER_LEN, Header, Kind, MIN_RECORD_LEN,
    PHOTO_PREFIX_LEN, TRAILER_LEN,
};
use ring::{Placement, Space};
use superblock::{Cursor, Superblock};

/// Ring size used by the board: room for about 170 events of three 60 KB photos.
pub const DEFAULT_JOURNAL_BYTES: u32 = 32 * 1024 * 1024;
/// The smallest ring accepted.
pub const MIN_JOURNAL_BYTES: u32 = 4 * 1024;

/// How the journal is made when the card does not have one yet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QueueConfig {
    /// Ring bytes. Used only when the journal is first made; an existing journal keeps its size.
    pub journal_bytes: u32,
}

impl Default for QueueConfig {
    fn default() -> Self {
        Self {
            journal_bytes: DEFAULT_JOURNAL_BYTES,
        }
    }
}

/// Why the queue could not do what was asked. Nothing already stored is lost by any of these.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum QueueError<E: core::error::Error> {
    /// The card could not be read or written, or has no FAT volume `embedded-sdmmc` can mount.
    Card(embedded_sdmmc::Error<E>),
    /// The card has no room for a journal of `needed` bytes; the journal file has `available`.
    /// Free space on the card, or open the queue with a smaller [`QueueConfig::journal_bytes`].
    CardFull {
        /// Journal file length asked for.
        needed: u32,
        /// Journal file length reached before the card was full.
        available: u32,
    },
    /// An event of `bytes` journal bytes can never fit into a ring of `capacity` bytes.
    TooLarge {
        /// Journal bytes the event and its photos take.
        bytes: u64,
        /// Ring bytes.
        capacity: u32,
    },
    /// The event or photo does not satisfy the device API's limits (photo count, 2 MiB).
    Invalid(&'static str),
    /// No such event (or photo of it) is waiting.
    UnknownEvent(Uuid),
    /// The queue is empty.
    Empty,
    /// A photo of `needed` bytes does not fit into the buffer given.
    BufferTooSmall {
        /// The photo's length.
        needed: u32,
    },
    /// An ack of an event that is not the oldest needs an ack record and the ring is full; the
    /// event stays queued (sending it again is harmless: the server answers 200).
    NoRoomForAck,
}

impl<E: core::error::Error> From<embedded_sdmmc::Error<E>> for QueueError<E> {
    fn from(error: embedded_sdmmc::Error<E>) -> Self {
        Self::Card(error)
    }
}

impl<E: core::error::Error> fmt::Display for QueueError<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Card(error) => write!(f, "sd card: {error}"),
            Self::CardFull { needed, available } => write!(
                f,
                "sd card full: the upload journal needs {needed} bytes, only {available} were free"
            ),
            Self::TooLarge { bytes, capacity } => write!(
                f,
                "an event of {bytes} bytes cannot fit into a {capacity}-byte upload journal"
            ),
            Self::Invalid(why) => write!(f, "invalid event: {why}"),
            Self::UnknownEvent(id) => write!(f, "event {id} (or that photo of it) is not queued"),
            Self::Empty => write!(f, "the upload queue is empty"),
            Self::BufferTooSmall { needed } => {
                write!(f, "a {needed}-byte photo does not fit into the buffer")
            }
            Self::NoRoomForAck => write!(f, "upload journal full; ack not recorded"),
        }
    }
}

/// A queued event as the wake cycle uploads it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QueuedEvent {
    /// The event exactly as pushed.
    pub event: EventRequest,
    photo_lens: [u32; MAX_PHOTOS as usize],
}

impl QueuedEvent {
    /// Length of photo `index`, or `None` when `index >= photo_count`.
    pub fn photo_len(&self, index: u8) -> Option<u32> {
        (index < self.event.photo_count).then(|| self.photo_lens[usize::from(index)])
    }
}

/// Where a photo's JPEG bytes are in the ring.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Photo {
    at: u32,
    len: u32,
}

/// One event in the in-RAM index.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Entry {
    queued: QueuedEvent,
    photos: [Option<Photo>; MAX_PHOTOS as usize],
    /// The event's first record (its first photo, else the event record).
    start: Cursor,
    acked: bool,
}

impl Entry {
    /// `None` unless exactly photos `0..photo_count` are present.
    fn new(
        event: EventRequest,
        start: Cursor,
        photos: [Option<Photo>; MAX_PHOTOS as usize],
    ) -> Option<Self> {
        let mut photo_lens = [0; MAX_PHOTOS as usize];
        for (index, photo) in photos.iter().enumerate() {
            match (index < usize::from(event.photo_count), photo) {
                (true, Some(photo)) => photo_lens[index] = photo.len,
                (false, None) => {}
                _ => return None,
            }
        }
        Some(Self {
            queued: QueuedEvent { event, photo_lens },
            photos,
            start,
            acked: false,
        })
    }
}

/// The upload queue on an SD card; `N` bounds the events held at once (RAM: ~90 bytes each).
pub struct SdQueue<D: BlockDevice, const N: usize = 64> {
    file: JournalFile<D>,
    /// The superblock last written or recovered.
    block: Superblock,
    head: Cursor,
    evicted: u32,
    /// Oldest first; the first entry is never acked (acked ones at the front are dropped).
    entries: Vec<Entry, N>,
}

impl<D: BlockDevice, const N: usize> fmt::Debug for SdQueue<D, N> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SdQueue")
            .field("capacity", &self.block.capacity)
            .field("head", &self.head)
            .field("pending", &self.len())
            .field("evicted", &self.evicted)
            .finish_non_exhaustive()
    }
}

impl<D: BlockDevice, const N: usize> SdQueue<D, N> {
    /// Mounts the card, makes the journal if it has none, and recovers what it holds.
    pub fn open(device: D, config: QueueConfig) -> Result<Self, QueueError<D::Error>> {
        if config.journal_bytes < MIN_JOURNAL_BYTES {
            return Err(QueueError::Invalid("journal smaller than 4 KiB"));
        }
        let mut file = JournalFile::open(device)?;
        let [first, second] = file.read_superblocks()?;
        let length = file.len()?;
        let block = match Superblock::newest(first, second) {
            Some(block) if length >= RING_START + block.capacity => block,
            _ => {
                // No journal yet, or one whose making was cut short: nothing was stored in it.
                let target = RING_START
                    .checked_add(config.journal_bytes)
                    .ok_or(QueueError::Invalid("journal larger than 4 GiB"))?;
                file.extend_to(target)?;
                let block = Superblock {
                    generation: 1,
                    ..Superblock::empty(config.journal_bytes)
                };
                file.write_superblock(&block)?;
                block
            }
        };
        let found = scan::scan::<D, N>(&mut file, &block)?;
        let mut queue = Self {
            file,
            block,
            head: found.head,
            evicted: block.evicted + found.evicted,
            entries: found.entries,
        };
        queue.drop_acked_front();
        Ok(queue)
    }

    /// Events waiting for upload.
    pub fn len(&self) -> usize {
        self.entries.iter().filter(|e| !e.acked).count()
    }

    /// Whether no event is waiting.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Events dropped unsent to make room, since the journal was made.
    pub fn evicted(&self) -> u32 {
        self.evicted
    }

    /// Ring bytes of the journal on the card.
    pub fn capacity(&self) -> u32 {
        self.block.capacity
    }

    /// The event to upload next.
    pub fn oldest(&self) -> Option<QueuedEvent> {
        self.events().next()
    }

    /// Every waiting event, oldest first.
    pub fn events(&self) -> impl Iterator<Item = QueuedEvent> + '_ {
        self.entries.iter().filter(|e| !e.acked).map(|e| e.queued)
    }

    /// Stores an event and its photos (`photos[i]` is photo `i`; exactly `photo_count` of them).
    /// Pushing an event that is already queued changes nothing.
    pub fn push(
        &mut self,
        event: &EventRequest,
        photos: &[&[u8]],
    ) -> Result<(), QueueError<D::Error>> {
        if event.validate().is_err() || photos.len() != usize::from(event.photo_count) {
            return Err(QueueError::Invalid(
                "photo_count differs from the photos given",
            ));
        }
        if photos.iter().any(|p| p.len() > MAX_PHOTO_BYTES as usize) {
            return Err(QueueError::Invalid("photo larger than 2 MiB"));
        }
        if self
            .entries
            .iter()
            .any(|e| e.queued.event.event_id == event.event_id)
        {
            return Ok(());
        }
        let mut lens: Vec<u32, { MAX_PHOTOS as usize + 1 }> = Vec::new();
        for photo in photos {
            let _ = lens.push(HEADER_LEN + PHOTO_PREFIX_LEN + photo.len() as u32 + TRAILER_LEN);
        }
        let _ = lens.push(HEADER_LEN + EVENT_PAYLOAD_LEN + TRAILER_LEN);
        let (drop, placements) = self.plan_push(&lens)?;
        if drop > 0 {
            self.evict(drop);
            // The dropped records' space is reused only once the card says they are gone.
            self.write_superblock()?;
        }

        let mut seq = self.head.seq;
        let mut start = None;
        let mut stored = [None; MAX_PHOTOS as usize];
        for (i, placement) in placements.iter().enumerate() {
            if let Some(wrap_at) = placement.wrap_at {
                self.write_record(wrap_at, seq, Kind::Wrap, &[])?;
                seq += 1;
            }
            let at = Cursor {
                pos: placement.at,
                seq,
            };
            start.get_or_insert(at);
            match photos.get(i) {
                Some(photo) => {
                    let prefix = record::encode_photo_prefix(event.event_id, i as u8);
                    self.write_record(at.pos, seq, Kind::Photo, &[&prefix, photo])?;
                    stored[i] = Some(Photo {
                        at: at.pos + HEADER_LEN + PHOTO_PREFIX_LEN,
                        len: photo.len() as u32,
                    });
                }
                None => {
                    let payload = record::encode_event(event);
                    self.write_record(at.pos, seq, Kind::Event, &[&payload])?;
                }
            }
            seq += 1;
            self.head = Cursor {
                pos: next_pos(at.pos + lens[i], self.block.capacity),
                seq,
            };
        }
        let start = start.unwrap_or(self.head);
        if let Some(entry) = Entry::new(*event, start, stored) {
            // Room was made by `plan_push`.
            let _ = self.entries.push(entry);
        }
        self.write_superblock()
    }

    /// Records that the server has stored `event_id` (with its photos); it is not offered again.
    /// An event that is not queued (or already acked) is ignored.
    pub fn ack(&mut self, event_id: Uuid) -> Result<(), QueueError<D::Error>> {
        let Some(index) = self
            .entries
            .iter()
            .position(|e| e.queued.event.event_id == event_id && !e.acked)
        else {
            return Ok(());
        };
        if index > 0 {
            let len = HEADER_LEN + ACK_PAYLOAD_LEN + TRAILER_LEN;
            let placement = self.space(0).place(len).ok_or(QueueError::NoRoomForAck)?;
            let mut seq = self.head.seq;
            if let Some(wrap_at) = placement.wrap_at {
                self.write_record(wrap_at, seq, Kind::Wrap, &[])?;
                seq += 1;
            }
            self.write_record(placement.at, seq, Kind::Ack, &[event_id.as_bytes()])?;
            self.head = Cursor {
                pos: next_pos(placement.at + len, self.block.capacity),
                seq: seq + 1,
            };
        }
        self.entries[index].acked = true;
        self.drop_acked_front();
        self.write_superblock()
    }

    /// Reads photo `index` of a queued event from byte `offset` into `out`; returns the bytes read
    /// (fewer than `out.len()` only at the photo's end).
    pub fn read_photo(
        &mut self,
        event_id: Uuid,
        index: u8,
        offset: u32,
        out: &mut [u8],
    ) -> Result<usize, QueueError<D::Error>> {
        let photo = self
            .entries
            .iter()
            .find(|e| e.queued.event.event_id == event_id && !e.acked)
            .and_then(|e| e.photos.get(usize::from(index)).copied().flatten())
            .ok_or(QueueError::UnknownEvent(event_id))?;
        let left = photo.len.saturating_sub(offset) as usize;
        let count = left.min(out.len());
        if count == 0 {
            return Ok(0);
        }
        self.file
            .read_at(RING_START + photo.at + offset, &mut out[..count])?;
        Ok(count)
    }

    /// The ring's free space once the `drop` oldest entries (and acked ones behind them) are gone.
    fn space(&self, drop: usize) -> Space {
        let first_live = self.entries.iter().skip(drop).find(|e| !e.acked);
        Space {
            capacity: self.block.capacity,
            tail: first_live.map_or(self.head.pos, |e| e.start.pos),
            head: self.head.pos,
            live: first_live.is_some(),
        }
    }

    /// How many oldest entries must go for records of `lens` bytes to fit, and where they go.
    fn plan_push(
        &self,
        lens: &[u32],
    ) -> Result<(usize, Vec<Placement, { MAX_PHOTOS as usize + 1 }>), QueueError<D::Error>> {
        for drop in 0..=self.entries.len() {
            let kept = self.entries.iter().skip(drop).filter(|e| !e.acked).count();
            if kept >= N {
                continue;
            }
            let mut space = self.space(drop);
            let placements: Option<Vec<Placement, { MAX_PHOTOS as usize + 1 }>> =
                lens.iter().map(|len| space.place(*len)).collect();
            if let Some(placements) = placements {
                return Ok((drop, placements));
            }
        }
        Err(QueueError::TooLarge {
            bytes: lens.iter().map(|len| u64::from(*len)).sum(),
            capacity: self.block.capacity,
        })
    }

    /// Drops the `count` oldest entries, counting the unsent ones.
    fn evict(&mut self, count: usize) {
        for entry in self.entries.iter().take(count) {
            if !entry.acked {
                self.evicted += 1;
            }
        }
        let kept: Vec<Entry, N> = self.entries.iter().skip(count).copied().collect();
        self.entries = kept;
        self.drop_acked_front();
    }

    fn drop_acked_front(&mut self) {
        let acked = self.entries.iter().take_while(|e| e.acked).count();
        if acked > 0 {
            let kept: Vec<Entry, N> = self.entries.iter().skip(acked).copied().collect();
            self.entries = kept;
        }
    }

    fn write_superblock(&mut self) -> Result<(), QueueError<D::Error>> {
        let block = Superblock {
            generation: self.block.generation + 1,
            capacity: self.block.capacity,
            tail: self.entries.first().map_or(self.head, |e| e.start),
            head: self.head,
            evicted: self.evicted,
        };
        self.file.write_superblock(&block)?;
        self.block = block;
        Ok(())
    }

    /// Writes header, payload pieces and trailer at ring offset `pos`.
    ///
    /// The header, the small pieces (ids, event fields) and, when nothing large follows, the
    /// trailer go out in one write: fewer block writes per record on the card.
    fn write_record(
        &mut self,
        pos: u32,
        seq: u64,
        kind: Kind,
        payload: &[&[u8]],
    ) -> Result<(), QueueError<D::Error>> {
        const SMALL: usize = 64;
        let payload_len = payload.iter().map(|p| p.len() as u32).sum();
        let header = Header {
            seq,
            kind,
            payload_len,
        }
        .encode();
        let mut digest = CRC32.digest();
        let mut buffer: Vec<u8, SMALL> = Vec::new();
        let mut offset = RING_START + pos;
        for piece in core::iter::once(&header[..]).chain(payload.iter().copied()) {
            digest.update(piece);
            if buffer.extend_from_slice(piece).is_err() {
                self.file.write_at(offset, &buffer)?;
                offset += buffer.len() as u32;
                buffer.clear();
                self.file.write_at(offset, piece)?;
                offset += piece.len() as u32;
            }
        }
        let trailer = record::trailer(digest.finalize());
        if buffer.extend_from_slice(&trailer).is_err() {
            self.file.write_at(offset, &buffer)?;
            offset += buffer.len() as u32;
            buffer.clear();
            buffer.extend_from_slice(&trailer).ok();
        }
        self.file.write_at(offset, &buffer)
    }
}

/// The ring offset after a record ending at `end`: 0 when no record fits before the ring's end.
fn next_pos(end: u32, capacity: u32) -> u32 {
    if end + MIN_RECORD_LEN > capacity {
        0
    } else {
        end
    }
}
