use smartbox_domain::DeviceId;
use smartbox_firmware::link::Path;
use smartbox_firmware::policy::Wake;
use smartbox_sim::modem::Fault;

use crate::world::{HOUR, World};

#[test]
fn wifi_carries_the_mail_only_when_heard_above_minus_70_dbm() {
    let world = World::new();
    let keys = world.provision(&["SB-E2E-0006", "SB-E2E-0007", "SB-E2E-0008"]);
    let mut outcomes = Vec::new();
    let mut mailboxes = Vec::new();
    for (i, rssi) in [-65, -70, -75].into_iter().enumerate() {
        let spec = smartbox_sim::mailbox::MailboxSpec {
            wifi: Some(smartbox_sim::wifi::AccessPoint::known(Some(rssi))),
            ..World::spec(&keys[i], 10 + i as u64)
        };
        let mut mailbox = world.mailbox(&spec);
        // Cellular is refused, so the link manager looks at WiFi.
        mailbox.arm(Some(Fault::RegistrationDenied));
        let report = mailbox.wake(HOUR, Wake::Mail);
        outcomes.push((
            rssi,
            report.choice.map(|c| c.path),
            report.delivered,
            report.queue_len,
        ));
        mailboxes.push(mailbox);
    }
    assert_eq!(
        outcomes,
        [
            (-65, Some(Path::Wifi { rssi_dbm: -65 }), 1, 0),
            (-70, Some(Path::Offline), 0, 1),
            (-75, Some(Path::Offline), 0, 1),
        ]
    );
    let served: Vec<u64> = mailboxes
        .iter()
        .map(|m| world.tally(&[m]).delivered)
        .collect();
    assert_eq!(served, [1, 0, 0]);
    assert!(mailboxes[0].wifi_mut().is_some_and(|w| w.requests >= 5));
}

#[test]
fn weak_cellular_hands_the_mail_to_wifi_whose_credentials_came_from_the_portal() {
    use smartbox_protocol::WifiStatus;
    use smartbox_sim::wifi::AccessPoint;

    let world = World::new();
    let keys = world.provision(&["SB-E2E-0030"]);
    let mut spec = World::spec(&keys[0], 30);
    // At the cell edge: it registers on a good day, and finds no cell on a bad one.
    spec.modem.signal_dbm = -111;
    spec.wifi = Some(AccessPoint {
        ssid: "Garden Shed".to_owned(),
        passphrase: "tomatoes and \"beans\"".to_owned(),
        rssi_dbm: Some(-55),
        preset: false,
    });
    let mut mailbox = world.mailbox(&spec);
    let device = world.device("SB-E2E-0030");

    // The customer types the network into the portal's settings.
    let saved = world
        .runtime
        .block_on(smartbox_server::services::wifi::save(
            world.server.state(),
            &smartbox_server::services::Actor::Cli,
            &smartbox_domain::DeviceId::new(device.id.as_str()),
            "Garden Shed",
            "tomatoes and \"beans\"",
        ));
    assert_eq!(
        saved.map(|s| s.ssid).map_err(|e| e.to_string()),
        Ok("Garden Shed".to_owned())
    );

    // A check-in over the weak cellular link brings them, sealed for this mailbox.
    let report = mailbox.wake(HOUR, Wake::Timer);
    assert!(matches!(
        report.choice.map(|c| c.path),
        Some(Path::Cellular { .. })
    ));
    let version = match report.wifi_credentials {
        Some(smartbox_firmware::wake::CredentialsUpdate::Stored(version)) => version,
        other => panic!("credentials not stored: {other:?}"),
    };
    let stored = mailbox.wifi_mut().and_then(|w| w.stored().cloned());
    assert_eq!(
        stored.map(|(v, c)| (v, c.ssid().to_owned(), c.passphrase().to_owned())),
        Some((
            version,
            "Garden Shed".to_owned(),
            "tomatoes and \"beans\"".to_owned()
        ))
    );

    // Mail on a bad day: no cell at all; WiFi at -55 dBm carries the event and its photos.
    mailbox.arm(Some(Fault::NoCoverage));
    let report = mailbox.wake(3 * HOUR, Wake::Mail);
    assert_eq!(
        report.choice.as_ref().map(|c| c.path),
        Some(Path::Wifi { rssi_dbm: -55 })
    );
    assert_eq!((report.delivered, report.queue_len), (1, 0));
    assert_eq!(report.wifi_credentials, None, "nothing new to send");
    assert_eq!(world.tally(&[&mailbox]).delivered, 1);
    let events = world.events("SB-E2E-0030");
    assert_eq!(world.photos(&events[0].id).len(), 3);

    // The server heard that the mailbox holds this version and joined with it.
    let row = world
        .runtime
        .block_on(
            world
                .server
                .db()
                .device_wifi(&DeviceId::new(device.id.as_str())),
        )
        .expect("query")
        .expect("saved");
    assert_eq!(row.reported_version, i64::try_from(version).expect("fits"));
    assert_eq!(
        row.reported_status.as_deref(),
        Some(WifiStatus::Joined.as_str())
    );
    let latest = world.device("SB-E2E-0030");
    assert_eq!(latest.network.as_deref(), Some("wifi"));
}
