//! Support tickets (issue 20): a customer asks (subject, message, category, optionally a
//! mailbox) and staff answer. Opening freezes the mailbox's and the account's state beside the
//! ticket ([`super::ticket_context`]); staff reply, add internal notes the customer never sees,
//! assign, set the priority and the status; the customer replies, closes and reopens.
//!
//! Every change is one change set: the ticket's rows, the audit entry of a staff action, and the
//! email jobs (`ticket_email`, one per recipient under a unique key, so a retried request or job
//! never mails twice) are written together or not at all. A customer reaches only their own
//! tickets (another's is "not found") and never an internal note.

use serde::{Deserialize, Serialize};
use smartbox_domain::ticket::{MAX_MESSAGE_CHARS, MAX_SUBJECT_CHARS, ticket_text};
use smartbox_domain::{
    DeviceId, SubscriptionStatus, TicketCategory, TicketEvent, TicketId, TicketPriority,
    TicketStatus, UserId,
};
use smartbox_store::changes::{Applied, AuditRecord, Change, Changes, QueuedJob};
use smartbox_store::{SavedReplyRow, TicketChange, TicketMessageRow, TicketRow, TicketUpdate};

use super::staff_devices::require_staff;
use super::ticket_context::{self, TicketContext};
use super::{Actor, ServiceError, StaffRole};
use crate::state::AppState;

/// The job that emails one recipient about a ticket. Payload [`TicketEmail`].
pub const TICKET_EMAIL: &str = "ticket_email";
/// Attempts of a ticket email before it is failed (about 40 minutes of retries).
const EMAIL_ATTEMPTS: i64 = 9;
/// Longest saved reply title, in characters.
pub const MAX_TITLE_CHARS: usize = 80;

/// What a `ticket_email` job sends.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum TicketEmail {
    /// Tell the staff member `to` that a ticket was opened.
    NewTicket { ticket_id: String, to: String },
    /// Tell the customer that staff answered (the message is named, never sent).
    StaffReply {
        ticket_id: String,
        message_id: String,
    },
}

/// What a customer asks.
#[derive(Debug, Clone, Default)]
pub struct NewTicket {
    pub subject: String,
    pub message: String,
    /// A [`TicketCategory`] name.
    pub category: String,
    /// One of the customer's mailboxes, if the question is about one.
    pub device_id: Option<DeviceId>,
}

/// A ticket with the thread its reader may see.
#[derive(Debug, Clone)]
pub struct TicketThread {
    pub ticket: TicketRow,
    pub messages: Vec<TicketMessageRow>,
    /// The frozen context, for staff only (`None` for the customer).
    pub context: Option<TicketContext>,
}

fn invalid(code: &'static str, message: impl Into<String>) -> ServiceError {
    ServiceError::Invalid {
        code,
        message: message.into(),
    }
}

fn text(what: &'static str, value: &str, max: usize) -> Result<String, ServiceError> {
    ticket_text(what, value, max).map_err(|err| invalid("invalid_ticket_text", err.to_string()))
}

fn category(name: &str) -> Result<TicketCategory, ServiceError> {
    name.trim().parse().map_err(|_| {
        invalid(
            "invalid_category",
            "Choose what the question is about: billing, mailbox, photos and notifications, or other.",
        )
    })
}

fn new_id() -> String {
    uuid::Uuid::now_v7().to_string()
}

fn email_job(email: &TicketEmail, unique_key: String, now: i64) -> Change {
    Change::EnqueueJob(QueuedJob {
        id: new_id(),
        kind: TICKET_EMAIL.to_owned(),
        payload: serde_json::to_string(email).unwrap_or_default(),
        unique_key: Some(unique_key),
        run_at: now,
        max_attempts: EMAIL_ATTEMPTS,
    })
}

/// The audit entry of a staff action on the ticket `ticket`.
fn audit(actor: &Actor, ticket: &str, action: &str, detail: serde_json::Value, now: i64) -> Change {
    audit_of(actor, "ticket", ticket, action, detail, now)
}

fn audit_of(
    actor: &Actor,
    entity_type: &str,
    entity_id: &str,
    action: &str,
    detail: serde_json::Value,
    now: i64,
) -> Change {
    Change::Audit(AuditRecord {
        at: now,
        actor: actor.audit_name(),
        entity_type: entity_type.to_owned(),
        entity_id: entity_id.to_owned(),
        action: action.to_owned(),
        detail: detail.to_string(),
    })
}

