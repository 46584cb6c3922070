//! Password hashing with argon2id (the crate's default parameters, OWASP's recommendation), and
//! [`Hashing`], which bounds how many hashes run at once.

use std::sync::Arc;
use std::time::Duration;

use std::sync::Mutex;

use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{
    Output, ParamsString, PasswordHash, PasswordHasher, PasswordVerifier, SaltString,
};
use argon2::{Algorithm, Argon2, Block, Params, Version};

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

/// Runs argon2 for requests on the blocking pool, at most `slots` at a time, each in working
/// memory the slots keep and reuse. Each hash needs 19 MiB, so unbounded sign-ups and logins
/// could take the machine's memory (100 parallel sign-ups took 1.5 GB); and glibc kept every
/// freed 19 MiB block (its mmap threshold rises to that size after the first free), so even
/// one at a time RSS grew by 19 MiB per hash. A request that cannot start within the queue
/// deadline is refused with [`HashingError::Busy`] instead.
#[derive(Debug, Clone)]
pub struct Hashing {
    slots: Arc<tokio::sync::Semaphore>,
    /// Working memory of the slots not in use (at most one per slot).
    memory: Arc<Mutex<Vec<Vec<Block>>>>,
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
            memory: Arc::new(Mutex::new(Vec::new())),
            queue_deadline,
        }
    }

    /// The PHC string for `password`.
    pub async fn hash(&self, password: String) -> Result<String, HashingError> {
        self.run(move |memory| hash_in(&password, memory))
            .await?
            .map_err(|err| HashingError::Failed(err.to_string()))
    }

    /// Whether `password` matches the stored PHC string.
    pub async fn verify(&self, password: String, stored: String) -> Result<bool, HashingError> {
        self.run(move |memory| verify_in(&password, &stored, memory))
            .await
    }

    async fn run<T: Send + 'static>(
        &self,
        work: impl FnOnce(&mut Vec<Block>) -> T + Send + 'static,
    ) -> Result<T, HashingError> {
        let slot =
            tokio::time::timeout(self.queue_deadline, Arc::clone(&self.slots).acquire_owned())
                .await
                .map_err(|_| HashingError::Busy)?
                .map_err(|_| HashingError::Busy)?;
        // The slot moves into the blocking task: a client that hangs up does not free it while
        // its hash still runs.
        let pool = Arc::clone(&self.memory);
        tokio::task::spawn_blocking(move || {
            let _slot = slot;
            let taken = pool.lock().unwrap_or_else(|p| p.into_inner()).pop();
            let mut memory = taken.unwrap_or_default();
            let result = work(&mut memory);
            pool.lock().unwrap_or_else(|p| p.into_inner()).push(memory);
            result
        })
        .await
        .map_err(|err| HashingError::Failed(err.to_string()))
    }
}

/// [`hash`] in `memory` (grown to the blocks argon2 needs, then kept by the caller).
fn hash_in(
    password: &str,
    memory: &mut Vec<Block>,
) -> Result<String, argon2::password_hash::Error> {
    let params = Params::default();
    let salt = SaltString::generate(&mut OsRng);
    let mut salt_buf = [0u8; 64];
    let salt_bytes = salt.as_salt().decode_b64(&mut salt_buf)?;
    let blocks = working_blocks(memory, &params);
    let argon = Argon2::new(Algorithm::Argon2id, Version::V0x13, params.clone());
    let output = Output::init_with(Params::DEFAULT_OUTPUT_LEN, |out| {
        Ok(argon.hash_password_into_with_memory(password.as_bytes(), salt_bytes, out, blocks)?)
    })?;
    Ok(PasswordHash {
        algorithm: Algorithm::Argon2id.ident(),
        version: Some(Version::V0x13.into()),
        params: ParamsString::try_from(&params)?,
        salt: Some(salt.as_salt()),
        hash: Some(output),
    }
    .to_string())
}

/// [`verify`] in `memory`, with the parameters stored in the PHC string.
fn verify_in(password: &str, stored: &str, memory: &mut Vec<Block>) -> bool {
    let Ok(parsed) = PasswordHash::new(stored) else {
        return false;
    };
    let (Some(salt), Some(expected)) = (parsed.salt, parsed.hash) else {
        return false;
    };
    let (Ok(params), Ok(algorithm)) = (
        Params::try_from(&parsed),
        Algorithm::try_from(parsed.algorithm),
    ) else {
        return false;
    };
    let version = parsed.version.map_or(Ok(Version::V0x13), Version::try_from);
    let (Ok(version), mut salt_buf) = (version, [0u8; 64]) else {
        return false;
    };
    let Ok(salt_bytes) = salt.decode_b64(&mut salt_buf) else {
        return false;
    };
    let argon = Argon2::new(algorithm, version, params.clone());
    let blocks = working_blocks(memory, &params);
    let mut out = vec![0u8; expected.len()];
    argon
        .hash_password_into_with_memory(password.as_bytes(), salt_bytes, &mut out, blocks)
        .is_ok()
        && Output::new(&out).is_ok_and(|computed| computed == expected)
}

/// The first `params.block_count()` blocks of `memory`, grown when too short.
fn working_blocks<'m>(memory: &'m mut Vec<Block>, params: &Params) -> &'m mut [Block] {
    let needed = params.block_count();
    if memory.len() < needed {
        memory.resize(needed, Block::default());
    }
    &mut memory[..needed]
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
    async fn slots_hash_and_verify_like_the_plain_functions_in_reused_memory() {
        let hashing = super::Hashing::new(1, std::time::Duration::from_secs(5));
        let stored = hashing.hash("correct horse".to_owned()).await.unwrap();
        assert!(super::verify("correct horse", &stored), "{stored}");
        let plain = super::hash("battery staple");
        for (password, stored, matches) in [
            ("correct horse", &stored, true),
            ("wrong horse", &stored, false),
            ("battery staple", &plain, true),
            ("battery staple", &"not a hash".to_owned(), false),
        ] {
            let verified = hashing
                .verify(password.to_owned(), stored.clone())
                .await
                .unwrap();
            assert_eq!(verified, matches, "{password}");
        }
        assert_eq!(
            hashing.memory.lock().unwrap().len(),
            1,
            "one slot, one buffer"
        );
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
