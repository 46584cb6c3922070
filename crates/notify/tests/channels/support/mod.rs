//! Peers the channel tests talk to, started inside the test process (the SMTP server and the
//! HTTP receiver live in the crate's `testing` feature, so the server's tests use them too).

pub mod fixtures;
pub use smartbox_notify::testing::{http, smtp};
