//! A fleet of simulated mailboxes on one simulated timeline.
//!
//! Each mailbox runs the real firmware on its own emulated hardware. The fleet keeps a schedule
//! of every mailbox's next wake (its deep-sleep timer, or the next mail through the slot) and
//! jumps from one to the next; a wake runs to its end before the next one starts, so every run
//! with the same seed sends the server the same requests in the same order. With a speed, wake
//! starts are paced against the wall clock (`speed` simulated seconds per real second).

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use smartbox_firmware::policy::Wake;
use smartbox_firmware::wake::Report;

use crate::camera::CameraSpec;
use crate::energy::Currents;
use crate::ledger::Made;
use crate::mailbox::{Mailbox, MailboxSpec};
use crate::modem::{Fault, ModemSpec};
use crate::net::Network;
use crate::provision::DeviceKeys;

/// Shortest gap between two mails into the same box.
const MIN_MAIL_GAP_MS: u64 = 5 * 60_000;

/// How a fleet run goes.
#[derive(Debug, Clone)]
pub struct FleetConfig {
    /// The devices to play.
    pub devices: Vec<DeviceKeys>,
    /// The server, e.g. `http://127.0.0.1:8080`.
    pub base_url: String,
    /// Mail events per device before the run ends; `None` runs until stopped.
    pub mail_per_device: Option<u32>,
    /// Mean gap between two mails into one box.
    pub mail_interval_ms: u64,
    /// Probability that a wake's modem power cycle carries a fault.
    pub faults: f64,
    /// Simulated seconds per real second; `None` runs as fast as it can.
    pub speed: Option<f64>,
    /// Seeds everything random.
    pub seed: u64,
    /// The camera every box has.
    pub camera: CameraSpec,
    /// Simulated time after which the run ends anyway.
    pub horizon_ms: u64,
    /// Unix ms at simulated time 0.
    pub epoch_unix_ms: i64,
    /// Weakest and strongest cellular signal; each box draws one in between.
    pub signal_range_dbm: (i16, i16),
    /// The server runs on the wall clock (an external server): before each wake, the box's RTC
    /// is set to the wall clock, as it would be had the simulated time really passed. Without
    /// it, a run faster than real time leaves the boxes' clocks ahead of the server's, and each
    /// wake starts with a 401 and a resync from its `Date`.
    pub wall_clock: bool,
}

impl FleetConfig {
    /// A fleet of `devices` against `base_url` with defaults: mail twice a day, no faults, as
    /// fast as possible, tiny photos, at most 60 simulated days.
    pub fn new(devices: Vec<DeviceKeys>, base_url: &str, epoch_unix_ms: i64) -> Self {
        Self {
            devices,
            base_url: base_url.to_owned(),
            mail_per_device: Some(1),
            mail_interval_ms: 12 * 3_600_000,
            faults: 0.0,
            speed: None,
            seed: 1,
            camera: CameraSpec::TINY,
            horizon_ms: 60 * 86_400_000,
            epoch_unix_ms,
            signal_range_dbm: (-105, -65),
            wall_clock: false,
        }
    }
}

/// What one wake of one device did, for progress output.
#[derive(Debug)]
pub struct WakeLog<'a> {
    /// Which device.
    pub serial: &'a str,
    /// Simulated time the wake started.
    pub at_ms: u64,
    /// The fault its modem carried.
    pub fault: Option<Fault>,
    /// The firmware's report.
    pub report: &'a Report,
}

/// How a fleet run ended.
#[derive(Debug, Clone, Default)]
pub struct Outcome {
    /// Every event each device made.
    pub made: Vec<Made>,
    /// Simulated time at the end.
    pub sim_ms: u64,
    /// Wakes run.
    pub wakes: u64,
    /// Wakes whose modem carried a fault.
    pub faulty_wakes: u64,
    /// Whether every device made its mail events and emptied its SD queue.
    pub finished: bool,
    /// Events still on the devices' SD cards at the end.
    pub still_queued: u64,
    /// Requests the server answered 401 (clock resyncs).
    pub unauthorized: u64,
}

#[derive(Debug)]
struct Slot {
    mailbox: Mailbox,
    rng: ChaCha8Rng,
    next_timer_ms: u64,
    next_mail_ms: Option<u64>,
    mails: u32,
}

impl Slot {
    fn next_ms(&self) -> u64 {
        self.next_mail_ms
            .map_or(self.next_timer_ms, |m| m.min(self.next_timer_ms))
    }
}

/// The fleet.
#[derive(Debug)]
pub struct Fleet {
    config: FleetConfig,
    slots: Vec<Slot>,
    schedule: BinaryHeap<Reverse<(u64, usize)>>,
}

