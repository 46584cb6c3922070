//! The energy model: per-state currents from the datasheets, our firmware measured by running it
//! (the real `wake::run` on the emulated hardware, metered rail by rail), and a naive flow built
//! from the same currents and the same modem timing, side by side (DESIGN §9).
//!
//! Sources of the currents (typical values at 3.8 V VBAT / 3.3 V logic, 25 °C):
//! - SIMCom "A7670 Series Hardware Design" (V1.0x), chapter "Electrical Specifications",
//!   table "Current consumption": power-off leakage in the tens of µA, LTE idle (registered, no
//!   sleep mode because the UART is in use) ~18 mA, LTE-FDD data transfer from ~150 mA at low
//!   transmit power up to ~500 mA at maximum power (23 dBm). Boot and cell search are not
//!   tabulated; they are taken between idle and low-power transfer.
//! - Espressif "ESP32-C6 Series Datasheet" (v1.x), section "Current Consumption": HP CPU at
//!   160 MHz with peripheral clocks on ~38 mA (RF off); Light-sleep ~180 µA (CPU and digital
//!   peripherals clock-gated, RAM kept); Deep-sleep ~7 µA (RTC timer and LP memory on); WiFi RX
//!   ~78 mA and TX up to ~350 mA, ~120 mA averaged over an HTTP exchange.
//! - The SPI camera module (ArduCAM Mini 2MP class, OV2640 with FIFO): ~100 mA while capturing.
//! - The board's sleep current (regulator quiescent current, IR sensor, modem and SD leakage,
//!   the C6's deep sleep) is a parameter, [`Currents::board_sleep_ua`].

use smartbox_firmware::link::Path;
use smartbox_firmware::policy::Wake;

use crate::camera::CameraSpec;
use crate::mailbox::Mailbox;
use crate::modem::timing::{Timing, weakness};
use crate::power::{Meter, Rail, State};

/// Hours in a month, for battery-life figures (365.25 / 12 days).
const HOURS_PER_MONTH: f64 = 730.5;
const DAY_MS: u64 = 86_400_000;

/// Currents per state, in mA unless the name says µA.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Currents {
    /// Everything that draws while the board sleeps (see the module doc); default 50 µA.
    pub board_sleep_ua: f64,
    /// ESP32-C6 running at 160 MHz, peripherals clocked, RF off.
    pub mcu_active_ma: f64,
    /// ESP32-C6 in light sleep while the modem boots.
    pub mcu_light_sleep_ma: f64,
    /// A7670 from PWRKEY to UART ready.
    pub modem_booting_ma: f64,
    /// A7670 searching for a cell.
    pub modem_searching_ma: f64,
    /// A7670 registered and idle.
    pub modem_idle_ma: f64,
    /// A7670 in a data exchange at a strong signal (-75 dBm or better: low transmit power).
    pub modem_tx_strong_ma: f64,
    /// A7670 in a data exchange at the cell edge (-113 dBm: 23 dBm transmit power).
    pub modem_tx_weak_ma: f64,
    /// A7670 between `AT+CPOF` and `POWERED DOWN`.
    pub modem_powering_down_ma: f64,
    /// Camera module capturing.
    pub camera_ma: f64,
    /// ESP32-C6 WiFi radio, averaged over scan, join and exchange.
    pub wifi_ma: f64,
}

impl Default for Currents {
    fn default() -> Self {
        Self {
            board_sleep_ua: 50.0,
            mcu_active_ma: 38.0,
            mcu_light_sleep_ma: 0.18,
            modem_booting_ma: 60.0,
            modem_searching_ma: 50.0,
            modem_idle_ma: 18.0,
            modem_tx_strong_ma: 150.0,
            modem_tx_weak_ma: 500.0,
            modem_powering_down_ma: 18.0,
            camera_ma: 100.0,
            wifi_ma: 120.0,
        }
    }
}

impl Currents {
    /// The current of `state` (on top of the board's sleep floor).
    pub fn ma(&self, state: State) -> f64 {
        match state {
            State::Off => 0.0,
            State::McuActive => self.mcu_active_ma,
            State::McuLightSleep => self.mcu_light_sleep_ma,
            State::ModemBooting => self.modem_booting_ma,
            State::ModemSearching => self.modem_searching_ma,
            State::ModemIdle => self.modem_idle_ma,
            State::ModemTx { signal_dbm } => {
                let w = weakness(signal_dbm);
                self.modem_tx_strong_ma + (self.modem_tx_weak_ma - self.modem_tx_strong_ma) * w
            }
            State::ModemPoweringDown => self.modem_powering_down_ma,
            State::CameraCapture => self.camera_ma,
            State::WifiActive => self.wifi_ma,
        }
    }

