//! Writes as one atomic change set: the billing engine and the server's application services
//! read, decide (pure code), and hand the store a [`Changes`] — subscription update, invoice,
//! payment attempt, device lifecycle or name, jobs, audit entries, the webhook event id — which
//! is written in one transaction or not at all.
//!
//! Concurrency is optimistic: a change set carries guards (the subscription version it read, the
//! invoice or payment status it expects, an event id not yet processed, uniqueness rules). When
//! a guard fails nothing is written and [`Applied::Stale`] says which; the engine reads again
//! and decides again. So a billing pass running twice, two server processes, a retry job and a
//! webhook racing each other can never write a decision based on a state that has changed.
//!
//! A batch ([`Db::apply_changes_batch`]) writes many change sets in one transaction, each in its
//! own savepoint, so one stale set does not undo the others; this is what makes renewing many
//! subscriptions at once fast.

mod bulk;

use smartbox_domain::rollout::RolloutState;
use smartbox_domain::{
    CardSummary, InvoiceStatus, LifecycleState, PaymentStatus, SubscriptionStatus,
};
use sqlx::Acquire;

use crate::{Db, Result, on_pool};

/// Change sets written together, in order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Changes {
    pub ops: Vec<Change>,
}

impl Changes {
    pub fn new() -> Changes {
        Changes::default()
    }

    /// Appends a change.
    pub fn push(&mut self, change: Change) {
        self.ops.push(change);
    }

    pub fn is_empty(&self) -> bool {
        self.ops.is_empty()
    }
}

