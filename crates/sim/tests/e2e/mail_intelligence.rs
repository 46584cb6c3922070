//! Simulated mail through the real server (issue 22): the mailbox's camera renders its box at VGA
//! (JPEG q80) as things happen in it, the firmware uploads the photos, and the server's jobs read
//! each event — kind and category — as the scene's truth says, before anyone is told: the false
//! triggers are neither notified nor counted.

use std::time::{Duration, Instant};

use smartbox_domain::{DeviceId, MailCategory, MailKind};
use smartbox_firmware::policy::Wake;
use smartbox_server::Clock;
use smartbox_sim::camera::CameraSpec;
use smartbox_store::GalleryFilter;

use crate::world::{HOUR, World};

/// What happens in the box before a wake.
#[derive(Debug, Clone, Copy)]
enum Step {
    /// A spider: nothing changes.
    Nothing,
    /// The sun through the slot: the light changes.
    Sun,
    Deliver(MailCategory),
    Collect,
}

#[test]
fn the_server_reads_what_happened_in_a_simulated_mailbox_and_tells_only_of_real_mail() {
    let world = World::new();
    let keys = world.provision(&["SB-E2E-MAIL"]);
    let mut spec = World::spec(&keys[0], 22);
    spec.camera = CameraSpec::VGA;
    let mut mailbox = world.mailbox(&spec);

    let story = [
        Step::Nothing,
        Step::Deliver(MailCategory::Package),
        Step::Deliver(MailCategory::Letter),
        Step::Sun,
        Step::Deliver(MailCategory::Magazine),
        Step::Collect,
        Step::Deliver(MailCategory::LargeEnvelope),
        Step::Deliver(MailCategory::Flyer),
    ];
    for (i, step) in story.iter().enumerate() {
        let scenes = mailbox.scenes_mut();
        match *step {
            Step::Nothing => scenes.false_trigger(false),
            Step::Sun => scenes.false_trigger(true),
            Step::Deliver(category) => scenes.deliver(category),
            Step::Collect => scenes.collect(),
        };
        let report = mailbox.wake(HOUR * (i as u64 + 1), Wake::Mail);
        assert_eq!(report.delivered, 1, "{report:?}");
    }
    let truths = mailbox.truths().to_vec();
    assert_eq!(truths.len(), story.len());

    // The jobs run on the server's workers: wait for every reading.
    let deadline = Instant::now() + Duration::from_secs(60);
    let events = loop {
        let mut events = world.events("SB-E2E-MAIL");
        events.reverse();
        if events.len() == story.len() && events.iter().all(|e| e.mail_kind.is_some()) {
            break events;
        }
        assert!(Instant::now() < deadline, "not read in time: {events:?}");
        // A reading waiting for an earlier one retries on the server's clock.
        let clock = world.server.clock();
        clock.set_ms(clock.now_ms() + 10_000);
        std::thread::sleep(Duration::from_millis(100));
    };
    let made: Vec<String> = mailbox
        .generated()
        .iter()
        .map(|e| e.event_id.to_string())
        .collect();
    for ((event, truth), id) in events.iter().zip(&truths).zip(&made) {
        assert_eq!(&event.id, id);
        assert_eq!(
            (event.mail_kind.as_deref(), event.category.as_deref()),
            (
                Some(truth.kind.as_str()),
                truth.category.map(MailCategory::as_str)
            ),
            "event {id}"
        );
    }

    // Told of the deliveries and the collection only, and counted so.
    let db = world.server.db();
    let told: Vec<bool> = events
        .iter()
        .map(|e| {
            let deliveries = world
                .runtime
                .block_on(db.deliveries_of_event(&e.id))
                .expect("query");
            !deliveries.is_empty()
        })
        .collect();
    let expected: Vec<bool> = truths
        .iter()
        .map(|t| t.kind != MailKind::FalseTrigger)
        .collect();
    let wait_until = Instant::now() + Duration::from_secs(30);
    let mut told = told;
    while told != expected && Instant::now() < wait_until {
        std::thread::sleep(Duration::from_millis(100));
        told = events
            .iter()
            .map(|e| {
                !world
                    .runtime
                    .block_on(db.deliveries_of_event(&e.id))
                    .expect("query")
                    .is_empty()
            })
            .collect();
    }
    assert_eq!(told, expected);
    let device = world.device("SB-E2E-MAIL");
    let subscription = world
        .runtime
        .block_on(db.live_subscription_of_device(&DeviceId::new(device.id.as_str())))
        .expect("query")
        .expect("a subscription");
    let counted: i64 = world
        .runtime
        .block_on(db.usage_history(&subscription.id))
        .expect("query")
        .iter()
        .map(|u| u.notifications)
        .sum();
    assert_eq!(counted, expected.iter().filter(|t| **t).count() as i64);

    // What the gallery and the API list, by kind.
    let owner = device.owner_id.expect("an owner");
    let filter = GalleryFilter {
        kind: Some(MailKind::FalseTrigger.as_str()),
        ..GalleryFilter::default()
    };
    let rows = world
        .runtime
        .block_on(db.gallery_page(&owner, &filter, 50))
        .expect("query");
    assert_eq!(rows.len(), 2);
}
