//! What the OTA client remembers across reboots and power loss, as a fixed 256-byte block.
//!
//! The partition implementation stores the block wherever suits the board (a flash sector, NVS);
//! the client decides when it is written, so that the order of "remember" and "switch" is its own.
//! A block that is not whole (bad magic or CRC) reads as "nothing remembered".
//!
//! ```text
//!   0 magic "SOTA"        4 phase u8        5 written u32        9 has target u8
//!  10 target version (len u8 + 32)          43 size u32          47 sha256 [32]
//!  79 signature [64]     143 has refused u8 144 refused sha256 [32]
//! 176 report status u8   177 report reason u8                    178 report version (len + 32)
//! 211 CRC-32 of bytes 0..211                215.. zero
//! ```

use crc::{CRC_32_ISO_HDLC, Crc};
use heapless::String;
use smartbox_protocol::FirmwareStatus;

use super::FailureReason;

const CRC32: Crc<u32> = Crc::<u32>::new(&CRC_32_ISO_HDLC);

/// Bytes of an encoded record.
pub const RECORD_LEN: usize = 256;
const MAGIC: [u8; 4] = *b"SOTA";
const CRC_AT: usize = 211;

/// The image being installed, as the server offered it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Target {
    pub version: String<32>,
    pub size: u32,
    pub sha256: [u8; 32],
    pub signature: [u8; 64],
}

/// How far the installation of the target got.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Phase {
    /// Nothing under way.
    Idle,
    /// `written` bytes of the image are in the update slot (at least; maybe more).
    Downloading { written: u32 },
    /// Verified and set to boot; the next boot runs it on trial.
    Switched,
}

/// The outcome waiting to be sent to the server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct PendingReport {
    pub version: String<32>,
    pub status: FirmwareStatus,
    pub reason: Option<FailureReason>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Record {
    pub target: Option<Target>,
    pub phase: Phase,
    /// Digest of an image that failed verification or was rolled back: never tried again.
    pub refused: Option<[u8; 32]>,
    pub report: Option<PendingReport>,
}

impl Record {
    pub const EMPTY: Self = Self {
        target: None,
        phase: Phase::Idle,
        refused: None,
        report: None,
    };

    pub fn encode(&self) -> [u8; RECORD_LEN] {
        let mut out = [0; RECORD_LEN];
        out[0..4].copy_from_slice(&MAGIC);
        let (phase, written) = match self.phase {
            Phase::Idle => (0, 0),
            Phase::Downloading { written } => (1, written),
            Phase::Switched => (2, 0),
        };
        out[4] = phase;
        out[5..9].copy_from_slice(&written.to_le_bytes());
        if let Some(target) = &self.target {
            out[9] = 1;
            put_version(&mut out[10..43], &target.version);
            out[43..47].copy_from_slice(&target.size.to_le_bytes());
            out[47..79].copy_from_slice(&target.sha256);
            out[79..143].copy_from_slice(&target.signature);
        }
        if let Some(refused) = &self.refused {
            out[143] = 1;
            out[144..176].copy_from_slice(refused);
        }
        if let Some(report) = &self.report {
            out[176] = match report.status {
                FirmwareStatus::Downloaded => 1,
                FirmwareStatus::Installed => 2,
                FirmwareStatus::Failed => 3,
                FirmwareStatus::RolledBack => 4,
            };
            out[177] = report.reason.map_or(0, FailureReason::code);
            put_version(&mut out[178..211], &report.version);
        }
        let crc = CRC32.checksum(&out[..CRC_AT]);
        out[CRC_AT..CRC_AT + 4].copy_from_slice(&crc.to_le_bytes());
        out
    }

    /// `None` for anything but a whole record.
    pub fn decode(bytes: &[u8; RECORD_LEN]) -> Option<Self> {
        let mut crc = [0; 4];
        crc.copy_from_slice(&bytes[CRC_AT..CRC_AT + 4]);
        if bytes[0..4] != MAGIC || CRC32.checksum(&bytes[..CRC_AT]) != u32::from_le_bytes(crc) {
            return None;
        }
        let phase = match bytes[4] {
            0 => Phase::Idle,
            1 => Phase::Downloading {
                written: u32_at(bytes, 5),
            },
            2 => Phase::Switched,
            _ => return None,
        };
        let target = match bytes[9] {
            0 => None,
            _ => Some(Target {
                version: get_version(&bytes[10..43])?,
                size: u32_at(bytes, 43),
                sha256: array(&bytes[47..79]),
                signature: array(&bytes[79..143]),
            }),
        };
        let refused = (bytes[143] != 0).then(|| array(&bytes[144..176]));
        let status = match bytes[176] {
            0 => None,
            1 => Some(FirmwareStatus::Downloaded),
            2 => Some(FirmwareStatus::Installed),
            3 => Some(FirmwareStatus::Failed),
            4 => Some(FirmwareStatus::RolledBack),
            _ => return None,
        };
        let report = match status {
            None => None,
            Some(status) => Some(PendingReport {
                version: get_version(&bytes[178..211])?,
                status,
                reason: FailureReason::from_code(bytes[177]),
            }),
        };
        Some(Self {
            target,
            phase,
            refused,
            report,
        })
    }
}

fn put_version(out: &mut [u8], version: &str) {
    out[0] = version.len() as u8;
    out[1..1 + version.len()].copy_from_slice(version.as_bytes());
}

fn get_version(bytes: &[u8]) -> Option<String<32>> {
    let len = usize::from(bytes[0]);
    let text = core::str::from_utf8(bytes.get(1..1 + len)?).ok()?;
    String::try_from(text).ok()
}

fn u32_at(bytes: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(array(&bytes[at..at + 4]))
}

fn array<const N: usize>(bytes: &[u8]) -> [u8; N] {
    let mut out = [0; N];
    out.copy_from_slice(bytes);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn full() -> Record {
        Record {
            target: Some(Target {
                version: String::try_from("2.10.0-rc.1").expect("fits"),
                size: 1_234_567,
                sha256: [0xab; 32],
                signature: [0x5c; 64],
            }),
            phase: Phase::Downloading { written: 65_536 },
            refused: Some([7; 32]),
            report: Some(PendingReport {
                version: String::try_from("2.9.0").expect("fits"),
                status: FirmwareStatus::RolledBack,
                reason: Some(FailureReason::NotConfirmed),
            }),
        }
    }

    #[test]
    fn a_record_round_trips() {
        assert_eq!(Record::decode(&full().encode()), Some(full()));
        assert_eq!(Record::decode(&Record::EMPTY.encode()), Some(Record::EMPTY));
    }

    #[test]
    fn a_damaged_or_erased_record_reads_as_nothing() {
        let bytes = full().encode();
        for at in [0, 4, 20, 100, 177, 210, 212] {
            let mut damaged = bytes;
            damaged[at] ^= 0x10;
            assert_eq!(Record::decode(&damaged), None, "byte {at}");
        }
        assert_eq!(Record::decode(&[0xff; RECORD_LEN]), None);
        assert_eq!(Record::decode(&[0; RECORD_LEN]), None);
    }
}