    /// Charge drawn between `from_ms` and `to_ms` by what `meter` recorded, floor included.
    pub fn charge_mah(&self, meter: &Meter, from_ms: u64, to_ms: u64) -> f64 {
        if to_ms <= from_ms {
            return 0.0;
        }
        let mut ma_ms = self.board_sleep_ua / 1_000.0 * (to_ms - from_ms) as f64;
        for rail in [Rail::Mcu, Rail::Modem, Rail::Camera, Rail::Wifi] {
            for (ms, state) in meter.segments(rail, from_ms, to_ms) {
                ma_ms += self.ma(state) * ms as f64;
            }
        }
        ma_ms / 3_600_000.0
    }
}

/// What the energy run simulates.
#[derive(Debug, Clone, PartialEq)]
pub struct Scenario {
    /// Simulated days.
    pub days: u32,
    /// When mail arrives, seconds after midnight, every day (two a day by default).
    pub mail_at_s: Vec<u64>,
    /// Battery capacity for the projection.
    pub battery_mah: f64,
}

impl Default for Scenario {
    fn default() -> Self {
        Self {
            days: 7,
            mail_at_s: vec![9 * 3_600 + 1_234, 16 * 3_600 + 2_345],
            battery_mah: 3_000.0,
        }
    }
}

/// Figures of one flow.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Figures {
    /// Awake seconds per mail event (from the wake to deep sleep).
    pub awake_per_mail_s: f64,
    /// Of those, seconds the MCU ran (not in light sleep).
    pub mcu_active_per_mail_s: f64,
    /// Charge per mail event.
    pub mah_per_mail: f64,
    /// Awake seconds per check-in (a timer wake that connects).
    pub awake_per_checkin_s: f64,
    /// Charge per check-in.
    pub mah_per_checkin: f64,
    /// Check-ins a day (besides mail wakes).
    pub checkins_per_day: f64,
    /// Charge per day, everything included.
    pub mah_per_day: f64,
    /// Months a battery of the scenario's capacity lasts.
    pub battery_months: f64,
}

/// What the measured run saw besides the figures.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct RunCounts {
    /// Mail wakes.
    pub mail_wakes: u32,
    /// Events the firmware says the server stored.
    pub delivered: u32,
    /// Timer wakes that connected.
    pub checkins: u32,
    /// Timer wakes that stayed local.
    pub local_wakes: u32,
}

/// Runs the real firmware on `mailbox` through `scenario` and measures it. The mailbox should
/// have the product's camera ([`CameraSpec::VGA`]) and a working server behind its network.
pub fn measure_firmware(mailbox: &mut Mailbox, scenario: &Scenario) -> (Figures, RunCounts) {
    let horizon = u64::from(scenario.days) * DAY_MS;
    let mut mails: Vec<u64> = (0..u64::from(scenario.days))
        .flat_map(|day| {
            scenario
                .mail_at_s
                .iter()
                .map(move |s| day * DAY_MS + s * 1_000)
        })
        .collect();
    mails.sort_unstable();
    let mut mails = mails.into_iter().peekable();
    let mut counts = RunCounts::default();
    let (mut mail_s, mut mail_mah, mut checkin_s, mut checkin_mah) = (0.0, 0.0, 0.0, 0.0);
    let mut mail_dozing_s = 0.0;
    let mut next_timer = 0;
    loop {
        let (at, wake) = match mails.peek() {
            Some(&mail) if mail <= next_timer => {
                mails.next();
                (mail, Wake::Mail)
            }
            _ => (next_timer, Wake::Timer),
        };
        if at >= horizon {
            break;
        }
        let report = mailbox.wake(at, wake);
        let mah = mailbox.last_wake_mah();
        let awake_s = report.awake_ms as f64 / 1_000.0;
        match wake {
            Wake::Mail => {
                counts.mail_wakes += 1;
                mail_s += awake_s;
                mail_dozing_s += mailbox.last_wake_light_sleep_ms() as f64 / 1_000.0;
                mail_mah += mah;
            }
            Wake::Timer if report.choice.is_some() => {
                counts.checkins += 1;
                checkin_s += awake_s;
                checkin_mah += mah;
            }
            Wake::Timer => counts.local_wakes += 1,
        }
        counts.delivered += report.delivered;
        debug_assert!(report.choice.is_none_or(|c| c.path != Path::Offline));
        next_timer = mailbox.board().now_ms() + report.sleep_ms;
    }
    mailbox.settle(horizon);
    let days = f64::from(scenario.days);
    let per_day = mailbox.used_mah() / days;
    let mails = f64::from(counts.mail_wakes.max(1));
    let checkins = f64::from(counts.checkins.max(1));
    let figures = Figures {
        awake_per_mail_s: mail_s / mails,
        mcu_active_per_mail_s: (mail_s - mail_dozing_s) / mails,
        mah_per_mail: mail_mah / mails,
        awake_per_checkin_s: checkin_s / checkins,
        mah_per_checkin: checkin_mah / checkins,
        checkins_per_day: f64::from(counts.checkins) / days,
        mah_per_day: per_day,
        battery_months: months(scenario.battery_mah, per_day),
    };
    (figures, counts)
}

