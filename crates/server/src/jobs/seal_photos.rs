//! The `seal_stored_photos` job: seals the photos and thumbnails stored before encryption at rest
//! existed ([`crate::vault`]), a page at a time. Each run handles one page after its cursor and
//! enqueues the next page under a key naming its cursor, so a crash resumes where it stopped and
//! a run repeated seals nothing twice (a blob already sealed is left as it is).

use serde::{Deserialize, Serialize};
use smartbox_store::NewJob;

use super::{JobContext, JobError};
use crate::state::AppState;

/// The job's kind.
pub const SEAL_STORED_PHOTOS: &str = "seal_stored_photos";
/// Photos per run.
const PAGE: i64 = 100;
const ATTEMPTS: i64 = 10;

/// Where a run starts: after this photo (none: from the first).
#[derive(Debug, Default, Serialize, Deserialize)]
struct Cursor {
    after: Option<(String, i64)>,
}

/// Enqueues the first run (once per database: the key is fixed).
pub async fn enqueue_first(state: &AppState) -> anyhow::Result<()> {
    enqueue(state, &Cursor::default(), state.clock.now_ms()).await
}

async fn enqueue(state: &AppState, cursor: &Cursor, now_ms: i64) -> anyhow::Result<()> {
    let unique_key = match &cursor.after {
        None => format!("{SEAL_STORED_PHOTOS}:start"),
        Some((event_id, idx)) => format!("{SEAL_STORED_PHOTOS}:{event_id}:{idx}"),
    };
    let id = uuid::Uuid::now_v7().to_string();
    let enqueued = state
        .db
        .enqueue_job(&NewJob {
            id: &id,
            kind: SEAL_STORED_PHOTOS,
            payload: serde_json::to_value(cursor)?,
            unique_key: Some(&unique_key),
            run_at: now_ms,
            max_attempts: ATTEMPTS,
        })
        .await?;
    if enqueued {
        state.jobs_enqueued();
    }
    Ok(())
}

/// Seals one page of photos, then enqueues the next page.
pub async fn run(ctx: JobContext) -> Result<(), JobError> {
    let cursor: Cursor = ctx.payload()?;
    let after = cursor.after.as_ref().map(|(e, i)| (e.as_str(), *i));
    let page = ctx
        .state
        .db
        .photos_to_seal(after, PAGE)
        .await
        .map_err(JobError::retry)?;
    let (mut sealed, mut ownerless) = (0, 0);
    for photo in &page {
        let Some(owner) = &photo.customer_id else {
            ownerless += 1;
            continue;
        };
        let blobs = std::iter::once(&photo.blob_key).chain(photo.thumbnail_key.as_ref());
        for path in blobs {
            if ctx
                .state
                .photos
                .seal_in_place(owner, path)
                .await
                .map_err(JobError::retry)?
            {
                sealed += 1;
            }
        }
    }
    if ownerless > 0 {
        tracing::warn!(
            ownerless,
            "photos whose mailbox has no owner stay in the clear"
        );
    }
    tracing::info!(sealed, photos = page.len(), "sealed stored photos");
    if let Some(last) = page.last().filter(|_| page.len() as i64 == PAGE) {
        let next = Cursor {
            after: Some((last.event_id.clone(), last.idx)),
        };
        enqueue(&ctx.state, &next, ctx.now_ms())
            .await
            .map_err(JobError::retry)?;
    }
    Ok(())
}
