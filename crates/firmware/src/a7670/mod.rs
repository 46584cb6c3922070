//! Driver for the SIMCom A7670 LTE Cat-1 modem over a UART (`embedded-io-async`).
//!
//! Sequences follow SIMCom's "A76XX Series AT Command Manual" V1.09 (section numbers in the
//! comments) and the "A76XX Series HTTP(S) Application Note":
//!
//! - power: a 50-100 ms PWRKEY pulse starts the modem; its UART answers after ~11 s; `AT+CPOF`
//!   stops it (`POWERED DOWN`, up to 9 s), a >= 2.5 s pulse when it does not answer;
//! - readiness: `AT` once a second until `OK`, sent again at once when the boot URC
//!   (`*ATREADY: 1` or `RDY`) arrives; other boot URCs (`+CPIN: READY`, `SMS DONE`) are skipped;
//! - UART speed (Manual §10.2.4): `AT+IPREX=<rate>` once, stored by the modem (AUTO_SAVE), so
//!   every later boot talks at that rate from its first byte: [`Settings::uart_baud`], or
//!   [`FALLBACK_BAUD`] when the modem refuses it; when the expected rate gets no answer late in
//!   the boot, the other candidates and the factory 115,200 are tried (a new or replaced modem);
//! - `AT+SIMCOMATI` model check, `AT+CPIN?`, `AT+CGDCONT` APN (AUTO_SAVE, §5.2.5: sent once),
//!   `AT+CEREG=1` (NO_SAVE, §5.2.2: every boot) so registration is reported as a URC,
//!   `AT+CEREG?`/`AT+CGREG?` polls between them, `AT+CSQ` signal;
//! - what the modem stores across power cycles is remembered in [`Stored`], which the caller
//!   keeps across deep sleep ([`A7670::stored`], [`A7670::recall`]): a driver made at wake
//!   knows nothing;
//! - HTTP(S) through the modem's own stack: `HTTPINIT` and, for `https`, SSL context 0 with
//!   server authentication against the CA stored in the modem ([`ssl`]) once per power cycle, then per request `HTTPPARA`, `HTTPDATA` + `DOWNLOAD` + body, `HTTPACTION` +
//!   `+HTTPACTION` URC, `HTTPHEAD` only when the status needs a header (`Date` of a 401,
//!   `Retry-After` of a 429), `HTTPREAD` only when the caller wants the body; `HTTPTERM` after
//!   a failed request (a fresh session for the retry) and never needed before `AT+CPOF`.
//!
//! The modem keeps no data counters, so the driver counts the HTTP bytes it sends and reads.
//!
//! Why not the `atat` crate's client: it times commands with `embassy-time`'s global clock and
//! needs a separate ingress task, while this core takes time only through [`Clock`] (the simulator
//! runs hundreds of modems on one simulated clock) and HTTP needs a binary framing layer anyway.
//! The design follows atat's nonetheless: each command carries its timeout, and all parsing is in
//! the pure [`frame`] and [`parse`] modules, tested on raw bytes.

mod baud;
pub mod frame;
pub mod parse;
mod socket;
mod ssl;

pub use baud::{BaudRate, WithBaud};
pub use socket::split_url;
pub use ssl::{CA_FILE_DER, CA_FILE_PEM, SslStep, ca_file, ca_tag};

use core::fmt::Write as _;

use embassy_futures::select::{Either, select};
use embedded_hal::digital::OutputPin;
use embedded_io_async::{Read, Write};
use heapless::String;

use crate::clock::Clock;
use crate::http::{DeviceHttp, Method, NetError, Request, Response, Transport, scan_headers};
use frame::{FrameError, Line, RxBuffer};
use parse::{HttpAction, Registration, Reply};

/// Largest body one `AT+HTTPDATA` accepts (HTTP(S) note: 153,600 bytes).
pub const MAX_HTTPDATA: usize = 153_600;
/// Longest `USERDATA` custom-header string the modem takes.
pub const MAX_USERDATA: usize = 256;

/// PWRKEY low time that powers the modem on (datasheet: >= 50 ms).
const POWER_ON_PULSE_MS: u64 = 100;
/// PWRKEY low time that forces a power-off (datasheet: >= 2.5 s).
const POWER_OFF_PULSE_MS: u64 = 2_600;
/// A plain command's answer time.
const SHORT_MS: u64 = 1_000;
/// `AT+CPIN?` may take a few seconds right after boot (Manual §5.2.2: max 5 s).
const CPIN_MS: u64 = 5_000;
/// `AT+CPOF` answers `POWERED DOWN` within 9 s.
const CPOF_MS: u64 = 9_000;
/// `+HTTPACTION` arrives after the modem's own timeouts (120 s by default) at the latest.
const HTTPACTION_MS: u64 = 130_000;
/// `AT+HTTPREAD`/`AT+HTTPHEAD` deliver what the modem already holds.
const HTTPREAD_MS: u64 = 10_000;
/// Gap between registration polls (a `+CEREG` URC ends the wait sooner).
const REGISTRATION_POLL_MS: u64 = 1_000;
/// The A7670's UART speed as it leaves the factory (Manual §10.2.4: `AT+IPREX` default).
pub const FACTORY_BAUD: u32 = 115_200;
/// The rate asked with `AT+IPREX` when the modem refuses [`Settings::uart_baud`]: in the
/// Manual's list (§10.2.4) and taken by every A76XX firmware we know of.
pub const FALLBACK_BAUD: u32 = 921_600;
/// After this long from PWRKEY without an answer at the expected rate, the polls go round the
/// other candidate rates ([`FACTORY_BAUD`], [`Settings::uart_baud`], [`FALLBACK_BAUD`]): the
/// modem has booted by then, so it is deaf to the expected one.
const FACTORY_BAUD_AFTER_MS: u64 = 13_000;
/// Pause after the modem's `OK` to `AT+IPREX` before the new rate is used: its UART
/// reconfigures after the result code (modem makers ask for up to 100 ms).
const BAUD_SWITCH_MS: u64 = 100;
/// `+HTTPACTION`'s status when the TLS handshake failed (HTTP(S) note: 715).
const HTTP_HANDSHAKE_FAILED: u16 = 715;
/// Bytes of response head kept for `Date`/`Retry-After`; the rest is read and dropped.
const HEAD_KEPT: usize = 768;
/// A response head not read with `AT+HTTPHEAD` still crossed the air: counted as this many
/// bytes (status line, `Date`, `Content-Type`, `Content-Length`).
const HEAD_UNREAD: usize = 160;

