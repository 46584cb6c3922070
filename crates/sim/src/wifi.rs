//! The ESP32-C6's WiFi, simulated: an access point heard at some RSSI (or not at all), a join
//! that may fail, and HTTP performed for real through the [`Network`] (the board's WiFi stack
//! does HTTP itself, no AT commands involved).

use std::rc::Rc;

use smartbox_firmware::clock::Clock;
use smartbox_firmware::http::{self, DeviceHttp, NetError, Request, Response};
use smartbox_firmware::link::{LinkFailure, Wifi};

use crate::board::Board;
use crate::net::{HttpRequest, Network};
use crate::power::{Rail, State};

/// Active scan of the configured channel set.
const SCAN_MS: u64 = 1_500;
/// Association, WPA2 handshake and DHCP.
const JOIN_MS: u64 = 2_000;
/// Round trip to the server over the home connection.
const RTT_MS: u64 = 30;
/// Usable 802.11n throughput at a fair RSSI, bits per second.
const THROUGHPUT_BPS: u64 = 5_000_000;

/// The simulated WiFi of one mailbox.
#[derive(Debug)]
pub struct SimWifi {
    board: Board,
    network: Rc<dyn Network>,
    base_url: String,
    /// RSSI of the configured access point; `None` when it is not heard.
    pub rssi_dbm: Option<i16>,
    /// Whether joining works.
    pub join_ok: bool,
    joined: bool,
    /// Requests sent over WiFi.
    pub requests: u64,
}

impl SimWifi {
    /// WiFi on `board` reaching the device API at `base_url`.
    pub fn new(
        board: Board,
        network: Rc<dyn Network>,
        base_url: &str,
        rssi_dbm: Option<i16>,
    ) -> Self {
        Self {
            board,
            network,
            base_url: base_url.trim_end_matches('/').to_owned(),
            rssi_dbm,
            join_ok: true,
            joined: false,
            requests: 0,
        }
    }

    fn radio(&self, state: State) {
        let now = self.board.now_ms();
        self.board.with(|s| s.meter.set(Rail::Wifi, now, state));
    }
}

impl DeviceHttp for SimWifi {
    async fn send(
        &mut self,
        request: &Request<'_>,
        response_body: &mut [u8],
    ) -> Result<Response, NetError> {
        if !self.joined {
            return Err(NetError::NoLink);
        }
        let mut time = heapless::String::new();
        let mut headers: Vec<(String, String)> = request
            .headers
            .pairs(&mut time)
            .iter()
            .map(|(n, v)| ((*n).to_owned(), (*v).to_owned()))
            .collect();
        if let Some(content_type) = request.content_type {
            headers.push(("Content-Type".to_owned(), content_type.to_owned()));
        }
        if let Some(range) = request.range {
            headers.push(("Range".to_owned(), range.header_value().as_str().to_owned()));
        }
        let wire = HttpRequest {
            method: request.method.as_str().to_owned(),
            url: format!("{}{}", self.base_url, request.path),
            headers,
            body: request.body.to_vec(),
        };
        let clock = self.board.clock();
        let at = self.board.unix_ms_at(clock.now_ms());
        self.requests += 1;
        let result = self.network.exchange(&wire, at);
        let bytes = request.body.len() + result.as_ref().map_or(0, |r| r.body.len() + r.head.len());
        clock
            .sleep_ms(2 * RTT_MS + bytes as u64 * 8 * 1_000 / THROUGHPUT_BPS)
            .await;
        let reply = result.map_err(|_| NetError::Link)?;
        let n = reply.body.len().min(response_body.len());
        response_body[..n].copy_from_slice(&reply.body[..n]);
        let (date, retry_after_s) = http::scan_headers(&reply.head);
        Ok(Response {
            status: reply.status,
            body_len: n,
            content_len: reply.body.len() as u32,
            date,
            retry_after_s,
        })
    }
}

impl Wifi for SimWifi {
    async fn scan_rssi(&mut self) -> Option<i16> {
        self.radio(State::WifiActive);
        self.board.clock().sleep_ms(SCAN_MS).await;
        if !self.joined {
            self.radio(State::Off);
        }
        self.rssi_dbm
    }

    async fn join(&mut self) -> Result<(), LinkFailure> {
        self.radio(State::WifiActive);
        self.board.clock().sleep_ms(JOIN_MS).await;
        self.joined = self.join_ok && self.rssi_dbm.is_some();
        if self.joined {
            Ok(())
        } else {
            self.radio(State::Off);
            Err(LinkFailure::JoinFailed)
        }
    }

    async fn leave(&mut self) {
        self.joined = false;
        self.radio(State::Off);
    }
}
