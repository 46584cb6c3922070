//! Rate limits on guessing and on sign-ups. Attempts are rows in the database, so every server
//! process shares the count, and each attempt is admitted and recorded in one step *before* the
//! password or claim code is checked: parallel guesses cannot all pass a limit they exceed
//! together. An attempt that turns out right is taken back ([`release`]).
//!
//! Logins are limited per (account, address) with a growing wait after the free failures, and
//! per address across accounts; a guesser elsewhere cannot lock the owner out.

use smartbox_store::{Db, StoreError};

/// The window the per-address limits count in.
pub const WINDOW_MS: i64 = 15 * 60 * 1000;
/// The window failed logins of one account from one address are remembered in.
pub const LOGIN_PAIR_WINDOW_MS: i64 = 24 * 60 * 60 * 1000;
/// Failed logins of one account from one address before each further try has to wait.
pub const LOGIN_FAILURES_PER_PAIR: i64 = 5;
/// The wait after the free failures; it doubles with every further failure.
pub const LOGIN_BACKOFF_MS: i64 = 30 * 1000;
/// The longest wait between two tries of one account from one address.
pub const LOGIN_BACKOFF_MAX_MS: i64 = 60 * 60 * 1000;
/// Failed logins from one address (any accounts) before it is refused for the rest of the window.
pub const LOGIN_FAILURES_PER_ADDRESS: i64 = 20;
/// Failed claims (wrong serial or code) from one address.
pub const CLAIM_FAILURES_PER_ADDRESS: i64 = 10;
/// Sign-ups from one address per hour (each runs argon2, and each account costs storage).
pub const SIGNUPS_PER_ADDRESS: i64 = 30;
/// Reset emails asked for from one address per hour.
pub const RESET_REQUESTS_PER_ADDRESS: i64 = 10;

const HOUR_MS: i64 = 60 * 60 * 1000;

/// What a limit counts.
#[derive(Debug, Clone)]
pub enum Scope {
    /// Logins of one account from one address.
    LoginPair {
        email: String,
        address: String,
    },
    LoginAddress(String),
    ClaimAddress(String),
    SignupAddress(String),
    ResetAddress(String),
}

impl Scope {
    fn key(&self) -> String {
        match self {
            Scope::LoginPair { email, address } => format!("login-pair:{address}:{email}"),
            Scope::LoginAddress(addr) => format!("login-address:{addr}"),
            Scope::ClaimAddress(addr) => format!("claim-address:{addr}"),
            Scope::SignupAddress(addr) => format!("signup-address:{addr}"),
            Scope::ResetAddress(addr) => format!("reset-address:{addr}"),
        }
    }

    fn window(&self) -> i64 {
        match self {
            Scope::LoginPair { .. } => LOGIN_PAIR_WINDOW_MS,
            Scope::LoginAddress(_) | Scope::ClaimAddress(_) => WINDOW_MS,
            Scope::SignupAddress(_) | Scope::ResetAddress(_) => HOUR_MS,
        }
    }

    /// The earliest time the next attempt is admitted, after `count` attempts in the window, the
    /// last at `last`; `None` when the window is used up.
    fn next_allowed(&self, count: i64, last: Option<i64>) -> Option<i64> {
        let fixed = |limit: i64| (count < limit).then_some(i64::MIN);
        match self {
            Scope::LoginPair { .. } => Some(match (count - LOGIN_FAILURES_PER_PAIR, last) {
                (extra, Some(last)) if extra >= 0 => last + backoff_ms(extra),
                _ => i64::MIN,
            }),
            Scope::LoginAddress(_) => fixed(LOGIN_FAILURES_PER_ADDRESS),
            Scope::ClaimAddress(_) => fixed(CLAIM_FAILURES_PER_ADDRESS),
            Scope::SignupAddress(_) => fixed(SIGNUPS_PER_ADDRESS),
            Scope::ResetAddress(_) => fixed(RESET_REQUESTS_PER_ADDRESS),
        }
    }
}

/// The wait after `extra` failures past the free ones: 30 s, 60 s, 2 min, ... up to an hour.
fn backoff_ms(extra: i64) -> i64 {
    let doublings = u32::try_from(extra.clamp(0, 20)).unwrap_or(20);
    LOGIN_BACKOFF_MS
        .saturating_mul(1 << doublings)
        .min(LOGIN_BACKOFF_MAX_MS)
}

/// An attempt recorded against a scope (take it back with [`release`] when it succeeds).
#[derive(Debug, Clone)]
pub struct Admitted {
    scope: Scope,
    at: i64,
}

/// Admits and records one attempt under `scope` at `now`, or refuses it because the scope's limit
/// is used up.
pub async fn admit(db: &Db, scope: &Scope, now: i64) -> Result<Option<Admitted>, StoreError> {
    let recorded = db
        .try_record_auth_attempt(&scope.key(), now, now - scope.window(), |count, last| {
            scope
                .next_allowed(count, last)
                .is_some_and(|allowed| now >= allowed)
        })
        .await?;
    Ok(recorded.then(|| Admitted {
        scope: scope.clone(),
        at: now,
    }))
}

/// Takes back an admitted attempt: it succeeded, so it does not count as a failure.
pub async fn release(db: &Db, admitted: &Admitted) -> Result<(), StoreError> {
    db.release_auth_attempt(&admitted.scope.key(), admitted.at)
        .await
}

/// Forgets every attempt under `scope` (a successful login clears its account's failures from
/// that address).
pub async fn clear(db: &Db, scope: &Scope) -> Result<(), StoreError> {
    db.clear_auth_failures(&scope.key()).await
}

pub use super::client_address::client_address;

#[cfg(test)]
mod tests {
    use super::*;

    fn pair() -> Scope {
        Scope::LoginPair {
            email: "a@example.com".into(),
            address: "192.0.2.1".into(),
        }
    }

    #[test]
    fn after_five_failures_each_try_waits_twice_as_long_up_to_an_hour() {
        assert_eq!(pair().next_allowed(4, Some(1_000)), Some(i64::MIN));
        assert_eq!(pair().next_allowed(5, Some(1_000)), Some(31_000));
        assert_eq!(pair().next_allowed(6, Some(1_000)), Some(61_000));
        assert_eq!(pair().next_allowed(40, Some(0)), Some(LOGIN_BACKOFF_MAX_MS));
    }

    #[test]
    fn fixed_limits_close_at_their_count() {
        let scope = Scope::ClaimAddress("192.0.2.1".into());
        assert!(scope.next_allowed(9, None).is_some());
        assert!(scope.next_allowed(10, None).is_none());
    }
}