/// One write. Those marked *guard* make the whole change set stale when they do not apply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// *Guard*: the subscription must still be at `expected_version`; the version is bumped.
    UpdateSubscription(SubscriptionUpdate),
    /// *Guard* (uniqueness): a new invoice with its lines; its number is drawn here.
    InsertInvoice(NewInvoice),
    /// *Guard*: the invoice must be in one of `from`.
    SetInvoiceStatus(InvoiceStatusUpdate),
    /// *Guard* (uniqueness): a new payment attempt (one in flight and one success per invoice).
    InsertPayment(NewPayment),
    /// *Guard*: the attempt must be in one of `from`.
    UpdatePayment(PaymentUpdate),
    /// Moves the device's lifecycle from `from` to `to` if it is in `from` (no guard: a device
    /// returned or decommissioned meanwhile keeps its state).
    SetDeviceLifecycle {
        device_id: String,
        from: LifecycleState,
        to: LifecycleState,
    },
    /// *Guard*: the device must still be in lifecycle `from`; it moves to `to`. For changes
    /// that are about the device itself (a return), where a device that moved meanwhile makes
    /// the whole decision stale.
    MoveDeviceLifecycle {
        device_id: String,
        from: LifecycleState,
        to: LifecycleState,
    },
    /// Renames a device and sets where it is.
    SetDeviceNameLocation {
        device_id: String,
        name: String,
        location: String,
    },
    /// *Guard*: the device must still await its first owner (`pre_activation`); it becomes
    /// `owner_id`'s and `active_subscription`, claimed and activated `at`.
    ClaimDevice {
        device_id: String,
        owner_id: String,
        at: i64,
    },
    /// *Guard* (uniqueness): a new subscription (a device has one live subscription at most).
    InsertSubscription(NewSubscriptionRecord),
    /// Sets a subscription's spend cap (`None`: the plan price).
    SetSpendCap {
        subscription_id: String,
        cap_cents: Option<i64>,
        now: i64,
    },
    /// Sets a user's time zone and quiet hours (minutes after local midnight, both or none).
    SetUserPreferences {
        user_id: String,
        time_zone: String,
        quiet: (Option<i64>, Option<i64>),
    },
    /// Turns a user's morning digest on or off.
    SetDigestEnabled {
        user_id: String,
        enabled: bool,
        now: i64,
    },
    /// Turns a mailbox's "notify me only for deliveries" on or off.
    SetNotifyDeliveriesOnly { device_id: String, enabled: bool },
    /// Turns one notification channel of a mailbox on or off.
    SetNotificationPref {
        device_id: String,
        channel: String,
        enabled: bool,
    },
    /// Sets how often a mailbox checks in (sent in its next heartbeat's config).
    SetCheckinInterval { device_id: String, interval_s: i64 },
    /// Starts a return (refused by the unique index when the mailbox has an open one).
    InsertReturn(crate::ReturnRow),
    /// Closes an open return as canceled or received at `at` (guarded: stale when the return
    /// is no longer open).
    CloseReturn { id: String, received: bool, at: i64 },
    /// Replaces a user's password hash.
    SetPasswordHash {
        user_id: String,
        password_hash: String,
    },
    /// Ends every session of a user but the one whose token hash is `keep_token_hash`.
    EndOtherSessions {
        user_id: String,
        keep_token_hash: String,
    },
    /// Enqueues a job (a job with the same unique key already there is kept).
    EnqueueJob(QueuedJob),
    /// Cancels the queued jobs whose unique key starts with `key_prefix` (marks them done with
    /// `reason` as their last error), e.g. the dunning of a subscription that was paid.
    CancelQueuedJobs {
        key_prefix: String,
        reason: String,
        now: i64,
    },
    /// Opens a usage period at zero (kept if the device API opened it already).
    OpenUsagePeriod {
        subscription_id: String,
        period_start: i64,
        period_end: i64,
    },
    /// *Guard*: sets the customer's default card, unless a newer change (by `changed_at`, unix
    /// seconds) was applied already; with the card's brand, last four digits and expiry when
    /// known (`None` forgets them).
    SetCustomerPaymentMethod {
        customer_id: String,
        payment_method_id: Option<String>,
        card: Option<CardSummary>,
        changed_at: i64,
    },
    /// Records the customer's id at the payment provider.
    SetProviderCustomer {
        customer_id: String,
        provider_customer_id: String,
    },
    /// Appends an audit entry.
    Audit(AuditRecord),
    /// *Guard*: a Stripe webhook event id not processed before.
    RecordStripeEvent {
        id: String,
        event_type: String,
        created: i64,
        processed_at: i64,
    },
    /// Replaces the device's sealed secret (a decommission seals one nobody holds, so the old
    /// secret stops authenticating even if the lifecycle check were bypassed).
    ReplaceDeviceSecret {
        device_id: String,
        secret_ciphertext: Vec<u8>,
    },
    /// *Guard*: the device must still be `returned`. It goes back to `pre_activation` with a new
    /// sealed secret and claim-code hash; its owner, name, location, claim, activation, shipping
    /// and return dates, WiFi credentials and notification preferences are cleared, so nothing
    /// of the previous customer stays linked to it (docs/operations.md, "Refurbishing").
    RefurbishDevice {
        device_id: String,
        secret_ciphertext: Vec<u8>,
        claim_code_hash: String,
    },
    /// *Guard*: the job must still be `failed`; it is queued again at `now` with its attempts
    /// reset (staff "retry").
    RetryFailedJob { id: String, now: i64 },
    /// Sets the acquisition spend of a month (`YYYY-MM`) and channel (admin analytics).
    SetAcquisitionSpend {
        month: String,
        channel: String,
        amount_cents: i64,
        at: i64,
    },
    /// Records when staff shipped the device or received it back.
    MarkDevice {
        device_id: String,
        mark: DeviceMark,
        at: i64,
    },
    /// Removes a user's personal data and keeps the row (invoices, payments, usage and the
    /// audit log point at it): `email` becomes the given placeholder, the password hash one no
    /// password matches, name, quiet hours and card cleared, time zone back to UTC; sessions,
    /// reset links, push subscriptions, the webhook, the digest setting, notification records
    /// and the photo data key deleted; the user's mailboxes lose their owner, name, location,
    /// WiFi credentials, reference frames and notification preferences. Idempotent.
    AnonymiseUser {
        user_id: String,
        email: String,
        password_hash: String,
    },
    /// Saves a mailbox's WiFi credentials (sealed; the store never sees the passphrase) at
    /// `version`; the device's last report about earlier ones stays until it reports again.
    SetDeviceWifi {
        device_id: String,
        ssid: String,
        sealed: Vec<u8>,
        version: i64,
    },
    /// Sets (or replaces) a customer's outbound webhook and its sealed signing secret.
    SetCustomerWebhook {
        user_id: String,
        url: String,
        secret_ciphertext: Vec<u8>,
        at: i64,
    },
    /// Removes a customer's outbound webhook.
    DeleteCustomerWebhook { user_id: String },
    /// Stores a browser's push subscription (a known endpoint moves to this customer).
    SavePushSubscription(crate::PushSubscriptionRow),
    /// Forgets a browser's push subscription of this customer.
    DeletePushSubscription { user_id: String, endpoint: String },
    /// A support ticket write (see [`crate::TicketChange`] for its guards).
    Ticket(crate::TicketChange),
    /// A password-reset link (its token's hash) for the user, valid until `expires_at`; the
    /// user's older links are used up, as `Db::insert_password_reset` does.
    IssuePasswordReset {
        token_hash: String,
        user_id: String,
        now: i64,
        expires_at: i64,
    },
    /// A staff credit on a subscription, pending until an invoice takes it.
    InsertCredit(crate::CreditRow),
    /// *Guard*: the credit must still be pending; the invoice `invoice_id` takes it.
    ApplyCredit { id: String, invoice_id: String },
    /// *Guard* (uniqueness): a new active rollout with its stages, its first one started; its
    /// image becomes staged (offered only through rollouts and pins from now on). Stale while
    /// another rollout of the hardware revision is open.
    InsertRollout(crate::NewRollout),
    /// *Guard*: the rollout must still be in `from` at stage `from_stage`; it moves to `to` at
    /// `to_stage` (a new stage starts at `now`) with `paused_reason`.
    MoveRollout {
        id: String,
        from: RolloutState,
        from_stage: i64,
        to: RolloutState,
        to_stage: i64,
        paused_reason: Option<String>,
        now: i64,
    },
    /// Pins a mailbox to a version (replacing its pin).
    PinFirmware {
        device_id: String,
        version: String,
        reason: String,
        pinned_by: String,
        at: i64,
    },
    /// Removes a mailbox's pin.
    UnpinFirmware { device_id: String },
    /// Tags a mailbox (a tag it has already is kept as it was).
    TagDevice {
        device_id: String,
        tag: String,
        tagged_by: String,
        at: i64,
    },
    /// Removes a tag from a mailbox.
    UntagDevice { device_id: String, tag: String },
}

/// A date staff record on a device.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeviceMark {
    /// Sent to a customer or a shop.
    Shipped,
    /// A returned box arrived at the warehouse.
    ReturnReceived,
}

/// The new values of a subscription's billing columns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubscriptionUpdate {
    pub id: String,
    pub expected_version: i64,
    pub plan_id: String,
    pub pending_plan_id: Option<String>,
    pub status: SubscriptionStatus,
    pub current_period_start: i64,
    pub current_period_end: i64,
    pub cancel_at_period_end: bool,
    pub past_due_since: Option<i64>,
    /// Lowers the customer's spend cap to at most this (a downgrade's new maximum); the cap is
    /// otherwise left as the customer set it.
    pub spend_cap_at_most: Option<i64>,
    pub updated_at: i64,
}

/// A new subscription.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewSubscriptionRecord {
    pub id: String,
    pub device_id: String,
    pub customer_id: String,
    pub plan_id: String,
    pub status: SubscriptionStatus,
    /// The billing anchor (a trial's end).
    pub anchor_at: i64,
    pub current_period_start: i64,
    pub current_period_end: i64,
    pub created_at: i64,
}

