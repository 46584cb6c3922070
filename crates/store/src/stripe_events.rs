//! Stripe webhook events already processed, so each event id takes effect once.

use crate::{Db, Result, on_pool};

impl Db {
    /// Records a webhook event as processed; false when it was processed before.
    pub async fn mark_stripe_event_processed(
        &self,
        id: &str,
        event_type: &str,
        created: i64,
        now: i64,
    ) -> Result<bool> {
        let inserted = on_pool!(self, pool => sqlx::query(
            "INSERT INTO stripe_events (id, event_type, created, processed_at) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (id) DO NOTHING",
        )
        .bind(id)
        .bind(event_type)
        .bind(created)
        .bind(now)
        .execute(pool)
        .await?
        .rows_affected());
        Ok(inserted == 1)
    }
}
