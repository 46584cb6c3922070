//! smartbox-firmware: the mailbox's firmware core, `no_std` and sans hardware.
//!
//! Everything here reaches hardware only through traits (`embedded-io-async` for the modem's UART,
//! `embedded-hal` pins, and the small traits each module defines) and time only through
//! [`clock::Clock`], so the same code runs on the ESP32-C6 board, in the simulator and in host
//! tests on a simulated clock.
#![cfg_attr(not(test), no_std)]
// The traits are used from one single-threaded executor per device; no `Send` bounds are needed.
#![allow(async_fn_in_trait)]

pub mod a7670;
pub mod battery;
pub mod clock;
pub mod http;
pub mod http1;
pub mod ir;
pub mod link;
pub mod ota;
pub mod policy;
pub mod ports;
pub mod sd_queue;
pub mod wake;
