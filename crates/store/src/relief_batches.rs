//! Reductions and deferrals asked for from one file (a batch), summed for the approver and
//! decided together.

use std::collections::BTreeMap;

use crate::db::Conn;
use crate::error::StoreError;

/// One file's requests.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct BatchRow {
    pub batch_id: String,
    pub requested_by: String,
    pub created_at_ms: i64,
    pub waivers: i64,
    pub waived_fen: i64,
    pub deferrals: i64,
    /// Requests still waiting for a decision.
    pub waiting: i64,
    /// The decision, once made: who and their comment.
    pub decided_by: Option<String>,
    pub decision_comment: Option<String>,
    /// Whether the decided batch was approved.
    pub approved: bool,
}

type Grouped = (String, String, i64, i64, i64, i64, Option<String>, Option<String>, i64);

/// Every batch still waiting, then the latest decided ones, up to `limit` in all.
pub async fn list(c: &mut impl Conn, limit: i64) -> Result<Vec<BatchRow>, StoreError> {
    let mut by_id: BTreeMap<String, BatchRow> = BTreeMap::new();
    for (table, amount) in [("waivers", "amount_fen"), ("deferrals", "0")] {
        let rows: Vec<Grouped> = sqlx::query_as(&format!(
            "SELECT batch_id, MIN(requested_by), MIN(created_at_ms), COUNT(*), CAST(SUM({amount}) AS BIGINT),
                    CAST(SUM(CASE WHEN state = 'requested' THEN 1 ELSE 0 END) AS BIGINT),
                    MAX(decided_by), MAX(decision_comment),
                    CAST(SUM(CASE WHEN state = 'approved' THEN 1 ELSE 0 END) AS BIGINT)
               FROM {table} WHERE batch_id IS NOT NULL GROUP BY batch_id"
        ))
        .fetch_all(c.raw())
        .await?;
        for (id, by, at, n, fen, waiting, decided_by, comment, approved) in rows {
            let b = by_id.entry(id.clone()).or_insert_with(|| BatchRow {
                batch_id: id,
                requested_by: by,
                created_at_ms: at,
                ..BatchRow::default()
            });
            if table == "waivers" {
                (b.waivers, b.waived_fen) = (n, fen);
            } else {
                b.deferrals = n;
            }
            b.waiting += waiting;
            b.approved |= approved > 0;
            b.decided_by = b.decided_by.take().or(decided_by);
            b.decision_comment = b.decision_comment.take().or(comment);
        }
    }
    let mut out: Vec<BatchRow> = by_id.into_values().collect();
    out.sort_by_key(|b| (b.waiting == 0, std::cmp::Reverse(b.created_at_ms)));
    // Waiting batches are never cut off; decided ones fill up to the limit.
    let keep = out.iter().filter(|b| b.waiting > 0).count().max(usize::try_from(limit).unwrap_or(0));
    out.truncate(keep);
    Ok(out)
}

/// The ids of a batch's waiting requests: (waivers, deferrals).
pub async fn waiting(c: &mut impl Conn, batch_id: &str) -> Result<(Vec<String>, Vec<String>), StoreError> {
    let mut out = (Vec::new(), Vec::new());
    for (table, ids) in [("waivers", &mut out.0), ("deferrals", &mut out.1)] {
        *ids = sqlx::query_scalar(&format!(
            "SELECT id FROM {table} WHERE batch_id = $1 AND state = 'requested' ORDER BY id"
        ))
        .bind(batch_id)
        .fetch_all(c.raw())
        .await?;
    }
    Ok(out)
}

/// One request of a batch, as the approver reads it.
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct BatchLine {
    /// `waiver` or a deferral kind's code.
    pub kind: String,
    pub identifier: String,
    pub name: String,
    pub item_name: String,
    pub academic_year: String,
    /// A reduction's amount (0 for a deferral).
    pub amount_fen: i64,
    /// A deferral's date (0 for a reduction).
    pub until_ms: i64,
    pub reason: String,
    pub state: String,
}

/// A batch's requests, by payer number.
pub async fn lines(c: &mut impl Conn, batch_id: &str, limit: i64) -> Result<Vec<BatchLine>, StoreError> {
    Ok(sqlx::query_as(
        "SELECT x.kind, p.identifier, p.name, f.name AS item_name, r.academic_year, x.amount_fen, x.until_ms, x.reason, x.state
           FROM (SELECT 'waiver' AS kind, receivable_id, amount_fen, CAST(0 AS BIGINT) AS until_ms, reason, state
                   FROM waivers WHERE batch_id = $1
                 UNION ALL
                 SELECT kind, receivable_id, CAST(0 AS BIGINT), until_ms, reason, state
                   FROM deferrals WHERE batch_id = $1) x
           JOIN receivables r ON r.id = x.receivable_id
           JOIN payers p ON p.id = r.payer_id
           JOIN fee_items f ON f.id = r.fee_item_id
          ORDER BY p.identifier, x.kind LIMIT $2",
    )
    .bind(batch_id)
    .bind(limit)
    .fetch_all(c.raw())
    .await?)
}

/// Who submitted a batch (`None`: no such batch).
pub async fn submitter(c: &mut impl Conn, batch_id: &str) -> Result<Option<String>, StoreError> {
    for table in ["waivers", "deferrals"] {
        let by: Option<String> =
            sqlx::query_scalar(&format!("SELECT MIN(requested_by) FROM {table} WHERE batch_id = $1"))
                .bind(batch_id)
                .fetch_one(c.raw())
                .await?;
        if by.is_some() {
            return Ok(by);
        }
    }
    Ok(None)
}

/// How many requests a batch holds.
pub async fn count(c: &mut impl Conn, batch_id: &str) -> Result<i64, StoreError> {
    let mut n = 0;
    for table in ["waivers", "deferrals"] {
        let k: i64 = sqlx::query_scalar(&format!("SELECT COUNT(*) FROM {table} WHERE batch_id = $1"))
            .bind(batch_id)
            .fetch_one(c.raw())
            .await?;
        n += k;
    }
    Ok(n)
}

/// Whether a receivable has a reduction, and a deferral, waiting for a decision.
pub async fn waiting_for(c: &mut impl Conn, receivable_id: &str) -> Result<(bool, bool), StoreError> {
    let mut out = [false; 2];
    for (i, table) in ["waivers", "deferrals"].iter().enumerate() {
        let k: i64 = sqlx::query_scalar(&format!(
            "SELECT COUNT(*) FROM {table} WHERE receivable_id = $1 AND state = 'requested'"
        ))
        .bind(receivable_id)
        .fetch_one(c.raw())
        .await?;
        out[i] = k > 0;
    }
    Ok((out[0], out[1]))
}
