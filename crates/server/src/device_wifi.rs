//! WiFi credentials from the cloud (issue 24): the portal saves a mailbox's SSID and passphrase
//! sealed with the master key ([`crate::services::wifi::save`]); the device API seals them
//! again, for the device alone ([`smartbox_protocol::wifi`]), into the heartbeat answers of a
//! device that reports holding another version, and records what the device reports about
//! them. The passphrase is never logged and never leaves the server but sealed.

use rand::RngCore;
use smartbox_domain::DeviceId;
use smartbox_protocol::wifi::{self, SealedWifi, WifiCredentials};
use smartbox_protocol::{WifiReport, WifiStatus};
use smartbox_store::DeviceWifiRow;

use crate::state::AppState;

pub use crate::device_caches::SavedWifi;

/// The stored plaintext: the SSID's length as one byte, the SSID, the passphrase.
pub fn plaintext(credentials: &WifiCredentials) -> Vec<u8> {
    let ssid = credentials.ssid().as_bytes();
    let mut plain = Vec::with_capacity(1 + ssid.len() + credentials.passphrase().len());
    plain.push(ssid.len() as u8);
    plain.extend_from_slice(ssid);
    plain.extend_from_slice(credentials.passphrase().as_bytes());
    plain
}

fn from_plaintext(plain: &[u8]) -> Option<WifiCredentials> {
    let (&len, rest) = plain.split_first()?;
    let (ssid, passphrase) = rest.split_at_checked(usize::from(len))?;
    WifiCredentials::new(
        std::str::from_utf8(ssid).ok()?,
        std::str::from_utf8(passphrase).ok()?,
    )
    .ok()
}

/// Opens the row the device context loads; a row that does not open (another master key) is
/// treated as no credentials, and said once in the log.
pub fn open(state: &AppState, row: DeviceWifiRow) -> Option<SavedWifi> {
    let credentials = state
        .master_key
        .open_wifi_credentials(&row.device_id, &row.sealed)
        .ok()
        .and_then(|plain| from_plaintext(&plain));
    let Some(credentials) = credentials else {
        tracing::warn!(device = %row.device_id, "saved wifi credentials do not open");
        return None;
    };
    Some(SavedWifi {
        version: u64::try_from(row.version).unwrap_or(0),
        credentials,
        reported: (
            u64::try_from(row.reported_version).unwrap_or(0),
            row.reported_status.as_deref().and_then(parse_status),
        ),
    })
}

fn parse_status(word: &str) -> Option<WifiStatus> {
    [
        WifiStatus::Untried,
        WifiStatus::Joined,
        WifiStatus::JoinFailed,
        WifiStatus::TooWeak,
        WifiStatus::NotHeard,
    ]
    .into_iter()
    .find(|status| status.as_str() == word)
}

/// The heartbeat's part: credentials sealed for the device when it reports another version than
/// the saved one (firmware that reports nothing gets none), and the device's report recorded
/// when it changed.
pub async fn on_heartbeat(
    state: &AppState,
    device_id: &str,
    secret: &[u8; 32],
    saved: Option<&SavedWifi>,
    report: Option<WifiReport>,
) -> anyhow::Result<Option<SealedWifi>> {
    let (Some(saved), Some(report)) = (saved, report) else {
        return Ok(None);
    };
    if saved.reported != (report.credentials, Some(report.status)) {
        state
            .db
            .record_wifi_report(
                &DeviceId::new(device_id),
                i64::try_from(report.credentials).unwrap_or(0),
                report.status.as_str(),
                state.clock.now_ms(),
            )
            .await?;
    }
    if report.credentials == saved.version {
        return Ok(None);
    }
    let mut nonce = [0_u8; 12];
    rand::rng().fill_bytes(&mut nonce);
    Ok(Some(wifi::seal(
        secret,
        saved.version,
        nonce,
        &saved.credentials,
    )))
}

/// What the portal says about a mailbox's WiFi: the saved network and the device's word on it.
pub fn describe(row: &DeviceWifiRow) -> String {
    if row.reported_version != row.version {
        return "Waiting for the next check-in, which takes these credentials to the mailbox."
            .to_owned();
    }
    match row.reported_status.as_deref().and_then(parse_status) {
        Some(WifiStatus::Joined) => "The mailbox joined this network.".to_owned(),
        Some(WifiStatus::JoinFailed) => {
            "The mailbox heard this network but could not join it: check the password.".to_owned()
        }
        Some(WifiStatus::TooWeak) => {
            "The mailbox hears this network, but too weakly to use it.".to_owned()
        }
        Some(WifiStatus::NotHeard) => "The mailbox does not hear this network.".to_owned(),
        Some(WifiStatus::Untried) | None => {
            "The mailbox holds these credentials; it uses WiFi when the cellular network fails."
                .to_owned()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_stored_plaintext_reads_back_and_garbage_does_not() {
        let credentials = WifiCredentials::new("home", "correct horse").expect("valid");
        assert_eq!(from_plaintext(&plaintext(&credentials)), Some(credentials));
        assert_eq!(from_plaintext(&[40, b'a']), None);
        assert_eq!(from_plaintext(&[]), None);
    }

    #[test]
    fn every_status_word_parses_back() {
        for status in [
            WifiStatus::Untried,
            WifiStatus::Joined,
            WifiStatus::JoinFailed,
            WifiStatus::TooWeak,
            WifiStatus::NotHeard,
        ] {
            assert_eq!(parse_status(status.as_str()), Some(status));
        }
        assert_eq!(parse_status("connected"), None);
    }
}
