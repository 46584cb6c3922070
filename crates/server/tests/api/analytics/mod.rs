//! Business analytics (issue 19): a year of business checked month by month against figures
//! worked out by hand, and the console's page, CSV, JSON and spend form — on SQLite, and on
//! PostgreSQL when `SMARTBOX_TEST_POSTGRES_URL` is set.

mod browser;
mod business;
mod console;
