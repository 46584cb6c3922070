//! Returns of mailboxes: started by the customer with a reason and an RMA number, canceled by
//! them before the warehouse receives the box, or received (then the mailbox is returned).
//! Written through change sets (`Change::InsertReturn`, `Change::CloseReturn`).

use smartbox_domain::DeviceId;

use crate::{Db, Result, on_pool};

/// A return of a mailbox.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct ReturnRow {
    pub id: String,
    pub device_id: String,
    pub customer_id: String,
    /// The number on the packing slip: `RMA-7K3Q9XHT`.
    pub rma: String,
    pub reason: String,
    pub started_at: i64,
    pub canceled_at: Option<i64>,
    pub received_at: Option<i64>,
}

impl Db {
    /// The mailbox's return that is neither canceled nor received, if there is one.
    pub async fn open_return_of_device(&self, device_id: &DeviceId) -> Result<Option<ReturnRow>> {
        Ok(on_pool!(self, pool => sqlx::query_as(
            "SELECT id, device_id, customer_id, rma, reason, started_at, canceled_at, received_at \
             FROM device_returns WHERE device_id = $1 AND canceled_at IS NULL AND received_at IS NULL",
        )
        .bind(device_id.as_str())
        .fetch_optional(pool)
        .await)?)
    }
}
