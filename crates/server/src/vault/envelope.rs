//! The on-disk form of an encrypted photo or thumbnail: a small versioned header naming the data
//! key, then the AES-256-GCM ciphertext and its tag.
//!
//! ```text
//! "SBXE" | version (1) | key id length (1) | key id (UTF-8) | nonce (12) | ciphertext | tag (16)
//! ```
//!
//! The header and the blob's path are the associated data, so a blob copied to another path, or
//! a header edited to name another key, does not open. A blob that does not start with the magic
//! is a photo stored before encryption (a JPEG starts with `FF D8`), served as it is until the
//! `seal_stored_photos` job has sealed it.

use rand::RngCore;
use ring::aead::{AES_256_GCM, Aad, LessSafeKey, Nonce, UnboundKey};

/// The first bytes of every sealed blob.
pub const MAGIC: &[u8; 4] = b"SBXE";
/// The header's layout version.
pub const VERSION: u8 = 1;
const NONCE_LEN: usize = 12;
const TAG_LEN: usize = 16;
/// The longest key id a header can name.
pub const MAX_KEY_ID_LEN: usize = 64;

/// A data key, ready to seal and open: AES-256-GCM from ring, whose assembly uses the CPU's AES
/// and carry-less multiply instructions (AES-NI/VAES, PCLMULQDQ) when it has them, several
/// times faster than the portable implementation on the photo path (docs/performance.md). The
/// output is standard AES-GCM: blobs sealed by the earlier `aes-gcm` code open unchanged.
pub struct Cipher(LessSafeKey);

impl Cipher {
    /// The cipher of a 256-bit data key.
    pub fn new(key: &[u8; 32]) -> Cipher {
        Cipher(LessSafeKey::new(
            UnboundKey::new(&AES_256_GCM, key).expect("AES-256 takes any 32-byte key"),
        ))
    }
}

impl std::fmt::Debug for Cipher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Cipher(AES-256-GCM)")
    }
}

/// Why a blob did not open.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EnvelopeError {
    #[error("the sealed blob's header is cut short or malformed")]
    Malformed,
    #[error("the sealed blob has layout version {0}, which this server does not know")]
    UnknownVersion(u8),
    #[error("the sealed blob does not open: wrong key, wrong path or tampered bytes")]
    Tampered,
}

/// A sealed blob's header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header<'a> {
    /// The data key that sealed it.
    pub key_id: &'a str,
    len: usize,
}

/// True when `blob` starts like a sealed blob (enough of it to tell: [`MAGIC`]'s length).
pub fn is_sealed(blob: &[u8]) -> bool {
    blob.starts_with(MAGIC)
}

/// The header of a sealed blob, `None` for a blob stored in the clear.
pub fn header(blob: &[u8]) -> Result<Option<Header<'_>>, EnvelopeError> {
    if !is_sealed(blob) {
        return Ok(None);
    }
    let version = *blob.get(4).ok_or(EnvelopeError::Malformed)?;
    if version != VERSION {
        return Err(EnvelopeError::UnknownVersion(version));
    }
    let id_len = usize::from(*blob.get(5).ok_or(EnvelopeError::Malformed)?);
    let id_end = 6 + id_len;
    let len = id_end + NONCE_LEN;
    if id_len == 0 || id_len > MAX_KEY_ID_LEN || blob.len() < len + TAG_LEN {
        return Err(EnvelopeError::Malformed);
    }
    let key_id = std::str::from_utf8(&blob[6..id_end]).map_err(|_| EnvelopeError::Malformed)?;
    Ok(Some(Header { key_id, len }))
}

/// Seals `plain`, stored at `path`, under the data key `key_id`.
pub fn seal(cipher: &Cipher, key_id: &str, path: &str, plain: &[u8]) -> Vec<u8> {
    assert!(
        !key_id.is_empty() && key_id.len() <= MAX_KEY_ID_LEN,
        "key ids are 1 to {MAX_KEY_ID_LEN} bytes"
    );
    let mut nonce = [0u8; NONCE_LEN];
    rand::rng().fill_bytes(&mut nonce);
    let mut out = Vec::with_capacity(6 + key_id.len() + NONCE_LEN + plain.len() + TAG_LEN);
    out.extend_from_slice(MAGIC);
    out.push(VERSION);
    out.push(u8::try_from(key_id.len()).unwrap_or(u8::MAX));
    out.extend_from_slice(key_id.as_bytes());
    out.extend_from_slice(&nonce);
    let header_len = out.len();
    out.extend_from_slice(plain);
    let aad = associated_data(&out[..header_len], path);
    let tag = cipher
        .0
        .seal_in_place_separate_tag(
            Nonce::assume_unique_for_key(nonce),
            Aad::from(&aad),
            &mut out[header_len..],
        )
        .expect("AES-GCM encrypts any photo size we accept");
    out.extend_from_slice(tag.as_ref());
    out
}

/// Opens a sealed blob whose [`header`] is `header`, stored at `path`.
pub fn open(
    cipher: &Cipher,
    header: &Header<'_>,
    path: &str,
    blob: &[u8],
) -> Result<Vec<u8>, EnvelopeError> {
    let nonce: [u8; NONCE_LEN] = blob[header.len - NONCE_LEN..header.len]
        .try_into()
        .map_err(|_| EnvelopeError::Malformed)?;
    let aad = associated_data(&blob[..header.len], path);
    // Ciphertext and tag, opened in place: the plain bytes are its start.
    let mut plain = blob[header.len..].to_vec();
    let len = cipher
        .0
        .open_in_place(
            Nonce::assume_unique_for_key(nonce),
            Aad::from(&aad),
            &mut plain,
        )
        .map_err(|_| EnvelopeError::Tampered)?
        .len();
    plain.truncate(len);
    Ok(plain)
}

