//! The device inventory and a mailbox's admin page with its lifecycle actions: mark shipped,
//! receive a return, refurbish (the new secret and claim code shown once), decommission.

use axum::Form;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use minijinja::{Value, context};
use serde::Deserialize;
use smartbox_domain::{DeviceId, LifecycleEvent, LifecycleState};
use smartbox_store::{DeviceRow, InventoryFilter, InventoryRow};

use super::{Staff, templates};
use crate::services::{staff_devices, staff_service};
use crate::state::AppState;
use crate::web::PageError;
use crate::web::format::date_time;
use crate::web::words;

/// Rows per inventory page.
pub const PAGE_SIZE: i64 = 100;

/// The inventory's filters.
#[derive(Debug, Deserialize, Default)]
pub struct InventoryQuery {
    #[serde(default)]
    pub lifecycle: String,
    #[serde(default)]
    pub firmware: String,
    /// Not heard from for this many hours (or never).
    #[serde(default)]
    pub silent_hours: String,
    /// Battery below this percentage.
    #[serde(default)]
    pub battery_below: String,
    /// Signal below this dBm (e.g. -100).
    #[serde(default)]
    pub signal_below: String,
    #[serde(default)]
    pub after: String,
}

impl InventoryQuery {
    /// The store's filter at `now`, or a sentence naming the bad value.
    pub fn filter(&self, now_ms: i64) -> Result<InventoryFilter<'_>, String> {
        let number = |name: &str, text: &str, range: std::ops::RangeInclusive<i64>| {
            let text = text.trim();
            if text.is_empty() {
                return Ok(None);
            }
            match text.parse::<i64>() {
                Ok(n) if range.contains(&n) => Ok(Some(n)),
                _ => Err(format!(
                    "{name} must be a whole number from {} to {}.",
                    range.start(),
                    range.end()
                )),
            }
        };
        let firmware = self.firmware.trim();
        Ok(InventoryFilter {
            lifecycle: parse_lifecycle(self.lifecycle.trim())?,
            firmware: (!firmware.is_empty()).then_some(firmware),
            silent_since: number("silent_hours", &self.silent_hours, 1..=100_000)?
                .map(|h| now_ms - h * 3_600_000),
            battery_below: number("battery_below", &self.battery_below, 1..=101)?,
            signal_below: number("signal_below", &self.signal_below, -150..=0)?,
        })
    }
}

/// A lifecycle filter value: empty is any; an unknown name is a 400.
pub fn parse_lifecycle(text: &str) -> Result<Option<LifecycleState>, String> {
    if text.is_empty() {
        return Ok(None);
    }
    text.parse::<LifecycleState>().map(Some).map_err(|_| {
        format!(
            "Unknown lifecycle state {text:?}; use one of {}.",
            LifecycleState::ALL
                .iter()
                .map(|s| s.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        )
    })
}

fn when(ms: Option<i64>) -> String {
    ms.map(|ms| date_time(ms, "UTC")).unwrap_or_default()
}

fn row(device: &DeviceRow, owner: Option<&str>) -> Value {
    context! {
        id => device.id, serial => device.serial, name => crate::services::devices::display_name(device),
        owner => owner.unwrap_or(""), owner_id => device.owner_id,
        lifecycle => words::lifecycle(device.lifecycle_state), battery => device.battery_percentage,
        signal => device.signal_dbm, firmware => device.firmware_version.clone().unwrap_or_default(),
        last_seen => when(device.last_seen_at),
    }
}

/// `GET /admin/devices`.
pub async fn list(
    State(state): State<AppState>,
    staff: Staff,
    Query(q): Query<InventoryQuery>,
) -> Result<Response, PageError> {
    let filter = q
        .filter(state.clock.now_ms())
        .map_err(|message| PageError::Status(StatusCode::BAD_REQUEST, message))?;
    let rows = state
        .db
        .inventory_page(&filter, &q.after, PAGE_SIZE)
        .await?;
    let next = (rows.len() as i64 == PAGE_SIZE)
        .then(|| rows.last().map(|r| r.device.serial.clone()))
        .flatten();
    let devices: Vec<Value> = rows
        .iter()
        .map(|r: &InventoryRow| row(&r.device, r.owner_email.as_deref()))
        .collect();
    let lifecycles: Vec<Value> = LifecycleState::ALL
        .iter()
        .map(|s| context! { name => s.as_str(), words => words::lifecycle(*s) })
        .collect();
    templates::page(
        &staff,
        StatusCode::OK,
        "admin/devices.html",
        context! {
            title => "Devices", nav => "devices", notice => None::<String>,
            devices => devices, lifecycle => q.lifecycle, lifecycles => lifecycles, firmware => q.firmware,
            silent_hours => q.silent_hours, battery_below => q.battery_below, signal_below => q.signal_below,
            next => next,
        },
    )
}

/// A lifecycle action of the mailbox page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Action {
    Ship,
    Suspend,
    Resume,
    Receive,
    Refurbish,
    Decommission,
}

