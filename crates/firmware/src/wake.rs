//! The wake cycle (DESIGN §8): what one wake from deep sleep does, from the first instruction to
//! the next deep sleep.
//!
//! Mail (IR) wake: the modem is powered on at once so that its ~11 s boot overlaps the camera;
//! three photos 1 s apart; light sleep until the modem's UART can answer ([`MODEM_DEAF_MS`]);
//! connect ([`crate::link`]); the event and its photos, signed; the SD
//! queue flushed oldest-first; a heartbeat; modem off (`AT+CPOF`); deep sleep.
//! Timer wake (every 30 min): local work (battery), and a connection only when a check-in is due
//! or the SD queue holds events ([`crate::policy::should_connect`]).
//!
//! Answers: 2xx delivered; 402 kept on SD and uploads held until the next check-in; 429 kept and
//! held for `Retry-After`; 401 resyncs the clock from `Date` once and retries, then holds off;
//! 5xx and network errors retried a few times, then kept. Nothing is removed from the SD queue
//! before the server has stored it.
//!
//! Firmware updates ([`run_with_ota`]): after a check-in answered 200, an image on trial confirms
//! itself ([`OtaClient::checked_in`]); an offered version other than the running one is
//! downloaded in `Range`d GETs into the update slot when the battery holds at least
//! [`OTA_MIN_BATTERY_PERCENT`] (or charges), at most [`OTA_BYTES_PER_WAKE`] per wake, resuming
//! where the last wake stopped (timer wakes connect for that while a download is under way);
//! once complete it is verified and set to boot ([`Report::ota`] then asks for a restart). The
//! first wake of an image on trial always connects, since it must check in to stay, and when
//! that check-in fails it stays awake and tries again ([`TRIAL_CHECKIN_RETRIES`], spaced by
//! [`TRIAL_RETRY`]) before it sleeps and the bootloader rolls it back. The outcome (downloaded, installed, failed, rolled back) goes to `POST /firmware/report`.
//!
//! It is async over traits rather than a hand-rolled state machine: every wait goes through
//! [`Clock`], so a test runs a whole wake on a simulated clock in microseconds.

use heapless::String;
use smartbox_protocol::{
    DeviceConfig, EVENTS_PATH, ErrorBody, EventKind, EventRequest, EventResponse,
    FIRMWARE_REPORT_PATH, FirmwareOffer, FirmwareStatus, HEARTBEAT_PATH, HeartbeatRequest,
    HeartbeatResponse, MAX_PHOTOS, PowerState, SealedWifi, ServiceState, Uuid, WifiReport,
    WifiStatus, body_sha256, firmware_path, photo_path,
};

use crate::a7670::{ByteCounters, Stored};
use crate::clock::Clock;
use crate::http::{DeviceHttp, Method, NetError, Request, Response, SignedHeaders, Transport};
use crate::link::{self, Backoff, Cellular, Choice, Path, Wifi};
use crate::ota::{
    ByteRange, ImageState, InstallOutcome, OtaClient, OtaPartition, Progress, RECORD_LEN,
};
use crate::policy::{self, FAILURE_HOLD, Holds, TIMER_WAKE_MS, Verdict, Wake};
use crate::ports::{BatteryGauge, Camera, Entropy, UploadQueue, new_event_id};

/// Gap between the three photos.
pub const PHOTO_SPACING_MS: u64 = 1_000;
/// How long the modem's UART stays deaf after PWRKEY (its boot takes ~11 s): the MCU light-sleeps
/// until then rather than polling a modem that cannot answer.
pub const MODEM_DEAF_MS: u64 = 10_000;
/// Further check-ins an image on trial tries within its boot when one fails, before it gives
/// up and sleeps (the bootloader then rolls it back).
pub const TRIAL_CHECKIN_RETRIES: u32 = 3;
/// Spacing of those check-ins: 1, 2, then 4 minutes, so that a cell or server that is away
/// for a few minutes does not cost a good image.
pub const TRIAL_RETRY: Backoff = Backoff {
    base_ms: 60_000,
    max_ms: 4 * 60_000,
};
/// Tries of one request within a wake (network errors and 5xx).
pub const HTTP_ATTEMPTS: u32 = 3;
/// Spacing of those tries.
pub const HTTP_BACKOFF: Backoff = Backoff {
    base_ms: 1_000,
    max_ms: 4_000,
};
/// Firmware downloads need at least this state of charge (unless the battery is charging): a
/// download keeps the modem receiving for seconds per 100 KiB, and a cell near empty sags under
/// the modem's bursts; a device below it updates once recharged.
pub const OTA_MIN_BATTERY_PERCENT: u8 = 30;
/// Image bytes fetched per wake at most: in the simulator at -85 dBm and 3,686,400 baud such a
/// wake takes ~22 s and ~0.58 mAh against a plain check-in's ~18 s and ~0.37 mAh; a 1 MiB image
/// takes four wakes (timer wakes connect while a download is under way).
pub const OTA_BYTES_PER_WAKE: u32 = 256 * 1024;
/// Largest `Range` asked in one GET (also bounded by the photo buffer it is read into).
pub const OTA_RANGE_BYTES: u32 = 64 * 1024;
/// Buffer for JSON request and response bodies.
const JSON_BUF: usize = 640;
/// Buffer for the heartbeat's answer: a firmware offer and sealed WiFi credentials together.
const HEARTBEAT_ANSWER_BUF: usize = 1_024;

const JSON: Option<&str> = Some("application/json");
const JPEG: Option<&str> = Some("image/jpeg");

