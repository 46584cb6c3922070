//! WiFi credentials from the cloud: the customer types the SSID and passphrase into the portal,
//! and the next heartbeat answer carries them to the mailbox sealed under a key only the server
//! and that mailbox hold, so a customer never pairs over BLE or a hotspot.
//!
//! ```text
//! key       = HMAC-SHA256(device secret, "smartbox wifi credentials v1")
//! plaintext = len(ssid) as one byte || ssid || passphrase
//! sealed    = AES-256-GCM(key, nonce, plaintext, aad = "smartbox wifi" || version as 8 bytes BE)
//! ```
//!
//! The nonce is 12 random bytes made by the server for each answer. The version is the server's
//! (the time the credentials were saved, unix ms): the device reports the version it holds in
//! every heartbeat ([`WifiReport`]), and the server sends credentials only while the device holds
//! another one. The version is bound into the seal, so an old answer cannot pass for a new one.
//! Only the sealed form is serialised; [`WifiCredentials`] has no serde and its `Debug` hides the
//! passphrase, so the passphrase never reaches a log or a JSON example.

use core::fmt;

use aes_gcm::aead::AeadInPlace;
use aes_gcm::{Aes256Gcm, KeyInit, Nonce, Tag};
use heapless::String;
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

use crate::InvalidField;

/// Longest SSID (IEEE 802.11: 32 octets).
pub const MAX_SSID: usize = 32;
/// Shortest WPA2/WPA3-Personal passphrase.
pub const MIN_PASSPHRASE: usize = 8;
/// Longest WPA2/WPA3-Personal passphrase.
pub const MAX_PASSPHRASE: usize = 63;
const PLAIN_MAX: usize = 1 + MAX_SSID + MAX_PASSPHRASE;
const TAG_LEN: usize = 16;
/// Hex characters of the longest sealed credentials.
const SEALED_HEX: usize = (PLAIN_MAX + TAG_LEN) * 2;
const KEY_LABEL: &[u8] = b"smartbox wifi credentials v1";
const AAD_LABEL: &[u8] = b"smartbox wifi";

/// An access point's name and WPA2/WPA3-Personal passphrase, checked.
#[derive(Clone, PartialEq, Eq)]
pub struct WifiCredentials {
    ssid: String<MAX_SSID>,
    passphrase: String<MAX_PASSPHRASE>,
}

impl WifiCredentials {
    /// Checks an SSID (1-32 bytes) and a passphrase (8-63 printable ASCII characters, what
    /// WPA2-Personal and WPA3-SAE both accept).
    pub fn new(ssid: &str, passphrase: &str) -> Result<Self, InvalidField> {
        if ssid.is_empty() {
            return Err(InvalidField::new("ssid", "empty"));
        }
        let ssid = String::try_from(ssid)
            .map_err(|_| InvalidField::new("ssid", "longer than 32 bytes"))?;
        if passphrase.len() < MIN_PASSPHRASE {
            return Err(InvalidField::new("passphrase", "shorter than 8 characters"));
        }
        if !passphrase.bytes().all(|b| (0x20..=0x7e).contains(&b)) {
            return Err(InvalidField::new(
                "passphrase",
                "not printable ASCII characters",
            ));
        }
        let passphrase = String::try_from(passphrase)
            .map_err(|_| InvalidField::new("passphrase", "longer than 63 characters"))?;
        Ok(Self { ssid, passphrase })
    }

    /// The access point's name.
    pub fn ssid(&self) -> &str {
        &self.ssid
    }

    /// The passphrase (never log it).
    pub fn passphrase(&self) -> &str {
        &self.passphrase
    }
}

impl fmt::Debug for WifiCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WifiCredentials")
            .field("ssid", &self.ssid)
            .field("passphrase", &"<hidden>")
            .finish()
    }
}

/// Credentials as the heartbeat answer carries them (`wifi`, absent when there is nothing new).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SealedWifi {
    /// The server's version of these credentials; the device reports it back once stored.
    pub version: u64,
    /// The 12-byte nonce, 24 lowercase hex characters.
    pub nonce: String<24>,
    /// Ciphertext and 16-byte tag, lowercase hex (at most 224 characters).
    pub sealed: String<SEALED_HEX>,
}

