//! Refund records and their lines.

use crate::db::{Conn, Tx};
use bursar_domain::ledger::{AccountKind, EntryKind};
use bursar_domain::refund::{RefundKind, RefundState, RefundTarget};
use bursar_domain::Fen;

use crate::error::StoreError;

#[derive(Clone, Debug, sqlx::FromRow)]
pub struct RefundRow {
    pub id: String,
    pub payment_id: String,
    pub payer_id: String,
    #[sqlx(try_from = "i64")]
    pub amount_fen: Fen,
    #[sqlx(try_from = "String")]
    pub kind: RefundKind,
    pub reason: String,
    #[sqlx(try_from = "String")]
    pub state: RefundState,
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
    pub decision_comment: Option<String>,
    pub decided_at_ms: Option<i64>,
}

const COLS: &str = "id, payment_id, payer_id, amount_fen, kind, reason, state, attempt, out_refund_no, channel_refund_id, failure_reason, bank_reference, requested_by, decided_by, created_at_ms, updated_at_ms, succeeded_at_ms, decision_comment, decided_at_ms";

pub struct NewRefund<'a> {
    pub id: &'a str,
    pub payment_id: &'a str,
    pub payer_id: &'a str,
    pub amount: Fen,
    pub kind: RefundKind,
    pub reason: &'a str,
    pub requested_by: &'a str,
}

pub async fn insert(c: &mut Tx, r: &NewRefund<'_>, now_ms: i64) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO refunds (id, payment_id, payer_id, amount_fen, kind, reason, state, attempt, requested_by, created_at_ms, updated_at_ms)
         VALUES ($1, $2, $3, $4, $5, $6, 'requested', 0, $7, $8, $8)",
    )
    .bind(r.id)
    .bind(r.payment_id)
    .bind(r.payer_id)
    .bind(r.amount.get())
    .bind(r.kind.as_str())
    .bind(r.reason)
    .bind(r.requested_by)
    .bind(now_ms)
    .execute(c.raw())
    .await?;
    Ok(())
}

pub async fn refund(c: &mut impl Conn, id: &str) -> Result<RefundRow, StoreError> {
    sqlx::query_as(&format!("SELECT {COLS} FROM refunds WHERE id = $1"))
        .bind(id)
        .fetch_optional(c.raw())
        .await?
        .ok_or_else(|| StoreError::NotFound(format!("refund {id}")))
}

pub async fn by_out_refund_no(c: &mut impl Conn, no: &str) -> Result<Option<RefundRow>, StoreError> {
    Ok(sqlx::query_as(&format!("SELECT {COLS} FROM refunds WHERE out_refund_no = $1"))
        .bind(no)
        .fetch_optional(c.raw())
        .await?)
}

/// A payer's refunds, latest first (at most 200).
pub async fn of_payer(c: &mut impl Conn, payer_id: &str) -> Result<Vec<RefundRow>, StoreError> {
    Ok(sqlx::query_as(&format!(
        "SELECT {COLS} FROM refunds WHERE payer_id = $1 ORDER BY created_at_ms DESC, id DESC LIMIT 200"
    ))
    .bind(payer_id)
    .fetch_all(c.raw())
    .await?)
}

pub async fn of_payment(c: &mut impl Conn, payment_id: &str) -> Result<Vec<RefundRow>, StoreError> {
    Ok(sqlx::query_as(&format!("SELECT {COLS} FROM refunds WHERE payment_id = $1 ORDER BY created_at_ms, id"))
        .bind(payment_id)
        .fetch_all(c.raw())
        .await?)
}

pub async fn list(c: &mut impl Conn, state: Option<RefundState>, limit: i64) -> Result<Vec<RefundRow>, StoreError> {
    let state = state.map(RefundState::as_str);
    let q = match state {
        Some(_) => format!("SELECT {COLS} FROM refunds WHERE state = $1 ORDER BY created_at_ms DESC, id DESC LIMIT $2"),
        None => format!("SELECT {COLS} FROM refunds WHERE $1 = $1 ORDER BY created_at_ms DESC, id DESC LIMIT $2"),
    };
    Ok(sqlx::query_as(&q).bind(state.unwrap_or("")).bind(limit).fetch_all(c.raw()).await?)
}