/// A new invoice.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewInvoice {
    pub id: String,
    pub subscription_id: String,
    pub customer_id: String,
    pub kind: String,
    pub period_start: i64,
    pub period_end: i64,
    pub status: InvoiceStatus,
    pub total_cents: i64,
    pub idempotency_key: String,
    pub created_at: i64,
    /// `(description, amount in cents)`, in order.
    pub lines: Vec<(String, i64)>,
}

/// An invoice's move to another status.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvoiceStatusUpdate {
    pub id: String,
    pub from: Vec<InvoiceStatus>,
    pub to: InvoiceStatus,
    pub paid_at: Option<i64>,
    pub carried_into: Option<String>,
}

/// A new payment attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewPayment {
    pub id: String,
    pub invoice_id: String,
    pub amount_cents: i64,
    pub status: PaymentStatus,
    pub provider: String,
    pub provider_payment_id: Option<String>,
    pub failure_code: Option<String>,
    pub failure_message: Option<String>,
    pub created_at: i64,
}

/// A payment attempt's move forward.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PaymentUpdate {
    pub id: String,
    pub from: Vec<PaymentStatus>,
    pub status: PaymentStatus,
    /// Kept as stored when `None`.
    pub provider_payment_id: Option<String>,
    pub failure_code: Option<String>,
    pub failure_message: Option<String>,
    /// Kept as stored when `None`.
    pub provider_event_created: Option<i64>,
    pub updated_at: i64,
}

/// A job to enqueue in the same transaction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueuedJob {
    pub id: String,
    pub kind: String,
    /// JSON text.
    pub payload: String,
    pub unique_key: Option<String>,
    pub run_at: i64,
    pub max_attempts: i64,
}

/// An audit entry to append in the same transaction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditRecord {
    pub at: i64,
    pub actor: String,
    pub entity_type: String,
    pub entity_id: String,
    pub action: String,
    /// JSON text.
    pub detail: String,
}

/// What applying a change set did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Applied {
    /// Everything was written.
    Done,
    /// A guard did not hold; nothing of this change set was written.
    Stale(Stale),
}

/// Which guard did not hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stale {
    /// Index of the change in `Changes::ops`.
    pub op: usize,
    pub guard: StaleGuard,
}

/// The kinds of guards.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StaleGuard {
    SubscriptionVersion,
    InvoiceExists,
    InvoiceStatus,
    PaymentExists,
    PaymentStatus,
    PaymentMethodNewer,
    EventProcessed,
    DeviceLifecycle,
    SubscriptionExists,
    JobStatus,
    ReturnOpen,
    TicketVersion,
    SavedReplyExists,
    CreditPending,
    /// Another rollout of the hardware revision is open.
    RolloutOpen,
    /// The rollout moved meanwhile.
    RolloutState,
}

/// The number printed on an invoice: `SB-0000042`.
pub fn invoice_number(sequence: i64) -> String {
    format!("SB-{sequence:07}")
}

const INSERT_INVOICE_SQL: &str = "INSERT INTO invoices (id, number, subscription_id, customer_id, kind, \
    period_start, period_end, status, total_cents, idempotency_key, created_at) \
    VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)";

const UPDATE_SUBSCRIPTION_SQL: &str = "UPDATE subscriptions SET plan_id = $3, pending_plan_id = $4, \
    status = $5, current_period_start = $6, current_period_end = $7, cancel_at_period_end = $8, \
    past_due_since = $9, spend_cap_cents = CASE WHEN $10 IS NOT NULL AND spend_cap_cents > $10 \
    THEN $10 ELSE spend_cap_cents END, updated_at = $11, version = version + 1 \
    WHERE id = $1 AND version = $2";

const INSERT_PAYMENT_SQL: &str = "INSERT INTO payments (id, invoice_id, amount_cents, status, provider, \
    provider_payment_id, failure_code, failure_message, created_at, updated_at) \
    VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $9)";

/// `($first, $first+1, ...)` with `count` placeholders.
fn placeholder_list(first: usize, count: usize) -> String {
    let list: Vec<String> = (first..first + count).map(|n| format!("${n}")).collect();
    format!("({})", list.join(", "))
}

