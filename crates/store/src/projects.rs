//! Projects, their registration fields and the registrations payers made.

use crate::db::{Conn, Tx};
use bursar_domain::payer::PayerKind;
use bursar_domain::project::{FeeAmount, Field, FieldKind, Openness, ProjectState, RegistrationState};
use bursar_domain::Fen;

use crate::error::StoreError;

#[derive(Clone, Debug, sqlx::FromRow)]
pub struct ProjectRow {
    pub id: String,
    pub code: String,
    pub title: String,
    pub department_id: String,
    pub fee_item_id: String,
    pub academic_year: String,
    pub description: String,
    pub notice: String,
    #[sqlx(try_from = "i64")]
    pub fee_fen: Fen,
    pub capacity: Option<i64>,
    pub registered: i64,
    pub open_to: String,
    pub opens_at_ms: Option<i64>,
    pub closes_at_ms: Option<i64>,
    #[sqlx(try_from = "String")]
    pub state: ProjectState,
    pub created_at_ms: i64,
    /// Set when the payer chooses the amount: the most (and `fee_fen` the least).
    pub amount_max_fen: Option<i64>,
    pub open_departments: String,
    pub open_grades: String,
}

impl ProjectRow {
    pub fn open_to_kinds(&self) -> Vec<PayerKind> {
        self.open_to.split(',').filter_map(|k| PayerKind::parse(k.trim())).collect()
    }
    pub fn openness(&self) -> Openness {
        Openness {
            open: self.state == ProjectState::Open,
            opens_at_ms: self.opens_at_ms,
            closes_at_ms: self.closes_at_ms,
            capacity: self.capacity,
            registered: self.registered,
            open_to: self.open_to_kinds(),
            open_departments: split_list(&self.open_departments),
            open_grades: split_list(&self.open_grades),
        }
    }
    /// What a registration costs.
    pub fn fee_amount(&self) -> FeeAmount {
        match self.amount_max_fen {
            Some(max) => FeeAmount::PayerEntered { min: self.fee_fen, max: Fen(max) },
            None => FeeAmount::Fixed(self.fee_fen),
        }
    }
}

/// A comma-separated list's items.
fn split_list(text: &str) -> Vec<String> {
    text.split(',').map(str::trim).filter(|v| !v.is_empty()).map(str::to_string).collect()
}

const COLS: &str = "id, code, title, department_id, fee_item_id, academic_year, description, notice, fee_fen, capacity, registered, open_to, opens_at_ms, closes_at_ms, state, created_at_ms, amount_max_fen, open_departments, open_grades";

pub async fn insert(c: &mut Tx, p: &ProjectRow) -> Result<(), StoreError> {
    sqlx::query(&format!(
        "INSERT INTO projects ({COLS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19)"
    ))
    .bind(&p.id)
    .bind(&p.code)
    .bind(&p.title)
    .bind(&p.department_id)
    .bind(&p.fee_item_id)
    .bind(&p.academic_year)
    .bind(&p.description)
    .bind(&p.notice)
    .bind(p.fee_fen.get())
    .bind(p.capacity)
    .bind(p.registered)
    .bind(&p.open_to)
    .bind(p.opens_at_ms)
    .bind(p.closes_at_ms)
    .bind(p.state.as_str())
    .bind(p.created_at_ms)
    .bind(p.amount_max_fen)
    .bind(&p.open_departments)
    .bind(&p.open_grades)
    .execute(c.raw())
    .await?;
    Ok(())
}

pub async fn insert_field(c: &mut Tx, project_id: &str, position: i64, f: &Field) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO project_fields (project_id, position, name, label, kind, required, options) VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(project_id)
    .bind(position)
    .bind(&f.name)
    .bind(&f.label)
    .bind(f.kind.as_str())
    .bind(i64::from(f.required))
    .bind(f.options.join("|"))
    .execute(c.raw())
    .await?;
    Ok(())
}

pub async fn all(c: &mut impl Conn) -> Result<Vec<ProjectRow>, StoreError> {
    Ok(sqlx::query_as(&format!("SELECT {COLS} FROM projects ORDER BY created_at_ms DESC, code"))
        .fetch_all(c.raw())
        .await?)
}

pub async fn get(c: &mut impl Conn, id: &str) -> Result<ProjectRow, StoreError> {
    sqlx::query_as(&format!("SELECT {COLS} FROM projects WHERE id = $1"))
        .bind(id)
        .fetch_optional(c.raw())
        .await?
        .ok_or_else(|| StoreError::NotFound(format!("project {id}")))
}

