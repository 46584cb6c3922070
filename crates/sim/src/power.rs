//! The power meter: which state each rail of a simulated mailbox was in, and from when. The
//! emulated modem, the camera, the WiFi and the wake loop report their state changes here; the
//! energy model ([`crate::energy`]) turns the record into charge with datasheet currents.
//!
//! A state may be recorded ahead of time (the modem knows when its boot will end); recording an
//! earlier change of the same rail drops such predictions, as a modem reset does to its boot.

/// A supply branch whose current the model tracks separately.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Rail {
    /// The ESP32-C6.
    Mcu,
    /// The A7670.
    Modem,
    /// The SPI camera module.
    Camera,
    /// The ESP32-C6's WiFi radio (on top of the MCU's own current).
    Wifi,
}

/// What a rail is doing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    /// MCU in deep sleep; every other rail off.
    Off,
    /// MCU running (160 MHz, peripherals clocked).
    McuActive,
    /// MCU in light sleep (CPU and peripherals clock-gated, state kept), waiting on the modem.
    McuLightSleep,
    /// Modem booting after the PWRKEY pulse, until its UART answers.
    ModemBooting,
    /// Modem up, searching for a cell.
    ModemSearching,
    /// Modem registered, idle (no sleep mode: the UART is in use).
    ModemIdle,
    /// Modem in an HTTP exchange, transmitting at this signal level.
    ModemTx {
        /// Signal in dBm; the weaker, the higher the transmit power.
        signal_dbm: i16,
    },
    /// Modem shutting down after `AT+CPOF`.
    ModemPoweringDown,
    /// Camera capturing and reading out one frame.
    CameraCapture,
    /// WiFi scanning, joining or exchanging.
    WifiActive,
}

/// State changes of every rail, in time order per rail.
#[derive(Debug, Clone, Default)]
pub struct Meter {
    mcu: Vec<(u64, State)>,
    modem: Vec<(u64, State)>,
    camera: Vec<(u64, State)>,
    wifi: Vec<(u64, State)>,
}

impl Meter {
    fn rail(&self, rail: Rail) -> &Vec<(u64, State)> {
        match rail {
            Rail::Mcu => &self.mcu,
            Rail::Modem => &self.modem,
            Rail::Camera => &self.camera,
            Rail::Wifi => &self.wifi,
        }
    }

    fn rail_mut(&mut self, rail: Rail) -> &mut Vec<(u64, State)> {
        match rail {
            Rail::Mcu => &mut self.mcu,
            Rail::Modem => &mut self.modem,
            Rail::Camera => &mut self.camera,
            Rail::Wifi => &mut self.wifi,
        }
    }

    /// Records that `rail` is in `state` from `at_ms` on (dropping later predictions).
    pub fn set(&mut self, rail: Rail, at_ms: u64, state: State) {
        let changes = self.rail_mut(rail);
        while changes.last().is_some_and(|(t, _)| *t >= at_ms) {
            changes.pop();
        }
        if changes.last().map(|(_, s)| *s) != Some(state) {
            changes.push((at_ms, state));
        }
    }

    /// The state of `rail` at `at_ms`.
    pub fn state_at(&self, rail: Rail, at_ms: u64) -> State {
        self.rail(rail)
            .iter()
            .take_while(|(t, _)| *t <= at_ms)
            .last()
            .map_or(State::Off, |(_, s)| *s)
    }

    /// `(milliseconds, state)` pieces of `rail` between `from_ms` and `to_ms`.
    pub fn segments(&self, rail: Rail, from_ms: u64, to_ms: u64) -> Vec<(u64, State)> {
        let mut out = Vec::new();
        let mut cursor = from_ms;
        let mut state = self.state_at(rail, from_ms);
        for &(t, next) in self.rail(rail) {
            if t <= from_ms {
                continue;
            }
            if t >= to_ms {
                break;
            }
            out.push((t - cursor, state));
            cursor = t;
            state = next;
        }
        if to_ms > cursor {
            out.push((to_ms - cursor, state));
        }
        out
    }

    /// Forgets everything before `before_ms` (keeping the state then), to bound memory on long runs.
    pub fn forget_before(&mut self, before_ms: u64) {
        for rail in [Rail::Mcu, Rail::Modem, Rail::Camera, Rail::Wifi] {
            let state = self.state_at(rail, before_ms);
            let changes = self.rail_mut(rail);
            changes.retain(|(t, _)| *t > before_ms);
            changes.insert(0, (before_ms, state));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn segments_split_an_interval_at_each_change() {
        let mut meter = Meter::default();
        meter.set(Rail::Modem, 100, State::ModemBooting);
        meter.set(Rail::Modem, 11_100, State::ModemIdle);
        meter.set(Rail::Modem, 15_000, State::Off);
        assert_eq!(
            meter.segments(Rail::Modem, 0, 20_000),
            [
                (100, State::Off),
                (11_000, State::ModemBooting),
                (3_900, State::ModemIdle),
                (5_000, State::Off)
            ]
        );
        assert_eq!(
            meter.segments(Rail::Modem, 12_000, 13_000),
            [(1_000, State::ModemIdle)]
        );
    }

    #[test]
    fn an_earlier_change_drops_predicted_later_ones() {
        let mut meter = Meter::default();
        meter.set(Rail::Modem, 0, State::ModemBooting);
        meter.set(Rail::Modem, 11_000, State::ModemIdle);
        meter.set(Rail::Modem, 5_000, State::ModemBooting);
        meter.set(Rail::Modem, 16_000, State::ModemIdle);
        assert_eq!(meter.state_at(Rail::Modem, 12_000), State::ModemBooting);
        assert_eq!(meter.state_at(Rail::Modem, 16_000), State::ModemIdle);
    }

    #[test]
    fn forgetting_keeps_the_current_state() {
        let mut meter = Meter::default();
        meter.set(Rail::Mcu, 10, State::McuActive);
        meter.set(Rail::Mcu, 20, State::Off);
        meter.set(Rail::Mcu, 30, State::McuActive);
        meter.forget_before(25);
        assert_eq!(meter.state_at(Rail::Mcu, 26), State::Off);
        assert_eq!(meter.state_at(Rail::Mcu, 31), State::McuActive);
    }
}
