//! `/admin/tickets` (issue 20): the support inbox (filters: status, priority, assignee, overdue;
//! the first reply due soonest first) and a ticket's page: the thread with internal notes, the
//! context frozen when the customer opened it (mailbox vitals and status, last mail with
//! thumbnails, firmware, subscription and usage, invoices, failed payments), links to the
//! customer's and the mailbox's pages, and the forms to reply (with saved replies), note, assign,
//! prioritise and set the status. Each action is one `services::tickets` call.

use axum::Form;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use minijinja::{Value, context};
use serde::Deserialize;
use smartbox_domain::ticket::MAX_MESSAGE_CHARS;
use smartbox_domain::{LifecycleState, TicketId, TicketPriority, TicketStatus, UserId};
use smartbox_store::{AssigneeFilter, TicketFilter, TicketInboxRow, TicketRow};

use super::{Staff, templates};
use crate::services::ServiceError;
use crate::services::ticket_context::TicketContext;
use crate::services::tickets::{self, TicketSetting};
use crate::state::AppState;
use crate::web::PageError;
use crate::web::format::{bytes, date_time, money};
use crate::web::gallery::reading_label;
use crate::web::status_line::{Activity, sending, status_line};
use crate::web::support::category_label;
use crate::web::words;

/// Tickets listed at most.
pub const LIMIT: i64 = 200;

/// What staff call a status.
pub fn status_label(status: TicketStatus) -> &'static str {
    match status {
        TicketStatus::New => "New",
        TicketStatus::Open => "Open",
        TicketStatus::WaitingOnCustomer => "Waiting on customer",
        TicketStatus::Solved => "Solved",
    }
}

/// What staff call a priority.
pub fn priority_label(priority: TicketPriority) -> &'static str {
    match priority {
        TicketPriority::Low => "Low",
        TicketPriority::Normal => "Normal",
        TicketPriority::High => "High",
        TicketPriority::Urgent => "Urgent",
    }
}

/// The inbox's filters, as typed in the page's form or the API's query.
#[derive(Debug, Deserialize, Default)]
pub struct InboxQuery {
    #[serde(default)]
    pub status: String,
    #[serde(default)]
    pub priority: String,
    /// Empty: anyone; `none`: nobody; `me`: the asking staff member; else a staff id.
    #[serde(default)]
    pub assignee: String,
    /// `1` (or `true`): only tickets whose first reply is late.
    #[serde(default)]
    pub overdue: String,
}

impl InboxQuery {
    /// The store's filter for `staff` at `now`, or a sentence naming the bad value.
    pub fn filter(&self, staff: &Staff, now: i64) -> Result<TicketFilter, String> {
        let status = match self.status.trim() {
            "" => None,
            s => Some(s.parse::<TicketStatus>().map_err(|err| err.to_string())?),
        };
        let priority = match self.priority.trim() {
            "" => None,
            p => Some(p.parse::<TicketPriority>().map_err(|err| err.to_string())?),
        };
        let assignee = match self.assignee.trim() {
            "" => AssigneeFilter::Anyone,
            "none" => AssigneeFilter::Nobody,
            "me" => AssigneeFilter::Staff(UserId::new(staff.current.user.id.as_str())),
            id => AssigneeFilter::Staff(UserId::new(id)),
        };
        let overdue_at = match self.overdue.trim() {
            "" | "0" | "false" => None,
            "1" | "true" => Some(now),
            other => return Err(format!("overdue must be 1 or 0, not {other:?}.")),
        };
        Ok(TicketFilter {
            status,
            priority,
            assignee,
            overdue_at,
        })
    }
}

fn when(ms: Option<i64>) -> String {
    ms.map(|ms| date_time(ms, "UTC")).unwrap_or_default()
}

fn inbox_row(row: &TicketInboxRow, now: i64) -> Value {
    let t = &row.ticket;
    context! {
        id => t.id, subject => t.subject, customer => row.customer_email, customer_id => t.customer_id,
        status => status_label(t.status), priority => priority_label(t.priority),
        urgent => matches!(t.priority, TicketPriority::High | TicketPriority::Urgent),
        category => category_label(t.category), assignee => row.assignee_email.clone().unwrap_or_default(),
        due => if t.first_responded_at.is_some() { String::new() } else { date_time(t.first_response_due_at, "UTC") },
        overdue => t.overdue(now), updated => date_time(t.updated_at, "UTC"),
    }
}

fn choices<T: Copy + PartialEq>(
    all: &[T],
    current: &str,
    name: impl Fn(T) -> &'static str,
    label: impl Fn(T) -> &'static str,
) -> Vec<Value> {
    all.iter()
        .map(
            |v| context! { value => name(*v), label => label(*v), selected => name(*v) == current },
        )
        .collect()
}

