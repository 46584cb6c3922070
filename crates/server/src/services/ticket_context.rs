//! What staff see beside a support ticket: the state of the customer's mailbox and account at
//! the moment the ticket was opened, frozen as JSON in the ticket (issue 20). Later changes (a
//! card saved, a heartbeat) do not rewrite it, so staff read what the customer was looking at.
//!
//! The mailbox part keeps the facts its schedule-aware status line is made of (lifecycle, last
//! check-in, interval, the newest delivery, a return started, service ended); the admin page words
//! them with the portal's status line at the frozen instant, so staff read the same sentence the
//! customer read.

use serde::{Deserialize, Serialize};
use smartbox_domain::{InvoiceStatus, LifecycleState, PaymentStatus, PlanId, SubscriptionStatus};
use smartbox_store::{DeviceRow, MailEventRow};

use super::ServiceError;
use crate::state::AppState;

/// Mail events kept in the context, newest first.
pub const EVENTS: i64 = 3;
/// Invoices and failed payments kept in the context, newest first.
pub const BILLING_ROWS: usize = 3;

/// The frozen context of a ticket.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct TicketContext {
    /// Epoch milliseconds.
    pub taken_at: i64,
    pub mailbox: Option<MailboxSnapshot>,
    pub subscription: Option<SubscriptionSnapshot>,
    /// Newest first.
    pub invoices: Vec<InvoiceSnapshot>,
    /// Newest first.
    pub payment_failures: Vec<PaymentFailureSnapshot>,
}

/// A mailbox's vitals and what its status line is made of.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct MailboxSnapshot {
    pub id: String,
    pub serial: String,
    pub name: String,
    pub location: String,
    #[schema(value_type = String)]
    pub lifecycle: LifecycleState,
    pub power_state: String,
    pub battery_percentage: Option<i64>,
    pub signal_dbm: Option<i64>,
    pub network: Option<String>,
    pub firmware_version: Option<String>,
    /// Epoch milliseconds.
    pub last_seen_at: Option<i64>,
    pub checkin_interval_s: i64,
    pub sd_queue_len: Option<i64>,
    /// A return was started.
    pub returning: bool,
    /// In service but its subscription had ended.
    pub ended: bool,
    /// The last mail events, newest first.
    pub events: Vec<EventSnapshot>,
}

/// A mail event of the mailbox.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct EventSnapshot {
    pub id: String,
    pub kind: String,
    /// Epoch milliseconds.
    pub occurred_at: i64,
    pub photo_count: i64,
    pub photos_received: i64,
    pub mail_kind: Option<String>,
    pub category: Option<String>,
    /// Epoch milliseconds.
    pub created_at: i64,
}

impl EventSnapshot {
    /// The event as a stored row again, for the status line ("sending now").
    pub fn as_event_row(&self, device_id: &str) -> MailEventRow {
        MailEventRow {
            id: self.id.clone(),
            device_id: device_id.to_owned(),
            subscription_id: None,
            kind: self.kind.clone(),
            occurred_at: self.occurred_at,
            photo_count: self.photo_count,
            photos_received: self.photos_received,
            category: self.category.clone(),
            completed_at: None,
            created_at: self.created_at,
            mail_kind: self.mail_kind.clone(),
            category_confidence: None,
            corrected_at: None,
        }
    }
}

/// The mailbox's subscription and its usage this period.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct SubscriptionSnapshot {
    pub id: String,
    pub plan: String,
    #[schema(value_type = String)]
    pub status: SubscriptionStatus,
    /// Epoch milliseconds.
    pub period_start: i64,
    pub period_end: i64,
    pub past_due_since: Option<i64>,
    pub cancel_at_period_end: bool,
    pub notifications: i64,
    /// `None`: unlimited.
    pub notification_limit: Option<i64>,
    pub data_bytes: i64,
    pub data_limit_bytes: i64,
}

/// An invoice of the customer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct InvoiceSnapshot {
    pub id: String,
    pub number: String,
    #[schema(value_type = String)]
    pub status: InvoiceStatus,
    pub total_cents: i64,
    /// Epoch milliseconds.
    pub created_at: i64,
}

/// A failed payment attempt of the customer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct PaymentFailureSnapshot {
    pub id: String,
    pub invoice_id: String,
    pub amount_cents: i64,
    pub failure_code: Option<String>,
    pub failure_message: Option<String>,
    /// Epoch milliseconds.
    pub created_at: i64,
}

