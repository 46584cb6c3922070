//! Support tickets (issue 20): a customer's tickets and their threads, the staff inbox with its
//! filters, and the saved replies. Writes go through change sets ([`TicketChange`] inside
//! `Change::Ticket`), so each lands with its audit entry and its email jobs in one transaction;
//! a status change is guarded by the ticket's version.

use smartbox_domain::{TicketCategory, TicketId, TicketPriority, TicketStatus, UserId};

use crate::{Db, Result, on_pool};

/// A ticket as stored.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct TicketRow {
    pub id: String,
    pub customer_id: String,
    pub device_id: Option<String>,
    pub subject: String,
    #[sqlx(try_from = "String")]
    pub category: TicketCategory,
    #[sqlx(try_from = "String")]
    pub status: TicketStatus,
    #[sqlx(try_from = "String")]
    pub priority: TicketPriority,
    pub assignee_id: Option<String>,
    /// The frozen context, JSON text (staff only).
    pub context: String,
    pub first_response_due_at: i64,
    pub first_responded_at: Option<i64>,
    pub solved_at: Option<i64>,
    pub created_at: i64,
    pub updated_at: i64,
    pub version: i64,
}

impl TicketRow {
    /// Whether the first staff reply is late at `now`.
    pub fn overdue(&self, now: i64) -> bool {
        self.first_responded_at.is_none()
            && self.status.awaits_staff()
            && now > self.first_response_due_at
    }
}

/// A ticket in the staff inbox, with who asked and who handles it.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct TicketInboxRow {
    #[sqlx(flatten)]
    pub ticket: TicketRow,
    pub customer_email: String,
    pub assignee_email: Option<String>,
}

/// One message of a ticket's thread.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct TicketMessageRow {
    pub id: String,
    pub ticket_id: String,
    pub author_id: Option<String>,
    pub from_staff: bool,
    /// A staff note the customer never sees.
    pub internal: bool,
    pub body: String,
    pub created_at: i64,
}

/// An answer staff reuse.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct SavedReplyRow {
    pub id: String,
    pub title: String,
    pub body: String,
    pub created_by: Option<String>,
    pub created_at: i64,
}

/// A staff member (support or admin), for assigning and for new-ticket emails.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct StaffMember {
    pub id: String,
    pub email: String,
}

/// Who a ticket is assigned to, as an inbox filter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AssigneeFilter {
    Anyone,
    Nobody,
    Staff(UserId),
}

/// The inbox's filters; `None` matches everything.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TicketFilter {
    pub status: Option<TicketStatus>,
    pub priority: Option<TicketPriority>,
    pub assignee: AssigneeFilter,
    /// Only tickets whose first reply was due before this instant and not given.
    pub overdue_at: Option<i64>,
}

/// One ticket write (inside `Change::Ticket`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TicketChange {
    /// A new ticket (its first message is an [`TicketChange::InsertMessage`]).
    Insert(TicketRow),
    /// A message of the thread.
    InsertMessage(TicketMessageRow),
    /// *Guard*: the ticket must still be at `expected_version`; its status, priority,
    /// assignee and dates become these and the version is bumped.
    Update(TicketUpdate),
    /// *Guard* (uniqueness): a saved reply with a title not used yet.
    InsertSavedReply(SavedReplyRow),
}

/// The new values of a ticket's mutable columns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TicketUpdate {
    pub id: String,
    pub expected_version: i64,
    pub status: TicketStatus,
    pub priority: TicketPriority,
    pub assignee_id: Option<String>,
    pub first_response_due_at: i64,
    pub first_responded_at: Option<i64>,
    pub solved_at: Option<i64>,
    pub updated_at: i64,
}

impl TicketUpdate {
    /// The update that keeps everything of `row` as it is (the caller changes what it means to).
    pub fn of(row: &TicketRow, now: i64) -> TicketUpdate {
        TicketUpdate {
            id: row.id.clone(),
            expected_version: row.version,
            status: row.status,
            priority: row.priority,
            assignee_id: row.assignee_id.clone(),
            first_response_due_at: row.first_response_due_at,
            first_responded_at: row.first_responded_at,
            solved_at: row.solved_at,
            updated_at: now,
        }
    }
}

pub(crate) const INSERT_TICKET_SQL: &str = "INSERT INTO tickets (id, customer_id, device_id, subject, \
    category, status, priority, assignee_id, context, first_response_due_at, first_responded_at, \
    solved_at, created_at, updated_at, version) \
    VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)";

pub(crate) const INSERT_MESSAGE_SQL: &str = "INSERT INTO ticket_messages (id, ticket_id, author_id, \
    from_staff, internal, body, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7)";

pub(crate) const UPDATE_TICKET_SQL: &str = "UPDATE tickets SET status = $3, priority = $4, \
    assignee_id = $5, first_response_due_at = $6, first_responded_at = $7, solved_at = $8, \
    updated_at = $9, version = version + 1 WHERE id = $1 AND version = $2";

pub(crate) const INSERT_SAVED_REPLY_SQL: &str = "INSERT INTO saved_replies (id, title, body, \
    created_by, created_at) VALUES ($1, $2, $3, $4, $5)";

