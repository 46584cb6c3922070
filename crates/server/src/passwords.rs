//! Password hashing with argon2id (the crate's default parameters, OWASP's recommendation).

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
}
