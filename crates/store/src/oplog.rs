//! The operation log: every state change by a person or by the system, appended in the same
//! transaction as the change, hash-chained so that editing or deleting any row is detected.

use sha2::{Digest, Sha256};
use sqlx::AnyConnection;

use crate::error::StoreError;

/// Who acted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Actor {
    /// `payer`, `operator`, `system`, `channel`.
    pub kind: &'static str,
    pub id: String,
}

impl Actor {
    pub fn system(what: &str) -> Actor {
        Actor { kind: "system", id: what.to_string() }
    }
    pub fn payer(id: &str) -> Actor {
        Actor { kind: "payer", id: id.to_string() }
    }
    pub fn operator(id: &str) -> Actor {
        Actor { kind: "operator", id: id.to_string() }
    }
    pub fn channel(name: &str) -> Actor {
        Actor { kind: "channel", id: name.to_string() }
    }
}

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
    pub seq: i64,
    pub at_ms: i64,
    pub actor_kind: String,
    pub actor_id: String,
    pub action: String,
    pub entity: String,
    pub entity_id: String,
    pub before_state: String,
    pub after_state: String,
    pub detail: String,
    pub prev_hash: String,
    pub hash: String,
}

fn field(out: &mut Vec<u8>, value: &str) {
    // Length-prefixed, so no choice of field contents can make two rows hash alike.
    out.extend_from_slice(value.len().to_string().as_bytes());
    out.push(b':');
    out.extend_from_slice(value.as_bytes());
    out.push(b'\n');
}

pub fn row_hash(prev_hash: &str, seq: i64, at_ms: i64, actor_kind: &str, actor_id: &str, c: &Change<'_>) -> String {
    let mut m = Vec::with_capacity(256);
    for v in [
        prev_hash,
        &seq.to_string(),
        &at_ms.to_string(),
        actor_kind,
        actor_id,
        c.action,
        c.entity,
        c.entity_id,
        c.before,
        c.after,
        c.detail,
    ] {
        field(&mut m, v);
    }
    hex::encode(Sha256::digest(&m))
}

/// Appends one change. The head row update serialises appends (a row lock on PostgreSQL, the
/// single writer on SQLite), so the chain never forks.
pub async fn append(c: &mut AnyConnection, now_ms: i64, actor: &Actor, change: &Change<'_>) -> Result<i64, StoreError> {
    let (seq, prev_hash): (i64, String) =
        sqlx::query_as("UPDATE operation_log_head SET seq = seq + 1 WHERE id = 1 RETURNING seq, hash")
            .fetch_one(&mut *c)
            .await?;
    let hash = row_hash(&prev_hash, seq, now_ms, actor.kind, &actor.id, change);
    sqlx::query(
        "INSERT INTO operation_log (seq, at_ms, actor_kind, actor_id, action, entity, entity_id, before_state, after_state, detail, prev_hash, hash)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
    )
    .bind(seq)
    .bind(now_ms)
    .bind(actor.kind)
    .bind(&actor.id)
    .bind(change.action)
    .bind(change.entity)
    .bind(change.entity_id)
    .bind(change.before)
    .bind(change.after)
    .bind(change.detail)
    .bind(&prev_hash)
    .bind(&hash)
    .execute(&mut *c)
    .await?;
    sqlx::query("UPDATE operation_log_head SET hash = $1 WHERE id = 1").bind(&hash).execute(c).await?;
    Ok(seq)
}

pub async fn for_entity(c: &mut AnyConnection, entity: &str, entity_id: &str) -> Result<Vec<LogRow>, StoreError> {
    Ok(sqlx::query_as(
        "SELECT seq, at_ms, actor_kind, actor_id, action, entity, entity_id, before_state, after_state, detail, prev_hash, hash
           FROM operation_log WHERE entity = $1 AND entity_id = $2 ORDER BY seq",
    )
    .bind(entity)
    .bind(entity_id)
    .fetch_all(c)
    .await?)
}

/// Walks the whole chain; returns every break found.
pub async fn verify_chain(c: &mut AnyConnection) -> Result<Vec<String>, StoreError> {
    let mut problems = Vec::new();
    let (head_seq, head_hash): (i64, String) =
        sqlx::query_as("SELECT seq, hash FROM operation_log_head WHERE id = 1").fetch_one(&mut *c).await?;
    let mut expected_prev = "0".repeat(64);
    let mut expected_seq = 1i64;
    let mut last_seq = 0i64;
    let mut offset = 0i64;
    loop {
        let rows: Vec<LogRow> = sqlx::query_as(
            "SELECT seq, at_ms, actor_kind, actor_id, action, entity, entity_id, before_state, after_state, detail, prev_hash, hash
               FROM operation_log WHERE seq > $1 ORDER BY seq LIMIT 5000",
        )
        .bind(offset)
        .fetch_all(&mut *c)
        .await?;
        if rows.is_empty() {
            break;
        }
        for r in &rows {
            if r.seq != expected_seq {
                problems.push(format!("rows {expected_seq}..{} are missing (deleted)", r.seq - 1));
            }
            if r.prev_hash != expected_prev {
                problems.push(format!("row {} does not follow the previous row's hash", r.seq));
            }
            let change = Change {
                action: &r.action,
                entity: &r.entity,
                entity_id: &r.entity_id,
                before: &r.before_state,
                after: &r.after_state,
                detail: &r.detail,
            };
            if row_hash(&r.prev_hash, r.seq, r.at_ms, &r.actor_kind, &r.actor_id, &change) != r.hash {
                problems.push(format!("row {} was edited (hash mismatch)", r.seq));
            }
            expected_prev = r.hash.clone();
            expected_seq = r.seq + 1;
            last_seq = r.seq;
        }
        offset = last_seq;
    }
    if last_seq != head_seq || (head_seq > 0 && expected_prev != head_hash) {
        problems.push(format!(
            "the log ends at row {last_seq} but its head says {head_seq}: rows were deleted from the end"
        ));
    }
    Ok(problems)
}
