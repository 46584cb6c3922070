//! Connectivity manager: which path this wake's uploads take, and why.
//!
//! Cellular first (the A7670); WiFi only when cellular failed, the device holds credentials (from
//! the portal, through a heartbeat: [`smartbox_protocol::wifi`]) and their access point is heard
//! above the server's `wifi_min_rssi_dbm` (default -70 dBm: weaker WiFi costs more energy in
//! retries than the modem does); otherwise offline, and the caller keeps everything on SD.
//! Attempts are bounded and spaced by [`Backoff`]; the outcome carries a short reason for the
//! heartbeat's `link_reason`, and what became of the WiFi credentials for its `wifi` report.

use core::fmt::Write as _;

use heapless::String;
use smartbox_protocol::{Network, WifiCredentials, WifiStatus};

use crate::a7670::{A7670, ByteCounters, ModemError, Stored};
use crate::clock::Clock;
use crate::http::DeviceHttp;

/// Why a link could not be brought up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkFailure {
    /// The modem did not answer (not powered, UART fault).
    NoModem,
    /// The modem variant cannot do HTTP(S).
    UnsupportedModem,
    /// No SIM or it is locked.
    NoSim,
    /// The network denied registration.
    Denied,
    /// Not registered before the deadline (no coverage).
    NoCoverage,
    /// The WiFi network could not be joined.
    JoinFailed,
    /// Anything else.
    Other,
}

impl LinkFailure {
    /// Retrying within the same wake cannot help.
    pub fn is_permanent(self) -> bool {
        matches!(self, Self::UnsupportedModem | Self::NoSim | Self::Denied)
    }

    /// A few words for `link_reason`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::NoModem => "modem silent",
            Self::UnsupportedModem => "modem without http",
            Self::NoSim => "no sim",
            Self::Denied => "registration denied",
            Self::NoCoverage => "not registered",
            Self::JoinFailed => "join failed",
            Self::Other => "link error",
        }
    }
}

impl From<ModemError> for LinkFailure {
    fn from(error: ModemError) -> Self {
        match error {
            ModemError::Io | ModemError::Timeout => Self::NoModem,
            ModemError::UnsupportedModel => Self::UnsupportedModem,
            ModemError::NoSim => Self::NoSim,
            ModemError::RegistrationDenied => Self::Denied,
            ModemError::NotRegistered => Self::NoCoverage,
            _ => Self::Other,
        }
    }
}

/// The cellular modem as the manager needs it.
pub trait Cellular: DeviceHttp {
    /// Starts the modem booting and returns at once (the boot overlaps the camera).
    async fn power_on(&mut self);
    /// Waits for the modem, checks it and the SIM, sets the APN and waits for registration, all
    /// before `deadline_ms`; returns the signal in dBm (-113 when unknown).
    async fn attach(&mut self, deadline_ms: u64) -> Result<i16, LinkFailure>;
    /// Powers the modem off cleanly (`AT+CPOF`).
    async fn power_off(&mut self);
    /// HTTP bytes carried so far.
    fn counters(&self) -> ByteCounters;
    /// What the modem stores across power cycles, as far as the driver knows (kept across deep
    /// sleep by the wake cycle).
    fn stored(&self) -> Stored {
        Stored::default()
    }
    /// Hands back what an earlier wake learnt ([`Cellular::stored`]).
    fn recall(&mut self, _stored: Stored) {}
}

/// The ESP32's WiFi as the manager needs it: the access point is the one of the credentials the
/// device stored last (in flash, so they outlive a power cycle).
pub trait Wifi: DeviceHttp {
    /// The version of the stored credentials, 0 when the device holds none.
    fn credentials_version(&self) -> u64;
    /// Stores new credentials in place of the old ones; `scan_rssi` and `join` use them from now.
    async fn store_credentials(
        &mut self,
        version: u64,
        credentials: &WifiCredentials,
    ) -> Result<(), CredentialsNotStored>;
    /// RSSI of the stored credentials' access point, `None` when it is not heard.
    async fn scan_rssi(&mut self) -> Option<i16>;
    /// Joins that access point (WPA2 or WPA3-Personal).
    async fn join(&mut self) -> Result<(), LinkFailure>;
    /// Leaves it and turns the radio off.
    async fn leave(&mut self);
}

