//! An emulated SIMCom A7670: the AT dialect the firmware's driver speaks, byte for byte, with the
//! modem's timing and faults, and HTTP performed for real through a [`Network`].
//!
//! What it answers follows SIMCom's "A76XX Series AT Command Manual" and "HTTP(S) Application
//! Note" as the driver (`smartbox_firmware::a7670`) reads them: command echo until `ATE0`, boot
//! URCs (`*ATREADY: 1`, `+CPIN: READY`, `SMS DONE`, `PB DONE`), `+CEREG`/`+CGREG` read
//! responses, `+CSQ`, `AT+HTTPDATA` with its `DOWNLOAD` prompt and a timeout, the
//! `+HTTPACTION: <method>,<status>,<len>` URC, `+HTTPHEAD`/`+HTTPREAD` counted binary runs, and
//! `AT+CPOF` answered by `POWERED DOWN`, `AT+IPREX`/`AT+IPR` UART speeds (the Manual's list
//! only; the `IPREX` one kept across power cycles; bytes sent at another speed than the modem's
//! are lost), the APN of `AT+CGDCONT` kept across power cycles and needed by `AT+HTTPINIT`,
//! `AT+CEREG=1`/`AT+CGREG=1` registration URCs (per power cycle), and extended commands
//! combined on one `;`-separated line.
//!
//! It is a pure state machine over time passed in (`now`): the board ([`crate::board`]) feeds it
//! the bytes the MCU writes and takes out the bytes due by now. Everything random (boot jitter,
//! noise, dropped bytes) comes from its own seeded RNG, and its timing never depends on how long
//! the real server took, so a run is reproducible.

pub mod fault;
mod socket;
mod ssl;
pub mod timing;

use std::collections::VecDeque;
use std::rc::Rc;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::net::{HttpReply, HttpRequest, Network, TransportError};
use crate::power::{Meter, Rail, State};
pub use fault::{Fault, codes};
pub use timing::Timing;

/// PWRKEY low time that starts the modem (Hardware Design: >= 50 ms).
const POWER_ON_PULSE_MS: u64 = 50;
/// PWRKEY low time that forces it off (>= 2.5 s).
const POWER_OFF_PULSE_MS: u64 = 2_500;
/// Largest `AT+HTTPDATA` body (HTTP(S) note).
const MAX_HTTPDATA: usize = 153_600;
/// Longest command line kept.
const MAX_LINE: usize = 4_096;
/// Simulated server processing time per request (fixed, so runs are reproducible).
const SERVER_MS: u64 = 30;
/// `+CME ERROR: 10`, SIM not inserted (Manual, CME error codes).
const CME_SIM_NOT_INSERTED: &str = "+CME ERROR: 10";

/// Speeds `AT+IPR`/`AT+IPREX` accept: the list of "A76XX Series AT Command Manual" V1.09
/// §10.2.3/§10.2.4, and no other (3,000,000 and 3,200,000, which other SIMCom modems take, are
/// not in it).
pub const MANUAL_BAUDS: [u32; 15] = [
    300, 600, 1_200, 2_400, 4_800, 9_600, 19_200, 38_400, 57_600, 115_200, 230_400, 460_800,
    921_600, 1_842_000, 3_686_400,
];

/// UART time of `bytes` at `baud` (10 bits a byte), rounded up to whole milliseconds.
fn uart_ms(baud: u32, bytes: usize) -> u64 {
    (bytes as u64 * 10 * 1_000).div_ceil(u64::from(baud.max(1)))
}

/// Longest command line the modem takes (Manual §1.5.2: 3,071 characters after `AT`).
const MAX_COMBINED_LINE: usize = 3_073;
/// Commands the emulator runs in a combined command line.
const BATCHABLE: [&str; 8] = [
    "AT+CCHMODE=",
    "AT+HTTPPARA=",
    "AT+CMEE=",
    "AT+CEREG",
    "AT+CGREG",
    "AT+CGDCONT=",
    "AT+CSQ",
    "AT+CSSLCFG=",
];

/// The commands of one line: split at `;` outside quotes, each after the first prefixed `AT`.
fn split_line(text: &str) -> Vec<String> {
    let mut commands = Vec::new();
    let mut current = String::new();
    let mut quoted = false;
    for c in text.chars() {
        match c {
            '"' => {
                quoted = !quoted;
                current.push(c);
            }
            ';' if !quoted => {
                commands.push(std::mem::take(&mut current));
                current.push_str("AT");
            }
            _ => current.push(c),
        }
    }
    // A trailing `;` leaves nothing to run.
    if commands.is_empty() || current != "AT" {
        commands.push(current);
    }
    commands
}

/// Results of the commands of a combined line so far.
#[derive(Debug, Default)]
struct Batch {
    lines: Vec<String>,
    failed: bool,
}

/// Lines a noisy modem sends between answers: URCs the driver has no use for.
const NOISE: [&str; 6] = [
    "+CGEV: ME PDN ACT 1",
    "+CTZV: +08,0",
    "+CMTI: \"SM\",3",
    "RING",
    "+CPIN: READY",
    "+CGEV: NW MODIFY 1,0",
];

/// What the modem is and where it is.
#[derive(Debug, Clone, PartialEq)]
pub struct ModemSpec {
    /// What `AT+SIMCOMATI` names (`A7670E-LNXY-UBL` has no HTTP stack).
    pub model: String,
    /// Received signal in dBm (-113..-51).
    pub signal_dbm: i16,
    /// Registered as roaming (`5`) rather than home (`1`).
    pub roaming: bool,
    /// Timing model.
    pub timing: Timing,
    /// The device's `https://` URL reaches a plain-HTTP server (the energy model's in-process
    /// one speaks no TLS): the emulator charges the TLS handshake on the air as for HTTPS and
    /// sends the request as `http://`.
    pub tls_terminated: bool,
    /// UART speeds its firmware takes with `AT+IPR`/`AT+IPREX` ([`MANUAL_BAUDS`]; a test leaves
    /// some out to play a modem that refuses them).
    pub uart_bauds: Vec<u32>,
    /// The APN its SIM needs: `AT+HTTPINIT` activates PDP context 1 (Manual §16.2.1), which
    /// fails unless `AT+CGDCONT` stored this APN for it (AUTO_SAVE, Manual §5.2.5).
    pub apn: String,
}

impl Default for ModemSpec {
    fn default() -> Self {
        Self {
            model: "A7670E-FASE".to_owned(),
            signal_dbm: -85,
            roaming: false,
            timing: Timing::default(),
            tls_terminated: false,
            uart_bauds: MANUAL_BAUDS.to_vec(),
            apn: "iot.sim".to_owned(),
        }
    }
}

/// What happened to the modem over its life, for reports and tests.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ModemStats {
    /// PWRKEY power-ons.
    pub power_ons: u32,
    /// Command lines processed.
    pub commands: u64,
    /// `AT+HTTPACTION`s.
    pub http_actions: u64,
    /// Requests that reached the network.
    pub requests_sent: u64,
    /// Resets mid-upload.
    pub resets: u32,
    /// Bytes lost on the UART.
    pub dropped_bytes: u64,
    /// Noise lines sent.
    pub noise_lines: u64,
    /// Bytes lost because the two ends of the UART ran at different speeds.
    pub baud_mismatch_bytes: u64,
    /// Requests the server answered 401 (a device clock too far from the server's).
    pub unauthorized: u64,
    /// Connections the socket service opened (`AT+CCHOPEN` answered `CONNECT`).
    pub connections: u64,
    /// TLS handshakes that failed: the server's certificate did not verify against the CA of
    /// the SSL context (or the context had no usable CA).
    pub tls_refused: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Power {
    Off,
    Booting { ready_at: u64 },
    On,
    PoweringDown { off_at: u64 },
}

/// Bytes the modem sends, due at `at` (UART time included).
#[derive(Debug)]
struct Out {
    at: u64,
    bytes: Vec<u8>,
    /// The modem's UART speed when it sent them.
    baud: u32,
    /// Set on an output that may be cancelled (the `AT+HTTPDATA` timeout).
    tag: Option<u64>,
    /// A URC (not printed in data mode).
    unsolicited: bool,
}

#[derive(Debug)]
struct Download {
    len: usize,
    body: Vec<u8>,
    timeout_tag: u64,
    /// Reset the modem when the body reaches this many bytes.
    reset_at: Option<usize>,
}

#[derive(Debug, Default)]
struct Session {
    url: Option<String>,
    content: Option<String>,
    userdata: Vec<(String, String)>,
    body: Vec<u8>,
    reply: Option<HttpReply>,
    /// The SSL context of `https` requests (`AT+HTTPPARA="SSLCFG"`; 0 by default).
    ssl_ctx: u8,
}

