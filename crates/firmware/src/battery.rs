//! Battery state of charge from the ADC: the divider's millivolts to cell millivolts to percent.
//!
//! The percentage is read off a single-cell Li-ion rest-voltage curve by linear interpolation
//! between its points, clamped to 0-100 and monotonic in the voltage. The curve is the widely
//! published 5 %-step "LiPo voltage chart" (e.g. blog.ampow.com/lipo-voltage-chart): 4.20 V full,
//! a long plateau around 3.7-3.9 V, and a knee below 3.7 V to 0 % at 3.27 V, where a 0.2 A
//! discharge of a Samsung INR18650-30Q (the 3,000 mAh class of cell this box uses; lygte-info.dk
//! test report) has under 10 % left. It is a rest-voltage curve: sample the ADC with the modem
//! off (under the modem's 2 A bursts the cell sags by tenths of a volt), and replace the table by
//! a curve measured on the production cell when there is one.
//!
//! [`Smoother`] averages readings across wakes so that the reported percentage does not jump
//! with ADC noise or with how long ago the modem last ran.

/// `(cell millivolts, percent)`, ascending in both.
pub const DISCHARGE_CURVE: [(u16, u8); 21] = [
    (3270, 0),
    (3610, 5),
    (3690, 10),
    (3710, 15),
    (3730, 20),
    (3750, 25),
    (3770, 30),
    (3790, 35),
    (3800, 40),
    (3820, 45),
    (3840, 50),
    (3850, 55),
    (3870, 60),
    (3910, 65),
    (3950, 70),
    (3980, 75),
    (4020, 80),
    (4080, 85),
    (4110, 90),
    (4150, 95),
    (4200, 100),
];

/// State of charge, 0-100, of a cell at `cell_mv` millivolts (at rest).
pub fn percent_from_cell_mv(cell_mv: u16) -> u8 {
    let (empty_mv, _) = DISCHARGE_CURVE[0];
    if cell_mv <= empty_mv {
        return 0;
    }
    for pair in DISCHARGE_CURVE.windows(2) {
        let [(low_mv, low_pct), (high_mv, high_pct)] = [pair[0], pair[1]];
        if cell_mv <= high_mv {
            let span_mv = u32::from(high_mv - low_mv);
            let span_pct = u32::from(high_pct - low_pct);
            let into = u32::from(cell_mv - low_mv);
            // Rounded to the nearest percent.
            let extra = (into * span_pct + span_mv / 2) / span_mv;
            return low_pct + extra as u8;
        }
    }
    100
}

/// The resistor divider between the cell and the ADC pin.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Divider {
    /// Resistor from the cell to the ADC pin, ohms.
    pub top_ohms: u32,
    /// Resistor from the ADC pin to ground, ohms.
    pub bottom_ohms: u32,
}

impl Divider {
    /// Two equal resistors: the pin sees half the cell voltage (4.2 V -> 2.1 V, well inside the
    /// ESP32-C6 ADC's range at its highest attenuation).
    pub const HALF: Self = Self {
        top_ohms: 100_000,
        bottom_ohms: 100_000,
    };

    /// Cell millivolts for `adc_mv` millivolts at the pin (saturating at `u16::MAX`).
    pub fn cell_mv(&self, adc_mv: u16) -> u16 {
        let total = u64::from(self.top_ohms) + u64::from(self.bottom_ohms);
        let bottom = u64::from(self.bottom_ohms.max(1));
        let cell = (u64::from(adc_mv) * total + bottom / 2) / bottom;
        u16::try_from(cell).unwrap_or(u16::MAX)
    }
}

/// State of charge from the ADC reading at the divider's pin.
pub fn percent_from_adc_mv(adc_mv: u16, divider: Divider) -> u8 {
    percent_from_cell_mv(divider.cell_mv(adc_mv))
}

/// An exponential moving average of cell millivolts, one sample per wake; each new reading
/// moves the average a quarter of the way towards it. Small enough (4 bytes) to keep in the
/// ESP32's RTC memory across deep sleep.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Smoother {
    /// Average in 1/16 mV; 0 before the first sample.
    sixteenths: u32,
}

