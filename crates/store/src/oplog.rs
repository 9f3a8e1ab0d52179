//! The operation log: every state change by a person, an application or the system, appended in
//! the same transaction as the change, and hash-chained so that editing or deleting any row is
//! detected.
//!
//! Writers never wait on each other here: a transaction inserts its rows *unsealed* (no place
//! in the chain yet). One sealer ([`seal`]) gives committed rows their sequence number and hash in
//! the order it finds them, and keeps the chain's head. `verify` walks the chain and reports
//! rows left unsealed longer than [`SEAL_GRACE_MS`].

use bursar_domain::access::{ActorKind, Principal};
use sha2::{Digest, Sha256};

use crate::db::{Conn, Store, Tx};
use crate::error::StoreError;

/// How long a committed row may stay unsealed before `verify` reports it.
pub const SEAL_GRACE_MS: i64 = 10 * 60 * 1000;
/// Rows sealed per sealing transaction.
pub const SEAL_BATCH: i64 = 500;

/// One change: `entity`/`entity_id` moved from `before` to `after` by `action`.
pub struct Change<'a> {
    pub action: &'a str,
    pub entity: &'a str,
    pub entity_id: &'a str,
    pub before: &'a str,
    pub after: &'a str,
    pub detail: &'a str,
}

#[derive(Clone, Debug, sqlx::FromRow)]
pub struct LogRow {
    pub id: String,
    pub seq: Option<i64>,
    pub at_ms: i64,
    #[sqlx(try_from = "String")]
    pub actor_kind: ActorKind,
    pub actor_id: String,
    pub action: String,
    pub entity: String,
    pub entity_id: String,
    pub before_state: String,
    pub after_state: String,
    pub detail: String,
    pub prev_hash: Option<String>,
    pub hash: Option<String>,
}

const COLS: &str = "id, seq, at_ms, actor_kind, actor_id, action, entity, entity_id, before_state, after_state, detail, prev_hash, hash";

fn field(out: &mut Vec<u8>, value: &str) {
    // Length-prefixed, so no choice of field contents can make two rows hash alike.
    out.extend_from_slice(value.len().to_string().as_bytes());
    out.push(b':');
    out.extend_from_slice(value.as_bytes());
    out.push(b'\n');
}

/// The hash of a row at its place in the chain.
pub fn row_hash(prev_hash: &str, seq: i64, r: &LogRow) -> String {
    let mut m = Vec::with_capacity(256);
    for v in [
        prev_hash,
        &seq.to_string(),
        &r.at_ms.to_string(),
        r.actor_kind.as_str(),
        &r.actor_id,
        &r.action,
        &r.entity,
        &r.entity_id,
        &r.before_state,
        &r.after_state,
        &r.detail,
    ] {
        field(&mut m, v);
    }
    hex::encode(Sha256::digest(&m))
}

/// Appends one change by `by`, unsealed, in the caller's transaction.
pub async fn append(tx: &mut Tx, by: &Principal, change: &Change<'_>) -> Result<(), StoreError> {
    let (kind, actor_id) = by.actor();
    let id = tx.new_id();
    let now = tx.now_ms;
    sqlx::query(
        "INSERT INTO operation_log (id, at_ms, actor_kind, actor_id, action, entity, entity_id, before_state, after_state, detail)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
    )
    .bind(&id)
    .bind(now)
    .bind(kind.as_str())
    .bind(&actor_id)
    .bind(change.action)
    .bind(change.entity)
    .bind(change.entity_id)
    .bind(change.before)
    .bind(change.after)
    .bind(change.detail)
    .execute(tx.raw())
    .await?;
    tx.logged = true;
    Ok(())
}

/// Seals up to [`SEAL_BATCH`] committed rows onto the chain; returns how many it sealed.
pub async fn seal(store: &Store) -> Result<usize, StoreError> {
    store
        .write(|tx: &mut Tx| {
            Box::pin(async move {
                let (mut seq, mut prev): (i64, String) =
                    sqlx::query_as("SELECT seq, hash FROM operation_log_head WHERE id = 1").fetch_one(tx.raw()).await?;
                let rows: Vec<LogRow> = sqlx::query_as(&format!(
                    "SELECT {COLS} FROM operation_log WHERE seq IS NULL ORDER BY id LIMIT {SEAL_BATCH}"
                ))
                .fetch_all(tx.raw())
                .await?;
                for r in &rows {
                    seq += 1;
                    let hash = row_hash(&prev, seq, r);
                    let done = sqlx::query(
                        "UPDATE operation_log SET seq = $1, prev_hash = $2, hash = $3 WHERE id = $4 AND seq IS NULL",
                    )
                    .bind(seq)
                    .bind(&prev)
                    .bind(&hash)
                    .bind(&r.id)
                    .execute(tx.raw())
                    .await?;
                    if done.rows_affected() != 1 {
                        return Err(StoreError::Conflict(format!("operation log row {} was sealed meanwhile", r.id)));
                    }
                    prev = hash;
                }
                if !rows.is_empty() {
                    sqlx::query("UPDATE operation_log_head SET seq = $1, hash = $2 WHERE id = 1")
                        .bind(seq)
                        .bind(&prev)
                        .execute(tx.raw())
                        .await?;
                }
                Ok(rows.len())
            })
        })
        .await
}

