//! The rollout jobs: `rollout_gates` (recurring) judges each open rollout's current stage,
//! advancing it after its soak or pausing it when a health gate tripped; `rollout_alert`
//! (queued with that pause, keyed by rollout and stage, so staff hear of a stage's pause once)
//! emails every staff member.

use std::time::Duration;

use smartbox_domain::RolloutId;

use super::{JobContext, JobError};
use crate::accounts::mail::{self, Mail};
use crate::services::rollouts::{self, Judged};

/// How often the open rollouts are judged.
pub const GATES_EVERY: Duration = Duration::from_secs(300);

/// Judges the open rollouts once.
pub async fn gates(ctx: JobContext) -> Result<(), JobError> {
    let judged = rollouts::judge_open(&ctx.state)
        .await
        .map_err(|error| JobError::retry(anyhow::anyhow!("{error}")))?;
    for verdict in judged {
        if let Judged::Paused(gates) = verdict {
            tracing::warn!(?gates, "a rollout gate tripped; rollout paused");
        }
    }
    Ok(())
}

#[derive(serde::Deserialize)]
struct AlertPayload {
    rollout_id: String,
}

/// Emails staff that a gate paused a rollout, with what tripped.
pub async fn alert(ctx: JobContext) -> Result<(), JobError> {
    let payload: AlertPayload = ctx.payload()?;
    let state = &ctx.state;
    let id = RolloutId::new(payload.rollout_id);
    let Some(rollout) = state.db.rollout(&id).await.map_err(JobError::retry)? else {
        return Err(JobError::permanent(anyhow::anyhow!("no rollout {id}")));
    };
    let link = format!(
        "{}/admin/firmware",
        state.config.public_url.trim_end_matches('/')
    );
    let body = format!(
        "The rollout of firmware {} was paused: {}\n\nNo mailbox is offered the image until \
         someone resumes the rollout. Look at it here: {link}\n",
        rollout.version,
        rollout
            .paused_reason
            .as_deref()
            .unwrap_or("a health gate tripped.")
    );
    for to in state.db.staff_emails().await.map_err(JobError::retry)? {
        let message = Mail {
            to,
            subject: format!("Firmware {} rollout paused", rollout.version),
            body: body.clone(),
        };
        mail::deliver(&state.config, &message)
            .await
            .map_err(JobError::retry)?;
    }
    Ok(())
}