/// What went wrong with the modem.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ModemError {
    /// The UART failed or reached its end.
    Io,
    /// No final answer within the command's time.
    Timeout,
    /// The modem answered `ERROR`.
    Error,
    /// The modem answered `+CME ERROR: <n>`.
    Cme(Option<u16>),
    /// An answer could not be parsed (garbage or an unexpected line where a value was needed).
    Garbled,
    /// `AT+SIMCOMATI` named a variant without an HTTP(S) stack (A7670E-LNXY-UBL).
    UnsupportedModel,
    /// No SIM, or it wants a PIN.
    NoSim,
    /// The network refused registration (stat 3).
    RegistrationDenied,
    /// Not registered before the deadline.
    NotRegistered,
    /// `+HTTPACTION` reported a modem-side failure: 6xx network/DNS, 7xx TLS.
    Http(u16),
    /// The body or the custom headers exceed what the modem takes in one request.
    TooLarge,
    /// The connection of the socket service ended (`CLOSED`) before the answer was whole.
    Closed,
    /// An `https` URL without a CA certificate to verify the server against
    /// ([`Settings::ca_cert`]): nothing is sent.
    NoCaCert,
    /// The modem refused (or answered wrongly) one step of the TLS setup: nothing is sent.
    Ssl(SslStep),
    /// The TLS handshake failed: the server's certificate does not chain to the CA the modem
    /// holds, or does not name the host (`+CCHOPEN: 0,15`; the HTTP stack's `715`).
    Untrusted,
}

impl From<ModemError> for NetError {
    fn from(error: ModemError) -> Self {
        match error {
            ModemError::Timeout => NetError::Timeout,
            ModemError::Http(code) => NetError::Stack(code),
            ModemError::TooLarge => NetError::BodyTooLarge,
            ModemError::NoCaCert | ModemError::Ssl(_) | ModemError::Untrusted => NetError::Tls,
            ModemError::NoSim | ModemError::RegistrationDenied | ModemError::NotRegistered => {
                NetError::NoLink
            }
            _ => NetError::Link,
        }
    }
}

/// Bytes carried for the device over HTTP since the counters were last restored: request lines
/// are estimated from URL and header lengths, bodies and response heads counted exactly (TLS and
/// TCP overhead are invisible to the device).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ByteCounters {
    /// Sent.
    pub tx: u64,
    /// Received.
    pub rx: u64,
}

/// What the modem keeps across power cycles, as far as the driver has seen it: the caller keeps
/// this across deep sleep (RTC memory) and hands it back at each wake, so that settings the modem
/// already stores are not sent again and a rate it refused is not asked again.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stored {
    /// The UART speed the modem boots at (`AT+IPREX`, AUTO_SAVE); 0 when not known.
    pub baud: u32,
    /// A rate the modem answered `ERROR` to with `AT+IPREX`; 0 when none.
    pub refused_baud: u32,
    /// [`apn_tag`] of the APN stored with `AT+CGDCONT` (AUTO_SAVE); 0 when not known.
    pub apn_tag: u32,
    /// [`ca_tag`] of the CA certificate stored with `AT+CCERTDOWN` (the modem's flash); 0 when
    /// not known.
    pub ca_tag: u32,
}

/// A 32-bit FNV-1a tag of `apn` (never 0), to tell whether the modem holds this APN.
pub fn apn_tag(apn: &str) -> u32 {
    fnv_tag(apn.as_bytes())
}

/// A 32-bit FNV-1a hash of `bytes`, never 0 (0 means "not known" in [`Stored`]).
fn fnv_tag(bytes: &[u8]) -> u32 {
    let hash = bytes.iter().fold(0x811c_9dc5_u32, |h, &b| {
        (h ^ u32::from(b)).wrapping_mul(0x0100_0193)
    });
    hash.max(1)
}

/// Fixed settings of a modem.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Scheme and host of the device API, e.g. `https://api.example.com` (no trailing slash).
    pub base_url: String<96>,
    /// The SIM provider's APN.
    pub apn: String<32>,
    /// The UART speed to run at: stored in the modem with `AT+IPREX` on the first boot that
    /// answers at another rate ([`FACTORY_BAUD`] keeps the factory setting; [`FALLBACK_BAUD`]
    /// when the modem refuses it).
    pub uart_baud: u32,
    /// The CA certificate (PEM or DER) the server's chain must lead to, shipped with the
    /// firmware (`SMARTBOX_CA_CERT` at build time, replaced by OTA). The modem stores it
    /// (`AT+CCERTDOWN`, once per modem and certificate) and verifies every `https` connection
    /// against it; without one, `https` is refused ([`ModemError::NoCaCert`]).
    pub ca_cert: Option<&'static [u8]>,
}

