//! `/admin/audit`: the audit log, newest first, filtered by actor, customer, device and action.

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use minijinja::{Value, context};
use serde::Deserialize;
use smartbox_domain::UserId;
use smartbox_store::{AuditEntry, AuditFilter};

use super::{Staff, templates};
use crate::state::AppState;
use crate::web::PageError;
use crate::web::format::date_time;

/// Entries listed at most.
pub const LIMIT: i64 = 200;

/// The filters; empty means any.
#[derive(Debug, Deserialize, Default, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AuditQuery {
    /// `staff:<id>`, `customer:<id>`, `job:<kind>`, `cli`...
    #[serde(default)]
    pub actor: String,
    /// A customer's id: entries about their account, mailboxes, subscriptions and invoices.
    #[serde(default)]
    pub customer: String,
    /// A mailbox's serial.
    #[serde(default)]
    pub device: String,
    #[serde(default)]
    pub action: String,
}

/// The entries matching `q`, newest first (none when it names a serial nobody has).
pub async fn entries(
    state: &AppState,
    q: &AuditQuery,
) -> Result<Vec<AuditEntry>, smartbox_store::StoreError> {
    let (actor, action) = (q.actor.trim(), q.action.trim());
    if !q.customer.trim().is_empty() {
        let all = state
            .db
            .audit_of_customer(&UserId::new(q.customer.trim()), LIMIT * 5)
            .await?;
        return Ok(all
            .into_iter()
            .filter(|e| {
                (actor.is_empty() || e.actor == actor) && (action.is_empty() || e.action == action)
            })
            .take(LIMIT as usize)
            .collect());
    }
    let device_id = match q.device.trim() {
        "" => String::new(),
        serial => match state.db.device_by_serial(&serial.to_uppercase()).await? {
            Some(device) => device.id,
            None => return Ok(Vec::new()),
        },
    };
    let filter = AuditFilter {
        actor,
        entity_type: if device_id.is_empty() { "" } else { "device" },
        entity_id: &device_id,
        action,
    };
    state.db.audit_entries(&filter, LIMIT).await
}

/// `GET /admin/audit`.
pub async fn page(
    State(state): State<AppState>,
    staff: Staff,
    Query(q): Query<AuditQuery>,
) -> Result<Response, PageError> {
    let rows: Vec<Value> = entries(&state, &q)
        .await?
        .iter()
        .map(|e| {
            context! {
                when => date_time(e.at, "UTC"), actor => e.actor, entity => format!("{} {}", e.entity_type, e.entity_id),
                action => e.action, detail => e.detail,
            }
        })
        .collect();
    templates::page(
        &staff,
        StatusCode::OK,
        "admin/audit.html",
        context! {
            title => "Audit log", nav => "audit", notice => None::<String>, entries => rows,
            actor => q.actor, customer => q.customer, device => q.device, action => q.action,
        },
    )
}
