//! The figures a dashboard reads, each one aggregate query: collection per day and channel, what
//! is waiting (payments, refunds) and what is held for payers (overpayments).

use crate::db::Conn;
use crate::error::StoreError;

/// Beijing time's offset and a day, in milliseconds: `(ms + OFFSET) / DAY` numbers a day.
pub const CST_OFFSET_MS: i64 = 8 * 3_600_000;
pub const DAY_MS: i64 = 86_400_000;

/// (day number in Beijing time, channel, payments, fen) of payments that succeeded since `from_ms`.
/// A payment's amount is what its ledger entry credited (invariant 4).
pub async fn daily_by_channel(c: &mut impl Conn, from_ms: i64) -> Result<Vec<(i64, String, i64, i64)>, StoreError> {
    Ok(sqlx::query_as(
        "SELECT (succeeded_at_ms + $2) / $3 AS day, channel, COUNT(*) AS n, CAST(SUM(amount_fen) AS BIGINT) AS fen
           FROM payments WHERE succeeded_at_ms >= $1 AND state = 'succeeded'
          GROUP BY (succeeded_at_ms + $2) / $3, channel ORDER BY day, channel",
    )
    .bind(from_ms)
    .bind(CST_OFFSET_MS)
    .bind(DAY_MS)
    .fetch_all(c.raw())
    .await?)
}

/// Payments waiting for the payer or the channel.
pub async fn waiting_payments(c: &mut impl Conn) -> Result<i64, StoreError> {
    Ok(sqlx::query_scalar("SELECT COUNT(*) FROM payments WHERE state IN ('created', 'paying')")
        .fetch_one(c.raw())
        .await?)
}

/// (refunds, fen) approved and not yet confirmed paid out.
pub async fn refunds_in_transit(c: &mut impl Conn) -> Result<(i64, i64), StoreError> {
    Ok(sqlx::query_as(
        "SELECT COUNT(*), CAST(COALESCE(SUM(amount_fen), 0) AS BIGINT) FROM refunds WHERE state IN ('approved', 'processing', 'failed')",
    )
    .fetch_one(c.raw())
    .await?)
}

/// (payers, fen) of overpayments the school holds for payers (their credit's balance).
pub async fn overpayments_held(c: &mut impl Conn) -> Result<(i64, i64), StoreError> {
    Ok(sqlx::query_as(
        "SELECT COUNT(*), CAST(COALESCE(SUM(bal), 0) AS BIGINT) FROM (
           SELECT -SUM(po.amount_fen) AS bal FROM accounts a JOIN postings po ON po.account_id = a.id
            WHERE a.kind = 'payer_credit' GROUP BY a.id) x WHERE bal > 0",
    )
    .fetch_one(c.raw())
    .await?)
}
