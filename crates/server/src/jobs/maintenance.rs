//! Housekeeping of the job queue: finished jobs are pruned after a retention period so the
//! `jobs` table stays the size of the live work; failed jobs stay until admin retries them.

use std::time::{Duration, Instant};

use super::{JobContext, JobError, PASS_BUDGET};

/// The recurring job that prunes finished jobs.
pub const PRUNE_JOBS: &str = "prune_jobs";
/// How often it runs.
pub const PRUNE_JOBS_EVERY: Duration = Duration::from_secs(3600);
/// How long a finished job is kept (for support to see what ran), well beyond any retry.
pub const JOBS_KEPT_FOR: Duration = Duration::from_secs(30 * 24 * 3600);
/// Rows deleted per statement, so one prune never holds a long write lock.
const BATCH: i64 = 5_000;

/// Deletes the jobs finished more than [`JOBS_KEPT_FOR`] ago, batch by batch, until none is
/// left or [`PASS_BUDGET`] is spent (the next run carries on).
pub async fn prune(ctx: JobContext) -> Result<(), JobError> {
    let cutoff = ctx.now_ms() - i64::try_from(JOBS_KEPT_FOR.as_millis()).unwrap_or(i64::MAX);
    let deadline = Instant::now() + PASS_BUDGET;
    let mut pruned = 0;
    loop {
        let deleted = ctx
            .state
            .db
            .prune_done_jobs(cutoff, BATCH)
            .await
            .map_err(JobError::retry)?;
        pruned += deleted;
        if deleted < BATCH as u64 || Instant::now() >= deadline {
            break;
        }
    }
    tracing::info!(pruned, "finished jobs pruned");
    Ok(())
}
