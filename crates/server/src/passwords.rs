//! Password hashing with argon2id (the crate's default parameters, OWASP's recommendation), and
//! [`Hashing`], which bounds how many hashes run at once.

use std::sync::Arc;
use std::time::Duration;

use argon2::Argon2;
use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};

/// The PHC string for `password`.
pub fn hash(password: &str) -> String {
    let salt = SaltString::generate(&mut OsRng);
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .expect("argon2 with default parameters hashes any password")
        .to_string()
}

/// Whether `password` matches the stored PHC string.
pub fn verify(password: &str, stored: &str) -> bool {
    PasswordHash::new(stored)
        .map(|parsed| {
            Argon2::default()
                .verify_password(password.as_bytes(), &parsed)
                .is_ok()
        })
        .unwrap_or(false)
}

/// How long a request waits for a hashing slot before it is answered 503.
pub const QUEUE_DEADLINE: Duration = Duration::from_secs(5);

/// Runs argon2 for requests on the blocking pool, at most `slots` at a time. Each hash holds
/// 19 MiB for tens of milliseconds, so unbounded sign-ups and logins could take the machine's
/// memory (100 parallel sign-ups took 1.5 GB); a request that cannot start within the queue
/// deadline is refused with [`HashingError::Busy`] instead.
#[derive(Debug, Clone)]
pub struct Hashing {
    slots: Arc<tokio::sync::Semaphore>,
    queue_deadline: Duration,
}

/// Why a password could not be hashed or checked.
#[derive(Debug, thiserror::Error)]
pub enum HashingError {
    /// Every slot stayed taken for the queue deadline.
    #[error("the server is busy; try again in a moment")]
    Busy,
    #[error("password hashing failed: {0}")]
    Failed(String),
}

impl Hashing {
    /// `slots` hashes at a time, each request waiting at most `queue_deadline` for one.
    pub fn new(slots: usize, queue_deadline: Duration) -> Hashing {
        Hashing {
            slots: Arc::new(tokio::sync::Semaphore::new(slots.max(1))),
            queue_deadline,
        }
    }

    /// The PHC string for `password`.
    pub async fn hash(&self, password: String) -> Result<String, HashingError> {
        self.run(move || hash(&password)).await
    }

    /// Whether `password` matches the stored PHC string.
    pub async fn verify(&self, password: String, stored: String) -> Result<bool, HashingError> {
        self.run(move || verify(&password, &stored)).await
    }

    async fn run<T: Send + 'static>(
        &self,
        work: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, HashingError> {
        let slot =
            tokio::time::timeout(self.queue_deadline, Arc::clone(&self.slots).acquire_owned())
                .await
                .map_err(|_| HashingError::Busy)?
                .map_err(|_| HashingError::Busy)?;
        // The slot moves into the blocking task: a client that hangs up does not free it while
        // its hash still runs.
        tokio::task::spawn_blocking(move || {
            let _slot = slot;
            work()
        })
        .await
        .map_err(|err| HashingError::Failed(err.to_string()))
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_password_verifies_against_its_own_hash_only() {
        let stored = super::hash("correct horse");
        assert!(stored.starts_with("$argon2id$"));
        assert!(super::verify("correct horse", &stored));
        assert!(!super::verify("wrong horse", &stored));
        assert!(!super::verify("correct horse", "not a hash"));
    }

    #[tokio::test]
    async fn a_request_that_cannot_get_a_slot_in_time_is_refused() {
        let hashing = super::Hashing::new(1, std::time::Duration::from_millis(1));
        let first = hashing.hash("a long password".to_owned());
        let second = hashing.hash("another password".to_owned());
        let (first, second) = tokio::join!(first, second);
        assert!(first.is_ok());
        assert!(
            matches!(second, Err(super::HashingError::Busy)),
            "{second:?}"
        );
    }
}
