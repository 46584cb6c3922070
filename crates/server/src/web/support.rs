//! `/support` (issue 20): the customer's tickets, asking a new question (prefilled from the
//! link that brought them: `?subject=&category=&device=&message=`, so every "ask support" in the
//! portal says what went wrong), and one ticket's thread with a reply form, close and reopen.
//! The actions are `services::tickets`; a refused message comes back with what was typed.

use axum::Form;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use minijinja::{Value, context};
use serde::Deserialize;
use smartbox_domain::ticket::{MAX_MESSAGE_CHARS, MAX_SUBJECT_CHARS};
use smartbox_domain::{DeviceId, SubscriptionStatus, TicketCategory, TicketId, TicketStatus};
use smartbox_store::DeviceRow;

use super::format::date_time;
use super::{PageError, render};
use crate::accounts::{CurrentUser, Visitor};
use crate::services::devices::display_name;
use crate::services::tickets::{self, NewTicket};
use crate::services::{Actor, ServiceError};
use crate::state::AppState;

fn actor(user: &CurrentUser) -> Actor {
    Actor::customer(user.user.id.as_str())
}

/// What a category is called on the pages.
pub fn category_label(category: TicketCategory) -> &'static str {
    match category {
        TicketCategory::Billing => "Billing",
        TicketCategory::Mailbox => "Mailbox",
        TicketCategory::PhotosNotifications => "Photos and notifications",
        TicketCategory::Other => "Other",
    }
}

/// Where a ticket stands, for the customer.
pub fn status_label(status: TicketStatus) -> &'static str {
    match status {
        TicketStatus::New | TicketStatus::Open => "Waiting for support",
        TicketStatus::WaitingOnCustomer => "Answered",
        TicketStatus::Solved => "Closed",
    }
}

/// The address of the new-ticket form prefilled with what went wrong (empty values left out).
pub fn ask_link(
    subject: &str,
    category: TicketCategory,
    device: Option<&str>,
    message: &str,
) -> String {
    let mut link = format!(
        "/support/new?category={}&subject={}",
        category.as_str(),
        super::error::encode_query(subject)
    );
    if let Some(device) = device {
        link.push_str(&format!("&device={}", super::error::encode_query(device)));
    }
    if !message.is_empty() {
        link.push_str(&format!("&message={}", super::error::encode_query(message)));
    }
    link
}

/// The billing page's way to support for one subscription: a warning and a prefilled link when
/// a payment failed or the mailbox is suspended, a plain link otherwise.
pub fn billing_help(status: SubscriptionStatus, device: Option<&DeviceRow>) -> Value {
    let name = device
        .map(display_name)
        .unwrap_or_else(|| "my mailbox".to_owned());
    let (trouble, subject, message) = match status {
        SubscriptionStatus::PastDue => (
            Some("A payment for this mailbox failed."),
            format!("Payment failed for {name}"),
            "A payment for my mailbox failed and it is past due.",
        ),
        SubscriptionStatus::Suspended => (
            Some("This mailbox is suspended for an unpaid bill."),
            format!("{name} is suspended"),
            "My mailbox is suspended for an unpaid bill.",
        ),
        _ => (None, format!("Billing question about {name}"), ""),
    };
    let href = ask_link(
        &subject,
        TicketCategory::Billing,
        device.map(|d| d.id.as_str()),
        message,
    );
    let label = if trouble.is_some() {
        "Ask support about it"
    } else {
        "Questions about this bill? Ask support"
    };
    context! { trouble => trouble, href => href, label => label }
}

/// `GET /support`.
pub async fn list(
    State(state): State<AppState>,
    visitor: Visitor,
    user: CurrentUser,
) -> Result<Response, PageError> {
    let tz = &user.user.time_zone;
    let tickets: Vec<Value> = tickets::list_own(&state, &actor(&user))
        .await?
        .iter()
        .map(|t| {
            context! {
                id => t.id, subject => t.subject, category => category_label(t.category),
                status => status_label(t.status), answered => t.status == TicketStatus::WaitingOnCustomer,
                updated => date_time(t.updated_at, tz),
            }
        })
        .collect();
    render::ok(
        &visitor,
        "support.html",
        context! { title => "Support", nav => "support", tickets => tickets },
    )
}

