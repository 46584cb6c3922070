//! End-to-end stories: simulated mailboxes (the real firmware core on the emulated A7670, RAM SD
//! card and camera) against the real server spawned in this process on a temporary SQLite
//! database and blob folder. Outcomes are counted from the server's database.

mod world;

mod delivery;
mod energy_costs;
mod faults;
mod fleet;
mod ledger;
mod loopback;
mod mail_intelligence;
mod ota;
mod rollout;
mod soak;
mod subscription;
mod tls;
mod wifi;
