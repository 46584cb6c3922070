//! Peers the channel tests talk to, started inside the test process.

pub mod fixtures;
pub mod http;
pub mod smtp;
