//! Writing journal entries and reading balances.

use crate::db::{Conn, Tx};
use bursar_domain::ledger::{AccountRef, JournalEntry};
use bursar_domain::Fen;

use crate::error::StoreError;

/// Finds or creates an account and returns its id.
async fn account_id(c: &mut Tx, new_id: String, acc: &AccountRef, now_ms: i64) -> Result<String, StoreError> {
    sqlx::query("INSERT INTO accounts (id, kind, dimension, created_at_ms) VALUES ($1, $2, $3, $4) ON CONFLICT (kind, dimension) DO NOTHING")
        .bind(&new_id)
        .bind(acc.kind.as_str())
        .bind(&acc.dimension)
        .bind(now_ms)
        .execute(c.raw())
        .await?;
    Ok(sqlx::query_scalar("SELECT id FROM accounts WHERE kind = $1 AND dimension = $2")
        .bind(acc.kind.as_str())
        .bind(&acc.dimension)
        .fetch_one(c.raw())
        .await?)
}

/// Posts a (validated, balanced) entry. `AlreadyPosted` if this event was posted before — the
/// unique (kind, source_id) makes a second credit of the same event impossible.
pub async fn post(tx: &mut crate::Tx, entry: &JournalEntry) -> Result<String, StoreError> {
    // The entry was built balanced by the domain; check again at the last point before it is
    // written, so that no path can store an unbalanced one.
    let sum = entry.postings.iter().try_fold(0i64, |acc, (_, f)| acc.checked_add(f.get()));
    if sum != Some(0) || entry.postings.len() < 2 || entry.postings.iter().any(|(_, f)| f.get() == 0) {
        return Err(StoreError::Domain(bursar_domain::DomainError::Unbalanced(sum.unwrap_or(i64::MAX))));
    }
    let entry_id = tx.new_id();
    let now = tx.now_ms;
    let inserted: Option<String> = sqlx::query_scalar(
        "INSERT INTO journal_entries (id, kind, source_id, memo, created_at_ms) VALUES ($1, $2, $3, $4, $5)
         ON CONFLICT (kind, source_id) DO NOTHING RETURNING id",
    )
    .bind(&entry_id)
    .bind(entry.kind.as_str())
    .bind(&entry.source_id)
    .bind(&entry.memo)
    .bind(now)
    .fetch_optional(tx.raw())
    .await?;
    if inserted.is_none() {
        return Err(StoreError::AlreadyPosted(format!("{}:{}", entry.kind.as_str(), entry.source_id)));
    }
    for (acc, amount) in &entry.postings {
        let new_account_id = tx.new_id();
        let aid = account_id(tx, new_account_id, acc, now).await?;
        let posting_id = tx.new_id();
        sqlx::query("INSERT INTO postings (id, entry_id, account_id, amount_fen) VALUES ($1, $2, $3, $4)")
            .bind(posting_id)
            .bind(&entry_id)
            .bind(aid)
            .bind(amount.get())
            .execute(tx.raw())
            .await?;
    }
    Ok(entry_id)
}

/// The signed balance (debits positive) of one account; zero when it has never been posted to.
pub async fn balance(c: &mut impl Conn, acc: &AccountRef) -> Result<Fen, StoreError> {
    let v: i64 = sqlx::query_scalar(
        "SELECT CAST(COALESCE(SUM(p.amount_fen), 0) AS BIGINT) FROM postings p JOIN accounts a ON a.id = p.account_id
          WHERE a.kind = $1 AND a.dimension = $2",
    )
    .bind(acc.kind.as_str())
    .bind(&acc.dimension)
    .fetch_one(c.raw())
    .await?;
    Ok(Fen(v))
}

#[derive(Clone, Debug, sqlx::FromRow)]
pub struct KindTotal {
    pub kind: String,
    pub accounts: i64,
    pub balance_fen: i64,
}

/// Trial balance by account kind.
pub async fn totals_by_kind(c: &mut impl Conn) -> Result<Vec<KindTotal>, StoreError> {
    Ok(sqlx::query_as(
        "SELECT a.kind, COUNT(DISTINCT a.id) AS accounts, CAST(COALESCE(SUM(p.amount_fen), 0) AS BIGINT) AS balance_fen
           FROM accounts a LEFT JOIN postings p ON p.account_id = a.id GROUP BY a.kind ORDER BY a.kind",
    )
    .fetch_all(c.raw())
    .await?)
}
