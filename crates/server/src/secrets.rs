//! The master key and what it protects: device secrets are sealed with AES-256-GCM (the serial is
//! bound in as associated data, so a ciphertext moved to another device row does not open), each
//! customer's photo data key is wrapped the same way under its own sub-key, and claim codes are
//! stored only as keyed hashes. Separate sub-keys are derived per purpose.

use std::path::Path;

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use hmac::{Hmac, Mac};
use rand::RngCore;
use sha2::Sha256;

/// The 32-byte master key. `Debug` does not print it.
#[derive(Clone)]
pub struct MasterKey([u8; 32]);

impl std::fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MasterKey(***)")
    }
}

/// A sealed value did not open: wrong key, wrong device, or tampered bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the sealed value does not open with this master key")]
pub struct OpenError;

const NONCE_LEN: usize = 12;

impl MasterKey {
    /// A key from 32 bytes.
    pub fn from_bytes(bytes: [u8; 32]) -> MasterKey {
        MasterKey(bytes)
    }

    /// Parses the base64 form used by `SMARTBOX_MASTER_KEY` and the key file.
    pub fn from_base64(text: &str) -> Result<MasterKey, String> {
        let bytes = BASE64
            .decode(text.trim())
            .map_err(|err| format!("not base64: {err}"))?;
        let bytes: [u8; 32] = bytes
            .try_into()
            .map_err(|bytes: Vec<u8>| format!("must be 32 bytes, is {}", bytes.len()))?;
        Ok(MasterKey(bytes))
    }

    /// The base64 form.
    pub fn to_base64(&self) -> String {
        BASE64.encode(self.0)
    }

    /// Reads the key file, or creates it with a fresh random key (readable by the owner only).
    pub fn load_or_create(path: &Path) -> std::io::Result<MasterKey> {
        match std::fs::read_to_string(path) {
            Ok(text) => MasterKey::from_base64(&text).map_err(|message| {
                std::io::Error::new(
                    std::io::ErrorKind::InvalidData,
                    format!("{}: {message}", path.display()),
                )
            }),
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => {
                let mut bytes = [0u8; 32];
                rand::rng().fill_bytes(&mut bytes);
                let key = MasterKey(bytes);
                if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                    std::fs::create_dir_all(dir)?;
                }
                write_private(path, key.to_base64().as_bytes())?;
                Ok(key)
            }
            Err(err) => Err(err),
        }
    }

    fn subkey(&self, purpose: &[u8]) -> [u8; 32] {
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&self.0).expect("any key length");
        mac.update(purpose);
        mac.finalize().into_bytes().into()
    }

    /// AES-256-GCM under the sub-key of `purpose`, `aad` bound in: nonce || ciphertext || tag.
    fn seal(&self, purpose: &[u8], aad: &[u8], msg: &[u8]) -> Vec<u8> {
        let cipher = Aes256Gcm::new(&self.subkey(purpose).into());
        let mut nonce = [0u8; NONCE_LEN];
        rand::rng().fill_bytes(&mut nonce);
        let sealed = cipher
            .encrypt(&Nonce::from(nonce), Payload { msg, aad })
            .expect("AES-GCM encryption of a short payload cannot fail");
        let mut out = nonce.to_vec();
        out.extend_from_slice(&sealed);
        out
    }

    /// Opens what [`MasterKey::seal`] sealed for `purpose` and `aad`.
    fn open(&self, purpose: &[u8], aad: &[u8], sealed: &[u8]) -> Result<Vec<u8>, OpenError> {
        let (nonce, msg) = sealed.split_at_checked(NONCE_LEN).ok_or(OpenError)?;
        let nonce: [u8; NONCE_LEN] = nonce.try_into().map_err(|_| OpenError)?;
        Aes256Gcm::new(&self.subkey(purpose).into())
            .decrypt(&Nonce::from(nonce), Payload { msg, aad })
            .map_err(|_| OpenError)
    }

    /// Seals a device secret for storage; `serial` is bound to the ciphertext.
    pub fn seal_device_secret(&self, serial: &str, secret: &[u8; 32]) -> Vec<u8> {
        self.seal(b"device-secret", serial.as_bytes(), secret)
    }

    /// Opens a sealed device secret.
    pub fn open_device_secret(&self, serial: &str, sealed: &[u8]) -> Result<[u8; 32], OpenError> {
        let plain = self.open(b"device-secret", serial.as_bytes(), sealed)?;
        plain.try_into().map_err(|_| OpenError)
    }

    /// Wraps a photo data key for storage; the key's id is bound to the ciphertext.
    pub fn wrap_data_key(&self, key_id: &str, data_key: &[u8; 32]) -> Vec<u8> {
        self.seal(b"photo-data-key", key_id.as_bytes(), data_key)
    }

    /// Unwraps a photo data key.
    pub fn unwrap_data_key(&self, key_id: &str, wrapped: &[u8]) -> Result<[u8; 32], OpenError> {
        let plain = self.open(b"photo-data-key", key_id.as_bytes(), wrapped)?;
        plain.try_into().map_err(|_| OpenError)
    }

    /// Seals a device's WiFi credentials for storage (`plain` as
    /// [`crate::device_wifi::plaintext`] lays them out); `device_id` is bound to the ciphertext.
    pub fn seal_wifi_credentials(&self, device_id: &str, plain: &[u8]) -> Vec<u8> {
        self.seal(b"wifi-credentials", device_id.as_bytes(), plain)
    }

    /// Opens WiFi credentials sealed by [`MasterKey::seal_wifi_credentials`].
    pub fn open_wifi_credentials(
        &self,
        device_id: &str,
        sealed: &[u8],
    ) -> Result<Vec<u8>, OpenError> {
        self.open(b"wifi-credentials", device_id.as_bytes(), sealed)
    }

    /// The stored form of a claim code: a keyed hash, so a database leak does not reveal codes.
    pub fn claim_code_hash(&self, serial: &str, claim_code: &str) -> String {
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&self.subkey(b"claim-code"))
            .expect("any key length");
        mac.update(serial.as_bytes());
        mac.update(b"\n");
        mac.update(claim_code.as_bytes());
        hex::encode(mac.finalize().into_bytes())
    }
}