impl Smoother {
    /// A smoother with no reading yet.
    pub const fn new() -> Self {
        Self { sixteenths: 0 }
    }

    /// Adds a reading and returns the smoothed millivolts. The first reading is taken as is.
    pub fn update(&mut self, cell_mv: u16) -> u16 {
        let sample = u32::from(cell_mv) * 16;
        self.sixteenths = if self.sixteenths == 0 {
            sample
        } else {
            // avg += (sample - avg) / 4, rounded, without going negative.
            (self.sixteenths * 3 + sample + 2) / 4
        };
        self.millivolts()
    }

    /// The smoothed millivolts (0 before the first reading).
    pub fn millivolts(&self) -> u16 {
        ((self.sixteenths + 8) / 16) as u16
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_full_cell_is_100_and_anything_above_stays_100() {
        assert_eq!(percent_from_cell_mv(4200), 100);
        assert_eq!(percent_from_cell_mv(4350), 100);
        assert_eq!(percent_from_cell_mv(u16::MAX), 100);
    }

    #[test]
    fn an_empty_cell_is_0_and_anything_below_stays_0() {
        assert_eq!(percent_from_cell_mv(3270), 0);
        assert_eq!(percent_from_cell_mv(3000), 0);
        assert_eq!(percent_from_cell_mv(0), 0);
        assert_eq!(percent_from_cell_mv(3271), 0, "rounds down near empty");
    }

    #[test]
    fn every_point_of_the_curve_reads_its_own_percentage() {
        for (mv, pct) in DISCHARGE_CURVE {
            assert_eq!(percent_from_cell_mv(mv), pct, "{mv} mV");
        }
    }

    #[test]
    fn between_points_the_percentage_is_interpolated() {
        // 3.84 V is 50 %, 3.85 V 55 %.
        assert_eq!(percent_from_cell_mv(3842), 51);
        assert_eq!(percent_from_cell_mv(3845), 53);
        // 3.27 V is 0 %, 3.61 V 5 %: 3.44 V is half way.
        assert_eq!(percent_from_cell_mv(3440), 3);
    }

    #[test]
    fn the_percentage_never_falls_as_the_voltage_rises_and_stays_in_range() {
        let mut previous = 0;
        for mv in 0..=u16::MAX {
            let pct = percent_from_cell_mv(mv);
            assert!(pct <= 100, "{mv} mV -> {pct}");
            assert!(pct >= previous, "{mv} mV -> {pct} < {previous}");
            previous = pct;
        }
    }

    #[test]
    fn the_curve_is_ascending() {
        for pair in DISCHARGE_CURVE.windows(2) {
            assert!(pair[0].0 < pair[1].0 && pair[0].1 < pair[1].1, "{pair:?}");
        }
    }

    #[test]
    fn a_half_divider_doubles_the_pin_voltage() {
        assert_eq!(Divider::HALF.cell_mv(2100), 4200);
        assert_eq!(percent_from_adc_mv(2100, Divider::HALF), 100);
        assert_eq!(percent_from_adc_mv(1920, Divider::HALF), 50);
    }

    #[test]
    fn an_uneven_divider_scales_by_its_ratio() {
        let divider = Divider {
            top_ohms: 220_000,
            bottom_ohms: 100_000,
        };
        assert_eq!(divider.cell_mv(1000), 3200);
        assert_eq!(divider.cell_mv(u16::MAX), u16::MAX, "saturates");
    }

    #[test]
    fn the_first_reading_is_taken_as_is_and_later_ones_move_a_quarter_of_the_way() {
        let mut smoother = Smoother::new();
        assert_eq!(smoother.millivolts(), 0);
        assert_eq!(smoother.update(3800), 3800);
        assert_eq!(smoother.update(3400), 3700);
        assert_eq!(smoother.update(3700), 3700);
    }

    #[test]
    fn the_average_settles_on_a_steady_reading() {
        let mut smoother = Smoother::new();
        smoother.update(4200);
        for _ in 0..40 {
            smoother.update(3650);
        }
        assert_eq!(smoother.millivolts(), 3650);
    }
}
