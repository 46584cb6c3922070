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
//! | cancel at period end | [`subscriptions::cancel`] | page `POST /billing/cancel`, JSON `POST /api/v1/subscriptions/{id}/cancel` |
//! | take a cancel back | [`subscriptions::resume`] | page `POST /billing/resume`, JSON `POST /api/v1/subscriptions/{id}/resume` |
//! | price a plan change | [`subscriptions::preview_plan_change`] | page `GET /billing/plan`, JSON `GET /api/v1/subscriptions/{id}/plan-change` |
//! | change the plan | [`subscriptions::change_plan`] | page `POST /billing/plan`, JSON `POST /api/v1/subscriptions/{id}/plan-change` |
//! | start a card setup | [`payment_methods::start_card_setup`] | page `GET /billing/payment-method`, JSON `POST /api/v1/payment-method/setup` |
//! | save a card | [`payment_methods::save`] | page `POST /billing/payment-method`, JSON `POST /api/v1/payment-method` |
//! | show, remove the card | [`payment_methods::card`], [`payment_methods::remove`] | page `GET /billing`, `POST /billing/payment-method/remove`, JSON `GET`/`DELETE /api/v1/payment-method` |
//! | read the settings | [`settings::get`] | page `GET /settings`, JSON `GET /api/v1/settings` |
//! | time zone, quiet hours, digest, channels, spend caps | [`settings::update`] | page `POST /settings`, JSON `PATCH /api/v1/settings` |
//! | staff: ship, receive a return, decommission, refurbish | [`staff_devices`] | admin pages `POST /admin/devices/{id}/{action}`, CLI `smartbox devices decommission`, `smartbox devices refurbish` |
//! | staff: retry a failed job | [`staff_jobs::retry`] | admin page `POST /admin/jobs/{id}/retry`, CLI `smartbox jobs retry` |
//! | admin: refund a payment in full or part | [`staff_billing::refund`] | admin page `POST /admin/payments/{id}/refund`, JSON `POST /api/admin/v1/payments/{id}/refund` |
//! | staff: suspend, resume a mailbox's service | [`staff_service::suspend`], [`staff_service::resume`] | admin page `POST /admin/devices/{id}/suspend`, `.../resume`, JSON `POST /api/admin/v1/devices/{id}/suspend`, `.../resume` |
//! | staff: cancel a subscription (period end or now), take it back | [`staff_subscriptions::cancel`], [`staff_subscriptions::withdraw_cancel`] | admin page `POST /admin/subscriptions/{id}/cancel`, `.../resume`, JSON `POST /api/admin/v1/subscriptions/{id}/cancel`, `.../resume` |
//! | admin: change a plan, credit the next invoice | [`staff_subscriptions::change_plan`], [`staff_subscriptions::credit`] | admin page `POST /admin/subscriptions/{id}/plan`, `.../credit`, JSON `POST /api/admin/v1/subscriptions/{id}/plan`, `.../credits` |
//! | staff: resend an invoice email, send a password-reset link | [`staff_customers::resend_invoice`], [`staff_customers::send_password_reset`] | admin page `POST /admin/invoices/{id}/resend`, `POST /admin/customers/{id}/password-reset`, JSON `POST /api/admin/v1/invoices/{id}/resend`, `POST /api/admin/v1/customers/{id}/password-reset` |
//! | check-in interval (with name and location) | [`devices::update`] | page `POST /devices/{id}`, JSON `PATCH /api/v1/devices/{id}` |
//! | start a return (reason, RMA, email), cancel it | [`returns::start`], [`returns::cancel`] | page `POST /devices/{id}/return`, `POST /devices/{id}/return/cancel`, JSON `POST /api/v1/devices/{id}/returns` (and `POST /api/v1/devices/{id}/return`, reason optional), `POST /api/v1/devices/{id}/returns/cancel` |
//! | change the password, sign out other sessions | [`account::change_password`], [`account::sign_out_others`] | page `POST /account/password`, `POST /account/sessions/sign-out-others`, JSON `POST /api/v1/account/password`, `POST /api/v1/account/sessions/sign-out-others` |
//! | change the email (a link to the new address confirms it) | [`account::request_email_change`], [`account::confirm_email_change`] | page `POST /account/email`, `GET`/`POST /account/email/confirm`, JSON `POST /api/v1/account/email` |
//! | delete the account | [`account::delete_account`] | JSON `DELETE /api/v1/account`, CLI `customers delete` |
//! | a mailbox's WiFi credentials | [`wifi::save`] | page `POST /settings` (`wifi_device`), JSON `PUT /api/v1/devices/{id}/wifi` |
//! | set, remove, test the outbound webhook | [`webhooks::set`], [`webhooks::remove`], [`webhooks::send_test`] | page `POST /settings` (`webhook=save/remove/test`), JSON `PUT`/`DELETE /api/v1/webhook`, `POST /api/v1/webhook/test` |
//! | subscribe a browser to web push, unsubscribe it | [`push::subscribe`], [`push::unsubscribe`] | page `POST /settings` (`push=subscribe/unsubscribe`, the portal's script), JSON `POST`/`DELETE /api/v1/push-subscriptions` |
//! | admin: enter a month's acquisition spend per channel | [`analytics::set_spend`] | admin page `POST /admin/analytics/spend` |
//! | rebuild the daily analytics snapshots from a date | [`analytics::backfill`] | CLI `smartbox analytics backfill --from DATE` |
//! | snapshot the days finished since the last run | [`analytics::snapshot_finished_days`] | job `analytics_snapshot` |
//! | staff: start, pause, resume, advance, abort a firmware rollout; pin a mailbox | [`rollouts`] | admin pages `POST /admin/firmware/...`, JSON `/api/admin/v1/rollouts`, CLI `smartbox firmware rollout` |
//! | correct what an event's photos were read as | [`mail::correct`] | page `POST /gallery/{id}/correction`, JSON `POST /api/v1/events/{id}/correction` |
//! | open a support ticket (context frozen, staff emailed) | [`tickets::open`] | page `POST /support/new`, JSON `POST /api/v1/tickets` |
//! | reply on a ticket (customer or staff; the customer emailed a link) | [`tickets::reply`] | pages `POST /support/{id}`, `POST /admin/tickets/{id}/reply`, JSON `POST /api/v1/tickets/{id}/messages`, `POST /api/admin/v1/tickets/{id}/messages` |
//! | close or reopen a ticket | [`tickets::solve`], [`tickets::reopen`] | pages `POST /support/{id}/close`, `POST /support/{id}/reopen`, JSON `POST /api/v1/tickets/{id}/close`, `POST /api/v1/tickets/{id}/reopen` |
//! | staff: internal note, assignee, priority, status, saved reply | [`tickets::add_note`], [`tickets::set`], [`tickets::save_reply`] | admin pages under `/admin/tickets`, JSON under `/api/admin/v1/tickets` |
//! | delete an event with its photos | [`mail::delete_event`] | page `POST /gallery/{id}/delete`, JSON `DELETE /api/v1/events/{id}` |
//!
//! The billing jobs (`billing_pass`, `payment_retry`, `grace_expiry`, `collect_customer`) act on
//! subscriptions through the billing engine itself, as these services do; the engine writes their
//! changes and audit entries as `job:<kind>`.

pub mod account;
mod actor;
pub mod analytics;
pub mod claims;
pub mod device_tags;
pub mod devices;
mod error;
pub mod mail;
pub mod payment_methods;
pub mod push;
pub mod returns;
pub mod rollouts;
pub mod settings;
pub mod staff_billing;
pub mod staff_customers;
pub mod staff_devices;
pub mod staff_jobs;
pub mod staff_service;
pub mod staff_subscriptions;
pub mod subscriptions;
pub mod ticket_context;
pub mod tickets;
pub mod webhooks;
pub mod wifi;

pub use actor::{Actor, StaffRole};
pub use error::ServiceError;