/// Seals everything committed so far (before `verify`, and at shutdown).
pub async fn seal_all(store: &Store) -> Result<usize, StoreError> {
    let mut total = 0;
    loop {
        let n = seal(store).await?;
        total += n;
        if n < usize::try_from(SEAL_BATCH).unwrap_or(usize::MAX) {
            return Ok(total);
        }
    }
}

/// The log of one entity, oldest first (unsealed rows last, in their order).
pub async fn for_entity(c: &mut impl Conn, entity: &str, entity_id: &str) -> Result<Vec<LogRow>, StoreError> {
    Ok(sqlx::query_as(&format!(
        "SELECT {COLS} FROM operation_log WHERE entity = $1 AND entity_id = $2
          ORDER BY CASE WHEN seq IS NULL THEN 1 ELSE 0 END, seq, id"
    ))
    .bind(entity)
    .bind(entity_id)
    .fetch_all(c.raw())
    .await?)
}

/// Everything the log says about one payer: the payer itself, their receivables (raised one by
/// one, cancelled, answered), and the reductions and deferrals asked for them; the latest 500, in
/// log order.
pub async fn about_payer(c: &mut impl Conn, payer_id: &str) -> Result<Vec<LogRow>, StoreError> {
    let mut rows: Vec<LogRow> = sqlx::query_as(&format!(
        "SELECT {COLS} FROM operation_log
          WHERE (entity = 'payer' AND entity_id = $1)
             OR (entity = 'receivable' AND entity_id IN (SELECT id FROM receivables WHERE payer_id = $1))
             OR (entity = 'waiver' AND entity_id IN
                   (SELECT w.id FROM waivers w JOIN receivables r ON r.id = w.receivable_id WHERE r.payer_id = $1))
             OR (entity = 'deferral' AND entity_id IN
                   (SELECT d.id FROM deferrals d JOIN receivables r ON r.id = d.receivable_id WHERE r.payer_id = $1))
          ORDER BY CASE WHEN seq IS NULL THEN 0 ELSE 1 END, seq DESC, id DESC
          LIMIT 500"
    ))
    .bind(payer_id)
    .fetch_all(c.raw())
    .await?;
    rows.reverse();
    Ok(rows)
}

/// Which rows of the log to list (each filter optional), newest first, after a cursor.
#[derive(Clone, Debug, Default)]
pub struct LogQuery {
    /// The action, e.g. `refund.approve`.
    pub action: Option<String>,
    pub entity: Option<String>,
    pub entity_id: Option<String>,
    pub actor_id: Option<String>,
    /// Rows at or after this time (ms).
    pub from_ms: Option<i64>,
    /// Rows before this time (ms).
    pub to_ms: Option<i64>,
    /// Continue after this row: (at_ms, id) of the last row of the previous page.
    pub after: Option<(i64, String)>,
}

