//! Releasing firmware: the vendor's Ed25519 release key (`smartbox firmware keygen`) and
//! publication of an image with its SHA-256 and signature (`smartbox firmware publish`).
//!
//! What is signed is fixed by the protocol crate (`FirmwareOffer`): the 32 raw bytes of the
//! image's SHA-256 digest. The device holds the public key and checks the digest and the signature
//! before it switches partitions.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context;
use ed25519_dalek::{Signer, SigningKey, VerifyingKey};
use object_store::path::Path as BlobPath;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload};
use rand::RngCore;
use sha2::{Digest, Sha256};
use smartbox_store::{Db, FirmwareImageRow, StoreError};

use crate::blobs;
use crate::config::Config;
use crate::server::open_db;

/// Longest version, as the protocol bounds it.
pub const MAX_VERSION_LEN: usize = 32;

/// Why a key or a publication was refused.
#[derive(Debug, thiserror::Error)]
pub enum ReleaseError {
    #[error("version {0:?} must be 1 to 32 characters of A-Z, a-z, 0-9, '.', '-', '_' or '+'")]
    BadVersion(String),
    #[error("hardware revision {0:?} must be 1 to 16 characters of a-z, 0-9, '-', '_' or '.'")]
    BadRevision(String),
    #[error("version {0} is already published")]
    AlreadyPublished(String),
    #[error("the image is empty or larger than 4 GiB")]
    BadImage,
    #[error(
        "the signature is not the release key's signature of this image (expected 128 hex characters from `smartbox firmware sign`)"
    )]
    BadSignature,
    #[error("uploads are off: set SMARTBOX_FIRMWARE_PUBLIC_KEY to the release key's public key")]
    NoPublicKey,
    #[error("{path}: {message}")]
    Key { path: PathBuf, message: String },
    #[error("storing the image: {0}")]
    Blob(#[from] object_store::Error),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// A fresh release key.
pub fn generate_key() -> SigningKey {
    let mut seed = [0u8; 32];
    rand::rng().fill_bytes(&mut seed);
    SigningKey::from_bytes(&seed)
}

/// Writes the secret key (64 hex characters, readable by the owner only) to `path` and the public
/// key to `path` + `.pub`; refuses to overwrite either. Returns the public key in hex.
pub fn write_key_files(key: &SigningKey, path: &Path) -> Result<String, ReleaseError> {
    let public = hex::encode(key.verifying_key().to_bytes());
    let public_path = public_key_path(path);
    let fail = |path: &Path, err: std::io::Error| ReleaseError::Key {
        path: path.to_owned(),
        message: err.to_string(),
    };
    write_new(path, hex::encode(key.to_bytes()).as_bytes(), 0o600).map_err(|e| fail(path, e))?;
    write_new(&public_path, format!("{public}\n").as_bytes(), 0o644)
        .map_err(|e| fail(&public_path, e))?;
    Ok(public)
}

/// Where [`write_key_files`] puts the public key.
pub fn public_key_path(secret_path: &Path) -> PathBuf {
    let mut name = secret_path.as_os_str().to_owned();
    name.push(".pub");
    PathBuf::from(name)
}

/// Reads a secret key written by [`write_key_files`].
pub fn read_signing_key(path: &Path) -> Result<SigningKey, ReleaseError> {
    let fail = |message: String| ReleaseError::Key {
        path: path.to_owned(),
        message,
    };
    let text = std::fs::read_to_string(path).map_err(|err| fail(err.to_string()))?;
    let mut seed = [0u8; 32];
    hex::decode_to_slice(text.trim(), &mut seed)
        .map_err(|_| fail("not a release key: expected 64 hex characters".to_owned()))?;
    Ok(SigningKey::from_bytes(&seed))
}

/// The hex signature of `image`'s digest that a device accepts (`smartbox firmware sign`).
pub fn sign_image(key: &SigningKey, image: &[u8]) -> String {
    let digest: [u8; 32] = Sha256::digest(image).into();
    hex::encode(key.sign(&digest).to_bytes())
}

/// Reads a public key as [`write_key_files`] writes it (64 hex characters).
pub fn parse_public_key(text: &str) -> Option<VerifyingKey> {
    let mut bytes = [0u8; 32];
    hex::decode_to_slice(text.trim(), &mut bytes).ok()?;
    VerifyingKey::from_bytes(&bytes).ok()
}

/// Whether `signature` (hex) is `public`'s signature of `image`'s digest; what the device checks.
pub fn verify_image(public: &VerifyingKey, image: &[u8], signature_hex: &str) -> bool {
    let mut signature = [0u8; 64];
    if hex::decode_to_slice(signature_hex, &mut signature).is_err() {
        return false;
    }
    let digest: [u8; 32] = Sha256::digest(image).into();
    public
        .verify_strict(&digest, &ed25519_dalek::Signature::from_bytes(&signature))
        .is_ok()
}

/// Stores `image` as `version` (the blob first, then the row that makes it visible) with its
/// SHA-256 and signature. The heartbeat offers the newest published version to every device
/// running another one, unless a rollout of the hardware revision is open.
pub async fn publish(
    db: &Db,
    blobs: &Arc<dyn ObjectStore>,
    image: Vec<u8>,
    version: &str,
    key: &SigningKey,
    now_ms: i64,
) -> Result<FirmwareImageRow, ReleaseError> {
    let signature = sign_image(key, &image);
    let board = Target::board(false);
    store_image(db, blobs, image, version, signature, now_ms, board).await
}

/// [`publish`] for a staged rollout: the image is offered to nobody until a rollout (or a pin)
/// offers it (`smartbox firmware publish --staged`, the upload on `/admin/firmware`).
pub async fn publish_staged(
    db: &Db,
    blobs: &Arc<dyn ObjectStore>,
    image: Vec<u8>,
    version: &str,
    key: &SigningKey,
    now_ms: i64,
) -> Result<FirmwareImageRow, ReleaseError> {
    let signature = sign_image(key, &image);
    let board = Target::board(true);
    store_image(db, blobs, image, version, signature, now_ms, board).await
}

/// The board of every mailbox whose firmware does not report its revision.
pub const DEFAULT_BOARD: &str = smartbox_protocol::DEFAULT_HARDWARE_REVISION;

/// Who an image is for: the board it is built for, and whether only rollouts offer it.
#[derive(Debug, Clone)]
pub struct Target {
    pub hardware_revision: String,
    pub staged: bool,
}

impl Target {
    /// The ESP32-C6 board, the only one whose firmware did not report its revision.
    pub fn board(staged: bool) -> Target {
        Target {
            hardware_revision: DEFAULT_BOARD.to_owned(),
            staged,
        }
    }
}

/// [`publish_staged`] for an image of `hardware_revision` signed elsewhere (the upload on
/// `/admin/firmware` and in the admin API, where the server holds only the public key):
/// refused unless `signature_hex` is what a device accepts.
#[allow(clippy::too_many_arguments)]
pub async fn publish_signed_staged(
    db: &Db,
    blobs: &Arc<dyn ObjectStore>,
    image: Vec<u8>,
    version: &str,
    hardware_revision: &str,
    signature_hex: &str,
    public: &VerifyingKey,
    now_ms: i64,
) -> Result<FirmwareImageRow, ReleaseError> {
    let signature_hex = signature_hex.trim().to_ascii_lowercase();
    if !verify_image(public, &image, &signature_hex) {
        return Err(ReleaseError::BadSignature);
    }
    let target = Target {
        hardware_revision: hardware_revision.to_owned(),
        staged: true,
    };
    store_image(db, blobs, image, version, signature_hex, now_ms, target).await
}

/// The one store path of every publication: checks, the blob, then the row.
async fn store_image(
    db: &Db,
    blobs: &Arc<dyn ObjectStore>,
    image: Vec<u8>,
    version: &str,
    signature_hex: String,
    now_ms: i64,
    target: Target,
) -> Result<FirmwareImageRow, ReleaseError> {
    if !valid_version(version) {
        return Err(ReleaseError::BadVersion(version.to_owned()));
    }
    if !smartbox_protocol::valid_hardware_revision(&target.hardware_revision) {
        return Err(ReleaseError::BadRevision(target.hardware_revision));
    }
    if image.is_empty() || u32::try_from(image.len()).is_err() {
        return Err(ReleaseError::BadImage);
    }
    if db.firmware_by_version(version).await?.is_some() {
        return Err(ReleaseError::AlreadyPublished(version.to_owned()));
    }
    let digest: [u8; 32] = Sha256::digest(&image).into();
    let row = FirmwareImageRow {
        version: version.to_owned(),
        size_bytes: i64::try_from(image.len()).unwrap_or(i64::MAX),
        sha256: hex::encode(digest),
        signature: signature_hex,
        blob_key: format!("firmware/{version}.bin"),
        created_at: now_ms,
        staged: target.staged,
        hardware_revision: target.hardware_revision,
    };
    blobs
        .put(
            &BlobPath::from(row.blob_key.as_str()),
            PutPayload::from(image),
        )
        .await?;
    db.insert_firmware_image(&row)
        .await
        .map_err(|err| match err {
            StoreError::Conflict(_) => ReleaseError::AlreadyPublished(version.to_owned()),
            other => other.into(),
        })?;
    Ok(row)
}

/// `smartbox firmware keygen`: a fresh key in `path` and `path.pub`; returns the public key (hex).
pub fn keygen(path: &Path) -> Result<String, ReleaseError> {
    write_key_files(&generate_key(), path)
}

/// `smartbox firmware publish`: reads the image and the key, opens the configured database and
/// blob store, and publishes for `target` (staged: for a rollout, see [`publish_staged`]).
pub async fn publish_file(
    config: &Config,
    image_path: &Path,
    version: &str,
    key_path: &Path,
    target: Target,
    now_ms: i64,
) -> anyhow::Result<FirmwareImageRow> {
    let key = read_signing_key(key_path)?;
    let image = std::fs::read(image_path)
        .with_context(|| format!("cannot read {}", image_path.display()))?;
    let db = open_db(&config.database_url).await?;
    let blobs = blobs::open(&config.blob_url)?;
    let signature = sign_image(&key, &image);
    let published = store_image(&db, &blobs, image, version, signature, now_ms, target).await;
    db.close().await;
    Ok(published?)
}

fn valid_version(version: &str) -> bool {
    (1..=MAX_VERSION_LEN).contains(&version.len())
        && version
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_' | b'+'))
}

#[cfg(unix)]
fn write_new(path: &Path, bytes: &[u8], mode: u32) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(path)?;
    file.write_all(bytes)
}

