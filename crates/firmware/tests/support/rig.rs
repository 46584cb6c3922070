//! A whole simulated mailbox for wake-cycle tests: fake links in front of a fake device API that
//! checks signatures and stores events the way DESIGN §5 says, a camera, an in-RAM upload queue,
//! a battery and entropy, all on the simulated clock of [`super::Sim`].

use std::cell::RefCell;
use std::collections::{BTreeMap, VecDeque};
use std::rc::Rc;

use embassy_futures::block_on;
use heapless::String;
use smartbox_firmware::a7670::ByteCounters;
use smartbox_firmware::clock::Clock;
use smartbox_firmware::http::{DeviceHttp, Method, NetError, Request, Response, Transport};
use smartbox_firmware::link::{Cellular, CredentialsNotStored, LinkFailure, Wifi};
use smartbox_firmware::ota::{ByteRange, OtaClient};
use smartbox_firmware::policy::Wake;
use smartbox_firmware::ports::{BatteryGauge, Camera, Entropy, UploadQueue};
use smartbox_firmware::wake::{Device, Identity, Ota, Report, Retained, run, run_with_ota};
use smartbox_protocol::{
    DeviceConfig, EventRequest, EventResponse, FirmwareOffer, FirmwareReport, HeartbeatRequest,
    HeartbeatResponse, MAX_CLOCK_SKEW_S, SealedWifi, ServiceState, Uuid, WifiCredentials,
};

use super::Sim;
use super::flash::SimFlash;

/// The Ed25519 release key's secret half, as the vendor's signing machine holds it.
pub const RELEASE_SEED: [u8; 32] = [42; 32];

/// Server unix time at simulated time 0.
pub const EPOCH: i64 = 1_767_225_600;
pub const SERIAL: &str = "SB-TEST-1";
pub const SECRET: [u8; 32] = [7; 32];
/// Simulated duration of one HTTP exchange.
pub const HTTP_MS: u64 = 300;

