//! Who this mailbox is: serial, device secret, server URL and APN, read from the `provision`
//! flash partition written at the factory.
//!
//! The partition (`data`, subtype `undefined`, label `provision`; see `partitions.csv`) holds
//! plain `key=value` lines, ended by the erased flash (0xff) or a NUL:
//!
//! ```text
//! serial=SB-000123
//! secret=<64 lowercase hex characters, the device secret from `smartbox devices import`>
//! url=https://api.example.com
//! apn=iot.example
//! ```
//!
//! Being a separate partition, it survives `espflash flash` and OTA updates, and one firmware
//! image serves every device. The README says how to write it.

use esp_bootloader_esp_idf::partitions::{self, FlashStorage, PARTITION_TABLE_MAX_LEN};
use heapless::String;
use smartbox_firmware::a7670::Settings;

/// The partition's label in the partition table.
pub const PARTITION_LABEL: &str = "provision";
/// Bytes of the partition read (the record is a few hundred bytes).
const RECORD_MAX: usize = 512;

/// The device's identity and where it reports.
#[derive(Debug, Clone)]
pub struct Provision {
    /// `X-Device-Serial`: 4-32 characters of A-Z, 0-9 and '-'.
    pub serial: String<32>,
    /// The HMAC secret shared with the server.
    pub secret: [u8; 32],
    /// Scheme and host of the device API, without a trailing slash.
    pub base_url: String<96>,
    /// The SIM's APN.
    pub apn: String<32>,
}

impl Provision {
    /// The modem's settings, its UART at `uart_baud`, verifying `https` against the CA built
    /// in (`SMARTBOX_CA_CERT`; without one the modem refuses `https` too).
    pub fn modem_settings(&self, uart_baud: u32) -> Settings {
        let ca = crate::wifi::https::CA_DER;
        Settings {
            base_url: self.base_url.clone(),
            apn: self.apn.clone(),
            uart_baud,
            ca_cert: (!ca.is_empty()).then_some(ca),
        }
    }
}

/// Why the device has no usable identity.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProvisionError {
    /// The partition table could not be read.
    Flash(partitions::Error),
    /// The partition table has no `provision` partition.
    NoPartition,
    /// A key is missing or its value is malformed; names the key.
    Field(&'static str),
}

/// Reads and checks the provisioning record.
pub fn load(flash: &mut FlashStorage<'_>) -> Result<Provision, ProvisionError> {
    let mut table = [0_u8; PARTITION_TABLE_MAX_LEN];
    let table =
        partitions::read_partition_table(flash, &mut table).map_err(ProvisionError::Flash)?;
    let entry = table
        .iter()
        .find(|entry| entry.label_as_str() == PARTITION_LABEL)
        .ok_or(ProvisionError::NoPartition)?;
    let mut record = [0xff_u8; RECORD_MAX];
    let len = RECORD_MAX.min(entry.len() as usize);
    entry
        .as_flash_region(flash)
        .read(0, &mut record[..len])
        .map_err(ProvisionError::Flash)?;
    parse(&record[..len])
}

/// Parses a record (pure; unknown keys are ignored so that newer factories stay compatible).
pub fn parse(record: &[u8]) -> Result<Provision, ProvisionError> {
    let end = record
        .iter()
        .position(|&b| b == 0xff || b == 0)
        .unwrap_or(record.len());
    let text = core::str::from_utf8(&record[..end]).map_err(|_| ProvisionError::Field("utf-8"))?;
    let (mut serial, mut secret, mut url, mut apn) = (None, None, None, None);
    for line in text.lines() {
        let Some((key, value)) = line.split_once('=') else {
            continue;
        };
        let value = value.trim();
        match key.trim() {
            "serial" => serial = Some(value),
            "secret" => secret = Some(value),
            "url" => url = Some(value),
            "apn" => apn = Some(value),
            _ => {}
        }
    }
    let serial = serial
        .filter(|s| {
            (4..=32).contains(&s.len())
                && s.bytes()
                    .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'-')
        })
        .and_then(|s| String::try_from(s).ok())
        .ok_or(ProvisionError::Field("serial"))?;
    let secret = secret
        .and_then(hex32)
        .ok_or(ProvisionError::Field("secret"))?;
    let base_url = url
        .map(|u| u.trim_end_matches('/'))
        .filter(|u| u.starts_with("https://") || u.starts_with("http://"))
        .and_then(|u| String::try_from(u).ok())
        .ok_or(ProvisionError::Field("url"))?;
    let apn = apn
        .and_then(|a| String::try_from(a).ok())
        .ok_or(ProvisionError::Field("apn"))?;
    Ok(Provision {
        serial,
        secret,
        base_url,
        apn,
    })
}

/// 32 bytes from 64 hex characters.
pub fn hex32(hex: &str) -> Option<[u8; 32]> {
    let hex = hex.as_bytes();
    if hex.len() != 64 {
        return None;
    }
    let mut out = [0_u8; 32];
    for (byte, pair) in out.iter_mut().zip(hex.chunks(2)) {
        *byte = nibble(pair[0])? << 4 | nibble(pair[1])?;
    }
    Some(out)
}

fn nibble(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}
