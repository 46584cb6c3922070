//! What the retention job reads and deletes: photos past their plan's retention (the event rows
//! stay, as the record of the mail and its notifications).

use crate::{Db, Result, on_pool};

/// A stored photo whose retention has passed.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct ExpiredPhoto {
    pub event_id: String,
    pub idx: i64,
    pub blob_key: String,
    pub thumbnail_key: Option<String>,
}

/// Photos of events that occurred before these instants (epoch ms) are past retention, by the
/// current plan of the subscription that accepted the event; events without one use `basic`'s.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PhotoCutoffs {
    pub basic: i64,
    pub plus: i64,
    pub premium: i64,
}

impl Db {
    /// At most `limit` photos past retention, oldest first.
    pub async fn expired_photos(
        &self,
        cutoffs: PhotoCutoffs,
        limit: i64,
    ) -> Result<Vec<ExpiredPhoto>> {
        Ok(on_pool!(self, pool => sqlx::query_as(
            "SELECT p.event_id, p.idx, p.blob_key, p.thumbnail_key FROM photos p \
             JOIN mail_events e ON e.id = p.event_id \
             LEFT JOIN subscriptions s ON s.id = e.subscription_id \
             WHERE e.occurred_at < CASE s.plan_id WHEN 'plus' THEN $2 WHEN 'premium' THEN $3 ELSE $1 END \
             ORDER BY e.occurred_at, p.event_id, p.idx LIMIT $4",
        )
        .bind(cutoffs.basic)
        .bind(cutoffs.plus)
        .bind(cutoffs.premium)
        .bind(limit)
        .fetch_all(pool)
        .await)?)
    }

    /// Deletes a photo's row (its blobs are deleted first, by the caller).
    pub async fn delete_photo(&self, event_id: &str, idx: i64) -> Result<()> {
        on_pool!(self, pool => sqlx::query("DELETE FROM photos WHERE event_id = $1 AND idx = $2")
            .bind(event_id)
            .bind(idx)
            .execute(pool)
            .await
            .map(|_| ()))?;
        Ok(())
    }

    /// At most `limit` photos of the customer `customer_id`: of events accepted by one of their
    /// subscriptions or sent by one of their mailboxes (an account deletion removes them all).
    pub async fn photos_of_customer(
        &self,
        customer_id: &str,
        limit: i64,
    ) -> Result<Vec<ExpiredPhoto>> {
        Ok(on_pool!(self, pool => sqlx::query_as(
            "SELECT p.event_id, p.idx, p.blob_key, p.thumbnail_key FROM photos p \
             JOIN mail_events e ON e.id = p.event_id \
             LEFT JOIN subscriptions s ON s.id = e.subscription_id \
             LEFT JOIN devices d ON d.id = e.device_id \
             WHERE s.customer_id = $1 OR d.owner_id = $1 \
             ORDER BY p.event_id, p.idx LIMIT $2",
        )
        .bind(customer_id)
        .bind(limit)
        .fetch_all(pool)
        .await)?)
    }
}
