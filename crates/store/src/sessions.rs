//! Server-side login sessions and one-time password-reset links. Both are stored by the SHA-256 of
//! their token (the caller hashes), so reading the database does not give a way in.

use crate::{Db, Result, on_pool};
use smartbox_domain::UserId;

/// A live session and the user it belongs to.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct SessionRow {
    pub token_hash: String,
    pub user_id: String,
    pub csrf_token: String,
    pub created_at: i64,
    pub expires_at: i64,
}

/// Session hashes checked per statement by [`Db::live_session_hashes`].
const LIVE_CHECK_CHUNK: usize = 500;

pub(crate) const VOID_RESETS: &str =
    "UPDATE password_resets SET used_at = $2 WHERE user_id = $1 AND used_at IS NULL";

impl Db {
    /// Stores a new session.
    pub async fn insert_session(&self, s: &SessionRow) -> Result<()> {
        on_pool!(self, pool => sqlx::query(
            "INSERT INTO sessions (token_hash, user_id, csrf_token, created_at, expires_at) VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(&s.token_hash)
        .bind(&s.user_id)
        .bind(&s.csrf_token)
        .bind(s.created_at)
        .bind(s.expires_at)
        .execute(pool)
        .await
        .map(|_| ()))?;
        Ok(())
    }

    /// The session with this token hash, if it has not expired at `now`.
    pub async fn live_session(&self, token_hash: &str, now: i64) -> Result<Option<SessionRow>> {
        Ok(on_pool!(self, pool => sqlx::query_as(
            "SELECT token_hash, user_id, csrf_token, created_at, expires_at FROM sessions \
             WHERE token_hash = $1 AND expires_at > $2",
        )
        .bind(token_hash)
        .bind(now)
        .fetch_optional(pool)
        .await)?)
    }

    /// Which of `token_hashes` are sessions still live at `now`: one query for every stream a
    /// process holds open, instead of one per stream. The hashes are checked in chunks (a
    /// statement's placeholders are bounded).
    pub async fn live_session_hashes(
        &self,
        token_hashes: &[String],
        now: i64,
    ) -> Result<Vec<String>> {
        let mut live = Vec::new();
        for chunk in token_hashes.chunks(LIVE_CHECK_CHUNK) {
            let placeholders: Vec<String> = (2..chunk.len() + 2).map(|n| format!("${n}")).collect();
            let sql = format!(
                "SELECT token_hash FROM sessions WHERE expires_at > $1 AND token_hash IN ({})",
                placeholders.join(", ")
            );
            let rows: Vec<(String,)> = on_pool!(self, pool => {
                let mut query = sqlx::query_as(sqlx::AssertSqlSafe(sql.as_str())).bind(now);
                for hash in chunk {
                    query = query.bind(hash);
                }
                query.fetch_all(pool).await
            })?;
            live.extend(rows.into_iter().map(|(hash,)| hash));
        }
        Ok(live)
    }

    /// Ends one session (logout, rotation at login).
    pub async fn delete_session(&self, token_hash: &str) -> Result<()> {
        on_pool!(self, pool => sqlx::query("DELETE FROM sessions WHERE token_hash = $1")
            .bind(token_hash)
            .execute(pool)
            .await
            .map(|_| ()))?;
        Ok(())
    }

    /// The user's sessions live at `now`, newest first.
    pub async fn sessions_of_user(&self, user_id: &UserId, now: i64) -> Result<Vec<SessionRow>> {
        Ok(on_pool!(self, pool => sqlx::query_as(
            "SELECT token_hash, user_id, csrf_token, created_at, expires_at FROM sessions \
             WHERE user_id = $1 AND expires_at > $2 ORDER BY created_at DESC",
        )
        .bind(user_id.as_str())
        .bind(now)
        .fetch_all(pool)
        .await)?)
    }

    /// Ends every session of a user (after a password reset).
    pub async fn delete_sessions_of_user(&self, user_id: &UserId) -> Result<()> {
        on_pool!(self, pool => sqlx::query("DELETE FROM sessions WHERE user_id = $1")
            .bind(user_id.as_str())
            .execute(pool)
            .await
            .map(|_| ()))?;
        Ok(())
    }

    /// Uses up every unused reset link of a user (after the password was reset with one).
    pub async fn void_password_resets(&self, user_id: &UserId, now: i64) -> Result<()> {
        on_pool!(self, pool => sqlx::query(VOID_RESETS)
            .bind(user_id.as_str())
            .bind(now)
            .execute(pool)
            .await
            .map(|_| ()))?;
        Ok(())
    }

    /// The user a reset link belongs to, if it is unused and unexpired at `now`.
    pub async fn password_reset_user(&self, token_hash: &str, now: i64) -> Result<Option<String>> {
        let row: Option<(String,)> = on_pool!(self, pool => sqlx::query_as(
            "SELECT user_id FROM password_resets WHERE token_hash = $1 AND used_at IS NULL AND expires_at > $2",
        )
        .bind(token_hash)
        .bind(now)
        .fetch_optional(pool)
        .await)?;
        Ok(row.map(|(id,)| id))
    }

    /// Uses up a reset link; false when it was already used or has expired (so it works once).
    pub async fn use_password_reset(&self, token_hash: &str, now: i64) -> Result<bool> {
        let done = on_pool!(self, pool => sqlx::query(
            "UPDATE password_resets SET used_at = $2 WHERE token_hash = $1 AND used_at IS NULL AND expires_at > $2",
        )
        .bind(token_hash)
        .bind(now)
        .execute(pool)
        .await?
        .rows_affected());
        Ok(done == 1)
    }

    /// Records an attempt under `scope` at `now` when `allow(count, last_at)` agrees, where
    /// `count` and `last_at` describe the attempts under `scope` at or after `since`. The check
    /// and the record are one step (`BEGIN IMMEDIATE` on SQLite, a transaction-scoped advisory
    /// lock on the scope on PostgreSQL), so parallel attempts cannot all pass a limit that they
    /// pass together. Returns whether the attempt was recorded.
    pub async fn try_record_auth_attempt(
        &self,
        scope: &str,
        now: i64,
        since: i64,
        allow: impl FnOnce(i64, Option<i64>) -> bool,
    ) -> Result<bool> {
        // SQLite: an immediate transaction takes the write lock before the count. PostgreSQL:
        // attempts under one scope queue on an advisory lock held until commit.
        let (begin, lock) = match self.backend() {
            crate::Backend::Sqlite => ("BEGIN IMMEDIATE", None),
            crate::Backend::Postgres => (
                "BEGIN",
                Some("SELECT pg_advisory_xact_lock(hashtextextended($1, 0))"),
            ),
        };
        on_pool!(self, pool => {
            let mut tx = pool.begin_with(begin).await?;
            if let Some(lock) = lock {
                sqlx::query(lock).bind(scope).execute(&mut *tx).await?;
            }
            let (count, last): (i64, Option<i64>) = sqlx::query_as(
                "SELECT COUNT(*), MAX(at) FROM auth_attempts WHERE scope = $1 AND at >= $2",
            )
            .bind(scope)
            .bind(since)
            .fetch_one(&mut *tx)
            .await?;
            if !allow(count, last) {
                return Ok(false);
            }
            sqlx::query("INSERT INTO auth_attempts (scope, at) VALUES ($1, $2)")
                .bind(scope)
                .bind(now)
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
        });
        Ok(true)
    }

    /// Takes back one attempt recorded under `scope` at `at` (an attempt that turned out to be
    /// a success, so it does not count against a limit on failures).
    pub async fn release_auth_attempt(&self, scope: &str, at: i64) -> Result<()> {
        // One row of possibly several equal ones, by the backend's row address.
        let delete = match self.backend() {
            crate::Backend::Sqlite => {
                "DELETE FROM auth_attempts WHERE rowid = \
                 (SELECT rowid FROM auth_attempts WHERE scope = $1 AND at = $2 LIMIT 1)"
            }
            crate::Backend::Postgres => {
                "DELETE FROM auth_attempts WHERE ctid = \
                 (SELECT ctid FROM auth_attempts WHERE scope = $1 AND at = $2 LIMIT 1)"
            }
        };
        on_pool!(self, pool => sqlx::query(delete)
            .bind(scope)
            .bind(at)
            .execute(pool)
            .await
            .map(|_| ()))?;
        Ok(())
    }

    /// Forgets the failures under `scope` (a successful login clears its account's count).
    pub async fn clear_auth_failures(&self, scope: &str) -> Result<()> {
        on_pool!(self, pool => sqlx::query("DELETE FROM auth_attempts WHERE scope = $1")
            .bind(scope)
            .execute(pool)
            .await
            .map(|_| ()))?;
        Ok(())
    }
}
