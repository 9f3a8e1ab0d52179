//! 缴费凭证 — receipts: numbered, one per succeeded payment, verifiable by a public code.

use sqlx::AnyConnection;

use crate::error::StoreError;

#[derive(Clone, Debug, sqlx::FromRow)]
pub struct ReceiptRow {
    pub id: String,
    pub number: String,
    pub payment_id: String,
    pub payer_id: String,
    pub amount_fen: i64,
    pub state: String,
    pub verify_code: String,
    pub issued_at_ms: i64,
}

const COLS: &str = "id, number, payment_id, payer_id, amount_fen, state, verify_code, issued_at_ms";

/// The next value of a named counter, starting at 1.
pub async fn next_counter(c: &mut AnyConnection, name: &str) -> Result<i64, StoreError> {
    sqlx::query("INSERT INTO counters (name, value) VALUES ($1, 0) ON CONFLICT (name) DO NOTHING")
        .bind(name)
        .execute(&mut *c)
        .await?;
    Ok(sqlx::query_scalar("UPDATE counters SET value = value + 1 WHERE name = $1 RETURNING value")
        .bind(name)
        .fetch_one(c)
        .await?)
}

/// Issues the receipt of a succeeded payment: number `JF` + year + 8-digit sequence.
#[allow(clippy::too_many_arguments)] // one column each
pub async fn issue(
    c: &mut AnyConnection,
    id: &str,
    payment_id: &str,
    payer_id: &str,
    amount_fen: i64,
    year: &str,
    verify_code: &str,
    now_ms: i64,
) -> Result<ReceiptRow, StoreError> {
    let seq = next_counter(&mut *c, &format!("receipt:{year}")).await?;
    let number = format!("JF{year}{seq:08}");
    sqlx::query(
        "INSERT INTO receipts (id, number, payment_id, payer_id, amount_fen, state, verify_code, issued_at_ms, updated_at_ms)
         VALUES ($1, $2, $3, $4, $5, 'valid', $6, $7, $7)",
    )
    .bind(id)
    .bind(&number)
    .bind(payment_id)
    .bind(payer_id)
    .bind(amount_fen)
    .bind(verify_code)
    .bind(now_ms)
    .execute(&mut *c)
    .await?;
    Ok(ReceiptRow {
        id: id.to_string(),
        number,
        payment_id: payment_id.to_string(),
        payer_id: payer_id.to_string(),
        amount_fen,
        state: "valid".into(),
        verify_code: verify_code.to_string(),
        issued_at_ms: now_ms,
    })
}

pub async fn for_payment(c: &mut AnyConnection, payment_id: &str) -> Result<Option<ReceiptRow>, StoreError> {
    Ok(sqlx::query_as(&format!("SELECT {COLS} FROM receipts WHERE payment_id = $1"))
        .bind(payment_id)
        .fetch_optional(c)
        .await?)
}

pub async fn by_verify_code(c: &mut AnyConnection, code: &str) -> Result<Option<ReceiptRow>, StoreError> {
    Ok(sqlx::query_as(&format!("SELECT {COLS} FROM receipts WHERE verify_code = $1"))
        .bind(code)
        .fetch_optional(c)
        .await?)
}

/// Marks a payment's receipt refunded (red-letter) or partially refunded.
pub async fn set_state(c: &mut AnyConnection, payment_id: &str, state: &str, now_ms: i64) -> Result<(), StoreError> {
    sqlx::query("UPDATE receipts SET state = $1, updated_at_ms = $2 WHERE payment_id = $3")
        .bind(state)
        .bind(now_ms)
        .bind(payment_id)
        .execute(c)
        .await?;
    Ok(())
}
