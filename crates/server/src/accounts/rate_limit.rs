//! Rate limits on guessing: failed logins per account and per address, failed claims per address.
//! Failures are rows in the database, so every server process shares the count.

use std::net::SocketAddr;

use axum::extract::ConnectInfo;
use axum::http::Extensions;
use smartbox_store::{Db, StoreError};

/// The window failures are counted in.
pub const WINDOW_MS: i64 = 15 * 60 * 1000;
/// Failed logins of one account before it is locked for the rest of the window.
pub const LOGIN_FAILURES_PER_ACCOUNT: i64 = 5;
/// Failed logins from one address before it is refused for the rest of the window.
pub const LOGIN_FAILURES_PER_ADDRESS: i64 = 20;
/// Failed claims (wrong serial or code) from one address.
pub const CLAIM_FAILURES_PER_ADDRESS: i64 = 10;

/// What a limit counts.
#[derive(Debug, Clone)]
pub enum Scope {
    LoginAccount(String),
    LoginAddress(String),
    ClaimAddress(String),
}

impl Scope {
    fn key(&self) -> String {
        match self {
            Scope::LoginAccount(email) => format!("login-account:{email}"),
            Scope::LoginAddress(addr) => format!("login-address:{addr}"),
            Scope::ClaimAddress(addr) => format!("claim-address:{addr}"),
        }
    }

    fn limit(&self) -> i64 {
        match self {
            Scope::LoginAccount(_) => LOGIN_FAILURES_PER_ACCOUNT,
            Scope::LoginAddress(_) => LOGIN_FAILURES_PER_ADDRESS,
            Scope::ClaimAddress(_) => CLAIM_FAILURES_PER_ADDRESS,
        }
    }
}

/// True when `scope` has used up its failures in the window ending at `now`.
pub async fn is_limited(db: &Db, scope: &Scope, now: i64) -> Result<bool, StoreError> {
    Ok(db
        .count_auth_failures(&scope.key(), now - WINDOW_MS)
        .await?
        >= scope.limit())
}

/// Counts one failure against `scope`.
pub async fn record_failure(db: &Db, scope: &Scope, now: i64) -> Result<(), StoreError> {
    db.record_auth_failure(&scope.key(), now).await
}

/// Forgets `scope`'s failures (after a successful login).
pub async fn clear(db: &Db, scope: &Scope) -> Result<(), StoreError> {
    db.clear_auth_failures(&scope.key()).await
}

/// The client's IP address as the socket saw it; "unknown" when the server was not started with
/// connection info (in-process tests).
pub fn client_address(extensions: &Extensions) -> String {
    extensions.get::<ConnectInfo<SocketAddr>>().map_or_else(
        || "unknown".to_owned(),
        |ConnectInfo(addr)| addr.ip().to_string(),
    )
}
