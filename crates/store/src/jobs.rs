//! The durable job table. Safe with several workers (and several server instances on
//! PostgreSQL): a worker claims a due job with a compare-and-set that takes a lease; only the
//! lease holder can finish it; an expired lease makes the job claimable again.

use crate::db::{Conn, Tx};

use crate::error::StoreError;

bursar_domain::coded_enum! {
    pub enum JobState {
        Queued = ("queued", "待执行", "Queued"),
        Running = ("running", "执行中", "Running"),
        Done = ("done", "已完成", "Done"),
        /// Gave up after its last attempt.
        Dead = ("dead", "已放弃", "Given up"),
    }
}

#[derive(Clone, Debug, sqlx::FromRow)]
pub struct JobRow {
    pub id: String,
    pub kind: String,
    pub dedupe_key: String,
    pub payload: String,
    #[sqlx(try_from = "String")]
    pub state: JobState,
    pub attempts: i64,
    pub max_attempts: i64,
    pub run_at_ms: i64,
    pub lease_owner: Option<String>,
    pub lease_until_ms: Option<i64>,
    pub last_error: Option<String>,
}

const COLS: &str =
    "id, kind, dedupe_key, payload, state, attempts, max_attempts, run_at_ms, lease_owner, lease_until_ms, last_error";

pub struct NewJob<'a> {
    pub kind: &'a str,
    pub dedupe_key: &'a str,
    pub payload: &'a str,
    pub run_at_ms: i64,
    pub max_attempts: i64,
}

/// Enqueues a job unless one of this kind and key exists (then nothing changes). Returns whether
/// a job was added.
pub async fn enqueue(c: &mut Tx, id: &str, job: &NewJob<'_>, now_ms: i64) -> Result<bool, StoreError> {
    let r = sqlx::query(
        "INSERT INTO jobs (id, kind, dedupe_key, payload, state, attempts, max_attempts, run_at_ms, created_at_ms, updated_at_ms)
         VALUES ($1, $2, $3, $4, 'queued', 0, $5, $6, $7, $7) ON CONFLICT (kind, dedupe_key) DO NOTHING",
    )
    .bind(id)
    .bind(job.kind)
    .bind(job.dedupe_key)
    .bind(job.payload)
    .bind(job.max_attempts)
    .bind(job.run_at_ms)
    .bind(now_ms)
    .execute(c.raw())
    .await?;
    Ok(r.rows_affected() == 1)
}

/// Claims one due job (queued and due, or running with an expired lease) for `owner`.
pub async fn claim(c: &mut Tx, owner: &str, now_ms: i64, lease_ms: i64) -> Result<Option<JobRow>, StoreError> {
    for _ in 0..5 {
        // Two index-friendly look-ups rather than one OR (which would scan the table).
        let mut candidate: Option<(String, String)> = sqlx::query_as(
            "SELECT id, state FROM jobs WHERE state = 'queued' AND run_at_ms <= $1 ORDER BY run_at_ms, id LIMIT 1",
        )
        .bind(now_ms)
        .fetch_optional(c.raw())
        .await?;
        if candidate.is_none() {
            candidate = sqlx::query_as(
                "SELECT id, state FROM jobs WHERE state = 'running' AND lease_until_ms < $1 ORDER BY lease_until_ms, id LIMIT 1",
            )
            .bind(now_ms)
            .fetch_optional(c.raw())
            .await?;
        }
        let Some((id, state)) = candidate else { return Ok(None) };
        let claimed: Option<JobRow> = sqlx::query_as(&format!(
            "UPDATE jobs SET state = 'running', lease_owner = $1, lease_until_ms = $2, attempts = attempts + 1, updated_at_ms = $3
              WHERE id = $4 AND state = $5 AND ((state = 'queued' AND run_at_ms <= $3) OR (state = 'running' AND lease_until_ms < $3))
              RETURNING {COLS}"
        ))
        .bind(owner)
        .bind(now_ms + lease_ms)
        .bind(now_ms)
        .bind(&id)
        .bind(&state)
        .fetch_optional(c.raw())
        .await?;
        if claimed.is_some() {
            return Ok(claimed);
        }
        // Another worker took it first; look again.
    }
    Ok(None)
}

async fn finish(
    c: &mut Tx,
    id: &str,
    owner: &str,
    set: &str,
    binds: (&str, Option<i64>, Option<&str>),
    now_ms: i64,
) -> Result<(), StoreError> {
    let sql = format!("UPDATE jobs SET {set}, lease_owner = NULL, lease_until_ms = NULL, updated_at_ms = $4 WHERE id = $5 AND lease_owner = $6 AND state = 'running'");
    let r = sqlx::query(&sql)
        .bind(binds.0)
        .bind(binds.1)
        .bind(binds.2)
        .bind(now_ms)
        .bind(id)
        .bind(owner)
        .execute(c.raw())
        .await?;
    if r.rows_affected() != 1 {
        return Err(StoreError::Conflict(format!("job {id} is no longer leased to {owner}")));
    }
    Ok(())
}

/// The job is done for good.
pub async fn complete(c: &mut Tx, id: &str, owner: &str, now_ms: i64) -> Result<(), StoreError> {
    finish(
        c,
        id,
        owner,
        "state = $1, run_at_ms = COALESCE($2, run_at_ms), last_error = $3",
        ("done", None, None),
        now_ms,
    )
    .await
}

/// The job ran fine and wants to run again at `run_at_ms` (e.g. the next active query).
pub async fn reschedule(c: &mut Tx, id: &str, owner: &str, run_at_ms: i64, now_ms: i64) -> Result<(), StoreError> {
    finish(
        c,
        id,
        owner,
        "state = $1, run_at_ms = $2, last_error = $3, attempts = 0",
        ("queued", Some(run_at_ms), None),
        now_ms,
    )
    .await
}

/// The job failed: run again after a backoff, or give up (`dead`) after its last attempt.
pub async fn fail(
    c: &mut Tx,
    job: &JobRow,
    owner: &str,
    error: &str,
    now_ms: i64,
    base_backoff_ms: i64,
) -> Result<bool, StoreError> {
    let dead = job.attempts >= job.max_attempts;
    let shift = u32::try_from(job.attempts.clamp(0, 20)).unwrap_or(20);
    let backoff = base_backoff_ms.saturating_mul(1i64 << shift).min(6 * 3_600_000);
    let state = if dead { "dead" } else { "queued" };
    finish(
        c,
        &job.id,
        owner,
        "state = $1, run_at_ms = $2, last_error = $3",
        (state, Some(now_ms + backoff), Some(error)),
        now_ms,
    )
    .await?;
    Ok(dead)
}

pub async fn job(c: &mut impl Conn, kind: &str, dedupe_key: &str) -> Result<Option<JobRow>, StoreError> {
    Ok(sqlx::query_as(&format!("SELECT {COLS} FROM jobs WHERE kind = $1 AND dedupe_key = $2"))
        .bind(kind)
        .bind(dedupe_key)
        .fetch_optional(c.raw())
        .await?)
}

/// Counts by state, for the finance view and tests.
pub async fn counts(c: &mut impl Conn) -> Result<Vec<(String, String, i64)>, StoreError> {
    Ok(sqlx::query_as("SELECT kind, state, COUNT(*) FROM jobs GROUP BY kind, state ORDER BY kind, state")
        .fetch_all(c.raw())
        .await?)
}