/// An A7670 on a UART, with its PWRKEY line and a clock.
///
/// `pwrkey` high means "key pressed" (the board's transistor pulls the modem's PWRKEY low).
#[derive(Debug)]
pub struct A7670<IO, P, C> {
    io: IO,
    pwrkey: P,
    clock: C,
    settings: Settings,
    rx: RxBuffer<1024>,
    action: Option<HttpAction>,
    powered_down: bool,
    /// The speed the MCU's UART is set to.
    baud: u32,
    /// When PWRKEY released the modem into its boot.
    powered_on_at: u64,
    /// An `HTTPINIT` session is open (reused by every request of a power cycle).
    http_open: bool,
    /// What the modem stores across power cycles.
    stored: Stored,
    /// The `+CEREG`/`+CGREG` URC seen since the last poll.
    registration: Option<Registration>,
    counters: ByteCounters,
    /// Lines that were neither expected nor known URCs; for diagnostics.
    noise: u32,
    /// Requests go over the socket service when it works ([`A7670::use_socket`]).
    use_socket: bool,
    /// The socket service's state in this power cycle.
    socket: socket::Socket,
    /// `AT+CCHSTART` succeeded in this power cycle.
    cch_started: bool,
    /// How the last answered request travelled.
    transport: Option<Transport>,
    /// Requests sent ahead on the connection whose answers are not read yet.
    ahead: u8,
}