/// Who the device is; fixed at manufacture (the secret) and at build (the version).
#[derive(Debug, Clone)]
pub struct Identity {
    /// Serial number, the `X-Device-Serial` header.
    pub serial: String<32>,
    /// The 32-byte HMAC secret shared with the server.
    pub secret: [u8; 32],
    /// Running firmware version.
    pub firmware_version: String<32>,
    /// The board this build is for (`esp32c6`), reported in each heartbeat: the server offers
    /// an image only to mailboxes of the revision it was built for.
    pub hardware_revision: String<16>,
}

/// What the device keeps across deep sleep (RTC memory on the board, a struct in the simulator).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Retained {
    /// Settings from the last heartbeat.
    pub config: DeviceConfig,
    /// Unix seconds = `unix_offset_s + now_ms / 1000`; set from the server's clock.
    pub unix_offset_s: i64,
    /// Upload holds and failure counts.
    pub holds: Holds,
    /// Modem HTTP bytes since manufacture, added up at the end of each wake (so a heartbeat
    /// reports the totals up to the previous wake).
    pub modem_bytes: ByteCounters,
    /// Service state from the last heartbeat.
    pub service: Option<ServiceState>,
    /// A firmware update offered by the last heartbeat, for the OTA client.
    pub firmware_offer: Option<FirmwareOffer>,
    /// Why the last connected wake took its path.
    pub link_reason: Option<String<64>>,
    /// The last firmware download attempt fetched nothing (server error, flash error): timer
    /// wakes stop connecting just to resume it, and the next check-in tries again.
    pub ota_stalled: bool,
    /// What the modem stores across its power cycles (UART speed, APN), so a wake sends only
    /// what it lacks.
    pub modem: Stored,
    /// Deliveries that failed since the SD queue was last empty, for the heartbeat: events that
    /// keep failing are kept, and reported rather than dropped.
    pub held_failures: u32,
    /// How the stored WiFi credentials fared the last time the link manager tried them
    /// (reported in every heartbeat; back to untried when new ones are stored).
    pub wifi_status: WifiStatus,
    /// The IR line was still high after the settle time at the end of the last wake
    /// ([`crate::ir::settled`]).
    pub ir_stuck: bool,
}

impl Retained {
    /// The device's idea of unix time at `now_ms`.
    pub fn unix_at(&self, now_ms: u64) -> i64 {
        self.unix_offset_s + (now_ms / 1_000) as i64
    }

    fn sync_clock(&mut self, unix_s: i64, now_ms: u64) {
        self.unix_offset_s = unix_s - (now_ms / 1_000) as i64;
    }
}

/// The hardware one wake drives. `photos` are the three JPEG buffers (the board's static RAM).
#[derive(Debug)]
pub struct Device<'a, C, W, Cam, Q, B, E, K> {
    /// The A7670 (or the simulator's emulated one).
    pub cellular: &'a mut C,
    /// WiFi, when the board has it configured.
    pub wifi: Option<&'a mut W>,
    /// The JPEG camera.
    pub camera: &'a mut Cam,
    /// The SD upload queue.
    pub queue: &'a mut Q,
    /// The battery gauge.
    pub battery: &'a mut B,
    /// Random bytes for event ids.
    pub entropy: &'a mut E,
    /// Time.
    pub clock: &'a K,
    /// Photo buffers, one per photo.
    pub photos: [&'a mut [u8]; MAX_PHOTOS as usize],
}

/// The OTA side of a wake: the client started at this boot and the flash it writes.
#[derive(Debug)]
pub struct Ota<'a, P> {
    /// The client ([`OtaClient::boot`] at power-on or deep-sleep wake).
    pub client: &'a mut OtaClient,
    /// The update slot, the bootloader's state and the client's record.
    pub partition: &'a mut P,
}

/// The partition of a build without OTA: [`run`] passes none.
#[derive(Debug)]
pub enum NoOta {}

impl OtaPartition for NoOta {
    type Error = core::convert::Infallible;
    fn capacity(&self) -> u32 {
        match *self {}
    }
    fn erase(&mut self, _: u32) -> Result<(), Self::Error> {
        match *self {}
    }
    fn write(&mut self, _: u32, _: &[u8]) -> Result<(), Self::Error> {
        match *self {}
    }
    fn read(&mut self, _: u32, _: &mut [u8]) -> Result<(), Self::Error> {
        match *self {}
    }
    fn set_boot(&mut self) -> Result<(), Self::Error> {
        match *self {}
    }
    fn mark_valid(&mut self) -> Result<(), Self::Error> {
        match *self {}
    }
    fn running_state(&mut self) -> Result<ImageState, Self::Error> {
        match *self {}
    }
    fn update_rolled_back(&mut self) -> Result<bool, Self::Error> {
        match *self {}
    }
    fn load_record(&mut self, _: &mut [u8; RECORD_LEN]) -> Result<(), Self::Error> {
        match *self {}
    }
    fn store_record(&mut self, _: &[u8; RECORD_LEN]) -> Result<(), Self::Error> {
        match *self {}
    }
}

/// What a wake did about firmware.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct OtaWork {
    /// The running image was on trial and confirmed itself after the check-in.
    pub confirmed: bool,
    /// Image bytes fetched this wake.
    pub fetched: u32,
    /// The download completed and was verified: switched, or refused.
    pub installed: Option<InstallOutcome>,
    /// The report the server took this wake.
    pub reported: Option<FirmwareStatus>,
}

impl OtaWork {
    /// A verified image is set to boot: restart (rather than deep-sleep long) to run it.
    pub fn reboot(&self) -> bool {
        self.installed == Some(InstallOutcome::Switched)
    }
}