fn associated_data(header: &[u8], path: &str) -> Vec<u8> {
    let mut aad = Vec::with_capacity(header.len() + path.len());
    aad.extend_from_slice(header);
    aad.extend_from_slice(path.as_bytes());
    aad
}

#[cfg(test)]
mod tests {
    use aes_gcm::aead::AeadInPlace;
    use aes_gcm::{Aes256Gcm, KeyInit};

    use super::*;

    const JPEG: &[u8] = b"\xFF\xD8\xFF\xE0 a photo of some letters \xFF\xD9";

    fn cipher(byte: u8) -> Cipher {
        Cipher::new(&[byte; 32])
    }

    /// What the first sealing code (RustCrypto's `aes-gcm`) wrote.
    fn sealed_by_aes_gcm(key: u8, key_id: &str, path: &str, plain: &[u8]) -> Vec<u8> {
        let nonce = [7u8; NONCE_LEN];
        let mut out = MAGIC.to_vec();
        out.push(VERSION);
        out.push(key_id.len() as u8);
        out.extend_from_slice(key_id.as_bytes());
        out.extend_from_slice(&nonce);
        let header_len = out.len();
        out.extend_from_slice(plain);
        let aad = associated_data(&out[..header_len], path);
        let tag = Aes256Gcm::new(&[key; 32].into())
            .encrypt_in_place_detached(&nonce.into(), &aad, &mut out[header_len..])
            .unwrap();
        out.extend_from_slice(&tag);
        out
    }

    #[test]
    fn blobs_sealed_before_the_switch_to_ring_open_and_new_ones_open_with_aes_gcm() {
        let old = sealed_by_aes_gcm(3, "key-3", "photos/d/e-2.jpg", JPEG);
        let head = header(&old).unwrap().unwrap();
        assert_eq!(
            open(&cipher(3), &head, "photos/d/e-2.jpg", &old).unwrap(),
            JPEG
        );

        let new = seal(&cipher(3), "key-3", "photos/d/e-2.jpg", JPEG);
        let head = header(&new).unwrap().unwrap();
        let nonce: [u8; NONCE_LEN] = new[head.len - NONCE_LEN..head.len].try_into().unwrap();
        let (body, tag) = new[head.len..].split_at(new.len() - head.len - TAG_LEN);
        let mut plain = body.to_vec();
        Aes256Gcm::new(&[3; 32].into())
            .decrypt_in_place_detached(
                &nonce.into(),
                &associated_data(&new[..head.len], "photos/d/e-2.jpg"),
                &mut plain,
                tag.into(),
            )
            .unwrap();
        assert_eq!(plain, JPEG);
    }

    #[test]
    fn a_sealed_photo_opens_to_the_same_bytes_and_hides_them() {
        let sealed = seal(&cipher(1), "key-1", "photos/d/e-0.jpg", JPEG);
        assert!(is_sealed(&sealed));
        assert!(
            !sealed.windows(2).any(|w| w == [0xFF, 0xD8]),
            "no JPEG marker"
        );
        let head = header(&sealed).unwrap().unwrap();
        assert_eq!(head.key_id, "key-1");
        assert_eq!(
            open(&cipher(1), &head, "photos/d/e-0.jpg", &sealed).unwrap(),
            JPEG
        );
    }

    #[test]
    fn a_sealed_photo_does_not_open_elsewhere_or_altered() {
        let sealed = seal(&cipher(1), "key-1", "photos/d/e-0.jpg", JPEG);
        let head = header(&sealed).unwrap().unwrap();
        assert_eq!(
            open(&cipher(2), &head, "photos/d/e-0.jpg", &sealed),
            Err(EnvelopeError::Tampered),
            "another key"
        );
        assert_eq!(
            open(&cipher(1), &head, "photos/d/e-1.jpg", &sealed),
            Err(EnvelopeError::Tampered),
            "another path"
        );
        for at in [6, 20, sealed.len() / 2, sealed.len() - 1] {
            let mut altered = sealed.clone();
            altered[at] ^= 1;
            let opened = header(&altered).and_then(|h| match h {
                Some(h) => open(&cipher(1), &h, "photos/d/e-0.jpg", &altered),
                None => Err(EnvelopeError::Malformed),
            });
            assert!(opened.is_err(), "byte {at} altered still opened");
        }
    }

    #[test]
    fn a_clear_photo_has_no_header_and_a_cut_one_is_malformed() {
        assert_eq!(header(JPEG), Ok(None));
        let sealed = seal(&cipher(1), "key-1", "p", JPEG);
        for len in [4, 5, 6, 10, 6 + 5 + 12 + 15] {
            assert_eq!(
                header(&sealed[..len]),
                Err(EnvelopeError::Malformed),
                "{len}"
            );
        }
        let mut future = sealed.clone();
        future[4] = 9;
        assert_eq!(header(&future), Err(EnvelopeError::UnknownVersion(9)));
    }
}
