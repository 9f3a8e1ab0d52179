//! Fee standards (收费标准) by version, their lines, and the payers of a group they are raised for.

use bursar_domain::payer::PayerKind;
use bursar_domain::roster::PayerStatus;
use bursar_domain::standards::{StandardLine, StandardState};
use bursar_domain::Fen;

use crate::db::{Conn, Tx};
use crate::error::StoreError;

#[derive(Clone, Debug, sqlx::FromRow)]
pub struct StandardRow {
    pub id: String,
    pub fee_item_id: String,
    pub academic_year: String,
    pub version: i64,
    #[sqlx(try_from = "String")]
    pub state: StandardState,
    pub note: String,
    pub requested_by: String,
    pub decided_by: Option<String>,
    pub decision_comment: Option<String>,
    pub created_at_ms: i64,
    pub decided_at_ms: Option<i64>,
}

const COLS: &str = "id, fee_item_id, academic_year, version, state, note, requested_by, decided_by, decision_comment, created_at_ms, decided_at_ms";

/// A new version (the next number for the item and year), waiting for a decision, with its lines.
pub async fn insert(
    c: &mut Tx,
    id: &str,
    fee_item_id: &str,
    year: &str,
    note: &str,
    by: &str,
    lines: &[StandardLine],
) -> Result<i64, StoreError> {
    let now = c.now_ms;
    let (last,): (Option<i64>,) =
        sqlx::query_as("SELECT MAX(version) FROM fee_standards WHERE fee_item_id = $1 AND academic_year = $2")
            .bind(fee_item_id)
            .bind(year)
            .fetch_one(c.raw())
            .await?;
    let version = last.unwrap_or(0) + 1;
    sqlx::query(
        "INSERT INTO fee_standards (id, fee_item_id, academic_year, version, state, note, requested_by, created_at_ms) VALUES ($1, $2, $3, $4, 'requested', $5, $6, $7)",
    )
    .bind(id)
    .bind(fee_item_id)
    .bind(year)
    .bind(version)
    .bind(note)
    .bind(by)
    .bind(now)
    .execute(c.raw())
    .await?;
    for (i, l) in lines.iter().enumerate() {
        sqlx::query(
            "INSERT INTO fee_standard_lines (standard_id, line_no, department_id, major, grade, payer_kind, amount_fen, class_name) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(id)
        .bind(i64::try_from(i + 1).unwrap_or(i64::MAX))
        .bind(l.department_id.as_deref())
        .bind(&l.major)
        .bind(&l.grade)
        .bind(l.kind.map(PayerKind::as_str))
        .bind(l.amount.get())
        .bind(&l.class_name)
        .execute(c.raw())
        .await?;
    }
    Ok(version)
}

pub async fn get(c: &mut impl Conn, id: &str) -> Result<Option<StandardRow>, StoreError> {
    Ok(sqlx::query_as(&format!("SELECT {COLS} FROM fee_standards WHERE id = $1"))
        .bind(id)
        .fetch_optional(c.raw())
        .await?)
}

/// Every version of an item's standards, latest year and version first.
pub async fn of_item(c: &mut impl Conn, fee_item_id: &str) -> Result<Vec<StandardRow>, StoreError> {
    Ok(sqlx::query_as(&format!(
        "SELECT {COLS} FROM fee_standards WHERE fee_item_id = $1 ORDER BY academic_year DESC, version DESC LIMIT 200"
    ))
    .bind(fee_item_id)
    .fetch_all(c.raw())
    .await?)
}

/// The version in force for an item and year.
pub async fn in_force(c: &mut impl Conn, fee_item_id: &str, year: &str) -> Result<Option<StandardRow>, StoreError> {
    Ok(sqlx::query_as(&format!(
        "SELECT {COLS} FROM fee_standards WHERE fee_item_id = $1 AND academic_year = $2 AND state = 'approved'"
    ))
    .bind(fee_item_id)
    .bind(year)
    .fetch_optional(c.raw())
    .await?)
}

/// Every version waiting for a decision (for the approvers' list).
pub async fn waiting(c: &mut impl Conn) -> Result<Vec<StandardRow>, StoreError> {
    Ok(sqlx::query_as(&format!(
        "SELECT {COLS} FROM fee_standards WHERE state = 'requested' ORDER BY created_at_ms LIMIT 200"
    ))
    .fetch_all(c.raw())
    .await?)
}

type LineTuple = (Option<String>, String, String, Option<String>, i64, String);

pub async fn lines(c: &mut impl Conn, standard_id: &str) -> Result<Vec<StandardLine>, StoreError> {
    let rows: Vec<LineTuple> = sqlx::query_as(
        "SELECT department_id, major, grade, payer_kind, amount_fen, class_name FROM fee_standard_lines WHERE standard_id = $1 ORDER BY line_no",
    )
    .bind(standard_id)
    .fetch_all(c.raw())
    .await?;
    rows.into_iter()
        .map(|(department_id, major, grade, kind, amount, class_name)| {
            let kind = kind.map(PayerKind::try_from).transpose()?;
            Ok(StandardLine { department_id, major, grade, class_name, kind, amount: Fen::new(amount) })
        })
        .collect()
}

/// Decides a waiting version (compare-and-set on its state); an approval first retires the
/// version in force. False when it was decided already.
pub async fn decide(c: &mut Tx, s: &StandardRow, approve: bool, by: &str, comment: &str) -> Result<bool, StoreError> {
    let now = c.now_ms;
    if approve {
        sqlx::query(
            "UPDATE fee_standards SET state = 'superseded' WHERE fee_item_id = $1 AND academic_year = $2 AND state = 'approved'",
        )
        .bind(&s.fee_item_id)
        .bind(&s.academic_year)
        .execute(c.raw())
        .await?;
    }
    let state = if approve { StandardState::Approved } else { StandardState::Rejected };
    let r = sqlx::query(
        "UPDATE fee_standards SET state = $1, decided_by = $2, decision_comment = $3, decided_at_ms = $4 WHERE id = $5 AND state = 'requested'",
    )
    .bind(state.as_str())
    .bind(by)
    .bind(comment)
    .bind(now)
    .bind(&s.id)
    .execute(c.raw())
    .await?;
    Ok(r.rows_affected() == 1)
}

/// Who a receivable is raised for: a group of payers by kind, college, major, grade and class
/// (each optional).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Group {
    pub kind: Option<PayerKind>,
    pub department_id: Option<String>,
    pub major: Option<String>,
    pub grade: Option<String>,
    pub class_name: Option<String>,
}

