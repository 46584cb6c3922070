//! Business analytics (issue 19, definitions in docs/analytics.md): daily snapshots computed from
//! the subscriptions' audited history and the day's rows, kept so that a past month's figures do
//! not move when rows are later edited, and the reports read from them (today computed live).
//!
//! The rules themselves are the domain's (`smartbox_domain::metrics`); this module only reads
//! their inputs and stores their outputs. The snapshot job (`jobs::analytics`), the backfill
//! (`services::analytics`, CLI `smartbox analytics backfill`) and the admin page, CSV and JSON
//! API (`admin::analytics`, `admin_api`) all go through here.

pub mod figures;
pub mod history;
pub mod report;
pub mod snapshot;

use smartbox_store::{Db, StoreError};
use time::{Date, Duration};

pub use report::{Range, Report, report};
pub use snapshot::{day_bounds, day_of, snapshot_days};

/// Snapshots every finished day not yet snapshotted: from the day after the newest snapshot
/// (or the first subscription's day) to yesterday. Returns the number of days written.
pub async fn catch_up(db: &Db, now_ms: i64) -> Result<u64, StoreError> {
    let yesterday = day_of(now_ms) - Duration::days(1);
    let from = match db.last_analytics_day().await? {
        Some(last) => last + Duration::days(1),
        None => match first_day(db).await? {
            Some(first) => first,
            None => return Ok(0),
        },
    };
    snapshot_days(db, from, yesterday, now_ms).await
}

/// The day of the first subscription, if any.
pub(crate) async fn first_day(db: &Db) -> Result<Option<Date>, StoreError> {
    Ok(db.first_subscription_at().await?.map(day_of))
}
