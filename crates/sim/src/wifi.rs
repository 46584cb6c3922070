//! The ESP32-C6's WiFi, simulated: the customer's access point heard at some RSSI (or not at
//! all), credentials kept in the board's flash (from the factory, or from the portal through a
//! heartbeat), a join that works only with the access point's passphrase, and HTTP performed for
//! real through the [`Network`] (the board's WiFi stack does HTTP itself, no AT commands).

use std::rc::Rc;

use smartbox_firmware::clock::Clock;
use smartbox_firmware::http::{self, DeviceHttp, NetError, Request, Response};
use smartbox_firmware::link::{CredentialsNotStored, LinkFailure, Wifi};
use smartbox_protocol::WifiCredentials;

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

/// The customer's access point near the mailbox.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccessPoint {
    /// Its name.
    pub ssid: String,
    /// Its WPA2/WPA3 passphrase.
    pub passphrase: String,
    /// RSSI at the mailbox; `None` when it is not heard.
    pub rssi_dbm: Option<i16>,
    /// The mailbox left the factory with this access point's credentials in flash (as boards
    /// did before the portal could send them); otherwise it holds none until a heartbeat.
    pub preset: bool,
}

impl AccessPoint {
    /// An access point heard at `rssi_dbm` whose credentials the mailbox already holds.
    pub fn known(rssi_dbm: Option<i16>) -> Self {
        Self {
            ssid: "sim-home".to_owned(),
            passphrase: "sim-passphrase".to_owned(),
            rssi_dbm,
            preset: true,
        }
    }
}

/// Version of the credentials a mailbox with a [`AccessPoint::preset`] access point holds.
const PRESET_VERSION: u64 = 1;

/// The simulated WiFi of one mailbox.
#[derive(Debug)]
pub struct SimWifi {
    board: Board,
    network: Rc<dyn Network>,
    base_url: String,
    /// The access point near the mailbox.
    pub access_point: AccessPoint,
    /// The credentials in the board's flash and their version.
    stored: Option<(u64, WifiCredentials)>,
    /// Whether joining works.
    pub join_ok: bool,
    joined: bool,
    /// Requests sent over WiFi.
    pub requests: u64,
}

impl SimWifi {
    /// WiFi on `board` near `access_point`, reaching the device API at `base_url`.
    pub fn new(
        board: Board,
        network: Rc<dyn Network>,
        base_url: &str,
        access_point: AccessPoint,
    ) -> anyhow::Result<Self> {
        let stored = if access_point.preset {
            let credentials = WifiCredentials::new(&access_point.ssid, &access_point.passphrase)
                .map_err(|e| anyhow::anyhow!("preset wifi credentials: {e}"))?;
            Some((PRESET_VERSION, credentials))
        } else {
            None
        };
        Ok(Self {
            board,
            network,
            base_url: base_url.trim_end_matches('/').to_owned(),
            access_point,
            stored,
            join_ok: true,
            joined: false,
            requests: 0,
        })
    }

    /// The credentials in flash.
    pub fn stored(&self) -> Option<&(u64, WifiCredentials)> {
        self.stored.as_ref()
    }

    /// The access point's RSSI, when the stored credentials name it.
    fn heard(&self) -> Option<i16> {
        let (_, credentials) = self.stored.as_ref()?;
        (credentials.ssid() == self.access_point.ssid)
            .then_some(self.access_point.rssi_dbm)
            .flatten()
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
    fn credentials_version(&self) -> u64 {
        self.stored.as_ref().map_or(0, |(version, _)| *version)
    }

    async fn store_credentials(
        &mut self,
        version: u64,
        credentials: &WifiCredentials,
    ) -> Result<(), CredentialsNotStored> {
        self.stored = Some((version, credentials.clone()));
        Ok(())
    }

    async fn scan_rssi(&mut self) -> Option<i16> {
        self.radio(State::WifiActive);
        self.board.clock().sleep_ms(SCAN_MS).await;
        if !self.joined {
            self.radio(State::Off);
        }
        self.heard()
    }

    async fn join(&mut self) -> Result<(), LinkFailure> {
        self.radio(State::WifiActive);
        self.board.clock().sleep_ms(JOIN_MS).await;
        let passphrase_ok = self
            .stored
            .as_ref()
            .is_some_and(|(_, c)| c.passphrase() == self.access_point.passphrase);
        self.joined = self.join_ok && passphrase_ok && self.heard().is_some();
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
