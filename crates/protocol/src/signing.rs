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
//!
//! Version 2 ([`sign_v2`], sent as `v2=` and the hex) also covers the `Content-Type` as sent
//! (empty without one):
//!
//! ```text
//! X-Device-Signature = "v2=" + lowercase hex HMAC-SHA256(secret,
//!     "v2\n" + METHOD + "\n" + PATH + "\n" + TIME + "\n" + CONTENT_TYPE + "\n" + hex SHA-256(body))
//! ```
//!
//! A byte lost on the modem's UART can mangle the content type (`application/jso`); under v1 the
//! server then refused the intact, correctly signed request with a 415 that looked final, and the
//! device dropped the event. Under v2 such a request fails its signature (401) and is sent again.
//! The server takes both versions ([`verify_request`]), so devices in the field keep working.

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
    let tag = mac(secret, Version::V1, method, path, time, body_sha256)
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
    mac(secret, Version::V1, method, path, time, body_sha256)
        .verify_slice(&tag)
        .is_ok()
}

/// Prefix of a version-2 `X-Device-Signature`.
pub const SIGNATURE_V2_PREFIX: &str = "v2=";

/// The version-2 signature, `v2=` and 64 lowercase hex characters (see the module
/// documentation); `content_type` is the header's value as sent, `""` when there is none.
pub fn sign_v2(
    secret: &[u8; 32],
    method: &str,
    path: &str,
    time: i64,
    content_type: &str,
    body_sha256: &[u8; 32],
) -> [u8; 67] {
    let tag = mac(
        secret,
        Version::V2 { content_type },
        method,
        path,
        time,
        body_sha256,
    )
    .finalize()
    .into_bytes();
    let mut out = [0; 67];
    out[..3].copy_from_slice(SIGNATURE_V2_PREFIX.as_bytes());
    // 32 bytes always encode into 64 characters.
    let _ = hex::encode_to_slice(tag, &mut out[3..]);
    out
}

/// Whether `signature` (as received) signs this request, in either version: `v2=` and hex is
/// checked against the content type too (`None` when the request has no `Content-Type`), bare
/// hex is a version-1 signature.
pub fn verify_request(
    secret: &[u8; 32],
    method: &str,
    path: &str,
    time: i64,
    content_type: Option<&str>,
    body_sha256: &[u8; 32],
    signature: &[u8],
) -> bool {
    let Some(hex_part) = signature.strip_prefix(SIGNATURE_V2_PREFIX.as_bytes()) else {
        return verify(secret, method, path, time, body_sha256, signature);
    };
    let mut tag = [0; 32];
    if hex::decode_to_slice(hex_part, &mut tag).is_err() {
        return false;
    }
    let content_type = content_type.unwrap_or("");
    mac(
        secret,
        Version::V2 { content_type },
        method,
        path,
        time,
        body_sha256,
    )
    .verify_slice(&tag)
    .is_ok()
}

/// What a signature version covers besides the method, the path, the time and the body.
#[derive(Clone, Copy)]
enum Version<'a> {
    V1,
    V2 { content_type: &'a str },
}

/// The HMAC over the signed string of `version`: each field followed by `\n`, then the body's
/// digest in hex (see the module documentation).
fn mac(
    secret: &[u8; 32],
    version: Version<'_>,
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
    let (tag, content_type) = match version {
        Version::V1 => (None, None),
        Version::V2 { content_type } => (Some(b"v2".as_slice()), Some(content_type.as_bytes())),
    };
    let fields = [
        method.as_bytes(),
        path.as_bytes(),
        decimal(time, &mut time_buf),
    ];
    for field in tag.into_iter().chain(fields).chain(content_type) {
        mac.update(field);
        mac.update(b"\n");
    }
    mac.update(&body_hex);
    mac
}

