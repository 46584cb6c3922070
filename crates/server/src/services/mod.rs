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
//! | action | function |
//! |---|---|
//! | claim a mailbox (and start its trial) | [`claims::verify_pair`], [`claims::claim`] |
//! | rename, say where it is | [`devices::update`] |
//! | return a mailbox | [`devices::return_device`] |
//! | cancel at period end, take it back | [`subscriptions::cancel`], [`subscriptions::resume`] |
//! | plan change: price first, then confirm | [`subscriptions::preview_plan_change`], [`subscriptions::change_plan`] |
//! | save a card | [`payment_methods::start_card_setup`], [`payment_methods::save`] |
//! | correct what an event's photos were read as | [`mail::correct`] |

mod actor;
pub mod claims;
pub mod devices;
mod error;
pub mod mail;
pub mod payment_methods;
pub mod subscriptions;

pub use actor::{Actor, StaffRole};
pub use error::ServiceError;
