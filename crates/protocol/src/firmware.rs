//! Firmware offers (in the heartbeat answer) and install reports (`POST .../firmware/report`).

use heapless::String;
use serde::{Deserialize, Serialize};

/// A firmware image the device should install.
///
/// The device downloads `GET /api/device/v1/firmware/{version}` (resumable with `Range`), checks
/// that the image is `size` bytes and hashes to `sha256`, then checks `signature` and only then
/// switches partitions.
///
/// **What is signed**: `signature` is the 64-byte Ed25519 signature, made with the vendor's release
/// key, of the **32 raw bytes** of the SHA-256 digest of the whole image — the digest bytes, not
/// their hex spelling, and not the image itself.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FirmwareOffer {
    /// Version string, also the last path segment of the download URL; at most 32 bytes.
    pub version: String<32>,
    /// Image length in bytes.
    pub size: u32,
    /// SHA-256 of the image, 64 lowercase hex characters.
    pub sha256: String<64>,
    /// Ed25519 signature over the 32 digest bytes, 128 lowercase hex characters.
    pub signature: String<128>,
}

impl FirmwareOffer {
    /// The digest as bytes, or `None` when `sha256` is not 64 hex characters.
    pub fn sha256_bytes(&self) -> Option<[u8; 32]> {
        let mut out = [0; 32];
        hex::decode_to_slice(self.sha256.as_bytes(), &mut out).ok()?;
        Some(out)
    }

    /// The signature as bytes, or `None` when `signature` is not 128 hex characters.
    pub fn signature_bytes(&self) -> Option<[u8; 64]> {
        let mut out = [0; 64];
        hex::decode_to_slice(self.signature.as_bytes(), &mut out).ok()?;
        Some(out)
    }
}

/// How an offered update went.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FirmwareStatus {
    /// The image is downloaded and verified, not yet booted.
    Downloaded,
    /// The new image booted and confirmed itself.
    Installed,
    /// Download or verification failed; the old image keeps running.
    Failed,
    /// The new image did not confirm itself and the bootloader went back to the old one.
    RolledBack,
}

/// Body of `POST /api/device/v1/firmware/report`; answered 204.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FirmwareReport {
    /// The version the report is about; at most 32 bytes.
    pub version: String<32>,
    /// What happened.
    pub status: FirmwareStatus,
    /// Why, for `failed` and `rolled_back` (e.g. `sha256 mismatch`); at most 128 bytes.
    #[serde(default)]
    pub detail: Option<String<128>>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn offer(sha256: &str, signature: &str) -> FirmwareOffer {
        FirmwareOffer {
            version: String::try_from("1.0.0").unwrap_or_default(),
            size: 1,
            sha256: String::try_from(sha256).unwrap_or_default(),
            signature: String::try_from(signature).unwrap_or_default(),
        }
    }

    #[test]
    fn hex_fields_decode_to_bytes_and_bad_hex_is_none() {
        let good = offer(&"ab".repeat(32), &"0f".repeat(64));
        assert_eq!(good.sha256_bytes(), Some([0xab; 32]));
        assert_eq!(good.signature_bytes(), Some([0x0f; 64]));
        let bad = offer(&"zz".repeat(32), &"0f".repeat(63));
        assert_eq!(bad.sha256_bytes(), None);
        assert_eq!(bad.signature_bytes(), None);
    }
}
