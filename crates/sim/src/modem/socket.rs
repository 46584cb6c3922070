//! The emulated A7670's socket service in transparent mode (SIMCom "A76XX Series SSL
//! Application Note" V1.00 §1.4, §3.6, §4.1): `AT+CCHMODE=1`, `AT+CCHSTART` (`+CCHSTART: 0`),
//! `AT+CCHSSLCFG`, `AT+CCHOPEN=0,"host",port,<1 TCP|2 TLS>` answered `CONNECT <rate>` (data
//! mode) or `+CCHOPEN: 0,<err>` (13 DNS, 14 connect, 15 handshake), `+++` between two 1 s
//! silences (command mode again), `AT+CCHCLOSE=0`, and `CLOSED` when the server ends the
//! connection (the modem is then in command mode).
//!
//! The connection is a real TCP connection to the server ([`RawConnection`]); the bytes the MCU
//! writes in data mode are piped to it a whole request at a time, and each answer is piped back.
//! For client type 2 the handshake is real too (rustls, verified against the CA file of the SSL
//! context `AT+CCHSSLCFG` bound: [`super::ssl`]); only towards the energy model's in-process
//! plain-HTTP server (`tls_terminated`) is TLS modelled in time only. Either way it costs two
//! round trips once per connection. Timing uses the same [`super::Timing`] figures as the HTTP stack: per-byte UART
//! time both ways, the uplink's throughput by signal (the modem sends while the UART still
//! brings the rest, as a socket does), a round trip per request and answer, the downlink, and
//! the fixed server time. URCs are not printed in data mode (those due then are dropped).

use crate::net::{RawConnection, TransportError};
use crate::power::{Meter, Rail, State};

use super::{Fault, Modem, SERVER_MS, codes};

/// The silence around `+++`.
const GUARD_MS: u64 = 1_000;

/// An open connection.
#[derive(Debug)]
pub(super) struct Connection {
    raw: RawConnection,
    /// The rate the MCU's bytes leave on the air: when the uplink is free again (µs).
    air_free_us: u64,
    /// Bytes of the request being received.
    pending: Vec<u8>,
    /// When the last byte arrived from the MCU (for the escape's guard time).
    last_byte_ms: u64,
    /// Head and body lengths of the request being received, once its head is whole.
    frame: Option<(usize, usize)>,
    /// Reset the modem once the request being received holds this many bytes.
    reset_at: Option<usize>,
}

/// The socket service's state in a power cycle.
#[derive(Debug, Default)]
pub(super) struct Service {
    /// `AT+CCHMODE=1` was set.
    transparent: bool,
    /// `AT+CCHSTART` succeeded.
    started: bool,
    /// A host name was resolved this power cycle (DNS is charged once).
    resolved: bool,
    /// Data mode: the MCU's bytes go to this connection.
    data: Option<Connection>,
    /// A connection left by `+++`, still open, for `AT+CCHCLOSE`.
    escaped: Option<Connection>,
    /// Requests sent over connections this power cycle (faults count them).
    requests: u32,
    /// The SSL context of TLS connections (`AT+CCHSSLCFG=0,<ctx>`; 0 by default).
    ssl_ctx: u8,
}

impl Modem {
    /// Whether the MCU's bytes are data for the connection.
    pub(super) fn in_data_mode(&self) -> bool {
        self.socket.data.is_some()
    }

    pub(super) fn cch_mode(&mut self, now: u64, arg: &str) {
        match arg.trim() {
            "1" if !self.socket.started => {
                self.socket.transparent = true;
                self.ok(now);
            }
            "0" if !self.socket.started => {
                self.socket.transparent = false;
                self.ok(now);
            }
            _ => self.error(now),
        }
    }

    /// `AT+CCHSTART` activates PDP context 1 as `AT+HTTPINIT` does, with the same needs.
    pub(super) fn cch_start(&mut self, now: u64) {
        if self.socket.started || !self.registered(now) || !self.pdp_context() {
            return self.error(now);
        }
        self.socket.started = true;
        self.ok(now);
        let at = now + 2 * self.spec.timing.command_ms;
        self.urc(at, "+CCHSTART: 0");
    }

    /// `AT+CCHSSLCFG=<session>,<ssl_ctx>`: the SSL context of the session's TLS connections.
    pub(super) fn cch_ssl_cfg(&mut self, now: u64, arg: &str) {
        let fields: Vec<&str> = arg.split(',').map(str::trim).collect();
        match (self.socket.started, &fields[..]) {
            (true, ["0", index]) => match index.parse::<u8>() {
                Ok(index) if index < 10 => {
                    self.socket.ssl_ctx = index;
                    self.ok(now);
                }
                _ => self.error(now),
            },
            _ => self.error(now),
        }
    }