/// What one wake did, for logs, the simulator and tests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Report {
    /// Why it woke.
    pub wake: Wake,
    /// The link decision, when it tried to connect.
    pub choice: Option<Choice>,
    /// The new mail event, if any.
    pub event: Option<EventRequest>,
    /// Events the server stored during this wake (the new one and queued ones).
    pub delivered: u32,
    /// Events put on SD during this wake.
    pub queued: u32,
    /// Events the server refused for good (dropped from the queue).
    pub dropped: u32,
    /// Events lost because the SD card failed while no link could take them.
    pub lost: u32,
    /// Events on SD when going to sleep.
    pub queue_len: u32,
    /// Service state, when a heartbeat was answered.
    pub service: Option<ServiceState>,
    /// Milliseconds awake, from the wake cycle's first instruction to the deep sleep (the board
    /// adds the MCU's boot before it, which the core cannot see: the simulator's `Mailbox`).
    pub awake_ms: u64,
    /// How the modem carried this wake's requests (the socket service, or its HTTP stack when
    /// the service failed), when it carried any.
    pub transport: Option<Transport>,
    /// Milliseconds of deep sleep until the timer wake.
    pub sleep_ms: u64,
    /// Firmware update work.
    pub ota: OtaWork,
    /// What became of WiFi credentials the heartbeat's answer carried, when it carried some.
    pub wifi_credentials: Option<CredentialsUpdate>,
}

/// What a wake did with the WiFi credentials of a heartbeat answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CredentialsUpdate {
    /// Opened and handed to the WiFi port under this version (which keeps them in flash).
    Stored(u64),
    /// They did not open (another device's, altered) or are not valid credentials.
    Refused(smartbox_protocol::wifi::OpenError),
    /// The flash refused them; the next heartbeat brings them again.
    NotStored,
    /// The board has no WiFi to store them for.
    NoWifi,
}

/// How an upload ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Upload {
    Done,
    Dropped,
    /// Kept on SD: skip the other uploads this wake (the heartbeat still goes).
    Kept,
    /// The link failed or the server keeps refusing our signature: stop the session.
    Stop,
}

