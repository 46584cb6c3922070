//! The request signature of the device API (DESIGN §5), implemented once for both sides.
//!
//! ```text
//! X-Device-Signature = lowercase hex HMAC-SHA256(secret,
//!     METHOD + "\n" + PATH + "\n" + TIME + "\n" + lowercase hex SHA-256(body))
//! ```
//!
//! `PATH` is the request path without its query string, `TIME` the decimal `X-Device-Time`.
//! The body enters only through its digest, so a device can hash a photo while streaming it to
//! the modem ([`BodyHasher`]) and sign afterwards, without holding the body in memory.

use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

type HmacSha256 = Hmac<Sha256>;

/// SHA-256 of a body held in one slice. An empty body (GET) hashes to `e3b0c442...`.
pub fn body_sha256(body: &[u8]) -> [u8; 32] {
    Sha256::digest(body).into()
}

/// SHA-256 of a body fed in pieces, for bodies streamed from SD or the camera.
#[derive(Debug, Clone, Default)]
pub struct BodyHasher(Sha256);

impl BodyHasher {
    /// A hasher that has seen nothing yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Feeds the next piece of the body.
    pub fn update(&mut self, piece: &[u8]) {
        self.0.update(piece);
    }

    /// The digest of everything fed.
    pub fn finish(self) -> [u8; 32] {
        self.0.finalize().into()
    }
}

/// The signature as 64 lowercase hex ASCII bytes, ready to be sent as `X-Device-Signature`.
///
/// A query string in `path` (from `?` on) is ignored, as the contract requires.
pub fn sign(
    secret: &[u8; 32],
    method: &str,
    path: &str,
    time: i64,
    body_sha256: &[u8; 32],
) -> [u8; 64] {
    let tag = mac(secret, method, path, time, body_sha256)
        .finalize()
        .into_bytes();
    let mut out = [0; 64];
    // 32 bytes always encode into 64 characters.
    let _ = hex::encode_to_slice(tag, &mut out);
    out
}

/// Whether `signature` (hex, as received) is the signature of this request. The comparison of the
/// MAC is constant-time; a signature that is not 64 hex characters is simply wrong.
pub fn verify(
    secret: &[u8; 32],
    method: &str,
    path: &str,
    time: i64,
    body_sha256: &[u8; 32],
    signature: &[u8],
) -> bool {
    let mut tag = [0; 32];
    if hex::decode_to_slice(signature, &mut tag).is_err() {
        return false;
    }
    mac(secret, method, path, time, body_sha256)
        .verify_slice(&tag)
        .is_ok()
}

fn mac(
    secret: &[u8; 32],
    method: &str,
    path: &str,
    time: i64,
    body_sha256: &[u8; 32],
) -> HmacSha256 {
    let path = path.split_once('?').map_or(path, |(path, _query)| path);
    let mut body_hex = [0; 64];
    let _ = hex::encode_to_slice(body_sha256, &mut body_hex);
    let mut time_buf = [0; 20];
    let mut mac = HmacSha256::new_from_slice(secret).expect("HMAC accepts keys of any length");
    mac.update(method.as_bytes());
    mac.update(b"\n");
    mac.update(path.as_bytes());
    mac.update(b"\n");
    mac.update(decimal(time, &mut time_buf));
    mac.update(b"\n");
    mac.update(&body_hex);
    mac
}