/// The emulated modem.
pub struct Modem {
    spec: ModemSpec,
    rng: ChaCha8Rng,
    network: Rc<dyn Network>,
    epoch_unix_ms: i64,
    power: Power,
    key_pressed_at: Option<u64>,
    echo: bool,
    registered_at: u64,
    /// UART speed now, and the one stored in NV memory by `AT+IPREX` (used at each boot).
    baud: u32,
    nv_baud: u32,
    /// The APN of PDP context 1, kept in NV memory by `AT+CGDCONT` (AUTO_SAVE).
    nv_apn: Option<String>,
    /// `AT+CEREG=1`/`AT+CGREG=1` set this power cycle.
    registration_urcs: bool,
    /// Command lines with their time and UART speed, when recording ([`Modem::record`]).
    transcript: Option<Vec<(u64, u32, String)>>,
    /// Collects the results of a combined command line while it runs.
    batch: Option<Batch>,
    line: Vec<u8>,
    download: Option<Download>,
    session: Option<Session>,
    uploads: u32,
    actions: u32,
    outbox: VecDeque<Out>,
    armed: Option<Fault>,
    fault: Option<Fault>,
    next_tag: u64,
    stats: ModemStats,
    /// The socket service (`AT+CCH...`) and its connection.
    socket: socket::Service,
    /// Certificate files (kept across power cycles) and SSL contexts.
    ssl: ssl::Ssl,
}

impl std::fmt::Debug for Modem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Modem")
            .field("power", &self.power)
            .field("fault", &self.fault)
            .field("stats", &self.stats)
            .finish_non_exhaustive()
    }
}

impl Modem {
    /// A modem that is off. `epoch_unix_ms` is the unix time at simulated time 0.
    pub fn new(spec: ModemSpec, seed: u64, network: Rc<dyn Network>, epoch_unix_ms: i64) -> Self {
        let factory_baud = spec.timing.uart_baud;
        Self {
            spec,
            rng: ChaCha8Rng::seed_from_u64(seed),
            network,
            epoch_unix_ms,
            power: Power::Off,
            key_pressed_at: None,
            echo: true,
            registered_at: 0,
            baud: factory_baud,
            nv_baud: factory_baud,
            nv_apn: None,
            registration_urcs: false,
            transcript: None,
            batch: None,
            line: Vec::new(),
            download: None,
            session: None,
            uploads: 0,
            actions: 0,
            outbox: VecDeque::new(),
            armed: None,
            fault: None,
            next_tag: 0,
            stats: ModemStats::default(),
            socket: socket::Service::default(),
            ssl: ssl::Ssl::default(),
        }
    }

    /// The timing model.
    pub fn timing(&self) -> &Timing {
        &self.spec.timing
    }

    /// The signal level.
    pub fn signal_dbm(&self) -> i16 {
        self.spec.signal_dbm
    }

    /// Moves the modem (a mailbox at another spot).
    pub fn set_signal_dbm(&mut self, signal_dbm: i16) {
        self.spec.signal_dbm = signal_dbm;
    }

    /// Arms `fault` for the next power cycle (replacing any armed one); `None` disarms.
    pub fn arm(&mut self, fault: Option<Fault>) {
        self.armed = fault;
    }

    /// What happened so far.
    pub fn stats(&self) -> ModemStats {
        self.stats
    }

    /// Starts recording every command line with its time and UART speed.
    pub fn record(&mut self) {
        self.transcript.get_or_insert_with(Vec::new);
    }

    /// The command lines recorded since [`Modem::record`]: `(ms, baud, line)`.
    pub fn transcript(&self) -> &[(u64, u32, String)] {
        self.transcript.as_deref().unwrap_or_default()
    }

    /// The UART speed the modem runs at now.
    pub fn baud(&self) -> u32 {
        self.baud
    }

    /// Drops what the modem sent up to `until` unread (the MCU was in light sleep).
    pub fn discard_until(&mut self, until: u64) {
        self.outbox.retain(|o| o.at > until);
    }

    /// Whether the modem is off at `now` (a shutdown in progress counts from `POWERED DOWN`).
    pub fn is_off(&self, now: u64) -> bool {
        match self.power {
            Power::Off => true,
            Power::PoweringDown { off_at } => now >= off_at,
            _ => false,
        }
    }

    /// The first output due strictly after `now`.
    pub fn next_output_after(&self, now: u64) -> Option<u64> {
        self.outbox.iter().map(|o| o.at).find(|&at| at > now)
    }

    /// Moves bytes due by `now` into `buf`; returns how many. Bytes the modem sent at another
    /// speed than the MCU's `mcu_baud` are garbage to the MCU: they are dropped.
    pub fn read(&mut self, now: u64, buf: &mut [u8], mcu_baud: u32) -> usize {
        while let Some(front) = self
            .outbox
            .front()
            .filter(|o| o.at <= now && o.baud != mcu_baud)
        {
            self.stats.baud_mismatch_bytes += front.bytes.len() as u64;
            self.outbox.pop_front();
        }
        let Some(front) = self.outbox.front_mut().filter(|o| o.at <= now) else {
            return 0;
        };
        let n = buf.len().min(front.bytes.len());
        buf[..n].copy_from_slice(&front.bytes[..n]);
        front.bytes.drain(..n);
        if front.bytes.is_empty() {
            self.outbox.pop_front();
        }
        n
    }

    /// The PWRKEY line changed; `pressed` = pulled low.
    pub fn power_key(&mut self, now: u64, pressed: bool, meter: &mut Meter) {
        self.catch_up(now);
        if pressed {
            self.key_pressed_at = Some(now);
            return;
        }
        let Some(since) = self.key_pressed_at.take() else {
            return;
        };
        let held = now.saturating_sub(since);
        match self.power {
            Power::Off if held >= POWER_ON_PULSE_MS => {
                self.stats.power_ons += 1;
                self.fault = self.armed.take();
                self.boot(now, meter);
            }
            Power::Booting { .. } | Power::On | Power::PoweringDown { .. }
                if held >= POWER_OFF_PULSE_MS =>
            {
                self.shut_off(now, meter);
            }
            _ => {}
        }
    }

    /// Bytes the MCU wrote at `mcu_baud`, arriving at `now`.
    pub fn receive(&mut self, now: u64, bytes: &[u8], mcu_baud: u32, meter: &mut Meter) {
        self.catch_up(now);
        if mcu_baud != self.baud {
            // Framing errors on the modem's side: nothing it can parse.
            self.stats.baud_mismatch_bytes += bytes.len() as u64;
            return;
        }
        let mut bytes = bytes.to_vec();
        if self.fault == Some(Fault::DroppedBytes)
            && !bytes.is_empty()
            && self.rng.random_bool(0.03)
        {
            let at = self.rng.random_range(0..bytes.len());
            bytes.remove(at);
            self.stats.dropped_bytes += 1;
        }
        if self.power == Power::On && self.in_data_mode() {
            return self.data_bytes(now, &bytes, meter);
        }
        for byte in bytes {
            if self.power != Power::On {
                // Booting, shutting down or off: the UART is deaf.
                continue;
            }
            if self.download.is_some() {
                self.body_byte(now, byte, meter);
                continue;
            }
            if self.receiving_cert() {
                self.cert_byte(now, byte);
                continue;
            }
            match byte {
                b'\r' => {
                    let line = std::mem::take(&mut self.line);
                    self.command(now, &line, meter);
                }
                b'\n' => {}
                _ if self.line.len() < MAX_LINE => self.line.push(byte),
                _ => {}
            }
        }
    }

    fn catch_up(&mut self, now: u64) {
        match self.power {
            Power::Booting { ready_at } if now >= ready_at => self.power = Power::On,
            Power::PoweringDown { off_at } if now >= off_at => self.power = Power::Off,
            _ => {}
        }
    }

    fn reset_session(&mut self) {
        self.line.clear();
        self.download = None;
        self.session = None;
        self.echo = true;
        self.ssl.reset();
        self.registration_urcs = false;
        self.uploads = 0;
        self.actions = 0;
        self.reset_socket();
    }

