//! Refund records and their lines.

use bursar_domain::refund::RefundState;
use bursar_domain::Fen;
use sqlx::AnyConnection;

use crate::error::StoreError;

#[derive(Clone, Debug, sqlx::FromRow)]
pub struct RefundRow {
    pub id: String,
    pub payment_id: String,
    pub payer_id: String,
    pub amount_fen: i64,
    pub kind: String,
    pub reason: String,
    pub state: String,
    pub attempt: i64,
    pub out_refund_no: Option<String>,
    pub channel_refund_id: Option<String>,
    pub failure_reason: Option<String>,
    pub bank_reference: Option<String>,
    pub requested_by: String,
    pub decided_by: Option<String>,
    pub created_at_ms: i64,
    pub updated_at_ms: i64,
    pub succeeded_at_ms: Option<i64>,
}

impl RefundRow {
    pub fn state(&self) -> RefundState {
        RefundState::parse(&self.state).unwrap_or(RefundState::Failed)
    }
}

const COLS: &str = "id, payment_id, payer_id, amount_fen, kind, reason, state, attempt, out_refund_no, channel_refund_id, failure_reason, bank_reference, requested_by, decided_by, created_at_ms, updated_at_ms, succeeded_at_ms";

pub struct NewRefund<'a> {
    pub id: &'a str,
    pub payment_id: &'a str,
    pub payer_id: &'a str,
    pub amount: Fen,
    pub kind: &'a str,
    pub reason: &'a str,
    pub requested_by: &'a str,
}

pub async fn insert(c: &mut AnyConnection, r: &NewRefund<'_>, now_ms: i64) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO refunds (id, payment_id, payer_id, amount_fen, kind, reason, state, attempt, requested_by, created_at_ms, updated_at_ms)
         VALUES ($1, $2, $3, $4, $5, $6, 'requested', 0, $7, $8, $8)",
    )
    .bind(r.id)
    .bind(r.payment_id)
    .bind(r.payer_id)
    .bind(r.amount.get())
    .bind(r.kind)
    .bind(r.reason)
    .bind(r.requested_by)
    .bind(now_ms)
    .execute(c)
    .await?;
    Ok(())
}

pub async fn refund(c: &mut AnyConnection, id: &str) -> Result<RefundRow, StoreError> {
    sqlx::query_as(&format!("SELECT {COLS} FROM refunds WHERE id = $1"))
        .bind(id)
        .fetch_optional(c)
        .await?
        .ok_or_else(|| StoreError::NotFound(format!("refund {id}")))
}

pub async fn by_out_refund_no(c: &mut AnyConnection, no: &str) -> Result<Option<RefundRow>, StoreError> {
    Ok(sqlx::query_as(&format!("SELECT {COLS} FROM refunds WHERE out_refund_no = $1"))
        .bind(no)
        .fetch_optional(c)
        .await?)
}

pub async fn of_payment(c: &mut AnyConnection, payment_id: &str) -> Result<Vec<RefundRow>, StoreError> {
    Ok(sqlx::query_as(&format!("SELECT {COLS} FROM refunds WHERE payment_id = $1 ORDER BY created_at_ms, id"))
        .bind(payment_id)
        .fetch_all(c)
        .await?)
}

pub async fn list(c: &mut AnyConnection, state: Option<&str>, limit: i64) -> Result<Vec<RefundRow>, StoreError> {
    let q = match state {
        Some(_) => format!("SELECT {COLS} FROM refunds WHERE state = $1 ORDER BY created_at_ms DESC, id DESC LIMIT $2"),
        None => format!("SELECT {COLS} FROM refunds WHERE $1 = $1 ORDER BY created_at_ms DESC, id DESC LIMIT $2"),
    };
    Ok(sqlx::query_as(&q).bind(state.unwrap_or("")).bind(limit).fetch_all(c).await?)
}

/// Refund state change as a compare-and-set.
pub async fn transition(
    c: &mut AnyConnection,
    id: &str,
    from: RefundState,
    to: RefundState,
    now_ms: i64,
) -> Result<(), StoreError> {
    from.check_transition(to)?;
    crate::db::cas_state(c, "refunds", id, from.as_str(), to.as_str(), now_ms).await
}

pub async fn set_decided(c: &mut AnyConnection, id: &str, by: &str) -> Result<(), StoreError> {
    sqlx::query("UPDATE refunds SET decided_by = $1 WHERE id = $2").bind(by).bind(id).execute(c).await?;
    Ok(())
}

/// A new attempt at the channel gets a new refund number (a closed one cannot be reused).
pub async fn start_attempt(c: &mut AnyConnection, id: &str, out_refund_no: &str) -> Result<i64, StoreError> {
    Ok(sqlx::query_scalar(
        "UPDATE refunds SET attempt = attempt + 1, out_refund_no = $1, failure_reason = NULL WHERE id = $2 RETURNING attempt",
    )
    .bind(out_refund_no)
    .bind(id)
    .fetch_one(c)
    .await?)
}

pub async fn set_channel_refund_id(c: &mut AnyConnection, id: &str, channel_refund_id: &str) -> Result<(), StoreError> {
    sqlx::query("UPDATE refunds SET channel_refund_id = $1 WHERE id = $2")
        .bind(channel_refund_id)
        .bind(id)
        .execute(c)
        .await?;
    Ok(())
}

