use smartbox_firmware::policy::Wake;
use smartbox_server::Clock;
use smartbox_store::EventInsert;

use crate::world::{HOUR, World};

#[test]
fn the_tally_counts_an_event_the_device_never_made_as_duplicated_and_a_missing_one_as_lost() {
    let mut world = World::new();
    let keys = world.provision(&["SB-E2E-0009"]);
    let mut mailbox = world.mailbox(&World::spec(&keys[0], 9));
    mailbox.wake(HOUR, Wake::Mail);
    assert_eq!(
        world.tally(&[&mailbox]).to_string(),
        "delivered=1 duplicated=0 lost=0"
    );

    // A second record of the same mail under another id, as a firmware that minted a new id on
    // retry would leave behind.
    let device = world.device("SB-E2E-0009");
    let now = world.server.clock().now_ms();
    let stray = uuid::Uuid::new_v4().to_string();
    world
        .runtime
        .block_on(world.server.db().insert_event(
            &EventInsert {
                id: &stray,
                device_id: &device.id,
                subscription_id: None,
                kind: "mail_arrived",
                occurred_at: now / 1_000,
                photo_count: 0,
                created_at: now,
            },
            &uuid::Uuid::new_v4().to_string(),
        ))
        .expect("inserted");
    assert_eq!(
        world.tally(&[&mailbox]).to_string(),
        "delivered=1 duplicated=1 lost=0"
    );

    // A mail made while the server is down is lost until a wake delivers it.
    world
        .runtime
        .block_on(world.server.stop())
        .expect("stopped");
    mailbox.wake(2 * HOUR, Wake::Mail);
    world
        .runtime
        .block_on(world.server.restart())
        .expect("restarted");
    assert_eq!(
        world.tally(&[&mailbox]).to_string(),
        "delivered=1 duplicated=1 lost=1"
    );
}
