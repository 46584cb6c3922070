use smartbox_firmware::http::Transport;
use smartbox_firmware::link::Path;
use smartbox_firmware::policy::Wake;

use crate::world::{HOUR, World};

#[test]
fn mail_is_delivered_with_its_three_photos() {
    let world = World::new();
    let keys = world.provision(&["SB-E2E-0001"]);
    let mut mailbox = world.mailbox(&World::spec(&keys[0], 1));

    let report = mailbox.wake(HOUR, Wake::Mail);

    assert!(matches!(
        report.choice.as_ref().map(|c| c.path),
        Some(Path::Cellular { .. })
    ));
    assert_eq!((report.delivered, report.queue_len), (1, 0), "{report:?}");
    // Against the real server: the five requests over one connection of the socket service.
    assert_eq!(report.transport, Some(Transport::Socket));
    let stats = mailbox.modem_stats();
    assert_eq!(
        (stats.connections, stats.requests_sent, stats.http_actions),
        (1, 5, 0)
    );
    let event = report.event.expect("a mail event");
    assert_eq!(event.photo_count, 3);
    let events = world.events("SB-E2E-0001");
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].id, event.event_id.to_string());
    assert_eq!(events[0].kind, "mail_arrived");
    assert!(
        events[0].completed_at.is_some(),
        "complete once its photos are stored"
    );
    let photos = world.photos(&events[0].id);
    assert_eq!(photos.iter().map(|p| p.idx).collect::<Vec<_>>(), [0, 1, 2]);
    assert!(photos.iter().all(|p| p.size_bytes > 300), "{photos:?}");
    assert_eq!(
        world.tally(&[&mailbox]).to_string(),
        "delivered=1 duplicated=0 lost=0"
    );
}

#[test]
fn the_server_down_during_a_wake_keeps_the_event_on_sd_until_the_next_wake_delivers_it_once() {
    let mut world = World::new();
    let keys = world.provision(&["SB-E2E-0002"]);
    let mut mailbox = world.mailbox(&World::spec(&keys[0], 2));
    world
        .runtime
        .block_on(world.server.stop())
        .expect("stopped");

    let down = mailbox.wake(HOUR, Wake::Mail);
    assert_eq!(
        (down.delivered, down.queued, down.queue_len),
        (0, 1, 1),
        "{down:?}"
    );
    world
        .runtime
        .block_on(world.server.restart())
        .expect("restarted");
    assert_eq!(
        world.tally(&[&mailbox]).to_string(),
        "delivered=0 duplicated=0 lost=1"
    );

    let wakes = World::wake_until_flushed(&mut mailbox, 4);
    assert_eq!(wakes, 1, "the next timer wake flushes the SD queue");
    assert_eq!(
        world.tally(&[&mailbox]).to_string(),
        "delivered=1 duplicated=0 lost=0"
    );
    assert_eq!(world.events("SB-E2E-0002").len(), 1);
}
