//! Pure business rules of the smart mailbox service (DESIGN §4): money, the plan catalog,
//! identifiers, the subscription and device-lifecycle state machines, billing periods, usage
//! and overage, upgrade proration and the admin metrics.
//!
//! Nothing here performs IO, awaits, or knows about a database: every rule takes its inputs
//! (including `now`) as arguments, so the server, the billing jobs and the tests all share one
//! definition of the rules, and the rules are tested without any of them.

mod names;

pub mod epoch;
pub mod ids;
pub mod lifecycle;
pub mod metrics;
pub mod money;
pub mod period;
pub mod plan;
pub mod power;
pub mod proration;
pub mod subscription;
pub mod transition;
pub mod usage;

pub use ids::{ClaimCode, Email, IdError, Serial};
pub use lifecycle::{LifecycleEffect, LifecycleEvent, LifecycleState, can_operate};
pub use money::Cents;
pub use names::ParseNameError;
pub use period::BillingPeriod;
pub use plan::{Plan, PlanChange, PlanId};
pub use power::PowerState;
pub use subscription::{
    SubscriptionEffect, SubscriptionEvent, SubscriptionState, SubscriptionStatus,
};
pub use transition::{Transition, TransitionError};
pub use usage::{SpendCap, UsageCounters, UsageDecision};
