//! Cashiers' day closes (日结, migration 0025) and what a cashier took in a day.

use bursar_domain::till::{Takings, TillCloseState};
use bursar_domain::Fen;

use crate::db::{Conn, Tx};
use crate::error::StoreError;

/// What a cashier took at the counter and that succeeded in `[from_ms, to_ms)`: cash and POS
/// slips into their own till (`till:<id>`; collections they imported from elsewhere are not
/// theirs to count), and payment codes.
pub async fn takings(c: &mut impl Conn, cashier_id: &str, from_ms: i64, to_ms: i64) -> Result<Takings, StoreError> {
    let rows: Vec<(String, i64, i64)> = sqlx::query_as(
        "SELECT method, COUNT(*), CAST(SUM(amount_fen) AS BIGINT) FROM payments
          WHERE collected_by = $1 AND state = 'succeeded' AND succeeded_at_ms >= $2 AND succeeded_at_ms < $3
            AND (method IN ('wechat_code', 'alipay_code') OR merchant_id = $4)
          GROUP BY method",
    )
    .bind(cashier_id)
    .bind(from_ms)
    .bind(to_ms)
    .bind(bursar_domain::till::till_of(cashier_id))
    .fetch_all(c.raw())
    .await?;
    let mut t = Takings::default();
    for (method, n, fen) in rows {
        t.payments += n;
        match method.as_str() {
            "offline_cash" => t.cash = Fen(t.cash.get() + fen),
            "offline_pos" => t.pos = Fen(t.pos.get() + fen),
            "wechat_code" | "alipay_code" => t.codes = Fen(t.codes.get() + fen),
            _ => t.payments -= n,
        }
    }
    Ok(t)
}

#[derive(Clone, Debug, sqlx::FromRow)]
pub struct CloseRow {
    pub id: String,
    pub cashier_id: String,
    pub cashier_name: String,
    pub day: String,
    pub seq: i64,
    pub payments: i64,
    #[sqlx(try_from = "i64")]
    pub cash_expected_fen: Fen,
    #[sqlx(try_from = "i64")]
    pub pos_expected_fen: Fen,
    #[sqlx(try_from = "i64")]
    pub code_expected_fen: Fen,
    #[sqlx(try_from = "i64")]
    pub cash_counted_fen: Fen,
    #[sqlx(try_from = "i64")]
    pub pos_counted_fen: Fen,
    #[sqlx(try_from = "i64")]
    pub difference_fen: Fen,
    pub reason: String,
    #[sqlx(try_from = "String")]
    pub state: TillCloseState,
    pub submitted_at_ms: i64,
    pub decided_by: Option<String>,
    pub decided_at_ms: Option<i64>,
    pub decision_comment: String,
}

const COLS: &str = "t.id, t.cashier_id, o.name AS cashier_name, t.day, t.seq, t.payments, t.cash_expected_fen,
    t.pos_expected_fen, t.code_expected_fen, t.cash_counted_fen, t.pos_counted_fen, t.difference_fen, t.reason,
    t.state, t.submitted_at_ms, t.decided_by, t.decided_at_ms, t.decision_comment";

pub struct NewClose<'a> {
    pub id: &'a str,
    pub cashier_id: &'a str,
    pub day: &'a str,
    pub seq: i64,
    pub takings: Takings,
    pub cash_counted: Fen,
    pub pos_counted: Fen,
    pub difference: Fen,
    pub reason: &'a str,
}

pub async fn insert(c: &mut Tx, n: &NewClose<'_>) -> Result<(), StoreError> {
    let now = c.now_ms;
    sqlx::query(
        "INSERT INTO till_closes (id, cashier_id, day, seq, payments, cash_expected_fen, pos_expected_fen, code_expected_fen,
                                  cash_counted_fen, pos_counted_fen, difference_fen, reason, state, submitted_at_ms)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, 'submitted', $13)",
    )
    .bind(n.id)
    .bind(n.cashier_id)
    .bind(n.day)
    .bind(n.seq)
    .bind(n.takings.payments)
    .bind(n.takings.cash.get())
    .bind(n.takings.pos.get())
    .bind(n.takings.codes.get())
    .bind(n.cash_counted.get())
    .bind(n.pos_counted.get())
    .bind(n.difference.get())
    .bind(n.reason)
    .bind(now)
    .execute(c.raw())
    .await?;
    Ok(())
}

/// A cashier's closes of a day, latest first.
pub async fn of_day(c: &mut impl Conn, cashier_id: &str, day: &str) -> Result<Vec<CloseRow>, StoreError> {
    Ok(sqlx::query_as(&format!(
        "SELECT {COLS} FROM till_closes t JOIN operators o ON o.id = t.cashier_id
          WHERE t.cashier_id = $1 AND t.day = $2 ORDER BY t.seq DESC"
    ))
    .bind(cashier_id)
    .bind(day)
    .fetch_all(c.raw())
    .await?)
}

pub async fn get(c: &mut impl Conn, id: &str) -> Result<CloseRow, StoreError> {
    sqlx::query_as(&format!("SELECT {COLS} FROM till_closes t JOIN operators o ON o.id = t.cashier_id WHERE t.id = $1"))
        .bind(id)
        .fetch_optional(c.raw())
        .await?
        .ok_or_else(|| StoreError::NotFound(format!("day close {id}")))
}

/// Closes waiting first, then the latest decided, at most `limit`.
pub async fn recent(c: &mut impl Conn, limit: i64) -> Result<Vec<CloseRow>, StoreError> {
    Ok(sqlx::query_as(&format!(
        "SELECT {COLS} FROM till_closes t JOIN operators o ON o.id = t.cashier_id
          ORDER BY CASE WHEN t.state = 'submitted' THEN 0 ELSE 1 END, t.day DESC, t.submitted_at_ms DESC LIMIT $1"
    ))
    .bind(limit)
    .fetch_all(c.raw())
    .await?)
}

/// Decides a submitted close (compare-and-set): `Conflict` when someone decided it first.
pub async fn decide(c: &mut Tx, id: &str, to: TillCloseState, by: &str, comment: &str) -> Result<(), StoreError> {
    let now = c.now_ms;
    let r = sqlx::query(
        "UPDATE till_closes SET state = $1, decided_by = $2, decided_at_ms = $3, decision_comment = $4
          WHERE id = $5 AND state = 'submitted'",
    )
    .bind(to.as_str())
    .bind(by)
    .bind(now)
    .bind(comment)
    .bind(id)
    .execute(c.raw())
    .await?;
    if r.rows_affected() != 1 {
        return Err(StoreError::Conflict(format!("day close {id} is no longer waiting")));
    }
    Ok(())
}
