//! Campus cards: the card, its holder and its password. The wallet balance is not stored here:
//! it is the card's `card_wallet` account in the ledger.

use bursar_domain::card::CardState;

use crate::db::{Conn, Tx};

use crate::error::StoreError;

#[derive(Clone, Debug, sqlx::FromRow)]
pub struct CardRow {
    pub card_no: String,
    pub payer_id: String,
    pub password_hash: String,
    #[sqlx(try_from = "String")]
    pub state: CardState,
    pub failed_attempts: i64,
    pub locked_until_ms: Option<i64>,
    pub created_at_ms: i64,
    pub updated_at_ms: i64,
}

const COLS: &str =
    "card_no, payer_id, password_hash, state, failed_attempts, locked_until_ms, created_at_ms, updated_at_ms";

pub async fn insert(
    c: &mut Tx,
    card_no: &str,
    payer_id: &str,
    password_hash: &str,
    now_ms: i64,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO campus_cards (card_no, payer_id, password_hash, state, failed_attempts, created_at_ms, updated_at_ms)
         VALUES ($1, $2, $3, 'active', 0, $4, $4)",
    )
    .bind(card_no)
    .bind(payer_id)
    .bind(password_hash)
    .bind(now_ms)
    .execute(c.raw())
    .await?;
    Ok(())
}

pub async fn of_payer(c: &mut impl Conn, payer_id: &str) -> Result<Option<CardRow>, StoreError> {
    Ok(sqlx::query_as(&format!("SELECT {COLS} FROM campus_cards WHERE payer_id = $1"))
        .bind(payer_id)
        .fetch_optional(c.raw())
        .await?)
}

pub async fn by_no(c: &mut impl Conn, card_no: &str) -> Result<Option<CardRow>, StoreError> {
    Ok(sqlx::query_as(&format!("SELECT {COLS} FROM campus_cards WHERE card_no = $1"))
        .bind(card_no)
        .fetch_optional(c.raw())
        .await?)
}

/// Counts a wrong card password; locks the card for `lock_ms` at `max_failures`.
pub async fn record_failure(
    c: &mut Tx,
    card_no: &str,
    max_failures: i64,
    lock_ms: i64,
    now_ms: i64,
) -> Result<(), StoreError> {
    sqlx::query(
        "UPDATE campus_cards SET failed_attempts = failed_attempts + 1,
             locked_until_ms = CASE WHEN failed_attempts + 1 >= $1 THEN $2 ELSE locked_until_ms END,
             updated_at_ms = $3
         WHERE card_no = $4",
    )
    .bind(max_failures)
    .bind(now_ms + lock_ms)
    .bind(now_ms)
    .bind(card_no)
    .execute(c.raw())
    .await?;
    Ok(())
}

pub async fn clear_failures(c: &mut Tx, card_no: &str, now_ms: i64) -> Result<(), StoreError> {
    sqlx::query(
        "UPDATE campus_cards SET failed_attempts = 0, locked_until_ms = NULL, updated_at_ms = $1 WHERE card_no = $2",
    )
    .bind(now_ms)
    .bind(card_no)
    .execute(c.raw())
    .await?;
    Ok(())
}

/// Compare-and-set of a card's state (active ↔ lost).
pub async fn set_state(
    c: &mut Tx,
    card_no: &str,
    from: CardState,
    to: CardState,
    now_ms: i64,
) -> Result<(), StoreError> {
    let r = sqlx::query("UPDATE campus_cards SET state = $1, updated_at_ms = $2 WHERE card_no = $3 AND state = $4")
        .bind(to.as_str())
        .bind(now_ms)
        .bind(card_no)
        .bind(from.as_str())
        .execute(c.raw())
        .await?;
    if r.rows_affected() != 1 {
        return Err(StoreError::Conflict(format!("card {card_no} is no longer {}", from.as_str())));
    }
    Ok(())
}

/// Takes the card for a payment inside the caller's transaction: succeeds only while the card is
/// active with the password that was just checked. On PostgreSQL the update also row-locks the
/// card, so two payments from one wallet never both see the same balance (SQLite's writer lock
/// already serializes them).
pub async fn take_for_payment(c: &mut Tx, card_no: &str, password_hash: &str, now_ms: i64) -> Result<bool, StoreError> {
    let r = sqlx::query(
        "UPDATE campus_cards SET failed_attempts = 0, locked_until_ms = NULL, updated_at_ms = $1
          WHERE card_no = $2 AND state = 'active' AND password_hash = $3",
    )
    .bind(now_ms)
    .bind(card_no)
    .bind(password_hash)
    .execute(c.raw())
    .await?;
    Ok(r.rows_affected() == 1)
}
