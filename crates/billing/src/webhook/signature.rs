//! Stripe webhook signatures (`Stripe-Signature` header), pure and clock-free: the caller passes
//! `now`.
//!
//! The header reads `t=<unix seconds>,v1=<hex>,v1=<hex>,v0=<hex>`. The signed message is
//! `"{t}.{raw body}"` and each `v1` is the lowercase hex HMAC-SHA256 of it under the endpoint's
//! secret. Several `v1` appear while a secret is being rolled, so any one matching is enough;
//! other schemes (`v0`, test-mode extras) are ignored. Comparison is constant-time. The timestamp
//! bounds replays: a genuine signature older (or newer) than the tolerance is refused as stale.

use subtle::{Choice, ConstantTimeEq};
use thiserror::Error;

/// Stripe's default tolerance, and DESIGN §6's: 300 seconds.
pub const DEFAULT_TOLERANCE_S: i64 = 300;

/// Why a `Stripe-Signature` header was refused. The webhook endpoint answers 400 to all of them;
/// the kinds are distinct for logs and tests.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum SignatureError {
    #[error("the Stripe-Signature header is missing or empty")]
    Missing,
    #[error("the Stripe-Signature header is malformed: {0}")]
    Malformed(String),
    #[error("the Stripe-Signature header has no timestamp (t=...)")]
    NoTimestamp,
    #[error("the Stripe-Signature header has no v1 signature")]
    NoV1Signature,
    #[error("no v1 signature matches the payload")]
    Mismatch,
    #[error(
        "the signature timestamp {timestamp} is {age_s} s away from now; at most {tolerance_s} s is allowed"
    )]
    Stale {
        timestamp: i64,
        age_s: i64,
        tolerance_s: i64,
    },
}

/// Checks a `Stripe-Signature` header against the raw request body.
///
/// Accepts when any `v1` is the HMAC-SHA256 of `"{t}.{payload}"` under `secret` and
/// `|now_unix - t| <= tolerance_s`. The signature is checked before the age, so `Stale` means a
/// genuine but old (replayed) delivery, while a forged one is always `Mismatch`.
pub fn verify_stripe_signature(
    header: &str,
    payload: &[u8],
    secret: &str,
    now_unix: i64,
    tolerance_s: i64,
) -> Result<(), SignatureError> {
    let parsed = parse_header(header)?;
    let expected = mac(secret, parsed.timestamp, payload);
    let mut matched = Choice::from(0);
    for candidate in &parsed.v1 {
        // A v1 that is not 32 bytes of hex cannot match; it is skipped, not fatal, so that a
        // garbled extra signature does not hide a good one.
        let mut bytes = [0u8; 32];
        if hex::decode_to_slice(candidate, &mut bytes).is_ok() {
            matched |= bytes.ct_eq(&expected);
        }
    }
    if !bool::from(matched) {
        return Err(SignatureError::Mismatch);
    }
    let age_s = now_unix.saturating_sub(parsed.timestamp).saturating_abs();
    if age_s > tolerance_s {
        return Err(SignatureError::Stale {
            timestamp: parsed.timestamp,
            age_s,
            tolerance_s,
        });
    }
    Ok(())
}

/// The `Stripe-Signature` header value for `payload` signed at `timestamp`: `t=...,v1=...`.
/// For tests, and for the webhooks we send ourselves.
pub fn sign_stripe_payload(payload: &[u8], secret: &str, timestamp: i64) -> String {
    format!(
        "t={timestamp},v1={}",
        hex::encode(mac(secret, timestamp, payload))
    )
}

fn mac(secret: &str, timestamp: i64, payload: &[u8]) -> [u8; 32] {
    smartbox_protocol::signing::timestamped_mac(secret.as_bytes(), timestamp, payload)
}

struct ParsedHeader<'a> {
    timestamp: i64,
    v1: Vec<&'a str>,
}