pub async fn set_succeeded(
    c: &mut AnyConnection,
    id: &str,
    channel_refund_id: Option<&str>,
    now_ms: i64,
) -> Result<(), StoreError> {
    sqlx::query(
        "UPDATE refunds SET succeeded_at_ms = $1, channel_refund_id = COALESCE($2, channel_refund_id) WHERE id = $3",
    )
    .bind(now_ms)
    .bind(channel_refund_id)
    .bind(id)
    .execute(c)
    .await?;
    Ok(())
}

pub async fn set_failure(c: &mut AnyConnection, id: &str, reason: &str) -> Result<(), StoreError> {
    sqlx::query("UPDATE refunds SET failure_reason = $1 WHERE id = $2").bind(reason).bind(id).execute(c).await?;
    Ok(())
}

pub async fn set_bank_reference(c: &mut AnyConnection, id: &str, reference: &str) -> Result<(), StoreError> {
    sqlx::query("UPDATE refunds SET bank_reference = $1 WHERE id = $2").bind(reference).bind(id).execute(c).await?;
    Ok(())
}

#[derive(Clone, Debug, sqlx::FromRow)]
pub struct LineRow {
    pub target_kind: String,
    pub target_id: String,
    pub fee_item_id: Option<String>,
    pub amount_fen: i64,
}

pub async fn insert_line(c: &mut AnyConnection, refund_id: &str, line: &LineRow) -> Result<(), StoreError> {
    sqlx::query("INSERT INTO refund_lines (refund_id, target_kind, target_id, fee_item_id, amount_fen) VALUES ($1, $2, $3, $4, $5)")
        .bind(refund_id)
        .bind(&line.target_kind)
        .bind(&line.target_id)
        .bind(&line.fee_item_id)
        .bind(line.amount_fen)
        .execute(c)
        .await?;
    Ok(())
}

pub async fn lines(c: &mut AnyConnection, refund_id: &str) -> Result<Vec<LineRow>, StoreError> {
    Ok(sqlx::query_as("SELECT target_kind, target_id, fee_item_id, amount_fen FROM refund_lines WHERE refund_id = $1 ORDER BY target_kind, target_id")
        .bind(refund_id)
        .fetch_all(c)
        .await?)
}

/// What a succeeded payment put where: (account kind, dimension, amount credited), from its
/// ledger entry — receivables and payer credit.
pub async fn payment_allocations(
    c: &mut AnyConnection,
    payment_id: &str,
) -> Result<Vec<(String, String, i64)>, StoreError> {
    Ok(sqlx::query_as(
        "SELECT a.kind, a.dimension, CAST(-SUM(p.amount_fen) AS BIGINT) FROM journal_entries e
           JOIN postings p ON p.entry_id = e.id JOIN accounts a ON a.id = p.account_id
          WHERE e.kind = 'payment_succeeded' AND e.source_id = $1 AND a.kind IN ('receivable', 'payer_credit')
          GROUP BY a.kind, a.dimension ORDER BY a.kind DESC, a.dimension",
    )
    .bind(payment_id)
    .fetch_all(c)
    .await?)
}

/// Already refunded (or on its way) per target, over the payment's live refunds.
pub async fn refunded_by_target(
    c: &mut AnyConnection,
    payment_id: &str,
) -> Result<Vec<(String, String, i64)>, StoreError> {
    Ok(sqlx::query_as(
        "SELECT l.target_kind, l.target_id, CAST(SUM(l.amount_fen) AS BIGINT) FROM refund_lines l JOIN refunds r ON r.id = l.refund_id
          WHERE r.payment_id = $1 AND r.state <> 'rejected' GROUP BY l.target_kind, l.target_id",
    )
    .bind(payment_id)
    .fetch_all(c)
    .await?)
}

/// A payment whose money (partly) went to the payer's credit because nothing was owed any more
/// (a late payment, the same bill paid twice), with what has been refunded of it.
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct OverpaymentRow {
    pub payment_id: String,
    pub merchant_order_no: String,
    pub payer_id: String,
    pub payment_amount_fen: i64,
    pub credited_fen: i64,
    pub refunded_fen: i64,
    pub succeeded_at_ms: Option<i64>,
}

pub async fn overpayments(c: &mut AnyConnection, limit: i64) -> Result<Vec<OverpaymentRow>, StoreError> {
    Ok(sqlx::query_as(
        "SELECT pm.id AS payment_id, pm.merchant_order_no, pm.payer_id, pm.amount_fen AS payment_amount_fen,
                CAST(-SUM(p.amount_fen) AS BIGINT) AS credited_fen,
                CAST(COALESCE((SELECT SUM(l.amount_fen) FROM refund_lines l JOIN refunds r ON r.id = l.refund_id
                                WHERE r.payment_id = pm.id AND r.state <> 'rejected' AND l.target_kind = 'payer_credit'), 0) AS BIGINT) AS refunded_fen,
                pm.succeeded_at_ms
           FROM journal_entries e JOIN postings p ON p.entry_id = e.id JOIN accounts a ON a.id = p.account_id
           JOIN payments pm ON pm.id = e.source_id
          WHERE e.kind = 'payment_succeeded' AND a.kind = 'payer_credit'
          GROUP BY pm.id, pm.merchant_order_no, pm.payer_id, pm.amount_fen, pm.succeeded_at_ms
          ORDER BY pm.succeeded_at_ms DESC, pm.id DESC LIMIT $1",
    )
    .bind(limit)
    .fetch_all(c)
    .await?)
}