/// Refund state change as a compare-and-set.
pub async fn transition(
    c: &mut Tx,
    id: &str,
    from: RefundState,
    to: RefundState,
    now_ms: i64,
) -> Result<(), StoreError> {
    from.check_transition(to)?;
    crate::db::cas_state(c, "refunds", id, from.as_str(), to.as_str(), now_ms).await
}

/// Records who decided a request and why (the state change goes with it).
pub async fn set_decided(c: &mut Tx, id: &str, by: &str, comment: &str) -> Result<(), StoreError> {
    let now = c.now_ms;
    sqlx::query("UPDATE refunds SET decided_by = $1, decision_comment = $2, decided_at_ms = $3 WHERE id = $4")
        .bind(by)
        .bind(comment)
        .bind(now)
        .bind(id)
        .execute(c.raw())
        .await?;
    Ok(())
}

/// A new attempt at the channel gets a new refund number (a closed one cannot be reused).
pub async fn start_attempt(c: &mut Tx, id: &str, out_refund_no: &str) -> Result<i64, StoreError> {
    Ok(sqlx::query_scalar(
        "UPDATE refunds SET attempt = attempt + 1, out_refund_no = $1, failure_reason = NULL WHERE id = $2 RETURNING attempt",
    )
    .bind(out_refund_no)
    .bind(id)
    .fetch_one(c.raw())
    .await?)
}

pub async fn set_channel_refund_id(c: &mut Tx, id: &str, channel_refund_id: &str) -> Result<(), StoreError> {
    sqlx::query("UPDATE refunds SET channel_refund_id = $1 WHERE id = $2")
        .bind(channel_refund_id)
        .bind(id)
        .execute(c.raw())
        .await?;
    Ok(())
}

pub async fn set_succeeded(
    c: &mut Tx,
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
    .execute(c.raw())
    .await?;
    Ok(())
}

pub async fn set_failure(c: &mut Tx, id: &str, reason: &str) -> Result<(), StoreError> {
    sqlx::query("UPDATE refunds SET failure_reason = $1 WHERE id = $2").bind(reason).bind(id).execute(c.raw()).await?;
    Ok(())
}

pub async fn set_bank_reference(c: &mut Tx, id: &str, reference: &str) -> Result<(), StoreError> {
    sqlx::query("UPDATE refunds SET bank_reference = $1 WHERE id = $2")
        .bind(reference)
        .bind(id)
        .execute(c.raw())
        .await?;
    Ok(())
}

#[derive(Clone, Debug, sqlx::FromRow)]
pub struct LineRow {
    #[sqlx(try_from = "String")]
    pub target_kind: RefundTarget,
    pub target_id: String,
    pub fee_item_id: Option<String>,
    #[sqlx(try_from = "i64")]
    pub amount_fen: Fen,
}

pub async fn insert_line(c: &mut Tx, refund_id: &str, line: &LineRow) -> Result<(), StoreError> {
    sqlx::query("INSERT INTO refund_lines (refund_id, target_kind, target_id, fee_item_id, amount_fen) VALUES ($1, $2, $3, $4, $5)")
        .bind(refund_id)
        .bind(line.target_kind.as_str())
        .bind(&line.target_id)
        .bind(&line.fee_item_id)
        .bind(line.amount_fen.get())
        .execute(c.raw())
        .await?;
    Ok(())
}

pub async fn lines(c: &mut impl Conn, refund_id: &str) -> Result<Vec<LineRow>, StoreError> {
    Ok(sqlx::query_as("SELECT target_kind, target_id, fee_item_id, amount_fen FROM refund_lines WHERE refund_id = $1 ORDER BY target_kind, target_id")
        .bind(refund_id)
        .fetch_all(c.raw())
        .await?)
}

/// One place a succeeded payment's money went: a receivable or the payer's credit.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Allocation {
    pub target: RefundTarget,
    /// The receivable id, or the payer id for payer credit.
    pub target_id: String,
    pub amount: Fen,
}

