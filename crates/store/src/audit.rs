//! The audit log: every state change with its actor and cause, for support and disputes.

use crate::{Db, Result, on_pool};

/// One audit entry as stored (`detail` is JSON text).
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct AuditEntry {
    pub id: i64,
    pub at: i64,
    pub actor: String,
    pub entity_type: String,
    pub entity_id: String,
    pub action: String,
    pub detail: String,
}

/// An entry to append.
#[derive(Debug, Clone)]
pub struct NewAuditEntry<'a> {
    pub at: i64,
    /// Who caused it: `system`, `job:<kind>`, `user:<id>`, `device:<serial>`, `stripe:<event id>`.
    pub actor: &'a str,
    pub entity_type: &'a str,
    pub entity_id: &'a str,
    pub action: &'a str,
    pub detail: serde_json::Value,
}

impl Db {
    /// Appends an entry.
    pub async fn append_audit(&self, entry: &NewAuditEntry<'_>) -> Result<()> {
        let detail = entry.detail.to_string();
        on_pool!(self, pool => sqlx::query(
            "INSERT INTO audit_log (at, actor, entity_type, entity_id, action, detail) VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(entry.at)
        .bind(entry.actor)
        .bind(entry.entity_type)
        .bind(entry.entity_id)
        .bind(entry.action)
        .bind(&detail)
        .execute(pool)
        .await
        .map(|_| ()))?;
        Ok(())
    }

    /// The entries about one entity, oldest first.
    pub async fn audit_for(&self, entity_type: &str, entity_id: &str) -> Result<Vec<AuditEntry>> {
        Ok(on_pool!(self, pool => sqlx::query_as(
            "SELECT id, at, actor, entity_type, entity_id, action, detail FROM audit_log \
             WHERE entity_type = $1 AND entity_id = $2 ORDER BY at, id",
        )
        .bind(entity_type)
        .bind(entity_id)
        .fetch_all(pool)
        .await)?)
    }
}
