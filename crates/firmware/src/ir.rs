//! The end of a wake: may the IR sensor arm the deep sleep's wake?
//!
//! The sensor's output is high while something is in the slot and wakes the chip by level. A
//! line still high when the sleep starts (a letter resting in the beam, a stuck sensor) would
//! wake it at once, over and over, so the wake waits up to [`IR_SETTLE_MS`] for the line to fall
//! and otherwise sleeps on the timer alone. The wait dozes between looks (light sleep: nothing
//! else is going on), and a line found stuck is remembered across deep sleep
//! ([`crate::wake::Retained::ir_stuck`]): the next wakes look once instead of waiting the whole
//! settle time again, so a resting letter costs the settle time once, not on every timer wake.

use crate::clock::Clock;
use crate::wake::Retained;

/// How long the line may stay high at the end of a wake before its wake is given up.
pub const IR_SETTLE_MS: u64 = 5_000;
/// Spacing of the looks at the line while it settles.
pub const IR_LOOK_MS: u64 = 50;

/// The IR sensor's output line.
pub trait IrLine {
    /// Whether something is in the beam.
    fn is_high(&mut self) -> bool;
}

/// Whether the IR line is low and may arm the next wake, after waiting for it to fall (not at
/// all when the last wake found it stuck).
pub async fn settled<L: IrLine, K: Clock>(line: &mut L, clock: &K, state: &mut Retained) -> bool {
    let wait = if state.ir_stuck { 0 } else { IR_SETTLE_MS };
    let deadline = clock.now_ms().saturating_add(wait);
    loop {
        if !line.is_high() {
            state.ir_stuck = false;
            return true;
        }
        let now = clock.now_ms();
        if now >= deadline {
            state.ir_stuck = true;
            return false;
        }
        clock.doze_until(deadline.min(now + IR_LOOK_MS)).await;
    }
}