/// Runs one wake without firmware updates; see [`run_with_ota`].
pub async fn run<C, W, Cam, Q, B, E, K>(
    device: &mut Device<'_, C, W, Cam, Q, B, E, K>,
    identity: &Identity,
    state: &mut Retained,
    wake: Wake,
) -> Report
where
    C: Cellular,
    W: Wifi,
    Cam: Camera,
    Q: UploadQueue,
    B: BatteryGauge,
    E: Entropy,
    K: Clock,
{
    run_with_ota(device, identity, state, wake, None::<Ota<'_, NoOta>>).await
}

/// Runs one wake and returns what happened; `state` is updated for the next one. With `ota`,
/// the wake also confirms, downloads, installs and reports firmware updates.
pub async fn run_with_ota<C, W, Cam, Q, B, E, K, P>(
    device: &mut Device<'_, C, W, Cam, Q, B, E, K>,
    identity: &Identity,
    state: &mut Retained,
    wake: Wake,
    mut ota: Option<Ota<'_, P>>,
) -> Report
where
    C: Cellular,
    W: Wifi,
    Cam: Camera,
    Q: UploadQueue,
    B: BatteryGauge,
    E: Entropy,
    K: Clock,
    P: OtaPartition,
{
    let clock = device.clock;
    let start = clock.now_ms();
    let mut report = Report {
        wake,
        choice: None,
        event: None,
        delivered: 0,
        queued: 0,
        dropped: 0,
        lost: 0,
        queue_len: 0,
        service: None,
        awake_ms: 0,
        transport: None,
        sleep_ms: TIMER_WAKE_MS,
        ota: OtaWork::default(),
        wifi_credentials: None,
    };
    let queued_before = device.queue.pending().await.unwrap_or(0);
    let mut connect =
        policy::should_connect(wake, start, &state.holds, &state.config, queued_before);
    // A download under way resumes at the next timer wake rather than the next check-in, if
    // the battery allows it (read first only then; other wakes read it after the photos).
    let mut battery_early = None;
    if ota.as_ref().is_some_and(|o| o.client.on_trial()) {
        // A new image on trial must check in during this boot to confirm itself: the next boot
        // through the bootloader would roll it back.
        connect = true;
    } else if !connect
        && !state.ota_stalled
        && state.firmware_offer.is_some()
        && ota.as_ref().is_some_and(|o| o.client.download_pending())
    {
        let battery = (
            device.battery.percent().await.min(100),
            device.battery.charging().await,
        );
        battery_early = Some(battery);
        connect = ota_allowed(battery.0, battery.1)
            && policy::should_connect(wake, start, &state.holds, &state.config, 1);
    }
    if connect {
        // First thing: the modem boots for ~11 s while the camera works.
        device.cellular.recall(state.modem);
        device.cellular.power_on().await;
    }

    let mut photo_lens = [0_usize; MAX_PHOTOS as usize];
    if wake == Wake::Mail {
        let mut count = 0;
        for shot in 0..u64::from(MAX_PHOTOS) {
            // The modem is deaf while it boots: nothing can arrive on the UART.
            clock.doze_until(start + shot * PHOTO_SPACING_MS).await;
            let quality = state.config.jpeg_quality;
            if let Ok(len) = device.camera.capture(quality, device.photos[count]).await {
                photo_lens[count] = len;
                count += 1;
            }
        }
        report.event = Some(EventRequest {
            event_id: new_event_id(device.entropy),
            kind: EventKind::MailArrived,
            occurred_at: state.unix_at(start),
            photo_count: count as u8,
        });
    }
    let (battery_percent, charging) = match battery_early {
        Some(battery) => battery,
        None => (
            device.battery.percent().await.min(100),
            device.battery.charging().await,
        ),
    };

    if !connect {
        keep_fresh(device, &photo_lens, &mut report).await;
        return finish(device, report, start).await;
    }

    // The rest of the modem's boot in light sleep: polling it now would only burn current.
    clock.doze_until(start + MODEM_DEAF_MS).await;
    let battery = (battery_percent, charging);
    let mut ok = talk(
        device,
        identity,
        state,
        ota.as_mut(),
        &mut report,
        (&photo_lens, true),
        battery,
        start,
    )
    .await;
    // An image on trial that could not check in stays awake and tries again: deep sleep goes
    // through the bootloader, which would roll a good image back for one lost check-in.
    let mut retries = 0;
    while retries < TRIAL_CHECKIN_RETRIES && ota.as_ref().is_some_and(|o| o.client.on_trial()) {
        retries += 1;
        clock
            .doze_until(clock.now_ms() + TRIAL_RETRY.delay_ms(retries))
            .await;
        device.cellular.recall(state.modem);
        device.cellular.power_on().await;
        clock.doze_until(clock.now_ms() + MODEM_DEAF_MS).await;
        ok = talk(
            device,
            identity,
            state,
            ota.as_mut(),
            &mut report,
            (&photo_lens, false),
            battery,
            start,
        )
        .await;
    }
    let now = clock.now_ms();
    if ok {
        state.holds.failures = 0;
        state.holds.link_retry_at_ms = 0;
    } else {
        state.holds.failures += 1;
        state.holds.link_retry_at_ms = now + FAILURE_HOLD.delay_ms(state.holds.failures);
    }
    finish(device, report, start).await
}

/// Connects (the modem is powered on) and runs a session over the link chosen: the new event
/// when `fresh` (a retry finds it delivered or on SD already), the SD queue, the heartbeat and
/// firmware work. Returns whether the link and the server behaved.
#[allow(clippy::too_many_arguments)]
async fn talk<C, W, Cam, Q, B, E, K, P>(
    device: &mut Device<'_, C, W, Cam, Q, B, E, K>,
    identity: &Identity,
    state: &mut Retained,
    mut ota: Option<&mut Ota<'_, P>>,
    report: &mut Report,
    (photo_lens, fresh): (&[usize; MAX_PHOTOS as usize], bool),
    (battery_percent, charging): (u8, bool),
    start: u64,
) -> bool
where
    C: Cellular,
    W: Wifi,
    Cam: Camera,
    Q: UploadQueue,
    B: BatteryGauge,
    E: Entropy,
    K: Clock,
    P: OtaPartition,
{
    let clock = device.clock;
    let modem_before = device.cellular.counters();
    let choice = link::connect(
        &mut *device.cellular,
        device.wifi.as_deref_mut(),
        clock,
        state.config.wifi_min_rssi_dbm,
    )
    .await;
    if !matches!(choice.path, Path::Cellular { .. }) {
        device.cellular.power_off().await;
    }
    state.link_reason = Some(choice.reason.clone());
    if let Some(status) = choice.wifi {
        state.wifi_status = status;
    }
    let heartbeat = Heartbeat {
        battery_percent,
        power_state: if charging {
            PowerState::Charging
        } else {
            PowerState::Uploading
        },
        path: choice.path,
        ota_allowed: ota_allowed(battery_percent, charging),
        wifi: device.wifi.as_deref().map(|wifi| WifiReport {
            credentials: wifi.credentials_version(),
            status: state.wifi_status,
        }),
    };
    report.choice = Some(choice.clone());
    let mut wifi_offer = None;
    let ok = match choice.path {
        Path::Offline => {
            if fresh {
                keep_fresh(device, photo_lens, report).await;
            }
            false
        }
        Path::Cellular { .. } => {
            let Device {
                cellular,
                queue,
                photos,
                ..
            } = device;
            let mut link = Link::new(&mut **cellular, clock, identity, start);
            let ok = link
                .session(
                    &mut **queue,
                    photos,
                    (photo_lens, fresh),
                    state,
                    &heartbeat,
                    ota.as_deref_mut(),
                    report,
                )
                .await;
            wifi_offer = link.wifi_offer.take();
            report.transport = device.cellular.transport();
            device.cellular.power_off().await;
            ok
        }
        Path::Wifi { .. } => match device.wifi.as_deref_mut() {
            Some(wifi) => {
                let mut link = Link::new(&mut *wifi, clock, identity, start);
                let ok = link
                    .session(
                        &mut *device.queue,
                        &mut device.photos,
                        (photo_lens, fresh),
                        state,
                        &heartbeat,
                        ota,
                        report,
                    )
                    .await;
                wifi_offer = link.wifi_offer.take();
                wifi.leave().await;
                ok
            }
            None => false,
        },
    };
    if let Some(sealed) = wifi_offer {
        let update = store_credentials(device.wifi.as_deref_mut(), identity, &sealed).await;
        if let CredentialsUpdate::Stored(_) = update {
            state.wifi_status = WifiStatus::Untried;
        }
        report.wifi_credentials = Some(update);
    }
    state.modem = device.cellular.stored();
    let modem_after = device.cellular.counters();
    state.modem_bytes.tx += modem_after.tx.saturating_sub(modem_before.tx);
    state.modem_bytes.rx += modem_after.rx.saturating_sub(modem_before.rx);
    ok
}

/// Opens credentials the heartbeat's answer sealed for this device and stores them in flash.
async fn store_credentials<W: Wifi>(
    wifi: Option<&mut W>,
    identity: &Identity,
    sealed: &SealedWifi,
) -> CredentialsUpdate {
    let Some(wifi) = wifi else {
        return CredentialsUpdate::NoWifi;
    };
    match smartbox_protocol::wifi::open(&identity.secret, sealed) {
        Ok(credentials) => match wifi.store_credentials(sealed.version, &credentials).await {
            Ok(()) => CredentialsUpdate::Stored(sealed.version),
            Err(_) => CredentialsUpdate::NotStored,
        },
        Err(error) => CredentialsUpdate::Refused(error),
    }
}

/// Whether an answer says the server holds the event `event_id` with all its photos: the only
/// proof that lets an event leave the SD queue.
fn event_complete(answer: &[u8], event_id: Uuid) -> bool {
    let mut unescape = [0; 64];
    serde_json_core::from_slice_escaped::<EventResponse>(answer, &mut unescape)
        .is_ok_and(|(body, _)| body.complete && body.event_id == event_id)
}

/// Whether an answer's body is the API's JSON error naming its cause.
fn explained(answer: &[u8]) -> bool {
    let mut unescape = [0; 160];
    serde_json_core::from_slice_escaped::<ErrorBody>(answer, &mut unescape)
        .is_ok_and(|(body, _)| !body.error.is_empty())
}

/// Whether the battery allows a firmware download.
fn ota_allowed(percent: u8, charging: bool) -> bool {
    charging || percent >= OTA_MIN_BATTERY_PERCENT
}

/// Puts the new event, if any, on SD (no link this wake).
async fn keep_fresh<C, W, Cam, Q, B, E, K>(
    device: &mut Device<'_, C, W, Cam, Q, B, E, K>,
    photo_lens: &[usize; MAX_PHOTOS as usize],
    report: &mut Report,
) where
    Q: UploadQueue,
{
    let Some(event) = report.event else { return };
    let photos = &device.photos;
    let slices: [&[u8]; 3] = [
        &photos[0][..photo_lens[0]],
        &photos[1][..photo_lens[1]],
        &photos[2][..photo_lens[2]],
    ];
    match device
        .queue
        .push(&event, &slices[..usize::from(event.photo_count)])
        .await
    {
        Ok(()) => report.queued += 1,
        Err(_) => report.lost += 1,
    }
}

async fn finish<C, W, Cam, Q, B, E, K>(
    device: &mut Device<'_, C, W, Cam, Q, B, E, K>,
    mut report: Report,
    start: u64,
) -> Report
where
    Q: UploadQueue,
    K: Clock,
{
    report.queue_len = device.queue.pending().await.unwrap_or(0);
    report.awake_ms = device.clock.now_ms().saturating_sub(start);
    report
}

/// Events held on SD, as the heartbeat reports them.
#[derive(Debug, Clone, Copy)]
struct Held {
    events: u32,
    /// Seconds since the oldest of them happened (by the device's clock).
    oldest_age_s: Option<u32>,
}

impl Held {
    /// Reads the queue; an empty one also clears the failure count.
    async fn of<Q: UploadQueue>(queue: &mut Q, state: &mut Retained, now_ms: u64) -> Self {
        let events = queue.pending().await.unwrap_or(0);
        if events == 0 {
            state.held_failures = 0;
            return Self {
                events,
                oldest_age_s: None,
            };
        }
        let oldest_age_s = match queue.oldest().await {
            Ok(Some(event)) => {
                let age = state.unix_at(now_ms).saturating_sub(event.occurred_at);
                Some(u32::try_from(age.max(0)).unwrap_or(u32::MAX))
            }
            _ => None,
        };
        Self {
            events,
            oldest_age_s,
        }
    }
}

/// What the heartbeat reports besides the retained state.
#[derive(Debug, Clone, Copy)]
struct Heartbeat {
    battery_percent: u8,
    power_state: PowerState,
    path: Path,
    /// The battery allows a firmware download.
    ota_allowed: bool,
    /// The WiFi credentials held and their last outcome, on a board with WiFi.
    wifi: Option<WifiReport>,
}

/// One link's uploads during a wake: signing, retries, the 401 resync.
struct Link<'l, H, K> {
    http: &'l mut H,
    clock: &'l K,
    identity: &'l Identity,
    /// The clock was already resynced from a 401's `Date` this wake.
    resynced: bool,
    /// No network error, 5xx or persistent 401 so far.
    healthy: bool,
    /// When this wake began.
    wake_start_ms: u64,
    /// The request being sent is the wake's last ([`Request::last`]).
    last: bool,
    /// WiFi credentials the heartbeat's answer carried, stored once the link is done.
    wifi_offer: Option<SealedWifi>,
}

