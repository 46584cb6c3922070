//! The `event_completed` job, enqueued by the store in the transaction that stores an event's
//! last photo: it starts the event's follow-ups, each under a unique key derived from the event,
//! so a duplicated or retried job enqueues nothing twice. The follow-ups run in a chain:
//! thumbnails for the gallery, then the reading of the photos (`classify_event`, which decides
//! whether the customer is told), then the customer's notification.

use serde::Deserialize;
use smartbox_store::NewJob;

use super::{JobContext, JobError};

/// Makes the gallery's thumbnails of an event's photos. Payload `{"event_id": ...}`.
pub const EVENT_THUMBNAILS: &str = "event_thumbnails";
/// Notifies the customer of an event through the channels they chose. Payload `{"event_id": ...}`.
pub const NOTIFY_EVENT: &str = "notify_event";

/// Attempts before a follow-up job is kept as failed for admin to see.
const FOLLOW_UP_ATTEMPTS: i64 = 10;

#[derive(Debug, Deserialize)]
struct Payload {
    event_id: String,
}

/// Enqueues the event's follow-up jobs, each once.
pub async fn run(ctx: JobContext) -> Result<(), JobError> {
    let payload: Payload = ctx.payload()?;
    enqueue_follow_up(&ctx, EVENT_THUMBNAILS, &payload.event_id).await
}

/// Enqueues the follow-up `kind` of an event once (its unique key is the kind and the event).
pub async fn enqueue_follow_up(
    ctx: &JobContext,
    kind: &str,
    event_id: &str,
) -> Result<(), JobError> {
    let now_ms = ctx.now_ms();
    let id = uuid::Uuid::now_v7().to_string();
    let unique_key = format!("{kind}:{event_id}");
    let enqueued = ctx
        .state
        .db
        .enqueue_job(&NewJob {
            id: &id,
            kind,
            payload: serde_json::json!({ "event_id": event_id }),
            unique_key: Some(&unique_key),
            run_at: now_ms,
            max_attempts: FOLLOW_UP_ATTEMPTS,
        })
        .await
        .map_err(JobError::retry)?;
    if enqueued {
        // The follow-up can start at once on another worker.
        ctx.state.jobs_enqueued();
    }
    Ok(())
}
