use std::sync::atomic::AtomicBool;

use smartbox_sim::fleet::{Fleet, FleetConfig};
use smartbox_sim::provision::fresh_serials;

use crate::world::World;

#[test]
fn two_hundred_mailboxes_with_five_percent_faults_lose_and_duplicate_nothing() {
    let world = World::new();
    let serials = fresh_serials(42, 200);
    let names: Vec<&str> = serials.iter().map(String::as_str).collect();
    let keys = world.provision(&names);
    let mut config = FleetConfig::new(keys, &world.server.url(), world.epoch_ms);
    config.mail_per_device = Some(2);
    config.mail_interval_ms = 6 * 3_600_000;
    config.faults = 0.05;
    config.seed = 2026;
    config.horizon_ms = 5 * 86_400_000;
    let mut fleet = Fleet::new(config, world.network()).expect("fleet");

    let outcome = fleet.run(&AtomicBool::new(false), &mut |_| {});

    assert!(outcome.finished, "{outcome:?}");
    assert!(
        outcome.faulty_wakes > 20,
        "faults were injected: {}",
        outcome.faulty_wakes
    );
    let made: usize = outcome.made.iter().map(|m| m.events.len()).sum();
    assert_eq!(made, 400);
    let tally = world
        .runtime
        .block_on(smartbox_sim::ledger::tally(
            world.server.db(),
            &outcome.made,
            world.epoch_ms,
        ))
        .expect("tally");
    assert_eq!(tally.to_string(), "delivered=400 duplicated=0 lost=0");
}
