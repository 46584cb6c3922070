//! The A7670's socket service in transparent (data) mode: one TCP connection, TLS for `https`,
//! for every request of a power cycle, HTTP/1.1 keep-alive over it ([`crate::http1`]).
//!
//! Commands (SIMCom "A76XX Series SSL Application Note" V1.00 §1.4 and §3.6, and the SSL chapter
//! of the "A76XX Series AT Command Manual" it refers to):
//! - `AT+CCHMODE=1` (transparent mode; only session 0 supports it; set before `AT+CCHSTART`,
//!   which then ignores `AT+CCHSET`), with, for TLS, SSL context 0's settings (server
//!   authentication against the CA stored with `AT+CCERTDOWN`, SNI: [`super::ssl`]) on the same
//!   command line (Manual §1.5.2);
//! - `AT+CCHSTART` -> `OK`, then `+CCHSTART: 0` (max 120 s; another code is a failure);
//! - `AT+CCHSSLCFG=0,0` (TLS only: session 0 uses SSL context 0);
//! - `AT+CCHOPEN=0,"<host>",<port>,<client_type>` (1 TCP, 2 TLS; host at most 256 bytes) ->
//!   `CONNECT [<rate>]`: data mode, every byte written goes to the server and every byte read
//!   comes from it; a failure is `ERROR`, `+CME ERROR`, `+CCHOPEN: 0,<err>` (note §4.1.1, the
//!   Manual's SSL result codes §19.3: 13 DNS, 14 connect, 15 handshake) or `CONNECT FAIL`; a
//!   failed handshake ([`ModemError::Untrusted`]) or TLS setup ends the request, any other
//!   failure falls back to the HTTP stack;
//! - when the server closes, the modem prints `CLOSED` (or `+CCH_PEER_CLOSED: 0`, §4.1.2) and is
//!   back in command mode: the last request of a wake carries `Connection: close`, so the wake
//!   ends without the escape sequence;
//! - otherwise `+++` between two 1 s silences (§1.4, "Quit transparent mode by +++") -> `OK`,
//!   then `AT+CCHCLOSE=0`.
//!
//! When the service cannot be started or the connection cannot be opened, the power cycle falls
//! back to the modem's HTTP stack ([`A7670::http`]), which worked before this existed.

use core::fmt::Write as _;

use embedded_hal::digital::OutputPin;
use embedded_io_async::{Read, Write};
use heapless::String;

use super::{A7670, BaudRate, ModemError, SHORT_MS, SslStep, parse};
use crate::clock::Clock;
use crate::http::{Request, Response, Transport};
use crate::http1::{self, ParseError, ResponseParser};
use parse::Reply;

/// `AT+CCHSTART`'s URC comes within 120 s (SSL application note §3).
const CCHSTART_MS: u64 = 120_000;
/// `AT+CCHOPEN` answers after DNS, the TCP connect and the TLS handshake.
const CCHOPEN_MS: u64 = 60_000;
/// An answer to a request sent over the socket: as long as the HTTP stack's `+HTTPACTION` may
/// take ([`super::HTTPACTION_MS`]).
const RESPONSE_MS: u64 = super::HTTPACTION_MS;
/// After a response that ends the connection, the modem's `CLOSED` follows at once.
const CLOSED_MS: u64 = 5_000;
/// A body that stops right after a close marker is taken as cut by the connection's end after
/// this much silence (the marker is in-band: a body could hold the same bytes).
const CUT_BODY_MS: u64 = 1_000;
/// Silence before and after `+++` (the escape's guard time).
const GUARD_MS: u64 = 1_000;
/// Bytes of a body written to the UART at a time.
const CHUNK: usize = 4_096;
/// `+CCHOPEN: 0,15`: the TLS handshake failed (Manual, SSL result codes).
const HANDSHAKE_FAILED: u16 = 15;

/// Where the socket service stands in this power cycle.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(super) enum Socket {
    /// Command mode, no connection open.
    #[default]
    Closed,
    /// Data mode: the connection is open.
    Open,
    /// Data mode, in an unknown state (a response timed out or was garbled): escape and close
    /// before anything else.
    Broken,
    /// The service failed this power cycle: the HTTP stack carries the requests.
    Unavailable,
}

/// Scheme, host and port of a base URL such as `https://api.example.com:8443`.
pub fn split_url(base: &str) -> Option<(bool, &str, u16)> {
    let (tls, rest) = if let Some(rest) = base.strip_prefix("https://") {
        (true, rest)
    } else {
        (false, base.strip_prefix("http://")?)
    };
    let authority = rest.split('/').next()?;
    let (host, port) = match authority.rsplit_once(':') {
        Some((host, port)) => (host, port.parse().ok()?),
        None => (authority, if tls { 443 } else { 80 }),
    };
    (!host.is_empty()).then_some((tls, host, port))
}

