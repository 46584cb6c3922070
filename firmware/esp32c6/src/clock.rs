//! The core's [`Clock`] over the ESP32-C6's RTC timer, and its light sleep.
//!
//! `now_ms` is the RTC timer's time since power-up: it keeps counting through light and deep
//! sleep and through every reset other than a power cycle, which is what the core's holds and
//! check-in times (kept in RTC memory) are measured against. Waits go through `embassy-time`
//! (esp-rtos's time driver on TIMG0), so the CPU idles in `wfi`; the loop re-reads the RTC
//! because the two timers run from different oscillators.
//!
//! [`Clock::doze_until`], which the core uses only while nothing can come from the modem (its
//! boot, the gaps between photos), is a real light sleep: esp-hal's `LowPower::sleep_light`
//! with the timer wakeup at the deadline (ESP32-C6 Series Datasheet, "Low-power modes": CPU and
//! digital peripherals clock-gated, RAM and peripheral state kept, ~180 µA instead of ~38 mA).
//! The sleep blocks the executor, which is right here: the wake is one task and it is waiting.
//! The UART is not armed as a wakeup source: during a doze nothing is expected from the modem,
//! the bytes that wake a UART are lost anyway (esp-hal `UartRx::enable_wakeup`), and an armed
//! UART keeps the high-performance peripherals powered through the sleep, which would cost
//! current for nothing. The timer deadline is an esp-hal `Instant` (the systimer, which esp-hal
//! corrects after the sleep); the RTC decides when the doze is over, so a sleep that ends early
//! (rejected, or no wakeup source) is waited out awake.

use core::cell::RefCell;

use embassy_time::{Duration, Timer};
use esp_hal::rtc_cntl::sleep::{LowPower, RtcSleepConfig};
use esp_hal::rtc_cntl::{Rtc, RwdtStage, RwdtStageAction};
use smartbox_firmware::clock::Clock;

/// Dozes shorter than this are plain waits: entering and leaving light sleep takes a few
/// hundred µs on the C6 (PMU wait and clock settling), and the tail is waited out awake anyway.
const MIN_DOZE_MS: u64 = 5;

/// The RTC timer, which also owns the RTC watchdog, and the low-power driver that sleeps.
pub struct RtcClock<'d> {
    rtc: Rtc<'d>,
    low_power: RefCell<LowPower<'d>>,
}

impl<'d> RtcClock<'d> {
    /// Wraps the RTC timer and the low-power driver.
    pub fn new(rtc: Rtc<'d>, low_power: LowPower<'d>) -> Self {
        Self {
            rtc,
            low_power: RefCell::new(low_power),
        }
    }

    /// The low-power driver back, for the deep sleep that ends the wake.
    pub fn into_low_power(self) -> LowPower<'d> {
        self.low_power.into_inner()
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

    async fn doze_until(&self, deadline_ms: u64) {
        let now = self.now_ms();
        if deadline_ms > now.saturating_add(MIN_DOZE_MS) {
            let wake_at = esp_hal::time::Instant::now()
                + esp_hal::time::Duration::from_millis(deadline_ms - now);
            let mut low_power = self.low_power.borrow_mut();
            low_power.set_wakeup_deadline(wake_at);
            low_power.sleep_light(RtcSleepConfig::default());
            // The deep sleep at the end of the wake arms its own deadline.
            low_power.clear_wakeup_deadline();
        }
        self.sleep_until(deadline_ms).await;
    }
}
