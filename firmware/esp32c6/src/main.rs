//! smartbox-esp32c6: the mailbox firmware for the ESP32-C6 board.
//!
//! This crate is only an adapter: every decision of a wake (photos, link choice, uploads, SD
//! queue, heartbeat, back-off) is the firmware core's `wake::run`; this file wires the board's
//! hardware to the core's traits, runs one wake, and puts the chip into deep sleep. Every boot
//! is one wake: a deep-sleep wake resets the chip, and what must survive lives in RTC memory
//! ([`retained`]).
//!
//! Pin map (DESIGN §8; the README has the wiring notes):
//!
//! | GPIO | function |
//! |---|---|
//! | 0 | battery: ADC1 channel 0 through a 1 MΩ / 1 MΩ divider |
//! | 1 | charger status (`CHRG`, open drain, low = charging), internal pull-up |
//! | 2 | IR sensor output (LP GPIO 2), high = something in the slot; deep-sleep wake |
//! | 4 | A7670 PWRKEY (through an NPN: high = key pressed; 10 kΩ pull-down keeps it released in deep sleep) |
//! | 15 | microSD chip select |
//! | 16 | UART1 RX <- A7670 TXD |
//! | 17 | UART1 TX -> A7670 RXD |
//! | 18 | SPI2 MOSI (microSD and camera) |
//! | 19 | SPI2 SCK |
//! | 20 | SPI2 MISO |
//! | 21 | camera (Arducam Mega) chip select |
//! | 22 | peripheral rail enable: load switch feeding camera and microSD, high = on (pull-down: off in deep sleep) |
#![no_std]
#![no_main]
#![deny(unsafe_code)]

mod battery;
mod camera;
mod clock;
mod entropy;
mod ota_flash;
mod provision;
mod queue;
mod retained;
mod sleep;
mod wifi;

use core::cell::RefCell;

use embassy_executor::Spawner;
use embedded_hal::spi::SpiBus;
use embedded_hal_bus::spi::RefCellDevice;
use embedded_sdmmc::SdCard;
use esp_backtrace as _;
use esp_bootloader_esp_idf::partitions::FlashStorage;
use esp_hal::Async;
use esp_hal::delay::Delay;
use esp_hal::gpio::{Input, InputConfig, Level, Output, OutputConfig, Pull};
use esp_hal::rtc_cntl::sleep::LowPower;
use esp_hal::rtc_cntl::{Rtc, WakeupSource, wakeup_cause};
use esp_hal::spi::Mode;
use esp_hal::spi::master::{Config as SpiConfig, Spi};
use esp_hal::time::Rate;
use esp_hal::timer::timg::TimerGroup;
use esp_hal::uart::{Config as UartConfig, Uart};
use esp_println::println;
use heapless::String;
use smartbox_firmware::a7670::{A7670, FACTORY_BAUD, WithBaud};
use smartbox_firmware::clock::Clock;
use smartbox_firmware::ir;
use smartbox_firmware::ota::{OtaClient, OtaPartition};
use smartbox_firmware::policy::Wake;
use smartbox_firmware::sd_queue::{QueueConfig, SdQueue};
use smartbox_firmware::wake::{self, Device, Identity, Ota};
use static_cell::ConstStaticCell;

use crate::camera::ArducamMega;
use crate::clock::RtcClock;
use crate::entropy::EntropyPool;
use crate::ota_flash::OtaFlash;
use crate::queue::BoardQueue;
use crate::retained::BoardState;
use crate::wifi::BoardWifi;

esp_bootloader_esp_idf::esp_app_desc!();