impl Action {
    const ALL: [Action; 6] = [
        Action::Ship,
        Action::Suspend,
        Action::Resume,
        Action::Receive,
        Action::Refurbish,
        Action::Decommission,
    ];

    fn id(self) -> &'static str {
        match self {
            Action::Ship => "ship",
            Action::Suspend => "suspend",
            Action::Resume => "resume",
            Action::Receive => "receive",
            Action::Refurbish => "refurbish",
            Action::Decommission => "decommission",
        }
    }

    fn parse(text: &str) -> Option<Action> {
        Action::ALL.into_iter().find(|a| a.id() == text)
    }

    /// Whether the action applies to a mailbox in `lifecycle` (the state machine decides).
    fn applies(self, lifecycle: LifecycleState) -> bool {
        match self {
            Action::Ship => lifecycle == LifecycleState::PreActivation,
            Action::Suspend => lifecycle.apply(LifecycleEvent::Suspend).is_ok(),
            Action::Resume => lifecycle.apply(LifecycleEvent::Resume).is_ok(),
            Action::Receive => {
                lifecycle == LifecycleState::Returned
                    || lifecycle.apply(LifecycleEvent::Return).is_ok()
            }
            Action::Refurbish => lifecycle.apply(LifecycleEvent::Refurbish).is_ok(),
            Action::Decommission => lifecycle.apply(LifecycleEvent::Decommission).is_ok(),
        }
    }

    fn view(self) -> Value {
        let (label, hint, danger) = match self {
            Action::Ship => (
                "Mark shipped",
                "The box left the warehouse for its customer or a shop.",
                false,
            ),
            Action::Suspend => (
                "Suspend service",
                "The mailbox stops operating (new mail is refused, its heartbeat says suspended) until resumed; its subscription and photos stay.",
                true,
            ),
            Action::Resume => (
                "Resume service",
                "The mailbox operates again, unless its subscription is suspended for an unpaid invoice (paying resumes that).",
                false,
            ),
            Action::Receive => (
                "Receive the return",
                "The box arrived back. One still in service is returned first: its subscription ends now.",
                false,
            ),
            Action::Refurbish => (
                "Refurbish",
                "A new secret and claim code (shown once) for the next customer; the old secret stops working and the previous customer's link is cleared.",
                false,
            ),
            Action::Decommission => (
                "Decommission",
                "Out of service for good: its credentials are revoked, its subscription ends and its owner is told by email.",
                true,
            ),
        };
        context! { id => self.id(), label => label, hint => hint, danger => danger }
    }
}

#[derive(Debug, Deserialize, Default)]
pub struct Notice {
    #[serde(default)]
    done: String,
}

/// `GET /admin/devices/{id}`.
pub async fn page(
    State(state): State<AppState>,
    staff: Staff,
    Path(device_id): Path<String>,
    Query(notice): Query<Notice>,
) -> Result<Response, PageError> {
    let device = state
        .db
        .device_by_id(&device_id)
        .await?
        .ok_or_else(|| PageError::not_found("This mailbox"))?;
    let owner = match &device.owner_id {
        Some(id) => state.db.user_by_id(id).await?.map(|u| u.email),
        None => None,
    };
    let dates = state
        .db
        .device_staff_dates(&DeviceId::new(&device.id))
        .await?
        .unwrap_or_default();
    let now = state.clock.now_ms();
    let status = crate::web::status_line::current(&state, &device, None, now, "UTC").await?;
    let mut view = row(&device, owner.as_deref());
    view = context! {
        status => status.text,
        shipped => when(dates.shipped_at), received => when(dates.return_received_at),
        ..view
    };
    let actions: Vec<Value> = Action::ALL
        .into_iter()
        .filter(|a| a.applies(device.lifecycle_state))
        .map(Action::view)
        .collect();
    let audit: Vec<Value> = state
        .db
        .audit_for("device", &device.id)
        .await?
        .iter()
        .rev()
        .map(|e| {
            context! { when => date_time(e.at, "UTC"), actor => e.actor, action => e.action, detail => e.detail }
        })
        .collect();
    let history = super::device_history::history(&state, &device, now).await?;
    let id = DeviceId::new(&device.id);
    let tags: Vec<String> = state
        .db
        .device_tags(&id)
        .await?
        .into_iter()
        .map(|t| t.tag)
        .collect();
    let board = state.db.hardware_revision(&id).await?.unwrap_or_default();
    let notice = match notice.done.as_str() {
        "tag" => Some("Tagged."),
        "untag" => Some("Tag removed."),
        "ship" => Some("Marked shipped."),
        "suspend" => Some("Service suspended: the mailbox no longer operates."),
        "resume" => Some("Service resumed."),
        "receive" => Some("Return received."),
        "decommission" => Some("Decommissioned: its credentials are revoked."),
        _ => None,
    };
    templates::page(
        &staff,
        StatusCode::OK,
        "admin/device.html",
        context! {
            title => format!("Mailbox {}", device.serial), nav => "devices", notice => notice,
            device => view, actions => actions, audit => audit,
            history => history, tags => tags, board => board,
        },
    )
}

