//! People who log in: customers, support staff and admins.

use crate::{Db, Result, on_pool};
use smartbox_domain::UserId;

/// A user as stored.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct UserRow {
    pub id: String,
    pub email: String,
    pub password_hash: String,
    pub role: String,
    pub display_name: String,
    pub time_zone: String,
    pub provider_customer_id: Option<String>,
    pub created_at: i64,
}

/// What creating a user needs; the email is already normalised and the password already hashed.
#[derive(Debug, Clone)]
pub struct NewUser<'a> {
    pub id: &'a str,
    pub email: &'a str,
    pub password_hash: &'a str,
    pub role: &'a str,
    pub created_at: i64,
}

const USER_COLUMNS: &str =
    "id, email, password_hash, role, display_name, time_zone, provider_customer_id, created_at";

impl Db {
    /// Creates a user; a taken email is a [`crate::StoreError::Conflict`].
    pub async fn insert_user(&self, user: &NewUser<'_>) -> Result<()> {
        on_pool!(self, pool => sqlx::query(
            "INSERT INTO users (id, email, password_hash, role, created_at) VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(user.id)
        .bind(user.email)
        .bind(user.password_hash)
        .bind(user.role)
        .bind(user.created_at)
        .execute(pool)
        .await
        .map(|_| ()))?;
        Ok(())
    }

    /// The user with this (normalised) email.
    pub async fn user_by_email(&self, email: &str) -> Result<Option<UserRow>> {
        let sql = format!("SELECT {USER_COLUMNS} FROM users WHERE email = $1");
        Ok(
            on_pool!(self, pool => sqlx::query_as(sqlx::AssertSqlSafe(sql.as_str())).bind(email).fetch_optional(pool).await)?,
        )
    }

    /// The user with this id.
    pub async fn user_by_id(&self, id: &str) -> Result<Option<UserRow>> {
        let sql = format!("SELECT {USER_COLUMNS} FROM users WHERE id = $1");
        Ok(
            on_pool!(self, pool => sqlx::query_as(sqlx::AssertSqlSafe(sql.as_str())).bind(id).fetch_optional(pool).await)?,
        )
    }

    /// Records the payment provider's customer id for this user.
    pub async fn set_provider_customer_id(
        &self,
        user_id: &UserId,
        provider_id: &str,
    ) -> Result<()> {
        on_pool!(self, pool => sqlx::query("UPDATE users SET provider_customer_id = $2 WHERE id = $1")
            .bind(user_id.as_str())
            .bind(provider_id)
            .execute(pool)
            .await
            .map(|_| ()))?;
        Ok(())
    }

    /// Replaces a user's password hash (password reset, demo seeding).
    pub async fn set_password_hash(&self, user_id: &UserId, password_hash: &str) -> Result<()> {
        on_pool!(self, pool => sqlx::query("UPDATE users SET password_hash = $2 WHERE id = $1")
            .bind(user_id.as_str())
            .bind(password_hash)
            .execute(pool)
            .await
            .map(|_| ()))?;
        Ok(())
    }
}