    fn boot(&mut self, now: u64, meter: &mut Meter) {
        self.reset_session();
        self.outbox.clear();
        let jitter = self.spec.timing.boot_jitter_ms;
        let boot = self.spec.timing.boot_ms + self.rng.random_range(0..=2 * jitter) - jitter;
        let ready_at = now + boot;
        self.power = Power::Booting { ready_at };
        self.baud = self.nv_baud;
        self.registered_at = ready_at + self.spec.timing.registration_at(self.spec.signal_dbm);
        meter.set(Rail::Modem, now, State::ModemBooting);
        meter.set(Rail::Modem, ready_at, State::ModemSearching);
        if self.can_register() {
            meter.set(Rail::Modem, self.registered_at, State::ModemIdle);
        }
        let cpin = if self.fault == Some(Fault::NoSim) {
            "+CPIN: SIM REMOVED"
        } else {
            "+CPIN: READY"
        };
        self.urc(ready_at, "*ATREADY: 1");
        self.urc(ready_at + 300, cpin);
        self.urc(ready_at + 2_000, "SMS DONE");
        self.urc(ready_at + 2_500, "PB DONE");
        if self.fault == Some(Fault::UrcNoise) {
            let mut at = ready_at;
            for _ in 0..40 {
                at += self.rng.random_range(500..4_000);
                let line = NOISE[self.rng.random_range(0..NOISE.len())];
                self.urc(at, line);
                self.stats.noise_lines += 1;
            }
        }
    }

    fn shut_off(&mut self, now: u64, meter: &mut Meter) {
        self.reset_session();
        self.outbox.clear();
        self.power = Power::Off;
        meter.set(Rail::Modem, now, State::Off);
    }

    /// PDP context 1 can be activated (Manual §16.2.1): `AT+CGDCONT` stored the SIM's APN.
    fn pdp_context(&self) -> bool {
        self.nv_apn.as_deref() == Some(self.spec.apn.as_str())
    }

    fn can_register(&self) -> bool {
        !matches!(
            self.fault,
            Some(Fault::NoSim | Fault::RegistrationDenied | Fault::NoCoverage)
        )
    }

    fn registered(&self, now: u64) -> bool {
        self.power == Power::On && self.can_register() && now >= self.registered_at
    }

    /// Queues `bytes` to be sent at `at` plus their UART time, after what is already due then.
    fn send_at(&mut self, at: u64, bytes: Vec<u8>, tag: Option<u64>) {
        self.queue_out(at, bytes, tag, false);
    }

    fn queue_out(&mut self, at: u64, bytes: Vec<u8>, tag: Option<u64>, unsolicited: bool) {
        let mut bytes = bytes;
        if self.fault == Some(Fault::DroppedBytes) && bytes.len() > 2 && self.rng.random_bool(0.04)
        {
            let index = self.rng.random_range(0..bytes.len());
            bytes.remove(index);
            self.stats.dropped_bytes += 1;
        }
        let at = at + uart_ms(self.baud, bytes.len());
        let index = self
            .outbox
            .iter()
            .position(|o| o.at > at)
            .unwrap_or(self.outbox.len());
        let baud = self.baud;
        self.outbox.insert(
            index,
            Out {
                at,
                bytes,
                baud,
                tag,
                unsolicited,
            },
        );
    }

    fn urc(&mut self, at: u64, line: &str) {
        self.queue_out(at, format!("\r\n{line}\r\n").into_bytes(), None, true);
    }

    fn answer(&mut self, now: u64, lines: &[&str], ok: bool) {
        if let Some(batch) = self.batch.as_mut() {
            batch.failed |= !ok;
            batch
                .lines
                .extend(lines.iter().map(|line| (*line).to_owned()));
            return;
        }
        let delay = self.spec.timing.command_ms
            + self.rng.random_range(0..=self.spec.timing.command_ms / 2);
        let mut text = String::new();
        for line in lines {
            text.push_str("\r\n");
            text.push_str(line);
            text.push_str("\r\n");
        }
        text.push_str(if ok { "\r\nOK\r\n" } else { "\r\nERROR\r\n" });
        self.send_at(now + delay, text.into_bytes(), None);
    }

    fn ok(&mut self, now: u64) {
        self.answer(now, &[], true);
    }

    fn error(&mut self, now: u64) {
        self.answer(now, &[], false);
    }

    /// One command line: echoed, then its commands run in order. Several extended commands may
    /// share a line, `;`-separated (Manual §1.5.2, "Combining AT commands on the same command
    /// line", at most 3,071 characters): one final result for the line, `ERROR` at the first
    /// that fails and the rest not run. The emulator combines only ordinary commands
    /// ([`BATCHABLE`]); anything else in a combined line is refused.
    fn command(&mut self, now: u64, raw: &[u8], meter: &mut Meter) {
        let text = String::from_utf8_lossy(raw).trim().to_owned();
        if text.is_empty() {
            return;
        }
        if self.echo {
            self.send_at(now, format!("{text}\r").into_bytes(), None);
        }
        let commands = split_line(&text);
        if commands.len() == 1 || text.len() > MAX_COMBINED_LINE {
            return self.execute(now, text, meter);
        }
        self.batch = Some(Batch::default());
        for command in commands {
            let upper = command.to_ascii_uppercase();
            if !BATCHABLE.iter().any(|name| upper.starts_with(name)) {
                self.answer(now, &[], false);
            } else {
                self.execute(now, command, meter);
            }
            if self.batch.as_ref().is_none_or(|batch| batch.failed) {
                break;
            }
        }
        if let Some(batch) = self.batch.take() {
            let lines: Vec<&str> = batch.lines.iter().map(String::as_str).collect();
            self.answer(now, &lines, !batch.failed);
        }
    }

    fn execute(&mut self, now: u64, text: String, meter: &mut Meter) {
        self.stats.commands += 1;
        if let Some(transcript) = self.transcript.as_mut() {
            transcript.push((now, self.baud, text.clone()));
        }
        let upper = text.to_ascii_uppercase();
        let (name, arg) = match upper.find(['=', '?']) {
            Some(i) if upper.as_bytes()[i] == b'=' => (&upper[..i], Some(&text[i + 1..])),
            _ => (upper.as_str(), None),
        };
        match (name, arg) {
            ("AT", None) => self.ok(now),
            ("ATE0", None) => {
                self.echo = false;
                self.ok(now);
            }
            ("ATE1", None) => {
                self.echo = true;
                self.ok(now);
            }
            ("AT+CMEE", Some(_)) => self.ok(now),
            ("AT+CGDCONT", Some(arg)) => {
                let fields: Vec<&str> =
                    arg.split(',').map(|f| f.trim().trim_matches('"')).collect();
                if fields.first() == Some(&"1") {
                    self.nv_apn = fields.get(2).map(|apn| (*apn).to_owned());
                }
                self.ok(now);
            }
            ("AT+IPR", Some(arg)) | ("AT+IPREX", Some(arg)) => {
                match arg.trim().parse::<u32>() {
                    Ok(rate) if self.spec.uart_bauds.contains(&rate) => {
                        // The result code goes at the old speed; the UART switches after it.
                        self.ok(now);
                        self.baud = rate;
                        if name == "AT+IPREX" {
                            self.nv_baud = rate;
                        }
                    }
                    _ => self.error(now),
                }
            }
            ("AT+CEREG", Some(arg)) | ("AT+CGREG", Some(arg)) => {
                match arg.trim() {
                    "0" | "1" => {
                        self.ok(now);
                        let on = arg.trim() == "1";
                        if on && !self.registration_urcs && self.can_register() {
                            // Reported on the change to registered (3GPP TS 27.007 §10.1.22).
                            let at = self.registered_at.max(now + 1);
                            if self.registered_at > now {
                                let stat = if self.spec.roaming { 5 } else { 1 };
                                let prefix = &name[2..];
                                self.urc(at, &format!("{prefix}: {stat}"));
                            }
                        }
                        self.registration_urcs |= on;
                    }
                    _ => self.error(now),
                }
            }
            ("AT+SIMCOMATI", None) => {
                let model = format!("Model: {}", self.spec.model);
                self.answer(
                    now,
                    &[
                        "Manufacturer: SIMCOM INCORPORATED",
                        &model,
                        "Revision: A131B01A7670M7",
                        "IMEI: 860000000000000",
                    ],
                    true,
                );
            }
            ("AT+CPIN?", None) => {
                if self.fault == Some(Fault::NoSim) {
                    let delay = self.spec.timing.command_ms;
                    self.send_at(
                        now + delay,
                        format!("\r\n{CME_SIM_NOT_INSERTED}\r\n").into_bytes(),
                        None,
                    );
                } else {
                    self.answer(now, &["+CPIN: READY"], true);
                }
            }
            ("AT+CEREG?", None) | ("AT+CGREG?", None) => {
                let stat = match self.fault {
                    Some(Fault::RegistrationDenied) => 3,
                    Some(Fault::NoSim) => 0,
                    _ if self.registered(now) => {
                        if self.spec.roaming {
                            5
                        } else {
                            1
                        }
                    }
                    _ => 2,
                };
                let prefix = &name[2..name.len() - 1];
                self.answer(now, &[&format!("{prefix}: 0,{stat}")], true);
            }
            ("AT+CSQ", None) => {
                let rssi = if self.registered(now) {
                    ((i32::from(self.spec.signal_dbm) + 113) / 2).clamp(0, 31)
                } else {
                    99
                };
                self.answer(now, &[&format!("+CSQ: {rssi},99")], true);
            }
            ("AT+CPOF", None) => {
                self.ok(now);
                let off_at = now + self.spec.timing.power_down_ms;
                self.reset_session();
                self.power = Power::PoweringDown { off_at };
                self.outbox.retain(|o| o.at < off_at);
                self.urc(off_at, "POWERED DOWN");
                meter.set(Rail::Modem, now, State::ModemPoweringDown);
                meter.set(Rail::Modem, off_at, State::Off);
            }
            ("AT+CSSLCFG", Some(arg)) => self.ssl_cfg(now, arg),
            ("AT+CCERTDOWN", Some(arg)) => self.cert_down(now, arg),
            ("AT+HTTPINIT", None) => {
                if self.session.is_some() || !self.registered(now) || !self.pdp_context() {
                    self.error(now);
                } else {
                    self.session = Some(Session::default());
                    self.ok(now);
                }
            }
            ("AT+HTTPTERM", None) => {
                if self.session.take().is_some() {
                    self.ok(now);
                } else {
                    self.error(now);
                }
            }
            ("AT+CCHMODE", Some(arg)) => self.cch_mode(now, arg),
            ("AT+CCHSTART", None) => self.cch_start(now),
            ("AT+CCHSSLCFG", Some(arg)) => self.cch_ssl_cfg(now, arg),
            ("AT+CCHOPEN", Some(arg)) => self.cch_open(now, arg, meter),
            ("AT+CCHCLOSE", Some(arg)) => self.cch_close(now, arg),
            ("AT+HTTPPARA", Some(arg)) => self.http_para(now, arg),
            ("AT+HTTPDATA", Some(arg)) => self.http_data(now, arg),
            ("AT+HTTPACTION", Some(arg)) => self.http_action(now, arg, meter),
            ("AT+HTTPHEAD", None) => self.http_head(now),
            ("AT+HTTPREAD", Some(arg)) => self.http_read(now, arg),
            _ => self.error(now),
        }
    }

