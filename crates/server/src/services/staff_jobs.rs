//! Staff actions on the durable job queue: put a job that failed for good back in the queue once
//! its cause is fixed, with the reason in the audit log. Support and admin may.

use smartbox_store::changes::{Applied, AuditRecord, Change, Changes};

use super::staff_devices::{Reason, require_staff};
use super::{Actor, ServiceError, StaffRole};
use crate::state::AppState;

/// Queues the failed job `id` again, now, with its attempts reset.
pub async fn retry(
    state: &AppState,
    actor: &Actor,
    id: &str,
    reason: &str,
) -> Result<(), ServiceError> {
    require_staff(actor, StaffRole::Support)?;
    let reason = Reason::parse(reason)?;
    let job = state
        .db
        .job_by_id(id)
        .await?
        .ok_or_else(|| ServiceError::not_found("job", id))?;
    let now = state.clock.now_ms();
    let mut changes = Changes::new();
    changes.push(Change::RetryFailedJob {
        id: job.id.clone(),
        now,
    });
    changes.push(Change::Audit(AuditRecord {
        at: now,
        actor: actor.audit_name(),
        entity_type: "job".to_owned(),
        entity_id: job.id.clone(),
        action: "retry".to_owned(),
        detail: serde_json::json!({
            "cause": reason.as_str(),
            "kind": job.kind,
            "last_error": job.last_error,
            "attempts": job.attempts,
        })
        .to_string(),
    }));
    match state.db.apply_changes(&changes).await? {
        Applied::Done => {
            state.jobs_enqueued();
            Ok(())
        }
        Applied::Stale(_) => Err(ServiceError::Conflict(
            "Only a job that failed for good can be retried; this one is queued or done.".into(),
        )),
    }
}