/// Runs one change on `$conn`; evaluates to `Result<Option<StaleGuard>, sqlx::Error>`.
macro_rules! run_change {
    ($db:expr, $conn:expr, $change:expr) => {{
        let conn = $conn;
        let unique_is_stale = |result: std::result::Result<_, sqlx::Error>, guard| match result {
            Ok(_) => Ok(None),
            Err(sqlx::Error::Database(err)) if err.is_unique_violation() => Ok(Some(guard)),
            Err(err) => Err(err),
        };
        let affected = |result: std::result::Result<u64, sqlx::Error>, guard| {
            result.map(|rows| (rows == 0).then_some(guard))
        };
        match $change {
            Change::UpdateSubscription(s) => affected(
                sqlx::query(UPDATE_SUBSCRIPTION_SQL)
                    .bind(&s.id)
                    .bind(s.expected_version)
                    .bind(&s.plan_id)
                    .bind(&s.pending_plan_id)
                    .bind(s.status.as_str())
                    .bind(s.current_period_start)
                    .bind(s.current_period_end)
                    .bind(s.cancel_at_period_end)
                    .bind(s.past_due_since)
                    .bind(s.spend_cap_at_most)
                    .bind(s.updated_at)
                    .execute(&mut *conn)
                    .await
                    .map(|r| r.rows_affected()),
                StaleGuard::SubscriptionVersion,
            ),
            Change::InsertInvoice(invoice) => {
                let sequence: (i64,) = match $db {
                    $crate::Backend::Postgres => {
                        sqlx::query_as("SELECT nextval('invoice_numbers')")
                            .fetch_one(&mut *conn)
                            .await?
                    }
                    $crate::Backend::Sqlite => {
                        sqlx::query_as(
                            "UPDATE counters SET value = value + 1 WHERE name = 'invoice_number' RETURNING value",
                        )
                        .fetch_one(&mut *conn)
                        .await?
                    }
                };
                let inserted = sqlx::query(INSERT_INVOICE_SQL)
                    .bind(&invoice.id)
                    .bind(invoice_number(sequence.0))
                    .bind(&invoice.subscription_id)
                    .bind(&invoice.customer_id)
                    .bind(&invoice.kind)
                    .bind(invoice.period_start)
                    .bind(invoice.period_end)
                    .bind(invoice.status.as_str())
                    .bind(invoice.total_cents)
                    .bind(&invoice.idempotency_key)
                    .bind(invoice.created_at)
                    .execute(&mut *conn)
                    .await;
                match unique_is_stale(inserted, StaleGuard::InvoiceExists)? {
                    Some(stale) => Ok(Some(stale)),
                    None if invoice.lines.is_empty() => Ok(None),
                    None => {
                        let values: Vec<String> = (0..invoice.lines.len())
                            .map(|i| placeholder_list(i * 4 + 1, 4))
                            .collect();
                        let sql = format!(
                            "INSERT INTO invoice_lines (invoice_id, position, description, amount_cents) VALUES {}",
                            values.join(", ")
                        );
                        let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
                        for (position, (description, amount)) in invoice.lines.iter().enumerate() {
                            query = query
                                .bind(&invoice.id)
                                .bind(i64::try_from(position).unwrap_or(i64::MAX))
                                .bind(description)
                                .bind(*amount);
                        }
                        query.execute(&mut *conn).await.map(|_| None)
                    }
                }
            }
            Change::SetInvoiceStatus(u) => {
                let sql = format!(
                    "UPDATE invoices SET status = $2, paid_at = COALESCE($3, paid_at), \
                     carried_into = COALESCE($4, carried_into) WHERE id = $1 AND status IN {}",
                    placeholder_list(5, u.from.len())
                );
                let mut query = sqlx::query(sqlx::AssertSqlSafe(sql))
                    .bind(&u.id)
                    .bind(u.to.as_str())
                    .bind(u.paid_at)
                    .bind(&u.carried_into);
                for from in &u.from {
                    query = query.bind(from.as_str());
                }
                affected(
                    query.execute(&mut *conn).await.map(|r| r.rows_affected()),
                    StaleGuard::InvoiceStatus,
                )
            }
            Change::InsertPayment(p) => unique_is_stale(
                sqlx::query(INSERT_PAYMENT_SQL)
                    .bind(&p.id)
                    .bind(&p.invoice_id)
                    .bind(p.amount_cents)
                    .bind(p.status.as_str())
                    .bind(&p.provider)
                    .bind(&p.provider_payment_id)
                    .bind(&p.failure_code)
                    .bind(&p.failure_message)
                    .bind(p.created_at)
                    .execute(&mut *conn)
                    .await,
                StaleGuard::PaymentExists,
            ),
            Change::UpdatePayment(u) => {
                let sql = format!(
                    "UPDATE payments SET status = $2, provider_payment_id = COALESCE($3, provider_payment_id), \
                     failure_code = $4, failure_message = $5, \
                     provider_event_created = COALESCE($6, provider_event_created), updated_at = $7 \
                     WHERE id = $1 AND status IN {}",
                    placeholder_list(8, u.from.len())
                );
                let mut query = sqlx::query(sqlx::AssertSqlSafe(sql))
                    .bind(&u.id)
                    .bind(u.status.as_str())
                    .bind(&u.provider_payment_id)
                    .bind(&u.failure_code)
                    .bind(&u.failure_message)
                    .bind(u.provider_event_created)
                    .bind(u.updated_at);
                for from in &u.from {
                    query = query.bind(from.as_str());
                }
                // A second success for one invoice breaks a uniqueness rule: stale, not an error.
                match query.execute(&mut *conn).await {
                    Ok(r) => Ok((r.rows_affected() == 0).then_some(StaleGuard::PaymentStatus)),
                    Err(sqlx::Error::Database(err)) if err.is_unique_violation() => {
                        Ok(Some(StaleGuard::PaymentStatus))
                    }
                    Err(err) => Err(err),
                }
            }
            Change::SetDeviceLifecycle { device_id, from, to }
            | Change::MoveDeviceLifecycle { device_id, from, to } => {
                let guarded = matches!($change, Change::MoveDeviceLifecycle { .. });
                sqlx::query(
                    "UPDATE devices SET lifecycle_state = $3 WHERE id = $1 AND lifecycle_state = $2",
                )
                .bind(device_id)
                .bind(from.as_str())
                .bind(to.as_str())
                .execute(&mut *conn)
                .await
                .map(|r| (guarded && r.rows_affected() == 0).then_some(StaleGuard::DeviceLifecycle))
            }
            Change::SetDeviceNameLocation {
                device_id,
                name,
                location,
            } => sqlx::query("UPDATE devices SET name = $2, location = $3 WHERE id = $1")
                .bind(device_id)
                .bind(name)
                .bind(location)
                .execute(&mut *conn)
                .await
                .map(|_| None),
            Change::ClaimDevice {
                device_id,
                owner_id,
                at,
            } => affected(
                sqlx::query($crate::devices::CLAIM_DEVICE_SQL)
                    .bind(device_id)
                    .bind(owner_id)
                    .bind(at)
                    .execute(&mut *conn)
                    .await
                    .map(|r| r.rows_affected()),
                StaleGuard::DeviceLifecycle,
            ),
            Change::InsertSubscription(s) => unique_is_stale(
                sqlx::query($crate::subscriptions::INSERT_SUBSCRIPTION_SQL)
                    .bind(&s.id)
                    .bind(&s.device_id)
                    .bind(&s.customer_id)
                    .bind(&s.plan_id)
                    .bind(s.status.as_str())
                    .bind(s.anchor_at)
                    .bind(s.current_period_start)
                    .bind(s.current_period_end)
                    .bind(s.created_at)
                    .execute(&mut *conn)
                    .await,
                StaleGuard::SubscriptionExists,
            ),
            Change::SetSpendCap {
                subscription_id,
                cap_cents,
                now,
            } => sqlx::query($crate::subscriptions::SET_SPEND_CAP_SQL)
                .bind(subscription_id)
                .bind(cap_cents)
                .bind(now)
                .execute(&mut *conn)
                .await
                .map(|_| None),
            Change::SetUserPreferences {
                user_id,
                time_zone,
                quiet,
            } => sqlx::query($crate::portal::SET_USER_PREFERENCES_SQL)
                .bind(user_id)
                .bind(time_zone)
                .bind(quiet.0)
                .bind(quiet.1)
                .execute(&mut *conn)
                .await
                .map(|_| None),
            Change::SetDigestEnabled {
                user_id,
                enabled,
                now,
            } => sqlx::query($crate::notifications::SET_DIGEST_ENABLED_SQL)
                .bind(user_id)
                .bind(enabled)
                .bind(now)
                .execute(&mut *conn)
                .await
                .map(|_| None),
            Change::SetNotifyDeliveriesOnly { device_id, enabled } => {
                sqlx::query("UPDATE devices SET notify_deliveries_only = $2 WHERE id = $1")
                    .bind(device_id)
                    .bind(enabled)
                    .execute(&mut *conn)
                    .await
                    .map(|_| None)
            }
            Change::SetNotificationPref {
                device_id,
                channel,
                enabled,
            } => sqlx::query($crate::portal::SET_NOTIFICATION_PREF_SQL)
                .bind(device_id)
                .bind(channel)
                .bind(enabled)
                .execute(&mut *conn)
                .await
                .map(|_| None),
            Change::SetCheckinInterval {
                device_id,
                interval_s,
            } => sqlx::query("UPDATE devices SET checkin_interval_s = $2 WHERE id = $1")
                .bind(device_id)
                .bind(interval_s)
                .execute(&mut *conn)
                .await
                .map(|_| None),
            Change::InsertReturn(r) => sqlx::query(
                "INSERT INTO device_returns (id, device_id, customer_id, rma, reason, started_at) \
                 VALUES ($1, $2, $3, $4, $5, $6)",
            )
            .bind(&r.id)
            .bind(&r.device_id)
            .bind(&r.customer_id)
            .bind(&r.rma)
            .bind(&r.reason)
            .bind(r.started_at)
            .execute(&mut *conn)
            .await
            .map(|_| None),
            Change::IssuePasswordReset {
                token_hash,
                user_id,
                now,
                expires_at,
            } => {
                match sqlx::query($crate::sessions::VOID_RESETS)
                    .bind(user_id)
                    .bind(now)
                    .execute(&mut *conn)
                    .await
                {
                    Err(err) => Err(err),
                    Ok(_) => sqlx::query(
                        "INSERT INTO password_resets (token_hash, user_id, created_at, expires_at) \
                         VALUES ($1, $2, $3, $4)",
                    )
                    .bind(token_hash)
                    .bind(user_id)
                    .bind(now)
                    .bind(expires_at)
                    .execute(&mut *conn)
                    .await
                    .map(|_| None),
                }
            }
            Change::InsertCredit(c) => sqlx::query(
                "INSERT INTO credits (id, subscription_id, customer_id, amount_cents, description, \
                 created_at) VALUES ($1, $2, $3, $4, $5, $6)",
            )
            .bind(&c.id)
            .bind(&c.subscription_id)
            .bind(&c.customer_id)
            .bind(c.amount_cents)
            .bind(&c.description)
            .bind(c.created_at)
            .execute(&mut *conn)
            .await
            .map(|_| None),
            Change::ApplyCredit { id, invoice_id } => sqlx::query(
                "UPDATE credits SET applied_invoice_id = $2 WHERE id = $1 AND applied_invoice_id IS NULL",
            )
            .bind(id)
            .bind(invoice_id)
            .execute(&mut *conn)
            .await
            .map(|r| (r.rows_affected() == 0).then_some(StaleGuard::CreditPending)),
            Change::CloseReturn { id, received, at } => sqlx::query(if *received {
                "UPDATE device_returns SET received_at = $2 \
                 WHERE id = $1 AND canceled_at IS NULL AND received_at IS NULL"
            } else {
                "UPDATE device_returns SET canceled_at = $2 \
                 WHERE id = $1 AND canceled_at IS NULL AND received_at IS NULL"
            })
            .bind(id)
            .bind(at)
            .execute(&mut *conn)
            .await
            .map(|r| (r.rows_affected() == 0).then_some(StaleGuard::ReturnOpen)),
            Change::SetPasswordHash {
                user_id,
                password_hash,
            } => sqlx::query("UPDATE users SET password_hash = $2 WHERE id = $1")
                .bind(user_id)
                .bind(password_hash)
                .execute(&mut *conn)
                .await
                .map(|_| None),
            Change::EndOtherSessions {
                user_id,
                keep_token_hash,
            } => sqlx::query("DELETE FROM sessions WHERE user_id = $1 AND token_hash <> $2")
                .bind(user_id)
                .bind(keep_token_hash)
                .execute(&mut *conn)
                .await
                .map(|_| None),
            Change::EnqueueJob(job) => sqlx::query($crate::jobs::INSERT_JOB_SQL)
                .bind(&job.id)
                .bind(&job.kind)
                .bind(&job.payload)
                .bind(&job.unique_key)
                .bind(job.run_at)
                .bind(job.max_attempts)
                .execute(&mut *conn)
                .await
                .map(|_| None),
            Change::CancelQueuedJobs {
                key_prefix,
                reason,
                now,
            } => sqlx::query(
                "UPDATE jobs SET status = 'done', last_error = $2, updated_at = $3 \
                 WHERE status = 'queued' AND substr(unique_key, 1, length($1)) = $1",
            )
            .bind(key_prefix)
            .bind(reason)
            .bind(now)
            .execute(&mut *conn)
            .await
            .map(|_| None),
            Change::OpenUsagePeriod {
                subscription_id,
                period_start,
                period_end,
            } => sqlx::query(
                "INSERT INTO usage_periods (subscription_id, period_start, period_end) VALUES ($1, $2, $3) \
                 ON CONFLICT (subscription_id, period_start) DO NOTHING",
            )
            .bind(subscription_id)
            .bind(period_start)
            .bind(period_end)
            .execute(&mut *conn)
            .await
            .map(|_| None),
            Change::SetCustomerPaymentMethod {
                customer_id,
                payment_method_id,
                card,
                changed_at,
            } => affected(
                sqlx::query(
                    "UPDATE users SET default_payment_method_id = $2, payment_method_changed_at = $3, \
                     card_brand = $4, card_last4 = $5, card_exp_month = $6, card_exp_year = $7 \
                     WHERE id = $1 AND (payment_method_changed_at IS NULL OR payment_method_changed_at <= $3)",
                )
                .bind(customer_id)
                .bind(payment_method_id)
                .bind(changed_at)
                .bind(card.as_ref().map(|c| c.brand.as_str()))
                .bind(card.as_ref().map(|c| c.last4.as_str()))
                .bind(card.as_ref().map(|c| i64::from(c.exp_month)))
                .bind(card.as_ref().map(|c| i64::from(c.exp_year)))
                .execute(&mut *conn)
                .await
                .map(|r| r.rows_affected()),
                StaleGuard::PaymentMethodNewer,
            ),
            Change::SetProviderCustomer {
                customer_id,
                provider_customer_id,
            } => sqlx::query("UPDATE users SET provider_customer_id = $2 WHERE id = $1")
                .bind(customer_id)
                .bind(provider_customer_id)
                .execute(&mut *conn)
                .await
                .map(|_| None),
            Change::Audit(a) => sqlx::query(
                "INSERT INTO audit_log (at, actor, entity_type, entity_id, action, detail) \
                 VALUES ($1, $2, $3, $4, $5, $6)",
            )
            .bind(a.at)
            .bind(&a.actor)
            .bind(&a.entity_type)
            .bind(&a.entity_id)
            .bind(&a.action)
            .bind(&a.detail)
            .execute(&mut *conn)
            .await
            .map(|_| None),
            Change::RecordStripeEvent {
                id,
                event_type,
                created,
                processed_at,
            } => affected(
                sqlx::query(
                    "INSERT INTO stripe_events (id, event_type, created, processed_at) \
                     VALUES ($1, $2, $3, $4) ON CONFLICT (id) DO NOTHING",
                )
                .bind(id)
                .bind(event_type)
                .bind(created)
                .bind(processed_at)
                .execute(&mut *conn)
                .await
                .map(|r| r.rows_affected()),
                StaleGuard::EventProcessed,
            ),
            Change::ReplaceDeviceSecret {
                device_id,
                secret_ciphertext,
            } => sqlx::query("UPDATE devices SET secret_ciphertext = $2 WHERE id = $1")
                .bind(device_id)
                .bind(secret_ciphertext)
                .execute(&mut *conn)
                .await
                .map(|_| None),
            Change::RefurbishDevice {
                device_id,
                secret_ciphertext,
                claim_code_hash,
            } => {
                let moved = sqlx::query(
                    "UPDATE devices SET lifecycle_state = 'pre_activation', secret_ciphertext = $2, \
                     claim_code_hash = $3, owner_id = NULL, name = '', location = '', claimed_at = NULL, \
                     activated_at = NULL, shipped_at = NULL, return_received_at = NULL \
                     WHERE id = $1 AND lifecycle_state = 'returned'",
                )
                .bind(device_id)
                .bind(secret_ciphertext)
                .bind(claim_code_hash)
                .execute(&mut *conn)
                .await?
                .rows_affected();
                if moved == 0 {
                    Ok(Some(StaleGuard::DeviceLifecycle))
                } else {
                    sqlx::query("DELETE FROM device_wifi WHERE device_id = $1")
                        .bind(device_id)
                        .execute(&mut *conn)
                        .await?;
                    sqlx::query("DELETE FROM notification_prefs WHERE device_id = $1")
                        .bind(device_id)
                        .execute(&mut *conn)
                        .await
                        .map(|_| None)
                }
            }
            Change::SetAcquisitionSpend {
                month,
                channel,
                amount_cents,
                at,
            } => sqlx::query(
                "INSERT INTO acquisition_spend (month, channel, amount_cents, updated_at) \
                 VALUES ($1, $2, $3, $4) ON CONFLICT (month, channel) \
                 DO UPDATE SET amount_cents = excluded.amount_cents, updated_at = excluded.updated_at",
            )
            .bind(month)
            .bind(channel)
            .bind(amount_cents)
            .bind(at)
            .execute(&mut *conn)
            .await
            .map(|_| None),
            Change::RetryFailedJob { id, now } => affected(
                sqlx::query(
                    "UPDATE jobs SET status = 'queued', attempts = 0, run_at = $2, updated_at = $2 \
                     WHERE id = $1 AND status = 'failed'",
                )
                .bind(id)
                .bind(now)
                .execute(&mut *conn)
                .await
                .map(|r| r.rows_affected()),
                StaleGuard::JobStatus,
            ),
            Change::MarkDevice {
                device_id,
                mark,
                at,
            } => {
                let sql = match mark {
                    DeviceMark::Shipped => "UPDATE devices SET shipped_at = $2 WHERE id = $1",
                    DeviceMark::ReturnReceived => {
                        "UPDATE devices SET return_received_at = $2 WHERE id = $1"
                    }
                };
                sqlx::query(sql)
                    .bind(device_id)
                    .bind(at)
                    .execute(&mut *conn)
                    .await
                    .map(|_| None)
            }
            Change::AnonymiseUser {
                user_id,
                email,
                password_hash,
            } => {
                sqlx::query(
                    "UPDATE users SET email = $2, password_hash = $3, display_name = '', \
                     time_zone = 'UTC', quiet_start_min = NULL, quiet_end_min = NULL, \
                     default_payment_method_id = NULL, card_brand = NULL, card_last4 = NULL, \
                     card_exp_month = NULL, card_exp_year = NULL WHERE id = $1",
                )
                .bind(user_id)
                .bind(email)
                .bind(password_hash)
                .execute(&mut *conn)
                .await?;
                for sql in ANONYMISE_USER_SQL {
                    sqlx::query(sql).bind(user_id).execute(&mut *conn).await?;
                }
                Ok(None)
            }
            Change::SetDeviceWifi {
                device_id,
                ssid,
                sealed,
                version,
            } => sqlx::query($crate::device_wifi::SET_DEVICE_WIFI_SQL)
                .bind(device_id)
                .bind(ssid)
                .bind(sealed)
                .bind(version)
                .execute(&mut *conn)
                .await
                .map(|_| None),
            Change::SetCustomerWebhook {
                user_id,
                url,
                secret_ciphertext,
                at,
            } => sqlx::query($crate::notifications::SET_CUSTOMER_WEBHOOK_SQL)
                .bind(user_id)
                .bind(url)
                .bind(secret_ciphertext)
                .bind(at)
                .execute(&mut *conn)
                .await
                .map(|_| None),
            Change::DeleteCustomerWebhook { user_id } => {
                sqlx::query("DELETE FROM customer_webhooks WHERE user_id = $1")
                    .bind(user_id)
                    .execute(&mut *conn)
                    .await
                    .map(|_| None)
            }
            Change::SavePushSubscription(s) => {
                sqlx::query($crate::notifications::SAVE_PUSH_SUBSCRIPTION_SQL)
                    .bind(&s.endpoint)
                    .bind(&s.user_id)
                    .bind(&s.p256dh)
                    .bind(&s.auth)
                    .bind(s.created_at)
                    .execute(&mut *conn)
                    .await
                    .map(|_| None)
            }
            Change::DeletePushSubscription { user_id, endpoint } => {
                sqlx::query($crate::notifications::DELETE_PUSH_SUBSCRIPTION_SQL)
                    .bind(user_id)
                    .bind(endpoint)
                    .execute(&mut *conn)
                    .await
                    .map(|_| None)
            }
            Change::Ticket(crate::TicketChange::Insert(t)) => {
                sqlx::query($crate::tickets::INSERT_TICKET_SQL)
                    .bind(&t.id)
                    .bind(&t.customer_id)
                    .bind(&t.device_id)
                    .bind(&t.subject)
                    .bind(t.category.as_str())
                    .bind(t.status.as_str())
                    .bind(t.priority.as_str())
                    .bind(&t.assignee_id)
                    .bind(&t.context)
                    .bind(t.first_response_due_at)
                    .bind(t.first_responded_at)
                    .bind(t.solved_at)
                    .bind(t.created_at)
                    .bind(t.updated_at)
                    .bind(t.version)
                    .execute(&mut *conn)
                    .await
                    .map(|_| None)
            }
            Change::Ticket(crate::TicketChange::InsertMessage(m)) => {
                sqlx::query($crate::tickets::INSERT_MESSAGE_SQL)
                    .bind(&m.id)
                    .bind(&m.ticket_id)
                    .bind(&m.author_id)
                    .bind(m.from_staff)
                    .bind(m.internal)
                    .bind(&m.body)
                    .bind(m.created_at)
                    .execute(&mut *conn)
                    .await
                    .map(|_| None)
            }
            Change::Ticket(crate::TicketChange::Update(u)) => affected(
                sqlx::query($crate::tickets::UPDATE_TICKET_SQL)
                    .bind(&u.id)
                    .bind(u.expected_version)
                    .bind(u.status.as_str())
                    .bind(u.priority.as_str())
                    .bind(&u.assignee_id)
                    .bind(u.first_response_due_at)
                    .bind(u.first_responded_at)
                    .bind(u.solved_at)
                    .bind(u.updated_at)
                    .execute(&mut *conn)
                    .await
                    .map(|r| r.rows_affected()),
                StaleGuard::TicketVersion,
            ),
            Change::Ticket(crate::TicketChange::InsertSavedReply(r)) => unique_is_stale(
                sqlx::query($crate::tickets::INSERT_SAVED_REPLY_SQL)
                    .bind(&r.id)
                    .bind(&r.title)
                    .bind(&r.body)
                    .bind(&r.created_by)
                    .bind(r.created_at)
                    .execute(&mut *conn)
                    .await,
                StaleGuard::SavedReplyExists,
            ),
            Change::InsertRollout(r) => {
                let inserted = unique_is_stale(
                    sqlx::query($crate::rollouts::INSERT_ROLLOUT_SQL)
                        .bind(&r.id)
                        .bind(&r.version)
                        .bind(&r.hardware_revision)
                        .bind(r.soak_ms)
                        .bind(r.soak_confirmed_percent)
                        .bind(&r.created_by)
                        .bind(r.created_at)
                        .bind(&r.target_tag)
                        .execute(&mut *conn)
                        .await,
                    StaleGuard::RolloutOpen,
                )?;
                if inserted.is_none() {
                    for (position, stage) in r.stages.iter().enumerate() {
                        sqlx::query($crate::rollouts::INSERT_STAGE_SQL)
                            .bind(&r.id)
                            .bind(i64::try_from(position).unwrap_or(i64::MAX))
                            .bind(stage.percent)
                            .bind((position == 0).then_some(r.created_at))
                            .bind(stage.soak_ms)
                            .bind(stage.soak_confirmed_percent)
                            .execute(&mut *conn)
                            .await?;
                    }
                    for serial in &r.serials {
                        sqlx::query($crate::rollouts::INSERT_TARGET_SQL)
                            .bind(&r.id)
                            .bind(serial)
                            .execute(&mut *conn)
                            .await?;
                    }
                    sqlx::query($crate::rollouts::STAGE_IMAGE_SQL)
                        .bind(&r.version)
                        .execute(&mut *conn)
                        .await?;
                }
                Ok(inserted)
            }
            Change::MoveRollout {
                id,
                from,
                from_stage,
                to,
                to_stage,
                paused_reason,
                now,
            } => {
                let moved = sqlx::query($crate::rollouts::MOVE_ROLLOUT_SQL)
                    .bind(id)
                    .bind(from.as_str())
                    .bind(from_stage)
                    .bind(to.as_str())
                    .bind(to_stage)
                    .bind(paused_reason)
                    .bind(now)
                    .execute(&mut *conn)
                    .await?
                    .rows_affected();
                if moved == 0 {
                    Ok(Some(StaleGuard::RolloutState))
                } else {
                    sqlx::query($crate::rollouts::START_STAGE_SQL)
                        .bind(id)
                        .bind(to_stage)
                        .bind(now)
                        .execute(&mut *conn)
                        .await
                        .map(|_| None)
                }
            }
            Change::PinFirmware {
                device_id,
                version,
                reason,
                pinned_by,
                at,
            } => sqlx::query($crate::rollouts::PIN_SQL)
                .bind(device_id)
                .bind(version)
                .bind(reason)
                .bind(pinned_by)
                .bind(at)
                .execute(&mut *conn)
                .await
                .map(|_| None),
            Change::TagDevice {
                device_id,
                tag,
                tagged_by,
                at,
            } => sqlx::query($crate::rollouts::TAG_SQL)
                .bind(device_id)
                .bind(tag)
                .bind(tagged_by)
                .bind(at)
                .execute(&mut *conn)
                .await
                .map(|_| None),
            Change::UntagDevice { device_id, tag } => sqlx::query($crate::rollouts::UNTAG_SQL)
                .bind(device_id)
                .bind(tag)
                .execute(&mut *conn)
                .await
                .map(|_| None),
            Change::UnpinFirmware { device_id } => sqlx::query($crate::rollouts::UNPIN_SQL)
                .bind(device_id)
                .execute(&mut *conn)
                .await
                .map(|_| None),
        }
    }};
}

