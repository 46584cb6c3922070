//! The customer portal's stories: accounts and sessions, onboarding by claim, the pages, the
//! customer JSON API and the authorization matrix — on SQLite, and on PostgreSQL when
//! `SMARTBOX_TEST_POSTGRES_URL` is set. The browser story (headless Chromium) runs when
//! `SMARTBOX_TEST_CHROMEDRIVER` names a chromedriver.

mod account_deletion;
mod accounts;
mod api_parity;
mod authorization;
pub mod browser;
mod browser_second_pass;
mod card_on_file;
mod device_cache;
mod email_change;
mod encryption;
mod event_deletion;
pub mod every_state;
mod export;
pub mod helpers;
mod mail_intelligence;
mod onboarding;
mod pages;
mod plain_words;
mod pwa;
mod retention;
mod second_pass;
pub mod stripe;
mod thumbnails;
mod time_zones;
