//! What the admin console reads beyond the customer's own queries: counts for the overview, the
//! dates staff record on a mailbox, and the audit trail across entities.

use smartbox_domain::{DeviceId, LifecycleState, SubscriptionStatus, UserId};

use crate::devices::{DEVICE_COLUMNS, DEVICE_FROM};
use crate::jobs::JOB_COLUMNS;
use crate::{AuditEntry, Db, DeviceRow, JobRow, Result, on_pool};

/// The dates staff record on a mailbox (epoch ms).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, sqlx::FromRow)]
pub struct StaffDates {
    pub shipped_at: Option<i64>,
    pub return_received_at: Option<i64>,
}

/// Counts for the admin overview.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Overview {
    pub customers: i64,
    pub devices_by_lifecycle: Vec<(LifecycleState, i64)>,
    pub subscriptions_by_status: Vec<(SubscriptionStatus, i64)>,
    pub failed_jobs: i64,
    /// Mailboxes in service whose last heartbeat is older than their check-in interval plus
    /// the slack: late, not merely asleep.
    pub overdue: i64,
}

/// A mailbox in the inventory, with its owner's email.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct InventoryRow {
    #[sqlx(flatten)]
    pub device: DeviceRow,
    pub owner_email: Option<String>,
}

/// A customer in the admin search.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct CustomerRow {
    pub id: String,
    pub email: String,
    pub display_name: String,
    pub created_at: i64,
    /// Mailboxes they own now.
    pub devices: i64,
}

/// The inventory's filters; `None` matches everything.
#[derive(Debug, Clone, Default)]
pub struct InventoryFilter<'a> {
    pub lifecycle: Option<LifecycleState>,
    /// Exactly this firmware version (as last reported).
    pub firmware: Option<&'a str>,
    /// Not heard from since this instant (epoch ms), or never.
    pub silent_since: Option<i64>,
    /// Battery below this percentage.
    pub battery_below: Option<i64>,
    /// Signal below this dBm.
    pub signal_below: Option<i64>,
}

/// Which audit entries to list; empty strings match everything.
#[derive(Debug, Clone, Default)]
pub struct AuditFilter<'a> {
    pub actor: &'a str,
    pub entity_type: &'a str,
    pub entity_id: &'a str,
    pub action: &'a str,
}

impl Db {
    /// When staff shipped the device and received it back; `None` for an unknown device.
    pub async fn device_staff_dates(&self, device_id: &DeviceId) -> Result<Option<StaffDates>> {
        Ok(on_pool!(self, pool => sqlx::query_as(
            "SELECT shipped_at, return_received_at FROM devices WHERE id = $1",
        )
        .bind(device_id.as_str())
        .fetch_optional(pool)
        .await)?)
    }

    /// One page of the inventory by serial: mailboxes after `after_serial` (keyset) matching
    /// `filter`, at most `limit`.
    pub async fn inventory_page(
        &self,
        filter: &InventoryFilter<'_>,
        after_serial: &str,
        limit: i64,
    ) -> Result<Vec<InventoryRow>> {
        let sql = format!(
            "SELECT {DEVICE_COLUMNS}, u.email AS owner_email FROM {DEVICE_FROM} \
             LEFT JOIN users u ON u.id = d.owner_id \
             WHERE ($1 = '' OR d.lifecycle_state = $1) AND d.serial > $2 \
             AND ($4 = '' OR v.firmware_version = $4) \
             AND ($5 < 0 OR v.recorded_at IS NULL OR v.recorded_at < $5) \
             AND ($6 < 0 OR v.battery_percentage < $6) \
             AND ($7 > 0 OR v.signal_dbm < $7) \
             ORDER BY d.serial LIMIT $3"
        );
        Ok(
            on_pool!(self, pool => sqlx::query_as(sqlx::AssertSqlSafe(sql.as_str()))
            .bind(filter.lifecycle.map_or("", |l| l.as_str()))
            .bind(after_serial)
            .bind(limit)
            .bind(filter.firmware.unwrap_or(""))
            .bind(filter.silent_since.unwrap_or(-1))
            .bind(filter.battery_below.unwrap_or(-1))
            .bind(filter.signal_below.unwrap_or(1))
            .fetch_all(pool)
            .await)?,
        )
    }

    /// Customers matching `q`, by email: an email starting with it, a name containing it, or
    /// exactly the serial of a mailbox they own or had a subscription on, or the number of one
    /// of their invoices. An empty `q` lists everyone. At most `limit`, after skipping `offset`.
    pub async fn customers_page(
        &self,
        q: &str,
        limit: i64,
        offset: i64,
    ) -> Result<Vec<CustomerRow>> {
        let q = q.trim();
        let lower = q.to_lowercase();
        let like_escaped = lower
            .replace('\\', "\\\\")
            .replace('%', "\\%")
            .replace('_', "\\_");
        let exact = q.to_uppercase();
        Ok(on_pool!(self, pool => sqlx::query_as(
            "SELECT u.id, u.email, u.display_name, u.created_at, \
             (SELECT COUNT(*) FROM devices d WHERE d.owner_id = u.id) AS devices \
             FROM users u WHERE u.role = 'customer' AND ($1 = '' \
             OR u.email LIKE $2 ESCAPE '\\' \
             OR LOWER(u.display_name) LIKE $3 ESCAPE '\\' \
             OR u.id IN (SELECT d.owner_id FROM devices d WHERE d.serial = $4) \
             OR u.id IN (SELECT s.customer_id FROM subscriptions s JOIN devices d ON d.id = s.device_id WHERE d.serial = $4) \
             OR u.id IN (SELECT i.customer_id FROM invoices i WHERE i.number = $4)) \
             ORDER BY u.email LIMIT $5 OFFSET $6",
        )
        .bind(q)
        .bind(format!("{like_escaped}%"))
        .bind(format!("%{like_escaped}%"))
        .bind(&exact)
        .bind(limit)
        .bind(offset)
        .fetch_all(pool)
        .await)?)
    }

