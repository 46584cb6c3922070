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
        .block_on(world.server.db().firmware_reports_of_device(&device.id))
        .expect("query");
    let reports: Vec<(&str, &str)> = reports
        .iter()
        .map(|r| (r.version.as_str(), r.status.as_str()))
        .collect();
    assert_eq!(
        reports,
        [("2.0.0-sim", "downloaded"), ("2.0.0-sim", "installed")]
    );
    // The firmware GETs went through the emulated modem's HTTP stack, in ranges.
    let stats = mailbox.modem_stats();
    assert!(stats.http_actions >= 2 + 300_000 / (64 * 1024), "{stats:?}");
}