    /// `AT+CCHOPEN=0,"<host>",<port>,<client_type>`.
    pub(super) fn cch_open(&mut self, now: u64, arg: &str, meter: &mut Meter) {
        let fields: Vec<&str> = arg.split(',').map(str::trim).collect();
        let (Some(&"0"), Some(host), Some(port), Some(kind)) = (
            fields.first(),
            fields.get(1).map(|h| h.trim_matches('"')),
            fields.get(2).and_then(|p| p.parse::<u16>().ok()),
            fields.get(3).copied(),
        ) else {
            return self.error(now);
        };
        let tls = match kind {
            "1" => false,
            "2" => true,
            _ => return self.error(now),
        };
        let usable = self.socket.started && self.socket.transparent;
        if !usable || self.socket.data.is_some() || self.socket.escaped.is_some() {
            return self.error(now);
        }
        let signal = self.spec.signal_dbm;
        let timing = self.spec.timing.clone();
        let first = !self.socket.resolved;
        self.socket.resolved = true;
        let rtt = timing.rtt_ms(signal);
        let next = self.socket.requests + 1;
        let fault = match self.fault {
            Some(Fault::HttpError {
                request,
                code,
                sent: false,
            }) if request == next => Some(code),
            _ => None,
        };
        // TLS is real (rustls, verified as the SSL context says), except towards the
        // in-process plain-HTTP server of the energy model (`tls_terminated`), where it is
        // modelled in time only.
        let handshake =
            (tls && !self.spec.tls_terminated).then(|| self.tls_client(self.socket.ssl_ctx, host));
        let real_tls = handshake.is_some();
        let result = match fault {
            Some(codes::DNS) => Err((13, 2 * rtt)),
            Some(codes::CONNECT | codes::NETWORK) => Err((14, 2 * rtt)),
            Some(codes::TLS_HANDSHAKE) => Err((15, 4 * rtt)),
            _ if tls && !self.ssl.context(self.socket.ssl_ctx).sni => Err((15, 4 * rtt)),
            _ => self
                .network
                .connect(&format!("http://{host}:{port}"))
                .map_err(|error| match error {
                    TransportError::Dns => (13, 2 * rtt),
                    TransportError::Tls => (15, 4 * rtt),
                    _ => (14, 2 * rtt),
                })
                .and_then(|raw| match handshake {
                    None => Ok(raw),
                    Some(Err(())) => Err((15, 4 * rtt)),
                    Some(Ok(client)) => raw.start_tls(&client).map_err(|error| match error {
                        TransportError::Timeout => (5, 4 * rtt),
                        _ => (15, 4 * rtt),
                    }),
                }),
        };
        if matches!(result, Err((15, _))) && real_tls {
            self.stats.tls_refused += 1;
        }
        meter.set(Rail::Modem, now, State::ModemTx { signal_dbm: signal });
        match result {
            Ok(raw) => {
                let at = now + timing.open_ms(signal, first, tls);
                self.stats.connections += 1;
                let baud = self.baud;
                self.send_at(at, format!("\r\nCONNECT {baud}\r\n").into_bytes(), None);
                // The modem prints no URC in data mode.
                self.outbox.retain(|o| !(o.unsolicited && o.at >= at));
                self.socket.data = Some(Connection {
                    raw,
                    air_free_us: at * 1_000,
                    pending: Vec::new(),
                    last_byte_ms: at,
                    frame: None,
                    reset_at: None,
                });
                meter.set(Rail::Modem, at, State::ModemIdle);
            }
            Err((code, took)) => {
                self.ok(now);
                self.send_at(
                    now + took,
                    format!("\r\n+CCHOPEN: 0,{code}\r\n").into_bytes(),
                    None,
                );
                meter.set(Rail::Modem, now + took, State::ModemIdle);
            }
        }
    }

    /// `AT+CCHCLOSE=0`: closes the connection `+++` left open.
    pub(super) fn cch_close(&mut self, now: u64, arg: &str) {
        if arg.trim() != "0" || self.socket.escaped.take().is_none() {
            return self.error(now);
        }
        self.ok(now);
        let at = now + 2 * self.spec.timing.command_ms;
        self.send_at(at, b"\r\nCLOSED\r\n".to_vec(), None);
    }

    /// Ends the service with the power cycle.
    pub(super) fn reset_socket(&mut self) {
        self.socket = Service::default();
    }

