//! The end of every wake: deep sleep until the next timer wake or the IR sensor.
//!
//! The IR sensor's output (GPIO 2, LP GPIO 2, high while it sees something in the slot) wakes
//! the chip through the low-power GPIO path, level-triggered. A level that is already high when
//! the sleep starts would wake the chip at once, over and over (a letter resting in the beam, a
//! sensor stuck high), so the core's [`smartbox_firmware::ir::settled`] waits for the line to
//! fall (once: a line found stuck is remembered across deep sleep) and otherwise the chip sleeps
//! on the timer alone: the next timer wake looks again.

use esp_hal::gpio::{Event, Input, WakeupConfig};
use esp_hal::rtc_cntl::sleep::{LowPower, RtcSleepConfig};
use esp_hal::time::{Duration, Instant};
use smartbox_firmware::ir::IrLine;

/// The IR sensor's line as the core reads it.
pub struct IrSensor<'a, 'd>(pub &'a Input<'d>);

impl IrLine for IrSensor<'_, '_> {
    fn is_high(&mut self) -> bool {
        self.0.is_high()
    }
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
