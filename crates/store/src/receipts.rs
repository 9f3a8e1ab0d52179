//! 缴费凭证 — receipts: numbered, one per succeeded payment, verifiable by a public code.

use bursar_domain::receipt::ReceiptState;
use bursar_domain::Fen;

use crate::db::{Conn, Tx};

use crate::error::StoreError;

#[derive(Clone, Debug, sqlx::FromRow)]
pub struct ReceiptRow {
    pub id: String,
    pub number: String,
    pub payment_id: String,
    pub payer_id: String,
    #[sqlx(try_from = "i64")]
    pub amount_fen: Fen,
    #[sqlx(try_from = "String")]
    pub state: ReceiptState,
    pub verify_code: String,
    pub issued_at_ms: i64,
}

const COLS: &str = "id, number, payment_id, payer_id, amount_fen, state, verify_code, issued_at_ms";

/// The next value of a named counter, starting at 1.
pub async fn next_counter(c: &mut Tx, name: &str) -> Result<i64, StoreError> {
    sqlx::query("INSERT INTO counters (name, value) VALUES ($1, 0) ON CONFLICT (name) DO NOTHING")
        .bind(name)
        .execute(c.raw())
        .await?;
    Ok(sqlx::query_scalar("UPDATE counters SET value = value + 1 WHERE name = $1 RETURNING value")
        .bind(name)
        .fetch_one(c.raw())
        .await?)
}

/// A receipt about to be issued.
pub struct NewReceipt<'a> {
    pub payment_id: &'a str,
    pub payer_id: &'a str,
    pub amount: Fen,
    /// `Valid`, or `Overpayment` when nothing was owed any more.
    pub state: ReceiptState,
    /// The calendar year its number belongs to.
    pub year: &'a str,
}

/// Issues the receipt of a succeeded payment: number `JF` + year + 8-digit sequence, and a
/// random code anyone can verify it by.
pub async fn issue(c: &mut Tx, r: &NewReceipt<'_>) -> Result<ReceiptRow, StoreError> {
    let seq = next_counter(&mut *c, &format!("receipt:{}", r.year)).await?;
    let number = format!("JF{}{seq:08}", r.year);
    let id = c.new_id();
    let verify_code = c.new_id();
    let now_ms = c.now_ms;
    sqlx::query(
        "INSERT INTO receipts (id, number, payment_id, payer_id, amount_fen, state, verify_code, issued_at_ms, updated_at_ms)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8)",
    )
    .bind(&id)
    .bind(&number)
    .bind(r.payment_id)
    .bind(r.payer_id)
    .bind(r.amount.get())
    .bind(r.state.as_str())
    .bind(&verify_code)
    .bind(now_ms)
    .execute(c.raw())
    .await?;
    Ok(ReceiptRow {
        id,
        number,
        payment_id: r.payment_id.to_string(),
        payer_id: r.payer_id.to_string(),
        amount_fen: r.amount,
        state: r.state,
        verify_code,
        issued_at_ms: now_ms,
    })
}

pub async fn for_payment(c: &mut impl Conn, payment_id: &str) -> Result<Option<ReceiptRow>, StoreError> {
    Ok(sqlx::query_as(&format!("SELECT {COLS} FROM receipts WHERE payment_id = $1"))
        .bind(payment_id)
        .fetch_optional(c.raw())
        .await?)
}

pub async fn by_verify_code(c: &mut impl Conn, code: &str) -> Result<Option<ReceiptRow>, StoreError> {
    Ok(sqlx::query_as(&format!("SELECT {COLS} FROM receipts WHERE verify_code = $1"))
        .bind(code)
        .fetch_optional(c.raw())
        .await?)
}

/// Marks a payment's receipt refunded (red-letter) or partially refunded.
pub async fn set_state(c: &mut Tx, payment_id: &str, state: ReceiptState, now_ms: i64) -> Result<(), StoreError> {
    sqlx::query("UPDATE receipts SET state = $1, updated_at_ms = $2 WHERE payment_id = $3")
        .bind(state.as_str())
        .bind(now_ms)
        .bind(payment_id)
        .execute(c.raw())
        .await?;
    Ok(())
}
