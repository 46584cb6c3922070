use smartbox_domain::{
    DeviceId, LifecycleState as Life, SubscriptionId, SubscriptionStatus as Sub,
};
use smartbox_firmware::policy::Wake;
use smartbox_protocol::ServiceState;
use smartbox_server::Clock;

use crate::world::{HOUR, World};

#[test]
fn a_suspended_mailbox_keeps_its_mail_on_sd_and_delivers_it_after_payment() {
    let world = World::new();
    let keys = world.provision(&["SB-E2E-0005"]);
    let mut mailbox = world.mailbox(&World::spec(&keys[0], 5));
    let device = world.device("SB-E2E-0005");
    let db = world.server.db();
    let subscription = world
        .runtime
        .block_on(db.live_subscription_of_device(&DeviceId::new(device.id.as_str())))
        .expect("query")
        .expect("a subscription");
    let now = world.server.clock().now_ms();
    world.runtime.block_on(async {
        assert!(
            db.set_subscription_status(
                &SubscriptionId::new(subscription.id.as_str()),
                Sub::Trialing,
                Sub::Suspended,
                now
            )
            .await
            .expect("update")
        );
        assert!(
            db.set_device_lifecycle(
                &DeviceId::new(&device.id),
                Life::ActiveSubscription,
                Life::Suspended
            )
            .await
            .expect("update")
        );
    });

    let refused = mailbox.wake(HOUR, Wake::Mail);
    assert_eq!(
        (refused.delivered, refused.queue_len),
        (0, 1),
        "{refused:?}"
    );
    assert_eq!(refused.service, Some(ServiceState::Suspended));
    assert_eq!(
        world.tally(&[&mailbox]).to_string(),
        "delivered=0 duplicated=0 lost=1"
    );

    // The customer pays: the subscription and the device are active again.
    let now = world.server.clock().now_ms();
    world.runtime.block_on(async {
        assert!(
            db.set_subscription_status(
                &SubscriptionId::new(subscription.id.as_str()),
                Sub::Suspended,
                Sub::Active,
                now
            )
            .await
            .expect("update")
        );
        assert!(
            db.set_device_lifecycle(
                &DeviceId::new(&device.id),
                Life::Suspended,
                Life::ActiveSubscription
            )
            .await
            .expect("update")
        );
    });
    // Held off until the next check-in (6 h), then flushed.
    let wakes = World::wake_until_flushed(&mut mailbox, 16);
    assert!(wakes > 1, "the 402 holds uploads until the next check-in");
    assert_eq!(
        world.tally(&[&mailbox]).to_string(),
        "delivered=1 duplicated=0 lost=0"
    );
}
