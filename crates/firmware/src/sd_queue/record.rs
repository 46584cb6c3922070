//! Byte layout of one journal record: header, payload, trailer.
//!
//! ```text
//! header  (24 B)  magic "SBQR" | seq u64 | kind u8 | 0 u8 | 0 u16 | payload_len u32 | header CRC-32
//! payload (n B)   see `Kind`
//! trailer  (8 B)  CRC-32 of header + payload | commit marker "SBQC"
//! ```
//!
//! All integers are little-endian. The header has its own CRC so that a scan over records already
//! committed by a superblock can skip a photo's payload without reading it; a record past the
//! superblock's head is accepted only when its trailer is complete and its CRC matches, which is
//! what makes a torn write invisible. The trailer is written last, so its commit marker exists on
//! the card only if every byte before it does.

use crc::{CRC_32_ISO_HDLC, Crc};
use smartbox_protocol::{EventKind, EventRequest, MAX_PHOTOS, Uuid};

/// CRC-32 (ISO-HDLC, the zlib/PNG one).
pub(crate) const CRC32: Crc<u32> = Crc::<u32>::new(&CRC_32_ISO_HDLC);

const RECORD_MAGIC: [u8; 4] = *b"SBQR";
const COMMIT_MARKER: [u8; 4] = *b"SBQC";

/// Bytes before the payload.
pub(crate) const HEADER_LEN: u32 = 24;
/// Bytes after the payload.
pub(crate) const TRAILER_LEN: u32 = 8;
/// The smallest record (no payload). A ring position closer than this to the end cannot start a
/// record, so writer and reader both continue at offset 0 from there.
pub(crate) const MIN_RECORD_LEN: u32 = HEADER_LEN + TRAILER_LEN;

/// Payload bytes of an event record.
pub(crate) const EVENT_PAYLOAD_LEN: u32 = 26;
/// Payload bytes of an ack record.
pub(crate) const ACK_PAYLOAD_LEN: u32 = 16;
/// Payload bytes of a photo record before the JPEG itself: event id and photo index.
pub(crate) const PHOTO_PREFIX_LEN: u32 = 17;

/// What a record holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// `event_id [16] | index u8 | JPEG bytes`. Written before the event it belongs to.
    Photo,
    /// `event_id [16] | kind u8 | photo_count u8 | occurred_at i64`. Commits the event together
    /// with the photo records written just before it.
    Event,
    /// `event_id [16]`: the event was delivered although it was not the oldest.
    Ack,
    /// No payload: the next record starts at ring offset 0.
    Wrap,
}

impl Kind {
    fn to_byte(self) -> u8 {
        match self {
            Self::Photo => 1,
            Self::Event => 2,
            Self::Ack => 3,
            Self::Wrap => 4,
        }
    }

    fn from_byte(byte: u8) -> Option<Self> {
        match byte {
            1 => Some(Self::Photo),
            2 => Some(Self::Event),
            3 => Some(Self::Ack),
            4 => Some(Self::Wrap),
            _ => None,
        }
    }
}

/// A decoded, self-consistent header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Header {
    pub seq: u64,
    pub kind: Kind,
    pub payload_len: u32,
}

impl Header {
    /// Header, payload and trailer.
    pub fn record_len(&self) -> u32 {
        HEADER_LEN + self.payload_len + TRAILER_LEN
    }

    pub fn encode(&self) -> [u8; HEADER_LEN as usize] {
        let mut out = [0; HEADER_LEN as usize];
        out[0..4].copy_from_slice(&RECORD_MAGIC);
        out[4..12].copy_from_slice(&self.seq.to_le_bytes());
        out[12] = self.kind.to_byte();
        out[16..20].copy_from_slice(&self.payload_len.to_le_bytes());
        let crc = CRC32.checksum(&out[0..20]);
        out[20..24].copy_from_slice(&crc.to_le_bytes());
        out
    }

    /// `None` for anything but a header written whole by [`Header::encode`].
    pub fn decode(bytes: &[u8; HEADER_LEN as usize]) -> Option<Self> {
        if bytes[0..4] != RECORD_MAGIC || bytes[13..16] != [0, 0, 0] {
            return None;
        }
        if CRC32.checksum(&bytes[0..20]) != u32_at(bytes, 20) {
            return None;
        }
        Some(Self {
            seq: u64::from_le_bytes(array(&bytes[4..12])),
            kind: Kind::from_byte(bytes[12])?,
            payload_len: u32_at(bytes, 16),
        })
    }
}

