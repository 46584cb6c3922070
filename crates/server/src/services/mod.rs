//! Application services: every action a customer, a staff member, a job or the CLI can take on a
//! mailbox, a subscription or an account, written once.
//!
//! Pages (`web`), the JSON API (`customer_api`), the CLI and jobs are adapters: they parse their
//! input, name the [`Actor`], call one function here and render its result or its
//! [`ServiceError`]. A service checks that the actor may touch the thing (a customer must own
//! it; another customer's id is "not found"), runs the domain's state machines (through the
//! billing engine for anything that touches a subscription), writes its changes with one audit
//! entry in one transaction under the store's guards, and makes the device API forget its cached
//! view of the mailboxes, so a mailbox learns of the change on its next request.
//!
//! | action | function | adapters |
//! |---|---|---|
//! | check a serial and claim code | [`claims::verify_pair`] | page `POST /claim` |
//! | claim a mailbox (and start its trial) | [`claims::claim`] | page `POST /claim/plan`, JSON `POST /api/v1/claims` |
//! | activate a mailbox for a customer | [`claims::activate`] | CLI `smartbox devices activate` |
//! | rename, say where it is | [`devices::update`] | page `POST /devices/{id}`, JSON `PATCH /api/v1/devices/{id}` |
//! | return a mailbox at once (its subscription ends) | [`devices::return_device`] | JSON `POST /api/v1/devices/{id}/return`; staff's receipt of a return |
//! | cancel at period end | [`subscriptions::cancel`] | page `POST /billing/cancel`, JSON `POST /api/v1/subscriptions/{id}/cancel` |
//! | take a cancel back | [`subscriptions::resume`] | page `POST /billing/resume`, JSON `POST /api/v1/subscriptions/{id}/resume` |
//! | price a plan change | [`subscriptions::preview_plan_change`] | page `GET /billing/plan`, JSON `GET /api/v1/subscriptions/{id}/plan-change` |
//! | change the plan | [`subscriptions::change_plan`] | page `POST /billing/plan`, JSON `POST /api/v1/subscriptions/{id}/plan-change` |
//! | start a card setup | [`payment_methods::start_card_setup`] | page `GET /billing/payment-method`, JSON `POST /api/v1/payment-method/setup` |
//! | save a card | [`payment_methods::save`] | page `POST /billing/payment-method`, JSON `POST /api/v1/payment-method` |
//! | read the settings | [`settings::get`] | page `GET /settings`, JSON `GET /api/v1/settings` |
//! | time zone, quiet hours, digest, channels, spend caps | [`settings::update`] | page `POST /settings`, JSON `PATCH /api/v1/settings` |
//! | staff: ship, receive a return, decommission, refurbish | [`staff_devices`] | admin pages `POST /admin/devices/{id}/{action}`, CLI `smartbox devices decommission`, `smartbox devices refurbish` |
//! | staff: retry a failed job | [`staff_jobs::retry`] | admin page `POST /admin/jobs/{id}/retry`, CLI `smartbox jobs retry` |
//! | admin: refund a payment in full or part | [`staff_billing::refund`] | admin page `POST /admin/payments/{id}/refund` |
//! | check-in interval (with name and location) | [`devices::update`] | page `POST /devices/{id}`, JSON `PATCH /api/v1/devices/{id}` |
//! | start a return (reason, RMA, email), cancel it | [`returns::start`], [`returns::cancel`] | page `POST /devices/{id}/return`, `POST /devices/{id}/return/cancel`, JSON `POST /api/v1/devices/{id}/returns`, `POST /api/v1/devices/{id}/returns/cancel` |
//! | change the password, sign out other sessions | [`account::change_password`], [`account::sign_out_others`] | page `POST /account/password`, `POST /account/sessions/sign-out-others`, JSON `POST /api/v1/account/password`, `POST /api/v1/account/sessions/sign-out-others` |
//! | delete the account | [`account::delete_account`] | JSON `DELETE /api/v1/account`, CLI `customers delete` |
//! | staff: start, pause, resume, advance, abort a firmware rollout; pin a mailbox | [`rollouts`] | admin pages `POST /admin/firmware/...`, JSON `/api/admin/v1/rollouts`, CLI `smartbox firmware rollout` |
//! | correct what an event's photos were read as | [`mail::correct`] | page `POST /gallery/{id}/correction`, JSON `POST /api/v1/events/{id}/correction` |
//!
//! The billing jobs (`billing_pass`, `payment_retry`, `grace_expiry`, `collect_customer`) act on
//! subscriptions through the billing engine itself, as these services do; the engine writes their
//! changes and audit entries as `job:<kind>`.

pub mod account;
mod actor;
pub mod claims;
pub mod devices;
mod error;
pub mod mail;
pub mod payment_methods;
pub mod returns;
pub mod rollouts;
pub mod settings;
pub mod staff_billing;
pub mod staff_devices;
pub mod staff_jobs;
pub mod subscriptions;

pub use actor::{Actor, StaffRole};
pub use error::ServiceError;
