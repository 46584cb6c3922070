//! The end of every wake: deep sleep until the next timer wake or the IR sensor.
//!
//! The IR sensor's output (GPIO 2, LP GPIO 2, high while it sees something in the slot) wakes
//! the chip through the low-power GPIO path, level-triggered. A level that is already high when
//! the sleep starts would wake the chip at once, over and over (a letter resting in the beam, a
//! sensor stuck high), so the wake waits a little for the line to fall and otherwise sleeps on
//! the timer alone: the next timer wake tries again.

use esp_hal::gpio::{Event, Input, WakeupConfig};
use esp_hal::rtc_cntl::sleep::{LowPower, RtcSleepConfig};
use esp_hal::time::{Duration, Instant};
use smartbox_firmware::clock::Clock;

/// How long the IR line may stay high at the end of a wake before its wake is skipped.
const IR_SETTLE_MS: u64 = 5_000;

/// Whether the IR line is low (so it can arm the wake), waiting up to [`IR_SETTLE_MS`].
pub async fn ir_quiet(ir: &Input<'_>, clock: &impl Clock) -> bool {
    let deadline = clock.now_ms() + IR_SETTLE_MS;
    while ir.is_high() {
        if clock.now_ms() >= deadline {
            return false;
        }
        clock.sleep_ms(50).await;
    }
    true
}

/// Sleeps `sleep_ms`, or until the IR line rises when `ir_wake`; does not return (the wake is a
/// reset). `low_power` is the clock's ([`crate::clock::RtcClock::into_low_power`]).
pub fn deep_sleep(
    mut low_power: LowPower<'_>,
    mut ir: Input<'_>,
    sleep_ms: u64,
    ir_wake: bool,
) -> ! {
    low_power.set_wakeup_deadline(Instant::now() + Duration::from_millis(sleep_ms));
    if ir_wake {
        let armed = ir.apply_wakeup_config(&WakeupConfig::default().with_low_power_path(true));
        if armed.is_ok() {
            ir.listen(Event::HighLevel);
        }
    }
    low_power.sleep_deep(RtcSleepConfig::deep())
}