fn parse_header(header: &str) -> Result<ParsedHeader<'_>, SignatureError> {
    if header.trim().is_empty() {
        return Err(SignatureError::Missing);
    }
    let mut timestamp = None;
    let mut v1 = Vec::new();
    for item in header.split(',') {
        let Some((key, value)) = item.split_once('=') else {
            return Err(SignatureError::Malformed(format!(
                "{:?} is not a key=value pair",
                item.trim()
            )));
        };
        match key.trim() {
            "t" => {
                let value = value.trim();
                let parsed = value.parse::<i64>().map_err(|_| {
                    SignatureError::Malformed(format!("timestamp {value:?} is not a whole number"))
                })?;
                if timestamp.replace(parsed).is_some() {
                    return Err(SignatureError::Malformed("more than one timestamp".into()));
                }
            }
            "v1" => v1.push(value.trim()),
            _ => {}
        }
    }
    let timestamp = timestamp.ok_or(SignatureError::NoTimestamp)?;
    if v1.is_empty() {
        return Err(SignatureError::NoV1Signature);
    }
    Ok(ParsedHeader { timestamp, v1 })
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &str = "whsec_test_secret";
    const PAYLOAD: &[u8] = br#"{"id":"evt_1","type":"payment_intent.succeeded"}"#;
    const T: i64 = 1_700_000_000;
    /// python3: hmac.new(b"whsec_test_secret", b'1700000000.{"id":"evt_1",...}', sha256).hexdigest()
    const KNOWN_V1: &str = "22d8dc182f5c588077683bd378368e29765bfe5df2560112b4f28fef120f0e31";

    fn verify(header: &str, now: i64) -> Result<(), SignatureError> {
        verify_stripe_signature(header, PAYLOAD, SECRET, now, DEFAULT_TOLERANCE_S)
    }

    #[test]
    fn signing_matches_an_independent_hmac_computation() {
        assert_eq!(
            sign_stripe_payload(PAYLOAD, SECRET, T),
            format!("t={T},v1={KNOWN_V1}")
        );
    }

    #[test]
    fn a_valid_signature_is_accepted() {
        assert_eq!(verify(&format!("t={T},v1={KNOWN_V1}"), T + 5), Ok(()));
        assert_eq!(verify(&sign_stripe_payload(PAYLOAD, SECRET, T), T), Ok(()));
    }

    #[test]
    fn any_one_of_several_v1_signatures_may_match() {
        let old_secret = sign_stripe_payload(PAYLOAD, "whsec_old", T);
        let old_v1 = old_secret.split("v1=").nth(1).expect("v1");
        let header = format!("t={T},v1={old_v1},v1={KNOWN_V1},v0=abc");
        assert_eq!(verify(&header, T), Ok(()));
        let header = format!("t={T},v1={KNOWN_V1},v1={old_v1}");
        assert_eq!(verify(&header, T), Ok(()));
    }

    #[test]
    fn spaces_around_items_are_tolerated() {
        assert_eq!(verify(&format!("t={T}, v1={KNOWN_V1}"), T), Ok(()));
    }

    #[test]
    fn a_signature_made_with_another_secret_is_forged() {
        let forged = sign_stripe_payload(PAYLOAD, "whsec_attacker", T);
        assert_eq!(verify(&forged, T), Err(SignatureError::Mismatch));
    }

    #[test]
    fn a_changed_payload_no_longer_matches() {
        let header = sign_stripe_payload(PAYLOAD, SECRET, T);
        let tampered = br#"{"id":"evt_1","type":"payment_intent.payment_failed"}"#;
        assert_eq!(
            verify_stripe_signature(&header, tampered, SECRET, T, DEFAULT_TOLERANCE_S),
            Err(SignatureError::Mismatch)
        );
    }

    #[test]
    fn a_changed_timestamp_no_longer_matches() {
        // Moving t forward to dodge the replay window breaks the signature.
        let header = format!("t={},v1={KNOWN_V1}", T + 1000);
        assert_eq!(verify(&header, T + 1000), Err(SignatureError::Mismatch));
    }

    #[test]
    fn other_schemes_are_ignored() {
        // A correct value under v0 does not count: only v1 is HMAC-SHA256.
        let header = format!("t={T},v0={KNOWN_V1},v1={}", "0".repeat(64));
        assert_eq!(verify(&header, T), Err(SignatureError::Mismatch));
        let only_v0 = format!("t={T},v0={KNOWN_V1}");
        assert_eq!(verify(&only_v0, T), Err(SignatureError::NoV1Signature));
    }

    #[test]
    fn a_garbled_v1_is_skipped_not_fatal() {
        let header = format!("t={T},v1=not-hex,v1=abcd,v1={KNOWN_V1}");
        assert_eq!(verify(&header, T), Ok(()));
        let header = format!("t={T},v1=not-hex");
        assert_eq!(verify(&header, T), Err(SignatureError::Mismatch));
    }

    #[test]
    fn the_replay_window_is_300_seconds_either_way_inclusive() {
        let header = sign_stripe_payload(PAYLOAD, SECRET, T);
        assert_eq!(verify(&header, T + 300), Ok(()));
        assert_eq!(verify(&header, T - 300), Ok(()));
        assert_eq!(
            verify(&header, T + 301),
            Err(SignatureError::Stale {
                timestamp: T,
                age_s: 301,
                tolerance_s: 300
            })
        );
        assert_eq!(
            verify(&header, T - 301),
            Err(SignatureError::Stale {
                timestamp: T,
                age_s: 301,
                tolerance_s: 300
            })
        );
    }

    #[test]
    fn a_replayed_event_from_yesterday_is_stale() {
        let header = sign_stripe_payload(PAYLOAD, SECRET, T);
        assert!(matches!(
            verify(&header, T + 86_400),
            Err(SignatureError::Stale { age_s: 86_400, .. })
        ));
    }

    #[test]
    fn a_forged_and_stale_signature_is_reported_as_forged() {
        let forged = sign_stripe_payload(PAYLOAD, "whsec_attacker", T);
        assert_eq!(verify(&forged, T + 10_000), Err(SignatureError::Mismatch));
    }

    #[test]
    fn malformed_headers_are_refused_with_their_own_kinds() {
        assert_eq!(verify("", T), Err(SignatureError::Missing));
        assert_eq!(verify("   ", T), Err(SignatureError::Missing));
        assert_eq!(
            verify(&format!("v1={KNOWN_V1}"), T),
            Err(SignatureError::NoTimestamp)
        );
        assert_eq!(
            verify(&format!("t={T}"), T),
            Err(SignatureError::NoV1Signature)
        );
        assert!(matches!(
            verify(&format!("t=yesterday,v1={KNOWN_V1}"), T),
            Err(SignatureError::Malformed(_))
        ));
        assert!(matches!(
            verify(&format!("t={T},{KNOWN_V1}"), T),
            Err(SignatureError::Malformed(_))
        ));
        assert!(matches!(
            verify(&format!("t={T},t={T},v1={KNOWN_V1}"), T),
            Err(SignatureError::Malformed(_))
        ));
    }

    #[test]
    fn extreme_timestamps_do_not_overflow() {
        let header = sign_stripe_payload(PAYLOAD, SECRET, i64::MIN);
        assert!(matches!(
            verify(&header, i64::MAX),
            Err(SignatureError::Stale { .. })
        ));
    }
}