/// How the fake server answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Normal,
    /// Subscription suspended: events and photos get 402.
    Suspended,
    /// Spend cap reached: events get 429 with this Retry-After.
    OverCap {
        retry_after_s: u32,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Logged {
    pub at_ms: u64,
    pub method: &'static str,
    pub path: std::string::String,
    pub status: Option<u16>,
}

#[derive(Debug)]
pub struct ServerState {
    pub mode: Mode,
    pub secret: [u8; 32],
    pub config: DeviceConfig,
    /// Answer the next n requests with 503.
    pub fail_next: u32,
    /// Drop the next n requests on the network (the device sees a timeout).
    pub drop_next: u32,
    pub events: BTreeMap<Uuid, (EventRequest, BTreeMap<u8, Vec<u8>>)>,
    pub heartbeats: Vec<HeartbeatRequest>,
    pub log: Vec<Logged>,
    /// The published release: its offer and image.
    pub firmware: Option<(FirmwareOffer, Vec<u8>)>,
    /// `Range` headers of firmware GETs, in order.
    pub ranges: Vec<Option<ByteRange>>,
    /// Firmware reports received.
    pub firmware_reports: Vec<FirmwareReport>,
    /// Firmware GETs answer 503.
    pub firmware_unavailable: bool,
    /// What the device reads instead of the next answers, the requests being handled as usual
    /// (a report of the answer mangled between the modem and the MCU).
    pub garble_next: Vec<(u16, Vec<u8>)>,
    /// WiFi credentials saved in the portal, sealed for the device, sent while the device
    /// reports another version.
    pub wifi: Option<SealedWifi>,
}

#[derive(Debug, Clone)]
pub struct Server(pub Rc<RefCell<ServerState>>);

impl Server {
    fn new() -> Self {
        Self(Rc::new(RefCell::new(ServerState {
            mode: Mode::Normal,
            secret: SECRET,
            config: DeviceConfig::default(),
            fail_next: 0,
            drop_next: 0,
            events: BTreeMap::new(),
            heartbeats: Vec::new(),
            log: Vec::new(),
            firmware: None,
            ranges: Vec::new(),
            firmware_reports: Vec::new(),
            firmware_unavailable: false,
            garble_next: Vec::new(),
            wifi: None,
        })))
    }

    pub fn state(&self) -> std::cell::RefMut<'_, ServerState> {
        self.0.borrow_mut()
    }

    /// Events with all their photos stored.
    pub fn complete_events(&self) -> usize {
        self.0
            .borrow()
            .events
            .values()
            .filter(|(e, p)| p.len() == usize::from(e.photo_count))
            .count()
    }

    pub fn statuses(&self) -> Vec<(std::string::String, Option<u16>)> {
        self.0
            .borrow()
            .log
            .iter()
            .map(|l| (format!("{} {}", l.method, short(&l.path)), l.status))
            .collect()
    }

    fn handle(
        &self,
        now_ms: u64,
        request: &Request<'_>,
        answer: &mut [u8],
    ) -> Result<Response, NetError> {
        let mut state = self.0.borrow_mut();
        let logged = |status| Logged {
            at_ms: now_ms,
            method: request.method.as_str(),
            path: request.path.to_owned(),
            status,
        };
        if state.drop_next > 0 {
            state.drop_next -= 1;
            state.log.push(logged(None));
            return Err(NetError::Timeout);
        }
        let server_unix = EPOCH + (now_ms / 1_000) as i64;
        let mut response = Response {
            status: 0,
            body_len: 0,
            content_len: 0,
            date: Some(server_unix),
            retry_after_s: None,
        };
        let headers = request.headers;
        let signed = headers.serial.as_str() == SERIAL
            && (server_unix - headers.time).abs() <= MAX_CLOCK_SKEW_S
            && smartbox_protocol::verify_request(
                &state.secret,
                request.method.as_str(),
                request.path,
                headers.time,
                request.content_type,
                &smartbox_protocol::body_sha256(request.body),
                &headers.signature,
            );
        let (status, body): (u16, Vec<u8>) = if !signed {
            (
                401,
                br#"{"error":"unauthorized","message":"bad credentials"}"#.to_vec(),
            )
        } else if state.fail_next > 0 {
            state.fail_next -= 1;
            (
                503,
                br#"{"error":"unavailable","message":"try later"}"#.to_vec(),
            )
        } else {
            route(&mut state, server_unix, request, &mut response)
        };
        state.log.push(logged(Some(status)));
        let (status, body) = if state.garble_next.is_empty() {
            (status, body)
        } else {
            state.garble_next.remove(0)
        };
        let n = body.len().min(answer.len());
        answer[..n].copy_from_slice(&body[..n]);
        response.status = status;
        response.body_len = n;
        response.content_len = body.len() as u32;
        Ok(response)
    }
}

fn short(path: &str) -> &str {
    path.strip_prefix("/api/device/v1/").unwrap_or(path)
}

fn json<T: serde::Serialize>(value: &T) -> Vec<u8> {
    let mut buf = [0; 1024];
    let n = serde_json_core::to_slice(value, &mut buf).expect("serializes");
    buf[..n].to_vec()
}

