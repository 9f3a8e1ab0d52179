//! Settings the school changes at run time (four-eyes control per kind, …), by name.

use crate::db::{Conn, Tx};
use crate::error::StoreError;

pub async fn get(c: &mut impl Conn, name: &str) -> Result<Option<String>, StoreError> {
    Ok(sqlx::query_scalar::<_, String>("SELECT value FROM settings WHERE name = $1")
        .bind(name)
        .fetch_optional(c.raw())
        .await?)
}

pub async fn set(c: &mut Tx, name: &str, value: &str) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO settings (name, value) VALUES ($1, $2) ON CONFLICT (name) DO UPDATE SET value = excluded.value",
    )
    .bind(name)
    .bind(value)
    .execute(c.raw())
    .await?;
    Ok(())
}

/// Every setting, by name.
pub async fn all(c: &mut impl Conn) -> Result<Vec<(String, String)>, StoreError> {
    Ok(sqlx::query_as("SELECT name, value FROM settings ORDER BY name").fetch_all(c.raw()).await?)
}
