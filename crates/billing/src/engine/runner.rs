//! Running one billing job: the dispatch from a parsed [`BillingJob`] to the billing pass, a
//! collection or a grace expiry. Kept apart from `jobs` so that the decisions, which enqueue jobs,
//! do not depend on the pass that runs them.

use std::time::Instant;

use time::OffsetDateTime;

use super::jobs::BillingJob;
use super::pass::PassReport;
use super::{BillingEngine, BillingError, from_ms};

/// What a job did, for logs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JobReport {
    Pass(PassReport),
    Charged(Vec<super::ChargeResult>),
    GraceExpiry { suspended: bool },
}

impl BillingEngine {
    /// Runs one billing job at `now` (the audit log names it `job:<kind>`). A billing pass
    /// stops at `deadline` and leaves the rest to the next one.
    pub async fn run_job(
        &self,
        job: &BillingJob,
        now: OffsetDateTime,
        deadline: Option<Instant>,
    ) -> Result<JobReport, BillingError> {
        let actor = format!("job:{}", job.kind());
        match job {
            BillingJob::BillingPass => Ok(JobReport::Pass(
                self.run_billing_pass(now, deadline, &actor).await?,
            )),
            BillingJob::PaymentRetry { subscription_id } => Ok(JobReport::Charged(
                self.collect_subscription(subscription_id, now, &actor, "scheduled payment retry")
                    .await?,
            )),
            BillingJob::GraceExpiry {
                subscription_id,
                at_ms,
            } => Ok(JobReport::GraceExpiry {
                suspended: self
                    .expire_grace(subscription_id, from_ms(*at_ms), now, &actor)
                    .await?,
            }),
            BillingJob::CollectCustomer { customer_id } => Ok(JobReport::Charged(
                self.collect_customer(customer_id, now, &actor, "the payment method changed")
                    .await?,
            )),
        }
    }
}