/// The ticket `id` if the actor may see it: a customer only their own.
async fn readable(
    state: &AppState,
    actor: &Actor,
    id: &TicketId,
) -> Result<TicketRow, ServiceError> {
    let ticket = state
        .db
        .ticket_by_id(id)
        .await?
        .filter(|t| actor.may_act_for(Some(&t.customer_id)))
        .ok_or_else(|| ServiceError::not_found("ticket", id.as_str()))?;
    match actor {
        Actor::Customer(_) | Actor::Staff { .. } => Ok(ticket),
        Actor::Job(_) | Actor::Cli => Err(ServiceError::not_found("ticket", id.as_str())),
    }
}

/// Writes `changes`; a stale ticket version is a conflict the reader can retry.
async fn write(state: &AppState, changes: &Changes) -> Result<(), ServiceError> {
    match state.db.apply_changes(changes).await? {
        Applied::Done => {
            state.jobs_enqueued();
            Ok(())
        }
        Applied::Stale(_) => Err(ServiceError::Conflict(
            "The ticket changed meanwhile. Reload it and try again.".into(),
        )),
    }
}

/// Opens a ticket for the customer `actor` with the first message, freezes the context and
/// emails every staff member. A question about a past-due or suspended mailbox is high priority.
pub async fn open(
    state: &AppState,
    actor: &Actor,
    input: NewTicket,
) -> Result<TicketRow, ServiceError> {
    let Actor::Customer(customer) = actor else {
        return Err(ServiceError::Forbidden(
            "Only a customer opens a ticket.".into(),
        ));
    };
    let subject = text("subject", &input.subject, MAX_SUBJECT_CHARS)?;
    let message = text("message", &input.message, MAX_MESSAGE_CHARS)?;
    let category = category(&input.category)?;
    let device = match &input.device_id {
        Some(id) => Some(super::devices::get(state, actor, id).await?),
        None => {
            let mut owned = state.db.devices_of_owner(customer.as_str()).await?;
            (owned.len() == 1).then(|| owned.remove(0))
        }
    };
    let now = state.clock.now_ms();
    let context = ticket_context::take(state, customer.as_str(), device.as_ref(), now).await?;
    let priority = match context.subscription.as_ref().map(|s| s.status) {
        Some(SubscriptionStatus::PastDue | SubscriptionStatus::Suspended) => TicketPriority::High,
        _ => TicketPriority::Normal,
    };
    let ticket = TicketRow {
        id: new_id(),
        customer_id: customer.to_string(),
        device_id: device.map(|d| d.id),
        subject,
        category,
        status: TicketStatus::New,
        priority,
        assignee_id: None,
        context: serde_json::to_string(&context).map_err(anyhow::Error::from)?,
        first_response_due_at: now + priority.first_response_ms(),
        first_responded_at: None,
        solved_at: None,
        created_at: now,
        updated_at: now,
        version: 0,
    };
    let mut changes = Changes::new();
    changes.push(Change::Ticket(TicketChange::Insert(ticket.clone())));
    changes.push(Change::Ticket(TicketChange::InsertMessage(
        TicketMessageRow {
            id: new_id(),
            ticket_id: ticket.id.clone(),
            author_id: Some(customer.to_string()),
            from_staff: false,
            internal: false,
            body: message,
            created_at: now,
        },
    )));
    for staff in state.db.staff_members().await? {
        let email = TicketEmail::NewTicket {
            ticket_id: ticket.id.clone(),
            to: staff.id.clone(),
        };
        changes.push(email_job(
            &email,
            format!("ticket-email:new:{}:{}", ticket.id, staff.id),
            now,
        ));
    }
    write(state, &changes).await?;
    tracing::info!(ticket = %ticket.id, category = %ticket.category, "support ticket opened");
    Ok(ticket)
}

/// The customer's own tickets, the most recently active first.
pub async fn list_own(state: &AppState, actor: &Actor) -> Result<Vec<TicketRow>, ServiceError> {
    match actor {
        Actor::Customer(id) => Ok(state.db.tickets_of_customer(id).await?),
        _ => Err(ServiceError::not_found("page", "")),
    }
}

/// The ticket with the thread the actor may read: a customer without internal notes and
/// without the frozen context, staff with both.
pub async fn thread(
    state: &AppState,
    actor: &Actor,
    id: &TicketId,
) -> Result<TicketThread, ServiceError> {
    let ticket = readable(state, actor, id).await?;
    let staff = matches!(actor, Actor::Staff { .. });
    let messages = state.db.ticket_messages(id, staff).await?;
    let context = if staff {
        serde_json::from_str(&ticket.context).ok()
    } else {
        None
    };
    Ok(TicketThread {
        ticket,
        messages,
        context,
    })
}