/// The version reported in heartbeats; also the app descriptor's version.
const FIRMWARE_VERSION: &str = env!("CARGO_PKG_VERSION");
/// Room for one JPEG. A VGA frame at the Mega's high quality is 30-70 KB; a larger one is taken
/// again at a lower quality. Three of these are most of the chip's 512 KB of SRAM; the rest
/// holds the WiFi driver's heap, the network stack and the TLS records (80 KB rather than 96 KB
/// since WiFi came in).
const PHOTO_BYTES: usize = 80 * 1024;
/// A wake that has not reached deep sleep after this is reset by the RTC watchdog.
const WATCHDOG_S: u64 = 15 * 60;
/// Wakes an updated image may run without a successful check-in before it is rolled back.
const OTA_MAX_UNCONFIRMED_WAKES: u8 = 6;
/// Sleep of a device without a provisioning record (it cannot talk to the server anyway).
const UNPROVISIONED_SLEEP_MS: u64 = 24 * 3_600 * 1_000;
/// The modem's UART speed: the driver stores it in the modem with `AT+IPREX` on the first boot
/// that answers at the factory 115,200, so the photos cross the UART 32 times faster. It is the
/// fastest rate of the A76XX AT manual's list (V1.09 §10.2.4), within the 5 Mbit/s of the C6's
/// UART (ESP32-C6 Series Datasheet, "UART Controller"); a modem that refuses it gets 921,600
/// (`a7670::FALLBACK_BAUD`), remembered in RTC memory.
const MODEM_BAUD: u32 = 3_686_400;
/// SPI clock while the SD card initialises (the card's SPI mode allows at most 400 kHz).
const SD_INIT_KHZ: u32 = 400;
/// SPI clock afterwards: the Arducam Mega's maximum, shared by both devices on the bus.
const SPI_MHZ: u32 = 8;
/// Settling time of the peripheral rail before the SD card is clocked.
const RAIL_SETTLE_MS: u64 = 10;

static PHOTOS: ConstStaticCell<[[u8; PHOTO_BYTES]; 3]> =
    ConstStaticCell::new([[0; PHOTO_BYTES]; 3]);