impl<'l, H: DeviceHttp, K: Clock> Link<'l, H, K> {
    fn new(http: &'l mut H, clock: &'l K, identity: &'l Identity, wake_start_ms: u64) -> Self {
        Self {
            http,
            clock,
            identity,
            resynced: false,
            healthy: true,
            wake_start_ms,
            last: false,
            wifi_offer: None,
        }
    }

    /// The new event (when `fresh`), then the SD queue oldest-first, then the heartbeat, then
    /// firmware work. Returns whether the link and the server behaved.
    #[allow(clippy::too_many_arguments)]
    async fn session<Q: UploadQueue, P: OtaPartition>(
        &mut self,
        queue: &mut Q,
        photos: &mut [&mut [u8]; MAX_PHOTOS as usize],
        (photo_lens, fresh): (&[usize; MAX_PHOTOS as usize], bool),
        state: &mut Retained,
        heartbeat: &Heartbeat,
        ota: Option<&mut Ota<'_, P>>,
        report: &mut Report,
    ) -> bool {
        let mut blocked = false;
        if let Some(event) = report.event.filter(|_| fresh) {
            let slices: [&[u8]; 3] = [
                &photos[0][..photo_lens[0]],
                &photos[1][..photo_lens[1]],
                &photos[2][..photo_lens[2]],
            ];
            let slices = &slices[..usize::from(event.photo_count)];
            let outcome = self.deliver(state, &event, slices).await;
            match outcome {
                Upload::Done => report.delivered += 1,
                Upload::Dropped => report.dropped += 1,
                Upload::Kept | Upload::Stop => {
                    state.held_failures = state.held_failures.saturating_add(1);
                    match queue.push(&event, slices).await {
                        Ok(()) => report.queued += 1,
                        Err(_) => report.lost += 1,
                    }
                    blocked = true;
                    if outcome == Upload::Stop {
                        return false;
                    }
                }
            }
        }
        if !blocked && !self.flush(queue, photos, state, report).await {
            return false;
        }
        let held = Held::of(queue, state, self.clock.now_ms()).await;
        let checked_in = self.heartbeat(state, heartbeat, held, report).await;
        if let (true, Some(ota)) = (checked_in, ota) {
            // The photos are delivered or on SD: their first buffer takes the image's ranges.
            let buffer = &mut *photos[0];
            report.ota = self
                .firmware(ota, state, heartbeat.ota_allowed, buffer)
                .await;
        }
        self.healthy
    }