pub async fn by_code(c: &mut impl Conn, code: &str) -> Result<Option<ProjectRow>, StoreError> {
    Ok(sqlx::query_as(&format!("SELECT {COLS} FROM projects WHERE code = $1"))
        .bind(code)
        .fetch_optional(c.raw())
        .await?)
}

#[derive(sqlx::FromRow)]
struct FieldRow {
    name: String,
    label: String,
    #[sqlx(try_from = "String")]
    kind: FieldKind,
    required: i64,
    options: String,
}

pub async fn fields(c: &mut impl Conn, project_id: &str) -> Result<Vec<Field>, StoreError> {
    let rows: Vec<FieldRow> = sqlx::query_as(
        "SELECT name, label, kind, required, options FROM project_fields WHERE project_id = $1 ORDER BY position",
    )
    .bind(project_id)
    .fetch_all(c.raw())
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| Field {
            name: r.name,
            label: r.label,
            kind: r.kind,
            required: r.required != 0,
            options: r.options.split('|').filter(|s| !s.is_empty()).map(String::from).collect(),
        })
        .collect())
}

/// Takes a seat: compare-and-set on the count the caller read, refused when the project is full
/// or no longer open.
pub async fn take_seat(c: &mut Tx, id: &str, expected_registered: i64) -> Result<bool, StoreError> {
    let r = sqlx::query(
        "UPDATE projects SET registered = registered + 1
          WHERE id = $1 AND registered = $2 AND state = $3 AND (capacity IS NULL OR registered < capacity)",
    )
    .bind(id)
    .bind(expected_registered)
    .bind(ProjectState::Open.as_str())
    .execute(c.raw())
    .await?;
    Ok(r.rows_affected() == 1)
}

/// Opens or closes registration: compare-and-set on the state.
pub async fn set_state(c: &mut Tx, id: &str, from: ProjectState, to: ProjectState) -> Result<bool, StoreError> {
    let r = sqlx::query("UPDATE projects SET state = $1 WHERE id = $2 AND state = $3")
        .bind(to.as_str())
        .bind(id)
        .bind(from.as_str())
        .execute(c.raw())
        .await?;
    Ok(r.rows_affected() == 1)
}

#[derive(Clone, Debug, sqlx::FromRow)]
pub struct RegistrationRow {
    pub id: String,
    pub project_id: String,
    pub payer_id: String,
    pub answers: String,
    pub receivable_id: Option<String>,
    #[sqlx(try_from = "String")]
    pub state: RegistrationState,
    pub created_at_ms: i64,
}

const REG_COLS: &str = "id, project_id, payer_id, answers, receivable_id, state, created_at_ms";

pub async fn insert_registration(c: &mut Tx, r: &RegistrationRow) -> Result<(), StoreError> {
    sqlx::query(&format!("INSERT INTO registrations ({REG_COLS}) VALUES ($1, $2, $3, $4, $5, $6, $7)"))
        .bind(&r.id)
        .bind(&r.project_id)
        .bind(&r.payer_id)
        .bind(&r.answers)
        .bind(&r.receivable_id)
        .bind(r.state.as_str())
        .bind(r.created_at_ms)
        .execute(c.raw())
        .await?;
    Ok(())
}

pub async fn registration_of(
    c: &mut impl Conn,
    project_id: &str,
    payer_id: &str,
) -> Result<Option<RegistrationRow>, StoreError> {
    Ok(sqlx::query_as(&format!("SELECT {REG_COLS} FROM registrations WHERE project_id = $1 AND payer_id = $2"))
        .bind(project_id)
        .bind(payer_id)
        .fetch_optional(c.raw())
        .await?)
}

pub async fn registrations_of_payer(c: &mut impl Conn, payer_id: &str) -> Result<Vec<RegistrationRow>, StoreError> {
    Ok(sqlx::query_as(&format!(
        "SELECT {REG_COLS} FROM registrations WHERE payer_id = $1 ORDER BY created_at_ms DESC, id DESC"
    ))
    .bind(payer_id)
    .fetch_all(c.raw())
    .await?)
}

pub async fn registrations_of_project(c: &mut impl Conn, project_id: &str) -> Result<Vec<RegistrationRow>, StoreError> {
    Ok(sqlx::query_as(&format!(
        "SELECT {REG_COLS} FROM registrations WHERE project_id = $1 ORDER BY created_at_ms, id"
    ))
    .bind(project_id)
    .fetch_all(c.raw())
    .await?)
}