    /// The audit trail of a customer: entries about their account, the mailboxes they own,
    /// their subscriptions and invoices; newest first, at most `limit`.
    pub async fn audit_of_customer(
        &self,
        customer_id: &UserId,
        limit: i64,
    ) -> Result<Vec<AuditEntry>> {
        Ok(on_pool!(self, pool => sqlx::query_as(
            "SELECT id, at, actor, entity_type, entity_id, action, detail FROM audit_log \
             WHERE (entity_type = 'user' AND entity_id = $1) \
             OR (entity_type = 'device' AND entity_id IN (SELECT id FROM devices WHERE owner_id = $1)) \
             OR (entity_type = 'subscription' AND entity_id IN (SELECT id FROM subscriptions WHERE customer_id = $1)) \
             OR (entity_type = 'invoice' AND entity_id IN (SELECT id FROM invoices WHERE customer_id = $1)) \
             ORDER BY at DESC, id DESC LIMIT $2",
        )
        .bind(customer_id.as_str())
        .bind(limit)
        .fetch_all(pool)
        .await)?)
    }

    /// Customers, mailboxes by lifecycle state, subscriptions by status, failed jobs, and the
    /// mailboxes in service overdue at `now` (last heartbeat + check-in interval + `slack_ms`).
    pub async fn admin_overview(&self, now: i64, slack_ms: i64) -> Result<Overview> {
        let (customers,): (i64,) = on_pool!(self, pool => sqlx::query_as(
            "SELECT COUNT(*) FROM users WHERE role = 'customer'",
        )
        .fetch_one(pool)
        .await)?;
        let lifecycles: Vec<(String, i64)> = on_pool!(self, pool => sqlx::query_as(
            "SELECT lifecycle_state, COUNT(*) FROM devices GROUP BY lifecycle_state",
        )
        .fetch_all(pool)
        .await)?;
        let statuses: Vec<(String, i64)> = on_pool!(self, pool => sqlx::query_as(
            "SELECT status, COUNT(*) FROM subscriptions GROUP BY status",
        )
        .fetch_all(pool)
        .await)?;
        let (failed_jobs,): (i64,) = on_pool!(self, pool => sqlx::query_as(
            "SELECT COUNT(*) FROM jobs WHERE status = 'failed'",
        )
        .fetch_one(pool)
        .await)?;
        let (overdue,): (i64,) = on_pool!(self, pool => sqlx::query_as(
            "SELECT COUNT(*) FROM devices d JOIN device_latest_vitals v ON v.device_id = d.id \
             WHERE d.lifecycle_state = 'active_subscription' \
             AND v.recorded_at + d.checkin_interval_s * 1000 + $2 < $1",
        )
        .bind(now)
        .bind(slack_ms)
        .fetch_one(pool)
        .await)?;
        let count_of = |rows: &[(String, i64)], name: &str| {
            rows.iter().find(|(n, _)| n == name).map_or(0, |(_, c)| *c)
        };
        Ok(Overview {
            customers,
            devices_by_lifecycle: LifecycleState::ALL
                .iter()
                .map(|s| (*s, count_of(&lifecycles, s.as_str())))
                .collect(),
            subscriptions_by_status: SubscriptionStatus::ALL
                .iter()
                .map(|s| (*s, count_of(&statuses, s.as_str())))
                .collect(),
            failed_jobs,
            overdue,
        })
    }

    /// Jobs that failed for good, newest first (by their last update), at most `limit`; of
    /// `kind` when not empty.
    pub async fn failed_jobs(&self, kind: &str, limit: i64) -> Result<Vec<JobRow>> {
        let sql = format!(
            "SELECT {JOB_COLUMNS} FROM jobs WHERE status = 'failed' AND ($1 = '' OR kind = $1) \
             ORDER BY updated_at DESC, id LIMIT $2"
        );
        Ok(
            on_pool!(self, pool => sqlx::query_as(sqlx::AssertSqlSafe(sql.as_str()))
            .bind(kind)
            .bind(limit)
            .fetch_all(pool)
            .await)?,
        )
    }

    /// Audit entries matching `filter`, newest first, at most `limit`.
    pub async fn audit_entries(
        &self,
        filter: &AuditFilter<'_>,
        limit: i64,
    ) -> Result<Vec<AuditEntry>> {
        Ok(on_pool!(self, pool => sqlx::query_as(
            "SELECT id, at, actor, entity_type, entity_id, action, detail FROM audit_log \
             WHERE ($1 = '' OR actor = $1) AND ($2 = '' OR entity_type = $2) \
             AND ($3 = '' OR entity_id = $3) AND ($4 = '' OR action = $4) \
             ORDER BY at DESC, id DESC LIMIT $5",
        )
        .bind(filter.actor)
        .bind(filter.entity_type)
        .bind(filter.entity_id)
        .bind(filter.action)
        .bind(limit)
        .fetch_all(pool)
        .await)?)
    }
}
