//! The billing engine against a real database (SQLite always, PostgreSQL when
//! `SMARTBOX_TEST_POSTGRES_URL` is set) with a moved clock, and against localstripe when
//! `SMARTBOX_TEST_STRIPE_URL` is set.

mod anchors;
mod crash;
mod idempotence;
mod localstripe;
mod overage;
mod plan_changes;
mod returns;
mod story;
mod support;
mod webhooks;