#[esp_rtos::main]
async fn main(spawner: Spawner) -> ! {
    let p = esp_hal::init(esp_hal::Config::default());
    // The WiFi driver's heap (esp-radio allocates its buffers when the radio starts): the RAM the
    // second-stage bootloader used, free once the app runs.
    esp_alloc::heap_allocator!(#[esp_hal::ram(reclaimed)] size: 64 * 1024);
    esp_alloc::heap_allocator!(size: 16 * 1024);
    let rtc = Rtc::new(p.RTC_TIMER);
    // The ROM's boot log goes out on GPIO 16, the modem's TX line: keep it quiet after the
    // first boot.
    rtc.disable_rom_message_printing();
    let mut clock = RtcClock::new(rtc, LowPower::new(p.LPWR));
    clock.arm_watchdog(WATCHDOG_S);
    let timg0 = TimerGroup::new(p.TIMG0);
    esp_rtos::start(timg0.timer0, p.FROM_CPU_INTR0);

    // The camera and the SD card get power first: the camera boots while the rest is set up.
    let mut rail = Output::new(p.GPIO22, Level::High, OutputConfig::default());
    let ir = Input::new(p.GPIO2, InputConfig::default().with_pull(Pull::Down));
    let wake = wake_reason(&ir);
    let (mut retained, mut board) = retained::load().unwrap_or_default();
    board.wakes = board.wakes.wrapping_add(1);
    println!("wake {:?} #{} at {} ms", wake, board.wakes, clock.now_ms());

    let charger = Input::new(p.GPIO1, InputConfig::default().with_pull(Pull::Up));

    let mut flash = FlashStorage::new(p.FLASH);
    let provision = match provision::load(&mut flash) {
        Ok(provision) => provision,
        Err(error) => {
            println!("not provisioned ({:?}): sleeping", error);
            rail.set_low();
            retained::store(&retained, &board);
            clock.disarm_watchdog();
            sleep::deep_sleep(clock.into_low_power(), ir, UNPROVISIONED_SLEEP_MS, false);
        }
    };
    let wifi_credentials = wifi::load_credentials(&mut flash);
    let mut ota = match OtaFlash::new(flash) {
        Ok(ota) => Some(ota),
        Err(error) => {
            println!("ota partitions: {:?}", error);
            None
        }
    };
    let mut ota_client = ota.as_mut().and_then(start_ota_client);
    if let Some(ota) = ota.as_mut() {
        guard_unconfirmed_image(ota, &mut board);
    }

    let mut adc1 = p.ADC1;
    let salt = clock.now_ms() ^ (u64::from(board.wakes) << 40);
    let mut entropy = EntropyPool::draw(p.RNG, adc1.reborrow(), salt);
    // Before the modem draws anything: the discharge curve is a rest-voltage curve.
    let mut battery = battery::measure(adc1, p.GPIO0, &charger, board.battery_mv).await;
    board.battery_mv = battery.cell_mv;

    let uart = Uart::new(p.UART1, UartConfig::default().with_baudrate(FACTORY_BAUD))
        .expect("UART1 accepts 115200 8N1")
        .with_rx(p.GPIO16)
        .with_tx(p.GPIO17)
        .into_async();
    // The driver switches speed with the modem (`AT+IPREX`); a rate the UART cannot make is
    // refused here, and the driver then falls back to the factory rate it still answers at.
    let uart = WithBaud::new(uart, |uart: &mut Uart<'_, Async>, baud| {
        let _ = uart.apply_config(&UartConfig::default().with_baudrate(baud));
    });
    let pwrkey = Output::new(p.GPIO4, Level::Low, OutputConfig::default());
    let mut modem = A7670::new(uart, pwrkey, &clock, provision.modem_settings(MODEM_BAUD));

    let mut spi = Spi::new(
        p.SPI2,
        SpiConfig::default()
            .with_frequency(Rate::from_khz(SD_INIT_KHZ))
            .with_mode(Mode::_0),
    )
    .expect("SPI2 accepts 400 kHz mode 0")
    .with_sck(p.GPIO19)
    .with_mosi(p.GPIO18)
    .with_miso(p.GPIO20);
    let sd_cs = Output::new(p.GPIO15, Level::High, OutputConfig::default());
    let camera_cs = Output::new(p.GPIO21, Level::High, OutputConfig::default());
    clock.sleep_ms(RAIL_SETTLE_MS).await;
    // At least 74 clocks with no chip selected put the card into SPI mode.
    let _ = SpiBus::write(&mut spi, &[0xff; 10]);
    let bus = RefCell::new(spi);
    let Ok(sd_device) = RefCellDevice::new(&bus, sd_cs, Delay::new());
    let card = SdCard::new(sd_device, Delay::new());
    // Initialise the card at 400 kHz, then run the bus at full speed (making the journal on a
    // new card writes tens of MB).
    let card_seen = card.num_bytes();
    let fast = SpiConfig::default()
        .with_frequency(Rate::from_mhz(SPI_MHZ))
        .with_mode(Mode::_0);
    if bus.borrow_mut().apply_config(&fast).is_err() {
        println!("spi: {} MHz refused, staying at 400 kHz", SPI_MHZ);
    }
    let mut queue = match card_seen.map(|_| SdQueue::open(card, QueueConfig::default())) {
        Ok(Ok(queue)) => BoardQueue::Sd(queue),
        Ok(Err(error)) => {
            println!("sd queue: {}", error);
            BoardQueue::Missing
        }
        Err(error) => {
            println!("sd card: {:?}", error);
            BoardQueue::Missing
        }
    };
    let Ok(camera_device) = RefCellDevice::new(&bus, camera_cs, Delay::new());
    let mut camera = ArducamMega::new(camera_device, &clock);

    let identity = Identity {
        serial: provision.serial.clone(),
        secret: provision.secret,
        firmware_version: String::try_from(FIRMWARE_VERSION).unwrap_or_default(),
        hardware_revision: String::try_from(smartbox_protocol::DEFAULT_HARDWARE_REVISION)
            .unwrap_or_default(),
    };
    let mut board_wifi = BoardWifi::new(
        spawner,
        p.WIFI,
        &provision.base_url,
        wifi_credentials,
        salt.rotate_left(17),
    );
    let [first, second, third] = PHOTOS.take();
    let mut device = Device {
        cellular: &mut modem,
        wifi: Some(&mut board_wifi),
        camera: &mut camera,
        queue: &mut queue,
        battery: &mut battery,
        entropy: &mut entropy,
        clock: &clock,
        photos: [&mut first[..], &mut second[..], &mut third[..]],
    };
    // With OTA partitions and a release key, the core also confirms, downloads, verifies,
    // switches and reports firmware updates.
    let report = match (ota.as_mut(), ota_client.as_mut()) {
        (Some(partition), Some(client)) => {
            let ota = Some(Ota { client, partition });
            wake::run_with_ota(&mut device, &identity, &mut retained, wake, ota).await
        }
        _ => wake::run(&mut device, &identity, &mut retained, wake).await,
    };
    println!("{:?}", report);

    // The heartbeat brought WiFi credentials: into flash now that the wake is done with it (a
    // device that cannot keep them reports the old version, and the server sends them again).
    if let Some((version, credentials)) = board_wifi.unsaved() {
        match ota.as_mut() {
            Some(ota) => match wifi::save_credentials(ota.storage(), *version, credentials) {
                Ok(()) => println!("wifi credentials {} stored", version),
                Err(error) => println!("wifi credentials: {:?}", error),
            },
            None => println!("wifi credentials: no flash partitions to keep them in"),
        }
    }
    if let (Some(ota), true) = (ota.as_mut(), report.service.is_some()) {
        confirm_image(ota, ota_client.as_mut(), &mut board);
    }
    if let (Some(offer), None) = (&retained.firmware_offer, ota_client.as_ref()) {
        println!(
            "firmware {} offered; this build cannot update (no OTA partitions or release key)",
            offer.version
        );
    }

    drop(queue);
    drop(modem);
    rail.set_low();
    let ir_wake = ir::settled(&mut sleep::IrSensor(&ir), &clock, &mut retained).await;
    if !ir_wake {
        println!("ir line stays high: timer wake only");
    }
    retained::store(&retained, &board);
    clock.disarm_watchdog();
    if report.ota.reboot() {
        // A verified image is set to boot: start it now; its first wake checks in and
        // confirms it (or the next boot rolls it back).
        println!("ota: restarting into the new image");
        esp_hal::system::software_reset();
    }
    sleep::deep_sleep(clock.into_low_power(), ir, report.sleep_ms, ir_wake)
}

