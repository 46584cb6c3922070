//! One simulated mailbox: the real firmware core (`wake::run`, the A7670 driver, the SD queue on a
//! FAT volume) over emulated hardware: the A7670 emulator on an in-memory UART, a RAM SD card, a
//! camera that makes real JPEGs, optional WiFi, a battery that drains by the power meter.

use std::rc::Rc;

use embassy_futures::block_on;
use heapless::String;
use rand::{RngCore, SeedableRng};
use rand_chacha::ChaCha8Rng;
use smartbox_firmware::a7670::{self, A7670};
use smartbox_firmware::ir::{self, IrLine};
use smartbox_firmware::ota::OtaClient;
use smartbox_firmware::policy::Wake;
use smartbox_firmware::ports::{BatteryGauge, Entropy};
use smartbox_firmware::sd_queue::ram_disk::{RamDisk, format_fat16};
use smartbox_firmware::sd_queue::{QueueConfig, SdQueue};
use smartbox_firmware::wake::{self, Device, Identity, Ota, Report, Retained};
use smartbox_protocol::{EventRequest, MAX_PHOTOS};

use crate::board::{Board, PowerKey, SimClock, Uart};
use crate::camera::{CameraSpec, SimCamera};
use crate::energy::Currents;
use crate::modem::{Fault, Modem, ModemSpec, ModemStats};
use crate::net::Network;
use crate::ota::SimOtaFlash;
use crate::power::{Rail, State};
use crate::scene::{MailboxScenes, Truth};
use crate::wifi::{AccessPoint, SimWifi};

/// The ESP32-C6 waking from deep sleep: ROM, bootloader and start-up before the wake cycle's
/// first instruction (metered, and added to the firmware's `awake_ms` by [`Mailbox::wake`]).
pub const MCU_BOOT_MS: u64 = 200;
/// Size of the RAM SD card: the smallest FAT16 volume plus room (2.5 MB).
const CARD_BYTES: usize = 5_120 * 512;
/// Photo buffers: one `AT+HTTPDATA` is the largest photo the modem can send.
const PHOTO_BUFFER: usize = a7670::MAX_HTTPDATA;
/// The modem UART's speed, as the board crate runs it: the fastest rate of the A76XX AT manual's
/// `AT+IPREX` list (§10.2.4), within the ESP32-C6 UART's 5 Mbit/s (ESP32-C6 Series Datasheet,
/// "UART Controller").
pub const UART_BAUD: u32 = 3_686_400;

/// The SD card's queue type.
pub type RamSdQueue = SdQueue<RamDisk<Vec<u8>>>;
/// The firmware's modem driver over the emulator.
pub type Driver = A7670<Uart, PowerKey, SimClock>;

/// How one mailbox is built.
#[derive(Debug, Clone)]
pub struct MailboxSpec {
    /// Serial number.
    pub serial: std::string::String,
    /// The device secret from the factory CSV.
    pub secret: [u8; 32],
    /// The modem and its radio conditions.
    pub modem: ModemSpec,
    /// The camera.
    pub camera: CameraSpec,
    /// The customer's WiFi access point near the mailbox, if any.
    pub wifi: Option<AccessPoint>,
    /// Upload journal size on the SD card.
    pub journal_bytes: u32,
    /// Battery capacity.
    pub battery_mah: f64,
    /// The UART speed the firmware stores in the modem (`AT+IPREX`); the modem starts at its
    /// factory speed, [`crate::modem::Timing::uart_baud`].
    pub uart_baud: u32,
    /// Seeds the modem, camera and event ids.
    pub seed: u64,
    /// The firmware sends over the modem's socket service, one connection a wake (the
    /// default); `false` sends over its HTTP stack, a connection a request, as firmware before
    /// the socket did.
    pub use_socket: bool,
    /// How long the IR line stays high after mail arrives (the letter falling through the
    /// beam; [`IR_LETTER_RESTS`] for one that rests in it).
    pub ir_high_ms: u64,
    /// The CA certificate (PEM or DER) built into the firmware, which the modem verifies an
    /// `https` server against (the board's `SMARTBOX_CA_CERT`); without one the firmware
    /// refuses `https`.
    pub ca_cert: Option<Vec<u8>>,
}

