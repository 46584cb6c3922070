//! The core's [`Wifi`] port over the ESP32-C6's radio (esp-radio): the station scans for the
//! stored credentials' access point, joins it (WPA2-Personal as the least it accepts, so WPA2,
//! WPA2/WPA3 and WPA3-SAE access points all join: esp-radio enables PMF and both SAE
//! password-element methods), gets an address by DHCP, and carries the device API's requests
//! over TCP and TLS ([`https`]).
//!
//! The radio stays off unless the link manager turns to WiFi (cellular failed): the driver, its
//! heap and the network stack start at the first scan. The credentials come from the portal
//! through a heartbeat ([`smartbox_protocol::wifi`]); they are kept in flash ([`store`]), written
//! by `main` at the end of the wake (the flash is the OTA adapter's during the wake), and a
//! device that loses them before then reports the old version, so the server sends them again.

pub(crate) mod https;
mod store;

use embassy_executor::Spawner;
use embassy_net::dns::DnsQueryType;
use embassy_net::{IpAddress, Runner, Stack, StackResources};
use embassy_time::{Duration, with_timeout};
use esp_hal::peripherals::WIFI;
use esp_println::println;
use esp_radio::wifi::scan::ScanConfig;
use esp_radio::wifi::sta::StationConfig;
use esp_radio::wifi::{
    AuthenticationMethodConfig, Config, ControllerConfig, Interface, WifiController,
};
use smartbox_firmware::http::{DeviceHttp, NetError, Request, Response};
use smartbox_firmware::link::{CredentialsNotStored, LinkFailure, Wifi};
use smartbox_protocol::WifiCredentials;
use static_cell::{ConstStaticCell, StaticCell};

pub use store::{load as load_credentials, save as save_credentials};

/// An active scan of every channel for one SSID.
const SCAN_TIMEOUT: Duration = Duration::from_secs(8);
/// Association and the WPA handshake.
const JOIN_TIMEOUT: Duration = Duration::from_secs(15);
/// DHCP after the join.
const DHCP_TIMEOUT: Duration = Duration::from_secs(10);
/// One DNS lookup of the server's name.
const DNS_TIMEOUT: Duration = Duration::from_secs(10);

static BUFFERS: ConstStaticCell<https::Buffers> = ConstStaticCell::new(https::Buffers::new());
static RESOURCES: StaticCell<StackResources<3>> = StaticCell::new();

/// The board's WiFi.
pub struct BoardWifi {
    spawner: Spawner,
    radio: Option<WIFI<'static>>,
    controller: Option<WifiController<'static>>,
    stack: Option<Stack<'static>>,
    server: Option<https::Server>,
    address: Option<IpAddress>,
    credentials: Option<(u64, WifiCredentials)>,
    /// New credentials not written to flash yet.
    unsaved: bool,
    joined: bool,
    seed: u64,
    buffers: &'static mut https::Buffers,
}

impl core::fmt::Debug for BoardWifi {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("BoardWifi")
            .field("credentials", &self.credentials)
            .field("joined", &self.joined)
            .finish_non_exhaustive()
    }
}

impl BoardWifi {
    /// The WiFi of this wake, for the device API at `base_url`, holding `credentials` (from
    /// flash); `seed` seeds the network stack's port and sequence numbers.
    pub fn new(
        spawner: Spawner,
        radio: WIFI<'static>,
        base_url: &str,
        credentials: Option<(u64, WifiCredentials)>,
        seed: u64,
    ) -> Self {
        Self {
            spawner,
            radio: Some(radio),
            controller: None,
            stack: None,
            server: https::Server::parse(base_url),
            address: None,
            credentials,
            unsaved: false,
            joined: false,
            seed,
            buffers: BUFFERS.take(),
        }
    }

    /// Credentials stored this wake that still have to go to flash ([`save_credentials`]).
    pub fn unsaved(&self) -> Option<&(u64, WifiCredentials)> {
        self.credentials.as_ref().filter(|_| self.unsaved)
    }