/// The trailer for a record whose header and payload hash to `crc`.
pub(crate) fn trailer(crc: u32) -> [u8; TRAILER_LEN as usize] {
    let mut out = [0; TRAILER_LEN as usize];
    out[0..4].copy_from_slice(&crc.to_le_bytes());
    out[4..8].copy_from_slice(&COMMIT_MARKER);
    out
}

/// Whether `bytes` is the trailer of a record whose header and payload hash to `crc`.
pub(crate) fn trailer_matches(bytes: &[u8; TRAILER_LEN as usize], crc: u32) -> bool {
    *bytes == trailer(crc)
}

pub(crate) fn encode_event(event: &EventRequest) -> [u8; EVENT_PAYLOAD_LEN as usize] {
    let mut out = [0; EVENT_PAYLOAD_LEN as usize];
    out[0..16].copy_from_slice(event.event_id.as_bytes());
    out[16] = match event.kind {
        EventKind::MailArrived => 0,
        EventKind::MailRemoved => 1,
    };
    out[17] = event.photo_count;
    out[18..26].copy_from_slice(&event.occurred_at.to_le_bytes());
    out
}

pub(crate) fn decode_event(bytes: &[u8; EVENT_PAYLOAD_LEN as usize]) -> Option<EventRequest> {
    let kind = match bytes[16] {
        0 => EventKind::MailArrived,
        1 => EventKind::MailRemoved,
        _ => return None,
    };
    if bytes[17] > MAX_PHOTOS {
        return None;
    }
    Some(EventRequest {
        event_id: Uuid::from_bytes(array(&bytes[0..16])),
        kind,
        occurred_at: i64::from_le_bytes(array(&bytes[18..26])),
        photo_count: bytes[17],
    })
}

pub(crate) fn encode_photo_prefix(event_id: Uuid, index: u8) -> [u8; PHOTO_PREFIX_LEN as usize] {
    let mut out = [0; PHOTO_PREFIX_LEN as usize];
    out[0..16].copy_from_slice(event_id.as_bytes());
    out[16] = index;
    out
}

pub(crate) fn decode_photo_prefix(bytes: &[u8; PHOTO_PREFIX_LEN as usize]) -> (Uuid, u8) {
    (Uuid::from_bytes(array(&bytes[0..16])), bytes[16])
}

fn u32_at(bytes: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(array(&bytes[at..at + 4]))
}

/// Copies a slice whose length the caller fixed into an array.
fn array<const N: usize>(bytes: &[u8]) -> [u8; N] {
    let mut out = [0; N];
    out.copy_from_slice(bytes);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header() -> Header {
        Header {
            seq: 0x0102_0304_0506_0708,
            kind: Kind::Photo,
            payload_len: 1234,
        }
    }

    #[test]
    fn a_header_round_trips_and_any_flipped_bit_is_refused() {
        let bytes = header().encode();
        assert_eq!(Header::decode(&bytes), Some(header()));
        for bit in 0..bytes.len() * 8 {
            let mut damaged = bytes;
            damaged[bit / 8] ^= 1 << (bit % 8);
            assert_eq!(Header::decode(&damaged), None, "bit {bit}");
        }
    }

    #[test]
    fn a_zeroed_or_erased_header_is_refused() {
        assert_eq!(Header::decode(&[0; 24]), None);
        assert_eq!(Header::decode(&[0xff; 24]), None);
    }

    #[test]
    fn an_event_payload_round_trips() {
        let event = EventRequest {
            event_id: Uuid::from_bytes([7; 16]),
            kind: EventKind::MailRemoved,
            occurred_at: -5,
            photo_count: 3,
        };
        assert_eq!(decode_event(&encode_event(&event)), Some(event));
    }

    #[test]
    fn an_event_payload_with_more_than_three_photos_is_refused() {
        let mut bytes = encode_event(&EventRequest {
            event_id: Uuid::nil(),
            kind: EventKind::MailArrived,
            occurred_at: 0,
            photo_count: 0,
        });
        bytes[17] = 4;
        assert_eq!(decode_event(&bytes), None);
    }

    #[test]
    fn a_trailer_matches_only_its_own_crc() {
        let t = trailer(42);
        assert!(trailer_matches(&t, 42));
        assert!(!trailer_matches(&t, 43));
        let mut torn = t;
        torn[7] = 0;
        assert!(!trailer_matches(&torn, 42));
    }
}
