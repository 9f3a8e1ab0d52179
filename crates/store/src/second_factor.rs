//! Operators' second factor (migration 0028): the TOTP secret, one being set up, the last time
//! step accepted, and logins waiting for their code (login challenges, stored by token digest).

use crate::db::{Conn, Tx};
use crate::error::StoreError;
use crate::sessions::token_digest;

/// An operator's second factor as stored.
#[derive(Clone, Debug, Default)]
pub struct SecondFactor {
    /// Hex of the confirmed secret; empty when none is on.
    pub secret: String,
    /// Hex of a secret shown for setting up and not yet confirmed.
    pub pending: String,
    pub last_step: i64,
    pub enabled_at_ms: i64,
}

impl SecondFactor {
    pub fn enabled(&self) -> bool {
        !self.secret.is_empty()
    }
}

pub async fn get(c: &mut impl Conn, operator_id: &str) -> Result<SecondFactor, StoreError> {
    let row: Option<(String, String, i64, i64)> = sqlx::query_as(
        "SELECT totp_secret, totp_pending, totp_last_step, totp_enabled_at_ms FROM operators WHERE id = $1",
    )
    .bind(operator_id)
    .fetch_optional(c.raw())
    .await?;
    let (secret, pending, last_step, enabled_at_ms) =
        row.ok_or_else(|| StoreError::NotFound(format!("operator {operator_id}")))?;
    Ok(SecondFactor { secret, pending, last_step, enabled_at_ms })
}

/// Ids of the operators with a second factor on.
pub async fn enabled_ids(c: &mut impl Conn) -> Result<Vec<String>, StoreError> {
    Ok(sqlx::query_scalar("SELECT id FROM operators WHERE totp_secret <> '' ORDER BY id").fetch_all(c.raw()).await?)
}

/// Keeps a secret shown for setting up (replacing any earlier one not confirmed).
pub async fn set_pending(c: &mut Tx, operator_id: &str, secret_hex: &str) -> Result<(), StoreError> {
    sqlx::query("UPDATE operators SET totp_pending = $1 WHERE id = $2")
        .bind(secret_hex)
        .bind(operator_id)
        .execute(c.raw())
        .await?;
    Ok(())
}

/// Turns the pending secret on, compare-and-set on the pending secret the code was checked
/// against: false when it changed meanwhile (another setup began).
pub async fn confirm(c: &mut Tx, operator_id: &str, pending_hex: &str, step: i64) -> Result<bool, StoreError> {
    let now = c.now_ms;
    let r = sqlx::query(
        "UPDATE operators SET totp_secret = totp_pending, totp_pending = '', totp_last_step = $1, totp_enabled_at_ms = $2
         WHERE id = $3 AND totp_pending = $4 AND totp_pending <> '' AND totp_secret = ''",
    )
    .bind(step)
    .bind(now)
    .bind(operator_id)
    .bind(pending_hex)
    .execute(c.raw())
    .await?;
    Ok(r.rows_affected() == 1)
}

/// Records that the code of `step` was used, compare-and-set: false when this step or a later
/// one was already used (a code is good once), or the secret changed.
pub async fn use_step(c: &mut Tx, operator_id: &str, secret_hex: &str, step: i64) -> Result<bool, StoreError> {
    let r = sqlx::query(
        "UPDATE operators SET totp_last_step = $1 WHERE id = $2 AND totp_secret = $3 AND totp_last_step < $1",
    )
    .bind(step)
    .bind(operator_id)
    .bind(secret_hex)
    .execute(c.raw())
    .await?;
    Ok(r.rows_affected() == 1)
}

/// Turns the second factor off (a reset by the system administrator, or the operator's own):
/// false when it was not on.
pub async fn clear(c: &mut Tx, operator_id: &str) -> Result<bool, StoreError> {
    let r = sqlx::query(
        "UPDATE operators SET totp_secret = '', totp_pending = '', totp_enabled_at_ms = 0 WHERE id = $1 AND totp_secret <> ''",
    )
    .bind(operator_id)
    .execute(c.raw())
    .await?;
    Ok(r.rows_affected() == 1)
}

/// A login waiting for its code.
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct Challenge {
    pub operator_id: String,
    pub failures: i64,
}

/// Starts a login challenge for an operator (ending any earlier one of theirs, and every
/// expired one).
pub async fn create_challenge(c: &mut Tx, token: &str, operator_id: &str, ttl_ms: i64) -> Result<(), StoreError> {
    let now = c.now_ms;
    sqlx::query("DELETE FROM login_challenges WHERE expires_at_ms <= $1 OR operator_id = $2")
        .bind(now)
        .bind(operator_id)
        .execute(c.raw())
        .await?;
    sqlx::query(
        "INSERT INTO login_challenges (token_digest, operator_id, created_at_ms, expires_at_ms) VALUES ($1, $2, $3, $4)",
    )
    .bind(token_digest(token))
    .bind(operator_id)
    .bind(now)
    .bind(now + ttl_ms)
    .execute(c.raw())
    .await?;
    Ok(())
}

/// The live challenge a token names.
pub async fn challenge(c: &mut impl Conn, token: &str, now_ms: i64) -> Result<Option<Challenge>, StoreError> {
    Ok(sqlx::query_as(
        "SELECT operator_id, failures FROM login_challenges WHERE token_digest = $1 AND expires_at_ms > $2",
    )
    .bind(token_digest(token))
    .bind(now_ms)
    .fetch_optional(c.raw())
    .await?)
}

/// Takes one of a live challenge's tries (compare-and-set: racing attempts each take their own,
/// and none is taken past `max` or after expiry). Returns the operator and the tries taken, or
/// `None` when the challenge is gone, expired or used up.
pub async fn take_try(c: &mut Tx, token: &str, max: i64) -> Result<Option<(String, i64)>, StoreError> {
    let now = c.now_ms;
    Ok(sqlx::query_as(
        "UPDATE login_challenges SET failures = failures + 1 WHERE token_digest = $1 AND expires_at_ms > $2 AND failures < $3
         RETURNING operator_id, failures",
    )
    .bind(token_digest(token))
    .bind(now)
    .bind(max)
    .fetch_optional(c.raw())
    .await?)
}

pub async fn end_challenge(c: &mut Tx, token: &str) -> Result<(), StoreError> {
    sqlx::query("DELETE FROM login_challenges WHERE token_digest = $1")
        .bind(token_digest(token))
        .execute(c.raw())
        .await?;
    Ok(())
}