    /// Bytes the MCU wrote in data mode.
    pub(super) fn data_bytes(&mut self, now: u64, bytes: &[u8], meter: &mut Meter) {
        let Some(connection) = self.socket.data.as_mut() else {
            return;
        };
        let silent_before = now.saturating_sub(connection.last_byte_ms) >= GUARD_MS;
        connection.last_byte_ms = now;
        if bytes == b"+++" && silent_before {
            // The escape: `OK` after the trailing guard time, the connection kept open (a
            // request cut short is abandoned with it).
            self.socket.escaped = self.socket.data.take();
            let at = now + GUARD_MS;
            self.send_at(at, b"\r\nOK\r\n".to_vec(), None);
            return;
        }
        let signal = self.spec.signal_dbm;
        // The bytes go on the air as they come, after what is still queued for it.
        let air_from_us = connection.air_free_us.max(now * 1_000);
        connection.air_free_us = air_from_us + self.spec.timing.uplink_us(signal, bytes.len());
        if connection.pending.is_empty() {
            meter.set(Rail::Modem, now, State::ModemTx { signal_dbm: signal });
        }
        for (index, &byte) in bytes.iter().enumerate() {
            let Some(connection) = self.socket.data.as_mut() else {
                return;
            };
            connection.pending.push(byte);
            if connection.frame.is_none() && connection.pending.ends_with(b"\r\n\r\n") {
                let (head, body) = framed(&connection.pending);
                connection.frame = Some((head, body));
                if body > 0 {
                    self.uploads += 1;
                    if let Some(Fault::ResetMidUpload { upload }) = self.fault
                        && upload == self.uploads
                        && let Some(connection) = self.socket.data.as_mut()
                    {
                        connection.reset_at = Some(head + body / 2);
                    }
                }
            }
            let Some(connection) = self.socket.data.as_mut() else {
                return;
            };
            if connection.reset_at == Some(connection.pending.len()) {
                self.stats.resets += 1;
                // A brown-out: the modem restarts by itself and boots again, for good.
                self.fault = None;
                self.boot(now, meter);
                return;
            }
            if let Some((head, body)) = connection.frame
                && connection.pending.len() == head + body
            {
                let request = std::mem::take(&mut connection.pending);
                connection.frame = None;
                connection.reset_at = None;
                let on_air_us = air_from_us + self.spec.timing.uplink_us(signal, index + 1);
                let sent_at = on_air_us.div_ceil(1_000);
                self.forward(sent_at, &request, meter);
            }
        }
    }

    /// A whole request is on the air at `sent_at`: the server answers, or a fault ends it.
    fn forward(&mut self, sent_at: u64, request: &[u8], meter: &mut Meter) {
        self.socket.requests += 1;
        let n = self.socket.requests;
        let signal = self.spec.signal_dbm;
        let timing = self.spec.timing.clone();
        let rtt = timing.rtt_ms(signal);
        let at_unix_ms = self.epoch_unix_ms + sent_at as i64;
        let Some(connection) = self.socket.data.as_mut() else {
            return;
        };
        match self.fault {
            Some(Fault::HttpError {
                request: r, sent, ..
            }) if r == n => {
                if sent {
                    self.stats.requests_sent += 1;
                    let _ = self
                        .network
                        .exchange_raw(&mut connection.raw, request, at_unix_ms);
                }
                // The connection breaks: the modem says so and is in command mode again.
                self.socket.data = None;
                let at = sent_at + 3 * rtt;
                self.send_at(at, b"\r\nCLOSED\r\n".to_vec(), None);
                meter.set(Rail::Modem, at, State::ModemIdle);
                return;
            }
            Some(Fault::HttpTimeout { request: r }) if r == n => {
                // The server takes it; its answer never comes back.
                self.stats.requests_sent += 1;
                let _ = self
                    .network
                    .exchange_raw(&mut connection.raw, request, at_unix_ms);
                meter.set(Rail::Modem, sent_at + rtt, State::ModemIdle);
                return;
            }
            _ => {}
        }
        self.stats.requests_sent += 1;
        match self
            .network
            .exchange_raw(&mut connection.raw, request, at_unix_ms)
        {
            Ok(reply) => {
                self.stats.unauthorized += u64::from(reply.status == 401);
                let at = sent_at + rtt + SERVER_MS + timing.downlink_ms(reply.bytes.len());
                let mut bytes = reply.bytes;
                if reply.closed {
                    // The server's FIN comes with its answer; the modem's line follows it.
                    self.socket.data = None;
                    bytes.extend_from_slice(b"\r\nCLOSED\r\n");
                }
                self.send_at(at, bytes, None);
                meter.set(Rail::Modem, at, State::ModemIdle);
            }
            Err(_) => {
                self.socket.data = None;
                let at = sent_at + rtt;
                self.send_at(at, b"\r\nCLOSED\r\n".to_vec(), None);
                meter.set(Rail::Modem, at, State::ModemIdle);
            }
        }
    }
}

/// `(head length, body length)` of a request whose head `bytes` ends with its blank line: the
/// body's length from `Content-Length`, none without one (as the server reads it).
fn framed(head: &[u8]) -> (usize, usize) {
    let text = String::from_utf8_lossy(head).to_ascii_lowercase();
    let body = text
        .lines()
        .find_map(|line| line.strip_prefix("content-length:"))
        .and_then(|len| len.trim().parse().ok())
        .unwrap_or(0);
    (head.len(), body)
}

#[cfg(test)]
mod tests {
    use super::framed;

    #[test]
    fn requests_are_framed_by_their_head_and_content_length() {
        assert_eq!(framed(b"GET / HTTP/1.1\r\n\r\n"), (18, 0));
        assert_eq!(
            framed(b"PUT /p HTTP/1.1\r\nContent-Length: 5\r\n\r\n"),
            (38, 5)
        );
    }
}
