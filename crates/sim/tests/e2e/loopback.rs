//! Issue 13: under modem faults the emulator once requested corrupted hosts (`12.0.0.1`,
//! `17.0.0.1`) for real. Every connection now goes through the network's gate, which records
//! each attempt: this fleet, with a fault in every wake, must open sockets to the server only.

use std::sync::atomic::AtomicBool;

use smartbox_sim::fleet::{Fleet, FleetConfig};
use smartbox_sim::provision::fresh_serials;

use crate::world::World;

#[test]
fn fleets_with_a_fault_in_every_wake_connect_to_the_server_and_nowhere_else() {
    let world = World::new();
    let mut refused = Vec::new();
    let mut opened = 0;
    // Lost bytes land in a host or a port now and then: fleets run until some did.
    for seed in 1..=8 {
        let serials = fresh_serials(13 + seed, 100);
        let names: Vec<&str> = serials.iter().map(String::as_str).collect();
        let keys = world.provision(&names);
        let mut config = FleetConfig::new(keys, &world.server.url(), world.epoch_ms);
        config.mail_per_device = Some(2);
        config.mail_interval_ms = 6 * 3_600_000;
        config.faults = 1.0;
        config.seed = seed;
        config.horizon_ms = 3 * 86_400_000;
        let network = world.http_network();
        let mut fleet = Fleet::new(config, network.clone()).expect("fleet");
        fleet.run(&AtomicBool::new(false), &mut |_| {});

        let server = network.gate().server();
        for attempt in network.gate().attempts() {
            match attempt.opened {
                Some(address) => {
                    assert_eq!(address, server, "a socket opened elsewhere: {attempt:?}");
                    opened += 1;
                }
                None => refused.push(attempt),
            }
        }
        if !refused.is_empty() {
            break;
        }
    }
    eprintln!("{opened} connections to the server; refused: {refused:?}");
    assert!(opened > 1_000, "the fleets talked: {opened}");
    assert!(
        !refused.is_empty(),
        "lost UART bytes mangled some hosts or ports, and the gate refused them"
    );
}
