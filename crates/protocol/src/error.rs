//! The JSON error body of every non-2xx answer, and the validation error of this crate.

use core::fmt;

use heapless::String;
use serde::{Deserialize, Deserializer, Serialize};

/// `{"error": "<code>", "message": "..."}`, the body of every device-API error (DESIGN §5).
///
/// Fields the server may add later are ignored when parsing. A `message` longer than 128 bytes is
/// cut (at a character boundary) rather than refused, so a device can always read the `error` code.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorBody {
    /// Machine-readable code, e.g. `unauthorized`, `payment_required`, `over_cap`; at most 32 bytes.
    pub error: String<32>,
    /// Human-readable explanation; at most 128 bytes on the wire, longer ones are truncated when read.
    #[serde(deserialize_with = "truncating")]
    pub message: String<128>,
}

fn truncating<'de, D: Deserializer<'de>, const N: usize>(d: D) -> Result<String<N>, D::Error> {
    struct Visitor<const N: usize>;
    impl<const N: usize> serde::de::Visitor<'_> for Visitor<N> {
        type Value = String<N>;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            write!(f, "a string")
        }
        fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<String<N>, E> {
            let mut out = String::new();
            for c in v.chars() {
                if out.push(c).is_err() {
                    break;
                }
            }
            Ok(out)
        }
    }
    d.deserialize_str(Visitor::<N>)
}

/// A value outside the range the contract allows; names the field and the rule it breaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InvalidField {
    /// The JSON field name.
    pub field: &'static str,
    /// What is wrong with it, e.g. "above 100".
    pub reason: &'static str,
}

impl InvalidField {
    pub(crate) const fn new(field: &'static str, reason: &'static str) -> Self {
        Self { field, reason }
    }
}

impl fmt::Display for InvalidField {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid `{}`: {}", self.field, self.reason)
    }
}

impl core::error::Error for InvalidField {}
