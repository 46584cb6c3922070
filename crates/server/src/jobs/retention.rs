//! The `retention_pass` job (hourly): what the service keeps and for how long
//! (docs/operations.md, "Retention").
//!
//! - Vitals: every report for 30 days, then the last report of each hour, deleted after 13
//!   months (a mailbox's newest report always stays: it is its latest state).
//! - Photos and thumbnails: deleted once the event is older than its plan's retention (Basic 90
//!   days, Plus 1 year, Premium 2 years); the blobs go first, then the rows, so a crash between
//!   the two leaves a row whose blob the next pass deletes again, never a blob nobody points to.
//!   The event itself stays, with its notifications, as the record of the mail.
//! - Usage, invoices, payments and the audit log are accounting records and are not touched.

use std::time::{Duration, Instant};

use smartbox_domain::PlanId;
use smartbox_store::PhotoCutoffs;

use super::{JobContext, JobError, LEASE};

/// The recurring job's kind.
pub const RETENTION_PASS: &str = "retention_pass";
/// How often it runs.
pub const RETENTION_PASS_EVERY: Duration = Duration::from_secs(3600);
/// Vitals younger than this are kept at full resolution.
pub const VITALS_FULL_FOR: Duration = Duration::from_secs(30 * 24 * 3600);
/// Vitals older than this are deleted (13 months of 30.5 days).
pub const VITALS_KEPT_FOR: Duration = Duration::from_secs(397 * 24 * 3600);
/// Rows per statement, so a pass never holds a long write lock.
const BATCH: i64 = 2_000;

/// One pass: thins the vitals and deletes expired photos, batch by batch, until nothing is left
/// or half the lease is spent (the next pass carries on).
pub async fn run(ctx: JobContext) -> Result<(), JobError> {
    let now = ctx.now_ms();
    let deadline = Instant::now() + LEASE / 2;
    let ago = |d: Duration| now - i64::try_from(d.as_millis()).unwrap_or(i64::MAX);
    let mut vitals = 0;
    loop {
        let deleted = ctx
            .state
            .db
            .thin_vitals(ago(VITALS_FULL_FOR), ago(VITALS_KEPT_FOR), BATCH)
            .await
            .map_err(JobError::retry)?;
        vitals += deleted;
        if deleted < BATCH as u64 || Instant::now() >= deadline {
            break;
        }
    }
    let days = |plan: PlanId| {
        ago(Duration::from_secs(
            u64::from(plan.plan().photo_retention_days) * 24 * 3600,
        ))
    };
    let cutoffs = PhotoCutoffs {
        basic: days(PlanId::Basic),
        plus: days(PlanId::Plus),
        premium: days(PlanId::Premium),
    };
    let mut photos = 0;
    while Instant::now() < deadline {
        let expired = ctx
            .state
            .db
            .expired_photos(cutoffs, BATCH)
            .await
            .map_err(JobError::retry)?;
        for photo in &expired {
            for path in std::iter::once(&photo.blob_key).chain(photo.thumbnail_key.as_ref()) {
                ctx.state
                    .photos
                    .delete(path)
                    .await
                    .map_err(JobError::retry)?;
            }
            ctx.state
                .db
                .delete_photo(&photo.event_id, photo.idx)
                .await
                .map_err(JobError::retry)?;
        }
        photos += expired.len();
        if expired.len() < BATCH as usize {
            break;
        }
    }
    tracing::info!(vitals, photos, "retention pass");
    Ok(())
}
