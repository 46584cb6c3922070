//! The `event_completed` job, enqueued by the store in the transaction that stores an event's
//! last photo: it fans out into one job per follow-up (thumbnails for the gallery, the
//! customer's notification), each under a unique key derived from the event, so a duplicated or
//! retried `event_completed` job enqueues nothing twice.

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
    let now_ms = ctx.now_ms();
    let body = serde_json::json!({ "event_id": payload.event_id });
    for kind in [NOTIFY_EVENT, EVENT_THUMBNAILS] {
        let id = uuid::Uuid::now_v7().to_string();
        let unique_key = format!("{kind}:{}", payload.event_id);
        let enqueued = ctx
            .state
            .db
            .enqueue_job(&NewJob {
                id: &id,
                kind,
                payload: body.clone(),
                unique_key: Some(&unique_key),
                run_at: now_ms,
                max_attempts: FOLLOW_UP_ATTEMPTS,
            })
            .await
            .map_err(JobError::retry)?;
        if enqueued {
            // The follow-ups can start at once on the other workers.
            ctx.state.jobs_enqueued();
        }
    }
    Ok(())
}
