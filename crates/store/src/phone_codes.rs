//! One-time codes that verify a phone.

use crate::db::{Conn, Tx};
use crate::error::StoreError;

#[derive(Clone, Debug, sqlx::FromRow)]
pub struct PhoneCodeRow {
    pub phone: String,
    pub code_digest: String,
    pub expires_at_ms: i64,
    pub attempts: i64,
    pub sent_today: i64,
    pub day_start_ms: i64,
    pub last_sent_at_ms: i64,
}

pub async fn get(c: &mut impl Conn, phone: &str) -> Result<Option<PhoneCodeRow>, StoreError> {
    Ok(sqlx::query_as(
        "SELECT phone, code_digest, expires_at_ms, attempts, sent_today, day_start_ms, last_sent_at_ms FROM phone_codes WHERE phone = $1",
    )
    .bind(phone)
    .fetch_optional(c.raw())
    .await?)
}

/// Stores a new code for a phone (replacing the previous one), with the day's count.
pub async fn put(c: &mut Tx, row: &PhoneCodeRow) -> Result<(), StoreError> {
    sqlx::query("DELETE FROM phone_codes WHERE expires_at_ms < $1 AND day_start_ms < $1")
        .bind(c.now_ms - 86_400_000)
        .execute(c.raw())
        .await?;
    sqlx::query(
        "INSERT INTO phone_codes (phone, code_digest, expires_at_ms, attempts, sent_today, day_start_ms, last_sent_at_ms)
         VALUES ($1, $2, $3, 0, $4, $5, $6)
         ON CONFLICT (phone) DO UPDATE SET code_digest = excluded.code_digest, expires_at_ms = excluded.expires_at_ms,
             attempts = 0, sent_today = excluded.sent_today, day_start_ms = excluded.day_start_ms,
             last_sent_at_ms = excluded.last_sent_at_ms",
    )
    .bind(&row.phone)
    .bind(&row.code_digest)
    .bind(row.expires_at_ms)
    .bind(row.sent_today)
    .bind(row.day_start_ms)
    .bind(row.last_sent_at_ms)
    .execute(c.raw())
    .await?;
    Ok(())
}

/// Counts a wrong try.
pub async fn failed_try(c: &mut Tx, phone: &str) -> Result<(), StoreError> {
    sqlx::query("UPDATE phone_codes SET attempts = attempts + 1 WHERE phone = $1").bind(phone).execute(c.raw()).await?;
    Ok(())
}

/// Spends a code (it verified): it can never verify again.
pub async fn spend(c: &mut Tx, phone: &str) -> Result<(), StoreError> {
    sqlx::query("UPDATE phone_codes SET expires_at_ms = 0, code_digest = '' WHERE phone = $1")
        .bind(phone)
        .execute(c.raw())
        .await?;
    Ok(())
}