/// A message to the other side: the customer writes back (a solved ticket opens again), or
/// staff answer (the customer is emailed a link; the first answer meets the due time).
pub async fn reply(
    state: &AppState,
    actor: &Actor,
    id: &TicketId,
    body: &str,
) -> Result<TicketMessageRow, ServiceError> {
    let ticket = readable(state, actor, id).await?;
    let body = text("message", body, MAX_MESSAGE_CHARS)?;
    let now = state.clock.now_ms();
    let (from_staff, author, event) = match actor {
        Actor::Customer(id) => (false, id.clone(), TicketEvent::CustomerReply),
        Actor::Staff { id, .. } => (true, id.clone(), TicketEvent::StaffReply),
        Actor::Job(_) | Actor::Cli => return Err(ServiceError::not_found("ticket", id.as_str())),
    };
    let status = ticket
        .status
        .apply(event)
        .map_err(|err| ServiceError::Conflict(err.to_string()))?;
    let message = TicketMessageRow {
        id: new_id(),
        ticket_id: ticket.id.clone(),
        author_id: Some(author.to_string()),
        from_staff,
        internal: false,
        body,
        created_at: now,
    };
    let mut update = TicketUpdate::of(&ticket, now);
    update.status = status;
    update.solved_at = None;
    if from_staff && update.first_responded_at.is_none() {
        update.first_responded_at = Some(now);
    }
    let mut changes = Changes::new();
    changes.push(Change::Ticket(TicketChange::Update(update)));
    changes.push(Change::Ticket(TicketChange::InsertMessage(message.clone())));
    if from_staff {
        changes.push(audit(
            actor,
            &ticket.id,
            "ticket_reply",
            serde_json::json!({ "message_id": message.id, "from": ticket.status, "to": status }),
            now,
        ));
        let email = TicketEmail::StaffReply {
            ticket_id: ticket.id.clone(),
            message_id: message.id.clone(),
        };
        changes.push(email_job(
            &email,
            format!("ticket-email:reply:{}", message.id),
            now,
        ));
    }
    write(state, &changes).await?;
    Ok(message)
}

/// An internal note on a ticket: staff only, never shown to the customer, nobody emailed.
pub async fn add_note(
    state: &AppState,
    actor: &Actor,
    id: &TicketId,
    body: &str,
) -> Result<TicketMessageRow, ServiceError> {
    require_staff(actor, StaffRole::Support)?;
    let ticket = readable(state, actor, id).await?;
    let body = text("note", body, MAX_MESSAGE_CHARS)?;
    let now = state.clock.now_ms();
    let Actor::Staff { id: author, .. } = actor else {
        return Err(ServiceError::not_found("ticket", id.as_str()));
    };
    let note = TicketMessageRow {
        id: new_id(),
        ticket_id: ticket.id.clone(),
        author_id: Some(author.to_string()),
        from_staff: true,
        internal: true,
        body,
        created_at: now,
    };
    let mut changes = Changes::new();
    changes.push(Change::Ticket(TicketChange::Update(TicketUpdate::of(
        &ticket, now,
    ))));
    changes.push(Change::Ticket(TicketChange::InsertMessage(note.clone())));
    changes.push(audit(
        actor,
        &ticket.id,
        "ticket_note",
        serde_json::json!({ "message_id": note.id }),
        now,
    ));
    write(state, &changes).await?;
    Ok(note)
}

/// What staff change on a ticket beside the thread.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TicketSetting {
    /// To a staff member, or nobody.
    Assignee(Option<UserId>),
    /// A new priority; an unanswered ticket's due time follows it.
    Priority(TicketPriority),
    /// A status set by hand.
    Status(TicketStatus),
}

