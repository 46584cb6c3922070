//! Every job kind the server runs, and the recurring ones. Add a line here for a new kind.

use std::time::Duration;

use smartbox_billing::BillingJob;

use smartbox_store::EVENT_COMPLETED_JOB;

use super::{
    Registry, analytics, billing, event_completed, invoice_email, maintenance, retention, rollouts,
    seal_photos,
};
use crate::notifications;

/// How often the billing pass runs (trial ends, renewals, cancels, reconciliation).
pub const BILLING_PASS_EVERY: Duration = Duration::from_secs(60);

/// The server's handlers.
pub fn registry() -> Registry {
    Registry::new()
        .handle(BillingJob::BILLING_PASS, billing::run)
        .handle(BillingJob::PAYMENT_RETRY, billing::run)
        .handle(BillingJob::GRACE_EXPIRY, billing::run)
        .handle(BillingJob::COLLECT_CUSTOMER, billing::run)
        .handle(EVENT_COMPLETED_JOB, event_completed::run)
        .handle(event_completed::EVENT_THUMBNAILS, crate::thumbnails::run)
        .handle(
            crate::mail_intelligence::CLASSIFY_EVENT,
            crate::mail_intelligence::run,
        )
        .handle(event_completed::NOTIFY_EVENT, notifications::fan_out::run)
        .handle(
            notifications::NOTIFY_DELIVERY,
            notifications::deliver::run_delivery,
        )
        .handle(
            notifications::NOTIFY_RELEASE,
            notifications::deliver::run_release,
        )
        .handle(
            crate::services::tickets::TICKET_EMAIL,
            notifications::ticket_mail::run,
        )
        .handle(invoice_email::INVOICE_EMAIL, invoice_email::run)
        .handle(maintenance::PRUNE_JOBS, maintenance::prune)
        .handle(analytics::ANALYTICS_SNAPSHOT, analytics::run)
        .handle(seal_photos::SEAL_STORED_PHOTOS, seal_photos::run)
        .handle(retention::RETENTION_PASS, retention::run)
        .handle(
            notifications::home_assistant::HOME_ASSISTANT_STATUS,
            notifications::home_assistant::run,
        )
        .handle(
            notifications::digest::DIGEST_PASS,
            notifications::digest::run_pass,
        )
        .handle(
            notifications::digest::NOTIFY_DIGEST,
            notifications::digest::run_digest,
        )
        .handle(crate::services::rollouts::GATE_JOB, rollouts::gates)
        .handle(crate::services::rollouts::ROLLOUT_ALERT, rollouts::alert)
        .every(BillingJob::BILLING_PASS, BILLING_PASS_EVERY)
        .every(
            notifications::home_assistant::HOME_ASSISTANT_STATUS,
            notifications::home_assistant::STATUS_EVERY,
        )
        .every(
            notifications::digest::DIGEST_PASS,
            notifications::digest::DIGEST_PASS_EVERY,
        )
        .every(maintenance::PRUNE_JOBS, maintenance::PRUNE_JOBS_EVERY)
        .every(retention::RETENTION_PASS, retention::RETENTION_PASS_EVERY)
        .every(
            analytics::ANALYTICS_SNAPSHOT,
            analytics::ANALYTICS_SNAPSHOT_EVERY,
        )
        .every(crate::services::rollouts::GATE_JOB, rollouts::GATES_EVERY)
}