/// The new-ticket form's fields, as sent or as prefilled by a link.
#[derive(Debug, Deserialize, Default)]
pub struct AskForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    subject: String,
    #[serde(default)]
    category: String,
    #[serde(default)]
    device: String,
    #[serde(default)]
    message: String,
}

async fn ask_page(
    state: &AppState,
    visitor: &Visitor,
    user: &CurrentUser,
    form: &AskForm,
    status: StatusCode,
    error: Option<String>,
) -> Result<Response, PageError> {
    let devices: Vec<Value> = state
        .db
        .devices_of_owner(&user.user.id)
        .await?
        .iter()
        .map(|d| context! { id => d.id, name => display_name(d), selected => d.id == form.device })
        .collect();
    let categories: Vec<Value> = TicketCategory::ALL
        .iter()
        .map(|c| {
            context! { value => c.as_str(), label => category_label(*c), selected => c.as_str() == form.category }
        })
        .collect();
    render::page(
        visitor,
        status,
        "support_new.html",
        context! {
            title => "Ask support", nav => "support", error => error,
            subject => form.subject.chars().take(MAX_SUBJECT_CHARS).collect::<String>(),
            message => form.message.clone(), devices => devices, categories => categories,
            max_subject => MAX_SUBJECT_CHARS, max_message => MAX_MESSAGE_CHARS,
        },
    )
}

/// `GET /support/new`, prefilled from the query.
pub async fn new_page(
    State(state): State<AppState>,
    visitor: Visitor,
    user: CurrentUser,
    Query(form): Query<AskForm>,
) -> Result<Response, PageError> {
    ask_page(&state, &visitor, &user, &form, StatusCode::OK, None).await
}

/// `POST /support/new`: opens the ticket, or shows the form again with what is wrong.
pub async fn open(
    State(state): State<AppState>,
    visitor: Visitor,
    user: CurrentUser,
    Form(form): Form<AskForm>,
) -> Result<Response, PageError> {
    if !visitor.csrf_matches(&form.csrf) {
        return Err(PageError::bad_csrf());
    }
    let input = NewTicket {
        subject: form.subject.clone(),
        message: form.message.clone(),
        category: form.category.clone(),
        device_id: (!form.device.is_empty()).then(|| DeviceId::new(form.device.clone())),
    };
    match tickets::open(&state, &actor(&user), input).await {
        Ok(ticket) => {
            Ok(Redirect::to(&format!("/support/{}?done=opened", ticket.id)).into_response())
        }
        Err(ServiceError::Invalid { message, .. }) => {
            ask_page(
                &state,
                &visitor,
                &user,
                &form,
                StatusCode::BAD_REQUEST,
                Some(message),
            )
            .await
        }
        Err(err) => Err(err.into()),
    }
}

#[derive(Debug, Deserialize, Default)]
pub struct TicketQuery {
    #[serde(default)]
    done: String,
}

/// What the ticket page shows beside the thread: a confirmation, or a refused reply with its
/// text kept.
#[derive(Debug, Default)]
struct Shown<'a> {
    draft: &'a str,
    error: Option<String>,
    notice: Option<&'static str>,
}

