//! `/gallery`: mail events with their photos, filtered by mailbox, date, category and kind, newest
//! first, paged by keyset (`before=<occurred_at>~<event id>`) so a page costs the same with
//! 10,000+ photos. Each photo shows as its 320 px thumbnail
//! (`/photos/{event}/{index}/thumbnail`, made by the `event_thumbnails` job off the request path,
//! see [`crate::thumbnails`]), which serves the photo itself until the thumbnail exists or when the
//! photo could not be decoded, and links to the full-size photo. Each event says what its photos
//! showed (a delivery and what it brought, a collection, a false trigger; see
//! [`crate::mail_intelligence`]), and its page lets the customer correct that.

use axum::Form;
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use minijinja::context;
use serde::Deserialize;
use smartbox_domain::{EventId, MailCategory, MailKind};
use smartbox_store::{GalleryFilter, UNCATEGORISED, parse_gallery_cursor};

use super::accounts::CsrfForm;
use super::format::date_time;
use super::notice::{Done, after};
use super::{PageError, render};
use crate::accounts::{CurrentUser, Visitor};
use crate::services::devices::display_name;
use crate::services::mail;
use crate::state::AppState;
use crate::time_zone::local_day_ms;

/// Events per page.
pub const PAGE_SIZE: i64 = 24;

/// The gallery's query string.
#[derive(Debug, Deserialize, Default, Clone)]
pub struct GalleryQuery {
    #[serde(default)]
    pub device: String,
    /// `YYYY-MM-DD`, inclusive, in the customer's zone.
    #[serde(default)]
    pub from: String,
    /// `YYYY-MM-DD`, inclusive.
    #[serde(default)]
    pub to: String,
    #[serde(default)]
    pub category: String,
    /// What the photos showed: delivery, collection, false_trigger.
    #[serde(default)]
    pub kind: String,
    #[serde(default)]
    pub before: String,
}

/// What an event's photos were read as, for people: "Package (92 % sure)", "Collection",
/// "Letter (corrected)", "Reading the photos" before the job has run.
pub fn reading_label(
    mail_kind: Option<&str>,
    category: Option<&str>,
    confidence: Option<i64>,
    corrected: bool,
) -> String {
    let Some(kind) = mail_kind.and_then(|k| k.parse::<MailKind>().ok()) else {
        return "Reading the photos".to_owned();
    };
    let what = match (kind, category.and_then(|c| c.parse::<MailCategory>().ok())) {
        (MailKind::Delivery, Some(category)) => category.label().to_owned(),
        (MailKind::Delivery, None) => "Delivery".to_owned(),
        (other, _) => other.label().to_owned(),
    };
    match (corrected, confidence) {
        (true, _) => format!("{what} (corrected)"),
        (false, Some(percent)) if kind == MailKind::Delivery && category.is_some() => {
            format!("{what} ({percent} % sure)")
        }
        _ => what,
    }
}

/// The choices of the category and kind selects: `(value, label, selected)`.
fn choices(
    all: impl Iterator<Item = (&'static str, &'static str)>,
    chosen: &str,
) -> Vec<minijinja::Value> {
    all.map(
        |(value, label)| context! { value => value, label => label, selected => value == chosen },
    )
    .collect()
}

/// The start and end of the day `YYYY-MM-DD` in the zone, as epoch ms.
fn day_ms(text: &str, time_zone: &str) -> Option<(i64, i64)> {
    let mut parts = text.trim().splitn(3, '-');
    let year = parts.next()?.parse().ok()?;
    let month = parts.next()?.parse().ok()?;
    let day = parts.next()?.parse().ok()?;
    local_day_ms(time_zone, year, month, day)
}

/// A photo's full-size URL and its thumbnail's.
pub fn photo_links(event_id: &str, index: i64) -> minijinja::Value {
    context! {
        full => format!("/photos/{event_id}/{index}"),
        thumb => format!("/photos/{event_id}/{index}/thumbnail"),
    }
}