#[cfg(not(unix))]
fn write_new(path: &Path, bytes: &[u8], _mode: u32) -> std::io::Result<()> {
    use std::io::Write;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)?;
    file.write_all(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_written_key_reads_back_and_its_signatures_verify() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("release.key");
        let key = generate_key();
        let public = write_key_files(&key, &path).expect("written");
        assert!(write_key_files(&key, &path).is_err(), "never overwritten");
        let read = read_signing_key(&path).expect("read back");
        assert_eq!(read.to_bytes(), key.to_bytes());
        let public_text = std::fs::read_to_string(public_key_path(&path)).expect("public key");
        assert_eq!(public_text.trim(), public);

        let image = b"firmware image bytes";
        let digest: [u8; 32] = Sha256::digest(image).into();
        let signature = hex::encode(key.sign(&digest).to_bytes());
        assert!(verify_image(&key.verifying_key(), image, &signature));
        assert!(!verify_image(
            &key.verifying_key(),
            b"other bytes",
            &signature
        ));
        assert!(!verify_image(
            &generate_key().verifying_key(),
            image,
            &signature
        ));
    }

    #[test]
    fn versions_are_path_safe_and_bounded() {
        assert!(valid_version("1.4.0"));
        assert!(valid_version("2.0.0-rc.1+c6"));
        assert!(!valid_version(""));
        assert!(!valid_version("../etc"));
        assert!(!valid_version("1 2"));
        assert!(!valid_version(&"9".repeat(33)));
    }
}
