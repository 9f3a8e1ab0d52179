//! Reads that check the whole store from outside the engine: the deterministic simulation's
//! end-of-run checks and the crash tests (what is still waiting, what was credited how often).

use bursar_domain::fee::ReceivableState;
use bursar_domain::ledger::EntryKind;
use bursar_domain::payment::PaymentState;
use bursar_domain::refund::RefundState;
use bursar_domain::Fen;

use crate::db::Conn;
use crate::error::StoreError;

fn list<T: Copy>(values: &[T], code: fn(T) -> &'static str) -> String {
    values.iter().map(|v| format!("'{}'", code(*v))).collect::<Vec<_>>().join(", ")
}

/// Payments still created or paying: "id state".
pub async fn live_payments(c: &mut impl Conn) -> Result<Vec<String>, StoreError> {
    let live = list(&[PaymentState::Created, PaymentState::Paying], PaymentState::as_str);
    Ok(sqlx::query_scalar(&format!("SELECT id || ' ' || state FROM payments WHERE state IN ({live})"))
        .fetch_all(c.raw())
        .await?)
}

/// Refunds not at an end (paid out, by transfer, rejected): "id state".
pub async fn unfinished_refunds(c: &mut impl Conn) -> Result<Vec<String>, StoreError> {
    let ended = list(&[RefundState::Succeeded, RefundState::Manual, RefundState::Rejected], RefundState::as_str);
    Ok(sqlx::query_scalar(&format!("SELECT id || ' ' || state FROM refunds WHERE state NOT IN ({ended})"))
        .fetch_all(c.raw())
        .await?)
}

/// Refunds the channel paid out: (refund number, amount).
pub async fn paid_out_refunds(c: &mut impl Conn) -> Result<Vec<(String, Fen)>, StoreError> {
    let rows: Vec<(String, i64)> =
        sqlx::query_as("SELECT out_refund_no, amount_fen FROM refunds WHERE state = $1 AND out_refund_no IS NOT NULL")
            .bind(RefundState::Succeeded.as_str())
            .fetch_all(c.raw())
            .await?;
    Ok(rows.into_iter().map(|(n, a)| (n, Fen(a))).collect())
}

pub async fn count_refunds(c: &mut impl Conn, states: &[RefundState]) -> Result<i64, StoreError> {
    let states = list(states, RefundState::as_str);
    Ok(sqlx::query_scalar(&format!("SELECT COUNT(*) FROM refunds WHERE state IN ({states})"))
        .fetch_one(c.raw())
        .await?)
}

/// Every payment with how many credit entries it has: (merchant order number, amount, entries).
pub async fn credit_counts(c: &mut impl Conn) -> Result<Vec<(String, Fen, i64)>, StoreError> {
    let rows: Vec<(String, i64, i64)> = sqlx::query_as(
        "SELECT p.merchant_order_no, p.amount_fen, COUNT(e.id) FROM payments p
           LEFT JOIN journal_entries e ON e.kind = $1 AND e.source_id = p.id
          GROUP BY p.merchant_order_no, p.amount_fen",
    )
    .bind(EntryKind::PaymentSucceeded.as_str())
    .fetch_all(c.raw())
    .await?;
    Ok(rows.into_iter().map(|(n, a, k)| (n, Fen(a), k)).collect())
}

/// When the next job falls due (queued) or its lease runs out (running), if any.
pub async fn next_job_at(c: &mut impl Conn) -> Result<Option<i64>, StoreError> {
    Ok(sqlx::query_scalar(
        "SELECT MIN(t) FROM (SELECT MIN(run_at_ms) AS t FROM jobs WHERE state = 'queued'
                             UNION ALL SELECT MIN(lease_until_ms) AS t FROM jobs WHERE state = 'running') x",
    )
    .fetch_one(c.raw())
    .await?)
}

/// A payer's receivable ids that still owe (the simulation picks what payers pay).
pub async fn open_receivables(c: &mut impl Conn) -> Result<Vec<(String, String)>, StoreError> {
    Ok(sqlx::query_as("SELECT payer_id, id FROM receivables WHERE state = $1 ORDER BY payer_id, id")
        .bind(ReceivableState::Open.as_str())
        .fetch_all(c.raw())
        .await?)
}