/// `n` in decimal ASCII, written at the end of `buf` (20 bytes hold any i64 with its sign).
fn decimal(n: i64, buf: &mut [u8; 20]) -> &[u8] {
    let mut magnitude = n.unsigned_abs();
    let mut start = buf.len();
    loop {
        start -= 1;
        buf[start] = b'0' + (magnitude % 10) as u8;
        magnitude /= 10;
        if magnitude == 0 {
            break;
        }
    }
    if n < 0 {
        start -= 1;
        buf[start] = b'-';
    }
    &buf[start..]
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Secret 00 01 02 .. 1f.
    fn secret() -> [u8; 32] {
        core::array::from_fn(|i| i as u8)
    }

    // Vectors computed independently with python3:
    //   hmac.new(bytes(range(32)), msg, hashlib.sha256).hexdigest()
    const BODY: &[u8] = br#"{"battery_percent":87}"#;
    const BODY_SHA256: &str = "2107c5aa40cd823585bd3c6eaf1f700b37bfbcf24f377c97346ce16d989b43d2";
    const HEARTBEAT_SIG: &str = "33fdebf8a72ad9dc0d10dcd13023cbec1ce4c743f0a45ab8d2380af05cae082c";
    const PHOTO_PATH: &str = "/api/device/v1/events/67e55044-10b1-426f-9247-bb680e5fe0c8/photos/2";
    const EMPTY_SHA256: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
    /// PUT, PHOTO_PATH, time -5, empty body.
    const NEGATIVE_TIME_SIG: &str =
        "6db90531815b0981bb38c5c76e9421527b3ae361fcaf86714233c67a660226d1";

    fn hex_of(bytes: &[u8]) -> std::string::String {
        bytes.iter().map(|b| format!("{b:02x}")).collect()
    }

    #[test]
    fn body_digest_matches_python_hashlib() {
        assert_eq!(hex_of(&body_sha256(BODY)), BODY_SHA256);
        assert_eq!(hex_of(&body_sha256(b"")), EMPTY_SHA256);
    }

    #[test]
    fn streamed_digest_equals_one_shot_digest() {
        let mut hasher = BodyHasher::new();
        for piece in BODY.chunks(5) {
            hasher.update(piece);
        }
        assert_eq!(hasher.finish(), body_sha256(BODY));
    }

    #[test]
    fn signature_matches_python_hmac_vector() {
        let sig = sign(
            &secret(),
            "POST",
            "/api/device/v1/heartbeat",
            1_767_225_600,
            &body_sha256(BODY),
        );
        assert_eq!(core::str::from_utf8(&sig), Ok(HEARTBEAT_SIG));
    }

    #[test]
    fn negative_time_is_signed_with_its_minus_sign() {
        let sig = sign(&secret(), "PUT", PHOTO_PATH, -5, &body_sha256(b""));
        assert_eq!(core::str::from_utf8(&sig), Ok(NEGATIVE_TIME_SIG));
    }

    #[test]
    fn query_string_is_not_signed() {
        let digest = body_sha256(BODY);
        let with_query = sign(
            &secret(),
            "POST",
            "/api/device/v1/heartbeat?x=1",
            1_767_225_600,
            &digest,
        );
        assert_eq!(core::str::from_utf8(&with_query), Ok(HEARTBEAT_SIG));
    }

    #[test]
    fn verify_accepts_the_signature_and_refuses_any_change() {
        let digest = body_sha256(BODY);
        let path = "/api/device/v1/heartbeat";
        let t = 1_767_225_600;
        assert!(verify(
            &secret(),
            "POST",
            path,
            t,
            &digest,
            HEARTBEAT_SIG.as_bytes()
        ));
        assert!(!verify(
            &secret(),
            "PUT",
            path,
            t,
            &digest,
            HEARTBEAT_SIG.as_bytes()
        ));
        assert!(!verify(
            &secret(),
            "POST",
            "/api/device/v1/events",
            t,
            &digest,
            HEARTBEAT_SIG.as_bytes()
        ));
        assert!(!verify(
            &secret(),
            "POST",
            path,
            t + 1,
            &digest,
            HEARTBEAT_SIG.as_bytes()
        ));
        assert!(!verify(
            &secret(),
            "POST",
            path,
            t,
            &body_sha256(b""),
            HEARTBEAT_SIG.as_bytes()
        ));
        assert!(!verify(
            &[7; 32],
            "POST",
            path,
            t,
            &digest,
            HEARTBEAT_SIG.as_bytes()
        ));
        let mut flipped = *b"33fdebf8a72ad9dc0d10dcd13023cbec1ce4c743f0a45ab8d2380af05cae082d";
        assert!(!verify(&secret(), "POST", path, t, &digest, &flipped));
        flipped[63] = b'c';
        assert!(verify(&secret(), "POST", path, t, &digest, &flipped));
    }

    #[test]
    fn verify_refuses_malformed_signatures() {
        let digest = body_sha256(BODY);
        let path = "/api/device/v1/heartbeat";
        let t = 1_767_225_600;
        assert!(!verify(&secret(), "POST", path, t, &digest, b""));
        assert!(!verify(
            &secret(),
            "POST",
            path,
            t,
            &digest,
            &HEARTBEAT_SIG.as_bytes()[..62]
        ));
        assert!(!verify(
            &secret(),
            "POST",
            path,
            t,
            &digest,
            b"not hex at all, not hex at all, not hex at all, not hex at all!!"
        ));
    }

    #[test]
    fn decimal_spells_extremes() {
        let mut buf = [0; 20];
        assert_eq!(decimal(0, &mut buf), b"0");
        assert_eq!(decimal(i64::MIN, &mut buf), b"-9223372036854775808");
        assert_eq!(decimal(i64::MAX, &mut buf), b"9223372036854775807");
    }
}