    /// The driver, started with the station configured for the stored credentials.
    fn controller(&mut self) -> Option<&mut WifiController<'static>> {
        if self.controller.is_none() {
            let (_, credentials) = self.credentials.as_ref()?;
            let station = StationConfig::default()
                .with_ssid(credentials.ssid().try_into().ok()?)
                .with_authentication(AuthenticationMethodConfig::Wpa2Personal(
                    credentials.passphrase().try_into().ok()?,
                ));
            let radio = self.radio.take()?;
            let mut controller = WifiController::new(radio, ControllerConfig::default())
                .map_err(|error| println!("wifi: {:?}", error))
                .ok()?;
            controller
                .set_config(&Config::Station(station))
                .map_err(|error| println!("wifi config: {:?}", error))
                .ok()?;
            self.controller = Some(controller);
        }
        self.controller.as_mut()
    }

    /// The network stack over the station interface, started once.
    fn stack(&mut self) -> Option<Stack<'static>> {
        if self.stack.is_none() {
            let config = embassy_net::Config::dhcpv4(Default::default());
            let resources = RESOURCES.try_init(StackResources::new())?;
            let (stack, runner) =
                embassy_net::new(Interface::station(), config, resources, self.seed);
            let task = net_task(runner)
                .map_err(|error| println!("wifi net task: {:?}", error))
                .ok()?;
            self.spawner.spawn(task);
            self.stack = Some(stack);
        }
        self.stack
    }
}

#[embassy_executor::task]
async fn net_task(mut runner: Runner<'static, Interface>) -> ! {
    runner.run().await
}

impl DeviceHttp for BoardWifi {
    async fn send(
        &mut self,
        request: &Request<'_>,
        answer: &mut [u8],
    ) -> Result<Response, NetError> {
        let (true, Some(stack), Some(server)) = (self.joined, self.stack, self.server.as_ref())
        else {
            return Err(NetError::NoLink);
        };
        let address = match self.address {
            Some(address) => address,
            None => {
                let found = with_timeout(
                    DNS_TIMEOUT,
                    stack.dns_query(server.host.as_str(), DnsQueryType::A),
                )
                .await
                .map_err(|_| NetError::Timeout)?
                .map_err(|_| NetError::Link)?;
                *found.first().ok_or(NetError::Link)?
            }
        };
        self.address = Some(address);
        https::exchange(stack, self.buffers, server, address, request, answer).await
    }
}

impl Wifi for BoardWifi {
    fn credentials_version(&self) -> u64 {
        self.credentials.as_ref().map_or(0, |(version, _)| *version)
    }

    async fn store_credentials(
        &mut self,
        version: u64,
        credentials: &WifiCredentials,
    ) -> Result<(), CredentialsNotStored> {
        self.credentials = Some((version, credentials.clone()));
        self.unsaved = true;
        Ok(())
    }

    async fn scan_rssi(&mut self) -> Option<i16> {
        let ssid = self.credentials.as_ref()?.1.ssid().try_into().ok()?;
        let controller = self.controller()?;
        let scan = ScanConfig::default().with_ssid(ssid);
        let found = with_timeout(SCAN_TIMEOUT, controller.scan_async(&scan))
            .await
            .ok()?
            .map_err(|error| println!("wifi scan: {:?}", error))
            .ok()?;
        found.iter().map(|ap| i16::from(ap.signal_strength)).max()
    }

    async fn join(&mut self) -> Result<(), LinkFailure> {
        let controller = self.controller().ok_or(LinkFailure::JoinFailed)?;
        match with_timeout(JOIN_TIMEOUT, controller.connect_async()).await {
            Ok(Ok(_)) => {}
            Ok(Err(error)) => {
                println!("wifi join: {:?}", error);
                return Err(LinkFailure::JoinFailed);
            }
            Err(_) => return Err(LinkFailure::JoinFailed),
        }
        let stack = self.stack().ok_or(LinkFailure::Other)?;
        with_timeout(DHCP_TIMEOUT, stack.wait_config_up())
            .await
            .map_err(|_| LinkFailure::JoinFailed)?;
        self.joined = true;
        Ok(())
    }

    async fn leave(&mut self) {
        self.joined = false;
        if let Some(mut controller) = self.controller.take() {
            let _ = with_timeout(JOIN_TIMEOUT, controller.disconnect_async()).await;
            // Dropping the controller stops the radio.
        }
    }
}