/// The flash refused the credentials; the old ones, if any, still stand.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CredentialsNotStored;

/// Exponential backoff: `base_ms`, doubled per attempt, at most `max_ms`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    /// First delay.
    pub base_ms: u64,
    /// Longest delay.
    pub max_ms: u64,
}

impl Backoff {
    /// The delay before retry number `attempt` (1 = the first retry).
    pub fn delay_ms(self, attempt: u32) -> u64 {
        let doublings = attempt.saturating_sub(1).min(32);
        self.base_ms.saturating_mul(1 << doublings).min(self.max_ms)
    }
}

/// Cellular attach attempts per wake.
pub const CELLULAR_ATTEMPTS: u32 = 2;
/// WiFi join attempts per wake.
pub const WIFI_ATTEMPTS: u32 = 2;
/// Spacing of link attempts.
pub const LINK_BACKOFF: Backoff = Backoff {
    base_ms: 2_000,
    max_ms: 8_000,
};
/// Time one cellular attach may take (boot ~11 s plus registration).
pub const ATTACH_WINDOW_MS: u64 = 45_000;

/// The path chosen for this wake.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Path {
    /// Upload over the modem.
    Cellular {
        /// Signal in dBm.
        signal_dbm: i16,
    },
    /// Upload over WiFi.
    Wifi {
        /// RSSI in dBm.
        rssi_dbm: i16,
    },
    /// No link: keep everything on SD.
    Offline,
}

impl Path {
    /// The heartbeat's `network` and `signal_dbm`, `None` offline.
    pub fn network(self) -> Option<(Network, i16)> {
        match self {
            Self::Cellular { signal_dbm } => Some((Network::Cellular, signal_dbm)),
            Self::Wifi { rssi_dbm } => Some((Network::Wifi, rssi_dbm)),
            Self::Offline => None,
        }
    }
}

/// The manager's decision and its reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Choice {
    /// The path.
    pub path: Path,
    /// Why, for `link_reason` (at most 64 bytes).
    pub reason: String<64>,
    /// How the stored WiFi credentials fared, when WiFi was tried.
    pub wifi: Option<WifiStatus>,
}

