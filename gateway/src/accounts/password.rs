//! Password hashing: Argon2id with m = 19 MiB, t = 2, p = 1 (the OWASP baseline), PHC
//! strings in the database. A login for an unknown account verifies against a dummy hash
//! of the same cost, so both answers take the same time.

use std::sync::OnceLock;

use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};

/// Memory cost, KiB.
pub const MEMORY_KIB: u32 = 19 * 1024;
/// Iterations.
pub const ITERATIONS: u32 = 2;
/// Lanes.
pub const PARALLELISM: u32 = 1;
/// Shortest password accepted, characters.
pub const MIN_PASSWORD_CHARS: usize = 10;
/// Longest password accepted, bytes (hashing cost does not depend on it, but request
/// bodies stay bounded).
pub const MAX_PASSWORD_BYTES: usize = 1024;

/// Why a password could not be hashed.
#[derive(Debug, thiserror::Error)]
pub enum PasswordError {
    /// The Argon2 parameters or hashing failed (never for valid input).
    #[error("password hashing failed: {0}")]
    Hash(String),
}

fn hasher() -> Result<Argon2<'static>, PasswordError> {
    let params = Params::new(MEMORY_KIB, ITERATIONS, PARALLELISM, None)
        .map_err(|e| PasswordError::Hash(e.to_string()))?;
    Ok(Argon2::new(Algorithm::Argon2id, Version::V0x13, params))
}

/// Why a password is not acceptable, for the user to read; `None` when it is.
pub fn policy_violation(password: &str) -> Option<String> {
    if password.chars().count() < MIN_PASSWORD_CHARS {
        return Some(format!(
            "a password needs at least {MIN_PASSWORD_CHARS} characters"
        ));
    }
    if password.len() > MAX_PASSWORD_BYTES {
        return Some(format!(
            "a password may have at most {MAX_PASSWORD_BYTES} bytes"
        ));
    }
    None
}

/// The PHC string of `password` under a fresh salt.
pub fn hash_password(password: &str) -> Result<String, PasswordError> {
    let salt = SaltString::generate(&mut OsRng);
    hasher()?
        .hash_password(password.as_bytes(), &salt)
        .map(|hash| hash.to_string())
        .map_err(|e| PasswordError::Hash(e.to_string()))
}

/// Whether `password` matches the stored PHC string (an unreadable one never matches).
/// The parameters are those of the stored hash.
pub fn verify_password(password: &str, stored: &str) -> bool {
    let Ok(parsed) = PasswordHash::new(stored) else {
        return false;
    };
    let Ok(argon) = hasher() else {
        return false;
    };
    argon.verify_password(password.as_bytes(), &parsed).is_ok()
}

/// Spends the time of one verification, for a login naming no account.
pub fn verify_dummy(password: &str) {
    static DUMMY: OnceLock<Option<String>> = OnceLock::new();
    if let Some(stored) = DUMMY.get_or_init(|| hash_password("paceline-dummy-password").ok()) {
        let _ = verify_password(password, stored);
    }
}

/// A random password for a first admin (20 characters from a 56-letter alphabet without
/// look-alikes: about 116 bits).
pub fn generate_password() -> String {
    const ALPHABET: &[u8] = b"abcdefghijkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789";
    let mut out = String::with_capacity(20);
    let mut bytes = [0u8; 64];
    while out.len() < 20 {
        if getrandom::fill(&mut bytes).is_err() {
            continue;
        }
        for &b in &bytes {
            // Rejection sampling keeps every letter equally likely.
            let limit = 256 - (256 % ALPHABET.len());
            if usize::from(b) < limit && out.len() < 20 {
                out.push(char::from(ALPHABET[usize::from(b) % ALPHABET.len()]));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_are_argon2id_at_the_chosen_cost_and_verify_only_their_password() {
        let hash = hash_password("correct horse battery").unwrap();
        assert!(
            hash.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
            "{hash}"
        );
        assert!(verify_password("correct horse battery", &hash));
        assert!(!verify_password("correct horse batterY", &hash));
        assert!(!verify_password(
            "correct horse battery",
            "not a phc string"
        ));
        // Two hashes of one password differ (fresh salts).
        assert_ne!(hash, hash_password("correct horse battery").unwrap());
    }

    #[test]
    fn the_policy_names_what_is_wrong() {
        assert!(policy_violation("short").unwrap().contains("10"));
        assert!(
            policy_violation(&"x".repeat(2000))
                .unwrap()
                .contains("1024")
        );
        assert_eq!(policy_violation("long enough pass"), None);
    }

    #[test]
    fn generated_passwords_are_long_and_distinct() {
        let a = generate_password();
        assert_eq!(a.len(), 20);
        assert_ne!(a, generate_password());
        assert_eq!(policy_violation(&a), None);
    }
}