/// A payer of a group, with what a standard needs.
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct GroupPayer {
    pub id: String,
    pub identifier: String,
    pub name: String,
    #[sqlx(try_from = "String")]
    pub kind: PayerKind,
    pub department_id: Option<String>,
    pub major: String,
    pub grade: String,
    pub class_name: String,
    #[sqlx(try_from = "String")]
    pub status: PayerStatus,
}

/// Every payer of the group, by number.
pub async fn group_payers(c: &mut impl Conn, g: &Group) -> Result<Vec<GroupPayer>, StoreError> {
    let mut sql = String::from(
        "SELECT id, identifier, name, kind, department_id, major, grade, class_name, status FROM payers WHERE 1 = 1",
    );
    let mut binds: Vec<&str> = Vec::new();
    for (column, value) in [
        ("kind", g.kind.map(PayerKind::as_str)),
        ("department_id", g.department_id.as_deref()),
        ("major", g.major.as_deref()),
        ("grade", g.grade.as_deref()),
        ("class_name", g.class_name.as_deref()),
    ] {
        if let Some(v) = value {
            binds.push(v);
            sql.push_str(&format!(" AND {column} = ${}", binds.len()));
        }
    }
    sql.push_str(" ORDER BY identifier, id");
    let mut q = sqlx::query_as(&sql);
    for b in binds {
        q = q.bind(b);
    }
    Ok(q.fetch_all(c.raw()).await?)
}

/// The payers an item already charges for a year.
pub async fn raised_payers(c: &mut impl Conn, fee_item_id: &str, year: &str) -> Result<Vec<String>, StoreError> {
    let rows: Vec<(String,)> =
        sqlx::query_as("SELECT payer_id FROM receivables WHERE fee_item_id = $1 AND academic_year = $2")
            .bind(fee_item_id)
            .bind(year)
            .fetch_all(c.raw())
            .await?;
    Ok(rows.into_iter().map(|(p,)| p).collect())
}
