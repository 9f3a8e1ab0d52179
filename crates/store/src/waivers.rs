//! Reductions and waivers (减免) asked for and decided.

use bursar_domain::fee::WaiverState;
use bursar_domain::Fen;

use crate::db::{Conn, Tx};
use crate::error::StoreError;

#[derive(Clone, Debug, sqlx::FromRow)]
pub struct WaiverRow {
    pub id: String,
    pub receivable_id: String,
    #[sqlx(try_from = "i64")]
    pub amount_fen: Fen,
    pub reason: String,
    #[sqlx(try_from = "String")]
    pub state: WaiverState,
    pub requested_by: String,
    pub decided_by: Option<String>,
    pub decision_comment: Option<String>,
    pub created_at_ms: i64,
    pub decided_at_ms: Option<i64>,
}

const COLS: &str = "id, receivable_id, amount_fen, reason, state, requested_by, decided_by, decision_comment, created_at_ms, decided_at_ms";

pub async fn insert(
    c: &mut Tx,
    id: &str,
    receivable_id: &str,
    amount: Fen,
    reason: &str,
    by: &str,
    batch_id: Option<&str>,
) -> Result<(), StoreError> {
    let now = c.now_ms;
    sqlx::query(
        "INSERT INTO waivers (id, receivable_id, amount_fen, reason, state, requested_by, created_at_ms, batch_id) VALUES ($1, $2, $3, $4, 'requested', $5, $6, $7)",
    )
    .bind(id)
    .bind(receivable_id)
    .bind(amount.get())
    .bind(reason)
    .bind(by)
    .bind(now)
    .bind(batch_id)
    .execute(c.raw())
    .await?;
    Ok(())
}

pub async fn get(c: &mut impl Conn, id: &str) -> Result<Option<WaiverRow>, StoreError> {
    Ok(sqlx::query_as(&format!("SELECT {COLS} FROM waivers WHERE id = $1")).bind(id).fetch_optional(c.raw()).await?)
}

/// Requests asked for one by one (not from a file): waiting first, then the latest decided.
pub async fn list(c: &mut impl Conn, limit: i64) -> Result<Vec<WaiverRow>, StoreError> {
    Ok(sqlx::query_as(&format!(
        "SELECT {COLS} FROM waivers WHERE batch_id IS NULL ORDER BY CASE state WHEN 'requested' THEN 0 ELSE 1 END, created_at_ms DESC, id LIMIT $1"
    ))
    .bind(limit)
    .fetch_all(c.raw())
    .await?)
}

pub async fn of_receivable(c: &mut impl Conn, receivable_id: &str) -> Result<Vec<WaiverRow>, StoreError> {
    Ok(sqlx::query_as(&format!("SELECT {COLS} FROM waivers WHERE receivable_id = $1 ORDER BY created_at_ms"))
        .bind(receivable_id)
        .fetch_all(c.raw())
        .await?)
}

/// Decides a request (compare-and-set on its state); false when it was decided already.
pub async fn decide(c: &mut Tx, id: &str, state: WaiverState, by: &str, comment: &str) -> Result<bool, StoreError> {
    let now = c.now_ms;
    let r = sqlx::query(
        "UPDATE waivers SET state = $1, decided_by = $2, decision_comment = $3, decided_at_ms = $4 WHERE id = $5 AND state = 'requested'",
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
