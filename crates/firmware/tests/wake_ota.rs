//! Firmware updates through whole wakes: the heartbeat's offer, `Range`d downloads into a
//! simulated flash with an ESP-IDF-like rollback bootloader, verification, the switch, the
//! confirmation after the new image's first check-in, and the reports the server receives.

mod support;

use ed25519_dalek::{Signer, SigningKey};
use heapless::String;
use sha2::{Digest, Sha256};
use smartbox_firmware::a7670::request_userdata;
use smartbox_firmware::http::{Method, Request, SignedHeaders};
use smartbox_firmware::ota::{ByteRange, FailureReason, InstallOutcome};
use smartbox_firmware::policy::{TIMER_WAKE_MS, Wake};
use smartbox_firmware::wake::{
    HTTP_ATTEMPTS, OTA_BYTES_PER_WAKE, OTA_MIN_BATTERY_PERCENT, TRIAL_RETRY,
};
use smartbox_protocol::{FirmwareOffer, FirmwareStatus};
use support::flash::{SlotState, image};
use support::rig::{RELEASE_SEED, Rig};

const HOUR: u64 = 3_600_000;

fn hex(bytes: &[u8]) -> std::string::String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Publishes `version` on the fake server: an image of `len` bytes, signed with the release
/// key; `served` may alter the bytes the server actually sends.
fn publish(rig: &Rig, version: &str, len: usize, served: impl FnOnce(&mut Vec<u8>)) {
    let image = image(version, len);
    let digest: [u8; 32] = Sha256::digest(&image).into();
    let signature = SigningKey::from_bytes(&RELEASE_SEED)
        .sign(&digest)
        .to_bytes();
    let offer = FirmwareOffer {
        version: String::try_from(version).expect("fits"),
        size: image.len() as u32,
        sha256: String::try_from(hex(&digest).as_str()).expect("fits"),
        signature: String::try_from(hex(&signature).as_str()).expect("fits"),
    };
    let mut sent = image;
    served(&mut sent);
    rig.server.state().firmware = Some((offer, sent));
}

fn reports(
    rig: &Rig,
) -> Vec<(
    std::string::String,
    FirmwareStatus,
    Option<std::string::String>,
)> {
    rig.server
        .state()
        .firmware_reports
        .iter()
        .map(|r| {
            (
                r.version.as_str().to_owned(),
                r.status,
                r.detail.as_ref().map(|d| d.as_str().to_owned()),
            )
        })
        .collect()
}

fn ranges(rig: &Rig) -> Vec<(u32, u32)> {
    rig.server
        .state()
        .ranges
        .iter()
        .map(|r| {
            let r = r.expect("every firmware GET carries a Range");
            (r.start, r.end)
        })
        .collect()
}

#[test]
fn an_offer_is_downloaded_in_ranges_verified_switched_and_confirmed_after_the_next_check_in() {
    let mut rig = Rig::with_ota(16 * 1024);
    publish(&rig, "2.0.0", 100_000, |_| {});

    let report = rig.wake_at(HOUR, Wake::Timer);
    assert_eq!(report.ota.fetched, 100_000);
    assert_eq!(report.ota.installed, Some(InstallOutcome::Switched));
    assert_eq!(report.ota.reported, Some(FirmwareStatus::Downloaded));
    assert!(report.ota.reboot());
    let expected: Vec<(u32, u32)> = (0..100_000)
        .step_by(16 * 1024)
        .map(|start| (start, (start + 16 * 1024 - 1).min(99_999)))
        .collect();
    assert_eq!(
        ranges(&rig),
        expected,
        "consecutive ranges of one buffer each"
    );
    let statuses = rig.server.statuses();
    let heartbeat = statuses
        .iter()
        .position(|(what, _)| what == "POST heartbeat")
        .expect("checked in");
    let first_get = statuses
        .iter()
        .position(|(what, _)| what.starts_with("GET firmware/2.0.0"))
        .expect("downloaded");
    assert!(heartbeat < first_get, "the offer comes with the check-in");
    assert_eq!(
        statuses.last().map(|(w, s)| (w.as_str(), *s)),
        Some(("POST firmware/report", Some(204)))
    );

    rig.reboot();
    assert_eq!(rig.identity.firmware_version.as_str(), "2.0.0");
    assert_eq!(rig.flash.states[1], SlotState::PendingVerify);
    let report = rig.wake_at(HOUR + TIMER_WAKE_MS, Wake::Mail);
    assert!(
        report.ota.confirmed,
        "confirmed after a successful check-in"
    );
    assert_eq!(report.ota.reported, Some(FirmwareStatus::Installed));
    assert_eq!(report.ota.fetched, 0, "2.0.0 runs: nothing is offered");
    assert_eq!(rig.flash.states[1], SlotState::Valid);
    assert_eq!(
        reports(&rig),
        [
            ("2.0.0".into(), FirmwareStatus::Downloaded, None),
            ("2.0.0".into(), FirmwareStatus::Installed, None),
        ]
    );
    let last_version = rig
        .server
        .state()
        .heartbeats
        .last()
        .map(|b| b.firmware_version.as_str().to_owned());
    assert_eq!(last_version.as_deref(), Some("2.0.0"));

    // Stays confirmed through later boots.
    rig.reboot();
    assert_eq!(rig.identity.firmware_version.as_str(), "2.0.0");
}