    fn http_para(&mut self, now: u64, arg: &str) {
        let Some(session) = self.session.as_mut() else {
            return self.error(now);
        };
        let Some((key, value)) = arg.split_once(',') else {
            return self.error(now);
        };
        let value = value.trim().trim_matches('"').to_owned();
        match key.trim().trim_matches('"').to_ascii_uppercase().as_str() {
            "URL" => session.url = Some(value),
            "CONTENT" => session.content = Some(value).filter(|v| !v.is_empty()),
            "USERDATA" => {
                session.userdata = value
                    .split("\\r\\n")
                    .filter_map(|pair| pair.split_once(':'))
                    .map(|(name, value)| (name.trim().to_owned(), value.trim().to_owned()))
                    .collect();
            }
            "SSLCFG" => match value.parse::<u8>() {
                Ok(index) if index < 10 => session.ssl_ctx = index,
                _ => return self.error(now),
            },
            "CONNECTTO" | "RECVTO" | "READMODE" | "ACCEPT" => {}
            _ => return self.error(now),
        }
        self.ok(now);
    }

    fn http_data(&mut self, now: u64, arg: &str) {
        let mut fields = arg.split(',').map(str::trim);
        let len = fields.next().and_then(|f| f.parse::<usize>().ok());
        let secs = fields.next().and_then(|f| f.parse::<u64>().ok());
        let (Some(len), Some(secs), true) = (len, secs, self.session.is_some()) else {
            return self.error(now);
        };
        if len > MAX_HTTPDATA {
            return self.error(now);
        }
        self.uploads += 1;
        let reset_at = match self.fault {
            Some(Fault::ResetMidUpload { upload }) if upload == self.uploads => Some(len / 2),
            _ => None,
        };
        let delay = self.spec.timing.command_ms;
        self.send_at(now + delay, b"\r\nDOWNLOAD\r\n".to_vec(), None);
        let timeout_tag = self.next_tag;
        self.next_tag += 1;
        self.send_at(
            now + delay + secs * 1_000,
            b"\r\nERROR\r\n".to_vec(),
            Some(timeout_tag),
        );
        self.download = Some(Download {
            len,
            body: Vec::with_capacity(len),
            timeout_tag,
            reset_at,
        });
        if len == 0 {
            self.finish_download(now);
        }
    }

    fn body_byte(&mut self, now: u64, byte: u8, meter: &mut Meter) {
        let Some(download) = self.download.as_mut() else {
            return;
        };
        download.body.push(byte);
        if download.reset_at == Some(download.body.len()) {
            self.stats.resets += 1;
            // A brown-out: the modem restarts by itself and boots again, this time for good.
            self.fault = None;
            self.boot(now, meter);
            return;
        }
        if download.body.len() >= download.len {
            self.finish_download(now);
        }
    }

    fn finish_download(&mut self, now: u64) {
        let Some(download) = self.download.take() else {
            return;
        };
        let tag = download.timeout_tag;
        let expired = !self.outbox.iter().any(|o| o.tag == Some(tag));
        if expired {
            // The modem gave up waiting; these bytes are ignored as noise by its parser.
            return;
        }
        self.outbox.retain(|o| o.tag != Some(tag));
        if let Some(session) = self.session.as_mut() {
            session.body = download.body;
        }
        self.ok(now);
    }

    fn http_action(&mut self, now: u64, arg: &str, meter: &mut Meter) {
        let method = match arg.trim() {
            "0" => "GET",
            "1" => "POST",
            "2" => "HEAD",
            "3" => "DELETE",
            "4" => "PUT",
            _ => return self.error(now),
        };
        let Some(session) = self.session.as_mut() else {
            return self.error(now);
        };
        let Some(url) = session.url.clone() else {
            return self.error(now);
        };
        session.reply = None;
        let mut headers = session.userdata.clone();
        if let Some(content) = &session.content {
            headers.push(("Content-Type".to_owned(), content.clone()));
        }
        let body = if method == "GET" {
            Vec::new()
        } else {
            session.body.clone()
        };
        let tls = url.starts_with("https://");
        let ssl_ctx = session.ssl_ctx;
        let context = self.ssl.context(ssl_ctx);
        // A real handshake unless the server speaks plain HTTP (`tls_terminated`).
        let tls_client = (tls && !self.spec.tls_terminated).then(|| {
            let host = crate::net::Target::parse(&url).map_or("", |t| t.host);
            self.tls_client(ssl_ctx, host)
        });
        let wire_url = if tls && self.spec.tls_terminated {
            url.replacen("https://", "http://", 1)
        } else {
            url.clone()
        };
        let request = HttpRequest {
            method: method.to_owned(),
            url: wire_url,
            headers,
            body,
        };
        self.ok(now);
        self.actions += 1;
        self.stats.http_actions += 1;
        let code: u8 = arg.trim().parse().unwrap_or(0);
        let signal = self.spec.signal_dbm;
        let timing = self.spec.timing.clone();
        let first = self.actions == 1;
        let up = request.body.len() + 300;
        let at_unix_ms = self.epoch_unix_ms + now as i64;
        let failure = match self.fault {
            Some(Fault::HttpError {
                request: n,
                code,
                sent,
            }) if n == self.actions => {
                Some((code, sent, timing.exchange_ms(signal, first, tls, up, 0)))
            }
            Some(Fault::HttpTimeout { request: n }) if n == self.actions => {
                Some((codes::TIMEOUT, true, timing.http_timeout_ms))
            }
            _ if tls && !context.sni => {
                Some((codes::TLS_HANDSHAKE, false, 4 * timing.rtt_ms(signal)))
            }
            _ if matches!(tls_client, Some(Err(()))) => {
                self.stats.tls_refused += 1;
                Some((codes::TLS_HANDSHAKE, false, 4 * timing.rtt_ms(signal)))
            }
            _ => None,
        };
        let (status, len, done_at) = match failure {
            Some((status, sent, took)) => {
                if sent {
                    self.stats.requests_sent += 1;
                    let _ = self.network.exchange(&request, at_unix_ms);
                }
                (status, 0, now + took)
            }
            None => {
                let exchanged = match &tls_client {
                    Some(Ok(client)) => self.network.exchange_tls(&request, at_unix_ms, client),
                    _ => self.network.exchange(&request, at_unix_ms),
                };
                if exchanged == Err(TransportError::Tls) {
                    // The handshake failed: the request never left the modem.
                    self.stats.tls_refused += 1;
                } else {
                    self.stats.requests_sent += 1;
                }
                match exchanged {
                    Ok(reply) => {
                        let took = timing.exchange_ms(
                            signal,
                            first,
                            tls,
                            up,
                            reply.head.len() + reply.body.len(),
                        ) + SERVER_MS;
                        let status = reply.status;
                        self.stats.unauthorized += u64::from(status == 401);
                        let len = reply.body.len();
                        if let Some(session) = self.session.as_mut() {
                            session.reply = Some(reply);
                        }
                        (status, len, now + took)
                    }
                    Err(error) => {
                        let (status, took) = match error {
                            TransportError::Dns => (codes::DNS, 2 * timing.rtt_ms(signal)),
                            TransportError::Connect => (codes::CONNECT, 2 * timing.rtt_ms(signal)),
                            TransportError::Tls => {
                                (codes::TLS_HANDSHAKE, 4 * timing.rtt_ms(signal))
                            }
                            TransportError::Timeout => (codes::TIMEOUT, timing.http_timeout_ms),
                            TransportError::Broken => (codes::SOCKET, 3 * timing.rtt_ms(signal)),
                        };
                        (status, 0, now + took)
                    }
                }
            }
        };
        meter.set(Rail::Modem, now, State::ModemTx { signal_dbm: signal });
        meter.set(Rail::Modem, done_at, State::ModemIdle);
        self.urc(done_at, &format!("+HTTPACTION: {code},{status},{len}"));
    }

