//! The smart mailbox cloud service: the device API, the customer and admin web, billing, durable
//! jobs and notifications, over the store (SQLite or PostgreSQL) and a blob store.

pub mod account_export;
pub mod accounts;
pub mod admin;
pub mod admin_api;
pub mod analytics;
pub mod app;
pub mod blobs;
pub mod clock;
pub mod cluster;
pub mod config;
pub mod connections;
pub mod customer_api;
pub mod demo;
pub mod device_api;
pub mod device_caches;
pub mod device_wifi;
pub mod error;
pub mod firmware_release;
pub mod jobs;
pub mod json_errors;
pub mod mail_intelligence;
pub mod master_key_rotation;
pub mod notifications;
pub mod openapi;
pub mod passwords;
pub mod provisioning;
pub mod secrets;
pub mod server;
pub mod services;
pub mod state;
pub mod telemetry;
pub mod thumbnails;
pub mod time_zone;
pub mod tls;
pub mod vault;
pub mod web;
pub mod webhooks;

pub use app::app;
pub use clock::{Clock, ManualClock, SystemClock};
pub use config::Config;
pub use server::Server;
pub use state::AppState;