fn route(
    state: &mut ServerState,
    server_unix: i64,
    request: &Request<'_>,
    response: &mut Response,
) -> (u16, Vec<u8>) {
    let path = short(request.path);
    match (request.method, path) {
        (Method::Post, "heartbeat") => {
            let (beat, _) = serde_json_core::from_slice::<HeartbeatRequest>(request.body)
                .expect("heartbeat JSON");
            state.heartbeats.push(beat.clone());
            let service = match state.mode {
                Mode::Normal => ServiceState::Active,
                Mode::Suspended => ServiceState::Suspended,
                Mode::OverCap { .. } => ServiceState::Limited,
            };
            let body = HeartbeatResponse {
                server_time: server_unix,
                service,
                config: state.config,
                firmware: state
                    .firmware
                    .as_ref()
                    .map(|(offer, _)| offer.clone())
                    .filter(|offer| offer.version != beat.firmware_version),
                wifi: state.wifi.clone().filter(|sealed| {
                    beat.wifi
                        .is_some_and(|held| held.credentials != sealed.version)
                }),
            };
            (200, json(&body))
        }
        (Method::Post, "events") => {
            let (event, _) =
                serde_json_core::from_slice::<EventRequest>(request.body).expect("event JSON");
            match state.mode {
                Mode::Suspended => {
                    return (
                        402,
                        br#"{"error":"payment_required","message":"suspended"}"#.to_vec(),
                    );
                }
                Mode::OverCap { retry_after_s } => {
                    response.retry_after_s = Some(retry_after_s);
                    return (
                        429,
                        br#"{"error":"over_cap","message":"spend cap"}"#.to_vec(),
                    );
                }
                Mode::Normal => {}
            }
            let known = state.events.contains_key(&event.event_id);
            let entry = state
                .events
                .entry(event.event_id)
                .or_insert((event, BTreeMap::new()));
            let body = EventResponse {
                event_id: event.event_id,
                photos_received: entry.1.len() as u8,
                complete: entry.1.len() == usize::from(event.photo_count),
            };
            (if known { 200 } else { 201 }, json(&body))
        }
        (Method::Post, "firmware/report") => {
            let (report, _) = serde_json_core::from_slice::<FirmwareReport>(request.body)
                .expect("firmware report JSON");
            state.firmware_reports.push(report);
            (204, Vec::new())
        }
        (Method::Get, firmware) if firmware.starts_with("firmware/") => {
            let version = &firmware["firmware/".len()..];
            state.ranges.push(request.range);
            if state.firmware_unavailable {
                return (503, b"{}".to_vec());
            }
            let Some((_, image)) = state
                .firmware
                .as_ref()
                .filter(|(offer, _)| offer.version.as_str() == version)
            else {
                return (404, b"{}".to_vec());
            };
            match request.range {
                None => (200, image.clone()),
                Some(range) if range.start as usize >= image.len() => (416, b"{}".to_vec()),
                Some(range) => {
                    let end = (range.end as usize).min(image.len() - 1);
                    (206, image[range.start as usize..=end].to_vec())
                }
            }
        }
        (Method::Put, photo) => {
            let mut parts = photo.split('/');
            let (Some("events"), Some(id), Some("photos"), Some(index)) =
                (parts.next(), parts.next(), parts.next(), parts.next())
            else {
                return (404, b"{}".to_vec());
            };
            let id: Uuid = id.parse().expect("uuid");
            let index: u8 = index.parse().expect("index");
            if state.mode == Mode::Suspended {
                return (402, b"{}".to_vec());
            }
            if !request.body.starts_with(&[0xff, 0xd8]) {
                return (
                    400,
                    br#"{"error":"not_jpeg","message":"not a JPEG"}"#.to_vec(),
                );
            }
            let Some((event, photos)) = state.events.get_mut(&id) else {
                return (
                    404,
                    br#"{"error":"not_found","message":"unknown event"}"#.to_vec(),
                );
            };
            if index >= event.photo_count {
                return (
                    400,
                    br#"{"error":"invalid_index","message":"no such photo"}"#.to_vec(),
                );
            }
            let known = photos.insert(index, request.body.to_vec()).is_some();
            let body = EventResponse {
                event_id: id,
                photos_received: photos.len() as u8,
                complete: photos.len() == usize::from(event.photo_count),
            };
            (if known { 200 } else { 201 }, json(&body))
        }
        _ => (404, b"{}".to_vec()),
    }
}

/// Everything the fakes record, in time order.
pub type Journal = Rc<RefCell<Vec<(u64, std::string::String)>>>;

fn note(journal: &Journal, sim: &Sim, what: impl Into<std::string::String>) {
    journal.borrow_mut().push((sim.now_ms(), what.into()));
}

#[derive(Debug)]
pub struct FakeCellular {
    sim: Sim,
    server: Server,
    journal: Journal,
    /// Results of the coming attach attempts; `Ok(-85)` once exhausted.
    pub attach_results: VecDeque<Result<i16, LinkFailure>>,
    pub boot_ms: u64,
    pub registration_ms: u64,
    /// Largest body the link takes (the A7670: one HTTPDATA).
    pub max_body: usize,
    powered_at: Option<u64>,
    attached: bool,
    counters: ByteCounters,
    /// [`Request::last`] of every request sent, in order.
    pub lasts: Vec<bool>,
    /// What [`DeviceHttp::transport`] says once a request went out.
    pub transport: Option<Transport>,
    /// Takes requests ahead of their answers ([`DeviceHttp::send_ahead`]).
    pub pipelining: bool,
    /// Answers of requests sent ahead, not read yet.
    ahead: VecDeque<(Result<Response, NetError>, Vec<u8>)>,
}

