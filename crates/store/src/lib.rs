//! Persistence for the smart mailbox cloud.
//!
//! One schema, migrated on SQLite (the embedded default) and PostgreSQL, and the repositories the
//! server uses. The pool is an enum of the two backends rather than sqlx's `Any` driver, because
//! `Any` mishandles booleans, in-memory SQLite and PostgreSQL timestamps; every query is written once
//! with `$n` placeholders (which SQLite accepts too) and compiled for both pools by `on_pool!`.
//! [`Db`] is opaque: no pool and no SQL leave the crate.
//!
//! Conventions: instants are BIGINT epoch milliseconds (UTC), ids are TEXT uuids, money is integer
//! cents, enumerations are their lower-case domain names. Rows are plain structs whose statuses
//! are already the domain's enums (a stored name the domain does not know fails to decode): the
//! store converts at its boundary, so nothing above it spells a status as a string.

mod admin;
mod analytics;
mod audit;
mod backup;
mod billing;
pub mod changes;
mod credits;
mod db;
mod device_traffic;
mod device_wifi;
mod devices;
mod email_changes;
mod error;
mod events;
mod firmware;
mod invoices;
mod jobs;
mod keys;
mod mail_readings;
mod notifications;
mod payments;
mod plans;
mod portal;
mod retention;
mod returns;
mod rollouts;
#[cfg(feature = "testing")]
pub mod schema;
mod sessions;
mod signals;
mod stripe_events;
mod subscriptions;
mod tickets;
mod usage;
mod users;
mod vitals;
mod writer;

#[cfg(feature = "testing")]
pub mod testing;

pub use admin::{AuditFilter, CustomerRow, InventoryFilter, InventoryRow, Overview, StaffDates};
pub use analytics::{
    AnalyticsSubscriptionRow, ChargeAttemptRow, MovementRow, NewMovement, NotifiedEventRow,
    OtherRevenueRow, ShipmentRow, SpendRow, SubscriptionChangeRow, UsageEndedRow, day_key,
    month_key, parse_day_key,
};
pub use audit::{AuditEntry, NewAuditEntry};
pub use backup::Backup;
pub use billing::{BillingCustomerRow, BillingSubscriptionRow};
pub use credits::CreditRow;
pub(crate) use db::on_pool;
pub use db::{Backend, Db};
pub use device_traffic::{
    DeviceAccessRow, EventStored, NewEvent, NewPhoto, TrafficBatch, TrafficConnection,
    TrafficOutcome, UsageDelta, WalFrames,
};
pub use device_wifi::DeviceWifiRow;
pub use devices::{DeviceRow, NewDevice};
pub use email_changes::{EmailChanged, NewEmailChange};
pub use error::StoreError;
pub use events::{
    EVENT_COMPLETED_JOB, EventInsert, MailEventDeletion, MailEventRow, PhotoInsert, PhotoRow,
    PhotoStored,
};
pub use firmware::{FirmwareImageRow, FirmwareReportRow};
pub use invoices::{InvoiceLineRow, InvoiceRow};
pub use jobs::{JobRow, NewJob, QueuedJobs};
pub use keys::{DataKeyRow, PhotoToSeal, SealedSlot, SealedValue};
pub use mail_readings::{MailCorrection, MailReading, MailboxReferencesRow, Settled};
pub use notifications::{
    DeliveryRow, MailboxStatusRow, NewDelivery, PushSubscriptionRow, WebhookRow, delivery_status,
};
pub use payments::PaymentRow;
pub use plans::PlanRow;
pub use portal::{ActivityMark, GalleryFilter, GalleryRow, UNCATEGORISED, parse_gallery_cursor};
pub use retention::{ExpiredPhoto, PhotoCutoffs};
pub use returns::ReturnRow;
pub use rollouts::{
    DeviceTagRow, HealthFigures, NewRollout, NewStage, PinRow, ProgressCount, RolloutCandidate,
    RolloutRow, RolloutStageRow, SILENT_SLACK_MS,
};
pub use sessions::SessionRow;
pub use signals::{MAX_SIGNAL_BYTES, Received, SIGNAL_CHANNEL, SignalListener};
pub use subscriptions::{NewSubscription, SubscriptionRow};
pub use tickets::{
    AssigneeFilter, SavedReplyRow, StaffMember, TicketChange, TicketFilter, TicketInboxRow,
    TicketMessageRow, TicketRow, TicketUpdate,
};
pub use usage::UsageRow;
pub use users::{NewUser, UserRow};
pub use vitals::VitalsRow;
pub use writer::{CommitObserver, TrafficWriter};

/// Result of a store operation.
pub type Result<T, E = StoreError> = std::result::Result<T, E>;
