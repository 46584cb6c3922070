//! What a notification says, read from the database and the blob store: the event, the mailbox's
//! name, the time in the owner's zone, the link to the event's page, and the first photo inline
//! (its gallery thumbnail once the `event_thumbnails` job has made it, else the photo itself).

use anyhow::Context;
use smartbox_domain::{MailKind, Serial};
use smartbox_notify::{EventKind, Notification, Thumbnail};
use smartbox_store::{DeviceRow, MailEventRow, UserRow};
use time::OffsetDateTime;

use crate::services::devices::display_name;
use crate::state::AppState;
use crate::time_zone::offset_at;

/// An event with the mailbox it came from and the customer who owns it.
#[derive(Debug, Clone)]
pub struct EventContext {
    pub event: MailEventRow,
    pub device: DeviceRow,
    pub owner: UserRow,
}

/// The event, its mailbox and owner; `None` when the event is gone or its mailbox has no owner
/// (nobody to tell).
pub async fn event_context(
    state: &AppState,
    event_id: &str,
) -> anyhow::Result<Option<EventContext>> {
    let Some(event) = state.db.event_by_id(event_id).await? else {
        return Ok(None);
    };
    let Some(device) = state.db.device_by_id(&event.device_id).await? else {
        return Ok(None);
    };
    let Some(owner_id) = device.owner_id.as_deref() else {
        return Ok(None);
    };
    let Some(owner) = state.db.user_by_id(owner_id).await? else {
        return Ok(None);
    };
    Ok(Some(EventContext {
        event,
        device,
        owner,
    }))
}

/// The link to an event's page.
pub fn event_link(state: &AppState, event_id: &str) -> String {
    format!("{}/gallery/{event_id}", state.config.public_url)
}

/// The link to the gallery (summaries).
pub fn gallery_link(state: &AppState) -> String {
    format!("{}/gallery", state.config.public_url)
}

/// The notifications of the events `event_ids` names, in order, leaving out the events that are
/// gone or whose mailbox has no owner (see [`event_context`]).
pub async fn notifications(
    state: &AppState,
    event_ids: &[&str],
) -> anyhow::Result<Vec<Notification>> {
    let mut items = Vec::new();
    for event_id in event_ids {
        if let Some(event) = event_context(state, event_id).await? {
            items.push(notification(state, &event).await?);
        }
    }
    Ok(items)
}

/// The notification of `ctx`'s event, with its first photo when it has one.
pub async fn notification(state: &AppState, ctx: &EventContext) -> anyhow::Result<Notification> {
    let event = &ctx.event;
    let occurred_at =
        OffsetDateTime::from_unix_timestamp_nanos(i128::from(event.occurred_at) * 1_000_000)
            .ok()
            .and_then(|t| t.checked_to_offset(offset_at(&ctx.owner.time_zone, event.occurred_at)))
            .context("event time out of range")?;
    Ok(Notification {
        event_id: event
            .id
            .parse()
            .with_context(|| format!("stored event id {:?}", event.id))?,
        serial: Serial::parse(&ctx.device.serial)
            .map_err(|err| anyhow::anyhow!("stored serial {:?}: {err}", ctx.device.serial))?,
        mailbox_name: display_name(&ctx.device),
        kind: match event.meaning() {
            MailKind::Collection => EventKind::MailRemoved,
            MailKind::Delivery | MailKind::FalseTrigger => EventKind::MailArrived,
        },
        category: match event.reading() {
            Some(MailKind::Delivery) => event.category.as_deref().and_then(|c| c.parse().ok()),
            _ => None,
        },
        occurred_at,
        link: event_link(state, &event.id),
        thumbnail: first_photo(state, &event.id).await?,
    })
}

/// The first photo's thumbnail (or the photo itself until the thumbnail is made), if the event
/// has a photo.
async fn first_photo(state: &AppState, event_id: &str) -> anyhow::Result<Option<Thumbnail>> {
    let photos = state.db.photos_of_event(event_id).await?;
    let Some(photo) = photos.first() else {
        return Ok(None);
    };
    let key = photo.thumbnail_key.as_deref().unwrap_or(&photo.blob_key);
    let bytes = state.photos.get(key).await?.bytes;
    Ok(Thumbnail::from_jpeg(bytes.to_vec()))
}
