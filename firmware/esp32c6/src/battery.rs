//! The battery as the heartbeat reports it, measured once per wake before the modem draws.
//!
//! The cell reaches ADC1 channel 0 (GPIO 0) through a 1 MΩ / 1 MΩ divider with 100 nF at the
//! pin: the pin sees half the cell voltage (4.2 V -> 2.1 V, inside the 11 dB range) and the
//! divider leaks about 2 µA, 18 mAh a year. The reading is taken at the start of the wake, while
//! only the ESP32-C6 runs, because the core's discharge curve is a rest-voltage curve and the
//! modem's bursts sag the cell by tenths of a volt. The core's [`Smoother`] averages it with
//! earlier wakes (its state is kept in RTC memory as millivolts).
//!
//! Charging is the charger's open-drain status output (TP4056-style `CHRG`, low while charging)
//! on GPIO 1 with the internal pull-up.

use esp_hal::Async;
use esp_hal::analog::adc::{Adc, AdcCalCurve, AdcConfig, AdcPin, Attenuation};
use esp_hal::gpio::Input;
use esp_hal::peripherals::{ADC1, GPIO0};
use smartbox_firmware::battery::{Divider, Smoother, percent_from_cell_mv};
use smartbox_firmware::ports::BatteryGauge;

/// The board's divider: 1 MΩ over 1 MΩ.
pub const DIVIDER: Divider = Divider {
    top_ohms: 1_000_000,
    bottom_ohms: 1_000_000,
};

/// Samples averaged per reading.
const SAMPLES: u32 = 16;

/// What this wake measured.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Measured {
    /// Smoothed cell voltage.
    pub cell_mv: u16,
    /// State of charge from it.
    pub percent: u8,
    /// External power is charging the cell.
    pub charging: bool,
}

impl BatteryGauge for Measured {
    async fn percent(&mut self) -> u8 {
        self.percent
    }

    async fn charging(&mut self) -> bool {
        self.charging
    }
}

/// Reads the cell through the divider, folds it into the previous wakes' average
/// (`previous_mv`, 0 for none) and reads the charger's status line.
pub async fn measure(
    adc1: ADC1<'_>,
    pin: GPIO0<'_>,
    charger_status: &Input<'_>,
    previous_mv: u16,
) -> Measured {
    let mut config = AdcConfig::new();
    let mut pin: AdcPin<_, _, AdcCalCurve<_>> = config.enable_pin_with_cal(pin, Attenuation::_11dB);
    let mut adc: Adc<'_, _, Async> = Adc::new(adc1, config).into_async();
    let mut sum = 0_u32;
    for _ in 0..SAMPLES {
        sum += u32::from(adc.read_oneshot(&mut pin).await);
    }
    let pin_mv = (sum / SAMPLES) as u16;
    let mut smoother = Smoother::new();
    if previous_mv > 0 {
        smoother.update(previous_mv);
    }
    let cell_mv = smoother.update(DIVIDER.cell_mv(pin_mv));
    Measured {
        cell_mv,
        percent: percent_from_cell_mv(cell_mv),
        charging: charger_status.is_low(),
    }
}