impl DeviceHttp for FakeCellular {
    async fn send(
        &mut self,
        request: &Request<'_>,
        answer: &mut [u8],
    ) -> Result<Response, NetError> {
        if !self.attached {
            return Err(NetError::NoLink);
        }
        if request.body.len() > self.max_body {
            return Err(NetError::BodyTooLarge);
        }
        self.sim.sleep_ms(HTTP_MS).await;
        self.lasts.push(request.last);
        self.counters.tx += request.body.len() as u64 + 200;
        let result = self.server.handle(self.sim.now_ms(), request, answer);
        if let Ok(response) = &result {
            self.counters.rx += response.content_len as u64 + 100;
        }
        result
    }

    fn transport(&self) -> Option<Transport> {
        self.transport.filter(|_| !self.lasts.is_empty())
    }

    async fn send_ahead(&mut self, request: &Request<'_>) -> Result<bool, NetError> {
        if !self.pipelining || !self.attached {
            return Ok(false);
        }
        // Written now, answered by the server in order; the answer waits to be read.
        self.sim.sleep_ms(HTTP_MS / 4).await;
        self.lasts.push(request.last);
        self.counters.tx += request.body.len() as u64 + 200;
        let mut body = vec![0; 640];
        let result = self.server.handle(self.sim.now_ms(), request, &mut body);
        self.ahead.push_back((result, body));
        Ok(true)
    }

    async fn receive_ahead(&mut self, answer: &mut [u8]) -> Result<Response, NetError> {
        let (result, body) = self.ahead.pop_front().ok_or(NetError::Link)?;
        let mut response = result?;
        let n = response.body_len.min(answer.len());
        answer[..n].copy_from_slice(&body[..n]);
        response.body_len = n;
        self.counters.rx += response.content_len as u64 + 100;
        Ok(response)
    }
}

impl Cellular for FakeCellular {
    async fn power_on(&mut self) {
        note(&self.journal, &self.sim, "modem on");
        self.sim.sleep_ms(100).await;
        self.powered_at = Some(self.sim.now_ms());
    }

    async fn attach(&mut self, deadline_ms: u64) -> Result<i16, LinkFailure> {
        let Some(powered_at) = self.powered_at else {
            return Err(LinkFailure::NoModem);
        };
        note(&self.journal, &self.sim, "attach");
        self.sim
            .sleep_until((powered_at + self.boot_ms).min(deadline_ms))
            .await;
        self.sim.sleep_ms(self.registration_ms).await;
        let result = self.attach_results.pop_front().unwrap_or(Ok(-85));
        self.attached = result.is_ok();
        result
    }

    async fn power_off(&mut self) {
        if self.powered_at.take().is_some() {
            note(&self.journal, &self.sim, "modem off");
        }
        self.attached = false;
    }

    fn counters(&self) -> ByteCounters {
        self.counters
    }
}

#[derive(Debug)]
pub struct FakeWifi {
    sim: Sim,
    server: Server,
    journal: Journal,
    pub rssi: Option<i16>,
    pub join_ok: bool,
    joined: bool,
    /// The credentials in flash and their version (the tests' boards start with a set).
    pub credentials: Option<(u64, WifiCredentials)>,
    /// Whether the flash takes new credentials.
    pub store_ok: bool,
}

impl DeviceHttp for FakeWifi {
    async fn send(
        &mut self,
        request: &Request<'_>,
        answer: &mut [u8],
    ) -> Result<Response, NetError> {
        if !self.joined {
            return Err(NetError::NoLink);
        }
        self.sim.sleep_ms(HTTP_MS).await;
        self.server.handle(self.sim.now_ms(), request, answer)
    }
}

impl Wifi for FakeWifi {
    fn credentials_version(&self) -> u64 {
        self.credentials.as_ref().map_or(0, |(version, _)| *version)
    }

    async fn store_credentials(
        &mut self,
        version: u64,
        credentials: &WifiCredentials,
    ) -> Result<(), CredentialsNotStored> {
        note(&self.journal, &self.sim, format!("wifi store {version}"));
        if !self.store_ok {
            return Err(CredentialsNotStored);
        }
        self.credentials = Some((version, credentials.clone()));
        Ok(())
    }

    async fn scan_rssi(&mut self) -> Option<i16> {
        note(&self.journal, &self.sim, "wifi scan");
        self.sim.sleep_ms(1_500).await;
        self.rssi
    }

