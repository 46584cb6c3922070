//! VAPID (RFC 8292): the server's P-256 key pair, made on first run, and the ES256 JWT that
//! proves to a push service which server sends.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use p256::ecdsa::signature::Signer;
use p256::ecdsa::{Signature, SigningKey};
use rand::RngCore;
use serde_json::json;
use time::OffsetDateTime;

/// A stored VAPID private key that is not a P-256 scalar in base64url.
#[derive(Debug, thiserror::Error)]
#[error("the VAPID private key is not 32 bytes of a P-256 scalar in base64url")]
pub struct VapidKeyError;

/// The server's VAPID key pair.
#[derive(Clone)]
pub struct VapidKeys {
    signing: SigningKey,
}

impl std::fmt::Debug for VapidKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VapidKeys")
            .field("public", &self.public_base64url())
            .finish_non_exhaustive()
    }
}

impl VapidKeys {
    /// A new key pair (the server stores it, encrypted, on first run).
    pub fn generate() -> VapidKeys {
        VapidKeys {
            signing: SigningKey::from(random_secret_key()),
        }
    }

    /// The key pair from its stored private half.
    pub fn from_private_base64url(private: &str) -> Result<VapidKeys, VapidKeyError> {
        let bytes = decode_base64url(private).ok_or(VapidKeyError)?;
        let signing = SigningKey::from_slice(&bytes).map_err(|_| VapidKeyError)?;
        Ok(VapidKeys { signing })
    }

    /// The private scalar, base64url without padding, for storage.
    pub fn private_base64url(&self) -> String {
        URL_SAFE_NO_PAD.encode(self.signing.to_bytes())
    }

    /// The uncompressed public point, base64url without padding: the `applicationServerKey`
    /// the portal's service worker passes to `pushManager.subscribe`, and the `k` of the
    /// `Authorization` header.
    pub fn public_base64url(&self) -> String {
        let point = self.signing.verifying_key().to_encoded_point(false);
        URL_SAFE_NO_PAD.encode(point.as_bytes())
    }

    /// `Authorization: vapid t=<JWT>, k=<public key>` for a push service at `audience` (the
    /// origin of the subscription's endpoint), valid until `expires` (at most 24 h ahead).
    pub fn authorization(&self, audience: &str, contact: &str, expires: OffsetDateTime) -> String {
        let header = URL_SAFE_NO_PAD.encode(br#"{"typ":"JWT","alg":"ES256"}"#);
        let claims = json!({
            "aud": audience,
            "exp": expires.unix_timestamp(),
            "sub": contact,
        });
        let claims = URL_SAFE_NO_PAD.encode(claims.to_string());
        let signing_input = format!("{header}.{claims}");
        let signature: Signature = self.signing.sign(signing_input.as_bytes());
        let signature = URL_SAFE_NO_PAD.encode(signature.to_bytes());
        format!(
            "vapid t={signing_input}.{signature}, k={}",
            self.public_base64url()
        )
    }
}

/// A uniformly random non-zero P-256 scalar (rejection sampling: almost always one draw).
pub(crate) fn random_secret_key() -> p256::SecretKey {
    loop {
        let mut bytes = [0u8; 32];
        rand::rng().fill_bytes(&mut bytes);
        if let Ok(key) = p256::SecretKey::from_slice(&bytes) {
            return key;
        }
    }
}

/// Browsers hand out keys as base64url without padding; tolerate padding and standard base64's
/// alphabet too.
pub(crate) fn decode_base64url(input: &str) -> Option<Vec<u8>> {
    let normalized: String = input
        .trim()
        .trim_end_matches('=')
        .chars()
        .map(|c| match c {
            '+' => '-',
            '/' => '_',
            c => c,
        })
        .collect();
    URL_SAFE_NO_PAD.decode(normalized).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use p256::ecdsa::VerifyingKey;
    use p256::ecdsa::signature::Verifier;
    use time::macros::datetime;

    #[test]
    fn a_key_pair_survives_storage_and_its_public_key_is_an_uncompressed_point() {
        let keys = VapidKeys::generate();
        let restored = VapidKeys::from_private_base64url(&keys.private_base64url()).unwrap();
        assert_eq!(restored.public_base64url(), keys.public_base64url());
        let public = decode_base64url(&keys.public_base64url()).unwrap();
        assert_eq!((public.len(), public[0]), (65, 0x04));
        assert_ne!(
            VapidKeys::generate().public_base64url(),
            keys.public_base64url()
        );
    }

    #[test]
    fn a_stored_key_that_is_not_a_scalar_is_refused() {
        assert!(VapidKeys::from_private_base64url("not base64!").is_err());
        assert!(VapidKeys::from_private_base64url(&URL_SAFE_NO_PAD.encode([0u8; 32])).is_err());
    }

    #[test]
    fn the_authorization_carries_a_jwt_the_public_key_verifies() {
        let keys = VapidKeys::generate();
        let header = keys.authorization(
            "https://push.example.test",
            "mailto:ops@smartbox.test",
            datetime!(2026-11-26 00:00 UTC),
        );
        let (jwt, k) = header
            .strip_prefix("vapid t=")
            .and_then(|rest| rest.split_once(", k="))
            .unwrap();
        assert_eq!(k, keys.public_base64url());
        let (signing_input, signature) = jwt.rsplit_once('.').unwrap();
        let verifying = VerifyingKey::from_sec1_bytes(&decode_base64url(k).unwrap()).unwrap();
        let signature = Signature::from_slice(&decode_base64url(signature).unwrap()).unwrap();
        verifying
            .verify(signing_input.as_bytes(), &signature)
            .unwrap();
        let claims = signing_input.split('.').nth(1).unwrap();
        let claims: serde_json::Value =
            serde_json::from_slice(&decode_base64url(claims).unwrap()).unwrap();
        assert_eq!(claims["aud"], "https://push.example.test");
        assert_eq!(claims["sub"], "mailto:ops@smartbox.test");
        assert_eq!(
            claims["exp"],
            datetime!(2026-11-26 00:00 UTC).unix_timestamp()
        );
    }
}