/// Staff change the assignee, the priority or the status, with an audit entry (before, after).
pub async fn set(
    state: &AppState,
    actor: &Actor,
    id: &TicketId,
    setting: TicketSetting,
) -> Result<TicketRow, ServiceError> {
    require_staff(actor, StaffRole::Support)?;
    let ticket = readable(state, actor, id).await?;
    let now = state.clock.now_ms();
    let mut update = TicketUpdate::of(&ticket, now);
    let (action, before, after) = match &setting {
        TicketSetting::Assignee(assignee) => {
            if let Some(assignee) = assignee {
                let staff = state.db.staff_members().await?;
                if !staff.iter().any(|s| s.id == assignee.as_str()) {
                    return Err(invalid(
                        "invalid_assignee",
                        "A ticket is assigned to a support or admin account.",
                    ));
                }
            }
            update.assignee_id = assignee.as_ref().map(ToString::to_string);
            (
                "ticket_assign",
                serde_json::json!(ticket.assignee_id),
                serde_json::json!(update.assignee_id),
            )
        }
        TicketSetting::Priority(priority) => {
            update.priority = *priority;
            if ticket.first_responded_at.is_none() {
                update.first_response_due_at = ticket.created_at + priority.first_response_ms();
            }
            (
                "ticket_priority",
                serde_json::json!(ticket.priority),
                serde_json::json!(priority),
            )
        }
        TicketSetting::Status(status) => {
            update.status = ticket
                .status
                .apply(TicketEvent::Set(*status))
                .map_err(|_| ServiceError::Conflict(format!("The ticket is {status} already.")))?;
            update.solved_at = (*status == TicketStatus::Solved).then_some(now);
            (
                "ticket_status",
                serde_json::json!(ticket.status),
                serde_json::json!(status),
            )
        }
    };
    let mut changes = Changes::new();
    changes.push(Change::Ticket(TicketChange::Update(update)));
    changes.push(audit(
        actor,
        &ticket.id,
        action,
        serde_json::json!({ "before": before, "after": after }),
        now,
    ));
    write(state, &changes).await?;
    readable(state, actor, id).await
}

/// The customer (or staff) closes a ticket as solved.
pub async fn solve(
    state: &AppState,
    actor: &Actor,
    id: &TicketId,
) -> Result<TicketRow, ServiceError> {
    move_status(state, actor, id, TicketEvent::Solve).await
}

/// The customer (or staff) opens a solved ticket again.
pub async fn reopen(
    state: &AppState,
    actor: &Actor,
    id: &TicketId,
) -> Result<TicketRow, ServiceError> {
    move_status(state, actor, id, TicketEvent::Reopen).await
}

async fn move_status(
    state: &AppState,
    actor: &Actor,
    id: &TicketId,
    event: TicketEvent,
) -> Result<TicketRow, ServiceError> {
    let ticket = readable(state, actor, id).await?;
    let status = ticket.status.apply(event).map_err(|_| {
        ServiceError::Conflict(match event {
            TicketEvent::Solve => "This ticket is closed already.".to_owned(),
            _ => "Only a closed ticket can be reopened.".to_owned(),
        })
    })?;
    let now = state.clock.now_ms();
    let mut update = TicketUpdate::of(&ticket, now);
    update.status = status;
    update.solved_at = (status == TicketStatus::Solved).then_some(now);
    let mut changes = Changes::new();
    changes.push(Change::Ticket(TicketChange::Update(update)));
    if matches!(actor, Actor::Staff { .. }) {
        changes.push(audit(
            actor,
            &ticket.id,
            "ticket_status",
            serde_json::json!({ "before": ticket.status, "after": status }),
            now,
        ));
    }
    write(state, &changes).await?;
    readable(state, actor, id).await
}

/// Staff save an answer to reuse, under a title no other saved reply has.
pub async fn save_reply(
    state: &AppState,
    actor: &Actor,
    title: &str,
    body: &str,
) -> Result<SavedReplyRow, ServiceError> {
    require_staff(actor, StaffRole::Support)?;
    let title = text("title", title, MAX_TITLE_CHARS)?;
    let body = text("reply", body, MAX_MESSAGE_CHARS)?;
    let now = state.clock.now_ms();
    let Actor::Staff { id: author, .. } = actor else {
        return Err(ServiceError::not_found("page", ""));
    };
    let reply = SavedReplyRow {
        id: new_id(),
        title,
        body,
        created_by: Some(author.to_string()),
        created_at: now,
    };
    let mut changes = Changes::new();
    changes.push(Change::Ticket(TicketChange::InsertSavedReply(
        reply.clone(),
    )));
    changes.push(audit_of(
        actor,
        "saved_reply",
        &reply.id,
        "create",
        serde_json::json!({ "title": reply.title }),
        now,
    ));
    match state.db.apply_changes(&changes).await? {
        Applied::Done => Ok(reply),
        Applied::Stale(_) => Err(ServiceError::Conflict(format!(
            "A saved reply is called \"{}\" already.",
            reply.title
        ))),
    }
}