impl<IO, P, C> A7670<IO, P, C>
where
    IO: Read + Write + BaudRate,
    P: OutputPin,
    C: Clock,
{
    /// A driver for a modem that is off.
    pub fn new(io: IO, pwrkey: P, clock: C, settings: Settings) -> Self {
        Self {
            io,
            pwrkey,
            clock,
            settings,
            rx: RxBuffer::new(),
            action: None,
            powered_down: false,
            baud: FACTORY_BAUD,
            powered_on_at: 0,
            http_open: false,
            stored: Stored::default(),
            registration: None,
            counters: ByteCounters::default(),
            noise: 0,
            use_socket: true,
            socket: socket::Socket::Closed,
            cch_started: false,
            transport: None,
            ahead: 0,
        }
    }

    /// Whether requests try the socket service first (the default: one connection for the
    /// whole power cycle) or go straight to the modem's HTTP stack (a connection per request).
    pub fn use_socket(&mut self, on: bool) {
        self.use_socket = on;
    }

    /// How the last answered request travelled.
    pub fn transport(&self) -> Option<Transport> {
        self.transport
    }

    /// HTTP byte counters (restore persisted ones with [`A7670::set_counters`]).
    pub fn counters(&self) -> ByteCounters {
        self.counters
    }

    /// Restores counters kept across power cycles.
    pub fn set_counters(&mut self, counters: ByteCounters) {
        self.counters = counters;
    }

    /// Unexpected lines seen so far.
    pub fn noise(&self) -> u32 {
        self.noise
    }

    /// The serial link, for tests and emulators.
    pub fn io(&self) -> &IO {
        &self.io
    }

    /// What the driver learnt of the modem's stored settings, to keep across deep sleep.
    pub fn stored(&self) -> Stored {
        self.stored
    }

    /// Hands back what an earlier driver learnt ([`A7670::stored`]).
    pub fn recall(&mut self, stored: Stored) {
        self.stored = stored;
    }

    /// The rate the modem should boot at: the one it stored, else the one we ask for.
    fn expected_baud(&self) -> u32 {
        if self.stored.baud != 0 {
            self.stored.baud
        } else {
            self.settings.uart_baud
        }
    }

    /// The rate to poll at with poll number `n` after [`FACTORY_BAUD_AFTER_MS`]: round the
    /// expected one, the factory rate (a new or replaced modem, the likeliest reason for the
    /// silence) and the other candidates.
    fn late_baud(&self, n: u32) -> u32 {
        let expected = self.expected_baud();
        let mut rates = [expected, 0, 0, 0];
        let mut len = 1;
        for rate in [FACTORY_BAUD, self.settings.uart_baud, FALLBACK_BAUD] {
            if !rates[..len].contains(&rate) && rate != self.stored.refused_baud {
                rates[len] = rate;
                len += 1;
            }
        }
        rates[n as usize % len]
    }

    /// Presses PWRKEY ~100 ms: the modem starts booting (~11 s). Returns at once after the pulse,
    /// so the caller can take photos while the modem boots. The MCU's UART is set to the speed
    /// the modem stored ([`Stored::baud`], else [`Settings::uart_baud`]), which it boots at.
    pub async fn press_power_key(&mut self) {
        self.use_baud(self.expected_baud());
        self.pulse(POWER_ON_PULSE_MS).await;
        self.powered_down = false;
        self.http_open = false;
        self.socket = socket::Socket::Closed;
        self.cch_started = false;
        self.ahead = 0;
        self.transport = None;
        self.ahead = 0;
        self.registration = None;
        self.powered_on_at = self.clock.now_ms();
    }

    /// The UART speed the link runs at now.
    pub fn baud(&self) -> u32 {
        self.baud
    }

    /// Polls `AT` once a second until `OK` (at once again when the boot URC arrives), then turns
    /// echo off and numeric `+CME ERROR`s on. Late in the boot the polls go round the other
    /// rates in case the modem never stored the expected one ([`A7670::late_baud`]); a modem
    /// that answers only at the factory rate is taken for a new one: nothing it stores is known.
    pub async fn wait_ready(&mut self, deadline_ms: u64) -> Result<(), ModemError> {
        let expected = self.expected_baud();
        let mut late_polls = 0_u32;
        let mut booted = false;
        loop {
            let now = self.clock.now_ms();
            let late = now >= self.powered_on_at.saturating_add(FACTORY_BAUD_AFTER_MS);
            let baud = if late {
                // From another rate than the expected one on, which got no answer so far.
                late_polls += 1;
                self.late_baud(late_polls)
            } else {
                expected
            };
            self.use_baud(baud);
            let attempt_end = now.saturating_add(SHORT_MS).min(deadline_ms);
            self.send(&["AT"]).await?;
            match self.finish_or_boot(attempt_end, !booted).await {
                Ok(true) => break,
                // The boot URC: the UART listens from now on.
                Ok(false) => booted = true,
                Err(ModemError::Io) => return Err(ModemError::Io),
                Err(_) if self.clock.now_ms() >= deadline_ms => return Err(ModemError::Timeout),
                Err(_) => self.clock.sleep_until(attempt_end).await,
            }
        }
        if self.baud != expected {
            let known = if self.baud == FACTORY_BAUD {
                // Another modem, or one reset to its factory settings.
                Stored::default()
            } else {
                self.stored
            };
            self.stored = Stored {
                baud: self.baud,
                ..known
            };
        }
        // Echo and error format are NO_SAVE (Manual §2.2.8, §3.2.11): every boot.
        self.command(&["ATE0"], None, SHORT_MS).await?;
        self.command(&["AT+CMEE=1"], None, SHORT_MS).await?;
        Ok(())
    }

    /// Reads the answer to a readiness `AT`: `Ok(true)` on `OK`, `Ok(false)` when the boot URC
    /// came first and `boot_urc` is set (the `AT` fell on a deaf UART: send it again).
    async fn finish_or_boot(
        &mut self,
        deadline_ms: u64,
        boot_urc: bool,
    ) -> Result<bool, ModemError> {
        loop {
            let line = self.next_line(deadline_ms).await?;
            match parse::classify(&line) {
                Reply::Ok => return Ok(true),
                Reply::Error => return Err(ModemError::Error),
                Reply::CmeError(code) => return Err(ModemError::Cme(code)),
                Reply::Other(text)
                    if boot_urc && (text == b"RDY" || text.starts_with(b"*ATREADY:")) =>
                {
                    return Ok(false);
                }
                reply => self.note(reply),
            }
        }
    }

    /// `AT+IPREX=<rate>` (Manual §10.2.4, AUTO_SAVE) when the link runs at another speed than
    /// [`Settings::uart_baud`], then the same speed on the MCU's side, checked with `AT`; back to
    /// the old speed when the check gets no answer. A modem that refuses the rate (`ERROR`) is
    /// asked for [`FALLBACK_BAUD`] instead, and the refusal is remembered ([`Stored`]) so no
    /// later boot asks again.
    pub async fn use_fast_uart(&mut self) -> Result<(), ModemError> {
        self.stored.baud = self.baud;
        let wanted = self.settings.uart_baud;
        let fallback = if wanted > FALLBACK_BAUD {
            FALLBACK_BAUD
        } else {
            wanted
        };
        for target in [wanted, fallback] {
            if target == self.stored.refused_baud {
                continue;
            }
            if self.baud == target {
                return Ok(());
            }
            let mut rate = String::<10>::new();
            let _ = write!(rate, "{target}");
            match self.command(&["AT+IPREX=", &rate], None, SHORT_MS).await {
                Ok(_) => {}
                Err(ModemError::Error | ModemError::Cme(_)) => {
                    self.stored.refused_baud = target;
                    continue;
                }
                Err(other) => return Err(other),
            }
            let old = self.baud;
            self.clock.sleep_ms(BAUD_SWITCH_MS).await;
            self.use_baud(target);
            if self.command(&["AT"], None, SHORT_MS).await.is_err() {
                self.use_baud(old);
                self.command(&["AT"], None, SHORT_MS).await?;
            }
            self.stored.baud = self.baud;
            return Ok(());
        }
        Ok(())
    }

    /// `AT+CEREG=1` and `AT+CGREG=1` (Manual §4.2.x): registration changes come as URCs, so
    /// [`A7670::wait_registered`] returns the moment the modem registers.
    pub async fn report_registration(&mut self) -> Result<(), ModemError> {
        self.command(&["AT+CEREG=1"], None, SHORT_MS).await?;
        self.command(&["AT+CGREG=1"], None, SHORT_MS).await?;
        Ok(())
    }

    fn use_baud(&mut self, baud: u32) {
        if self.baud != baud {
            self.io.set_baud(baud);
            self.baud = baud;
            self.rx = RxBuffer::new();
        }
    }

    /// `AT+SIMCOMATI` (Manual §2.2.x): the model, refused when it has no HTTP(S) stack.
    pub async fn check_model(&mut self) -> Result<String<32>, ModemError> {
        let line = self
            .command(&["AT+SIMCOMATI"], Some(b"Model:"), SHORT_MS)
            .await?;
        let model = line
            .as_deref()
            .and_then(parse::model)
            .ok_or(ModemError::Garbled)?;
        if !parse::model_has_http(model) {
            return Err(ModemError::UnsupportedModel);
        }
        let mut out = String::new();
        out.push_str(model).map_err(|_| ModemError::Garbled)?;
        Ok(out)
    }

    /// `AT+CPIN?` (Manual §5.2.2): the SIM is present and unlocked.
    pub async fn check_sim(&mut self) -> Result<(), ModemError> {
        match self.command(&["AT+CPIN?"], Some(b"+CPIN:"), CPIN_MS).await {
            Ok(Some(line)) if parse::sim_ready(&line) == Some(true) => Ok(()),
            Ok(_) | Err(ModemError::Cme(_)) | Err(ModemError::Error) => Err(ModemError::NoSim),
            Err(other) => Err(other),
        }
    }

    /// Forgets that the modem holds the APN, so the next wake stores it again. Called when the
    /// PDP context cannot be activated (`HTTPINIT`, `CCHSTART`): a byte lost on the UART while
    /// `AT+CGDCONT` was sent leaves the modem answering OK with a mangled APN stored for good,
    /// and a mailbox trusting it never connected again (issue 13, fault soak at 100 %).
    pub(crate) fn forget_apn(&mut self) {
        self.stored.apn_tag = 0;
    }

    /// `AT+CGDCONT=1,"IP","<apn>"` (Manual §5.2.5): the PDP context of the provider. The
    /// modem stores it (AUTO_SAVE), so it is sent only when [`Stored`] does not show it there.
    pub async fn set_apn(&mut self) -> Result<(), ModemError> {
        let apn = self.settings.apn.clone();
        let tag = apn_tag(&apn);
        if self.stored.apn_tag == tag {
            return Ok(());
        }
        self.command(&["AT+CGDCONT=1,\"IP\",\"", &apn, "\""], None, SHORT_MS)
            .await?;
        self.stored.apn_tag = tag;
        Ok(())
    }

    /// Polls `AT+CEREG?` then `AT+CGREG?` (Manual §4.2.x) until either says home or roaming,
    /// and between polls listens for the `+CEREG: <stat>` URC ([`A7670::report_registration`]);
    /// stops early when the network denies registration.
    pub async fn wait_registered(&mut self, deadline_ms: u64) -> Result<Registration, ModemError> {
        loop {
            for (command, prefix) in [("AT+CEREG?", "+CEREG"), ("AT+CGREG?", "+CGREG")] {
                let line = self
                    .command(&[command], Some(prefix.as_bytes()), SHORT_MS)
                    .await?;
                let state = line.as_deref().and_then(|l| parse::registration(l, prefix));
                let urc = self.registration.take();
                if let Some(done) = registered(state).or_else(|| registered(urc)) {
                    return done;
                }
            }
            let now = self.clock.now_ms();
            if now >= deadline_ms {
                return Err(ModemError::NotRegistered);
            }
            let next_poll = now.saturating_add(REGISTRATION_POLL_MS).min(deadline_ms);
            loop {
                match self.next_line(next_poll).await {
                    Ok(line) => {
                        let reply = parse::classify(&line);
                        self.note(reply);
                        if let Some(done) = registered(self.registration.take()) {
                            return done;
                        }
                    }
                    Err(ModemError::Timeout) => break,
                    Err(other) => return Err(other),
                }
            }
        }
    }

    /// `AT+CSQ` (Manual §4.2.x) in dBm; `None` when the modem does not know yet (99).
    pub async fn signal_dbm(&mut self) -> Result<Option<i16>, ModemError> {
        let line = self.command(&["AT+CSQ"], Some(b"+CSQ:"), SHORT_MS).await?;
        line.as_deref()
            .and_then(parse::signal_dbm)
            .ok_or(ModemError::Garbled)
    }

    /// `AT+CPOF` (Manual §3.2.x) and waits for `POWERED DOWN`; without it, a >= 2.5 s PWRKEY
    /// pulse. Never cut the supply before this returns.
    pub async fn power_off(&mut self) -> Result<(), ModemError> {
        self.powered_down = false;
        if self.in_data_mode() {
            // A connection the wake did not end (a failed session): `AT+CPOF` needs command
            // mode. A failed escape leaves the PWRKEY pulse below.
            let _ = self.escape().await;
        }
        // `AT+CPOF` ends the HTTP session and the connection with everything else.
        self.http_open = false;
        self.socket = socket::Socket::Closed;
        self.cch_started = false;
        self.ahead = 0;
        let deadline = self.clock.now_ms().saturating_add(CPOF_MS);
        let answered = match self.command(&["AT+CPOF"], None, SHORT_MS).await {
            Ok(_) => self.wait_powered_down(deadline).await.is_ok(),
            Err(_) => false,
        };
        if !answered {
            self.pulse(POWER_OFF_PULSE_MS).await;
        }
        self.rx = RxBuffer::new();
        Ok(())
    }

    /// One HTTP(S) request through the modem's stack (HTTP(S) application note §3):
    /// `url` = base URL + `path`, `userdata` = custom headers joined by the two characters `\r\n`
    /// as the modem expects them. The response body (truncated to `response_body`) is read with
    /// `HTTPREAD`. The `HTTPINIT` session (and its TLS settings) stays open for the next request
    /// of this power cycle; a failed request closes it with `HTTPTERM`, so a retry starts clean.
    pub async fn http(
        &mut self,
        method: Method,
        path: &str,
        content_type: Option<&str>,
        userdata: &str,
        body: &[u8],
        response_body: &mut [u8],
    ) -> Result<Response, ModemError> {
        if body.len() > MAX_HTTPDATA || userdata.len() > MAX_USERDATA {
            return Err(ModemError::TooLarge);
        }
        let result = match self.http_open {
            true => Ok(()),
            false => self.http_init().await,
        };
        self.http_open = result.is_ok();
        let result = match result {
            Ok(()) => {
                self.http_request(method, path, content_type, userdata, body, response_body)
                    .await
            }
            Err(error) => Err(error),
        };
        if result.is_err() {
            let _ = self.command(&["AT+HTTPTERM"], None, SHORT_MS).await;
            self.http_open = false;
        }
        result
    }

    /// Opens the power cycle's HTTP session: `HTTPINIT` and, for HTTPS, the TLS settings.
    async fn http_init(&mut self) -> Result<(), ModemError> {
        if self
            .command(&["AT+HTTPINIT"], None, SHORT_MS)
            .await
            .is_err()
        {
            // A session left open (an earlier failure whose HTTPTERM got lost, a modem left on
            // by a reset MCU) makes HTTPINIT answer ERROR: close it and try once more.
            let _ = self.command(&["AT+HTTPTERM"], None, SHORT_MS).await;
            if let Err(error) = self.command(&["AT+HTTPINIT"], None, SHORT_MS).await {
                self.forget_apn();
                return Err(error);
            }
        }
        if self.https() {
            // The CA, server authentication and SNI (off by default, and most servers then fail
            // the handshake: error 715), then the session bound to that context.
            self.ssl_context("AT").await?;
            self.command(&["AT+HTTPPARA=\"SSLCFG\",0"], None, SHORT_MS)
                .await
                .map_err(|error| self.ssl_failed(error, SslStep::Bind))?;
        }
        Ok(())
    }

    async fn http_request(
        &mut self,
        method: Method,
        path: &str,
        content_type: Option<&str>,
        userdata: &str,
        body: &[u8],
        response_body: &mut [u8],
    ) -> Result<Response, ModemError> {
        let base = self.settings.base_url.clone();
        // URL, content type and headers on one command line, one round trip (Manual §1.5.2,
        // "Combining AT commands on the same command line": `;` after each extended command;
        // at most 96 + 256 + 256 + 64 characters, well under the line's 3,071).
        let mut line: [&str; 10] = [""; 10];
        line[..4].copy_from_slice(&["AT+HTTPPARA=\"URL\",\"", &base, path, "\""]);
        let mut len = 4;
        if let Some(content_type) = content_type {
            line[len..len + 3].copy_from_slice(&[";+HTTPPARA=\"CONTENT\",\"", content_type, "\""]);
            len += 3;
        }
        if !userdata.is_empty() {
            line[len..len + 3].copy_from_slice(&[";+HTTPPARA=\"USERDATA\",\"", userdata, "\""]);
            len += 3;
        }
        self.command(&line[..len], None, SHORT_MS).await?;
        // Request line and the headers the modem adds (Host, Content-Length, ...): an estimate.
        self.counters.tx += (base.len() + path.len() + userdata.len() + 64) as u64;
        if !body.is_empty() {
            self.upload(body).await?;
        }
        self.action = None;
        let code = match method {
            Method::Get => "0",
            Method::Post => "1",
            Method::Put => "4",
        };
        self.command(&["AT+HTTPACTION=", code], None, SHORT_MS)
            .await?;
        let action = self
            .wait_action(self.clock.now_ms().saturating_add(HTTPACTION_MS))
            .await?;
        if action.is_modem_error() {
            if action.status == HTTP_HANDSHAKE_FAILED {
                // Perhaps the modem's copy of the CA: it is sent again next time.
                self.stored.ca_tag = 0;
            }
            return Err(ModemError::Http(action.status));
        }
        // Only a 401 (its `Date` resyncs the clock) and a 429 (its `Retry-After`) need a header.
        let (date, retry_after_s) = if matches!(action.status, 401 | 429) {
            self.read_head().await?
        } else {
            self.counters.rx += HEAD_UNREAD as u64;
            (None, None)
        };
        let wanted = (action.data_len as usize).min(response_body.len());
        // A body the caller does not keep is left in the modem; it crossed the air all the same.
        self.counters.rx += (action.data_len as usize - wanted) as u64;
        let body_len = if wanted == 0 {
            0
        } else {
            self.read_body(0, &mut response_body[..wanted]).await?
        };
        Ok(Response {
            status: action.status,
            body_len,
            content_len: action.data_len,
            date,
            retry_after_s,
        })
    }

    /// `AT+HTTPREAD=<offset>,<size>`: up to `out.len()` bytes of the held response body from
    /// `offset`. Returns the count read. (Large downloads use several requests with a `Range`
    /// header, each read whole, because the session ends with `HTTPTERM`.)
    async fn read_body(&mut self, offset: u32, out: &mut [u8]) -> Result<usize, ModemError> {
        let mut offset_text = String::<10>::new();
        let mut size_text = String::<10>::new();
        let _ = write!(offset_text, "{offset}");
        let _ = write!(size_text, "{}", out.len());
        self.send(&["AT+HTTPREAD=", &offset_text, ",", &size_text])
            .await?;
        let deadline = self.clock.now_ms().saturating_add(HTTPREAD_MS);
        let (mut got_ok, mut got_end, mut filled) = (false, false, 0);
        while !(got_ok && got_end) {
            let line = self.next_line(deadline).await?;
            match parse::classify(&line) {
                Reply::Ok => got_ok = true,
                Reply::Error => return Err(ModemError::Error),
                Reply::CmeError(code) => return Err(ModemError::Cme(code)),
                reply => match parse::counted(&line, "+HTTPREAD") {
                    Some(0) => got_end = true,
                    Some(n) => {
                        let room = out.len() - filled;
                        let kept = self
                            .read_run(
                                n as usize,
                                &mut out[filled..filled + room.min(n as usize)],
                                deadline,
                            )
                            .await?;
                        filled += kept;
                    }
                    None => self.note(reply),
                },
            }
        }
        self.counters.rx += filled as u64;
        Ok(filled)
    }

    async fn read_head(&mut self) -> Result<(Option<i64>, Option<u32>), ModemError> {
        self.send(&["AT+HTTPHEAD"]).await?;
        let deadline = self.clock.now_ms().saturating_add(HTTPREAD_MS);
        let mut head = [0; HEAD_KEPT];
        let mut kept = 0;
        loop {
            let line = self.next_line(deadline).await?;
            match parse::classify(&line) {
                Reply::Ok => break,
                Reply::Error => return Err(ModemError::Error),
                Reply::CmeError(code) => return Err(ModemError::Cme(code)),
                reply => match parse::counted(&line, "+HTTPHEAD") {
                    Some(n) => {
                        let room = HEAD_KEPT.min(n as usize);
                        kept = self
                            .read_run(n as usize, &mut head[..room], deadline)
                            .await?;
                        self.counters.rx += u64::from(n);
                    }
                    None => self.note(reply),
                },
            }
        }
        Ok(scan_headers(&head[..kept]))
    }

    /// `AT+HTTPDATA=<len>,<secs>` -> `DOWNLOAD` -> exactly `len` bytes -> `OK`.
    async fn upload(&mut self, body: &[u8]) -> Result<(), ModemError> {
        let mut len_text = String::<10>::new();
        let mut secs_text = String::<10>::new();
        // The UART moves ~11 kB/s at 115,200 baud; allow twice that time plus margin.
        let secs = 10 + body.len() / 5_000;
        let _ = write!(len_text, "{}", body.len());
        let _ = write!(secs_text, "{secs}");
        self.send(&["AT+HTTPDATA=", &len_text, ",", &secs_text])
            .await?;
        let deadline = self.clock.now_ms().saturating_add(5_000);
        loop {
            let line = self.next_line(deadline).await?;
            match parse::classify(&line) {
                Reply::Download => break,
                Reply::Error => return Err(ModemError::Error),
                Reply::CmeError(code) => return Err(ModemError::Cme(code)),
                reply => self.note(reply),
            }
        }
        self.io.write_all(body).await.map_err(|_| ModemError::Io)?;
        self.io.flush().await.map_err(|_| ModemError::Io)?;
        self.counters.tx += body.len() as u64;
        let deadline = self.clock.now_ms().saturating_add(secs as u64 * 1_000);
        self.finish(deadline, None).await.map(|_| ())
    }

    async fn wait_action(&mut self, deadline_ms: u64) -> Result<HttpAction, ModemError> {
        loop {
            if let Some(action) = self.action.take() {
                return Ok(action);
            }
            let line = self.next_line(deadline_ms).await?;
            let reply = parse::classify(&line);
            self.note(reply);
        }
    }

    async fn wait_powered_down(&mut self, deadline_ms: u64) -> Result<(), ModemError> {
        while !self.powered_down {
            let line = self.next_line(deadline_ms).await?;
            let reply = parse::classify(&line);
            self.note(reply);
        }
        Ok(())
    }

    async fn pulse(&mut self, ms: u64) {
        let _ = self.pwrkey.set_high();
        self.clock.sleep_ms(ms).await;
        let _ = self.pwrkey.set_low();
    }

    /// Sends a command and reads up to its final result; returns the first line starting with
    /// `info`, when asked for.
    async fn command(
        &mut self,
        parts: &[&str],
        info: Option<&[u8]>,
        timeout_ms: u64,
    ) -> Result<Option<Line>, ModemError> {
        self.send(parts).await?;
        let deadline = self.clock.now_ms().saturating_add(timeout_ms);
        self.finish(deadline, info).await
    }

    async fn send(&mut self, parts: &[&str]) -> Result<(), ModemError> {
        for part in parts {
            self.io
                .write_all(part.as_bytes())
                .await
                .map_err(|_| ModemError::Io)?;
        }
        self.io.write_all(b"\r").await.map_err(|_| ModemError::Io)?;
        self.io.flush().await.map_err(|_| ModemError::Io)
    }

    async fn finish(
        &mut self,
        deadline_ms: u64,
        info: Option<&[u8]>,
    ) -> Result<Option<Line>, ModemError> {
        let mut found = None;
        loop {
            let line = self.next_line(deadline_ms).await?;
            match parse::classify(&line) {
                Reply::Ok => return Ok(found),
                Reply::Error => return Err(ModemError::Error),
                Reply::CmeError(code) => return Err(ModemError::Cme(code)),
                reply => {
                    let wanted = info.is_some_and(|prefix| line.starts_with(prefix));
                    if wanted && found.is_none() {
                        found = Some(line.clone());
                    } else if !wanted {
                        self.note(reply);
                    }
                }
            }
        }
    }

    /// Remembers the URCs the driver waits for; counts the rest as noise unless they are
    /// known boot or status chatter.
    fn note(&mut self, reply: Reply<'_>) {
        match reply {
            Reply::HttpAction(action) => self.action = Some(action),
            Reply::PoweredDown => self.powered_down = true,
            Reply::Other(line) if line.starts_with(b"+CEREG:") || line.starts_with(b"+CGREG:") => {
                let prefix = if line.starts_with(b"+CEREG:") {
                    "+CEREG"
                } else {
                    "+CGREG"
                };
                if let Some(state) = parse::registration(line, prefix) {
                    self.registration = Some(state);
                }
            }
            Reply::Other(line) if is_chatter(line) => {}
            _ => self.noise += 1,
        }
    }

    async fn next_line(&mut self, deadline_ms: u64) -> Result<Line, ModemError> {
        loop {
            match self.rx.pop_line() {
                Ok(Some(line)) => return Ok(line),
                Ok(None) => {}
                Err(FrameError::LineTooLong) => self.noise += 1,
            }
            self.fill(deadline_ms).await?;
        }
    }

    /// Moves the next `n` raw bytes into `out` (bytes beyond `out.len()` are dropped) and
    /// returns how many were kept.
    async fn read_run(
        &mut self,
        n: usize,
        out: &mut [u8],
        deadline_ms: u64,
    ) -> Result<usize, ModemError> {
        let mut taken = 0;
        let mut kept = 0;
        let mut scratch = [0; 64];
        while taken < n {
            if self.rx.is_empty() {
                self.fill(deadline_ms).await?;
            }
            let want = n - taken;
            let got = if kept < out.len() {
                let end = out.len().min(kept + want);
                let got = self.rx.pop_bytes(&mut out[kept..end]);
                kept += got;
                got
            } else {
                self.rx.pop_bytes(&mut scratch[..want.min(64)])
            };
            taken += got;
        }
        Ok(kept)
    }

    async fn fill(&mut self, deadline_ms: u64) -> Result<(), ModemError> {
        let Self { io, clock, rx, .. } = self;
        if clock.now_ms() >= deadline_ms {
            return Err(ModemError::Timeout);
        }
        if rx.spare().is_empty() {
            // A full buffer without a line end is noise: drop it rather than stall.
            *rx = RxBuffer::new();
            self.noise += 1;
            return Ok(());
        }
        match select(io.read(rx.spare()), clock.sleep_until(deadline_ms)).await {
            Either::First(Ok(0)) | Either::First(Err(_)) => Err(ModemError::Io),
            Either::First(Ok(n)) => {
                rx.commit(n);
                Ok(())
            }
            Either::Second(()) => Err(ModemError::Timeout),
        }
    }
}

