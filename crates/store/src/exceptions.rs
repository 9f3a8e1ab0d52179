//! Exceptions finance must look at, and the bounded record of refused input.

use bursar_domain::exception::{ExceptionKind, ExceptionState, RefusalClass};

use crate::db::{Conn, Tx};
use crate::error::StoreError;

/// How long the record of refused input is kept.
pub const REFUSALS_KEPT_MS: i64 = 30 * 86_400_000;
const HOUR_MS: i64 = 3_600_000;

/// One refused request: where it came to, its class, its size, a short sample and a digest.
pub struct Refusal<'a> {
    pub source: &'a str,
    pub class: RefusalClass,
    pub bytes: i64,
    pub sample: &'a str,
    pub digest: &'a str,
}

/// Counts a refusal in its hour's bucket; returns the bucket's count so far. Buckets older
/// than [`REFUSALS_KEPT_MS`] are deleted (at most once per new bucket).
pub async fn record_refusal(c: &mut Tx, r: &Refusal<'_>) -> Result<i64, StoreError> {
    let now = c.now_ms;
    let hour = now - now.rem_euclid(HOUR_MS);
    let key = format!("{}|{}|{hour}", r.source, r.class.as_str());
    let n: i64 = sqlx::query_scalar(
        "INSERT INTO refused_inputs (bucket_key, source, class, hour_ms, occurrences, bytes, sample, sample_digest, first_at_ms, last_at_ms)
         VALUES ($1, $2, $3, $4, 1, $5, $6, $7, $8, $8)
         ON CONFLICT (bucket_key) DO UPDATE SET occurrences = refused_inputs.occurrences + 1,
             bytes = refused_inputs.bytes + excluded.bytes, sample = excluded.sample,
             sample_digest = excluded.sample_digest, last_at_ms = excluded.last_at_ms
         RETURNING occurrences",
    )
    .bind(&key)
    .bind(r.source)
    .bind(r.class.as_str())
    .bind(hour)
    .bind(r.bytes)
    .bind(r.sample)
    .bind(r.digest)
    .bind(now)
    .fetch_one(c.raw())
    .await?;
    if n == 1 {
        sqlx::query("DELETE FROM refused_inputs WHERE hour_ms < $1")
            .bind(now - REFUSALS_KEPT_MS)
            .execute(c.raw())
            .await?;
    }
    Ok(n)
}

#[derive(Clone, Debug, sqlx::FromRow)]
pub struct RefusalRow {
    pub source: String,
    #[sqlx(try_from = "String")]
    pub class: RefusalClass,
    pub hour_ms: i64,
    pub occurrences: i64,
    pub bytes: i64,
    pub sample: String,
    pub sample_digest: String,
    pub last_at_ms: i64,
}

/// The latest buckets of refused input.
pub async fn recent_refusals(c: &mut impl Conn, limit: i64) -> Result<Vec<RefusalRow>, StoreError> {
    Ok(sqlx::query_as(
        "SELECT source, class, hour_ms, occurrences, bytes, sample, sample_digest, last_at_ms FROM refused_inputs
         ORDER BY last_at_ms DESC, bucket_key LIMIT $1",
    )
    .bind(limit)
    .fetch_all(c.raw())
    .await?)
}

/// Raises an exception, or counts a repeat on the open one of the same kind and subject.
/// Returns whether it was new.
pub async fn raise(c: &mut Tx, kind: ExceptionKind, subject: &str, detail: &str) -> Result<bool, StoreError> {
    let id = c.new_id();
    let now = c.now_ms;
    let n: i64 = sqlx::query_scalar(
        "INSERT INTO exceptions (id, kind, subject, detail, state, occurrences, first_at_ms, last_at_ms)
         VALUES ($1, $2, $3, $4, 'open', 1, $5, $5)
         ON CONFLICT (kind, subject) WHERE state = 'open'
         DO UPDATE SET occurrences = exceptions.occurrences + 1, detail = excluded.detail, last_at_ms = excluded.last_at_ms
         RETURNING occurrences",
    )
    .bind(id)
    .bind(kind.as_str())
    .bind(subject)
    .bind(detail)
    .bind(now)
    .fetch_one(c.raw())
    .await?;
    Ok(n == 1)
}

#[derive(Clone, Debug, sqlx::FromRow)]
pub struct ExceptionRow {
    pub id: String,
    #[sqlx(try_from = "String")]
    pub kind: ExceptionKind,
    pub subject: String,
    pub detail: String,
    #[sqlx(try_from = "String")]
    pub state: ExceptionState,
    pub occurrences: i64,
    pub first_at_ms: i64,
    pub last_at_ms: i64,
    pub resolved_by: Option<String>,
    pub resolved_at_ms: Option<i64>,
    pub resolution: Option<String>,
}

const COLUMNS: &str =
    "id, kind, subject, detail, state, occurrences, first_at_ms, last_at_ms, resolved_by, resolved_at_ms, resolution";

/// Open exceptions first (latest first), then the latest resolved ones.
pub async fn list(c: &mut impl Conn, limit: i64) -> Result<Vec<ExceptionRow>, StoreError> {
    Ok(sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM exceptions ORDER BY CASE state WHEN 'open' THEN 0 ELSE 1 END, last_at_ms DESC, id LIMIT $1"
    ))
    .bind(limit)
    .fetch_all(c.raw())
    .await?)
}

pub async fn get(c: &mut impl Conn, id: &str) -> Result<Option<ExceptionRow>, StoreError> {
    Ok(sqlx::query_as(&format!("SELECT {COLUMNS} FROM exceptions WHERE id = $1"))
        .bind(id)
        .fetch_optional(c.raw())
        .await?)
}

pub async fn open_count(c: &mut impl Conn) -> Result<i64, StoreError> {
    Ok(sqlx::query_scalar("SELECT COUNT(*) FROM exceptions WHERE state = 'open'").fetch_one(c.raw()).await?)
}

/// Resolves an open exception (compare-and-set on its state); false when it was not open.
pub async fn resolve(c: &mut Tx, id: &str, by: &str, resolution: &str) -> Result<bool, StoreError> {
    let now = c.now_ms;
    let done = sqlx::query(
        "UPDATE exceptions SET state = 'resolved', resolved_by = $1, resolved_at_ms = $2, resolution = $3
         WHERE id = $4 AND state = 'open'",
    )
    .bind(by)
    .bind(now)
    .bind(resolution)
    .bind(id)
    .execute(c.raw())
    .await?;
    Ok(done.rows_affected() == 1)
}
