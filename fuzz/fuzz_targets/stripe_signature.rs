//! The `Stripe-Signature` header parser and check of `smartbox-billing` (the source file itself,
//! included by path: the billing crate pulls in sqlx and the server stack, too heavy to build
//! instrumented). Any header and body: no panic, `Stale` only past the tolerance; the header
//! `sign_stripe_payload` makes for the body is accepted, alone and beside the fuzzed items.
#![no_main]

#[allow(dead_code)]
#[path = "../../crates/billing/src/webhook/signature.rs"]
mod signature;

use libfuzzer_sys::fuzz_target;
use signature::{DEFAULT_TOLERANCE_S, SignatureError, sign_stripe_payload, verify_stripe_signature};

const SECRET: &str = "whsec_fuzz";
const NOW: i64 = 1_767_225_600;

fuzz_target!(|data: &[u8]| {
    // Header up to the first NUL, the body after it.
    let (header, body) = match data.iter().position(|&b| b == 0) {
        Some(at) => (&data[..at], &data[at + 1..]),
        None => (data, &[][..]),
    };
    let header = String::from_utf8_lossy(header);
    if let Err(SignatureError::Stale { age_s, .. }) =
        verify_stripe_signature(&header, body, SECRET, NOW, DEFAULT_TOLERANCE_S)
    {
        assert!(age_s > DEFAULT_TOLERANCE_S);
    }
    // The genuine signature of this body, at a time taken from the input, always verifies.
    let t = NOW - i64::from(data.first().copied().unwrap_or(0));
    let genuine = sign_stripe_payload(body, SECRET, t);
    assert_eq!(
        verify_stripe_signature(&genuine, body, SECRET, NOW, DEFAULT_TOLERANCE_S),
        Ok(())
    );
    // And with the fuzzed header's extras around it (a rolled secret's second v1).
    let extended = format!("{genuine},{header}");
    let extras_only = header
        .split(',')
        .all(|item| item.split_once('=').is_some_and(|(key, _)| key.trim() != "t"));
    if extras_only {
        assert_eq!(
            verify_stripe_signature(&extended, body, SECRET, NOW, DEFAULT_TOLERANCE_S),
            Ok(())
        );
    }
});
