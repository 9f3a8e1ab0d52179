//! Login sessions (stored by token digest, never the token) and login throttling.

use sha2::{Digest, Sha256};
use sqlx::AnyConnection;

use crate::error::StoreError;

#[derive(Clone, Debug, sqlx::FromRow)]
pub struct SessionRow {
    pub subject_kind: String,
    pub subject_id: String,
    pub csrf_token: String,
    pub expires_at_ms: i64,
}

pub fn token_digest(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

pub async fn create(
    c: &mut AnyConnection,
    token: &str,
    subject_kind: &str,
    subject_id: &str,
    csrf_token: &str,
    now_ms: i64,
    ttl_ms: i64,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO sessions (token_digest, subject_kind, subject_id, csrf_token, created_at_ms, expires_at_ms) VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(token_digest(token))
    .bind(subject_kind)
    .bind(subject_id)
    .bind(csrf_token)
    .bind(now_ms)
    .bind(now_ms + ttl_ms)
    .execute(c)
    .await?;
    Ok(())
}

/// The live session for a token, or `None` if unknown or expired.
pub async fn find(c: &mut AnyConnection, token: &str, now_ms: i64) -> Result<Option<SessionRow>, StoreError> {
    Ok(sqlx::query_as(
        "SELECT subject_kind, subject_id, csrf_token, expires_at_ms FROM sessions WHERE token_digest = $1 AND expires_at_ms > $2",
    )
    .bind(token_digest(token))
    .bind(now_ms)
    .fetch_optional(c)
    .await?)
}

pub async fn delete(c: &mut AnyConnection, token: &str) -> Result<(), StoreError> {
    sqlx::query("DELETE FROM sessions WHERE token_digest = $1").bind(token_digest(token)).execute(c).await?;
    Ok(())
}

pub async fn delete_expired(c: &mut AnyConnection, now_ms: i64) -> Result<u64, StoreError> {
    Ok(sqlx::query("DELETE FROM sessions WHERE expires_at_ms <= $1").bind(now_ms).execute(c).await?.rows_affected())
}

/// When a login key (e.g. `payer:enrolled_student:2023001`) is locked out, until when.
pub async fn locked_until(c: &mut AnyConnection, key: &str, now_ms: i64) -> Result<Option<i64>, StoreError> {
    let until: Option<i64> = sqlx::query_scalar("SELECT locked_until_ms FROM login_throttle WHERE throttle_key = $1")
        .bind(key)
        .fetch_optional(c)
        .await?;
    Ok(until.filter(|u| *u > now_ms))
}

/// Counts a failed login; after `max_failures` in a row the key is locked for `lock_ms`.
/// Returns the failures counted so far.
pub async fn record_failure(
    c: &mut AnyConnection,
    key: &str,
    now_ms: i64,
    max_failures: i64,
    lock_ms: i64,
) -> Result<i64, StoreError> {
    let failures: i64 = sqlx::query_scalar(
        "INSERT INTO login_throttle (throttle_key, failures, locked_until_ms, updated_at_ms) VALUES ($1, 1, 0, $2)
         ON CONFLICT (throttle_key) DO UPDATE SET failures = login_throttle.failures + 1, updated_at_ms = $2
         RETURNING failures",
    )
    .bind(key)
    .bind(now_ms)
    .fetch_one(&mut *c)
    .await?;
    if failures >= max_failures {
        sqlx::query("UPDATE login_throttle SET locked_until_ms = $1, failures = 0 WHERE throttle_key = $2")
            .bind(now_ms + lock_ms)
            .bind(key)
            .execute(c)
            .await?;
    }
    Ok(failures)
}

pub async fn clear_failures(c: &mut AnyConnection, key: &str) -> Result<(), StoreError> {
    sqlx::query("DELETE FROM login_throttle WHERE throttle_key = $1").bind(key).execute(c).await?;
    Ok(())
}

/// Failed attempts counted for a key (0 when none), e.g. to ask for a captcha.
pub async fn failures(c: &mut AnyConnection, key: &str) -> Result<i64, StoreError> {
    let n: Option<i64> = sqlx::query_scalar("SELECT failures FROM login_throttle WHERE throttle_key = $1")
        .bind(key)
        .fetch_optional(c)
        .await?;
    Ok(n.unwrap_or(0))
}