/// `n` in decimal ASCII, written at the end of `buf` (20 bytes hold any i64 with its sign).
/// HMAC-SHA256 of `"{timestamp}.{payload}"` under `secret`: the message Stripe's webhooks sign,
/// and the webhooks this service sends its customers too (`t=<timestamp>,v1=<hex>`), so the
/// billing crate's verifier and the notify crate's signer share this one definition.
pub fn timestamped_mac(secret: &[u8], timestamp: i64, payload: &[u8]) -> [u8; 32] {
    let mut time_buf = [0; 20];
    let mut mac = HmacSha256::new_from_slice(secret).expect("HMAC accepts keys of any length");
    mac.update(decimal(timestamp, &mut time_buf));
    mac.update(b".");
    mac.update(payload);
    mac.finalize().into_bytes().into()
}

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

    // python3: hmac.new(bytes(range(32)), b"v2\nPOST\n/api/device/v1/heartbeat\n1767225600\n"
    //   b"application/json\n" + sha256(BODY).hexdigest().encode(), hashlib.sha256).hexdigest()
    const HEARTBEAT_SIG_V2: &str =
        "v2=d8ef990d7f88521f59535f1b1f8829a82b3cf157715358fd6732051bf7b297c2";
    /// GET /api/device/v1/firmware/1.2.0 at 1767225600, no content type, empty body.
    const FIRMWARE_SIG_V2: &str =
        "v2=24733d3b54047a79c3eb7494df20bc5b6d279f1d788bc862221cd94251736420";

    #[test]
    fn v2_signatures_match_python_hmac_vectors() {
        let t = 1_767_225_600;
        let heartbeat = sign_v2(
            &secret(),
            "POST",
            "/api/device/v1/heartbeat",
            t,
            "application/json",
            &body_sha256(BODY),
        );
        assert_eq!(core::str::from_utf8(&heartbeat), Ok(HEARTBEAT_SIG_V2));
        let get = sign_v2(
            &secret(),
            "GET",
            "/api/device/v1/firmware/1.2.0",
            t,
            "",
            &body_sha256(b""),
        );
        assert_eq!(core::str::from_utf8(&get), Ok(FIRMWARE_SIG_V2));
    }

    #[test]
    fn both_versions_verify_and_v2_refuses_a_mangled_content_type() {
        let digest = body_sha256(BODY);
        let path = "/api/device/v1/heartbeat";
        let t = 1_767_225_600;
        let json = Some("application/json");
        let check = |content_type, signature: &str| {
            verify_request(
                &secret(),
                "POST",
                path,
                t,
                content_type,
                &digest,
                signature.as_bytes(),
            )
        };
        assert!(check(json, HEARTBEAT_SIG), "v1 ignores the content type");
        assert!(check(Some("application/jso"), HEARTBEAT_SIG));
        assert!(check(json, HEARTBEAT_SIG_V2));
        assert!(!check(Some("application/jso"), HEARTBEAT_SIG_V2));
        assert!(!check(None, HEARTBEAT_SIG_V2));
        assert!(!check(json, &HEARTBEAT_SIG_V2[1..]), "a mangled prefix");
        assert!(!check(json, &HEARTBEAT_SIG_V2[3..]), "v2 hex read as v1");
        assert!(verify_request(
            &secret(),
            "GET",
            "/api/device/v1/firmware/1.2.0",
            t,
            None,
            &body_sha256(b""),
            FIRMWARE_SIG_V2.as_bytes()
        ));
    }

    #[test]
    fn a_timestamped_mac_matches_python_hmac() {
        // python3: hmac.new(b"whsec_test", b'1700000000.{"id":"evt_1"}', hashlib.sha256)
        let mac = timestamped_mac(b"whsec_test", 1_700_000_000, br#"{"id":"evt_1"}"#);
        let mut hex_mac = [0; 64];
        hex::encode_to_slice(mac, &mut hex_mac).unwrap();
        assert_eq!(
            &hex_mac[..],
            b"c89214b5b5da833daed6f0b8c5bb6bd58cea9022bd80ccc78230f3942d632925"
        );
    }

    #[test]
    fn decimal_spells_extremes() {
        let mut buf = [0; 20];
        assert_eq!(decimal(0, &mut buf), b"0");
        assert_eq!(decimal(i64::MIN, &mut buf), b"-9223372036854775808");
        assert_eq!(decimal(i64::MAX, &mut buf), b"9223372036854775807");
    }
}