    /// After a check-in: confirm an image on trial, take the offer, download the next ranges,
    /// install a complete image, and send the pending report.
    async fn firmware<P: OtaPartition>(
        &mut self,
        ota: &mut Ota<'_, P>,
        state: &mut Retained,
        battery_ok: bool,
        buffer: &mut [u8],
    ) -> OtaWork {
        let mut work = OtaWork::default();
        if ota.client.on_trial() && ota.client.checked_in(&mut *ota.partition).is_ok() {
            work.confirmed = true;
        }
        if battery_ok && let Some(offer) = state.firmware_offer.clone() {
            // A flash error leaves the download for a later wake.
            let _ = ota.client.offer(&offer, &mut *ota.partition);
            work.fetched = self.download(ota, state, buffer).await;
            state.ota_stalled = work.fetched == 0 && ota.client.download_pending();
            if ota.client.ready_to_install()
                && let Ok(outcome) = ota.client.install(&mut *ota.partition)
            {
                work.installed = Some(outcome);
            }
        }
        work.reported = self.send_report(ota, state).await;
        work
    }

    /// Fetches the image's next ranges, at most [`OTA_BYTES_PER_WAKE`]; returns the bytes
    /// fetched. Stops at the first failure: the next wake resumes from what is in flash.
    async fn download<P: OtaPartition>(
        &mut self,
        ota: &mut Ota<'_, P>,
        state: &mut Retained,
        buffer: &mut [u8],
    ) -> u32 {
        let chunk = (buffer.len() as u32).min(OTA_RANGE_BYTES);
        let mut fetched = 0;
        while fetched < OTA_BYTES_PER_WAKE {
            let Some(range) = ota
                .client
                .next_range(chunk.min(OTA_BYTES_PER_WAKE - fetched))
            else {
                break;
            };
            let Some(Ok(path)) = ota.client.target_version().map(firmware_path) else {
                break;
            };
            let Ok(response) = self
                .exchange_range(state, Method::Get, &path, None, &[], Some(range), buffer)
                .await
            else {
                break;
            };
            let offset = match response.status {
                206 => range.start,
                // A server that ignores `Range` sends the image from its first byte.
                200 => 0,
                _ => {
                    self.judge_other(state, &response);
                    break;
                }
            };
            let body = &buffer[..response.body_len];
            fetched += body.len() as u32;
            match ota.client.receive(offset, body, &mut *ota.partition) {
                Ok(Progress::Complete) => break,
                Ok(Progress::More) => {}
                Err(_) => break,
            }
            if ota.client.next_range(chunk).map(|next| next.start) == Some(range.start) {
                // Nothing new came (an empty body, or a whole image larger than the buffer).
                break;
            }
        }
        fetched
    }

    /// Sends the OTA client's pending report; returns its status once the server took it.
    async fn send_report<P: OtaPartition>(
        &mut self,
        ota: &mut Ota<'_, P>,
        state: &mut Retained,
    ) -> Option<FirmwareStatus> {
        let pending = ota.client.report()?;
        let mut json = [0; JSON_BUF];
        let len = serde_json_core::to_slice(&pending, &mut json).ok()?;
        let mut answer = [0; JSON_BUF];
        let response = self
            .exchange(
                state,
                Method::Post,
                FIRMWARE_REPORT_PATH,
                JSON,
                &json[..len],
                &mut answer,
            )
            .await
            .ok()?;
        match response.status {
            200..=299 => {
                ota.client.report_sent(&mut *ota.partition).ok()?;
                Some(pending.status)
            }
            // The server will never take this report: sending it again cannot help.
            400 | 404 | 413 | 415 | 422 => {
                let _ = ota.client.report_sent(&mut *ota.partition);
                None
            }
            _ => {
                self.judge_other(state, &response);
                None
            }
        }
    }

    /// A download or report answered with an error: a 401 holds uploads off as for events;
    /// other statuses only end the firmware work of this wake.
    fn judge_other(&mut self, state: &mut Retained, response: &Response) {
        if response.status == 401 {
            self.judge(state, response, &[]);
        }
    }

    /// Delivers queued events oldest-first until one is kept; false when the session must stop.
    async fn flush<Q: UploadQueue>(
        &mut self,
        queue: &mut Q,
        photos: &mut [&mut [u8]; MAX_PHOTOS as usize],
        state: &mut Retained,
        report: &mut Report,
    ) -> bool {
        let waiting = queue.pending().await.unwrap_or(0);
        for _ in 0..waiting {
            let Ok(Some(event)) = queue.oldest().await else {
                break;
            };
            let count = usize::from(event.photo_count.min(MAX_PHOTOS));
            let mut lens = [0; MAX_PHOTOS as usize];
            let mut readable = true;
            for (index, buffer) in photos.iter_mut().enumerate().take(count) {
                match queue.read_photo(index as u8, buffer).await {
                    Ok(len) => lens[index] = len,
                    Err(_) => readable = false,
                }
            }
            let outcome = if readable {
                let slices: [&[u8]; 3] = [
                    &photos[0][..lens[0]],
                    &photos[1][..lens[1]],
                    &photos[2][..lens[2]],
                ];
                self.deliver(state, &event, &slices[..count]).await
            } else {
                // A record the card cannot give back whole can never be delivered.
                Upload::Dropped
            };
            match outcome {
                Upload::Done | Upload::Dropped => {
                    if queue.pop_oldest().await.is_err() {
                        break;
                    }
                    if outcome == Upload::Done {
                        report.delivered += 1;
                    } else {
                        report.dropped += 1;
                    }
                }
                Upload::Kept => {
                    state.held_failures = state.held_failures.saturating_add(1);
                    break;
                }
                Upload::Stop => {
                    state.held_failures = state.held_failures.saturating_add(1);
                    return false;
                }
            }
        }
        true
    }