/// Why sealed credentials did not open.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OpenError {
    /// Not hex, or not the length of any credentials.
    Malformed,
    /// The tag does not verify: another device's key, another version, or altered bytes.
    Forged,
    /// The plaintext is not credentials [`WifiCredentials::new`] accepts.
    Invalid(InvalidField),
}

impl fmt::Display for OpenError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Malformed => write!(f, "sealed wifi credentials are malformed"),
            Self::Forged => write!(f, "sealed wifi credentials do not verify"),
            Self::Invalid(field) => write!(f, "sealed wifi credentials: {field}"),
        }
    }
}

impl core::error::Error for OpenError {}

fn cipher(secret: &[u8; 32]) -> Aes256Gcm {
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(secret).expect("HMAC takes any key length");
    mac.update(KEY_LABEL);
    let key: [u8; 32] = mac.finalize().into_bytes().into();
    Aes256Gcm::new(&key.into())
}

fn aad(version: u64) -> [u8; AAD_LABEL.len() + 8] {
    let mut aad = [0; AAD_LABEL.len() + 8];
    aad[..AAD_LABEL.len()].copy_from_slice(AAD_LABEL);
    aad[AAD_LABEL.len()..].copy_from_slice(&version.to_be_bytes());
    aad
}

/// Seals `credentials` for the device whose secret is `secret` (the server's side).
pub fn seal(
    secret: &[u8; 32],
    version: u64,
    nonce: [u8; 12],
    credentials: &WifiCredentials,
) -> SealedWifi {
    let ssid = credentials.ssid.as_bytes();
    let passphrase = credentials.passphrase.as_bytes();
    let len = 1 + ssid.len() + passphrase.len();
    let mut buffer = [0_u8; PLAIN_MAX + TAG_LEN];
    buffer[0] = ssid.len() as u8;
    buffer[1..=ssid.len()].copy_from_slice(ssid);
    buffer[1 + ssid.len()..len].copy_from_slice(passphrase);
    let tag = cipher(secret)
        .encrypt_in_place_detached(&Nonce::from(nonce), &aad(version), &mut buffer[..len])
        .expect("a payload of at most 96 bytes always encrypts");
    buffer[len..len + TAG_LEN].copy_from_slice(&tag);
    SealedWifi {
        version,
        nonce: hex_string(&nonce),
        sealed: hex_string(&buffer[..len + TAG_LEN]),
    }
}

/// Opens credentials sealed for the device whose secret is `secret` (the device's side).
pub fn open(secret: &[u8; 32], sealed: &SealedWifi) -> Result<WifiCredentials, OpenError> {
    let mut nonce = [0_u8; 12];
    hex::decode_to_slice(sealed.nonce.as_bytes(), &mut nonce).map_err(|_| OpenError::Malformed)?;
    let total = sealed.sealed.len() / 2;
    if !sealed.sealed.len().is_multiple_of(2) || total < 1 + 1 + MIN_PASSPHRASE + TAG_LEN {
        return Err(OpenError::Malformed);
    }
    let mut buffer = [0_u8; PLAIN_MAX + TAG_LEN];
    hex::decode_to_slice(sealed.sealed.as_bytes(), &mut buffer[..total])
        .map_err(|_| OpenError::Malformed)?;
    let len = total - TAG_LEN;
    let mut tag = [0_u8; TAG_LEN];
    tag.copy_from_slice(&buffer[len..total]);
    let tag = Tag::from(tag);
    cipher(secret)
        .decrypt_in_place_detached(
            &Nonce::from(nonce),
            &aad(sealed.version),
            &mut buffer[..len],
            &tag,
        )
        .map_err(|_| OpenError::Forged)?;
    let ssid_len = usize::from(buffer[0]);
    if 1 + ssid_len > len {
        return Err(OpenError::Malformed);
    }
    let ssid = utf8(&buffer[1..=ssid_len], "ssid")?;
    let passphrase = utf8(&buffer[1 + ssid_len..len], "passphrase")?;
    WifiCredentials::new(ssid, passphrase).map_err(OpenError::Invalid)
}

