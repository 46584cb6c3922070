//! Loopback peers for tests (feature `testing`): an SMTP server that hands every accepted message
//! to the test, and an HTTP receiver that records requests (web push endpoints, webhook
//! receivers). This crate's channel tests and the server's stories use the same ones.

pub mod http;
pub mod push;
pub mod smtp;