/// What a succeeded payment put where, from its ledger entry: receivables first, then payer
/// credit.
pub async fn payment_allocations(c: &mut impl Conn, payment_id: &str) -> Result<Vec<Allocation>, StoreError> {
    let rows: Vec<(String, String, i64)> = sqlx::query_as(
        "SELECT a.kind, a.dimension, CAST(-SUM(p.amount_fen) AS BIGINT) FROM journal_entries e
           JOIN postings p ON p.entry_id = e.id JOIN accounts a ON a.id = p.account_id
          WHERE e.kind = $2 AND e.source_id = $1 AND a.kind IN ($3, $4)
          GROUP BY a.kind, a.dimension ORDER BY a.kind DESC, a.dimension",
    )
    .bind(payment_id)
    .bind(EntryKind::PaymentSucceeded.as_str())
    .bind(AccountKind::Receivable.as_str())
    .bind(AccountKind::PayerCredit.as_str())
    .fetch_all(c.raw())
    .await?;
    rows.into_iter()
        .map(|(kind, dim, amount)| {
            let target = if AccountKind::try_from(kind)? == AccountKind::Receivable {
                RefundTarget::Receivable
            } else {
                RefundTarget::PayerCredit
            };
            Ok(Allocation { target, target_id: dim, amount: Fen(amount) })
        })
        .collect()
}

/// Already refunded (or on its way) per target, over the payment's live refunds.
pub async fn refunded_by_target(c: &mut impl Conn, payment_id: &str) -> Result<Vec<Allocation>, StoreError> {
    let rows: Vec<(String, String, i64)> = sqlx::query_as(
        "SELECT l.target_kind, l.target_id, CAST(SUM(l.amount_fen) AS BIGINT) FROM refund_lines l JOIN refunds r ON r.id = l.refund_id
          WHERE r.payment_id = $1 AND r.state <> $2 GROUP BY l.target_kind, l.target_id",
    )
    .bind(payment_id)
    .bind(RefundState::Rejected.as_str())
    .fetch_all(c.raw())
    .await?;
    rows.into_iter()
        .map(|(kind, id, amount)| {
            Ok(Allocation { target: RefundTarget::try_from(kind)?, target_id: id, amount: Fen(amount) })
        })
        .collect()
}

/// A payment whose money (partly) went to the payer's credit because nothing was owed any more
/// (a late payment, the same bill paid twice), with what has been refunded of it.
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct OverpaymentRow {
    pub payment_id: String,
    pub merchant_order_no: String,
    pub payer_id: String,
    #[sqlx(try_from = "i64")]
    pub payment_amount_fen: Fen,
    #[sqlx(try_from = "i64")]
    pub credited_fen: Fen,
    #[sqlx(try_from = "i64")]
    pub refunded_fen: Fen,
    pub succeeded_at_ms: Option<i64>,
}

pub async fn overpayments(c: &mut impl Conn, limit: i64) -> Result<Vec<OverpaymentRow>, StoreError> {
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
    .fetch_all(c.raw())
    .await?)
}

/// A refund in the finance view's list, with its payment's number and its payer.
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct RefundListRow {
    #[sqlx(flatten)]
    pub refund: RefundRow,
    pub merchant_order_no: String,
    pub payer_identifier: String,
    pub payer_name: String,
}

/// The newest refunds; `departments` limits them to refunds with a line of those departments'
/// fee items.
pub async fn list_view(
    c: &mut impl Conn,
    departments: Option<&[String]>,
    limit: i64,
) -> Result<Vec<RefundListRow>, StoreError> {
    let cols = COLS.split(", ").map(|c| format!("r.{c}")).collect::<Vec<_>>().join(", ");
    let mut sql = format!(
        "SELECT {cols}, p.merchant_order_no, y.identifier AS payer_identifier, y.name AS payer_name
           FROM refunds r JOIN payments p ON p.id = r.payment_id JOIN payers y ON y.id = r.payer_id WHERE 1 = 1"
    );
    if let Some(depts) = departments {
        let list = if depts.is_empty() {
            "''".to_string()
        } else {
            depts.iter().map(|d| format!("'{}'", d.replace('\'', "''"))).collect::<Vec<_>>().join(", ")
        };
        sql.push_str(&format!(
            " AND EXISTS (SELECT 1 FROM refund_lines l JOIN fee_items f ON f.id = l.fee_item_id
                          WHERE l.refund_id = r.id AND f.department_id IN ({list}))"
        ));
    }
    sql.push_str(" ORDER BY r.created_at_ms DESC, r.id DESC LIMIT $1");
    Ok(sqlx::query_as(&sql).bind(limit).fetch_all(c.raw()).await?)
}
