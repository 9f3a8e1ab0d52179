//! Passwords (argon2id, hashed off the async threads), random tokens and the keyed digest of ID
//! numbers that lets Bursar find a payer by ID number without storing it.

use argon2::password_hash::{rand_core::OsRng, PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;

use crate::error::EngineError;

/// At least 8 characters with letters and digits.
pub fn password_ok(p: &str) -> bool {
    let n = p.chars().count();
    (8..=64).contains(&n) && p.chars().any(|c| c.is_ascii_alphabetic()) && p.chars().any(|c| c.is_ascii_digit())
}

pub const PASSWORD_RULE: &str = "新密码至少 8 位，须同时包含字母和数字";

/// An argon2id hash (blocking: call [`hash`] from async code).
pub fn hash_blocking(password: &str) -> Result<String, EngineError> {
    let salt = SaltString::generate(&mut OsRng);
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| EngineError::Invariant(format!("password hashing: {e}")))
}

pub fn verify_blocking(password: &str, hash: &str) -> bool {
    PasswordHash::new(hash).is_ok_and(|parsed| Argon2::default().verify_password(password.as_bytes(), &parsed).is_ok())
}

/// An initial password set by an import, kept as a keyed HMAC instead of an argon2id hash: a
/// school imports tens of thousands of people at once, and argon2id would take minutes. It is
/// only ever an initial password (ID-number digits or the school's fixed one), which must be
/// changed — with proof — at the first login; without the server's key the digest tells nothing.
pub fn initial_marker(key: &[u8], payer_id: &str, password: &str) -> String {
    let k = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, key);
    format!(
        "initial${}",
        hex::encode(ring::hmac::sign(&k, format!("initial|{payer_id}|{password}").as_bytes()).as_ref())
    )
}

/// Whether a stored hash is an import's initial-password marker.
pub fn is_initial_marker(hash: &str) -> bool {
    hash.starts_with("initial$")
}

/// Argon2id checks running at once, at most: each takes ~19 MiB and a core for tens of
/// milliseconds, so a flood of logins queues here instead of growing memory without bound.
const MAX_CONCURRENT_ARGON2: usize = 4;

fn argon2_slots() -> &'static tokio::sync::Semaphore {
    static SLOTS: std::sync::OnceLock<tokio::sync::Semaphore> = std::sync::OnceLock::new();
    SLOTS.get_or_init(|| tokio::sync::Semaphore::new(MAX_CONCURRENT_ARGON2))
}

pub async fn hash(password: &str) -> Result<String, EngineError> {
    let p = password.to_string();
    let _slot =
        argon2_slots().acquire().await.map_err(|e| EngineError::Invariant(format!("password hashing slot: {e}")))?;
    tokio::task::spawn_blocking(move || hash_blocking(&p))
        .await
        .map_err(|e| EngineError::Invariant(format!("password hashing task: {e}")))?
}

pub async fn verify(password: &str, hash: &str) -> Result<bool, EngineError> {
    let (p, h) = (password.to_string(), hash.to_string());
    let _slot =
        argon2_slots().acquire().await.map_err(|e| EngineError::Invariant(format!("password check slot: {e}")))?;
    tokio::task::spawn_blocking(move || verify_blocking(&p, &h))
        .await
        .map_err(|e| EngineError::Invariant(format!("password check task: {e}")))
}

/// A hash to verify against when the account does not exist, so that a wrong user name and a
/// wrong password take the same time.
pub fn dummy_hash() -> &'static str {
    static DUMMY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    DUMMY.get_or_init(|| {
        hash_blocking("not-a-real-password")
            .unwrap_or_else(|_| "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHQ$aGFzaA".to_string())
    })
}

/// 32 random bytes, hex: session tokens, CSRF tokens.
pub fn random_token() -> String {
    use rand::RngCore;
    let mut b = [0u8; 32];
    rand::thread_rng().fill_bytes(&mut b);
    hex::encode(b)
}

/// HMAC-SHA256 of a normalised ID number under the site key.
pub fn id_number_digest(key: &[u8], id_number: &str) -> String {
    let k = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, key);
    hex::encode(ring::hmac::sign(&k, bursar_domain::payer::normalize_id_number(id_number).as_bytes()).as_ref())
}

/// Security answers are compared without case and surrounding spaces.
pub fn normalize_answer(a: &str) -> String {
    a.trim().to_lowercase()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn argon2id_hashes_verify() {
        let h = hash_blocking("011234").unwrap();
        assert!(h.starts_with("$argon2id$"));
        assert!(verify_blocking("011234", &h));
        assert!(!verify_blocking("011235", &h));
        assert!(!verify_blocking("011234", "garbage"));
        assert!(!verify_blocking("x", dummy_hash()));
    }

    #[test]
    fn id_digest_is_keyed_and_normalised() {
        let a = id_number_digest(b"k1", "37030219990101123x");
        assert_eq!(a, id_number_digest(b"k1", " 37030219990101123X"));
        assert_ne!(a, id_number_digest(b"k2", "37030219990101123X"));
    }

    #[test]
    fn password_rule() {
        assert!(password_ok("abcdefg1"));
        assert!(!password_ok("abcdefgh"));
        assert!(!password_ok("1234567a".get(..7).unwrap_or("")));
    }
}