const TICKET_COLUMNS: &str = "t.id, t.customer_id, t.device_id, t.subject, t.category, t.status, \
    t.priority, t.assignee_id, t.context, t.first_response_due_at, t.first_responded_at, \
    t.solved_at, t.created_at, t.updated_at, t.version";

const MESSAGE_COLUMNS: &str = "id, ticket_id, author_id, from_staff, internal, body, created_at";

impl Db {
    /// The ticket `id`, whoever's it is.
    pub async fn ticket_by_id(&self, id: &TicketId) -> Result<Option<TicketRow>> {
        let sql = format!("SELECT {TICKET_COLUMNS} FROM tickets t WHERE t.id = $1");
        Ok(
            on_pool!(self, pool => sqlx::query_as(sqlx::AssertSqlSafe(sql.as_str()))
            .bind(id.as_str())
            .fetch_optional(pool)
            .await)?,
        )
    }

    /// A customer's tickets, the most recently active first.
    pub async fn tickets_of_customer(&self, customer: &UserId) -> Result<Vec<TicketRow>> {
        let sql = format!(
            "SELECT {TICKET_COLUMNS} FROM tickets t WHERE t.customer_id = $1 \
             ORDER BY t.updated_at DESC, t.id"
        );
        Ok(
            on_pool!(self, pool => sqlx::query_as(sqlx::AssertSqlSafe(sql.as_str()))
            .bind(customer.as_str())
            .fetch_all(pool)
            .await)?,
        )
    }

    /// The staff inbox: tickets matching `filter`, the first reply due soonest first among
    /// those awaiting staff, then the most recently active; at most `limit`.
    pub async fn ticket_inbox(
        &self,
        filter: &TicketFilter,
        limit: i64,
    ) -> Result<Vec<TicketInboxRow>> {
        let (assignee_mode, assignee) = match &filter.assignee {
            AssigneeFilter::Anyone => ("any", ""),
            AssigneeFilter::Nobody => ("none", ""),
            AssigneeFilter::Staff(id) => ("one", id.as_str()),
        };
        let sql = format!(
            "SELECT {TICKET_COLUMNS}, c.email AS customer_email, a.email AS assignee_email \
             FROM tickets t JOIN users c ON c.id = t.customer_id \
             LEFT JOIN users a ON a.id = t.assignee_id \
             WHERE ($1 = '' OR t.status = $1) AND ($2 = '' OR t.priority = $2) \
             AND ($3 = 'any' OR ($3 = 'none' AND t.assignee_id IS NULL) OR t.assignee_id = $4) \
             AND ($5 < 0 OR (t.first_responded_at IS NULL AND t.status IN ('new', 'open') \
                  AND t.first_response_due_at < $5)) \
             ORDER BY CASE WHEN t.status IN ('new', 'open') THEN 0 ELSE 1 END, \
             CASE WHEN t.status IN ('new', 'open') THEN t.first_response_due_at ELSE -t.updated_at END, t.id \
             LIMIT $6"
        );
        Ok(
            on_pool!(self, pool => sqlx::query_as(sqlx::AssertSqlSafe(sql.as_str()))
            .bind(filter.status.map_or("", |s| s.as_str()))
            .bind(filter.priority.map_or("", |p| p.as_str()))
            .bind(assignee_mode)
            .bind(assignee)
            .bind(filter.overdue_at.unwrap_or(-1))
            .bind(limit)
            .fetch_all(pool)
            .await)?,
        )
    }

    /// A ticket's thread, oldest first; staff notes only when `with_internal`.
    pub async fn ticket_messages(
        &self,
        ticket: &TicketId,
        with_internal: bool,
    ) -> Result<Vec<TicketMessageRow>> {
        let sql = format!(
            "SELECT {MESSAGE_COLUMNS} FROM ticket_messages WHERE ticket_id = $1 \
             AND ($2 OR internal = FALSE) ORDER BY created_at, id"
        );
        Ok(
            on_pool!(self, pool => sqlx::query_as(sqlx::AssertSqlSafe(sql.as_str()))
            .bind(ticket.as_str())
            .bind(with_internal)
            .fetch_all(pool)
            .await)?,
        )
    }

    /// The message `id` of a ticket.
    pub async fn ticket_message(&self, id: &str) -> Result<Option<TicketMessageRow>> {
        let sql = format!("SELECT {MESSAGE_COLUMNS} FROM ticket_messages WHERE id = $1");
        Ok(
            on_pool!(self, pool => sqlx::query_as(sqlx::AssertSqlSafe(sql.as_str()))
            .bind(id)
            .fetch_optional(pool)
            .await)?,
        )
    }

    /// Every saved reply, by title.
    pub async fn saved_replies(&self) -> Result<Vec<SavedReplyRow>> {
        Ok(on_pool!(self, pool => sqlx::query_as(
            "SELECT id, title, body, created_by, created_at FROM saved_replies ORDER BY title",
        )
        .fetch_all(pool)
        .await)?)
    }

    /// Every support and admin account, by email.
    pub async fn staff_members(&self) -> Result<Vec<StaffMember>> {
        Ok(on_pool!(self, pool => sqlx::query_as(
            "SELECT id, email FROM users WHERE role IN ('support', 'admin') ORDER BY email",
        )
        .fetch_all(pool)
        .await)?)
    }
}
