//! A customer's change of email, confirmed by a link sent to the new address: the link's token
//! is stored hashed, works once, and expires; asking again voids the older link. Confirming
//! rewrites the user's email with an audit entry in one transaction. Sessions are the user's,
//! not the address's, so they keep working.

use smartbox_domain::UserId;

use crate::{Db, Result, StoreError, on_pool};

/// Uses up every pending link of the user.
const VOID_CHANGES: &str =
    "UPDATE email_changes SET used_at = $2 WHERE user_id = $1 AND used_at IS NULL";

/// A change of email waiting for its link.
#[derive(Debug, Clone)]
pub struct NewEmailChange<'a> {
    pub token_hash: &'a str,
    pub user_id: &'a UserId,
    /// Already normalised.
    pub new_email: &'a str,
    pub now: i64,
    pub expires_at: i64,
}

/// A confirmed change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EmailChanged {
    pub user_id: UserId,
    pub old_email: String,
    pub new_email: String,
}

impl Db {
    /// Stores a pending change, voiding the user's older links in the same transaction (only the
    /// newest email works).
    pub async fn insert_email_change(&self, change: &NewEmailChange<'_>) -> Result<()> {
        on_pool!(self, pool => {
            let mut tx = pool.begin().await?;
            sqlx::query(VOID_CHANGES)
                .bind(change.user_id.as_str())
                .bind(change.now)
                .execute(&mut *tx)
                .await?;
            sqlx::query(
                "INSERT INTO email_changes (token_hash, user_id, new_email, created_at, expires_at) \
                 VALUES ($1, $2, $3, $4, $5)",
            )
            .bind(change.token_hash)
            .bind(change.user_id.as_str())
            .bind(change.new_email)
            .bind(change.now)
            .bind(change.expires_at)
            .execute(&mut *tx)
            .await?;
            tx.commit().await
        })?;
        Ok(())
    }

    /// The user a link belongs to and the new address it names, if the link is unused and
    /// unexpired at `now`.
    pub async fn pending_email_change(
        &self,
        token_hash: &str,
        now: i64,
    ) -> Result<Option<(UserId, String)>> {
        let row: Option<(String, String)> = on_pool!(self, pool => sqlx::query_as(
            "SELECT user_id, new_email FROM email_changes \
             WHERE token_hash = $1 AND used_at IS NULL AND expires_at > $2",
        )
        .bind(token_hash)
        .bind(now)
        .fetch_optional(pool)
        .await)?;
        Ok(row.map(|(user_id, email)| (UserId::new(user_id), email)))
    }

    /// Uses up the link (and any other pending one of the user) and sets the user's email to
    /// the one it names, with an audit entry by `actor` in the same transaction. `None` (and nothing
    /// changed) when the link is unknown, used or expired; [`StoreError::Conflict`] (nothing
    /// changed) when another account took the address meanwhile.
    pub async fn confirm_email_change(
        &self,
        token_hash: &str,
        now: i64,
        actor: &str,
    ) -> Result<Option<EmailChanged>> {
        let changed = on_pool!(self, pool => {
            let mut tx = pool.begin().await?;
            let pending: Option<(String, String)> = sqlx::query_as(
                "UPDATE email_changes SET used_at = $2 \
                 WHERE token_hash = $1 AND used_at IS NULL AND expires_at > $2 \
                 RETURNING user_id, new_email",
            )
            .bind(token_hash)
            .bind(now)
            .fetch_optional(&mut *tx)
            .await?;
            let Some((user_id, new_email)) = pending else {
                return Ok(None);
            };
            let old_email: String = sqlx::query_scalar("SELECT email FROM users WHERE id = $1")
                .bind(&user_id)
                .fetch_one(&mut *tx)
                .await?;
            let updated = sqlx::query("UPDATE users SET email = $2 WHERE id = $1")
                .bind(&user_id)
                .bind(&new_email)
                .execute(&mut *tx)
                .await;
            if let Err(err) = updated {
                let err = StoreError::from(err);
                return Err(if err.is_conflict() {
                    StoreError::Conflict(format!("{new_email} belongs to another account"))
                } else {
                    err
                });
            }
            sqlx::query(VOID_CHANGES)
                .bind(&user_id)
                .bind(now)
                .execute(&mut *tx)
                .await?;
            let detail = serde_json::json!({ "from": old_email, "to": new_email });
            sqlx::query(
                "INSERT INTO audit_log (at, actor, entity_type, entity_id, action, detail) \
                 VALUES ($1, $2, 'user', $3, 'change_email', $4)",
            )
            .bind(now)
            .bind(actor)
            .bind(&user_id)
            .bind(detail.to_string())
            .execute(&mut *tx)
            .await?;
            tx.commit().await?;
            Some(EmailChanged {
                user_id: UserId::new(user_id),
                old_email,
                new_email,
            })
        });
        Ok(changed)
    }
}
