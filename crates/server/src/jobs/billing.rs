//! The billing jobs: the recurring billing pass, payment retries, grace expiries and collecting
//! after a card change, each run by the billing engine with the state's payment provider.

use std::time::Instant;

use smartbox_billing::{BillingError, BillingJob};

use super::{JobContext, JobError, LEASE};

/// Runs any billing job. The billing pass stops at half the lease, leaving the rest to the
/// next pass, so its lease never runs out under a large backlog.
pub async fn run(ctx: JobContext) -> Result<(), JobError> {
    let job = BillingJob::parse(&ctx.job.kind, &ctx.job.payload)
        .map_err(|message| JobError::permanent(anyhow::anyhow!(message)))?;
    let deadline = Instant::now() + LEASE / 2;
    let report = ctx
        .state
        .billing()
        .run_job(&job, ctx.now, Some(deadline))
        .await
        .map_err(|error| match error {
            BillingError::NotFound(_) | BillingError::Corrupt(_) => JobError::permanent(error),
            other => JobError::retry(other),
        })?;
    tracing::debug!(job = %ctx.job.id, kind = %ctx.job.kind, ?report, "billing job done");
    Ok(())
}