    async fn join(&mut self) -> Result<(), LinkFailure> {
        note(&self.journal, &self.sim, "wifi join");
        self.sim.sleep_ms(2_000).await;
        self.joined = self.join_ok;
        if self.join_ok {
            Ok(())
        } else {
            Err(LinkFailure::JoinFailed)
        }
    }

    async fn leave(&mut self) {
        if self.joined {
            note(&self.journal, &self.sim, "wifi off");
        }
        self.joined = false;
    }
}

#[derive(Debug)]
pub struct FakeCamera {
    sim: Sim,
    journal: Journal,
    shots: u32,
    /// Shots (0-based, over the camera's life) that fail.
    pub failing: Vec<u32>,
    /// Shots whose bytes are not a JPEG.
    pub corrupt: Vec<u32>,
}

impl Camera for FakeCamera {
    type Error = ();

    async fn capture(&mut self, quality: u8, out: &mut [u8]) -> Result<usize, ()> {
        let shot = self.shots;
        self.shots += 1;
        note(&self.journal, &self.sim, format!("photo q{quality}"));
        self.sim.sleep_ms(200).await;
        if self.failing.contains(&shot) {
            return Err(());
        }
        let mut jpeg = vec![0xff, 0xd8];
        jpeg.extend(std::iter::repeat_n(shot as u8, 1_000));
        jpeg.extend([0xff, 0xd9]);
        if self.corrupt.contains(&shot) {
            jpeg[0] = 0;
        }
        out[..jpeg.len()].copy_from_slice(&jpeg);
        Ok(jpeg.len())
    }
}

#[derive(Debug, Default)]
pub struct MemQueue {
    pub records: VecDeque<(EventRequest, Vec<Vec<u8>>)>,
    pub broken: bool,
}

impl UploadQueue for MemQueue {
    type Error = &'static str;

    async fn push(&mut self, event: &EventRequest, photos: &[&[u8]]) -> Result<(), Self::Error> {
        if self.broken {
            return Err("card removed");
        }
        self.records
            .push_back((*event, photos.iter().map(|p| p.to_vec()).collect()));
        Ok(())
    }

    async fn pending(&mut self) -> Result<u32, Self::Error> {
        Ok(self.records.len() as u32)
    }

    async fn oldest(&mut self) -> Result<Option<EventRequest>, Self::Error> {
        Ok(self.records.front().map(|(e, _)| *e))
    }

    async fn read_photo(&mut self, index: u8, out: &mut [u8]) -> Result<usize, Self::Error> {
        let photo = self
            .records
            .front()
            .and_then(|(_, p)| p.get(usize::from(index)))
            .ok_or("no such photo")?;
        out[..photo.len()].copy_from_slice(photo);
        Ok(photo.len())
    }

    async fn pop_oldest(&mut self) -> Result<(), Self::Error> {
        self.records.pop_front().map(|_| ()).ok_or("empty")
    }
}

#[derive(Debug)]
pub struct FixedBattery(pub u8);

impl BatteryGauge for FixedBattery {
    async fn percent(&mut self) -> u8 {
        self.0
    }

    async fn charging(&mut self) -> bool {
        false
    }
}

#[derive(Debug, Default)]
pub struct CountingEntropy(u8);

impl Entropy for CountingEntropy {
    fn random_16(&mut self) -> [u8; 16] {
        self.0 = self.0.wrapping_add(1);
        [self.0; 16]
    }
}

/// One mailbox and the server it talks to.
#[derive(Debug)]
pub struct Rig {
    pub sim: Sim,
    pub server: Server,
    pub journal: Journal,
    pub cellular: FakeCellular,
    pub wifi: FakeWifi,
    pub has_wifi: bool,
    pub camera: FakeCamera,
    pub queue: MemQueue,
    pub battery: FixedBattery,
    pub entropy: CountingEntropy,
    pub identity: Identity,
    pub state: Retained,
    /// The board's two OTA slots and bootloader.
    pub flash: SimFlash,
    /// The OTA client of this boot, when the build has OTA.
    pub ota: Option<OtaClient>,
    buffers: [Vec<u8>; 3],
}