fn months(battery_mah: f64, per_day: f64) -> f64 {
    battery_mah / (per_day / 24.0) / HOURS_PER_MONTH
}

/// The naive flow's fixed delays: what firmware written from the AT manual's examples does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NaiveDelays {
    /// Camera power-up and sensor init before the first frame.
    pub camera_init_ms: u64,
    /// Pause after each of the three frames.
    pub between_photos_ms: u64,
    /// PWRKEY held.
    pub pwrkey_ms: u64,
    /// Fixed wait after PWRKEY instead of polling `AT`.
    pub boot_wait_ms: u64,
    /// Fixed pause after every AT command.
    pub per_command_ms: u64,
    /// Fixed wait for registration.
    pub registration_wait_ms: u64,
    /// Fixed wait for `+HTTPACTION` instead of reading the URC.
    pub action_wait_ms: u64,
    /// Fixed wait after `AT+CPOF`.
    pub power_off_wait_ms: u64,
    /// Check-in period: the modem every 30 minutes.
    pub checkin_every_ms: u64,
}

impl Default for NaiveDelays {
    fn default() -> Self {
        Self {
            camera_init_ms: 1_000,
            between_photos_ms: 1_000,
            pwrkey_ms: 1_000,
            boot_wait_ms: 15_000,
            per_command_ms: 1_000,
            registration_wait_ms: 5_000,
            action_wait_ms: 10_000,
            power_off_wait_ms: 10_000,
            checkin_every_ms: 30 * 60 * 1_000,
        }
    }
}

/// A timeline of `(milliseconds, state per rail)` pieces, for the analytic naive flow.
#[derive(Debug, Default)]
struct Timeline {
    meter: Meter,
    now: u64,
}

impl Timeline {
    fn set(&mut self, rail: Rail, state: State) {
        self.meter.set(rail, self.now, state);
    }

    fn wait(&mut self, ms: u64) {
        self.now += ms;
    }
}

