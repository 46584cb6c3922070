//! Notification success per period (DESIGN §4, for admin analytics): notifications with at least
//! one channel delivered / notifications attempted, from the delivery records.

use smartbox_domain::metrics::{NotificationOutcomes, Ratio, notification_success_rate};
use smartbox_store::{Db, StoreError};

/// The success rate of notifications whose deliveries were recorded in `[from_ms, until_ms)`;
/// `None` when none was.
pub async fn success_rate(
    db: &Db,
    from_ms: i64,
    until_ms: i64,
) -> Result<Option<Ratio>, StoreError> {
    let counts = db.notification_counts(from_ms, until_ms).await?;
    Ok(notification_success_rate(NotificationOutcomes {
        attempted: u64::try_from(counts.attempted).unwrap_or(0),
        delivered: u64::try_from(counts.delivered).unwrap_or(0),
    }))
}
