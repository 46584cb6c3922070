//! The gallery's thumbnails, made by the `event_thumbnails` job (enqueued once per completed event
//! by `event_completed`), never on the request path: each photo of the event is decoded, scaled
//! to 320 px wide ([`scale`]), stored in the blob store next to the photo
//! (`photos/.../<event>-0.jpg` -> `photos/.../<event>-0.thumb.jpg`) and its key recorded on the photo row.
//!
//! Then the event's photos are read (`classify_event`, enqueued once, whatever became of the
//! thumbnails).
//!
//! Idempotent: a photo that already has a thumbnail is skipped, and storing one again writes the
//! same key. A photo that cannot be decoded fails the job permanently, naming the photo and the
//! reason, after the event's other photos got theirs; the pages keep serving that photo itself.

pub mod scale;

use serde::Deserialize;
use smartbox_store::PhotoRow;

use crate::jobs::event_completed::enqueue_follow_up;
use crate::jobs::{JobContext, JobError};
use crate::mail_intelligence::CLASSIFY_EVENT;
use scale::ThumbnailError;

#[derive(Debug, Deserialize)]
struct Payload {
    event_id: String,
}

/// Where the thumbnail of the photo at `photo_key` is stored: beside it.
pub fn thumbnail_key(photo_key: &str) -> String {
    let stem = photo_key.strip_suffix(".jpg").unwrap_or(photo_key);
    format!("{stem}.thumb.jpg")
}

/// Makes the missing thumbnails of the payload's event.
pub async fn run(ctx: JobContext) -> Result<(), JobError> {
    let payload: Payload = ctx.payload()?;
    let photos = ctx
        .state
        .db
        .photos_of_event(&payload.event_id)
        .await
        .map_err(JobError::retry)?;
    let mut undecodable = Vec::new();
    for photo in photos.iter().filter(|p| p.thumbnail_key.is_none()) {
        match make_one(&ctx, photo).await {
            Ok(()) => {}
            Err(JobError::Permanent(reason)) => undecodable.push(format!("{reason:#}")),
            Err(retry) => return Err(retry),
        }
    }
    // The photos are read next, from the thumbnails made (or the photos that made none).
    enqueue_follow_up(&ctx, CLASSIFY_EVENT, &payload.event_id).await?;
    if undecodable.is_empty() {
        Ok(())
    } else {
        Err(JobError::permanent(anyhow::anyhow!(
            "event {}: {}",
            payload.event_id,
            undecodable.join("; ")
        )))
    }
}

/// Makes, stores and records one photo's thumbnail. An undecodable photo is a permanent error.
async fn make_one(ctx: &JobContext, photo: &PhotoRow) -> Result<(), JobError> {
    let opened = ctx
        .state
        .photos
        .get(&photo.blob_key)
        .await
        .map_err(JobError::retry)?;
    let bytes = opened.bytes;
    let made = tokio::task::spawn_blocking(move || scale::thumbnail(&bytes))
        .await
        .map_err(JobError::retry)?;
    let (thumbnail, width, height) = match made {
        Ok(made) => made,
        Err(err @ (ThumbnailError::Undecodable(_) | ThumbnailError::TooLarge { .. })) => {
            return Err(JobError::permanent(anyhow::anyhow!(
                "photo {} ({}) is {err}",
                photo.idx,
                photo.blob_key
            )));
        }
        Err(err) => return Err(JobError::retry(err)),
    };
    let key = thumbnail_key(&photo.blob_key);
    // The thumbnail is sealed under its photo's key; a photo still stored in the clear (from
    // before encryption) gets a thumbnail sealed under its owner's key.
    match opened.key {
        Some(data_key) => ctx.state.photos.put_with(&data_key, &key, &thumbnail).await,
        None => {
            let owner = ctx
                .state
                .db
                .photo_owner_of_event(&photo.event_id)
                .await
                .map_err(JobError::retry)?
                .ok_or_else(|| {
                    JobError::permanent(anyhow::anyhow!("event {} has no owner", photo.event_id))
                })?;
            ctx.state
                .photos
                .put_for(&owner, &key, thumbnail.into())
                .await
        }
    }
    .map_err(JobError::retry)?;
    ctx.state
        .db
        .set_photo_thumbnail(&photo.event_id, photo.idx, &key)
        .await
        .map_err(JobError::retry)?;
    tracing::debug!(event = %photo.event_id, idx = photo.idx, width, height, "thumbnail stored");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_thumbnail_lives_beside_its_photo() {
        assert_eq!(thumbnail_key("photos/d/e/0.jpg"), "photos/d/e/0.thumb.jpg");
        assert_eq!(thumbnail_key("photos/d/e/0"), "photos/d/e/0.thumb.jpg");
    }
}