/// [`MailboxSpec::ir_high_ms`] of a letter resting in the beam until the mail is taken.
pub const IR_LETTER_RESTS: u64 = u64::MAX;

/// The IR sensor's output: high until a simulated instant.
#[derive(Debug)]
struct SimIrLine {
    board: Board,
    high_until_ms: u64,
}

impl IrLine for SimIrLine {
    fn is_high(&mut self) -> bool {
        self.board.now_ms() < self.high_until_ms
    }
}

impl MailboxSpec {
    /// A mailbox with default hardware.
    pub fn new(serial: &str, secret: [u8; 32], seed: u64) -> Self {
        Self {
            serial: serial.to_owned(),
            secret,
            modem: ModemSpec::default(),
            camera: CameraSpec::TINY,
            wifi: None,
            journal_bytes: 512 * 1024,
            battery_mah: 3_000.0,
            uart_baud: UART_BAUD,
            seed,
            use_socket: true,
            ir_high_ms: 1_000,
            ca_cert: None,
        }
    }
}

/// `cert` as firmware holds it, in its image for as long as it runs: one copy per distinct
/// certificate for the whole process (a fleet shares it).
fn built_in(cert: &[u8]) -> &'static [u8] {
    static CERTS: std::sync::Mutex<Vec<&'static [u8]>> = std::sync::Mutex::new(Vec::new());
    let mut certs = CERTS
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    if let Some(known) = certs.iter().find(|known| **known == cert) {
        return known;
    }
    let leaked: &'static [u8] = Box::leak(cert.to_vec().into_boxed_slice());
    certs.push(leaked);
    leaked
}

/// The battery, drained by what the power meter recorded.
#[derive(Debug)]
pub struct SimBattery {
    capacity_mah: f64,
    used_mah: f64,
}

impl BatteryGauge for SimBattery {
    async fn percent(&mut self) -> u8 {
        (100.0 * (1.0 - self.used_mah / self.capacity_mah)).clamp(0.0, 100.0) as u8
    }

    async fn charging(&mut self) -> bool {
        false
    }
}

/// The hardware RNG.
#[derive(Debug)]
pub struct SimEntropy(ChaCha8Rng);

impl Entropy for SimEntropy {
    fn random_16(&mut self) -> [u8; 16] {
        let mut bytes = [0; 16];
        self.0.fill_bytes(&mut bytes);
        bytes
    }
}

/// The seed of a mailbox's event ids: its seed, serial and the run's epoch, so that two devices,
/// or two runs against the same server, never make the same ids (the server would refuse a
/// second device's id with 409, and answer a replayed run's ids with "already stored").
fn id_seed(spec: &MailboxSpec, epoch_unix_ms: i64) -> u64 {
    let serial = spec.serial.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    });
    spec.seed ^ serial ^ (epoch_unix_ms as u64).rotate_left(32)
}

/// One mailbox.
#[derive(Debug)]
pub struct Mailbox {
    serial: std::string::String,
    board: Board,
    /// The modem driver of the current wake (deep sleep loses it with the rest of the RAM).
    modem: Driver,
    settings: a7670::Settings,
    use_socket: bool,
    wifi: Option<SimWifi>,
    camera: SimCamera,
    queue: RamSdQueue,
    battery: SimBattery,
    entropy: SimEntropy,
    identity: Identity,
    /// What the firmware keeps in RTC memory across deep sleep.
    pub retained: Retained,
    photos: [Vec<u8>; MAX_PHOTOS as usize],
    currents: Currents,
    accounted_ms: u64,
    last_wake_mah: f64,
    last_wake_light_sleep_ms: u64,
    generated: Vec<EventRequest>,
    truths: Vec<Truth>,
    ota: Option<SimOta>,
    ir_high_ms: u64,
    ir: SimIrLine,
    ir_armed: bool,
}

