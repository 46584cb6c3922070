//! The billing jobs: the recurring billing pass, payment retries, grace expiries and collecting
//! after a card change, each run by the billing engine with the state's payment provider.

use std::time::Instant;

use smartbox_billing::engine::{JobReport, PassReport};
use smartbox_billing::{BillingError, BillingJob};

use super::{JobContext, JobError, PASS_BUDGET};

/// Runs any billing job. The billing pass stops after [`PASS_BUDGET`], leaving the rest to the
/// next pass, so a large backlog never holds a worker for long.
pub async fn run(ctx: JobContext) -> Result<(), JobError> {
    let job = BillingJob::parse(&ctx.job.kind, &ctx.job.payload)
        .map_err(|message| JobError::permanent(anyhow::anyhow!(message)))?;
    let deadline = Instant::now() + PASS_BUDGET;
    let result = ctx
        .state
        .billing()
        .run_job(&job, ctx.now, Some(deadline))
        .await;
    // Suspensions, resumptions, renewals and cancels change what the device API must answer:
    // its cached contexts go, so a suspended mailbox hears it on its next request.
    if result.as_ref().map_or(true, changed_something) {
        ctx.state.devices_changed();
    }
    let report = result.map_err(|error| match error {
        BillingError::NotFound(_) | BillingError::Corrupt(_) => JobError::permanent(error),
        other => JobError::retry(other),
    })?;
    tracing::debug!(job = %ctx.job.id, kind = %ctx.job.kind, ?report, "billing job done");
    Ok(())
}

/// Whether a billing job may have changed a subscription or a device (a failed job may have
/// written part of its work, so callers count it as a change too).
fn changed_something(report: &JobReport) -> bool {
    match report {
        JobReport::Pass(pass) => *pass != PassReport::default(),
        JobReport::Charged(charges) => !charges.is_empty(),
        JobReport::GraceExpiry { suspended } => *suspended,
    }
}