/// What a registration state means for [`A7670::wait_registered`]: done (registered or
/// denied) or `None` to keep waiting.
fn registered(state: Option<Registration>) -> Option<Result<Registration, ModemError>> {
    match state? {
        state if state.is_registered() => Some(Ok(state)),
        Registration::Denied => Some(Err(ModemError::RegistrationDenied)),
        _ => None,
    }
}

/// Boot and status URCs that carry nothing the driver needs.
fn is_chatter(line: &[u8]) -> bool {
    const CHATTER: [&[u8]; 10] = [
        b"RDY",
        // What follows `AT+CCHCLOSE`'s `OK` (SSL application note V1.00 §3.6).
        b"CLOSED",
        b"*ATREADY:",
        b"+CPIN:",
        b"SMS DONE",
        b"PB DONE",
        b"+CEREG:",
        b"+CGREG:",
        b"+CGEV:",
        b"+CTZV:",
    ];
    CHATTER.iter().any(|prefix| line.starts_with(prefix)) || line.starts_with(b"AT")
}

/// Joins signed headers as the modem's `USERDATA` wants them: `Name: value`, separated by the
/// two characters `\r\n` (backslash-r backslash-n), which the modem turns into a line break.
pub fn userdata(headers: &crate::http::SignedHeaders) -> String<{ MAX_USERDATA }> {
    let mut time = String::new();
    let mut out = String::new();
    for (i, (name, value)) in headers.pairs(&mut time).iter().enumerate() {
        if i > 0 {
            let _ = out.push_str("\\r\\n");
        }
        let _ = write!(out, "{name}: {value}");
    }
    out
}

