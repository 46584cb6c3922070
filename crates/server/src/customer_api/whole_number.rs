//! Integers in request bodies. JSON Schema counts `1.0` as an integer, so a client that writes
//! whole numbers as floats follows the OpenAPI document, while serde's integer types refuse it.
//! Body fields the document calls integers take both spellings; a fraction is still refused.

use serde::de::Error as _;
use serde::{Deserialize, Deserializer};

/// An integer written as `12` or `12.0`, in `T`'s range.
pub(crate) fn whole<'de, D, T>(deserializer: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: TryFrom<i64>,
{
    let number = serde_json::Number::deserialize(deserializer)?;
    let value = match number.as_i64() {
        Some(value) => value,
        None => match number.as_f64() {
            Some(f) if f.fract() == 0.0 && f >= i64::MIN as f64 && f < i64::MAX as f64 => f as i64,
            _ => return Err(D::Error::custom(format!("{number} is not a whole number"))),
        },
    };
    T::try_from(value).map_err(|_| D::Error::custom(format!("{value} is out of range")))
}

/// [`whole`] for a field that may be `null` or absent (`#[serde(default)]` with it).
pub(crate) fn whole_or_null<'de, D, T>(deserializer: D) -> Result<Option<T>, D::Error>
where
    D: Deserializer<'de>,
    T: TryFrom<i64>,
{
    #[derive(Deserialize)]
    struct Whole<T: TryFrom<i64>>(#[serde(deserialize_with = "whole")] T);
    Ok(Option::<Whole<T>>::deserialize(deserializer)?.map(|Whole(value)| value))
}

#[cfg(test)]
mod tests {
    use serde::Deserialize;

    #[derive(Debug, Deserialize)]
    struct Body {
        #[serde(deserialize_with = "super::whole")]
        month: u8,
        #[serde(default, deserialize_with = "super::whole_or_null")]
        interval: Option<i64>,
    }

    fn parse(json: &str) -> Result<Body, serde_json::Error> {
        serde_json::from_str(json)
    }

    #[test]
    fn whole_numbers_are_taken_in_either_spelling() {
        let body = parse(r#"{"month": 12.0, "interval": 3600.0}"#).expect("parses");
        assert_eq!((body.month, body.interval), (12, Some(3600)));
        let body = parse(r#"{"month": 1}"#).expect("parses");
        assert_eq!((body.month, body.interval), (1, None));
        assert_eq!(
            parse(r#"{"month": 1, "interval": null}"#)
                .expect("parses")
                .interval,
            None
        );
    }

    #[test]
    fn fractions_out_of_range_values_and_text_are_refused() {
        for json in [
            r#"{"month": 1.5}"#,
            r#"{"month": 256}"#,
            r#"{"month": -1.0}"#,
            r#"{"month": "1"}"#,
            r#"{"month": 1e300}"#,
            r#"{"month": 1, "interval": 0.5}"#,
        ] {
            assert!(parse(json).is_err(), "{json} was taken");
        }
    }
}
