//! Time, injected: the server asks a [`Clock`] and tests move a [`ManualClock`].

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use smartbox_domain::epoch::{from_unix_ms, unix_ms};
use time::OffsetDateTime;

/// The source of "now" (UTC).
pub trait Clock: Send + Sync + std::fmt::Debug {
    /// Now, in milliseconds since the Unix epoch.
    fn now_ms(&self) -> i64;

    /// Now, as a UTC date-time.
    fn now(&self) -> OffsetDateTime {
        from_unix_ms(self.now_ms())
    }

    /// Now, in whole seconds since the Unix epoch.
    fn now_s(&self) -> i64 {
        self.now_ms().div_euclid(1000)
    }
}

/// The operating system's clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now_ms(&self) -> i64 {
        unix_ms(OffsetDateTime::now_utc())
    }
}

/// A clock that only moves when told to; clones share the same time.
#[derive(Debug, Clone)]
pub struct ManualClock(Arc<AtomicI64>);

impl ManualClock {
    /// A clock standing at `ms` since the epoch.
    pub fn at_ms(ms: i64) -> ManualClock {
        ManualClock(Arc::new(AtomicI64::new(ms)))
    }

    /// A clock standing at `when`.
    pub fn at(when: OffsetDateTime) -> ManualClock {
        ManualClock::at_ms(unix_ms(when))
    }

    /// Moves the clock forward (or back, with a negative value).
    pub fn advance_ms(&self, ms: i64) {
        self.0.fetch_add(ms, Ordering::SeqCst);
    }

    /// Moves the clock by whole seconds.
    pub fn advance_s(&self, s: i64) {
        self.advance_ms(s * 1000);
    }

    /// Sets the clock.
    pub fn set_ms(&self, ms: i64) {
        self.0.store(ms, Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now_ms(&self) -> i64 {
        self.0.load(Ordering::SeqCst)
    }
}
