//! Identifiers and contact values that are validated once, at the edge, and trusted afterwards:
//! device serials, the one-time claim codes printed on the box, and customer email addresses.
//!
//! Each type has a private field and a `parse` constructor ("parse, don't validate"), so a value
//! of the type is always well formed and already normalised (case, separators, whitespace).

use std::fmt;

use serde::{Deserialize, Serialize};
use thiserror::Error;

/// Why an identifier was rejected; every message names the offending input.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum IdError {
    #[error("serial {input:?} must be 4 to 32 characters long, it has {len}")]
    SerialLength { input: String, len: usize },
    #[error("serial {input:?} contains {character:?}; only A-Z, 0-9 and '-' are allowed")]
    SerialCharacter { input: String, character: char },
    #[error("claim code {input:?} must have 8 characters (dashes aside), it has {len}")]
    ClaimCodeLength { input: String, len: usize },
    #[error("claim code {input:?} contains {character:?}, which is not a Crockford base32 digit")]
    ClaimCodeCharacter { input: String, character: char },
    #[error("email address {input:?} is not valid: {reason}")]
    Email { input: String, reason: &'static str },
}

/// A device serial: 4 to 32 characters of `A-Z`, `0-9` and `-`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Serial(String);

impl Serial {
    /// Parses a serial. Surrounding whitespace is dropped and letters are upper-cased first,
    /// because people type serials from a label.
    pub fn parse(input: &str) -> Result<Serial, IdError> {
        let normalised = input.trim().to_ascii_uppercase();
        let len = normalised.chars().count();
        if !(4..=32).contains(&len) {
            return Err(IdError::SerialLength {
                input: input.to_owned(),
                len,
            });
        }
        if let Some(character) = normalised
            .chars()
            .find(|c| !(c.is_ascii_uppercase() || c.is_ascii_digit() || *c == '-'))
        {
            return Err(IdError::SerialCharacter {
                input: input.to_owned(),
                character,
            });
        }
        Ok(Serial(normalised))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Crockford's base32 alphabet: digits and letters without I, L, O and U, so that a code read
/// off a box cannot be mistaken for another.
const CROCKFORD: &[u8; 32] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";

/// The one-time code printed on the box that proves its owner holds it: 8 Crockford base32
/// digits (40 bits).
#[derive(Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct ClaimCode(String);

impl ClaimCode {
    /// Parses a code as a person may type it: any case, with dashes or spaces between groups,
    /// and with the letters Crockford defines as aliases (`I`/`L` for 1, `O` for 0).
    pub fn parse(input: &str) -> Result<ClaimCode, IdError> {
        let mut code = String::with_capacity(8);
        for c in input.chars().filter(|c| *c != '-' && !c.is_whitespace()) {
            let digit = match c.to_ascii_uppercase() {
                'I' | 'L' => '1',
                'O' => '0',
                upper if upper.is_ascii() && CROCKFORD.contains(&(upper as u8)) => upper,
                _ => {
                    return Err(IdError::ClaimCodeCharacter {
                        input: input.to_owned(),
                        character: c,
                    });
                }
            };
            code.push(digit);
        }
        if code.len() != 8 {
            return Err(IdError::ClaimCodeLength {
                input: input.to_owned(),
                len: code.len(),
            });
        }
        Ok(ClaimCode(code))
    }

    /// Encodes 40 random bits as a code. Randomness comes from the caller so this stays pure.
    pub fn from_random_bytes(bytes: [u8; 5]) -> ClaimCode {
        let bits = bytes.iter().fold(0u64, |acc, b| (acc << 8) | u64::from(*b));
        let code = (0..8)
            .rev()
            .map(|group| char::from(CROCKFORD[((bits >> (group * 5)) & 0x1f) as usize]))
            .collect();
        ClaimCode(code)
    }

    /// The canonical 8 digits, upper case, no dash.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The code as printed on the box, in two groups: `ABCD-EFGH`.
    pub fn grouped(&self) -> String {
        format!("{}-{}", &self.0[..4], &self.0[4..])
    }
}

/// A claim code is a secret until used: debug output must not leak it into logs.
impl fmt::Debug for ClaimCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ClaimCode(********)")
    }
}

