//! Login sessions (stored by token digest, never the token) and login throttling.

use crate::db::{Conn, Tx};
use sha2::{Digest, Sha256};

use crate::error::StoreError;

bursar_domain::coded_enum! {
    /// Who a session belongs to.
    pub enum SubjectKind {
        Payer = ("payer", "缴费人", "Payer"),
        Operator = ("operator", "操作员", "Operator"),
    }
}

bursar_domain::coded_enum! {
    /// How the session's subject proved who they are.
    pub enum AuthMethod {
        Password = ("password", "密码", "Password"),
        /// A new student by ID number and name (no password yet).
        IdAndName = ("id_and_name", "身份证号和姓名", "ID number and name"),
        /// Handed over by a business system's signed SSO token.
        Sso = ("sso", "业务系统单点登录", "Single sign-on from a business system"),
    }
}

#[derive(Clone, Debug, sqlx::FromRow)]
pub struct SessionRow {
    #[sqlx(try_from = "String")]
    pub subject_kind: SubjectKind,
    pub subject_id: String,
    pub csrf_token: String,
    #[sqlx(try_from = "String")]
    pub auth_method: AuthMethod,
    pub expires_at_ms: i64,
}

pub fn token_digest(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// A new session (the caller chose the random token; only its digest is stored).
pub struct NewSession<'a> {
    pub token: &'a str,
    pub subject_kind: SubjectKind,
    pub subject_id: &'a str,
    pub csrf_token: &'a str,
    pub auth_method: AuthMethod,
    pub ttl_ms: i64,
}

pub async fn create(c: &mut Tx, s: &NewSession<'_>) -> Result<(), StoreError> {
    let now_ms = c.now_ms;
    sqlx::query(
        "INSERT INTO sessions (token_digest, subject_kind, subject_id, csrf_token, auth_method, created_at_ms, expires_at_ms) VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(token_digest(s.token))
    .bind(s.subject_kind.as_str())
    .bind(s.subject_id)
    .bind(s.csrf_token)
    .bind(s.auth_method.as_str())
    .bind(now_ms)
    .bind(now_ms + s.ttl_ms)
    .execute(c.raw())
    .await?;
    Ok(())
}

/// The live session for a token, or `None` if unknown or expired.
pub async fn find(c: &mut impl Conn, token: &str, now_ms: i64) -> Result<Option<SessionRow>, StoreError> {
    Ok(sqlx::query_as(
        "SELECT subject_kind, subject_id, csrf_token, auth_method, expires_at_ms FROM sessions WHERE token_digest = $1 AND expires_at_ms > $2",
    )
    .bind(token_digest(token))
    .bind(now_ms)
    .fetch_optional(c.raw())
    .await?)
}

pub async fn delete(c: &mut Tx, token: &str) -> Result<(), StoreError> {
    sqlx::query("DELETE FROM sessions WHERE token_digest = $1").bind(token_digest(token)).execute(c.raw()).await?;
    Ok(())
}

/// Ends every session of a subject except the one with token `keep` (a password change ends
/// the other sessions). Returns how many ended.
pub async fn delete_others(
    c: &mut Tx,
    subject_kind: SubjectKind,
    subject_id: &str,
    keep: Option<&str>,
) -> Result<u64, StoreError> {
    let keep = keep.map(token_digest).unwrap_or_default();
    Ok(sqlx::query("DELETE FROM sessions WHERE subject_kind = $1 AND subject_id = $2 AND token_digest <> $3")
        .bind(subject_kind.as_str())
        .bind(subject_id)
        .bind(keep)
        .execute(c.raw())
        .await?
        .rows_affected())
}

pub async fn delete_expired(c: &mut Tx, now_ms: i64) -> Result<u64, StoreError> {
    Ok(sqlx::query("DELETE FROM sessions WHERE expires_at_ms <= $1")
        .bind(now_ms)
        .execute(c.raw())
        .await?
        .rows_affected())
}

/// Counts a failed login of an existing account (never of a name that does not exist, so the
/// table stays as small as the accounts). Returns the failures counted so far.
pub async fn record_failure(c: &mut Tx, key: &str, now_ms: i64) -> Result<i64, StoreError> {
    Ok(sqlx::query_scalar(
        "INSERT INTO login_throttle (throttle_key, failures, locked_until_ms, updated_at_ms) VALUES ($1, 1, 0, $2)
         ON CONFLICT (throttle_key) DO UPDATE SET failures = login_throttle.failures + 1, updated_at_ms = $2
         RETURNING failures",
    )
    .bind(key)
    .bind(now_ms)
    .fetch_one(c.raw())
    .await?)
}

/// Failures counted for a key and when the last was counted ((0, 0) when none).
pub async fn failure_state(c: &mut impl Conn, key: &str) -> Result<(i64, i64), StoreError> {
    let row: Option<(i64, i64)> =
        sqlx::query_as("SELECT failures, updated_at_ms FROM login_throttle WHERE throttle_key = $1")
            .bind(key)
            .fetch_optional(c.raw())
            .await?;
    Ok(row.unwrap_or((0, 0)))
}

pub async fn clear_failures(c: &mut Tx, key: &str) -> Result<(), StoreError> {
    sqlx::query("DELETE FROM login_throttle WHERE throttle_key = $1").bind(key).execute(c.raw()).await?;
    Ok(())
}

/// Failed attempts counted for a key (0 when none), e.g. to ask for a captcha.
pub async fn failures(c: &mut impl Conn, key: &str) -> Result<i64, StoreError> {
    let n: Option<i64> = sqlx::query_scalar("SELECT failures FROM login_throttle WHERE throttle_key = $1")
        .bind(key)
        .fetch_optional(c.raw())
        .await?;
    Ok(n.unwrap_or(0))
}
