//! Deferrals (缓缴) asked for and decided.

use bursar_domain::fee::{DeferralKind, WaiverState};

use crate::db::{Conn, Tx};
use crate::error::StoreError;

#[derive(Clone, Debug, sqlx::FromRow)]
pub struct DeferralRow {
    pub id: String,
    pub receivable_id: String,
    #[sqlx(try_from = "String")]
    pub kind: DeferralKind,
    pub until_ms: i64,
    pub reason: String,
    /// Requested, approved or rejected (the same life as a waiver's).
    #[sqlx(try_from = "String")]
    pub state: WaiverState,
    pub requested_by: String,
    pub decided_by: Option<String>,
    pub decision_comment: Option<String>,
    pub created_at_ms: i64,
    pub decided_at_ms: Option<i64>,
    /// The file it was asked for in, if any.
    pub batch_id: Option<String>,
}

const COLS: &str = "id, receivable_id, kind, until_ms, reason, state, requested_by, decided_by, decision_comment, created_at_ms, decided_at_ms, batch_id";

/// A new request. A receivable has at most one waiting (the unique index says so).
pub async fn insert(c: &mut Tx, d: &DeferralRow) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO deferrals (id, receivable_id, kind, until_ms, reason, state, requested_by, created_at_ms, batch_id) VALUES ($1, $2, $3, $4, $5, 'requested', $6, $7, $8)",
    )
    .bind(&d.id)
    .bind(&d.receivable_id)
    .bind(d.kind.as_str())
    .bind(d.until_ms)
    .bind(&d.reason)
    .bind(&d.requested_by)
    .bind(d.created_at_ms)
    .bind(&d.batch_id)
    .execute(c.raw())
    .await
    .map_err(|e| {
        if crate::error::is_unique_violation(&e) {
            StoreError::Duplicate("a deferral of this receivable is waiting".into())
        } else {
            e.into()
        }
    })?;
    Ok(())
}

pub async fn get(c: &mut impl Conn, id: &str) -> Result<Option<DeferralRow>, StoreError> {
    Ok(sqlx::query_as(&format!("SELECT {COLS} FROM deferrals WHERE id = $1")).bind(id).fetch_optional(c.raw()).await?)
}

/// Requests asked for one by one (not from a file): waiting first, then the latest decided.
pub async fn list(c: &mut impl Conn, limit: i64) -> Result<Vec<DeferralRow>, StoreError> {
    Ok(sqlx::query_as(&format!(
        "SELECT {COLS} FROM deferrals WHERE batch_id IS NULL ORDER BY CASE state WHEN 'requested' THEN 0 ELSE 1 END, created_at_ms DESC, id LIMIT $1"
    ))
    .bind(limit)
    .fetch_all(c.raw())
    .await?)
}

/// Decides a request (compare-and-set on its state); false when it was decided already.
pub async fn decide(c: &mut Tx, id: &str, state: WaiverState, by: &str, comment: &str) -> Result<bool, StoreError> {
    let now = c.now_ms;
    let r = sqlx::query(
        "UPDATE deferrals SET state = $1, decided_by = $2, decision_comment = $3, decided_at_ms = $4 WHERE id = $5 AND state = 'requested'",
    )
    .bind(state.as_str())
    .bind(by)
    .bind(comment)
    .bind(now)
    .bind(id)
    .execute(c.raw())
    .await?;
    Ok(r.rows_affected() == 1)
}
