//! What a mailbox's admin page shows of its past: battery and signal over 30 days (hand-drawn
//! SVG, as the portal's battery chart), its latest mail events with their photos' thumbnails,
//! and its firmware reports. Staff see the thumbnails through their own route, which needs no
//! ownership: support looks at what the camera saw when a customer reports a problem.

use axum::extract::{Path, State};
use axum::response::Response;
use minijinja::{Value, context};
use smartbox_domain::DeviceId;
use smartbox_store::DeviceRow;

use super::Staff;
use crate::state::AppState;
use crate::web::PageError;
use crate::web::dashboard::{battery_chart, signal_chart};
use crate::web::format::date_time;
use crate::web::gallery::reading_label;

/// Events and firmware reports shown.
pub const SHOWN: usize = 20;

const DAY_MS: i64 = 24 * 3600 * 1000;

/// The page's history section of `device` at `now`.
pub async fn history(state: &AppState, device: &DeviceRow, now: i64) -> Result<Value, PageError> {
    let month = state
        .db
        .vitals_since(
            &smartbox_domain::DeviceId::new(device.id.as_str()),
            now - 30 * DAY_MS,
        )
        .await?;
    let mut events = Vec::new();
    for e in state
        .db
        .events_of_device(&device.id, None, SHOWN as i64)
        .await?
    {
        let photos: Vec<String> = state
            .db
            .photos_of_event(&e.id)
            .await?
            .iter()
            .map(|p| format!("/admin/photos/{}/{}/thumbnail", e.id, p.idx))
            .collect();
        events.push(context! {
            when => date_time(e.occurred_at, "UTC"),
            what => if e.kind == "mail_removed" { "Mail taken out" } else { "Mail arrived" },
            reading => reading_label(e.mail_kind.as_deref(), e.category.as_deref(), e.category_confidence, e.corrected_at.is_some()),
            photos => photos,
            waiting => e.photo_count - e.photos_received,
        });
    }
    let firmware: Vec<Value> = state
        .db
        .firmware_reports_of_device(&DeviceId::new(&device.id))
        .await?
        .iter()
        .rev()
        .take(SHOWN)
        .map(|r| {
            context! { when => date_time(r.reported_at, "UTC"), version => r.version, outcome => report_words(&r.status), detail => r.detail }
        })
        .collect();
    Ok(context! {
        battery_chart => battery_chart(&month, now),
        signal_chart => signal_chart(&month, now),
        readings => month.len(),
        events => events,
        firmware => firmware,
    })
}

/// A firmware report's status for people.
fn report_words(status: &str) -> &'static str {
    match status {
        "downloaded" => "Downloaded",
        "installed" => "Installed",
        "failed" => "Failed",
        "rolled_back" => "Rolled back",
        _ => "Reported",
    }
}

/// `GET /admin/photos/{event_id}/{index}/thumbnail`: a photo's thumbnail (the photo itself
/// until the thumbnail job has run), for staff only, never cached.
pub async fn thumbnail(
    State(state): State<AppState>,
    _staff: Staff,
    Path((event_id, index)): Path<(String, i64)>,
) -> Result<Response, PageError> {
    let photo = state
        .db
        .photos_of_event(&event_id)
        .await?
        .into_iter()
        .find(|p| p.idx == index)
        .ok_or_else(|| PageError::not_found("This photo"))?;
    let key = photo.thumbnail_key.as_deref().unwrap_or(&photo.blob_key);
    crate::web::photos::jpeg(&state, key, "private, no-store").await
}