#[cfg(unix)]
fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)?;
    file.write_all(bytes)
}

#[cfg(not(unix))]
fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    std::fs::write(path, bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sealed_secret_opens_only_for_its_serial_and_key() {
        let key = MasterKey::from_bytes([7; 32]);
        let sealed = key.seal_device_secret("SB-0001", &[9; 32]);
        assert_eq!(key.open_device_secret("SB-0001", &sealed), Ok([9; 32]));
        assert_eq!(key.open_device_secret("SB-0002", &sealed), Err(OpenError));
        let other = MasterKey::from_bytes([8; 32]);
        assert_eq!(other.open_device_secret("SB-0001", &sealed), Err(OpenError));
        let mut tampered = sealed.clone();
        tampered[20] ^= 1;
        assert_eq!(key.open_device_secret("SB-0001", &tampered), Err(OpenError));
        assert!(
            !sealed.windows(32).any(|w| w == [9; 32]),
            "no plaintext in the sealed form"
        );
    }

    #[test]
    fn a_wrapped_data_key_opens_only_under_its_id_and_purpose() {
        let key = MasterKey::from_bytes([7; 32]);
        let wrapped = key.wrap_data_key("k1", &[5; 32]);
        assert_eq!(key.unwrap_data_key("k1", &wrapped), Ok([5; 32]));
        assert_eq!(key.unwrap_data_key("k2", &wrapped), Err(OpenError));
        assert_eq!(
            key.open_device_secret("k1", &wrapped),
            Err(OpenError),
            "a data key is not a device secret"
        );
    }

    #[test]
    fn the_key_file_is_created_once_and_read_back() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("nested/master.key");
        let first = MasterKey::load_or_create(&path).expect("created");
        let second = MasterKey::load_or_create(&path).expect("read back");
        assert_eq!(first.to_base64(), second.to_base64());
    }

    #[test]
    fn a_wrong_length_key_is_refused_with_its_length() {
        let err = MasterKey::from_base64(&BASE64.encode([1u8; 16])).unwrap_err();
        assert!(err.contains("16"), "{err}");
    }

    #[test]
    fn claim_code_hashes_depend_on_serial_code_and_key() {
        let key = MasterKey::from_bytes([1; 32]);
        let h = key.claim_code_hash("SB-1", "ABCD1234");
        assert_eq!(h.len(), 64);
        assert_ne!(h, key.claim_code_hash("SB-2", "ABCD1234"));
        assert_ne!(h, key.claim_code_hash("SB-1", "ABCD1235"));
        assert_ne!(
            h,
            MasterKey::from_bytes([2; 32]).claim_code_hash("SB-1", "ABCD1234")
        );
    }
}