/// [`userdata`] plus the request's `Range` header, when it has one.
pub fn request_userdata(request: &Request<'_>) -> String<{ MAX_USERDATA }> {
    let mut out = userdata(request.headers);
    if let Some(range) = request.range {
        // At most 35 bytes; signed headers take at most ~180 of the 256.
        let _ = write!(out, "\\r\\nRange: {}", range.header_value());
    }
    out
}

impl<IO, P, C> DeviceHttp for A7670<IO, P, C>
where
    IO: Read + Write + BaudRate,
    P: OutputPin,
    C: Clock,
{
    async fn send(
        &mut self,
        request: &Request<'_>,
        response_body: &mut [u8],
    ) -> Result<Response, NetError> {
        if self.https() && self.ca_cert().is_none() {
            // Nothing goes out unverified.
            return Err(ModemError::NoCaCert.into());
        }
        if self.socket_usable() {
            match self.socket_request(request, response_body).await {
                Ok(response) => return Ok(response),
                Err(Some(error)) => return Err(error.into()),
                // The service failed to start or connect: the HTTP stack, as before it existed.
                Err(None) => {}
            }
        }
        let userdata = request_userdata(request);
        let result = self
            .http(
                request.method,
                request.path,
                request.content_type,
                &userdata,
                request.body,
                response_body,
            )
            .await
            .map_err(NetError::from);
        if result.is_ok() {
            self.transport = Some(Transport::HttpStack);
        }
        result
    }

    fn transport(&self) -> Option<Transport> {
        self.transport
    }

    async fn send_ahead(&mut self, request: &Request<'_>) -> Result<bool, NetError> {
        self.socket_send_ahead(request)
            .await
            .map_err(NetError::from)
    }

    async fn receive_ahead(&mut self, response_body: &mut [u8]) -> Result<Response, NetError> {
        self.socket_receive_ahead(response_body)
            .await
            .map_err(NetError::from)
    }
}
