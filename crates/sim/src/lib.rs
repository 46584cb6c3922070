//! smartbox-sim: the std adapter of the firmware core. It runs the real firmware (`wake::run`,
//! the A7670 driver, the SD queue) against a real server on a simulated clock.
//!
//! - [`modem`]: an A7670 emulator that speaks the driver's AT dialect over an in-memory serial
//!   link ([`board`]), performs the HTTP requests for real ([`net`]), and models timing and faults
//!   with a seeded RNG, so a run is reproducible.
//! - [`mailbox`]: one simulated mailbox: firmware core + emulator + RAM SD card + a camera that
//!   makes real JPEGs ([`camera`]) of the box and its mail ([`scene`], each event's truth
//!   recorded) + WiFi ([`wifi`]), metered rail by rail ([`power`]).
//! - [`fleet`]: N mailboxes on one simulated timeline that jumps from wake to wake; the outcome is
//!   counted from the server's database ([`ledger`]), not from what the devices believe.
//! - [`energy`]: datasheet currents, our firmware measured in simulation against a naive flow.
//! - [`ota`]: the board's two OTA slots and the bootloader's rollback, for firmware updates.
//! - [`mail_bench`]: rendered mailboxes read by the server's mail rules (calibration, bench).
//! - [`harness`]: the real server in this process, on a clock the simulation moves.
//! - [`run`]: what `smartbox sim` and `smartbox demo` call.

pub mod board;
pub mod camera;
pub mod energy;
pub mod fleet;
pub mod harness;
pub mod ledger;
pub mod mail_bench;
pub mod mailbox;
pub mod modem;
pub mod net;
pub mod ota;
pub mod power;
pub mod provision;
pub mod run;
pub mod scene;
pub mod wifi;
