//! Writing journal entries and reading balances.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use crate::bulk::{chunk_rows, values_sql};
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

/// The entry was built balanced by the domain; it is checked again at the last point before it
/// is written, so that no path can store an unbalanced one.
fn check_balanced(entry: &JournalEntry) -> Result<(), StoreError> {
    let sum = entry.postings.iter().try_fold(0i64, |acc, (_, f)| acc.checked_add(f.get()));
    if sum != Some(0) || entry.postings.len() < 2 || entry.postings.iter().any(|(_, f)| f.get() == 0) {
        return Err(StoreError::Domain(bursar_domain::DomainError::Unbalanced(sum.unwrap_or(i64::MAX))));
    }
    Ok(())
}

/// Posts a (validated, balanced) entry. `AlreadyPosted` if this event was posted before — the
/// unique (kind, source_id) makes a second credit of the same event impossible.
pub async fn post(tx: &mut crate::Tx, entry: &JournalEntry) -> Result<String, StoreError> {
    check_balanced(entry)?;
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

/// Posts many new entries in bulk (an import's receivables): every one checked balanced first,
/// accounts found or created a chunk at a time, entries and postings written with multi-row
/// inserts. An entry whose event was posted before fails the whole call with `AlreadyPosted`.
pub async fn post_many(tx: &mut Tx, entries: &[JournalEntry]) -> Result<(), StoreError> {
    for e in entries {
        check_balanced(e)?;
    }
    let (now, backend) = (tx.now_ms, tx.backend());
    // Every account the entries touch, by kind.
    let mut wanted: BTreeMap<&'static str, BTreeSet<&str>> = BTreeMap::new();
    for e in entries {
        for (acc, _) in &e.postings {
            wanted.entry(acc.kind.as_str()).or_default().insert(acc.dimension.as_str());
        }
    }
    let mut account_ids: HashMap<&'static str, HashMap<String, String>> = HashMap::new();
    for (&kind, dims) in &wanted {
        let dims: Vec<&str> = dims.iter().copied().collect();
        for chunk in dims.chunks(chunk_rows(4)) {
            let sql = values_sql(
                backend,
                "INSERT INTO accounts (id, kind, dimension, created_at_ms)",
                4,
                chunk.len(),
                "ON CONFLICT (kind, dimension) DO NOTHING RETURNING id, dimension",
            );
            let mut q = sqlx::query_as::<_, (String, String)>(&sql);
            for d in chunk {
                q = q.bind(tx.new_id()).bind(kind).bind(*d).bind(now);
            }
            // The new accounts come back from the insert; only those that existed already (a
            // fee item's income account, say) are looked up, one by one: there are few.
            let created = q.fetch_all(tx.raw()).await?;
            let ids = account_ids.entry(kind).or_default();
            ids.extend(created.into_iter().map(|(id, dim)| (dim, id)));
            for d in chunk {
                if !ids.contains_key(*d) {
                    let id: String = sqlx::query_scalar("SELECT id FROM accounts WHERE kind = $1 AND dimension = $2")
                        .bind(kind)
                        .bind(*d)
                        .fetch_one(tx.raw())
                        .await?;
                    ids.insert(d.to_string(), id);
                }
            }
        }
    }
    let entry_ids: Vec<String> = entries.iter().map(|_| tx.new_id()).collect();
    for (chunk, ids) in entries.chunks(chunk_rows(5)).zip(entry_ids.chunks(chunk_rows(5))) {
        let sql = values_sql(
            backend,
            "INSERT INTO journal_entries (id, kind, source_id, memo, created_at_ms)",
            5,
            chunk.len(),
            "",
        );
        let mut q = sqlx::query(&sql);
        for (e, id) in chunk.iter().zip(ids) {
            q = q.bind(id).bind(e.kind.as_str()).bind(&e.source_id).bind(&e.memo).bind(now);
        }
        q.execute(tx.raw()).await.map_err(|err| match crate::error::is_unique_violation(&err) {
            true => StoreError::AlreadyPosted("an entry of this batch".into()),
            false => err.into(),
        })?;
    }
    let mut postings: Vec<(&str, &str, i64)> = Vec::new();
    for (e, id) in entries.iter().zip(&entry_ids) {
        for (acc, amount) in &e.postings {
            let aid = &account_ids[acc.kind.as_str()][acc.dimension.as_str()];
            postings.push((id, aid, amount.get()));
        }
    }
    for chunk in postings.chunks(chunk_rows(4)) {
        let sql =
            values_sql(backend, "INSERT INTO postings (id, entry_id, account_id, amount_fen)", 4, chunk.len(), "");
        let mut q = sqlx::query(&sql);
        for (entry_id, account_id, amount) in chunk {
            q = q.bind(tx.new_id()).bind(*entry_id).bind(*account_id).bind(*amount);
        }
        q.execute(tx.raw()).await?;
    }
    Ok(())
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
