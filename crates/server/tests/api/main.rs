//! The server's integration tests, one binary: each test spawns the service on every configured
//! backend (SQLite, and PostgreSQL when `SMARTBOX_TEST_POSTGRES_URL` is set) and drives it over
//! HTTP like a client would.

mod admin;
mod analytics;
mod billing;
mod device_api;
mod hardening;
mod helpers;
mod jobs;
mod notifications;
mod observability;
mod portal;
mod support;