/// Firmware updates: the flash and the release key compiled into the firmware.
#[derive(Debug)]
struct SimOta {
    flash: SimOtaFlash,
    release_key: [u8; 32],
    /// Versions whose image crashes on its first boot, before it can confirm itself.
    crashing: Vec<std::string::String>,
}

impl Mailbox {
    /// Builds the mailbox; its clock agrees with the server's (set at the factory).
    pub fn new(
        spec: &MailboxSpec,
        network: Rc<dyn Network>,
        base_url: &str,
        epoch_unix_ms: i64,
        currents: Currents,
    ) -> anyhow::Result<Self> {
        let modem = Modem::new(
            spec.modem.clone(),
            spec.seed,
            network.clone(),
            epoch_unix_ms,
        );
        let board = Board::new(modem, epoch_unix_ms);
        let base: String<96> = String::try_from(base_url.trim_end_matches('/'))
            .map_err(|_| anyhow::anyhow!("server URL longer than 96 bytes: {base_url}"))?;
        let settings = a7670::Settings {
            base_url: base,
            apn: String::try_from("iot.sim").unwrap_or_default(),
            uart_baud: spec.uart_baud,
            ca_cert: spec.ca_cert.as_deref().map(built_in),
        };
        let driver = A7670::new(
            board.uart(),
            board.power_key(),
            board.clock(),
            settings.clone(),
        );
        let wifi = spec
            .wifi
            .clone()
            .map(|ap| SimWifi::new(board.clone(), network.clone(), base_url, ap))
            .transpose()?;
        let mut image = vec![0; CARD_BYTES];
        format_fat16(&mut image).map_err(|e| anyhow::anyhow!("formatting the RAM SD card: {e}"))?;
        let queue = SdQueue::open(
            RamDisk::new(image),
            QueueConfig {
                journal_bytes: spec.journal_bytes,
            },
        )
        .map_err(|e| anyhow::anyhow!("opening the SD queue: {e}"))?;
        let identity = Identity {
            serial: String::try_from(spec.serial.as_str())
                .map_err(|_| anyhow::anyhow!("serial longer than 32 bytes: {}", spec.serial))?,
            secret: spec.secret,
            firmware_version: String::try_from("1.0.0-sim").unwrap_or_default(),
            hardware_revision: String::try_from(smartbox_protocol::DEFAULT_HARDWARE_REVISION)
                .unwrap_or_default(),
        };
        let retained = Retained {
            unix_offset_s: epoch_unix_ms.div_euclid(1_000),
            ..Retained::default()
        };
        let board_for_ir = board.clone();
        Ok(Self {
            serial: spec.serial.clone(),
            camera: SimCamera::new(board.clone(), spec.camera, spec.seed ^ 0x00ca_3e7a),
            board,
            modem: driver,
            settings,
            use_socket: spec.use_socket,
            wifi,
            queue,
            battery: SimBattery {
                capacity_mah: spec.battery_mah,
                used_mah: 0.0,
            },
            entropy: SimEntropy(ChaCha8Rng::seed_from_u64(id_seed(spec, epoch_unix_ms))),
            identity,
            retained,
            photos: std::array::from_fn(|_| vec![0; PHOTO_BUFFER]),
            currents,
            accounted_ms: 0,
            last_wake_mah: 0.0,
            last_wake_light_sleep_ms: 0,
            generated: Vec::new(),
            truths: Vec::new(),
            ota: None,
            ir_high_ms: spec.ir_high_ms,
            ir: SimIrLine {
                board: board_for_ir,
                high_until_ms: 0,
            },
            ir_armed: true,
        })
    }

