use smartbox_domain::DeviceId;
use smartbox_firmware::ota::InstallOutcome;
use smartbox_firmware::policy::{TIMER_WAKE_MS, Wake};
use smartbox_firmware::wake::OTA_BYTES_PER_WAKE;
use smartbox_protocol::FirmwareStatus;
use smartbox_server::firmware_release;
use smartbox_sim::ota::SlotState;

use crate::world::{HOUR, MIN, World};

/// A release of `len` bytes, as `smartbox firmware publish` stores it.
fn release(len: usize) -> Vec<u8> {
    let mut x: u32 = 0x9e37_79b9;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            x as u8
        })
        .collect()
}

#[test]
fn a_published_release_is_downloaded_over_the_a7670_in_ranges_switched_confirmed_and_reported() {
    let world = World::new();
    let keys = world.provision(&["SB-E2E-OTA1"]);
    let key = firmware_release::generate_key();
    // Larger than one wake's budget: the download spans two wakes.
    let image = release(300_000);
    world
        .runtime
        .block_on(firmware_release::publish(
            world.server.db(),
            &world.server.state().blobs,
            image.clone(),
            "2.0.0-sim",
            &key,
            world.epoch_ms,
        ))
        .expect("published");
    world.server.state().device_api.firmware.forget();

    let mut mailbox = world.mailbox(&World::spec(&keys[0], 11));
    mailbox.enable_ota(key.verifying_key().to_bytes(), 1024 * 1024);
    assert_eq!(mailbox.firmware_version(), "1.0.0-sim");

    // The first check-in is offered 2.0.0-sim and fetches one wake's worth of it.
    let first = mailbox.wake(HOUR, Wake::Timer);
    assert!(first.service.is_some(), "checked in: {first:?}");
    assert_eq!(first.ota.fetched, OTA_BYTES_PER_WAKE, "{first:?}");
    assert_eq!(first.ota.installed, None);
    // One wake's budget costs about half as much again as the check-in it rides on (~0.58 mAh
    // and ~22 s at -85 dBm, against ~0.37 mAh and ~18 s).
    assert!(
        mailbox.last_wake_mah() < 1.0,
        "{} mAh",
        mailbox.last_wake_mah()
    );
    assert!(first.awake_ms < 40_000, "{first:?}");

    // The next timer wake resumes where the first stopped, verifies and switches.
    let second = mailbox.wake(HOUR + TIMER_WAKE_MS, Wake::Timer);
    assert_eq!(
        second.ota.fetched,
        300_000 - OTA_BYTES_PER_WAKE,
        "{second:?}"
    );
    assert_eq!(second.ota.installed, Some(InstallOutcome::Switched));
    assert_eq!(second.ota.reported, Some(FirmwareStatus::Downloaded));
    let flash = mailbox.ota_flash().expect("ota enabled");
    assert_eq!(flash.update_image(image.len()), image.as_slice());
    assert_eq!(flash.states[1], SlotState::New);

    // The restart boots it on trial; its first wake checks in and confirms it.
    let third = mailbox.wake(HOUR + TIMER_WAKE_MS + MIN, Wake::Timer);
    assert_eq!(mailbox.firmware_version(), "2.0.0-sim");
    assert!(third.ota.confirmed, "{third:?}");
    assert_eq!(third.ota.reported, Some(FirmwareStatus::Installed));
    assert_eq!(third.ota.fetched, 0, "nothing newer is offered");
    let flash = mailbox.ota_flash().expect("ota enabled");
    assert_eq!((flash.running, flash.states[1]), (1, SlotState::Valid));

    // Later wakes keep running it (the bootloader does not roll it back).
    mailbox.wake(HOUR + 2 * TIMER_WAKE_MS, Wake::Mail);
    assert_eq!(mailbox.firmware_version(), "2.0.0-sim");

    // What the server recorded.
    let device = world.device("SB-E2E-OTA1");
    assert_eq!(device.firmware_version.as_deref(), Some("2.0.0-sim"));
    let reports = world
        .runtime
        .block_on(
            world
                .server
                .db()
                .firmware_reports_of_device(&DeviceId::new(&device.id)),
        )
        .expect("query");
    let reports: Vec<(&str, &str)> = reports
        .iter()
        .map(|r| (r.version.as_str(), r.status.as_str()))
        .collect();
    assert_eq!(
        reports,
        [("2.0.0-sim", "downloaded"), ("2.0.0-sim", "installed")]
    );
    // The firmware GETs went through the emulated modem's socket service, in ranges.
    let stats = mailbox.modem_stats();
    assert!(
        stats.requests_sent >= 2 + 300_000 / (64 * 1024),
        "{stats:?}"
    );
    assert_eq!(stats.http_actions, 0, "{stats:?}");
}

