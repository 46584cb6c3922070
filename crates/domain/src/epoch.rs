//! Instants as the store keeps them: milliseconds since the Unix epoch (UTC), one conversion each
//! way for every crate, so rounding and out-of-range handling are decided once.

use time::OffsetDateTime;

/// Milliseconds since the epoch of `t` (truncated; `i64::MAX` past year 292 million).
pub fn unix_ms(t: OffsetDateTime) -> i64 {
    i64::try_from(t.unix_timestamp_nanos() / 1_000_000).unwrap_or(i64::MAX)
}

/// The instant `ms` milliseconds after the epoch (the epoch itself when out of range).
pub fn from_unix_ms(ms: i64) -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .unwrap_or(OffsetDateTime::UNIX_EPOCH)
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn milliseconds_round_trip_and_truncate() {
        let t = datetime!(2026-11-26 05:03:06.123_456 UTC);
        assert_eq!(unix_ms(t), 1_795_669_386_123);
        assert_eq!(
            from_unix_ms(unix_ms(t)),
            datetime!(2026-11-26 05:03:06.123 UTC)
        );
        assert_eq!(from_unix_ms(i64::MAX), OffsetDateTime::UNIX_EPOCH);
        assert_eq!(unix_ms(OffsetDateTime::UNIX_EPOCH), 0);
    }
}
