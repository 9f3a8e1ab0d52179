//! Changes to an approved fee item's terms, by version, asked for and decided.

use bursar_domain::audience::Profile;

use crate::item_profile::{self, ProfileCols};
use bursar_domain::fee::WaiverState;
use bursar_domain::Fen;

use crate::db::{Conn, Tx};
use crate::error::{is_unique_violation, StoreError};

/// The terms a change sets.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Terms {
    pub name: String,
    pub window_start_ms: Option<i64>,
    pub window_end_ms: Option<i64>,
    pub partial_allowed: bool,
    pub min_partial: Fen,
    /// Whom the item is for, its receipt and its notice.
    pub profile: Profile,
}

#[derive(Clone, Debug, sqlx::FromRow)]
pub struct ChangeRow {
    pub id: String,
    pub fee_item_id: String,
    pub version: i64,
    pub name: String,
    pub window_start_ms: Option<i64>,
    pub window_end_ms: Option<i64>,
    pub partial_allowed: i64,
    #[sqlx(try_from = "i64")]
    pub min_partial_fen: Fen,
    pub note: String,
    /// Requested, approved or rejected.
    #[sqlx(try_from = "String")]
    pub state: WaiverState,
    pub requested_by: String,
    pub decided_by: Option<String>,
    pub decision_comment: Option<String>,
    pub created_at_ms: i64,
    pub decided_at_ms: Option<i64>,
    /// Whom the version is for, its receipt, notice and questions.
    #[sqlx(flatten)]
    pub profile_cols: ProfileCols,
}

impl ChangeRow {
    pub fn terms(&self) -> Terms {
        Terms {
            name: self.name.clone(),
            window_start_ms: self.window_start_ms,
            window_end_ms: self.window_end_ms,
            partial_allowed: self.partial_allowed != 0,
            min_partial: self.min_partial_fen,
            profile: self.profile_cols.profile(),
        }
    }
}

const COLS: &str = "id, fee_item_id, version, name, window_start_ms, window_end_ms, partial_allowed, min_partial_fen, note, state, requested_by, decided_by, decision_comment, created_at_ms, decided_at_ms, receipt_kind, payer_notice, audience_kinds, audience_departments, audience_majors, audience_grades, audience_classes, fields";

/// A new change (the next version), waiting. `Duplicate` when one is waiting already.
pub async fn insert(c: &mut Tx, id: &str, item: &str, t: &Terms, note: &str, by: &str) -> Result<i64, StoreError> {
    let (last,): (Option<i64>,) = sqlx::query_as("SELECT MAX(version) FROM fee_item_changes WHERE fee_item_id = $1")
        .bind(item)
        .fetch_one(c.raw())
        .await?;
    let version = last.unwrap_or(1) + 1;
    let now = c.now_ms;
    let sql = format!(
        "INSERT INTO fee_item_changes ({COLS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, 'requested', $10, NULL, NULL, $11, NULL, $12, $13, $14, $15, $16, $17, $18, $19)"
    );
    let q = sqlx::query(&sql)
        .bind(id)
        .bind(item)
        .bind(version)
        .bind(&t.name)
        .bind(t.window_start_ms)
        .bind(t.window_end_ms)
        .bind(i64::from(t.partial_allowed))
        .bind(t.min_partial.get())
        .bind(note)
        .bind(by)
        .bind(now);
    item_profile::bind(q, &t.profile).execute(c.raw()).await.map_err(|e| {
        if is_unique_violation(&e) {
            StoreError::Duplicate("a change of this fee item is waiting".into())
        } else {
            e.into()
        }
    })?;
    Ok(version)
}

pub async fn get(c: &mut impl Conn, id: &str) -> Result<Option<ChangeRow>, StoreError> {
    Ok(sqlx::query_as(&format!("SELECT {COLS} FROM fee_item_changes WHERE id = $1"))
        .bind(id)
        .fetch_optional(c.raw())
        .await?)
}

/// An item's changes, latest first.
pub async fn of_item(c: &mut impl Conn, item: &str) -> Result<Vec<ChangeRow>, StoreError> {
    Ok(sqlx::query_as(&format!(
        "SELECT {COLS} FROM fee_item_changes WHERE fee_item_id = $1 ORDER BY version DESC LIMIT 200"
    ))
    .bind(item)
    .fetch_all(c.raw())
    .await?)
}

/// Decides a waiting change (compare-and-set); an approval writes its terms onto the item in
/// the same transaction. False when it was decided already.
pub async fn decide(c: &mut Tx, ch: &ChangeRow, approve: bool, by: &str, comment: &str) -> Result<bool, StoreError> {
    let now = c.now_ms;
    let state = if approve { WaiverState::Approved } else { WaiverState::Rejected };
    let r = sqlx::query(
        "UPDATE fee_item_changes SET state = $1, decided_by = $2, decision_comment = $3, decided_at_ms = $4 WHERE id = $5 AND state = 'requested'",
    )
    .bind(state.as_str())
    .bind(by)
    .bind(comment)
    .bind(now)
    .bind(&ch.id)
    .execute(c.raw())
    .await?;
    if r.rows_affected() != 1 {
        return Ok(false);
    }
    if approve {
        // The version's terms as they were asked for (its profile read back as it was written).
        let q = sqlx::query(
            "UPDATE fee_items SET receipt_kind = $1, payer_notice = $2, audience_kinds = $3, audience_departments = $4,
                    audience_majors = $5, audience_grades = $6, audience_classes = $7, fields = $8,
                    name = $9, window_start_ms = $10, window_end_ms = $11, partial_allowed = $12, min_partial_fen = $13
              WHERE id = $14",
        );
        item_profile::bind(q, &ch.profile_cols.profile())
            .bind(&ch.name)
            .bind(ch.window_start_ms)
            .bind(ch.window_end_ms)
            .bind(ch.partial_allowed)
            .bind(ch.min_partial_fen.get())
            .bind(&ch.fee_item_id)
            .execute(c.raw())
            .await?;
    }
    Ok(true)
}