    /// Gives the mailbox OTA slots of `slot_bytes` and the release key its firmware trusts: from
    /// now on its wakes take firmware updates (`wake::run_with_ota`).
    pub fn enable_ota(&mut self, release_key: [u8; 32], slot_bytes: usize) {
        self.ota = Some(SimOta {
            flash: SimOtaFlash::new(slot_bytes, &self.identity.firmware_version),
            release_key,
            crashing: Vec::new(),
        });
    }

    /// Makes the image of `version` crash on its first boot (a bad release): the watchdog
    /// restarts the board at once, and the bootloader rolls the unconfirmed image back.
    pub fn crash_on_boot(&mut self, version: &str) {
        if let Some(ota) = self.ota.as_mut() {
            ota.crashing.push(version.to_owned());
        }
    }

    /// A firmware update that replaces the CA certificate built in (the next wake's driver
    /// verifies against it, and stores it in the modem first).
    pub fn replace_ca_cert(&mut self, cert: &[u8]) {
        self.settings.ca_cert = Some(built_in(cert));
    }

    /// The OTA flash, when enabled.
    pub fn ota_flash(&self) -> Option<&SimOtaFlash> {
        self.ota.as_ref().map(|ota| &ota.flash)
    }

    /// The version of the running firmware (the heartbeat's `firmware_version`).
    pub fn firmware_version(&self) -> &str {
        &self.identity.firmware_version
    }

    /// The size of a JPEG this mailbox's camera makes at `quality` (a frame outside any wake).
    pub fn camera_frame_bytes(&mut self, quality: u8) -> anyhow::Result<usize> {
        Ok(self.camera.frame(quality)?.len())
    }

    /// The serial number.
    pub fn serial(&self) -> &str {
        &self.serial
    }

    /// The board (time, modem emulator, power meter).
    pub fn board(&self) -> &Board {
        &self.board
    }

    /// Arms a modem fault for the next power cycle (`None` disarms).
    pub fn arm(&mut self, fault: Option<Fault>) {
        self.board.with(|s| s.modem.arm(fault));
    }

    /// The WiFi, when configured.
    pub fn wifi_mut(&mut self) -> Option<&mut SimWifi> {
        self.wifi.as_mut()
    }

    /// Events waiting on the SD card.
    pub fn queue_len(&self) -> usize {
        self.queue.len()
    }

    /// Every event the firmware made (one per mail wake), oldest first.
    pub fn generated(&self) -> &[EventRequest] {
        &self.generated
    }

    /// What really happened in the box at each event of [`Mailbox::generated`], in the same order.
    pub fn truths(&self) -> &[Truth] {
        &self.truths
    }

    /// The box the camera looks into, to make something happen before the next mail wake.
    pub fn scenes_mut(&mut self) -> &mut MailboxScenes {
        self.camera.scenes_mut()
    }

    /// The emulated modem's record.
    pub fn modem_stats(&self) -> ModemStats {
        self.board.with(|s| s.modem.stats())
    }

    /// Charge drawn since the mailbox was made, in mAh (sleep included up to the last wake).
    pub fn used_mah(&self) -> f64 {
        self.battery.used_mah
    }