/// The `Host` header of a base URL: its authority, the port included when it has one
/// (RFC 9110 §7.2).
fn host_header(base: &str) -> &str {
    let rest = base.split_once("://").map_or(base, |(_, rest)| rest);
    rest.split('/').next().unwrap_or(rest)
}

impl<IO, P, C> A7670<IO, P, C>
where
    IO: Read + Write + BaudRate,
    P: OutputPin,
    C: Clock,
{
    /// Whether requests should go over the socket service now.
    pub(super) fn socket_usable(&self) -> bool {
        self.use_socket && self.socket != Socket::Unavailable
    }

    /// One request over the power cycle's connection, opened first when needed. `Err(None)`
    /// means the service could not be started or connected: use the HTTP stack.
    pub(super) async fn socket_request(
        &mut self,
        request: &Request<'_>,
        response_body: &mut [u8],
    ) -> Result<Response, Option<ModemError>> {
        // Answers to requests sent ahead and not read are not this request's.
        while self.ahead > 0 && self.socket == Socket::Open {
            self.socket_receive_ahead(&mut []).await.map_err(Some)?;
        }
        self.ahead = 0;
        self.socket_ready().await?;
        let base = self.settings.base_url.clone();
        let head = http1::request_head(request, host_header(&base), request.last)
            .map_err(|_| Some(ModemError::TooLarge))?;
        let result = self.socket_exchange(&head, request, response_body).await;
        match &result {
            Ok((_, true)) => self.socket_closing().await,
            Ok((_, false)) => {}
            Err(error) => self.socket_failed(*error),
        }
        result.map(|(response, _)| response).map_err(Some)
    }

    /// A connection in data mode, opened (and the service started) when needed; a broken one
    /// is closed first. `Err(None)`: the service failed, the power cycle uses the HTTP stack.
    async fn socket_ready(&mut self) -> Result<(), Option<ModemError>> {
        let base = self.settings.base_url.clone();
        let Some((tls, host, port)) = split_url(&base) else {
            self.socket = Socket::Unavailable;
            return Err(None);
        };
        if self.socket == Socket::Broken {
            self.socket_abandon().await;
        }
        if self.socket == Socket::Closed
            && let Err(error) = self.socket_open(tls, host, port).await
        {
            self.socket = Socket::Unavailable;
            self.socket_abandon_quietly();
            // A failed TLS setup or an untrusted server ends the request: the HTTP stack would
            // verify the same server against the same CA.
            return Err(match error {
                ModemError::Io
                | ModemError::NoCaCert
                | ModemError::Ssl(_)
                | ModemError::Untrusted => Some(error),
                _ => None,
            });
        }
        Ok(())
    }

    /// Starts the service (once per power cycle) and opens the connection: data mode.
    async fn socket_open(&mut self, tls: bool, host: &str, port: u16) -> Result<(), ModemError> {
        if !self.cch_started {
            if tls {
                // The CA, server authentication and SNI (off by default, and most servers then
                // fail the handshake), with the mode on the same line ([`super::ssl`]).
                self.ssl_context("AT+CCHMODE=1;").await?;
            } else {
                self.command(&["AT+CCHMODE=1"], None, SHORT_MS).await?;
            }
            let started = match self.command(&["AT+CCHSTART"], None, SHORT_MS).await {
                Ok(_) => self.wait_result(b"+CCHSTART:", CCHSTART_MS).await,
                Err(error) => Err(error),
            };
            if let Err(error) = started {
                self.forget_apn();
                return Err(error);
            }
            if tls {
                self.command(&["AT+CCHSSLCFG=0,0"], None, SHORT_MS)
                    .await
                    .map_err(|error| self.ssl_failed(error, SslStep::Bind))?;
            }
            self.cch_started = true;
        }
        let mut port_text = String::<5>::new();
        let _ = write!(port_text, "{port}");
        let client_type = if tls { "2" } else { "1" };
        self.send(&["AT+CCHOPEN=0,\"", host, "\",", &port_text, ",", client_type])
            .await?;
        let deadline = self.clock.now_ms().saturating_add(CCHOPEN_MS);
        loop {
            let line = self.next_line(deadline).await?;
            if line.starts_with(b"CONNECT FAIL") {
                return Err(ModemError::Error);
            }
            if line.as_slice() == b"CONNECT" || line.starts_with(b"CONNECT ") {
                self.socket = Socket::Open;
                return Ok(());
            }
            match parse::classify(&line) {
                Reply::Error => return Err(ModemError::Error),
                Reply::CmeError(code) => return Err(ModemError::Cme(code)),
                // The `OK` some firmware prints before the result.
                Reply::Ok => {}
                reply => match result_code(&line, b"+CCHOPEN:") {
                    // The Manual's SSL result code 15: the handshake failed (the certificate
                    // does not chain to the CA or does not name the host).
                    Some(HANDSHAKE_FAILED) if tls => return Err(self.untrusted()),
                    Some(code) => return Err(ModemError::Cme(Some(code))),
                    None => self.note(reply),
                },
            }
        }
    }

    /// Waits for the URC `<prefix> <code>` that ends a command; code 0 is success.
    async fn wait_result(&mut self, prefix: &[u8], timeout_ms: u64) -> Result<(), ModemError> {
        let deadline = self.clock.now_ms().saturating_add(timeout_ms);
        loop {
            let line = self.next_line(deadline).await?;
            if line.starts_with(prefix) {
                return match result_code(&line, prefix).or(line_code(&line, prefix)) {
                    Some(0) => Ok(()),
                    other => Err(ModemError::Cme(other)),
                };
            }
            let reply = parse::classify(&line);
            self.note(reply);
        }
    }

    /// Writes the request and reads its answer; `true` when the connection ends after it.
    async fn socket_exchange(
        &mut self,
        head: &[u8],
        request: &Request<'_>,
        response_body: &mut [u8],
    ) -> Result<(Response, bool), ModemError> {
        self.socket_write(head, request.body).await?;
        let (response, close) = self.socket_read(response_body).await?;
        Ok((response, close || request.last))
    }

    /// Writes a request's head and body to the connection (data mode).
    async fn socket_write(&mut self, head: &[u8], body: &[u8]) -> Result<(), ModemError> {
        self.io.write_all(head).await.map_err(|_| ModemError::Io)?;
        for chunk in body.chunks(CHUNK) {
            self.io.write_all(chunk).await.map_err(|_| ModemError::Io)?;
        }
        self.io.flush().await.map_err(|_| ModemError::Io)?;
        self.counters.tx += (head.len() + body.len()) as u64;
        Ok(())
    }

    /// Reads the next answer on the connection; `true` when the server ends the connection
    /// after it.
    async fn socket_read(
        &mut self,
        response_body: &mut [u8],
    ) -> Result<(Response, bool), ModemError> {
        let deadline = self.clock.now_ms().saturating_add(RESPONSE_MS);
        let mut parser = ResponseParser::new();
        loop {
            let (taken, done) = match parser.feed(self.rx.peek(), response_body) {
                Ok(progress) => progress,
                Err(ParseError::Closed) => return Err(ModemError::Closed),
                Err(_) => return Err(ModemError::Garbled),
            };
            self.rx.discard(taken);
            if let Some(parsed) = done {
                self.counters.rx += (parsed.head_len as u64) + u64::from(parsed.content_len);
                let response = Response {
                    status: parsed.status,
                    body_len: parsed.body_len,
                    content_len: parsed.content_len,
                    date: parsed.date,
                    retry_after_s: parsed.retry_after_s,
                };
                self.transport = Some(Transport::Socket);
                return Ok((response, parsed.close));
            }
            let cut = parser.ends_in_close_marker();
            let wait_until = if cut {
                self.clock
                    .now_ms()
                    .saturating_add(CUT_BODY_MS)
                    .min(deadline)
            } else {
                deadline
            };
            match self.fill(wait_until).await {
                Ok(()) => {}
                Err(ModemError::Timeout) if cut => return Err(ModemError::Closed),
                Err(error) => return Err(error),
            }
        }
    }

    /// Writes `request` without reading its answer (HTTP/1.1 pipelining: the server answers in
    /// order). `Ok(false)` when the service is not usable (nothing was sent).
    pub(super) async fn socket_send_ahead(
        &mut self,
        request: &Request<'_>,
    ) -> Result<bool, ModemError> {
        if !self.socket_usable() {
            return Ok(false);
        }
        if let Err(error) = self.socket_ready().await {
            return match error {
                None => Ok(false),
                Some(error) => Err(error),
            };
        }
        let base = self.settings.base_url.clone();
        let head = http1::request_head(request, host_header(&base), false)
            .map_err(|_| ModemError::TooLarge)?;
        match self.socket_write(&head, request.body).await {
            Ok(()) => {
                self.ahead += 1;
                Ok(true)
            }
            Err(error) => {
                self.socket_failed(error);
                Err(error)
            }
        }
    }

    /// The answer to the oldest request sent ahead.
    pub(super) async fn socket_receive_ahead(
        &mut self,
        response_body: &mut [u8],
    ) -> Result<Response, ModemError> {
        if self.ahead == 0 || self.socket != Socket::Open {
            return Err(ModemError::Garbled);
        }
        self.ahead -= 1;
        match self.socket_read(response_body).await {
            Ok((response, close)) => {
                if close {
                    self.ahead = 0;
                    self.socket_closing().await;
                }
                Ok(response)
            }
            Err(error) => {
                self.socket_failed(error);
                Err(error)
            }
        }
    }

    /// After a failed exchange: answers still due are lost with the connection's state.
    fn socket_failed(&mut self, error: ModemError) {
        self.ahead = 0;
        self.socket = if error == ModemError::Closed {
            // The modem printed `CLOSED`: command mode again.
            Socket::Closed
        } else {
            Socket::Broken
        };
    }

    /// The answer said the connection ends: wait for the modem's `CLOSED` (command mode again).
    async fn socket_closing(&mut self) {
        let deadline = self.clock.now_ms().saturating_add(CLOSED_MS);
        loop {
            match self.next_line(deadline).await {
                Ok(line) if http1::is_close_marker(&line) => {
                    self.socket = Socket::Closed;
                    return;
                }
                Ok(_) => self.noise += 1,
                Err(_) => {
                    self.socket = Socket::Broken;
                    return;
                }
            }
        }
    }

    /// Whether the modem is (or may be) in data mode, deaf to commands.
    pub(super) fn in_data_mode(&self) -> bool {
        matches!(self.socket, Socket::Open | Socket::Broken)
    }

    /// `+++` between two guard silences: command mode again (`OK`), the connection still open.
    pub(super) async fn escape(&mut self) -> bool {
        self.clock.sleep_ms(GUARD_MS).await;
        self.rx = super::RxBuffer::new();
        if self.io.write_all(b"+++").await.is_err() || self.io.flush().await.is_err() {
            return false;
        }
        let deadline = self.clock.now_ms().saturating_add(2 * GUARD_MS);
        let escaped = self.finish(deadline, None).await.is_ok();
        self.socket = Socket::Closed;
        escaped
    }

    /// Leaves data mode with `+++` and closes the connection; the service stays started.
    pub(super) async fn socket_abandon(&mut self) {
        let escaped = self.escape().await;
        let closed = escaped
            && self
                .command(&["AT+CCHCLOSE=0"], None, SHORT_MS)
                .await
                .is_ok();
        if !closed {
            // The modem may have reset, losing the service with everything else.
            self.cch_started = false;
        }
        self.socket = Socket::Closed;
    }

    /// After a failed open: the service is not trusted for the rest of the power cycle.
    fn socket_abandon_quietly(&mut self) {
        self.cch_started = false;
    }
}

