//! The WiFi credentials in flash: one record at the start of the `nvs` partition (which the
//! board does not use for ESP-IDF's NVS), so they outlive deep sleep, a power cycle and an OTA
//! update until the portal sends new ones.
//!
//! ```text
//! "SBW1" | version u64 LE | ssid length u8 | passphrase length u8 | ssid | passphrase | CRC-32
//! ```
//!
//! A record that does not check out (erased flash, a torn write) reads as "no credentials": the
//! device reports version 0 and the next heartbeat brings them again.

use crc::{CRC_32_ISCSI, Crc};
use esp_bootloader_esp_idf::partitions::{
    self, DataPartitionSubType, FlashStorage, PARTITION_TABLE_MAX_LEN, PartitionType,
};
use smartbox_protocol::WifiCredentials;
use smartbox_protocol::wifi::{MAX_PASSPHRASE, MAX_SSID};

const MAGIC: &[u8; 4] = b"SBW1";
const HEADER: usize = 4 + 8 + 2;
/// Bytes of the longest record, rounded up to the flash's 4-byte write unit.
const RECORD: usize = (HEADER + MAX_SSID + MAX_PASSPHRASE + 4).next_multiple_of(4);
const SECTOR: u32 = 4096;
const CRC32: Crc<u32> = Crc::<u32>::new(&CRC_32_ISCSI);

/// Why credentials could not be written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoreError {
    /// The partition table has no `nvs` data partition.
    NoPartition,
    /// Reading the table, erasing or writing failed.
    Flash,
}

/// The record for `credentials` at `version`, and its length.
pub fn encode(version: u64, credentials: &WifiCredentials) -> ([u8; RECORD], usize) {
    let ssid = credentials.ssid().as_bytes();
    let passphrase = credentials.passphrase().as_bytes();
    let mut record = [0xff; RECORD];
    record[..4].copy_from_slice(MAGIC);
    record[4..12].copy_from_slice(&version.to_le_bytes());
    record[12] = ssid.len() as u8;
    record[13] = passphrase.len() as u8;
    let body = HEADER + ssid.len() + passphrase.len();
    record[HEADER..HEADER + ssid.len()].copy_from_slice(ssid);
    record[HEADER + ssid.len()..body].copy_from_slice(passphrase);
    let crc = CRC32.checksum(&record[..body]);
    record[body..body + 4].copy_from_slice(&crc.to_le_bytes());
    (record, (body + 4).next_multiple_of(4))
}

/// The credentials in `record`, if it checks out.
pub fn decode(record: &[u8]) -> Option<(u64, WifiCredentials)> {
    if record.get(..4)? != MAGIC {
        return None;
    }
    let version = u64::from_le_bytes(record.get(4..12)?.try_into().ok()?);
    let (ssid_len, pass_len) = (usize::from(record[12]), usize::from(record[13]));
    let body = HEADER + ssid_len + pass_len;
    let crc = u32::from_le_bytes(record.get(body..body + 4)?.try_into().ok()?);
    if CRC32.checksum(&record[..body]) != crc {
        return None;
    }
    let ssid = core::str::from_utf8(&record[HEADER..HEADER + ssid_len]).ok()?;
    let passphrase = core::str::from_utf8(&record[HEADER + ssid_len..body]).ok()?;
    Some((version, WifiCredentials::new(ssid, passphrase).ok()?))
}

fn partition(flash: &mut FlashStorage<'_>) -> Result<(u32, u32), StoreError> {
    let mut table = [0_u8; PARTITION_TABLE_MAX_LEN];
    let table =
        partitions::read_partition_table(flash, &mut table).map_err(|_| StoreError::Flash)?;
    let entry = table
        .find_partition(PartitionType::Data(DataPartitionSubType::Nvs))
        .map_err(|_| StoreError::Flash)?
        .ok_or(StoreError::NoPartition)?;
    Ok((entry.offset(), entry.len()))
}

/// The stored credentials and their version, if any.
pub fn load(flash: &mut FlashStorage<'_>) -> Option<(u64, WifiCredentials)> {
    let (offset, _) = partition(flash).ok()?;
    let mut record = [0_u8; RECORD];
    flash.read(offset, &mut record).ok()?;
    decode(&record)
}

/// Replaces the stored credentials (one sector erased and written: a power cut in between
/// leaves none, and the next heartbeat brings them again).
pub fn save(
    flash: &mut FlashStorage<'_>,
    version: u64,
    credentials: &WifiCredentials,
) -> Result<(), StoreError> {
    let (offset, len) = partition(flash)?;
    if len < SECTOR {
        return Err(StoreError::NoPartition);
    }
    let (record, used) = encode(version, credentials);
    flash
        .erase(offset, offset + SECTOR)
        .map_err(|_| StoreError::Flash)?;
    flash
        .write_nor(offset, &record[..used])
        .map_err(|_| StoreError::Flash)
}