    /// Deep sleep until `at_ms`, then one wake of the real firmware.
    pub fn wake(&mut self, at_ms: u64, wake: Wake) -> Report {
        let at_ms = at_ms.max(self.board.now_ms());
        self.account(at_ms);
        let before = self.battery.used_mah;
        self.board
            .with(|s| s.meter.set(Rail::Mcu, at_ms, State::McuActive));
        self.board.advance_to(at_ms + MCU_BOOT_MS);
        // Deep sleep reset the chip: a new driver, the UART set up at the factory rate as the
        // board does; what the modem stores is only known through `Retained::modem`.
        self.board.with(|s| s.mcu_baud = a7670::FACTORY_BAUD);
        self.modem = A7670::new(
            self.board.uart(),
            self.board.power_key(),
            self.board.clock(),
            self.settings.clone(),
        );
        self.modem.use_socket(self.use_socket);
        // Each wake from deep sleep goes through the bootloader, which may start another slot.
        let mut ota_client = None;
        if let Some(ota) = self.ota.as_mut() {
            ota.flash.boot();
            if ota
                .crashing
                .iter()
                .any(|v| v == ota.flash.running_version())
            {
                ota.flash.boot();
            }
            let version = ota.flash.running_version().to_owned();
            self.identity.firmware_version = String::try_from(version.as_str()).unwrap_or_default();
            ota_client = OtaClient::boot(&mut ota.flash, &version, &ota.release_key)
                .map_err(|error| tracing::warn!(serial = %self.serial, %error, "ota client"))
                .ok();
        }
        let truth = (wake == Wake::Mail).then(|| {
            self.ir.high_until_ms = at_ms.saturating_add(self.ir_high_ms);
            self.camera.scenes_mut().pending_or_next()
        });
        let clock = self.board.clock();
        let [a, b, c] = &mut self.photos;
        let mut device = Device {
            cellular: &mut self.modem,
            wifi: self.wifi.as_mut(),
            camera: &mut self.camera,
            queue: &mut self.queue,
            battery: &mut self.battery,
            entropy: &mut self.entropy,
            clock: &clock,
            photos: [a.as_mut_slice(), b.as_mut_slice(), c.as_mut_slice()],
        };
        let mut report = match (self.ota.as_mut(), ota_client.as_mut()) {
            (Some(ota), Some(client)) => {
                let report = block_on(wake::run_with_ota(
                    &mut device,
                    &self.identity,
                    &mut self.retained,
                    wake,
                    Some(Ota {
                        client: &mut *client,
                        partition: &mut ota.flash,
                    }),
                ));
                if report.ota.reboot()
                    && let Some(version) = client.target_version()
                {
                    ota.flash.label_update(version);
                }
                report
            }
            _ => block_on(wake::run(
                &mut device,
                &self.identity,
                &mut self.retained,
                wake,
            )),
        };
        // The board's last step before deep sleep: may the IR line arm the next wake?
        self.ir_armed = block_on(ir::settled(&mut self.ir, &clock, &mut self.retained));
        let end = self.board.now_ms();
        // Awake from the wake, the MCU's boot included: the core counts from its first
        // instruction only.
        report.awake_ms = end - at_ms;
        self.last_wake_light_sleep_ms = self.board.with(|s| {
            s.meter.set(Rail::Mcu, end, State::Off);
            s.meter
                .segments(Rail::Mcu, at_ms, end)
                .iter()
                .filter(|(_, state)| *state == State::McuLightSleep)
                .map(|(ms, _)| ms)
                .sum()
        });
        if let Some(event) = report.event {
            self.generated.push(event);
            if let Some(truth) = truth {
                self.truths.push(truth);
            }
        }
        self.account(end);
        self.last_wake_mah = self.battery.used_mah - before;
        report
    }

    /// Whether the last wake armed the IR wake (its line was low, or fell within the settle
    /// time).
    pub fn ir_armed(&self) -> bool {
        self.ir_armed
    }

    /// Milliseconds of the last wake the MCU spent in light sleep.
    pub fn last_wake_light_sleep_ms(&self) -> u64 {
        self.last_wake_light_sleep_ms
    }

    /// Charge drawn by the last wake, MCU boot included, in mAh.
    pub fn last_wake_mah(&self) -> f64 {
        self.last_wake_mah
    }

    /// Deep sleep up to `until_ms`, added to the battery's record.
    pub fn settle(&mut self, until_ms: u64) {
        self.board.advance_to(until_ms);
        self.account(until_ms);
    }

    /// Adds the charge drawn up to `until_ms` to the battery and forgets the meter before it.
    fn account(&mut self, until_ms: u64) {
        let from = self.accounted_ms;
        let mah = self.board.with(|s| {
            let mah = self.currents.charge_mah(&s.meter, from, until_ms);
            s.meter.forget_before(until_ms);
            mah
        });
        self.battery.used_mah += mah;
        self.accounted_ms = until_ms;
    }
}