#[test]
fn an_interrupted_download_resumes_at_the_right_offset_at_the_next_timer_wake() {
    let mut rig = Rig::with_ota(64 * 1024);
    publish(&rig, "2.1.0", 400_000, |_| {});

    let report = rig.wake_at(HOUR, Wake::Timer);
    assert_eq!(report.ota.fetched, OTA_BYTES_PER_WAKE, "one wake's budget");
    assert_eq!(report.ota.installed, None);
    assert_eq!(
        ranges(&rig).last(),
        Some(&(OTA_BYTES_PER_WAKE - 64 * 1024, OTA_BYTES_PER_WAKE - 1))
    );
    rig.server.state().ranges.clear();

    // Deep sleep is a restart on the board: the progress comes from the flash record.
    rig.reboot();
    assert_eq!(rig.identity.firmware_version.as_str(), "1.0.0");
    // Half an hour later no check-in is due, but the download under way makes the wake connect.
    let report = rig.wake_at(HOUR + TIMER_WAKE_MS, Wake::Timer);
    assert!(report.choice.is_some(), "connected to resume");
    assert_eq!(
        ranges(&rig)[0],
        (OTA_BYTES_PER_WAKE, OTA_BYTES_PER_WAKE + 65_535)
    );
    assert_eq!(report.ota.fetched, 400_000 - OTA_BYTES_PER_WAKE);
    assert_eq!(report.ota.installed, Some(InstallOutcome::Switched));

    rig.reboot();
    let report = rig.wake_at(HOUR + 2 * TIMER_WAKE_MS, Wake::Mail);
    assert!(report.ota.confirmed);
    assert_eq!(rig.flash.running_version(), "2.1.0");

    // With nothing under way, timer wakes between check-ins stay offline again.
    let report = rig.wake_at(HOUR + 3 * TIMER_WAKE_MS, Wake::Timer);
    assert!(report.choice.is_none());
}

#[test]
fn a_corrupted_image_is_refused_reported_and_not_fetched_again() {
    let mut rig = Rig::with_ota(32 * 1024);
    publish(&rig, "2.0.1", 90_000, |bytes| bytes[50_000] ^= 0x01);

    let report = rig.wake_at(HOUR, Wake::Timer);
    assert_eq!(
        report.ota.installed,
        Some(InstallOutcome::Failed(FailureReason::Sha256Mismatch))
    );
    assert!(!report.ota.reboot());
    assert_eq!(report.ota.reported, Some(FirmwareStatus::Failed));
    assert_eq!(
        reports(&rig),
        [(
            "2.0.1".into(),
            FirmwareStatus::Failed,
            Some("sha256 mismatch".into())
        )]
    );
    assert_eq!(rig.flash.boot_next, 0, "the running slot still boots");

    // The server keeps offering it; the device does not download it again.
    rig.server.state().ranges.clear();
    rig.reboot();
    let report = rig.wake_at(HOUR + 7 * HOUR, Wake::Timer);
    assert!(report.service.is_some(), "checked in");
    assert_eq!(report.ota.fetched, 0);
    assert!(ranges(&rig).is_empty());
    assert_eq!(rig.identity.firmware_version.as_str(), "1.0.0");
}