/// `GET /admin/tickets`.
pub async fn inbox(
    State(state): State<AppState>,
    staff: Staff,
    Query(q): Query<InboxQuery>,
) -> Result<Response, PageError> {
    let now = state.clock.now_ms();
    let filter = q
        .filter(&staff, now)
        .map_err(|message| PageError::Status(StatusCode::BAD_REQUEST, message))?;
    let rows: Vec<Value> = state
        .db
        .ticket_inbox(&filter, LIMIT)
        .await?
        .iter()
        .map(|r| inbox_row(r, now))
        .collect();
    let assignees: Vec<Value> = state
        .db
        .staff_members()
        .await?
        .iter()
        .map(|s| context! { value => s.id, label => s.email, selected => s.id == q.assignee })
        .collect();
    templates::page(
        &staff,
        StatusCode::OK,
        "admin/tickets.html",
        context! {
            title => "Tickets", nav => "tickets", notice => None::<String>, tickets => rows,
            statuses => choices(TicketStatus::ALL, &q.status, TicketStatus::as_str, status_label),
            priorities => choices(TicketPriority::ALL, &q.priority, TicketPriority::as_str, priority_label),
            assignees => assignees, assignee => q.assignee, overdue => !q.overdue.is_empty() && q.overdue != "0",
        },
    )
}

/// The frozen context in words, at the instant it was taken.
fn context_view(ticket: &TicketRow, context: &TicketContext) -> Value {
    let at = context.taken_at;
    let mailbox = context.mailbox.as_ref().map(|m| {
        let device = m.as_device();
        let latest = m.events.first().map(|e| e.as_event_row(&m.id));
        let activity = Activity {
            sending: sending(latest.as_ref(), at),
            returning: m.returning,
            ended: m.ended,
            // Suspended while the subscription still allows service: staff held the mailbox.
            held_by_staff: device.lifecycle_state == LifecycleState::Suspended
                && context
                    .subscription
                    .as_ref()
                    .is_some_and(|s| s.status.allows_service()),
        };
        let line = status_line(&device, activity, at, "UTC");
        let events: Vec<Value> = m
            .events
            .iter()
            .map(|e| {
                let thumbs: Vec<String> = (0..e.photos_received.min(e.photo_count))
                    .map(|i| format!("/admin/tickets/{}/photos/{}/{i}", ticket.id, e.id))
                    .collect();
                context! {
                    when => date_time(e.occurred_at, "UTC"), thumbs => thumbs,
                    reading => reading_label(e.mail_kind.as_deref(), e.category.as_deref(), None, false),
                    photos => words::count(e.photo_count, "photo", "photos"),
                }
            })
            .collect();
        context! {
            id => m.id, serial => m.serial, name => m.name, location => m.location,
            lifecycle => words::lifecycle(m.lifecycle), status => line.text, warn => line.warn,
            battery => m.battery_percentage, signal => m.signal_dbm, network => words::network(m.network.as_deref()),
            firmware => m.firmware_version.clone().unwrap_or_default(), last_seen => when(m.last_seen_at),
            queue => m.sd_queue_len, events => events,
        }
    });
    let subscription = context.subscription.as_ref().map(|s| {
        context! {
            plan => words::capital(&s.plan), status => words::subscription(s.status), past_due_since => when(s.past_due_since),
            period => format!("{} to {}", date_time(s.period_start, "UTC"), date_time(s.period_end, "UTC")),
            cancel_at_period_end => s.cancel_at_period_end,
            notifications => s.notifications, notification_limit => s.notification_limit.map_or("unlimited".to_owned(), |n| n.to_string()),
            data => bytes(s.data_bytes), data_limit => bytes(s.data_limit_bytes),
        }
    });
    let invoices: Vec<Value> = context
        .invoices
        .iter()
        .map(|i| context! { number => i.number, status => words::invoice(i.status), total => money(i.total_cents), issued => date_time(i.created_at, "UTC") })
        .collect();
    let failures: Vec<Value> = context
        .payment_failures
        .iter()
        .map(|p| context! {
            amount => money(p.amount_cents), when => date_time(p.created_at, "UTC"),
            reason => p.failure_message.clone().or_else(|| p.failure_code.clone()).unwrap_or_default(),
        })
        .collect();
    context! {
        taken => date_time(at, "UTC"), mailbox => mailbox, subscription => subscription,
        invoices => invoices, failures => failures,
    }
}

#[derive(Debug, Deserialize, Default)]
pub struct TicketQuery {
    #[serde(default)]
    done: String,
    /// A saved reply to put in the reply box.
    #[serde(default)]
    reply: String,
}

/// What the forms of the ticket page hold: a refused reply or note with its text kept, or the
/// saved reply a `?reply=` link put in the reply box.
#[derive(Debug, Default)]
struct Draft {
    reply: String,
    note: String,
    saved_reply: String,
    error: Option<String>,
}