/// A page of the log, newest first, for reading it (auditors, finance).
pub async fn page(c: &mut impl Conn, q: &LogQuery, limit: i64) -> Result<Vec<LogRow>, StoreError> {
    enum Bind {
        Text(String),
        Int(i64),
    }
    let mut sql = format!("SELECT {COLS} FROM operation_log WHERE 1 = 1");
    let mut binds: Vec<Bind> = Vec::new();
    // Appends a clause whose `$?` placeholders take the next values, in order.
    let mut clause = |sql: &mut String, text: &str, values: Vec<Bind>| {
        let mut out = String::new();
        let mut rest = text;
        for v in values {
            let Some((before, after)) = rest.split_once("$?") else { break };
            binds.push(v);
            out.push_str(before);
            out.push_str(&format!("${}", binds.len()));
            rest = after;
        }
        out.push_str(rest);
        sql.push_str(&out);
    };
    for (column, value) in
        [("action", &q.action), ("entity", &q.entity), ("entity_id", &q.entity_id), ("actor_id", &q.actor_id)]
    {
        if let Some(v) = value {
            clause(&mut sql, &format!(" AND {column} = $?"), vec![Bind::Text(v.clone())]);
        }
    }
    if let Some(from) = q.from_ms {
        clause(&mut sql, " AND at_ms >= $?", vec![Bind::Int(from)]);
    }
    if let Some(to) = q.to_ms {
        clause(&mut sql, " AND at_ms < $?", vec![Bind::Int(to)]);
    }
    if let Some((at, id)) = &q.after {
        let values = vec![Bind::Int(*at), Bind::Int(*at), Bind::Text(id.clone())];
        clause(&mut sql, " AND (at_ms < $? OR (at_ms = $? AND id < $?))", values);
    }
    clause(&mut sql, " ORDER BY at_ms DESC, id DESC LIMIT $?", vec![Bind::Int(limit.clamp(1, 500))]);
    let mut query = sqlx::query_as::<_, LogRow>(&sql);
    for b in binds {
        query = match b {
            Bind::Text(t) => query.bind(t),
            Bind::Int(i) => query.bind(i),
        };
    }
    Ok(query.fetch_all(c.raw()).await?)
}

/// Who (actor ids) took any of `actions` on an entity: e.g. the people who registered an
/// application or rotated its secret.
pub async fn actors_of(
    c: &mut impl Conn,
    entity: &str,
    entity_id: &str,
    actions: &[&str],
) -> Result<Vec<String>, StoreError> {
    let rows: Vec<(String, String)> =
        sqlx::query_as("SELECT DISTINCT actor_id, action FROM operation_log WHERE entity = $1 AND entity_id = $2")
            .bind(entity)
            .bind(entity_id)
            .fetch_all(c.raw())
            .await?;
    Ok(rows.into_iter().filter(|(_, a)| actions.contains(&a.as_str())).map(|(who, _)| who).collect())
}

/// The chain's head: how many rows are sealed.
pub async fn sealed_count(c: &mut impl Conn) -> Result<i64, StoreError> {
    Ok(sqlx::query_scalar("SELECT seq FROM operation_log_head WHERE id = 1").fetch_one(c.raw()).await?)
}

/// Walks the whole chain up to its head as first read (rows the sealer adds meanwhile are
/// for the next walk); returns every break found. Rows still unsealed after [`SEAL_GRACE_MS`]
/// are reported too (the sealer is not running).
pub async fn verify_chain(c: &mut impl Conn, now_ms: i64) -> Result<Vec<String>, StoreError> {
    let mut problems = Vec::new();
    let (head_seq, head_hash): (i64, String) =
        sqlx::query_as("SELECT seq, hash FROM operation_log_head WHERE id = 1").fetch_one(c.raw()).await?;
    let mut expected_prev = "0".repeat(64);
    let mut expected_seq = 1i64;
    let mut last_seq = 0i64;
    loop {
        let rows: Vec<LogRow> = sqlx::query_as(&format!(
            "SELECT {COLS} FROM operation_log WHERE seq > $1 AND seq <= $2 ORDER BY seq LIMIT 5000"
        ))
        .bind(last_seq)
        .bind(head_seq)
        .fetch_all(c.raw())
        .await?;
        if rows.is_empty() {
            break;
        }
        for r in &rows {
            let seq = r.seq.unwrap_or_default();
            if seq != expected_seq {
                problems.push(format!("rows {expected_seq}..{} are missing (deleted)", seq - 1));
            }
            if r.prev_hash.as_deref() != Some(expected_prev.as_str()) {
                problems.push(format!("row {seq} does not follow the previous row's hash"));
            }
            let hash = row_hash(r.prev_hash.as_deref().unwrap_or_default(), seq, r);
            if r.hash.as_deref() != Some(hash.as_str()) {
                problems.push(format!("row {seq} was edited (hash mismatch)"));
            }
            expected_prev = r.hash.clone().unwrap_or_default();
            expected_seq = seq + 1;
            last_seq = seq;
        }
    }
    if last_seq != head_seq || (head_seq > 0 && expected_prev != head_hash) {
        problems.push(format!(
            "the log ends at row {last_seq} but its head says {head_seq}: rows were deleted from the end"
        ));
    }
    let stale: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM operation_log WHERE seq IS NULL AND at_ms < $1")
        .bind(now_ms - SEAL_GRACE_MS)
        .fetch_one(c.raw())
        .await?;
    if stale > 0 {
        problems.push(format!("{stale} rows have waited more than ten minutes to be sealed (is the sealer running?)"));
    }
    Ok(problems)
}