#[test]
fn an_image_signed_with_another_key_is_refused() {
    let mut rig = Rig::with_ota(32 * 1024);
    publish(&rig, "6.6.6", 40_000, |_| {});
    // Same image and digest, signature by someone else's key.
    let forged = {
        let mut server = rig.server.state();
        let (offer, _) = server.firmware.as_mut().expect("published");
        let digest = offer.sha256_bytes().expect("hex");
        let signature = SigningKey::from_bytes(&[1; 32]).sign(&digest).to_bytes();
        offer.signature = String::try_from(hex(&signature).as_str()).expect("fits");
        offer.clone()
    };
    assert_eq!(forged.version.as_str(), "6.6.6");
    let report = rig.wake_at(HOUR, Wake::Timer);
    assert_eq!(
        report.ota.installed,
        Some(InstallOutcome::Failed(FailureReason::BadSignature))
    );
    assert_eq!(
        reports(&rig),
        [(
            "6.6.6".into(),
            FirmwareStatus::Failed,
            Some("bad signature".into())
        )]
    );
}

#[test]
fn an_image_that_cannot_check_in_is_rolled_back_and_the_rollback_reported() {
    let mut rig = Rig::with_ota(32 * 1024);
    publish(&rig, "3.0.0", 70_000, |_| {});
    let report = rig.wake_at(HOUR, Wake::Timer);
    assert!(report.ota.reboot());

    rig.reboot();
    assert_eq!(rig.identity.firmware_version.as_str(), "3.0.0");
    // The new image's check-in fails (the server answers 503 all wake): no confirmation.
    rig.server.state().fail_next = 100;
    let report = rig.wake_at(HOUR + TIMER_WAKE_MS, Wake::Mail);
    assert!(!report.ota.confirmed);
    assert_eq!(rig.flash.states[1], SlotState::PendingVerify);
    rig.server.state().fail_next = 0;

    // The next boot finds it still unconfirmed: the bootloader goes back to 1.0.0.
    rig.reboot();
    assert_eq!(rig.identity.firmware_version.as_str(), "1.0.0");
    assert_eq!(rig.flash.states[1], SlotState::Aborted);
    rig.server.state().ranges.clear();
    let report = rig.wake_at(HOUR + 2 * TIMER_WAKE_MS, Wake::Mail);
    assert_eq!(report.ota.reported, Some(FirmwareStatus::RolledBack));
    assert_eq!(
        report.ota.fetched, 0,
        "the rolled-back image is not tried again"
    );
    assert!(ranges(&rig).is_empty());
    assert_eq!(
        reports(&rig),
        [
            ("3.0.0".into(), FirmwareStatus::Downloaded, None),
            (
                "3.0.0".into(),
                FirmwareStatus::RolledBack,
                Some("new image did not confirm itself".into())
            ),
        ]
    );
}

#[test]
fn an_image_on_trial_whose_check_in_fails_tries_again_within_its_boot_and_stays() {
    let mut rig = Rig::with_ota(32 * 1024);
    publish(&rig, "3.0.0", 70_000, |_| {});
    let report = rig.wake_at(HOUR, Wake::Timer);
    assert!(report.ota.reboot());

    rig.reboot();
    // Every try of the first session's heartbeat is answered 503 (a server or cell away for a
    // moment): the image stays awake, checks in again a minute later and confirms itself.
    rig.server.state().fail_next = HTTP_ATTEMPTS;
    let report = rig.wake_at(HOUR + 60_000, Wake::Timer);
    assert!(report.ota.confirmed, "{report:?}");
    assert!(report.service.is_some());
    assert!(report.awake_ms >= TRIAL_RETRY.delay_ms(1), "{report:?}");
    assert_eq!(rig.flash.states[1], SlotState::Valid);
    assert_eq!(rig.server.state().fail_next, 0);

    rig.reboot();
    assert_eq!(rig.identity.firmware_version.as_str(), "3.0.0");
    assert_eq!(
        reports(&rig),
        [
            ("3.0.0".into(), FirmwareStatus::Downloaded, None),
            ("3.0.0".into(), FirmwareStatus::Installed, None),
        ]
    );
}