/// `GET /gallery`.
pub async fn page(
    State(state): State<AppState>,
    visitor: Visitor,
    user: CurrentUser,
    Query(q): Query<GalleryQuery>,
    Query(done): Query<Done>,
) -> Result<Response, PageError> {
    let tz = user.user.time_zone.clone();
    let devices = state.db.devices_of_owner(&user.user.id).await?;
    let filter = GalleryFilter {
        device_id: Some(q.device.as_str()).filter(|d| !d.is_empty()),
        from: day_ms(&q.from, &tz).map(|(start, _)| start),
        until: day_ms(&q.to, &tz).map(|(_, end)| end),
        category: mail::category_filter(Some(&q.category))?,
        kind: mail::kind_filter(Some(&q.kind))?,
        before: parse_gallery_cursor(&q.before),
    };
    let rows = state
        .db
        .gallery_page(&user.user.id, &filter, PAGE_SIZE + 1)
        .await?;
    let more = rows.len() as i64 > PAGE_SIZE;
    let rows = &rows[..rows.len().min(PAGE_SIZE as usize)];
    // Both page links keep the filters: "Newest" is the first page of the same selection.
    let newest = format!(
        "/gallery?device={}&from={}&to={}&category={}&kind={}",
        super::error::encode_query(&q.device),
        super::error::encode_query(&q.from),
        super::error::encode_query(&q.to),
        super::error::encode_query(&q.category),
        super::error::encode_query(&q.kind),
    );
    let next = more
        .then(|| rows.last())
        .flatten()
        .map(|last| format!("{newest}&before={}~{}", last.occurred_at, last.id));
    let events: Vec<_> = rows
        .iter()
        .map(|e| {
            context! {
                id => e.id.clone(),
                mailbox => if e.device_name.is_empty() { format!("Mailbox {}", e.device_serial) } else { e.device_name.clone() },
                kind => e.kind.clone(),
                when => date_time(e.occurred_at, &tz),
                category => e.category.clone().unwrap_or_else(|| UNCATEGORISED.to_owned()),
                reading => reading_label(e.mail_kind.as_deref(), e.category.as_deref(), e.category_confidence, e.corrected_at.is_some()),
                photos => (0..e.photos_received.min(e.photo_count)).map(|i| photo_links(&e.id, i)).collect::<Vec<_>>(),
                waiting_photos => e.photo_count - e.photos_received.min(e.photo_count),
            }
        })
        .collect();
    let device_options: Vec<_> = devices
        .iter()
        .map(|d| context! { id => d.id.clone(), name => display_name(d), selected => d.id == q.device })
        .collect();
    render::ok(
        &visitor,
        "gallery.html",
        context! {
            title => "Gallery", nav => "gallery", events => events, devices => device_options,
            from => q.from, to => q.to, category => q.category, next => next,
            categories => choices(MailCategory::ALL.iter().map(|c| (c.as_str(), c.label())), &q.category),
            kinds => choices(MailKind::ALL.iter().map(|k| (k.as_str(), k.label())), &q.kind),
            paged => !q.before.is_empty(), newest => newest, notice => done.sentence(),
        },
    )
}