async fn ticket_page(
    state: &AppState,
    staff: &Staff,
    id: &TicketId,
    status: StatusCode,
    draft: Draft,
    notice: Option<&'static str>,
) -> Result<Response, PageError> {
    let thread = tickets::thread(state, &staff.actor(), id).await?;
    let t = &thread.ticket;
    let now = state.clock.now_ms();
    let customer = state
        .db
        .user_by_id(&t.customer_id)
        .await?
        .map(|u| u.email)
        .unwrap_or_default();
    let staff_members = state.db.staff_members().await?;
    let author = |id: &Option<String>, from_staff: bool| -> String {
        match id {
            Some(id) if from_staff => staff_members
                .iter()
                .find(|s| &s.id == id)
                .map_or_else(|| "Staff".to_owned(), |s| s.email.clone()),
            _ => customer.clone(),
        }
    };
    let messages: Vec<Value> = thread
        .messages
        .iter()
        .map(|m| context! {
            from => author(&m.author_id, m.from_staff), staff => m.from_staff, internal => m.internal,
            when => date_time(m.created_at, "UTC"), body => m.body,
        })
        .collect();
    let assignees: Vec<Value> = staff_members
        .iter()
        .map(|s| context! { value => s.id, label => s.email, selected => Some(&s.id) == t.assignee_id.as_ref() })
        .collect();
    let saved = state.db.saved_replies().await?;
    let reply = if draft.reply.is_empty() {
        saved
            .iter()
            .find(|r| r.id == draft.saved_reply)
            .map(|r| r.body.clone())
            .unwrap_or_default()
    } else {
        draft.reply.clone()
    };
    let saved: Vec<Value> = saved
        .iter()
        .map(|r| context! { id => r.id, title => r.title, body => r.body })
        .collect();
    let context = thread.context.as_ref().map(|c| context_view(t, c));
    templates::page(
        staff,
        status,
        "admin/ticket.html",
        context! {
            title => t.subject.clone(), nav => "tickets", notice => notice,
            ticket => context! {
                id => t.id, subject => t.subject, customer => customer, customer_id => t.customer_id,
                device_id => t.device_id, category => category_label(t.category), status => status_label(t.status),
                priority => priority_label(t.priority), opened => date_time(t.created_at, "UTC"),
                due => date_time(t.first_response_due_at, "UTC"), answered => when(t.first_responded_at),
                overdue => t.overdue(now),
            },
            statuses => choices(TicketStatus::ALL, t.status.as_str(), TicketStatus::as_str, status_label),
            priorities => choices(TicketPriority::ALL, t.priority.as_str(), TicketPriority::as_str, priority_label),
            assignees => assignees, messages => messages, context => context, saved => saved,
            reply => reply, note => draft.note, error => draft.error, max_message => MAX_MESSAGE_CHARS,
        },
    )
}

/// `GET /admin/tickets/{id}`.
pub async fn page(
    State(state): State<AppState>,
    staff: Staff,
    Path(id): Path<String>,
    Query(q): Query<TicketQuery>,
) -> Result<Response, PageError> {
    let notice = match q.done.as_str() {
        "reply" => Some("Reply sent; the customer is emailed a link."),
        "note" => Some("Internal note added."),
        "settings" => Some("Saved."),
        "saved_reply" => Some("Saved reply added."),
        _ => None,
    };
    let draft = Draft {
        saved_reply: q.reply,
        ..Draft::default()
    };
    ticket_page(
        &state,
        &staff,
        &TicketId::new(id),
        StatusCode::OK,
        draft,
        notice,
    )
    .await
}

#[derive(Debug, Deserialize)]
pub struct TextForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    body: String,
}

/// `POST /admin/tickets/{id}/reply` and `/note`: a refused text comes back in its box.
pub async fn write(
    State(state): State<AppState>,
    staff: Staff,
    Path((id, action)): Path<(String, String)>,
    Form(form): Form<TextForm>,
) -> Result<Response, PageError> {
    if !staff.csrf_matches(&form.csrf) {
        return Err(PageError::bad_csrf());
    }
    let id = TicketId::new(id);
    let actor = staff.actor();
    let written = match action.as_str() {
        "reply" => tickets::reply(&state, &actor, &id, &form.body).await,
        "note" => tickets::add_note(&state, &actor, &id, &form.body).await,
        _ => return Err(PageError::not_found("This page")),
    };
    match written {
        Ok(_) => Ok(Redirect::to(&format!("/admin/tickets/{id}?done={action}")).into_response()),
        Err(ServiceError::Invalid { message, .. }) => {
            let mut draft = Draft {
                error: Some(message),
                ..Draft::default()
            };
            if action == "reply" {
                draft.reply = form.body;
            } else {
                draft.note = form.body;
            }
            ticket_page(&state, &staff, &id, StatusCode::BAD_REQUEST, draft, None).await
        }
        Err(err) => Err(err.into()),
    }
}

