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
            wifi: Some(Some(rssi)),
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