async fn ticket_page(
    state: &AppState,
    visitor: &Visitor,
    user: &CurrentUser,
    id: &TicketId,
    status: StatusCode,
    shown: Shown<'_>,
) -> Result<Response, PageError> {
    let tz = &user.user.time_zone;
    let thread = tickets::thread(state, &actor(user), id).await?;
    let t = &thread.ticket;
    let device = match &t.device_id {
        Some(id) => state.db.device_by_id(id).await?.map(|d| display_name(&d)),
        None => None,
    };
    let messages: Vec<Value> = thread
        .messages
        .iter()
        .map(|m| {
            context! {
                from => if m.from_staff { "Support" } else { "You" }, staff => m.from_staff,
                when => date_time(m.created_at, tz), body => m.body,
            }
        })
        .collect();
    render::page(
        visitor,
        status,
        "support_ticket.html",
        context! {
            title => t.subject.clone(), nav => "support", id => t.id, subject => t.subject,
            category => category_label(t.category), status => status_label(t.status),
            solved => t.status == TicketStatus::Solved, mailbox => device,
            opened => date_time(t.created_at, tz), messages => messages,
            draft => shown.draft, error => shown.error, notice => shown.notice, max_message => MAX_MESSAGE_CHARS,
        },
    )
}

/// `GET /support/{id}`.
pub async fn ticket(
    State(state): State<AppState>,
    visitor: Visitor,
    user: CurrentUser,
    Path(id): Path<String>,
    Query(q): Query<TicketQuery>,
) -> Result<Response, PageError> {
    let notice = match q.done.as_str() {
        "opened" => Some("Your question is sent. We answer by email and here."),
        "replied" => Some("Your reply is sent."),
        "closed" => Some("The ticket is closed. Reply or reopen it if you need more help."),
        "reopened" => Some("The ticket is open again."),
        _ => None,
    };
    let id = TicketId::new(id);
    let shown = Shown {
        notice,
        ..Shown::default()
    };
    ticket_page(&state, &visitor, &user, &id, StatusCode::OK, shown).await
}

#[derive(Debug, Deserialize)]
pub struct ReplyForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    message: String,
}

/// `POST /support/{id}`: the customer's reply; a refused one comes back with what was typed.
pub async fn reply(
    State(state): State<AppState>,
    visitor: Visitor,
    user: CurrentUser,
    Path(id): Path<String>,
    Form(form): Form<ReplyForm>,
) -> Result<Response, PageError> {
    if !visitor.csrf_matches(&form.csrf) {
        return Err(PageError::bad_csrf());
    }
    let id = TicketId::new(id);
    match tickets::reply(&state, &actor(&user), &id, &form.message).await {
        Ok(_) => Ok(Redirect::to(&format!("/support/{id}?done=replied")).into_response()),
        Err(ServiceError::Invalid { message, .. }) => {
            ticket_page(
                &state,
                &visitor,
                &user,
                &id,
                StatusCode::BAD_REQUEST,
                Shown {
                    draft: &form.message,
                    error: Some(message),
                    notice: None,
                },
            )
            .await
        }
        Err(err) => Err(err.into()),
    }
}

#[derive(Debug, Deserialize)]
pub struct CsrfForm {
    #[serde(default)]
    csrf: String,
}

/// `POST /support/{id}/close` and `/reopen`.
pub async fn close_or_reopen(
    State(state): State<AppState>,
    visitor: Visitor,
    user: CurrentUser,
    Path((id, action)): Path<(String, String)>,
    Form(form): Form<CsrfForm>,
) -> Result<Response, PageError> {
    if !visitor.csrf_matches(&form.csrf) {
        return Err(PageError::bad_csrf());
    }
    let id = TicketId::new(id);
    let done = match action.as_str() {
        "close" => {
            tickets::solve(&state, &actor(&user), &id).await?;
            "closed"
        }
        "reopen" => {
            tickets::reopen(&state, &actor(&user), &id).await?;
            "reopened"
        }
        _ => return Err(PageError::not_found("This page")),
    };
    Ok(Redirect::to(&format!("/support/{id}?done={done}")).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_support_link_carries_what_went_wrong() {
        assert_eq!(
            ask_link(
                "Payment failed",
                TicketCategory::Billing,
                Some("d 1"),
                "card & bank"
            ),
            "/support/new?category=billing&subject=Payment%20failed&device=d%201&message=card%20%26%20bank"
        );
        assert_eq!(
            ask_link("Help", TicketCategory::Other, None, ""),
            "/support/new?category=other&subject=Help"
        );
    }
}