#[derive(Debug, Deserialize)]
pub struct SettingsForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    assignee: String,
    #[serde(default)]
    priority: String,
    #[serde(default)]
    status: String,
}

/// The settings staff changed, compared with the ticket as it is.
pub fn changed_settings(
    ticket: &TicketRow,
    assignee: Option<&str>,
    priority: Option<&str>,
    status: Option<&str>,
) -> Result<Vec<TicketSetting>, String> {
    let mut settings = Vec::new();
    if let Some(assignee) = assignee.map(str::trim) {
        let wanted = (!assignee.is_empty()).then_some(assignee);
        if wanted != ticket.assignee_id.as_deref() {
            settings.push(TicketSetting::Assignee(wanted.map(UserId::new)));
        }
    }
    if let Some(priority) = priority.map(str::trim).filter(|p| !p.is_empty()) {
        let priority = priority
            .parse::<TicketPriority>()
            .map_err(|err| err.to_string())?;
        if priority != ticket.priority {
            settings.push(TicketSetting::Priority(priority));
        }
    }
    if let Some(status) = status.map(str::trim).filter(|s| !s.is_empty()) {
        let status = status
            .parse::<TicketStatus>()
            .map_err(|err| err.to_string())?;
        if status != ticket.status {
            settings.push(TicketSetting::Status(status));
        }
    }
    Ok(settings)
}

/// Applies `settings` to the ticket, one service call (and audit entry) each.
pub async fn apply_settings(
    state: &AppState,
    staff: &Staff,
    id: &TicketId,
    settings: Vec<TicketSetting>,
) -> Result<(), ServiceError> {
    for setting in settings {
        tickets::set(state, &staff.actor(), id, setting).await?;
    }
    Ok(())
}

/// `POST /admin/tickets/{id}/settings`: assignee, priority and status in one form.
pub async fn settings(
    State(state): State<AppState>,
    staff: Staff,
    Path(id): Path<String>,
    Form(form): Form<SettingsForm>,
) -> Result<Response, PageError> {
    if !staff.csrf_matches(&form.csrf) {
        return Err(PageError::bad_csrf());
    }
    let id = TicketId::new(id);
    let ticket = tickets::thread(&state, &staff.actor(), &id).await?.ticket;
    let settings = changed_settings(
        &ticket,
        Some(&form.assignee),
        Some(&form.priority),
        Some(&form.status),
    )
    .map_err(|message| PageError::Status(StatusCode::BAD_REQUEST, message))?;
    apply_settings(&state, &staff, &id, settings).await?;
    Ok(Redirect::to(&format!("/admin/tickets/{id}?done=settings")).into_response())
}

#[derive(Debug, Deserialize)]
pub struct SavedReplyForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    title: String,
    #[serde(default)]
    body: String,
    /// The ticket page to go back to.
    #[serde(default)]
    ticket: String,
}

/// `POST /admin/tickets/saved-replies`: a new saved reply, back to the ticket it was written on.
pub async fn save_reply(
    State(state): State<AppState>,
    staff: Staff,
    Form(form): Form<SavedReplyForm>,
) -> Result<Response, PageError> {
    if !staff.csrf_matches(&form.csrf) {
        return Err(PageError::bad_csrf());
    }
    tickets::save_reply(&state, &staff.actor(), &form.title, &form.body).await?;
    let back = if form.ticket.is_empty() {
        "/admin/tickets".to_owned()
    } else {
        format!(
            "/admin/tickets/{}?done=saved_reply",
            crate::web::error::encode_query(&form.ticket)
        )
    };
    Ok(Redirect::to(&back).into_response())
}

/// `GET /admin/tickets/{id}/photos/{event_id}/{index}`: the thumbnail of a photo of a mail
/// event in the ticket's frozen context (and of no other event).
pub async fn photo(
    State(state): State<AppState>,
    staff: Staff,
    Path((id, event_id, index)): Path<(String, String, i64)>,
) -> Result<Response, PageError> {
    let thread = tickets::thread(&state, &staff.actor(), &TicketId::new(id)).await?;
    let in_context = thread
        .context
        .and_then(|c| c.mailbox)
        .is_some_and(|m| m.events.iter().any(|e| e.id == event_id));
    let not_found = || PageError::not_found("This photo");
    if !in_context {
        return Err(not_found());
    }
    let photo = state
        .db
        .photos_of_event(&event_id)
        .await?
        .into_iter()
        .find(|p| p.idx == index)
        .ok_or_else(not_found)?;
    let key = photo.thumbnail_key.as_deref().unwrap_or(&photo.blob_key);
    crate::web::photos::jpeg(&state, key, crate::web::photos::CACHED).await
}