/// Mail when the IR line ended the sleep; timer otherwise, including a cold boot (whose first
/// check-in the core makes at once, having no check-in time retained).
fn wake_reason(ir: &Input<'_>) -> Wake {
    let cause = wakeup_cause();
    if ir.caused_wakeup()
        || cause.contains(WakeupSource::Ext1)
        || cause.contains(WakeupSource::Gpio)
    {
        Wake::Mail
    } else {
        Wake::Timer
    }
}

/// The core's OTA client, when this build carries a release key (`SMARTBOX_RELEASE_KEY`, 64 hex
/// characters of the Ed25519 public key firmware images are signed with).
fn start_ota_client(ota: &mut OtaFlash<'_>) -> Option<OtaClient> {
    let Some(key) = option_env!("SMARTBOX_RELEASE_KEY").and_then(provision::hex32) else {
        println!("no release key in this build: OTA updates disabled");
        return None;
    };
    match OtaClient::boot(ota, FIRMWARE_VERSION, &key) {
        Ok(client) => Some(client),
        Err(error) => {
            println!("ota client: {}", error);
            None
        }
    }
}

/// After a successful check-in: an updated image on trial confirms itself.
fn confirm_image(ota: &mut OtaFlash<'_>, client: Option<&mut OtaClient>, board: &mut BoardState) {
    let confirmed = match client {
        Some(client) => client
            .checked_in(ota)
            .map_err(|error| println!("ota: {}", error)),
        None if ota.awaiting_confirmation() => ota
            .mark_valid()
            .map_err(|error| println!("ota confirm: {:?}", error)),
        None => Ok(()),
    };
    if confirmed.is_ok() {
        board.unconfirmed_wakes = 0;
    }
}

/// Counts the wakes of an updated image that has not checked in yet, and rolls it back to the
/// previous slot when it has had [`OTA_MAX_UNCONFIRMED_WAKES`] of them.
fn guard_unconfirmed_image(ota: &mut OtaFlash<'_>, board: &mut BoardState) {
    if !ota.awaiting_confirmation() {
        board.unconfirmed_wakes = 0;
        return;
    }
    board.unconfirmed_wakes = board.unconfirmed_wakes.saturating_add(1);
    if board.unconfirmed_wakes > OTA_MAX_UNCONFIRMED_WAKES {
        println!("updated image never checked in: rolling back");
        match ota.roll_back() {
            Ok(()) => {
                board.unconfirmed_wakes = 0;
                esp_hal::system::software_reset();
            }
            Err(error) => println!("rollback: {:?}", error),
        }
    }
}
