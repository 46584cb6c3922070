//! Time as the firmware core sees it: handed in, never read from hardware here.
//!
//! The board implements [`Clock`] with its RTC timer (which keeps counting through deep sleep);
//! the simulator and the tests implement it with a simulated clock that jumps to the next event,
//! so a 30-minute sleep or a 130-second HTTP timeout costs nothing to test.

/// A monotonic millisecond clock that can be slept on.
pub trait Clock {
    /// Milliseconds since an arbitrary origin that does not move during the device's life
    /// (the board's RTC, which survives deep sleep).
    fn now_ms(&self) -> u64;

    /// Returns once `now_ms() >= deadline_ms` (at once if it already is).
    async fn sleep_until(&self, deadline_ms: u64);

    /// Sleeps `ms` milliseconds from now.
    async fn sleep_ms(&self, ms: u64) {
        self.sleep_until(self.now_ms().saturating_add(ms)).await;
    }

    /// Like [`Clock::sleep_until`], but the MCU may drop into light sleep (ESP32-C6: CPU and
    /// peripherals clock-gated, ~0.2 mA instead of ~38 mA), where bytes arriving on the UART are
    /// lost. Only for waits in which nothing is expected from the modem, such as its boot.
    /// By default the same as [`Clock::sleep_until`].
    async fn doze_until(&self, deadline_ms: u64) {
        self.sleep_until(deadline_ms).await;
    }
}

impl<T: Clock> Clock for &T {
    fn now_ms(&self) -> u64 {
        (**self).now_ms()
    }

    async fn sleep_until(&self, deadline_ms: u64) {
        (**self).sleep_until(deadline_ms).await;
    }

    async fn doze_until(&self, deadline_ms: u64) {
        (**self).doze_until(deadline_ms).await;
    }
}