/// The naive flow of one wake: camera then modem in sequence, fixed delays everywhere, one HTTP
/// exchange per body in `bodies` (photos and JSON), then a fixed power-off wait.
fn naive_wake(
    delays: &NaiveDelays,
    timing: &Timing,
    camera: Option<&CameraSpec>,
    signal_dbm: i16,
    bodies: &[usize],
) -> Timeline {
    let mut t = Timeline::default();
    t.set(Rail::Mcu, State::McuActive);
    t.wait(crate::mailbox::MCU_BOOT_MS);
    if let Some(camera) = camera {
        t.set(Rail::Camera, State::CameraCapture);
        t.wait(delays.camera_init_ms);
        for _ in 0..3 {
            t.wait(camera.capture_ms + delays.between_photos_ms);
        }
        t.set(Rail::Camera, State::Off);
    }
    t.wait(delays.pwrkey_ms);
    t.set(Rail::Modem, State::ModemBooting);
    t.wait(timing.boot_ms);
    t.set(Rail::Modem, State::ModemSearching);
    t.wait(delays.boot_wait_ms.saturating_sub(timing.boot_ms));
    t.set(Rail::Modem, State::ModemIdle);
    // AT, ATE0, CPIN?, CGDCONT, CEREG?, CSQ
    t.wait(6 * delays.per_command_ms + delays.registration_wait_ms);
    for (i, &body) in bodies.iter().enumerate() {
        // HTTPINIT, HTTPPARA URL, CONTENT, USERDATA
        t.wait(4 * delays.per_command_ms);
        // HTTPDATA, the body over the UART, then a pause
        t.wait(timing.uart_ms(body) + delays.per_command_ms);
        let on_air = timing.exchange_ms(signal_dbm, i == 0, false, body + 300, 400);
        t.set(Rail::Modem, State::ModemTx { signal_dbm });
        t.wait(on_air);
        t.set(Rail::Modem, State::ModemIdle);
        t.wait(delays.action_wait_ms.saturating_sub(on_air));
        // HTTPREAD, HTTPTERM
        t.wait(2 * delays.per_command_ms);
    }
    t.set(Rail::Modem, State::ModemPoweringDown);
    t.wait(timing.power_down_ms);
    t.set(Rail::Modem, State::Off);
    t.wait(
        delays
            .power_off_wait_ms
            .saturating_sub(timing.power_down_ms),
    );
    t.set(Rail::Mcu, State::Off);
    t
}

/// The naive flow's figures for the same hardware, photo size and scenario.
pub fn naive_figures(
    currents: &Currents,
    timing: &Timing,
    camera: &CameraSpec,
    photo_bytes: usize,
    signal_dbm: i16,
    scenario: &Scenario,
    delays: &NaiveDelays,
) -> Figures {
    const JSON: usize = 300;
    let mail = naive_wake(
        delays,
        timing,
        Some(camera),
        signal_dbm,
        &[JSON, photo_bytes, photo_bytes, photo_bytes, JSON],
    );
    let checkin = naive_wake(delays, timing, None, signal_dbm, &[JSON]);
    let mah_of = |t: &Timeline| currents.charge_mah(&t.meter, 0, t.now);
    let mails_per_day = scenario.mail_at_s.len() as f64;
    let checkins_per_day = DAY_MS as f64 / delays.checkin_every_ms as f64;
    let awake_ms = mail.now as f64 * mails_per_day + checkin.now as f64 * checkins_per_day;
    let asleep_ms = (DAY_MS as f64 - awake_ms).max(0.0);
    let per_day = mah_of(&mail) * mails_per_day
        + mah_of(&checkin) * checkins_per_day
        + currents.board_sleep_ua / 1_000.0 * asleep_ms / 3_600_000.0;
    Figures {
        awake_per_mail_s: mail.now as f64 / 1_000.0,
        mcu_active_per_mail_s: mail.now as f64 / 1_000.0,
        mah_per_mail: mah_of(&mail),
        awake_per_checkin_s: checkin.now as f64 / 1_000.0,
        mah_per_checkin: mah_of(&checkin),
        checkins_per_day,
        mah_per_day: per_day,
        battery_months: months(scenario.battery_mah, per_day),
    }
}

/// DESIGN §9's device goals.
pub mod goals {
    /// Awake seconds per mail event, at most.
    pub const AWAKE_PER_MAIL_S: f64 = 20.0;
    /// Battery life on 3,000 mAh at 2 mail events a day, at least.
    pub const BATTERY_MONTHS: f64 = 12.0;
    /// Battery life relative to the naive flow, at least.
    pub const VS_NAIVE: f64 = 3.0;
}

