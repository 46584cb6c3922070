//! Pure business rules of the smart mailbox service (DESIGN §4): money, the plan catalog,
//! identifiers (validated ones and the ids of stored things), the subscription, invoice, payment
//! and device-lifecycle states with their state machines, billing periods, usage and overage,
//! upgrade proration, the admin metrics and staged firmware rollouts.

mod names;

pub mod card;
pub mod checkin;
pub mod epoch;
pub mod ids;
pub mod invoice;
pub mod lifecycle;
pub mod mail;
pub mod metrics;
pub mod money;
pub mod payment;
pub mod period;
pub mod plan;
pub mod power;
pub mod proration;
pub mod record_ids;
pub mod rollout;
pub mod subscription;
pub mod ticket;
pub mod transition;
pub mod usage;

pub use card::CardSummary;
pub use ids::{ClaimCode, Email, IdError, Serial};
pub use invoice::InvoiceStatus;
pub use lifecycle::{LifecycleEffect, LifecycleEvent, LifecycleState, can_operate};
pub use mail::{MailCategory, MailKind};
pub use money::Cents;
pub use names::ParseNameError;
pub use payment::PaymentStatus;
pub use period::BillingPeriod;
pub use plan::{Plan, PlanChange, PlanId};
pub use power::PowerState;
pub use record_ids::{
    DeviceId, EventId, InvoiceId, PaymentId, RolloutId, SubscriptionId, TicketId, UserId,
};
pub use subscription::{
    SubscriptionEffect, SubscriptionEvent, SubscriptionState, SubscriptionStatus,
};
pub use ticket::{TicketCategory, TicketEvent, TicketPriority, TicketStatus};
pub use transition::{Transition, TransitionError};
pub use usage::{SpendCap, UsageCounters, UsageDecision};