    /// POSTs the event, then PUTs its photos, unless the server says it already has them all.
    async fn deliver(
        &mut self,
        state: &mut Retained,
        event: &EventRequest,
        photos: &[&[u8]],
    ) -> Upload {
        let mut json = [0; JSON_BUF];
        let Ok(len) = serde_json_core::to_slice(event, &mut json) else {
            return Upload::Dropped;
        };
        // Only while the last heartbeat said the service is active: a mailbox the server refuses
        // (suspended, over its spend cap) would send photos it then sends again or not at all.
        if state.service == Some(ServiceState::Active)
            && self.pipelined(state, event, &json[..len], photos).await
        {
            return Upload::Done;
        }
        let mut answer = [0; JSON_BUF];
        let response = match self
            .exchange(
                state,
                Method::Post,
                EVENTS_PATH,
                JSON,
                &json[..len],
                &mut answer,
            )
            .await
        {
            Ok(response) => response,
            Err(_) => return Upload::Stop,
        };
        match self.judge(state, &response, &answer[..response.body_len]) {
            Upload::Done => {}
            other => return other,
        }
        let mut complete = event_complete(&answer[..response.body_len], event.event_id);
        if !complete {
            for (index, photo) in photos.iter().enumerate() {
                let path = photo_path(event.event_id, index as u8);
                let response = match self
                    .exchange(state, Method::Put, &path, JPEG, photo, &mut answer)
                    .await
                {
                    Ok(response) => response,
                    // Larger than the link can ever send (one HTTPDATA): waiting will not help.
                    Err(NetError::BodyTooLarge) => return Upload::Dropped,
                    Err(_) => return Upload::Stop,
                };
                match self.judge(state, &response, &answer[..response.body_len]) {
                    Upload::Done => {}
                    other => return other,
                }
                complete = event_complete(&answer[..response.body_len], event.event_id);
            }
        }
        if complete {
            Upload::Done
        } else {
            // Every answer was a 2xx, yet none said the event is complete (an answer whose
            // body was lost or mangled): it stays on SD, and the next try asks again.
            self.healthy = false;
            Upload::Kept
        }
    }

    /// The fast path of [`Link::deliver`] on a link that pipelines: the event and its photos
    /// sent back to back, the answers read in order. True when every answer was a 2xx (or the
    /// event's says the server has all its photos): delivered. Anything else (a refusal, an
    /// error, a link that cannot pipeline) reads what is still due and returns false, and the
    /// caller sends them again one by one with today's handling of every status: the server
    /// takes the same event and photos again idempotently, so the fast path changes no outcome.
    async fn pipelined(
        &mut self,
        state: &mut Retained,
        event: &EventRequest,
        json: &[u8],
        photos: &[&[u8]],
    ) -> bool {
        let mut sent = 0;
        for index in 0..=photos.len() {
            let (method, path, content_type, body) = match index.checked_sub(1) {
                None => (Method::Post, String::try_from(EVENTS_PATH).ok(), JSON, json),
                Some(i) => (
                    Method::Put,
                    Some(photo_path(event.event_id, i as u8)),
                    JPEG,
                    photos[i],
                ),
            };
            let Some(path) = path else { break };
            let time = state.unix_at(self.clock.now_ms());
            let headers = SignedHeaders::new(
                &self.identity.serial,
                &self.identity.secret,
                (method, &path, content_type),
                time,
                &body_sha256(body),
            );
            let request = Request {
                method,
                path: &path,
                content_type,
                headers: &headers,
                body,
                range: None,
                last: false,
            };
            match self.http.send_ahead(&request).await {
                Ok(true) => sent += 1,
                Ok(false) | Err(_) => break,
            }
        }
        if sent < photos.len() + 1 {
            // Not all of them went: read what did, then the slow path.
            for _ in 0..sent {
                if self.http.receive_ahead(&mut []).await.is_err() {
                    break;
                }
            }
            return false;
        }
        let mut answer = [0; JSON_BUF];
        let mut all_ok = true;
        let mut complete = false;
        for index in 0..sent {
            // The last answer says whether the server now holds the whole event.
            let last = index + 1 == sent;
            let body: &mut [u8] = if last { &mut answer } else { &mut [] };
            match self.http.receive_ahead(body).await {
                Ok(response) if (200..300).contains(&response.status) => {
                    if last {
                        complete = event_complete(&answer[..response.body_len], event.event_id);
                    }
                }
                Ok(_) => all_ok = false,
                // The link failed: no other answer will come on this connection.
                Err(_) => return false,
            }
        }
        all_ok && complete
    }