/// What [`Change::AnonymiseUser`] deletes and detaches after rewriting the user row, in order
/// (the mailboxes lose their owner last, once what hangs off them is gone).
const ANONYMISE_USER_SQL: [&str; 12] = [
    "DELETE FROM sessions WHERE user_id = $1",
    "DELETE FROM password_resets WHERE user_id = $1",
    "DELETE FROM email_changes WHERE user_id = $1",
    "DELETE FROM push_subscriptions WHERE user_id = $1",
    "DELETE FROM customer_webhooks WHERE user_id = $1",
    "DELETE FROM notification_digests WHERE user_id = $1",
    "DELETE FROM notification_deliveries WHERE user_id = $1",
    "DELETE FROM photo_data_keys WHERE customer_id = $1",
    "DELETE FROM notification_prefs WHERE device_id IN (SELECT id FROM devices WHERE owner_id = $1)",
    "DELETE FROM device_wifi WHERE device_id IN (SELECT id FROM devices WHERE owner_id = $1)",
    "DELETE FROM mailbox_references WHERE device_id IN (SELECT id FROM devices WHERE owner_id = $1)",
    "UPDATE devices SET owner_id = NULL, name = '', location = '' WHERE owner_id = $1",
];

impl Db {
    /// Writes one change set atomically; [`Applied::Stale`] when a guard did not hold (then
    /// nothing was written).
    pub async fn apply_changes(&self, changes: &Changes) -> Result<Applied> {
        let mut applied = self
            .apply_changes_batch(std::slice::from_ref(changes))
            .await?;
        Ok(applied.pop().unwrap_or(Applied::Done))
    }