    fn http_head(&mut self, now: u64) {
        let Some(head) = self
            .session
            .as_ref()
            .and_then(|s| s.reply.as_ref())
            .map(|r| r.head.clone())
        else {
            return self.error(now);
        };
        let mut out = format!("\r\n+HTTPHEAD: {}\r\n", head.len()).into_bytes();
        out.extend_from_slice(&head);
        out.extend_from_slice(b"\r\nOK\r\n");
        let delay = self.spec.timing.command_ms;
        self.send_at(now + delay, out, None);
    }

    fn http_read(&mut self, now: u64, arg: &str) {
        let mut fields = arg.split(',').map(str::trim);
        let offset = fields.next().and_then(|f| f.parse::<usize>().ok());
        let size = fields.next().and_then(|f| f.parse::<usize>().ok());
        let body = self
            .session
            .as_ref()
            .and_then(|s| s.reply.as_ref())
            .map(|r| &r.body);
        let (Some(offset), Some(size), Some(body)) = (offset, size, body) else {
            return self.error(now);
        };
        let start = offset.min(body.len());
        let end = (start + size).min(body.len());
        let chunk = body[start..end].to_vec();
        let mut out = format!("\r\nOK\r\n\r\n+HTTPREAD: {}\r\n", chunk.len()).into_bytes();
        out.extend_from_slice(&chunk);
        out.extend_from_slice(b"\r\n+HTTPREAD: 0\r\n");
        let delay = self.spec.timing.command_ms;
        self.send_at(now + delay, out, None);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug)]
    struct Unreachable;

    impl Network for Unreachable {
        fn exchange(&self, _: &HttpRequest, _: i64) -> Result<HttpReply, TransportError> {
            Err(TransportError::Connect)
        }
    }

    /// Serves bytes 2.. of an image whatever is asked, and remembers the requests.
    #[derive(Debug, Default)]
    struct Ranged {
        requests: std::cell::RefCell<Vec<HttpRequest>>,
    }

    /// Binary bytes that look like the modem's own framing.
    const TRICKY: &[u8] = b"\r\nOK\r\n+HTTPREAD: 0\r\n\x00\xff";

    impl Network for Ranged {
        fn exchange(&self, request: &HttpRequest, _: i64) -> Result<HttpReply, TransportError> {
            self.requests.borrow_mut().push(request.clone());
            Ok(HttpReply {
                status: 206,
                head: b"HTTP/1.1 206 Partial Content\r\ncontent-range: bytes 2-23/100\r\n\r\n"
                    .to_vec(),
                body: TRICKY.to_vec(),
                elapsed: std::time::Duration::ZERO,
            })
        }
    }

    /// A plain-HTTP server on a local port answering each request with `201` and a 9-byte body
    /// (closing when asked), and the network that connects to it; `served` counts requests.
    #[derive(Debug)]
    struct Tcp {
        port: u16,
        served: std::sync::Arc<std::sync::atomic::AtomicUsize>,
        gate: crate::net::Gate,
    }

    impl Tcp {
        fn start() -> Rc<Self> {
            use std::io::{Read as _, Write as _};
            let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
            let port = listener.local_addr().expect("addr").port();
            let served = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
            let count = served.clone();
            std::thread::spawn(move || {
                for stream in listener.incoming() {
                    let Ok(mut stream) = stream else { return };
                    let mut buffer = Vec::new();
                    let mut chunk = [0; 4096];
                    loop {
                        let Some(end) = buffer.windows(4).position(|w| w == b"\r\n\r\n") else {
                            match stream.read(&mut chunk) {
                                Ok(0) | Err(_) => break,
                                Ok(n) => buffer.extend_from_slice(&chunk[..n]),
                            }
                            continue;
                        };
                        let head = String::from_utf8_lossy(&buffer[..end + 4]).to_ascii_lowercase();
                        let len: usize = head
                            .lines()
                            .find_map(|l| l.strip_prefix("content-length:"))
                            .map_or(0, |v| v.trim().parse().expect("length"));
                        while buffer.len() < end + 4 + len {
                            match stream.read(&mut chunk) {
                                Ok(0) | Err(_) => return,
                                Ok(n) => buffer.extend_from_slice(&chunk[..n]),
                            }
                        }
                        buffer.drain(..end + 4 + len);
                        count.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                        let close = head.contains("connection: close");
                        let reply = format!(
                            "HTTP/1.1 201 Created\r\ncontent-length: 9\r\n{}\r\n{{\"n\":{:03}}}",
                            if close { "connection: close\r\n" } else { "" },
                            len % 1_000
                        );
                        let _ = stream.write_all(reply.as_bytes());
                        if close {
                            break;
                        }
                    }
                }
            });
            let gate = crate::net::Gate::new(&format!("http://127.0.0.1:{port}")).expect("gate");
            Rc::new(Self { port, served, gate })
        }

        fn served(&self) -> usize {
            self.served.load(std::sync::atomic::Ordering::SeqCst)
        }
    }

    impl Network for Tcp {
        fn exchange(&self, _: &HttpRequest, _: i64) -> Result<HttpReply, TransportError> {
            Err(TransportError::Connect)
        }

        fn connect(&self, url: &str) -> Result<crate::net::RawConnection, TransportError> {
            assert_eq!(url, format!("http://127.0.0.1:{}", self.port));
            self.gate.open(url)
        }
    }

    /// `POST /x` with a body of `len` bytes, closing when `close`.
    fn post(len: usize, close: bool) -> String {
        format!(
            "POST /x HTTP/1.1\r\nHost: h\r\nContent-Length: {len}\r\n{}\r\n{}",
            if close { "Connection: close\r\n" } else { "" },
            "b".repeat(len)
        )
    }

    struct Bench {
        modem: Modem,
        meter: Meter,
        now: u64,
        /// The speed of the MCU's end of the UART.
        baud: u32,
    }

    impl Bench {
        fn new(fault: Option<Fault>) -> Self {
            let mut modem = Modem::new(ModemSpec::default(), 1, Rc::new(Unreachable), 0);
            modem.arm(fault);
            Self {
                modem,
                meter: Meter::default(),
                now: 0,
                baud: 115_200,
            }
        }

        fn with_network(network: Rc<dyn Network>) -> Self {
            Self {
                modem: Modem::new(ModemSpec::default(), 1, network, 0),
                ..Self::new(None)
            }
        }

        /// Everything the modem sends until `until`, as bytes; time moves there.
        fn drain_bytes(&mut self, until: u64) -> Vec<u8> {
            let mut out = Vec::new();
            let mut buf = [0; 256];
            loop {
                let n = self.modem.read(self.now, &mut buf, self.baud);
                out.extend_from_slice(&buf[..n]);
                if n > 0 {
                    continue;
                }
                match self.modem.next_output_after(self.now) {
                    Some(t) if t <= until => self.now = t,
                    _ => break,
                }
            }
            self.now = until;
            out
        }

        fn power_on(&mut self) {
            self.modem.power_key(self.now, true, &mut self.meter);
            self.now += 100;
            self.modem.power_key(self.now, false, &mut self.meter);
        }

        /// Everything the modem sends until `until`, as text; time moves there.
        fn drain(&mut self, until: u64) -> String {
            String::from_utf8_lossy(&self.drain_bytes(until)).into_owned()
        }

        fn send(&mut self, bytes: &str) -> String {
            self.modem
                .receive(self.now, bytes.as_bytes(), self.baud, &mut self.meter);
            let until = self.now + 1_000;
            self.drain(until)
        }

        fn ready(&mut self) {
            self.power_on();
            let boot = self.drain(20_000);
            assert!(boot.contains("*ATREADY: 1"), "{boot}");
            assert!(self.send("ATE0\r").ends_with("\r\nOK\r\n"));
        }
    }

    #[test]
    fn the_uart_is_deaf_until_the_boot_ends_then_echoes_until_ate0() {
        let mut bench = Bench::new(None);
        bench.power_on();
        bench.now = 5_000;
        assert_eq!(bench.send("AT\r"), "", "nothing answers during the boot");
        let boot = bench.drain(15_000);
        assert!(boot.starts_with("\r\n*ATREADY: 1\r\n"), "{boot:?}");
        assert_eq!(bench.send("AT\r"), "AT\r\r\nOK\r\n");
        assert_eq!(bench.send("ATE0\r"), "ATE0\r\r\nOK\r\n");
        assert_eq!(bench.send("AT+CSQ\r"), "\r\n+CSQ: 14,99\r\n\r\nOK\r\n");
        assert_eq!(bench.send("AT+BOGUS\r"), "\r\nERROR\r\n");
    }

    #[test]
    fn iprex_is_kept_across_power_cycles_and_bytes_at_another_speed_are_lost() {
        let mut bench = Bench::new(None);
        bench.ready();
        assert_eq!(
            bench.send("AT+IPREX=921600\r"),
            "\r\nOK\r\n",
            "answered at the old speed"
        );
        assert_eq!(bench.send("AT+CSQ\r"), "", "deaf to the old speed");
        assert_eq!(bench.modem.stats().baud_mismatch_bytes, 7);
        bench.baud = 921_600;
        assert_eq!(bench.send("AT+CPOF\r"), "\r\nOK\r\n");
        let until = bench.now + 5_000;
        bench.drain(until);
        bench.power_on();
        let boot = bench.drain(bench.now + 15_000);
        assert!(boot.contains("*ATREADY: 1"), "booted at 921,600: {boot:?}");
        assert_eq!(bench.modem.baud(), 921_600);
    }

    #[test]
    fn iprex_takes_the_manuals_rates_only() {
        let mut bench = Bench::new(None);
        bench.ready();
        for rate in ["3000000", "3200000", "2000000", "1000000"] {
            assert_eq!(
                bench.send(&format!("AT+IPREX={rate}\r")),
                "\r\nERROR\r\n",
                "{rate} is not in the A76XX manual's list"
            );
        }
        assert_eq!(bench.modem.baud(), 115_200);
        assert_eq!(bench.send("AT+IPREX=3686400\r"), "\r\nOK\r\n");
        assert_eq!(bench.modem.baud(), 3_686_400);
    }

    #[test]
    fn a_modem_whose_firmware_lacks_a_rate_refuses_it() {
        let mut spec = ModemSpec::default();
        spec.uart_bauds.retain(|&b| b != 3_686_400);
        let mut bench = Bench::new(None);
        bench.modem = Modem::new(spec, 1, Rc::new(Unreachable), 0);
        bench.ready();
        assert_eq!(bench.send("AT+IPREX=3686400\r"), "\r\nERROR\r\n");
        assert_eq!(bench.send("AT+IPREX=921600\r"), "\r\nOK\r\n");
    }

    #[test]
    fn http_needs_the_sims_apn_stored_with_cgdcont_which_survives_power_cycles() {
        let mut bench = Bench::new(None);
        bench.ready();
        bench.now = 20_000;
        assert!(
            bench.send("AT+HTTPINIT\r").contains("ERROR"),
            "no PDP context for the SIM's APN"
        );
        assert!(
            bench
                .send("AT+CGDCONT=1,\"IP\",\"other.apn\"\r")
                .contains("OK")
        );
        assert!(
            bench.send("AT+HTTPINIT\r").contains("ERROR"),
            "the wrong APN"
        );
        assert!(
            bench
                .send("AT+CGDCONT=1,\"IP\",\"iot.sim\"\r")
                .contains("OK")
        );
        assert!(bench.send("AT+CPOF\r").contains("OK"));
        let until = bench.now + 5_000;
        bench.drain(until);
        bench.power_on();
        let until = bench.now + 15_000;
        assert!(bench.drain(until).contains("*ATREADY: 1"));
        bench.now += 10_000;
        assert!(
            bench.send("AT+HTTPINIT\r").contains("OK"),
            "AUTO_SAVE: the APN is still there after a power cycle"
        );
    }

    #[test]
    fn commands_combined_on_one_line_get_one_result_and_stop_at_the_first_error() {
        let mut bench = Bench::new(None);
        bench.ready();
        bench.send("AT+CGDCONT=1,\"IP\",\"iot.sim\"\r");
        bench.now += 10_000;
        assert!(bench.send("AT+HTTPINIT\r").contains("OK"));
        let line = "AT+HTTPPARA=\"URL\",\"http://h/a;b\";+HTTPPARA=\"CONTENT\",\"x/y\";+CSQ\r";
        assert_eq!(bench.send(line), "\r\n+CSQ: 14,99\r\n\r\nOK\r\n");
        let session = bench.modem.session.as_ref().expect("session");
        assert_eq!(
            session.url.as_deref(),
            Some("http://h/a;b"),
            "a ; in quotes"
        );
        assert_eq!(session.content.as_deref(), Some("x/y"));
        assert_eq!(
            bench.send("AT+CSQ;+BOGUS;+HTTPPARA=\"CONTENT\",\"z\"\r"),
            "\r\n+CSQ: 14,99\r\n\r\nERROR\r\n",
            "what ran answers, then the line fails"
        );
        let session = bench.modem.session.as_ref().expect("session");
        assert_eq!(
            session.content.as_deref(),
            Some("x/y"),
            "not run after the error"
        );
        assert_eq!(
            bench.send("AT+HTTPACTION=1;+CSQ\r"),
            "\r\nERROR\r\n",
            "the emulator combines ordinary commands only"
        );
        assert_eq!(bench.modem.stats().http_actions, 0);
    }

    #[test]
    fn cereg_1_reports_the_registration_as_a_urc() {
        let mut bench = Bench::new(None);
        bench.power_on();
        let boot = bench.drain(12_000);
        assert!(boot.contains("*ATREADY: 1"), "{boot}");
        assert!(bench.send("ATE0\r").ends_with("\r\nOK\r\n"));
        assert!(bench.send("AT+CEREG=1\r").contains("\r\nOK\r\n"));
        let until = bench.now + 10_000;
        let later = bench.drain(until);
        assert!(later.contains("\r\n+CEREG: 1\r\n"), "{later:?}");
    }

    #[test]
    fn registration_is_reported_by_fault() {
        let mut home = Bench::new(None);
        home.ready();
        assert!(home.send("AT+CEREG?\r").contains("+CEREG: 0,1"));
        let mut denied = Bench::new(Some(Fault::RegistrationDenied));
        denied.ready();
        assert!(denied.send("AT+CEREG?\r").contains("+CEREG: 0,3"));
        assert!(denied.send("AT+HTTPINIT\r").contains("ERROR"));
        let mut no_sim = Bench::new(Some(Fault::NoSim));
        no_sim.ready();
        assert!(no_sim.send("AT+CPIN?\r").contains("+CME ERROR: 10"));
    }

    #[test]
    fn a_short_httpdata_body_times_out_with_error() {
        let mut bench = Bench::new(None);
        bench.ready();
        bench.send("AT+CGDCONT=1,\"IP\",\"iot.sim\"\r");
        assert!(bench.send("AT+HTTPINIT\r").contains("OK"));
        assert!(bench.send("AT+HTTPDATA=10,2\r").contains("DOWNLOAD"));
        assert_eq!(bench.send("12345"), "");
        let until = bench.now + 3_000;
        assert_eq!(bench.drain(until), "\r\nERROR\r\n");
    }

    #[test]
    fn a_get_carries_the_userdata_range_and_httpread_returns_binary_bytes_untouched() {
        let network = Rc::new(Ranged::default());
        let mut bench = Bench::with_network(network.clone());
        bench.ready();
        bench.send("AT+CGDCONT=1,\"IP\",\"iot.sim\"\r");
        bench.send("AT+HTTPINIT\r");
        bench.send("AT+HTTPPARA=\"URL\",\"http://fw.test/api/device/v1/firmware/2.0.0\"\r");
        let userdata =
            "AT+HTTPPARA=\"USERDATA\",\"X-Device-Serial: SB-1\\r\\nRange: bytes=2-23\"\r";
        assert!(bench.send(userdata).contains("OK"));
        let mut action = bench.send("AT+HTTPACTION=0\r");
        let until = bench.now + 10_000;
        action.push_str(&String::from_utf8_lossy(&bench.drain_bytes(until)));
        assert!(action.contains("+HTTPACTION: 0,206,22"), "{action:?}");
        let requests = network.requests.borrow();
        assert_eq!(requests[0].method, "GET");
        assert!(requests[0].body.is_empty());
        assert_eq!(
            requests[0].headers,
            [
                ("X-Device-Serial".to_owned(), "SB-1".to_owned()),
                ("Range".to_owned(), "bytes=2-23".to_owned()),
            ]
        );

        bench.modem.receive(
            bench.now,
            b"AT+HTTPREAD=0,22\r",
            bench.baud,
            &mut bench.meter,
        );
        let until = bench.now + 1_000;
        let read = bench.drain_bytes(until);
        let mut expected = b"\r\nOK\r\n\r\n+HTTPREAD: 22\r\n".to_vec();
        expected.extend_from_slice(TRICKY);
        expected.extend_from_slice(b"\r\n+HTTPREAD: 0\r\n");
        assert_eq!(read, expected);
    }

    #[test]
    fn a_refused_connection_is_a_7xx_action_and_cpof_powers_down() {
        let mut bench = Bench::new(None);
        bench.ready();
        bench.send("AT+CGDCONT=1,\"IP\",\"iot.sim\"\r");
        bench.send("AT+HTTPINIT\r");
        bench.send("AT+HTTPPARA=\"URL\",\"http://127.0.0.1:9/api/device/v1/heartbeat\"\r");
        assert!(bench.send("AT+HTTPDATA=2,10\r").contains("DOWNLOAD"));
        assert!(bench.send("{}").contains("OK"));
        let sent = bench.send("AT+HTTPACTION=1\r");
        assert!(
            sent.contains(&format!("+HTTPACTION: 1,{},0", codes::CONNECT)),
            "{sent:?}"
        );
        assert!(bench.send("AT+CPOF\r").contains("OK"));
        assert!(!bench.modem.is_off(bench.now));
        let until = bench.now + 5_000;
        assert!(bench.drain(until).contains("POWERED DOWN"));
        assert!(bench.modem.is_off(bench.now));
        assert_eq!(bench.meter.state_at(Rail::Modem, bench.now), State::Off);
    }

    impl Bench {
        /// Registered, the APN stored, the service started in transparent mode.
        fn cch_started(network: Rc<dyn Network>) -> Self {
            let mut bench = Self::with_network(network);
            bench.ready();
            bench.send("AT+CGDCONT=1,\"IP\",\"iot.sim\"\r");
            let until = bench.now + 5_000;
            bench.drain(until);
            assert_eq!(bench.send("AT+CCHMODE=1\r"), "\r\nOK\r\n");
            assert_eq!(
                bench.send("AT+CCHSTART\r"),
                "\r\nOK\r\n\r\n+CCHSTART: 0\r\n"
            );
            bench
        }

        fn open(&mut self, port: u16) -> String {
            let command = format!("AT+CCHOPEN=0,\"127.0.0.1\",{port},1\r");
            self.modem
                .receive(self.now, command.as_bytes(), self.baud, &mut self.meter);
            let until = self.now + 2_000;
            self.drain(until)
        }
    }

    #[test]
    fn the_socket_service_needs_transparent_mode_cchstart_and_the_apn() {
        let tcp = Tcp::start();
        let mut bench = Bench::with_network(tcp.clone());
        bench.ready();
        let until = bench.now + 5_000;
        bench.drain(until);
        assert!(bench.send("AT+CCHSTART\r").contains("ERROR"), "no APN");
        bench.send("AT+CGDCONT=1,\"IP\",\"iot.sim\"\r");
        assert!(bench.open(tcp.port).contains("ERROR"), "not started");
        bench.send("AT+CCHSTART\r");
        assert!(
            bench.open(tcp.port).contains("ERROR"),
            "only transparent mode is emulated"
        );
        assert!(
            bench.send("AT+CCHMODE=1\r").contains("ERROR"),
            "after CCHSTART"
        );
    }

    #[test]
    fn requests_go_over_one_real_connection_and_connection_close_ends_data_mode() {
        let tcp = Tcp::start();
        let mut bench = Bench::cch_started(tcp.clone());
        let rtt = bench.modem.timing().rtt_ms(-85);
        let opened_at = bench.now;
        assert_eq!(bench.open(tcp.port), "\r\nCONNECT 115200\r\n");
        assert_eq!(bench.modem.stats().connections, 1);
        let first = post(3, false);
        bench
            .modem
            .receive(bench.now, first.as_bytes(), bench.baud, &mut bench.meter);
        let sent = bench.now;
        let answer = bench.drain(sent + 2_000);
        assert_eq!(
            answer,
            "HTTP/1.1 201 Created\r\ncontent-length: 9\r\n\r\n{\"n\":003}"
        );
        assert!(opened_at > 0);
        let last = post(40_000, true);
        bench
            .modem
            .receive(bench.now, last.as_bytes(), bench.baud, &mut bench.meter);
        let sent = bench.now;
        let mut answer = Vec::new();
        let mut buf = [0; 256];
        let due = loop {
            let n = bench.modem.read(bench.now, &mut buf, bench.baud);
            if n > 0 {
                answer.extend_from_slice(&buf[..n]);
                break bench.now;
            }
            bench.now = bench.modem.next_output_after(bench.now).expect("an answer");
        };
        answer.extend(bench.drain(due + 1_000).into_bytes());
        let answer = String::from_utf8_lossy(&answer);
        assert_eq!(
            answer,
            "HTTP/1.1 201 Created\r\ncontent-length: 9\r\nconnection: close\r\n\r\n\
             {\"n\":000}\r\nCLOSED\r\n"
        );
        let uplink = bench.modem.timing().uplink_us(-85, last.len()) / 1_000;
        assert!(
            due >= sent + uplink + rtt + SERVER_MS,
            "40 kB on the air ({uplink} ms), a round trip and the server: {} ms",
            due - sent
        );
        assert_eq!(tcp.served(), 2);
        assert_eq!(bench.send("AT\r"), "\r\nOK\r\n", "command mode again");
        assert_eq!(bench.modem.stats().connections, 1);
    }

    #[test]
    fn plus_plus_plus_after_a_guard_time_escapes_and_cchclose_closes() {
        let tcp = Tcp::start();
        let mut bench = Bench::cch_started(tcp.clone());
        bench.open(tcp.port);
        assert_eq!(bench.send("GET"), "", "data");
        bench.now -= 500;
        assert_eq!(bench.send("+++"), "", "no guard time before it: data");
        bench.now += 1_500;
        let at = bench.now;
        bench
            .modem
            .receive(at, b"+++", bench.baud, &mut bench.meter);
        let due = bench.modem.next_output_after(at).expect("an answer");
        assert!(due >= at + 1_000, "OK only after the trailing guard time");
        assert_eq!(bench.drain(at + 1_500), "\r\nOK\r\n");
        assert_eq!(bench.send("AT+CCHCLOSE=0\r"), "\r\nOK\r\n\r\nCLOSED\r\n");
        assert!(bench.send("AT+CCHCLOSE=0\r").contains("ERROR"));
    }

    #[test]
    fn a_refused_connection_and_a_broken_one_are_reported() {
        let mut bench = Bench::cch_started(Rc::new(Unreachable));
        assert_eq!(bench.open(1), "\r\nOK\r\n\r\n+CCHOPEN: 0,14\r\n");
        let tcp = Tcp::start();
        let mut bench = Bench::cch_started(tcp.clone());
        bench.modem.fault = Some(Fault::HttpError {
            request: 1,
            code: codes::SOCKET,
            sent: true,
        });
        bench.open(tcp.port);
        let answer = bench.send(&post(10, false));
        assert_eq!(
            answer, "\r\nCLOSED\r\n",
            "the answer is lost with the connection"
        );
        assert_eq!(tcp.served(), 1, "the server got it");
        assert_eq!(bench.send("AT\r"), "\r\nOK\r\n", "command mode again");
    }

    #[test]
    fn a_host_or_port_other_than_the_servers_fails_as_on_the_air_and_opens_nothing() {
        let tcp = Tcp::start();
        let network = Rc::new(
            crate::net::HttpNetwork::new(&format!("http://127.0.0.1:{}", tcp.port))
                .expect("network"),
        );
        let mut bench = Bench::with_network(network.clone());
        bench.ready();
        bench.send("AT+CGDCONT=1,\"IP\",\"iot.sim\"\r");
        bench.send("AT+HTTPINIT\r");
        for (url, code) in [
            (format!("http://12.0.0.1:{}/x", tcp.port), codes::DNS),
            ("http://127.0.0.1:9/x".to_owned(), codes::CONNECT),
        ] {
            bench.send(&format!("AT+HTTPPARA=\"URL\",\"{url}\"\r"));
            let sent = bench.send("AT+HTTPACTION=0\r");
            let until = bench.now + 10_000;
            let answer = sent + &bench.drain(until);
            assert!(
                answer.contains(&format!("+HTTPACTION: 0,{code},0")),
                "{url}: {answer:?}"
            );
        }
        bench.send("AT+HTTPTERM\r");
        let until = bench.now + 5_000;
        bench.drain(until);
        assert_eq!(bench.send("AT+CCHMODE=1\r"), "\r\nOK\r\n");
        bench.send("AT+CCHSTART\r");
        let foreign = bench.send(&format!("AT+CCHOPEN=0,\"17.0.0.1\",{},1\r", tcp.port));
        let until = bench.now + 2_000;
        assert_eq!(
            foreign + &bench.drain(until),
            "\r\nOK\r\n\r\n+CCHOPEN: 0,13\r\n"
        );
        assert_eq!(bench.open(9), "\r\nOK\r\n\r\n+CCHOPEN: 0,14\r\n");
        assert_eq!(tcp.served(), 0);
        let attempts = network.gate().attempts();
        assert_eq!(attempts.len(), 4);
        assert!(attempts.iter().all(|a| a.opened.is_none()), "{attempts:?}");
    }

    #[test]
    fn the_modem_resets_halfway_through_an_upload_in_data_mode() {
        let tcp = Tcp::start();
        let mut bench = Bench::cch_started(tcp.clone());
        bench.modem.fault = Some(Fault::ResetMidUpload { upload: 1 });
        bench.open(tcp.port);
        let answer = bench.send(&post(1_000, false));
        assert_eq!(answer, "", "no answer: the modem is booting");
        assert_eq!(bench.modem.stats().resets, 1);
        assert_eq!(tcp.served(), 0);
        let boot = bench.drain(bench.now + 15_000);
        assert!(boot.contains("*ATREADY: 1"), "{boot:?}");
    }

    #[test]
    fn pipelined_requests_are_answered_in_order_the_second_after_its_own_air_time() {
        let tcp = Tcp::start();
        let mut bench = Bench::cch_started(tcp.clone());
        bench.open(tcp.port);
        let both = format!("{}{}", post(3, false), post(20_000, false));
        bench
            .modem
            .receive(bench.now, both.as_bytes(), bench.baud, &mut bench.meter);
        let sent = bench.now;
        let first = bench.modem.next_output_after(sent).expect("first answer");
        let second = bench.modem.next_output_after(first).expect("second answer");
        let rtt = bench.modem.timing().rtt_ms(-85);
        let air = bench.modem.timing().uplink_us(-85, 20_000) / 1_000;
        assert!(first >= sent + rtt + SERVER_MS, "{}", first - sent);
        assert!(
            second >= sent + air + rtt + SERVER_MS,
            "the second request's 20 kB on the air first: {} ms",
            second - sent
        );
        let answers = bench.drain(second + 100);
        assert_eq!(
            answers,
            "HTTP/1.1 201 Created\r\ncontent-length: 9\r\n\r\n{\"n\":003}\
             HTTP/1.1 201 Created\r\ncontent-length: 9\r\n\r\n{\"n\":000}"
        );
        assert_eq!(tcp.served(), 2);
    }

    #[test]
    fn ccertdown_prompts_takes_exactly_len_bytes_and_the_file_outlives_the_power_cycle() {
        let mut bench = Bench::new(None);
        bench.ready();
        assert!(
            bench
                .send("AT+CSSLCFG=\"cacert\",0,\"ca.pem\"\r")
                .contains("ERROR"),
            "no such file yet"
        );
        assert_eq!(bench.send("AT+CCERTDOWN=\"ca.pem\",5\r"), "\r\n>");
        assert_eq!(bench.send("abc"), "", "two bytes still due");
        assert_eq!(bench.send("de"), "\r\nOK\r\n");
        assert_eq!(
            bench.send(
                "AT+CSSLCFG=\"sslversion\",0,4;+CSSLCFG=\"authmode\",0,1;\
                 +CSSLCFG=\"cacert\",0,\"ca.pem\";+CSSLCFG=\"enableSNI\",0,1\r"
            ),
            "\r\nOK\r\n"
        );
        let context = bench.modem.ssl.context(0);
        assert_eq!(
            (context.authmode, context.cacert.as_deref(), context.sni),
            (1, Some("ca.pem"), true)
        );
        assert_eq!(
            bench.modem.ssl.files.get("ca.pem").map(Vec::as_slice),
            Some(&b"abcde"[..])
        );

        // A power cycle forgets the contexts, not the file.
        assert!(bench.send("AT+CPOF\r").contains("OK"));
        let until = bench.now + 10_000;
        bench.drain(until);
        bench.power_on();
        let until = bench.now + 20_000;
        assert!(bench.drain(until).contains("*ATREADY: 1"));
        assert!(bench.send("ATE0\r").ends_with("\r\nOK\r\n"));
        assert_eq!(bench.modem.ssl.context(0), ssl::SslContext::default());
        assert_eq!(
            bench.send("AT+CSSLCFG=\"cacert\",0,\"ca.pem\"\r"),
            "\r\nOK\r\n"
        );
    }

    #[test]
    fn ccertdown_refuses_bad_names_and_sizes_and_a_short_certificate_times_out() {
        let mut bench = Bench::new(None);
        bench.ready();
        for bad in [
            "AT+CCERTDOWN=\"ca.crt\",5\r",
            "AT+CCERTDOWN=ca.pem,5\r",
            "AT+CCERTDOWN=\"ca.pem\",0\r",
            "AT+CCERTDOWN=\"ca.pem\",20000\r",
            "AT+CCERTDOWN=\"ca.pem\"\r",
        ] {
            assert!(bench.send(bad).contains("ERROR"), "{bad}");
        }
        assert_eq!(bench.send("AT+CCERTDOWN=\"ca.pem\",5\r"), "\r\n>");
        bench.send("abc");
        let until = bench.now + 12_000;
        assert_eq!(bench.drain(until), "\r\nERROR\r\n");
        assert!(bench.modem.ssl.files.is_empty(), "nothing stored");
    }

    #[test]
    fn csslcfg_takes_the_manuals_keys_and_values_only() {
        let mut bench = Bench::new(None);
        bench.ready();
        for good in [
            "AT+CSSLCFG=\"sslversion\",0,4\r",
            "AT+CSSLCFG=\"authmode\",9,2\r",
            "AT+CSSLCFG=\"enableSNI\",0,0\r",
        ] {
            assert_eq!(bench.send(good), "\r\nOK\r\n", "{good}");
        }
        for bad in [
            "AT+CSSLCFG=\"authmode\",0,4\r",
            "AT+CSSLCFG=\"authmode\",10,1\r",
            "AT+CSSLCFG=\"sslversion\",0,5\r",
            "AT+CSSLCFG=\"verify\",0,1\r",
            "AT+CSSLCFG=\"authmode\",0\r",
        ] {
            assert!(bench.send(bad).contains("ERROR"), "{bad}");
        }
    }

    #[test]
    fn server_authentication_without_a_usable_ca_cannot_make_a_client_and_none_takes_anything() {
        let mut bench = Bench::new(None);
        bench.ready();
        assert!(bench.modem.tls_client(0, "127.0.0.1").is_ok(), "authmode 0");
        bench.send("AT+CSSLCFG=\"authmode\",0,1\r");
        assert!(bench.modem.tls_client(0, "127.0.0.1").is_err(), "no CA");
        assert_eq!(bench.send("AT+CCERTDOWN=\"junk.pem\",4\r"), "\r\n>");
        bench.send("junk");
        bench.send("AT+CSSLCFG=\"cacert\",0,\"junk.pem\"\r");
        assert!(
            bench.modem.tls_client(0, "127.0.0.1").is_err(),
            "no certificate in the file"
        );
    }
}
