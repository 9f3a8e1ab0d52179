//! Notices to payers and channel maintenance notices (migration 0027).

use crate::db::{Conn, Tx};
use crate::error::StoreError;

#[derive(Clone, Debug, sqlx::FromRow)]
pub struct NoticeRow {
    pub id: String,
    /// The channel under maintenance (`None`: a notice to every payer).
    pub channel: Option<String>,
    pub title: String,
    pub body: String,
    pub starts_at_ms: i64,
    pub ends_at_ms: i64,
    pub created_by: String,
    pub created_at_ms: i64,
    pub withdrawn_at_ms: Option<i64>,
}

const COLS: &str = "id, channel, title, body, starts_at_ms, ends_at_ms, created_by, created_at_ms, withdrawn_at_ms";

pub struct NewNotice<'a> {
    pub id: &'a str,
    pub channel: Option<&'a str>,
    pub title: &'a str,
    pub body: &'a str,
    pub starts_at_ms: i64,
    pub ends_at_ms: i64,
    pub created_by: &'a str,
}

pub async fn insert(c: &mut Tx, n: &NewNotice<'_>) -> Result<(), StoreError> {
    let now = c.now_ms;
    sqlx::query(
        "INSERT INTO notices (id, channel, title, body, starts_at_ms, ends_at_ms, created_by, created_at_ms)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(n.id)
    .bind(n.channel)
    .bind(n.title)
    .bind(n.body)
    .bind(n.starts_at_ms)
    .bind(n.ends_at_ms)
    .bind(n.created_by)
    .bind(now)
    .execute(c.raw())
    .await?;
    Ok(())
}

/// Notices shown now (in their period, not withdrawn), the newest first, at most 20.
pub async fn current(c: &mut impl Conn, now_ms: i64) -> Result<Vec<NoticeRow>, StoreError> {
    Ok(sqlx::query_as(&format!(
        "SELECT {COLS} FROM notices WHERE ends_at_ms > $1 AND starts_at_ms <= $1 AND withdrawn_at_ms IS NULL
          ORDER BY starts_at_ms DESC, id DESC LIMIT 20"
    ))
    .bind(now_ms)
    .fetch_all(c.raw())
    .await?)
}

/// Every notice, the newest first, at most `limit`.
pub async fn recent(c: &mut impl Conn, limit: i64) -> Result<Vec<NoticeRow>, StoreError> {
    Ok(sqlx::query_as(&format!("SELECT {COLS} FROM notices ORDER BY created_at_ms DESC, id DESC LIMIT $1"))
        .bind(limit)
        .fetch_all(c.raw())
        .await?)
}

/// Withdraws a notice (compare-and-set): false when it was withdrawn already or is unknown.
pub async fn withdraw(c: &mut Tx, id: &str, by: &str) -> Result<bool, StoreError> {
    let now = c.now_ms;
    let r = sqlx::query(
        "UPDATE notices SET withdrawn_at_ms = $1, withdrawn_by = $2 WHERE id = $3 AND withdrawn_at_ms IS NULL",
    )
    .bind(now)
    .bind(by)
    .bind(id)
    .execute(c.raw())
    .await?;
    Ok(r.rows_affected() == 1)
}