impl Fleet {
    /// Builds every mailbox; they power up staggered over the first minutes.
    pub fn new(config: FleetConfig, network: Rc<dyn Network>) -> anyhow::Result<Self> {
        let mut slots = Vec::with_capacity(config.devices.len());
        let mut schedule = BinaryHeap::new();
        for (index, keys) in config.devices.iter().enumerate() {
            let seed = config
                .seed
                .wrapping_mul(0x9e37_79b9_7f4a_7c15)
                .wrapping_add(index as u64);
            let mut rng = ChaCha8Rng::seed_from_u64(seed);
            let (weak, strong) = config.signal_range_dbm;
            let spec = MailboxSpec {
                modem: ModemSpec {
                    signal_dbm: rng.random_range(weak.min(strong)..=strong.max(weak)),
                    ..ModemSpec::default()
                },
                camera: config.camera,
                ..MailboxSpec::new(&keys.serial, keys.secret, seed)
            };
            let mailbox = Mailbox::new(
                &spec,
                network.clone(),
                &config.base_url,
                config.epoch_unix_ms,
                Currents::default(),
            )?;
            let power_up = rng.random_range(0..120_000);
            let first_mail = config
                .mail_per_device
                .is_none_or(|k| k > 0)
                .then(|| power_up + 60_000 + rng.random_range(0..config.mail_interval_ms.max(1)));
            let slot = Slot {
                mailbox,
                rng,
                next_timer_ms: power_up,
                next_mail_ms: first_mail,
                mails: 0,
            };
            schedule.push(Reverse((slot.next_ms(), index)));
            slots.push(slot);
        }
        Ok(Self {
            config,
            slots,
            schedule,
        })
    }

    /// The mailboxes.
    pub fn mailboxes(&self) -> impl Iterator<Item = &Mailbox> {
        self.slots.iter().map(|s| &s.mailbox)
    }

    fn done(&self) -> bool {
        let Some(k) = self.config.mail_per_device else {
            return false;
        };
        self.slots
            .iter()
            .all(|s| s.mails >= k && s.mailbox.queue_len() == 0)
    }

    /// Runs until every device made its mail events and emptied its SD card, the horizon is
    /// reached, or `stop` is set. `on_wake` sees every wake.
    pub fn run(&mut self, stop: &AtomicBool, on_wake: &mut dyn FnMut(&WakeLog<'_>)) -> Outcome {
        let started = Instant::now();
        let mut outcome = Outcome::default();
        while let Some(Reverse((at, index))) = self.schedule.pop() {
            if stop.load(Ordering::Relaxed) || at >= self.config.horizon_ms || self.done() {
                break;
            }
            if let Some(speed) = self.config.speed
                && !pace(started, at, speed, stop)
            {
                break;
            }
            let faults = self.config.faults;
            let interval = self.config.mail_interval_ms;
            let limit = self.config.mail_per_device;
            let wall_clock = self.config.wall_clock;
            let slot = &mut self.slots[index];
            let wake = if slot.next_mail_ms.is_some_and(|m| m <= slot.next_timer_ms) {
                Wake::Mail
            } else {
                Wake::Timer
            };
            if wall_clock {
                slot.mailbox.retained.unix_offset_s = wall_unix_s() - (at / 1_000) as i64;
            }
            let fault = Fault::maybe(&mut slot.rng, faults);
            slot.mailbox.arm(fault);
            let report = slot.mailbox.wake(at, wake);
            let end = slot.mailbox.board().now_ms();
            outcome.wakes += 1;
            outcome.faulty_wakes += u64::from(fault.is_some());
            on_wake(&WakeLog {
                serial: slot.mailbox.serial(),
                at_ms: at,
                fault,
                report: &report,
            });
            slot.next_timer_ms = end + report.sleep_ms;
            if wake == Wake::Mail {
                slot.mails += 1;
                let more = limit.is_none_or(|k| slot.mails < k);
                slot.next_mail_ms = more.then(|| {
                    let gap = exponential(&mut slot.rng, interval).max(MIN_MAIL_GAP_MS);
                    at + gap
                });
            }
            outcome.sim_ms = outcome.sim_ms.max(end);
            self.schedule.push(Reverse((slot.next_ms(), index)));
        }
        outcome.finished = self.done();
        outcome.still_queued = self
            .slots
            .iter()
            .map(|s| s.mailbox.queue_len() as u64)
            .sum();
        outcome.unauthorized = self
            .slots
            .iter()
            .map(|s| s.mailbox.modem_stats().unauthorized)
            .sum();
        outcome.made = self
            .slots
            .iter()
            .map(|s| Made {
                serial: s.mailbox.serial().to_owned(),
                events: s.mailbox.generated().iter().map(|e| e.event_id).collect(),
            })
            .collect();
        outcome
    }
}

fn wall_unix_s() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

/// An exponentially distributed gap with this mean.
fn exponential(rng: &mut ChaCha8Rng, mean_ms: u64) -> u64 {
    let u: f64 = rng.random_range(f64::EPSILON..1.0);
    (-u.ln() * mean_ms as f64) as u64
}

/// Waits until the wall clock reaches simulated `at_ms` at `speed`; false when stopped.
fn pace(started: Instant, at_ms: u64, speed: f64, stop: &AtomicBool) -> bool {
    let due = started + Duration::from_secs_f64(at_ms as f64 / 1_000.0 / speed.max(1e-6));
    loop {
        if stop.load(Ordering::Relaxed) {
            return false;
        }
        let now = Instant::now();
        if now >= due {
            return true;
        }
        std::thread::sleep((due - now).min(Duration::from_millis(200)));
    }
}