impl Rig {
    /// A mailbox whose clock already agrees with the server's.
    pub fn new() -> Self {
        let sim = Sim::new();
        let server = Server::new();
        let journal = Journal::default();
        let cellular = FakeCellular {
            sim: sim.clone(),
            server: server.clone(),
            journal: journal.clone(),
            attach_results: VecDeque::new(),
            boot_ms: 11_000,
            registration_ms: 2_000,
            max_body: usize::MAX,
            powered_at: None,
            attached: false,
            counters: ByteCounters::default(),
            lasts: Vec::new(),
            transport: None,
            pipelining: false,
            ahead: VecDeque::new(),
        };
        let wifi = FakeWifi {
            sim: sim.clone(),
            server: server.clone(),
            journal: journal.clone(),
            rssi: None,
            join_ok: true,
            joined: false,
            credentials: Some((
                1,
                WifiCredentials::new("factory", "factory-passphrase").expect("valid"),
            )),
            store_ok: true,
        };
        let camera = FakeCamera {
            sim: sim.clone(),
            journal: journal.clone(),
            shots: 0,
            failing: vec![],
            corrupt: vec![],
        };
        let identity = Identity {
            serial: String::try_from(SERIAL).expect("fits"),
            secret: SECRET,
            firmware_version: String::try_from("1.0.0").expect("fits"),
            hardware_revision: String::try_from("esp32c6").expect("fits"),
        };
        let state = Retained {
            unix_offset_s: EPOCH,
            ..Retained::default()
        };
        Self {
            sim,
            server,
            journal,
            cellular,
            wifi,
            has_wifi: false,
            camera,
            queue: MemQueue::default(),
            battery: FixedBattery(87),
            entropy: CountingEntropy::default(),
            identity,
            state,
            flash: SimFlash::new(512 * 1024, "1.0.0"),
            ota: None,
            buffers: [vec![0; 4096], vec![0; 4096], vec![0; 4096]],
        }
    }

    /// A mailbox whose firmware updates itself, with photo buffers of `buffer` bytes (the
    /// firmware's ranges are read into the first).
    pub fn with_ota(buffer: usize) -> Self {
        let mut rig = Self::new();
        rig.buffers = std::array::from_fn(|_| vec![0; buffer]);
        rig.boot();
        rig
    }

    /// The release key's public half, compiled into the firmware.
    pub fn release_key() -> [u8; 32] {
        ed25519_dalek::SigningKey::from_bytes(&RELEASE_SEED)
            .verifying_key()
            .to_bytes()
    }

    /// Starts the OTA client as a boot does, running the image the bootloader picked.
    pub fn boot(&mut self) {
        let version = self.flash.running_version();
        self.identity.firmware_version = String::try_from(version.as_str()).expect("fits");
        self.ota = Some(
            OtaClient::boot(&mut self.flash, &version, &Self::release_key()).expect("ota boots"),
        );
    }

    /// Power cycle or restart: the bootloader picks the slot, the client starts again.
    pub fn reboot(&mut self) {
        self.flash.reboot();
        self.boot();
    }

    /// Runs one wake at `at_ms` of simulated time.
    pub fn wake_at(&mut self, at_ms: u64, wake: Wake) -> Report {
        self.sim.set_now(at_ms);
        self.journal.borrow_mut().clear();
        let [a, b, c] = &mut self.buffers;
        let mut device = Device {
            cellular: &mut self.cellular,
            wifi: if self.has_wifi {
                Some(&mut self.wifi)
            } else {
                None
            },
            camera: &mut self.camera,
            queue: &mut self.queue,
            battery: &mut self.battery,
            entropy: &mut self.entropy,
            clock: &self.sim,
            photos: [a.as_mut_slice(), b.as_mut_slice(), c.as_mut_slice()],
        };
        match self.ota.as_mut() {
            Some(client) => block_on(run_with_ota(
                &mut device,
                &self.identity,
                &mut self.state,
                wake,
                Some(Ota {
                    client,
                    partition: &mut self.flash,
                }),
            )),
            None => block_on(run(&mut device, &self.identity, &mut self.state, wake)),
        }
    }

    /// What the fakes did during the last wake, with times relative to its start.
    pub fn journal(&self, start_ms: u64) -> Vec<(u64, std::string::String)> {
        self.journal
            .borrow()
            .iter()
            .map(|(t, w)| (t - start_ms, w.clone()))
            .collect()
    }

    pub fn sim_now(&self) -> u64 {
        self.sim.now_ms()
    }

    pub fn journal_words(&self) -> Vec<std::string::String> {
        self.journal
            .borrow()
            .iter()
            .map(|(_, w)| w.clone())
            .collect()
    }
}
