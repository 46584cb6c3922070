//! The textual names of the domain's enums (`"past_due"`, `"premium"`, ...).
//!
//! Storage, the wire and the pages all spell states the same way, so every enum gets its
//! `as_str`, `FromStr`, `Display`, `ALL` and serde impls from one macro instead of drifting apart.

use thiserror::Error;

/// A name that is not one of the known values of an enum, e.g. `"gold"` as a plan.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("unknown {kind} {value:?}; expected one of: {}", expected.join(", "))]
pub struct ParseNameError {
    /// What was being parsed, e.g. "plan".
    pub kind: &'static str,
    /// The rejected input, as given.
    pub value: String,
    /// Every accepted spelling.
    pub expected: &'static [&'static str],
}

/// Declares a fieldless enum whose variants have fixed snake_case names.
macro_rules! named_enum {
    (
        $(#[$meta:meta])*
        $vis:vis enum $name:ident as $kind:literal {
            $( $(#[$vmeta:meta])* $variant:ident => $text:literal, )+
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        $vis enum $name {
            $( $(#[$vmeta])* $variant, )+
        }

        impl $name {
            /// Every value, in declaration order.
            pub const ALL: &'static [$name] = &[$( $name::$variant, )+];

            const NAMES: &'static [&'static str] = &[$( $text, )+];

            /// The stable name used in storage, on the wire and in pages.
            pub const fn as_str(self) -> &'static str {
                match self {
                    $( $name::$variant => $text, )+
                }
            }
        }

        impl ::core::fmt::Display for $name {
            fn fmt(&self, f: &mut ::core::fmt::Formatter<'_>) -> ::core::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl ::core::str::FromStr for $name {
            type Err = $crate::names::ParseNameError;

            fn from_str(s: &str) -> Result<Self, Self::Err> {
                match s {
                    $( $text => Ok($name::$variant), )+
                    _ => Err($crate::names::ParseNameError {
                        kind: $kind,
                        value: s.to_owned(),
                        expected: $name::NAMES,
                    }),
                }
            }
        }

        /// For rows decoded as text (`#[sqlx(try_from = "String")]` in the store).
        impl ::core::convert::TryFrom<String> for $name {
            type Error = $crate::names::ParseNameError;

            fn try_from(s: String) -> Result<Self, Self::Error> {
                s.parse()
            }
        }

        /// Compares with a stored spelling, as tests that read rows do (`row.status == "paid"`).
        /// Code above the store compares enums; `tests/status_literals.rs` holds it to that.
        impl PartialEq<&str> for $name {
            fn eq(&self, other: &&str) -> bool {
                self.as_str() == *other
            }
        }

        impl ::serde::Serialize for $name {
            fn serialize<S: ::serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.serialize_str(self.as_str())
            }
        }

        impl<'de> ::serde::Deserialize<'de> for $name {
            fn deserialize<D: ::serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                let text = <::std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
                text.parse().map_err(::serde::de::Error::custom)
            }
        }
    };
}

pub(crate) use named_enum;