/// The side-by-side table `smartbox sim --energy` prints.
pub fn report(
    ours: &Figures,
    naive: &Figures,
    counts: &RunCounts,
    assumptions: &[String],
) -> String {
    use std::fmt::Write as _;
    let mut out = String::new();
    let verdict = |ok: bool| if ok { "met" } else { "MISSED" };
    let _ = writeln!(
        out,
        "Energy model (DESIGN §9), 3,000 mAh cell, 2 mail events a day"
    );
    for line in assumptions {
        let _ = writeln!(out, "  {line}");
    }
    let _ = writeln!(
        out,
        "  measured: {} mail wakes ({} events delivered), {} check-ins, {} local timer wakes",
        counts.mail_wakes, counts.delivered, counts.checkins, counts.local_wakes
    );
    let _ = writeln!(out);
    let _ = writeln!(
        out,
        "{:<34} {:>12} {:>12}   goal",
        "", "our firmware", "naive flow"
    );
    let rows: [(&str, f64, f64, String); 8] = [
        (
            "awake s per mail event",
            ours.awake_per_mail_s,
            naive.awake_per_mail_s,
            format!(
                "<= {:.0} s: {}",
                goals::AWAKE_PER_MAIL_S,
                verdict(ours.awake_per_mail_s <= goals::AWAKE_PER_MAIL_S)
            ),
        ),
        (
            "  of which MCU running (not dozing)",
            ours.mcu_active_per_mail_s,
            naive.mcu_active_per_mail_s,
            String::new(),
        ),
        (
            "mAh per mail event",
            ours.mah_per_mail,
            naive.mah_per_mail,
            String::new(),
        ),
        (
            "awake s per check-in",
            ours.awake_per_checkin_s,
            naive.awake_per_checkin_s,
            String::new(),
        ),
        (
            "mAh per check-in",
            ours.mah_per_checkin,
            naive.mah_per_checkin,
            String::new(),
        ),
        (
            "check-ins per day",
            ours.checkins_per_day,
            naive.checkins_per_day,
            String::new(),
        ),
        (
            "mAh per day",
            ours.mah_per_day,
            naive.mah_per_day,
            String::new(),
        ),
        (
            "battery life, months",
            ours.battery_months,
            naive.battery_months,
            format!(
                ">= {:.0} months: {}",
                goals::BATTERY_MONTHS,
                verdict(ours.battery_months >= goals::BATTERY_MONTHS)
            ),
        ),
    ];
    for (name, a, b, goal) in rows {
        let _ = writeln!(out, "{name:<34} {a:>12.2} {b:>12.2}   {goal}");
    }
    let ratio = ours.battery_months / naive.battery_months;
    let _ = writeln!(
        out,
        "{:<34} {:>12.1}x {:>11}   >= {:.0}x: {}",
        "battery life vs naive",
        ratio,
        "",
        goals::VS_NAIVE,
        verdict(ratio >= goals::VS_NAIVE)
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn charge_integrates_each_rail_over_the_floor() {
        let currents = Currents::default();
        let mut meter = Meter::default();
        meter.set(Rail::Mcu, 0, State::McuActive);
        meter.set(Rail::Mcu, 3_600_000, State::Off);
        let mah = currents.charge_mah(&meter, 0, 7_200_000);
        // 38 mA for an hour plus 50 µA for two.
        assert!((mah - (38.0 + 0.1)).abs() < 1e-9, "{mah}");
    }

    #[test]
    fn light_sleep_is_charged_at_its_own_current() {
        let currents = Currents::default();
        let mut meter = Meter::default();
        meter.set(Rail::Mcu, 0, State::McuLightSleep);
        meter.set(Rail::Mcu, 3_600_000, State::Off);
        let mah = currents.charge_mah(&meter, 0, 3_600_000);
        assert!((mah - (0.18 + 0.05)).abs() < 1e-9, "{mah}");
    }

    #[test]
    fn transmit_current_grows_toward_the_cell_edge() {
        let c = Currents::default();
        let at = |dbm| c.ma(State::ModemTx { signal_dbm: dbm });
        assert_eq!(at(-60), c.modem_tx_strong_ma);
        assert_eq!(at(-113), c.modem_tx_weak_ma);
        assert!(at(-100) > at(-90));
    }

    #[test]
    fn the_naive_flow_checks_in_every_half_hour_with_fixed_delays() {
        let naive = naive_figures(
            &Currents::default(),
            &Timing::default(),
            &CameraSpec::VGA,
            30_000,
            -85,
            &Scenario::default(),
            &NaiveDelays::default(),
        );
        assert_eq!(naive.checkins_per_day, 48.0);
        // Boot wait, six commands, registration wait, one exchange, power-off wait.
        assert!(naive.awake_per_checkin_s > 45.0, "{naive:?}");
        assert!(naive.awake_per_mail_s > naive.awake_per_checkin_s + 50.0);
        assert!(naive.battery_months < 6.0, "{naive:?}");
    }
}