fn utf8<'a>(bytes: &'a [u8], field: &'static str) -> Result<&'a str, OpenError> {
    core::str::from_utf8(bytes)
        .map_err(|_| OpenError::Invalid(InvalidField::new(field, "not UTF-8")))
}

fn hex_string<const N: usize>(bytes: &[u8]) -> String<N> {
    let mut out = String::new();
    for byte in bytes {
        for nibble in [byte >> 4, byte & 0x0f] {
            // Callers size `N` for twice the bytes.
            let _ = out.push(char::from(b"0123456789abcdef"[usize::from(nibble)]));
        }
    }
    out
}

/// What the device says about WiFi in its heartbeat (`wifi`, absent in firmware without it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct WifiReport {
    /// The version of the credentials stored in the device's flash; 0 when it holds none.
    pub credentials: u64,
    /// What happened the last time the device tried them.
    pub status: WifiStatus,
}

/// The outcome of the device's last try of its stored credentials.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WifiStatus {
    /// Not tried since they were stored: cellular carried every wake since.
    #[default]
    Untried,
    /// The access point was joined.
    Joined,
    /// The access point was heard but refused to join (a wrong passphrase, most often).
    JoinFailed,
    /// The access point was heard at or below `wifi_min_rssi_dbm`, so it was not used.
    TooWeak,
    /// No access point of that name was heard.
    NotHeard,
}

impl WifiStatus {
    /// The word on the wire, for the server's records and pages.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Untried => "untried",
            Self::Joined => "joined",
            Self::JoinFailed => "join_failed",
            Self::TooWeak => "too_weak",
            Self::NotHeard => "not_heard",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: [u8; 32] = [7; 32];

    fn home() -> WifiCredentials {
        WifiCredentials::new("Home \"net\"", "correct horse battery").expect("valid")
    }

    #[test]
    fn sealed_credentials_open_with_the_same_secret_only() {
        let sealed = seal(&SECRET, 42, [1; 12], &home());
        assert_eq!(open(&SECRET, &sealed), Ok(home()));
        assert_eq!(open(&[8; 32], &sealed), Err(OpenError::Forged));
        assert!(!sealed.sealed.contains(&hex_string::<64>(b"horse")[..]));
    }

    #[test]
    fn a_sealed_answer_does_not_pass_for_another_version_or_with_a_flipped_bit() {
        let sealed = seal(&SECRET, 42, [1; 12], &home());
        let other = SealedWifi {
            version: 43,
            ..sealed.clone()
        };
        assert_eq!(open(&SECRET, &other), Err(OpenError::Forged));
        let mut flipped = sealed.clone();
        let last = if flipped.sealed.ends_with('0') {
            "1"
        } else {
            "0"
        };
        flipped.sealed.pop();
        let _ = flipped.sealed.push_str(last);
        assert_eq!(open(&SECRET, &flipped), Err(OpenError::Forged));
        let short = SealedWifi {
            sealed: String::try_from("abcd").expect("fits"),
            ..sealed
        };
        assert_eq!(open(&SECRET, &short), Err(OpenError::Malformed));
    }

    #[test]
    fn credentials_are_checked_and_the_passphrase_is_not_printed() {
        assert_eq!(
            WifiCredentials::new("", "12345678").unwrap_err().field,
            "ssid"
        );
        assert_eq!(
            WifiCredentials::new(&"s".repeat(33), "12345678")
                .unwrap_err()
                .field,
            "ssid"
        );
        assert_eq!(
            WifiCredentials::new("home", "short").unwrap_err().reason,
            "shorter than 8 characters"
        );
        assert_eq!(
            WifiCredentials::new("home", &"p".repeat(64))
                .unwrap_err()
                .reason,
            "longer than 63 characters"
        );
        assert!(WifiCredentials::new("home", "pass\u{e9}word").is_err());
        let longest = WifiCredentials::new(&"s".repeat(32), &"p".repeat(63)).expect("valid");
        assert_eq!(
            open(&SECRET, &seal(&SECRET, 1, [0; 12], &longest)),
            Ok(longest)
        );
        let printed = format!("{:?}", home());
        assert!(
            printed.contains("Home") && !printed.contains("horse"),
            "{printed}"
        );
    }
}