/// `GET /gallery/{event_id}`: one delivery's photos at full size.
pub async fn event_page(
    State(state): State<AppState>,
    visitor: Visitor,
    user: CurrentUser,
    Path(event_id): Path<String>,
) -> Result<Response, PageError> {
    let event = state
        .db
        .event_of_owner(&user.user.id, &event_id)
        .await?
        .ok_or_else(|| PageError::not_found("This delivery"))?;
    let device = state.db.device_by_id(&event.device_id).await?;
    let tz = &user.user.time_zone;
    let when = date_time(event.occurred_at, tz);
    let photos: Vec<_> = state
        .db
        .photos_of_event(&event.id)
        .await?
        .iter()
        .map(|p| {
            context! {
                url => format!("/photos/{}/{}", event.id, p.idx),
                file => format!("mail-{}-{}.jpg", when.replace([' ', ':'], "-"), p.idx + 1),
            }
        })
        .collect();
    let older = GalleryFilter {
        before: Some((event.occurred_at, event.id.as_str())),
        ..GalleryFilter::default()
    };
    let older = state.db.gallery_page(&user.user.id, &older, 1).await?;
    let newer = state
        .db
        .newer_event_of_owner(&user.user.id, event.occurred_at, &event.id)
        .await?;
    render::ok(
        &visitor,
        "event.html",
        context! {
            title => "Delivery", nav => "gallery",
            mailbox => device.as_ref().map(display_name),
            when => when,
            reading => reading_label(event.mail_kind.as_deref(), event.category.as_deref(), event.category_confidence, event.corrected_at.is_some()),
            id => event.id.clone(), read => event.mail_kind.is_some(),
            categories => choices(MailCategory::ALL.iter().map(|c| (c.as_str(), c.label())), event.category.as_deref().unwrap_or("")),
            kinds => choices(MailKind::ALL.iter().map(|k| (k.as_str(), k.label())), event.mail_kind.as_deref().unwrap_or("")),
            photos => photos, older => older.first().map(|e| e.id.clone()), newer => newer,
        },
    )
}

/// The event page's correction form.
#[derive(Debug, Deserialize)]
pub struct CorrectionForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    kind: String,
    #[serde(default)]
    category: String,
}

/// `POST /gallery/{event_id}/correction`: the customer says what the event really was.
pub async fn correct(
    State(state): State<AppState>,
    visitor: Visitor,
    user: CurrentUser,
    Path(event_id): Path<String>,
    Form(form): Form<CorrectionForm>,
) -> Result<Response, PageError> {
    if !visitor.csrf_matches(&form.csrf) {
        return Err(PageError::bad_csrf());
    }
    let correction = mail::Correction::parse(&form.kind, Some(&form.category))?;
    let actor = crate::services::Actor::customer(user.user.id.clone());
    let event = mail::correct(&state, &actor, &event_id, correction).await?;
    Ok(Redirect::to(&format!("/gallery/{}", event.id)).into_response())
}

/// `POST /gallery/{event_id}/delete`: deletes the event with its photos, back to the gallery.
pub async fn delete(
    State(state): State<AppState>,
    visitor: Visitor,
    user: CurrentUser,
    Path(event_id): Path<String>,
    Form(form): Form<CsrfForm>,
) -> Result<Response, PageError> {
    if !visitor.csrf_matches(&form.csrf) {
        return Err(PageError::bad_csrf());
    }
    let actor = crate::services::Actor::customer(user.user.id.clone());
    mail::delete_event(&state, &actor, &EventId::new(event_id)).await?;
    Ok(Redirect::to(&after("/gallery", "event_deleted")).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reading_says_what_came_and_how_sure() {
        assert_eq!(reading_label(None, None, None, false), "Reading the photos");
        assert_eq!(
            reading_label(Some("delivery"), Some("package"), Some(92), false),
            "Package (92 % sure)"
        );
        assert_eq!(
            reading_label(Some("delivery"), Some("letter"), Some(100), true),
            "Letter (corrected)"
        );
        assert_eq!(
            reading_label(Some("false_trigger"), None, Some(80), false),
            "False trigger"
        );
    }

    #[test]
    fn a_day_runs_from_midnight_to_midnight_in_the_customers_zone() {
        let day = 24 * 3_600_000;
        assert_eq!(
            day_ms("2025-11-25", "UTC"),
            Some((1_764_028_800_000, 1_764_028_800_000 + day))
        );
        assert_eq!(
            day_ms("2025-11-25", "UTC+01:00").map(|(start, _)| start),
            Some(1_764_025_200_000)
        );
        // 8 March 2026 in New York: midnight EST, and 23 hours to the next midnight (EDT).
        assert_eq!(
            day_ms("2026-03-08", "America/New_York"),
            Some((1_772_946_000_000, 1_772_946_000_000 + day - 3_600_000))
        );
        assert_eq!(day_ms("25/11/2025", "UTC"), None);
    }
}
