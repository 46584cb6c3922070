//! Pure business rules of the smart mailbox service: money, the plan catalog, identifiers,
//! subscription and device-lifecycle states, and whether a device may operate.
//!
//! Nothing here performs IO, awaits, or knows about a database: every rule takes its inputs
//! (including `now`) as arguments, so the server, the billing jobs and the tests all share one
//! definition of the rules in DESIGN.md §4.

mod names;

pub mod ids;
pub mod lifecycle;
pub mod money;
pub mod period;
pub mod plan;
pub mod power;
pub mod subscription;
pub mod transition;
pub mod usage;

pub use lifecycle::{LifecycleState, can_operate};
pub use money::Cents;
pub use names::ParseNameError;
pub use plan::{Plan, PlanId};
pub use power::PowerState;
pub use subscription::SubscriptionStatus;