/// Brings up a link for this wake: cellular (already powered on by the caller) with up to
/// [`CELLULAR_ATTEMPTS`], else WiFi (when the device holds credentials) when heard above
/// `wifi_min_rssi_dbm`, else offline.
pub async fn connect<C, W, K>(
    cellular: &mut C,
    wifi: Option<&mut W>,
    clock: &K,
    wifi_min_rssi_dbm: i16,
) -> Choice
where
    C: Cellular,
    W: Wifi,
    K: Clock,
{
    let mut failure = LinkFailure::Other;
    for attempt in 1..=CELLULAR_ATTEMPTS {
        if attempt > 1 {
            clock.sleep_ms(LINK_BACKOFF.delay_ms(attempt - 1)).await;
        }
        let deadline = clock.now_ms().saturating_add(ATTACH_WINDOW_MS);
        match cellular.attach(deadline).await {
            Ok(signal_dbm) => {
                let reason = reason(format_args!("cellular {signal_dbm} dBm"));
                return Choice {
                    path: Path::Cellular { signal_dbm },
                    reason,
                    wifi: None,
                };
            }
            Err(why) => {
                failure = why;
                if why.is_permanent() {
                    break;
                }
            }
        }
    }
    let cellular_why = failure.as_str();
    let Some(wifi) = wifi.filter(|w| w.credentials_version() != 0) else {
        let reason = reason(format_args!("offline: cellular {cellular_why}; no wifi"));
        return Choice {
            path: Path::Offline,
            reason,
            wifi: None,
        };
    };
    let rssi = wifi.scan_rssi().await;
    match rssi {
        Some(rssi_dbm) if rssi_dbm > wifi_min_rssi_dbm => {
            let mut join = Err(LinkFailure::JoinFailed);
            for attempt in 1..=WIFI_ATTEMPTS {
                if attempt > 1 {
                    clock.sleep_ms(LINK_BACKOFF.delay_ms(attempt - 1)).await;
                }
                join = wifi.join().await;
                if join.is_ok() {
                    break;
                }
            }
            match join {
                Ok(()) => Choice {
                    path: Path::Wifi { rssi_dbm },
                    reason: reason(format_args!("wifi {rssi_dbm} dBm; cellular {cellular_why}")),
                    wifi: Some(WifiStatus::Joined),
                },
                Err(why) => Choice {
                    path: Path::Offline,
                    reason: reason(format_args!(
                        "offline: cellular {cellular_why}; wifi {}",
                        why.as_str()
                    )),
                    wifi: Some(WifiStatus::JoinFailed),
                },
            }
        }
        Some(rssi_dbm) => Choice {
            path: Path::Offline,
            reason: reason(format_args!(
                "offline: cellular {cellular_why}; wifi {rssi_dbm} <= {wifi_min_rssi_dbm} dBm"
            )),
            wifi: Some(WifiStatus::TooWeak),
        },
        None => Choice {
            path: Path::Offline,
            reason: reason(format_args!(
                "offline: cellular {cellular_why}; wifi not heard"
            )),
            wifi: Some(WifiStatus::NotHeard),
        },
    }
}

fn reason(args: core::fmt::Arguments<'_>) -> String<64> {
    let mut text = String::<64>::new();
    // Overlong reasons are cut; they are informative only.
    let _ = text.write_fmt(args);
    text
}

impl<IO, P, C> Cellular for A7670<IO, P, C>
where
    IO: embedded_io_async::Read + embedded_io_async::Write + crate::a7670::BaudRate,
    P: embedded_hal::digital::OutputPin,
    C: Clock,
{
    async fn power_on(&mut self) {
        self.press_power_key().await;
    }

    async fn attach(&mut self, deadline_ms: u64) -> Result<i16, LinkFailure> {
        self.wait_ready(deadline_ms).await?;
        // Only the first boot of a new modem switches; a failure leaves the link at its old,
        // slower speed, which still works.
        let _ = self.use_fast_uart().await;
        self.check_model().await?;
        self.check_sim().await?;
        self.set_apn().await?;
        // Without the URCs the polls still find the registration, a second later at most.
        let _ = self.report_registration().await;
        self.wait_registered(deadline_ms).await?;
        Ok(self.signal_dbm().await?.unwrap_or(-113))
    }

    async fn power_off(&mut self) {
        let _ = A7670::power_off(self).await;
    }

    fn counters(&self) -> ByteCounters {
        A7670::counters(self)
    }

    fn stored(&self) -> Stored {
        A7670::stored(self)
    }

    fn recall(&mut self, stored: Stored) {
        A7670::recall(self, stored);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_its_cap() {
        let backoff = Backoff {
            base_ms: 1_000,
            max_ms: 5_000,
        };
        let delays: std::vec::Vec<u64> = (1..=5).map(|a| backoff.delay_ms(a)).collect();
        assert_eq!(delays, [1_000, 2_000, 4_000, 5_000, 5_000]);
        assert_eq!(backoff.delay_ms(200), 5_000);
    }

    #[test]
    fn permanent_failures_are_not_retried() {
        assert!(LinkFailure::Denied.is_permanent());
        assert!(LinkFailure::NoSim.is_permanent());
        assert!(!LinkFailure::NoCoverage.is_permanent());
        assert!(!LinkFailure::NoModem.is_permanent());
    }
}