fn reports_of(world: &World, serial: &str) -> Vec<(String, String, Option<String>)> {
    let device = world.device(serial);
    world
        .runtime
        .block_on(
            world
                .server
                .db()
                .firmware_reports_of_device(&DeviceId::new(&device.id)),
        )
        .expect("query")
        .into_iter()
        .map(|r| (r.version, r.status, r.detail))
        .collect()
}

#[test]
fn an_image_signed_with_another_key_is_refused_reported_failed_and_not_fetched_again() {
    let world = World::new();
    let keys = world.provision(&["SB-E2E-OTA2"]);
    let vendor = firmware_release::generate_key();
    let intruder = firmware_release::generate_key();
    world
        .runtime
        .block_on(firmware_release::publish(
            world.server.db(),
            &world.server.state().blobs,
            release(40_000),
            "6.6.6",
            &intruder,
            world.epoch_ms,
        ))
        .expect("published");
    world.server.state().device_api.firmware.forget();
    let mut mailbox = world.mailbox(&World::spec(&keys[0], 12));
    mailbox.enable_ota(vendor.verifying_key().to_bytes(), 1024 * 1024);

    let report = mailbox.wake(HOUR, Wake::Timer);
    assert_eq!(report.ota.fetched, 40_000, "{report:?}");
    assert!(matches!(
        report.ota.installed,
        Some(InstallOutcome::Failed(_))
    ));
    assert_eq!(report.ota.reported, Some(FirmwareStatus::Failed));
    assert_eq!(
        reports_of(&world, "SB-E2E-OTA2"),
        [(
            "6.6.6".to_owned(),
            "failed".to_owned(),
            Some("bad signature".to_owned())
        )]
    );

    // Still offered at the next check-in, never fetched again; the old image keeps running.
    let requests = mailbox.modem_stats().requests_sent;
    let report = mailbox.wake(HOUR + 7 * HOUR, Wake::Timer);
    assert!(report.service.is_some());
    assert_eq!(report.ota.fetched, 0);
    assert_eq!(
        mailbox.modem_stats().requests_sent,
        requests + 1,
        "the heartbeat only"
    );
    assert_eq!(mailbox.firmware_version(), "1.0.0-sim");
}

#[test]
fn an_image_that_cannot_check_in_is_rolled_back_by_the_bootloader_and_the_rollback_reported() {
    let mut world = World::new();
    let keys = world.provision(&["SB-E2E-OTA3"]);
    let key = firmware_release::generate_key();
    world
        .runtime
        .block_on(firmware_release::publish(
            world.server.db(),
            &world.server.state().blobs,
            release(50_000),
            "3.0.0",
            &key,
            world.epoch_ms,
        ))
        .expect("published");
    world.server.state().device_api.firmware.forget();
    let mut mailbox = world.mailbox(&World::spec(&keys[0], 13));
    mailbox.enable_ota(key.verifying_key().to_bytes(), 1024 * 1024);

    let report = mailbox.wake(HOUR, Wake::Timer);
    assert!(report.ota.reboot(), "{report:?}");

    // The new image's first wake cannot reach the server: it stays unconfirmed.
    world
        .runtime
        .block_on(world.server.stop())
        .expect("stopped");
    let report = mailbox.wake(HOUR + MIN, Wake::Timer);
    assert_eq!(mailbox.firmware_version(), "3.0.0");
    assert!(
        report.choice.is_some(),
        "the image on trial tries to check in"
    );
    assert!(!report.ota.confirmed);
    world
        .runtime
        .block_on(world.server.restart())
        .expect("restarted");

    // The next boot goes back to the old image, which reports the rollback at its check-in.
    let report = mailbox.wake(HOUR + 2 * MIN + TIMER_WAKE_MS, Wake::Mail);
    assert_eq!(mailbox.firmware_version(), "1.0.0-sim");
    assert_eq!(
        report.ota.reported,
        Some(FirmwareStatus::RolledBack),
        "{report:?}"
    );
    assert_eq!(
        report.ota.fetched, 0,
        "the rolled-back image is not fetched again"
    );
    let flash = mailbox.ota_flash().expect("ota enabled");
    assert_eq!((flash.running, flash.states[1]), (0, SlotState::Aborted));
    assert_eq!(
        reports_of(&world, "SB-E2E-OTA3"),
        [
            ("3.0.0".to_owned(), "downloaded".to_owned(), None),
            (
                "3.0.0".to_owned(),
                "rolled_back".to_owned(),
                Some("new image did not confirm itself".to_owned())
            ),
        ]
    );
    assert_eq!(
        world.device("SB-E2E-OTA3").firmware_version.as_deref(),
        Some("1.0.0-sim")
    );
}
