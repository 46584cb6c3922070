use smartbox_firmware::policy::Wake;
use smartbox_sim::modem::Fault;

use crate::world::{HOUR, World};

#[test]
fn a_modem_reset_between_photos_still_delivers_the_event_once() {
    let world = World::new();
    let keys = world.provision(&["SB-E2E-0003"]);
    let mut mailbox = world.mailbox(&World::spec(&keys[0], 3));
    // Uploads: the event's JSON, photo 0, then photo 1, cut halfway by a brown-out.
    mailbox.arm(Some(Fault::ResetMidUpload { upload: 3 }));

    let report = mailbox.wake(HOUR, Wake::Mail);
    assert_eq!(mailbox.modem_stats().resets, 1);
    let event = report.event.expect("a mail event");
    let stored = world.photos(&event.event_id.to_string());
    assert!(!stored.is_empty(), "photo 0 was stored before the reset");

    World::wake_until_flushed(&mut mailbox, 6);
    assert_eq!(
        world.tally(&[&mailbox]).to_string(),
        "delivered=1 duplicated=0 lost=0"
    );
    assert_eq!(world.photos(&event.event_id.to_string()).len(), 3);
    assert_eq!(world.events("SB-E2E-0003").len(), 1);
}

#[test]
fn a_request_whose_answer_is_lost_is_sent_again_without_a_duplicate() {
    let world = World::new();
    let keys = world.provision(&["SB-E2E-0004"]);
    let mut mailbox = world.mailbox(&World::spec(&keys[0], 4));
    // The event reaches the server but its answer never comes back.
    mailbox.arm(Some(Fault::HttpTimeout { request: 1 }));

    mailbox.wake(HOUR, Wake::Mail);
    World::wake_until_flushed(&mut mailbox, 6);

    assert_eq!(
        world.tally(&[&mailbox]).to_string(),
        "delivered=1 duplicated=0 lost=0"
    );
    assert_eq!(world.events("SB-E2E-0004").len(), 1);
}