impl MailboxSnapshot {
    /// The mailbox as a device row again (no secret, no owner), for the status line.
    pub fn as_device(&self) -> DeviceRow {
        DeviceRow {
            id: self.id.clone(),
            serial: self.serial.clone(),
            secret_ciphertext: Vec::new(),
            claim_code_hash: String::new(),
            owner_id: None,
            lifecycle_state: self.lifecycle,
            power_state: self.power_state.clone(),
            battery_percentage: self.battery_percentage,
            firmware_version: self.firmware_version.clone(),
            name: self.name.clone(),
            location: self.location.clone(),
            signal_dbm: self.signal_dbm,
            network: self.network.clone(),
            sd_queue_len: self.sd_queue_len,
            sd_oldest_age_s: None,
            sd_failed_deliveries: None,
            modem_tx_bytes: None,
            modem_rx_bytes: None,
            checkin_interval_s: self.checkin_interval_s,
            last_seen_at: self.last_seen_at,
            activated_at: None,
            claimed_at: None,
            created_at: 0,
        }
    }
}

/// Takes the context of a ticket of `customer_id` about `device` (if any) at `now`.
pub async fn take(
    state: &AppState,
    customer_id: &str,
    device: Option<&DeviceRow>,
    now: i64,
) -> Result<TicketContext, ServiceError> {
    let db = &state.db;
    let (mailbox, subscription) = match device {
        Some(device) => {
            let events = db.events_of_device(&device.id, None, EVENTS).await?;
            let device_id = smartbox_domain::DeviceId::new(device.id.as_str());
            let live = db.live_subscription_of_device(&device_id).await?;
            let subscription = match &live {
                Some(s) => {
                    let usage = db
                        .usage(&s.id, s.current_period_start, s.current_period_end)
                        .await?;
                    let plan = s.plan_id.parse::<PlanId>().ok().map(|p| p.plan());
                    Some(SubscriptionSnapshot {
                        id: s.id.clone(),
                        plan: s.plan_id.clone(),
                        status: s.status,
                        period_start: s.current_period_start,
                        period_end: s.current_period_end,
                        past_due_since: s.past_due_since,
                        cancel_at_period_end: s.cancel_at_period_end,
                        notifications: usage.notifications,
                        notification_limit: plan
                            .and_then(|p| p.notification_limit)
                            .and_then(|n| i64::try_from(n).ok()),
                        data_bytes: usage.data_bytes,
                        data_limit_bytes: plan
                            .and_then(|p| i64::try_from(p.data_limit_bytes).ok())
                            .unwrap_or(0),
                    })
                }
                None => None,
            };
            let returning = db.open_return_of_device(&device_id).await?.is_some();
            let mailbox = MailboxSnapshot {
                id: device.id.clone(),
                serial: device.serial.clone(),
                name: device.name.clone(),
                location: device.location.clone(),
                lifecycle: device.lifecycle_state,
                power_state: device.power_state.clone(),
                battery_percentage: device.battery_percentage,
                signal_dbm: device.signal_dbm,
                network: device.network.clone(),
                firmware_version: device.firmware_version.clone(),
                last_seen_at: device.last_seen_at,
                checkin_interval_s: device.checkin_interval_s,
                sd_queue_len: device.sd_queue_len,
                returning,
                ended: device.lifecycle_state == LifecycleState::ActiveSubscription
                    && live.is_none(),
                events: events.iter().map(event).collect(),
            };
            (Some(mailbox), subscription)
        }
        None => (None, None),
    };
    let customer = smartbox_domain::UserId::new(customer_id);
    let mut invoices = db.invoices_of_customer(&customer).await?;
    invoices.retain(|i| i.status.is_issued());
    invoices.sort_by_key(|i| std::cmp::Reverse(i.created_at));
    let mut failures = db.payments_of_customer(&customer).await?;
    failures.retain(|p| p.status == PaymentStatus::Failed);
    failures.sort_by_key(|p| std::cmp::Reverse(p.created_at));
    Ok(TicketContext {
        taken_at: now,
        mailbox,
        subscription,
        invoices: invoices
            .into_iter()
            .take(BILLING_ROWS)
            .map(|i| InvoiceSnapshot {
                id: i.id,
                number: i.number,
                status: i.status,
                total_cents: i.total_cents,
                created_at: i.created_at,
            })
            .collect(),
        payment_failures: failures
            .into_iter()
            .take(BILLING_ROWS)
            .map(|p| PaymentFailureSnapshot {
                id: p.id,
                invoice_id: p.invoice_id,
                amount_cents: p.amount_cents,
                failure_code: p.failure_code,
                failure_message: p.failure_message,
                created_at: p.created_at,
            })
            .collect(),
    })
}

fn event(e: &MailEventRow) -> EventSnapshot {
    EventSnapshot {
        id: e.id.clone(),
        kind: e.kind.clone(),
        occurred_at: e.occurred_at,
        photo_count: e.photo_count,
        photos_received: e.photos_received,
        mail_kind: e.mail_kind.clone(),
        category: e.category.clone(),
        created_at: e.created_at,
    }
}