#[test]
fn a_low_battery_defers_the_download_until_it_recovers() {
    let mut rig = Rig::with_ota(32 * 1024);
    publish(&rig, "2.0.0", 50_000, |_| {});
    rig.battery.0 = OTA_MIN_BATTERY_PERCENT - 1;
    let report = rig.wake_at(HOUR, Wake::Timer);
    assert!(report.service.is_some(), "the check-in still happens");
    assert_eq!(report.ota.fetched, 0);
    assert!(ranges(&rig).is_empty());

    rig.battery.0 = OTA_MIN_BATTERY_PERCENT;
    let report = rig.wake_at(HOUR + 7 * HOUR, Wake::Timer);
    assert_eq!(report.ota.fetched, 50_000);
    assert_eq!(report.ota.installed, Some(InstallOutcome::Switched));
}

#[test]
fn the_modem_sends_the_range_after_the_signed_headers() {
    let digest = smartbox_protocol::body_sha256(b"");
    let headers = SignedHeaders::new(
        "SB-0001",
        &[9; 32],
        (Method::Get, "/api/device/v1/firmware/2.0.0", None),
        1_767_225_600,
        &digest,
    );
    let request = Request {
        method: Method::Get,
        path: "/api/device/v1/firmware/2.0.0",
        content_type: None,
        headers: &headers,
        body: &[],
        range: Some(ByteRange {
            start: 262_144,
            end: 327_679,
        }),
        last: false,
    };
    let userdata = request_userdata(&request);
    assert!(
        userdata.ends_with("\\r\\nRange: bytes=262144-327679"),
        "{userdata}"
    );
    assert!(userdata.starts_with("X-Device-Serial: SB-0001\\r\\n"));
}

#[test]
fn the_restart_into_a_new_image_checks_in_at_once_to_confirm_it() {
    let mut rig = Rig::with_ota(32 * 1024);
    publish(&rig, "2.0.0", 60_000, |_| {});
    let report = rig.wake_at(HOUR, Wake::Timer);
    assert!(report.ota.reboot());

    // The board restarts right away; its timer wake is minutes after the last check-in, so
    // only the image on trial makes it connect.
    rig.reboot();
    let report = rig.wake_at(HOUR + 60_000, Wake::Timer);
    assert!(
        report.choice.is_some(),
        "connected although no check-in is due"
    );
    assert!(report.ota.confirmed);
    assert_eq!(rig.flash.states[1], SlotState::Valid);

    // Confirmed: the next timer wake stays offline as usual.
    rig.reboot();
    let report = rig.wake_at(HOUR + 60_000 + TIMER_WAKE_MS, Wake::Timer);
    assert!(report.choice.is_none());
    assert_eq!(rig.identity.firmware_version.as_str(), "2.0.0");
}

#[test]
fn a_download_the_server_stops_serving_waits_for_the_next_check_in_instead_of_waking_the_modem() {
    let mut rig = Rig::with_ota(64 * 1024);
    publish(&rig, "2.2.0", 400_000, |_| {});
    let report = rig.wake_at(HOUR, Wake::Timer);
    assert_eq!(report.ota.fetched, OTA_BYTES_PER_WAKE);

    rig.server.state().firmware_unavailable = true;
    let report = rig.wake_at(HOUR + TIMER_WAKE_MS, Wake::Timer);
    assert!(report.choice.is_some(), "connected to resume");
    assert_eq!(report.ota.fetched, 0);
    assert!(rig.state.ota_stalled);
    // No more modem wakes just for the download.
    for n in 2..13 {
        let report = rig.wake_at(HOUR + n * TIMER_WAKE_MS, Wake::Timer);
        assert!(report.choice.is_none(), "timer wake {n} connected");
    }

    // The next check-in (6 h after the last, the resuming wake's) tries again and finishes.
    rig.server.state().firmware_unavailable = false;
    let report = rig.wake_at(HOUR + 13 * TIMER_WAKE_MS, Wake::Timer);
    assert_eq!(report.ota.fetched, 400_000 - OTA_BYTES_PER_WAKE);
    assert_eq!(report.ota.installed, Some(InstallOutcome::Switched));
    assert!(!rig.state.ota_stalled);
}
