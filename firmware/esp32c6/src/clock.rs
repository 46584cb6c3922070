//! The core's [`Clock`] over the ESP32-C6's RTC timer.
//!
//! `now_ms` is the RTC timer's time since power-up: it keeps counting through deep sleep and
//! through every reset other than a power cycle, which is what the core's holds and check-in
//! times (kept in RTC memory) are measured against. Waits go through `embassy-time` (esp-rtos's
//! time driver on TIMG0), so the CPU idles in `wfi` while the modem boots; the loop re-reads the
//! RTC because the two timers run from different oscillators.

use embassy_time::{Duration, Timer};
use esp_hal::rtc_cntl::{Rtc, RwdtStage, RwdtStageAction};
use smartbox_firmware::clock::Clock;

/// The RTC timer, which also owns the RTC watchdog.
pub struct RtcClock<'d> {
    rtc: Rtc<'d>,
}

impl<'d> RtcClock<'d> {
    /// Wraps the RTC timer.
    pub fn new(rtc: Rtc<'d>) -> Self {
        Self { rtc }
    }

    /// Arms the RTC watchdog: a wake that hangs anywhere (a driver waiting on a dead bus) is
    /// reset after `seconds`, and the next boot starts a fresh wake. The SD queue survives it.
    pub fn arm_watchdog(&mut self, seconds: u64) {
        let rwdt = &mut self.rtc.rwdt;
        rwdt.set_timeout(
            RwdtStage::Stage0,
            esp_hal::time::Duration::from_secs(seconds),
        );
        rwdt.set_stage_action(RwdtStage::Stage0, RwdtStageAction::ResetSystem);
        rwdt.enable();
    }

    /// Stops the watchdog (it would otherwise reset the chip in deep sleep).
    pub fn disarm_watchdog(&mut self) {
        self.rtc.rwdt.disable();
    }
}

impl core::fmt::Debug for RtcClock<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("RtcClock")
            .field("now_ms", &self.now_ms())
            .finish()
    }
}

impl Clock for RtcClock<'_> {
    fn now_ms(&self) -> u64 {
        self.rtc.time_since_power_up().as_millis()
    }

    async fn sleep_until(&self, deadline_ms: u64) {
        loop {
            let now = self.now_ms();
            if now >= deadline_ms {
                return;
            }
            Timer::after(Duration::from_millis(deadline_ms - now)).await;
        }
    }
}