    /// Writes many change sets in one transaction, each all-or-nothing on its own. Returns what
    /// happened to each, in order. On a database error nothing is written.
    ///
    /// Tries the fast path first (a few multi-row statements for the whole batch, see `bulk`)
    /// and falls back to a savepoint per change set when a guard other than a subscription
    /// version does not hold.
    pub async fn apply_changes_batch(&self, batch: &[Changes]) -> Result<Vec<Applied>> {
        if bulk::eligible(batch)
            && let Some(results) = bulk::apply(self, batch).await?
        {
            return Ok(results);
        }
        let backend = self.backend();
        // SQLite: take the write lock at BEGIN, so the transaction never has to upgrade a read
        // lock (which fails at once under contention instead of waiting).
        let begin = match backend {
            crate::Backend::Sqlite => "BEGIN IMMEDIATE",
            crate::Backend::Postgres => "BEGIN",
        };
        let results = on_pool!(self, pool => {
            let mut tx = pool.begin_with(begin).await?;
            let mut results = Vec::with_capacity(batch.len());
            for changes in batch {
                let mut savepoint = (&mut tx).begin().await?;
                let mut stale = None;
                for (op, change) in changes.ops.iter().enumerate() {
                    if let Some(guard) = run_change!(backend, &mut *savepoint, change)? {
                        stale = Some(Stale { op, guard });
                        break;
                    }
                }
                match stale {
                    Some(stale) => {
                        savepoint.rollback().await?;
                        results.push(Applied::Stale(stale));
                    }
                    None => {
                        savepoint.commit().await?;
                        results.push(Applied::Done);
                    }
                }
            }
            tx.commit().await?;
            results
        });
        Ok(results)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn invoice_numbers_are_zero_padded() {
        assert_eq!(invoice_number(42), "SB-0000042");
        assert_eq!(invoice_number(12_345_678), "SB-12345678");
    }

    #[test]
    fn placeholder_lists_count_from_the_first_number() {
        assert_eq!(placeholder_list(5, 3), "($5, $6, $7)");
    }
}