    /// Applies the policy's verdict on an upload's answer (`body` as read) to the holds.
    fn judge(&mut self, state: &mut Retained, response: &Response, body: &[u8]) -> Upload {
        let now = self.clock.now_ms();
        if response.status == 401 {
            // Still refused after the resync: hold off rather than drain the battery.
            self.healthy = false;
            state.holds.server_hold_until_ms =
                now + FAILURE_HOLD.delay_ms(state.holds.failures + 1);
            return Upload::Stop;
        }
        let explained = explained(body);
        match policy::verdict(
            response.status,
            response.retry_after_s,
            explained,
            now,
            &state.config,
        ) {
            Verdict::Done => Upload::Done,
            Verdict::Drop => Upload::Dropped,
            Verdict::Keep { hold_until_ms } => {
                match hold_until_ms {
                    Some(until) => {
                        state.holds.server_hold_until_ms =
                            state.holds.server_hold_until_ms.max(until)
                    }
                    None => self.healthy = false,
                }
                Upload::Kept
            }
        }
    }

    /// Reports status and applies the answer: clock, config, service state, firmware offer, and
    /// keeps WiFi credentials for after the link.
    async fn heartbeat(
        &mut self,
        state: &mut Retained,
        heartbeat: &Heartbeat,
        held: Held,
        report: &mut Report,
    ) -> bool {
        let (network, signal_dbm) = heartbeat
            .path
            .network()
            .unwrap_or((smartbox_protocol::Network::Cellular, -113));
        if let (Some(transport), Some(reason)) = (self.http.transport(), &mut state.link_reason) {
            // Cut when the reason is long already: it is informative only.
            let _ = reason.push_str("; ");
            let _ = reason.push_str(transport.as_str());
        }
        let request = HeartbeatRequest {
            battery_percent: heartbeat.battery_percent,
            power_state: heartbeat.power_state,
            signal_dbm,
            network,
            firmware_version: self.identity.firmware_version.clone(),
            modem_tx_bytes: state.modem_bytes.tx,
            modem_rx_bytes: state.modem_bytes.rx,
            sd_queue_len: held.events,
            link_reason: state.link_reason.clone(),
            sd_oldest_age_s: held.oldest_age_s,
            sd_failed_deliveries: (held.events > 0).then_some(state.held_failures),
            wifi: heartbeat.wifi,
            hardware_revision: Some(self.identity.hardware_revision.clone()),
        };
        let mut json = [0; JSON_BUF];
        let Ok(len) = serde_json_core::to_slice(&request, &mut json) else {
            return false;
        };
        let mut answer = [0; HEARTBEAT_ANSWER_BUF];
        // Nothing follows the heartbeat but rare firmware work: the link may close after it.
        self.last = true;
        let response = self
            .exchange(
                state,
                Method::Post,
                HEARTBEAT_PATH,
                JSON,
                &json[..len],
                &mut answer,
            )
            .await;
        self.last = false;
        let Ok(response) = response else {
            return false;
        };
        if response.status == 401 {
            self.judge(state, &response, &[]);
            return false;
        }
        if response.status != 200 {
            self.healthy = false;
            return false;
        }
        let mut unescape = [0; 256];
        let Ok((body, _)) = serde_json_core::from_slice_escaped::<HeartbeatResponse>(
            &answer[..response.body_len],
            &mut unescape,
        ) else {
            self.healthy = false;
            return false;
        };
        let now = self.clock.now_ms();
        state.sync_clock(body.server_time, now);
        state.config = body.config;
        state.service = Some(body.service);
        state.firmware_offer = body.firmware;
        self.wifi_offer = body.wifi;
        // The wake's start, not now: timer wakes are compared against it, and a check-in that
        // took a few seconds must not push the next one a whole timer period later.
        state.holds.last_checkin_ms = Some(self.wake_start_ms);
        if body.service == ServiceState::Active {
            // Paid again: the 402 hold has no reason to last until the next check-in.
            state.holds.server_hold_until_ms = 0;
        }
        report.service = Some(body.service);
        true
    }

    /// [`Link::exchange_range`] without a `Range`.
    async fn exchange(
        &mut self,
        state: &mut Retained,
        method: Method,
        path: &str,
        content_type: Option<&str>,
        body: &[u8],
        answer: &mut [u8],
    ) -> Result<Response, NetError> {
        self.exchange_range(state, method, path, content_type, body, None, answer)
            .await
    }

    /// Signs and sends one request; retries network errors and 5xx with backoff; on a 401 with a
    /// `Date`, resyncs the clock once and signs again.
    #[allow(clippy::too_many_arguments)]
    async fn exchange_range(
        &mut self,
        state: &mut Retained,
        method: Method,
        path: &str,
        content_type: Option<&str>,
        body: &[u8],
        range: Option<ByteRange>,
        answer: &mut [u8],
    ) -> Result<Response, NetError> {
        let digest = body_sha256(body);
        let mut attempt = 1;
        loop {
            let time = state.unix_at(self.clock.now_ms());
            let headers = SignedHeaders::new(
                &self.identity.serial,
                &self.identity.secret,
                (method, path, content_type),
                time,
                &digest,
            );
            let request = Request {
                method,
                path,
                content_type,
                headers: &headers,
                body,
                range,
                last: self.last,
            };
            let result = self.http.send(&request, answer).await;
            match result {
                Ok(response) if response.status == 401 && !self.resynced => {
                    self.resynced = true;
                    match response.date {
                        Some(date) => state.sync_clock(date, self.clock.now_ms()),
                        None => return Ok(response),
                    }
                }
                Ok(response) if response.status < 500 || attempt >= HTTP_ATTEMPTS => {
                    return Ok(response);
                }
                Err(NetError::BodyTooLarge) => return Err(NetError::BodyTooLarge),
                Err(error) if attempt >= HTTP_ATTEMPTS => {
                    self.healthy = false;
                    return Err(error);
                }
                Ok(_) | Err(_) => {
                    self.clock.sleep_ms(HTTP_BACKOFF.delay_ms(attempt)).await;
                    attempt += 1;
                }
            }
        }
    }
}
