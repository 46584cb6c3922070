//! The daily analytics snapshot: runs every hour and snapshots the days that finished since
//! the last snapshot (normally yesterday, once a day; after a stop, every day missed), so a
//! finished day's figures are kept as they were. Idempotent: a day is written whole.

use std::time::Duration;

use super::{JobContext, JobError};
use crate::services::analytics;

/// The recurring job's kind.
pub const ANALYTICS_SNAPSHOT: &str = "analytics_snapshot";
/// How often it looks for finished days.
pub const ANALYTICS_SNAPSHOT_EVERY: Duration = Duration::from_secs(3600);

/// Snapshots the finished days not yet snapshotted.
pub async fn run(ctx: JobContext) -> Result<(), JobError> {
    let days = analytics::snapshot_finished_days(&ctx.state)
        .await
        .map_err(JobError::retry)?;
    tracing::info!(days, "analytics days snapshotted");
    Ok(())
}