/// A customer's email address, trimmed and lower-cased so that one address is one account.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Email(String);

impl Email {
    /// Parses an address. This is a sanity check (one `@`, a dotted domain, no spaces, sane
    /// lengths), not RFC 5322: deliverability is proven by sending mail, not by parsing.
    pub fn parse(input: &str) -> Result<Email, IdError> {
        let fail = |reason| IdError::Email {
            input: input.to_owned(),
            reason,
        };
        let address = input.trim().to_lowercase();
        if address.is_empty() {
            return Err(fail("it is empty"));
        }
        if address.len() > 254 {
            return Err(fail("it is longer than 254 characters"));
        }
        if address.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(fail("it contains whitespace or control characters"));
        }
        let Some((local, domain)) = address.split_once('@') else {
            return Err(fail("it has no '@'"));
        };
        if domain.contains('@') {
            return Err(fail("it has more than one '@'"));
        }
        if local.is_empty() {
            return Err(fail("nothing comes before the '@'"));
        }
        if local.len() > 64 {
            return Err(fail("the part before the '@' is longer than 64 characters"));
        }
        if local.chars().any(|c| "<>()[]\\,;:\"".contains(c)) {
            return Err(fail("the part before the '@' contains a special character"));
        }
        if !domain.contains('.') {
            return Err(fail("the domain has no '.'"));
        }
        let label_ok = |label: &str| {
            !label.is_empty()
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label.chars().all(|c| c.is_alphanumeric() || c == '-')
        };
        if !domain.split('.').all(label_ok) {
            return Err(fail("the domain is not a valid host name"));
        }
        Ok(Email(address))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

macro_rules! string_id_conversions {
    ($($name:ident),+) => {$(
        impl TryFrom<String> for $name {
            type Error = IdError;
            fn try_from(value: String) -> Result<Self, IdError> {
                $name::parse(&value)
            }
        }

        impl std::str::FromStr for $name {
            type Err = IdError;
            fn from_str(value: &str) -> Result<Self, IdError> {
                $name::parse(value)
            }
        }

        impl From<$name> for String {
            fn from(value: $name) -> String {
                value.0
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
    )+};
}

string_id_conversions!(Serial, ClaimCode, Email);

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn a_serial_of_letters_digits_and_dashes_is_accepted() {
        let serial = Serial::parse("SBX-0001").ok();
        assert_eq!(serial.as_ref().map(Serial::as_str), Some("SBX-0001"));
    }

    #[test]
    fn a_typed_serial_is_trimmed_and_upper_cased() {
        assert_eq!(
            Serial::parse("  sbx-0001 ").ok().map(String::from),
            Some("SBX-0001".to_owned())
        );
    }

    #[test]
    fn serials_outside_4_to_32_characters_are_rejected_with_their_length() {
        assert_eq!(
            Serial::parse("ABC"),
            Err(IdError::SerialLength {
                input: "ABC".into(),
                len: 3
            })
        );
        assert!(Serial::parse("ABCD").is_ok());
        assert!(Serial::parse(&"A".repeat(32)).is_ok());
        assert!(Serial::parse(&"A".repeat(33)).is_err());
    }

    #[test]
    fn a_serial_with_a_foreign_character_names_it() {
        let err = Serial::parse("SBX_0001").err().map(|e| e.to_string());
        assert_eq!(
            err.as_deref(),
            Some("serial \"SBX_0001\" contains '_'; only A-Z, 0-9 and '-' are allowed")
        );
        assert!(Serial::parse("SBX-ÄÖ01").is_err());
    }

    #[test]
    fn a_claim_code_is_normalised_from_lower_case_dashes_and_aliases() {
        let code = ClaimCode::parse("abcd-ilo9").ok();
        assert_eq!(code.as_ref().map(ClaimCode::as_str), Some("ABCD1109"));
        assert_eq!(code.map(|c| c.grouped()).as_deref(), Some("ABCD-1109"));
    }

    #[test]
    fn a_claim_code_with_u_is_rejected_naming_the_character() {
        assert_eq!(
            ClaimCode::parse("ABCDEFGU"),
            Err(IdError::ClaimCodeCharacter {
                input: "ABCDEFGU".into(),
                character: 'U'
            })
        );
    }

    #[test]
    fn a_claim_code_must_have_eight_digits() {
        assert_eq!(
            ClaimCode::parse("ABCD-EFG"),
            Err(IdError::ClaimCodeLength {
                input: "ABCD-EFG".into(),
                len: 7
            })
        );
        assert!(ClaimCode::parse("ABCD-EFGHJ").is_err());
    }

    #[test]
    fn claim_codes_from_bytes_use_all_forty_bits() {
        assert_eq!(ClaimCode::from_random_bytes([0; 5]).as_str(), "00000000");
        assert_eq!(ClaimCode::from_random_bytes([0xff; 5]).as_str(), "ZZZZZZZZ");
        assert_eq!(
            ClaimCode::from_random_bytes([0, 0, 0, 0, 0x21]).as_str(),
            "00000011"
        );
    }

    #[test]
    fn a_claim_code_never_shows_in_debug_output() {
        let code = ClaimCode::from_random_bytes([1, 2, 3, 4, 5]);
        assert!(!format!("{code:?}").contains(code.as_str()));
    }

    #[test]
    fn an_email_is_trimmed_and_lower_cased() {
        assert_eq!(
            Email::parse("  Ada@Example.COM ").ok().map(String::from),
            Some("ada@example.com".to_owned())
        );
    }

    #[test]
    fn malformed_emails_say_what_is_wrong() {
        let reason = |input: &str| match Email::parse(input) {
            Err(IdError::Email { reason, .. }) => reason,
            other => panic!("{input:?} was not rejected: {other:?}"),
        };
        assert_eq!(reason(""), "it is empty");
        assert_eq!(reason("ada.example.com"), "it has no '@'");
        assert_eq!(reason("a@b@example.com"), "it has more than one '@'");
        assert_eq!(reason("@example.com"), "nothing comes before the '@'");
        assert_eq!(reason("ada@localhost"), "the domain has no '.'");
        assert_eq!(
            reason("ada@example..com"),
            "the domain is not a valid host name"
        );
        assert_eq!(
            reason("a da@example.com"),
            "it contains whitespace or control characters"
        );
    }

    #[test]
    fn ids_serialize_as_strings_and_are_validated_when_deserialized() {
        let serial: Result<Serial, _> = serde_json::from_str("\"sbx-1\"");
        assert_eq!(serial.ok().map(String::from).as_deref(), Some("SBX-1"));
        assert!(serde_json::from_str::<Serial>("\"x\"").is_err());
        let email = Email::parse("ada@example.com").ok();
        assert_eq!(
            email
                .and_then(|e| serde_json::to_string(&e).ok())
                .as_deref(),
            Some("\"ada@example.com\"")
        );
    }

    proptest! {
        #[test]
        fn every_generated_claim_code_parses_back_to_itself(bytes in any::<[u8; 5]>()) {
            let code = ClaimCode::from_random_bytes(bytes);
            prop_assert_eq!(ClaimCode::parse(code.as_str()), Ok(code.clone()));
            prop_assert_eq!(ClaimCode::parse(&code.grouped().to_lowercase()), Ok(code));
        }

        #[test]
        fn distinct_bytes_give_distinct_claim_codes(a in any::<[u8; 5]>(), b in any::<[u8; 5]>()) {
            prop_assume!(a != b);
            prop_assert_ne!(ClaimCode::from_random_bytes(a), ClaimCode::from_random_bytes(b));
        }
    }
}