/// The `<err>` of `<prefix> <session>,<err>` (e.g. `+CCHOPEN: 0,14`) when it is not 0.
fn result_code(line: &[u8], prefix: &[u8]) -> Option<u16> {
    let rest = core::str::from_utf8(line.strip_prefix(prefix)?).ok()?;
    let (_, code) = rest.trim().split_once(',')?;
    code.trim().parse().ok().filter(|&code| code != 0)
}

/// The `<err>` of `<prefix> <err>` (e.g. `+CCHSTART: 0`).
fn line_code(line: &[u8], prefix: &[u8]) -> Option<u16> {
    let rest = core::str::from_utf8(line.strip_prefix(prefix)?).ok()?;
    rest.trim().parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base_urls_split_into_scheme_host_and_port() {
        assert_eq!(
            split_url("https://api.example.com"),
            Some((true, "api.example.com", 443))
        );
        assert_eq!(
            split_url("http://127.0.0.1:8080"),
            Some((false, "127.0.0.1", 8080))
        );
        assert_eq!(split_url("http://h:99/x"), Some((false, "h", 99)));
        assert_eq!(split_url("ftp://h"), None);
        assert_eq!(split_url("http://h:port"), None);
        assert_eq!(split_url("https://"), None);
    }

    #[test]
    fn the_host_header_keeps_a_port_the_url_names() {
        assert_eq!(host_header("http://127.0.0.1:8080"), "127.0.0.1:8080");
        assert_eq!(host_header("https://api.example.com"), "api.example.com");
        assert_eq!(host_header("https://h:8443/base"), "h:8443");
    }

    #[test]
    fn result_codes_are_read_from_urcs() {
        assert_eq!(result_code(b"+CCHOPEN: 0,14", b"+CCHOPEN:"), Some(14));
        assert_eq!(result_code(b"+CCHOPEN: 0,0", b"+CCHOPEN:"), None);
        assert_eq!(line_code(b"+CCHSTART: 0", b"+CCHSTART:"), Some(0));
        assert_eq!(line_code(b"+CCHSTART: 9", b"+CCHSTART:"), Some(9));
    }
}