#[derive(Debug, Deserialize)]
pub struct ReasonForm {
    #[serde(default)]
    pub csrf: String,
    #[serde(default)]
    pub reason: String,
}

/// The tag form.
#[derive(Debug, Deserialize)]
pub struct TagForm {
    #[serde(default)]
    pub csrf: String,
    #[serde(default)]
    pub tag: String,
}

/// `POST /admin/devices/{id}/tags`: adds a tag.
pub async fn tag(
    State(state): State<AppState>,
    staff: Staff,
    Path(device_id): Path<String>,
    Form(form): Form<TagForm>,
) -> Result<Response, PageError> {
    let serial = tag_form_serial(&state, &staff, &device_id, &form).await?;
    crate::services::device_tags::tag(&state, &staff.actor(), &serial, &form.tag).await?;
    Ok(Redirect::to(&format!("/admin/devices/{device_id}?done=tag")).into_response())
}

/// `POST /admin/devices/{id}/tags/{tag}/remove`.
pub async fn untag(
    State(state): State<AppState>,
    staff: Staff,
    Path((device_id, tag)): Path<(String, String)>,
    Form(form): Form<TagForm>,
) -> Result<Response, PageError> {
    let serial = tag_form_serial(&state, &staff, &device_id, &form).await?;
    crate::services::device_tags::untag(&state, &staff.actor(), &serial, &tag).await?;
    Ok(Redirect::to(&format!("/admin/devices/{device_id}?done=untag")).into_response())
}

/// The serial of the mailbox a tag form was posted for, once its CSRF token matched.
async fn tag_form_serial(
    state: &AppState,
    staff: &Staff,
    device_id: &str,
    form: &TagForm,
) -> Result<String, PageError> {
    if !staff.csrf_matches(&form.csrf) {
        return Err(PageError::bad_csrf());
    }
    Ok(state
        .db
        .device_by_id(device_id)
        .await?
        .ok_or_else(|| PageError::not_found("This mailbox"))?
        .serial)
}

/// `POST /admin/devices/{id}/{action}` with the staff member's reason.
pub async fn act(
    State(state): State<AppState>,
    staff: Staff,
    Path((device_id, action)): Path<(String, String)>,
    Form(form): Form<ReasonForm>,
) -> Result<Response, PageError> {
    if !staff.csrf_matches(&form.csrf) {
        return Err(PageError::bad_csrf());
    }
    let action = Action::parse(&action).ok_or_else(|| PageError::not_found("This action"))?;
    let (actor, id) = (staff.actor(), DeviceId::new(device_id.clone()));
    match action {
        Action::Ship => {
            staff_devices::mark_shipped(&state, &actor, &id, &form.reason).await?;
        }
        Action::Suspend => {
            staff_service::suspend(&state, &actor, &id, &form.reason).await?;
        }
        Action::Resume => {
            staff_service::resume(&state, &actor, &id, &form.reason).await?;
        }
        Action::Receive => {
            staff_devices::receive_return(&state, &actor, &id, &form.reason).await?;
        }
        Action::Decommission => {
            staff_devices::decommission(&state, &actor, &id, &form.reason).await?;
        }
        Action::Refurbish => {
            let record = staff_devices::refurbish(&state, &actor, &id, &form.reason).await?;
            return templates::page(
                &staff,
                StatusCode::OK,
                "admin/credentials.html",
                context! {
                    title => format!("Mailbox {} refurbished", record.serial), nav => "devices", notice => None::<String>,
                    id => device_id, serial => record.serial, secret => record.secret_hex, claim_code => record.claim_code,
                },
            );
        }
    }
    Ok(Redirect::to(&format!("/admin/devices/{device_id}?done={}", action.id())).into_response())
}
