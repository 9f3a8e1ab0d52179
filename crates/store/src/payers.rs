//! Departments, payers and operators.

use sqlx::AnyConnection;

use crate::error::{is_unique_violation, StoreError};

#[derive(Clone, Debug, sqlx::FromRow)]
pub struct PayerRow {
    pub id: String,
    pub kind: String,
    pub identifier: String,
    pub name: String,
    pub id_number_masked: String,
    pub phone: String,
    pub department_id: Option<String>,
    pub class_name: String,
    pub password_hash: String,
    pub must_change_password: i64,
}

#[derive(Clone, Debug)]
pub struct NewPayer<'a> {
    pub kind: &'a str,
    pub identifier: &'a str,
    pub name: &'a str,
    pub id_number_masked: &'a str,
    pub id_number_digest: &'a str,
    pub phone: &'a str,
    pub department_id: Option<&'a str>,
    pub class_name: &'a str,
    pub password_hash: &'a str,
}

#[derive(Clone, Debug, sqlx::FromRow)]
pub struct OperatorRow {
    pub id: String,
    pub username: String,
    pub name: String,
    pub role: String,
    pub department_id: Option<String>,
    pub password_hash: String,
}

const PAYER_COLS: &str =
    "id, kind, identifier, name, id_number_masked, phone, department_id, class_name, password_hash, must_change_password";

pub async fn insert_department(c: &mut AnyConnection, id: &str, code: &str, name: &str) -> Result<(), StoreError> {
    sqlx::query("INSERT INTO departments (id, code, name) VALUES ($1, $2, $3)")
        .bind(id)
        .bind(code)
        .bind(name)
        .execute(c)
        .await?;
    Ok(())
}

/// Every department: (id, name), by code.
pub async fn departments(c: &mut AnyConnection) -> Result<Vec<(String, String)>, StoreError> {
    Ok(sqlx::query_as("SELECT id, name FROM departments ORDER BY code").fetch_all(c).await?)
}

pub async fn department_name(c: &mut AnyConnection, id: &str) -> Result<Option<String>, StoreError> {
    Ok(sqlx::query_scalar("SELECT name FROM departments WHERE id = $1").bind(id).fetch_optional(c).await?)
}

/// Inserts a payer; `Conflict` when a payer of that kind with that identifier exists.
pub async fn insert_payer(c: &mut AnyConnection, id: &str, p: &NewPayer<'_>, now_ms: i64) -> Result<(), StoreError> {
    let r = sqlx::query(
        "INSERT INTO payers (id, kind, identifier, name, id_number_masked, id_number_digest, phone, department_id, class_name, password_hash, must_change_password, created_at_ms)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, 1, $11)",
    )
    .bind(id)
    .bind(p.kind)
    .bind(p.identifier)
    .bind(p.name)
    .bind(p.id_number_masked)
    .bind(p.id_number_digest)
    .bind(p.phone)
    .bind(p.department_id)
    .bind(p.class_name)
    .bind(p.password_hash)
    .bind(now_ms)
    .execute(c)
    .await;
    match r {
        Ok(_) => Ok(()),
        Err(e) if is_unique_violation(&e) => {
            Err(StoreError::Conflict(format!("payer {} {} exists", p.kind, p.identifier)))
        }
        Err(e) => Err(e.into()),
    }
}

pub async fn payer_by_login(
    c: &mut AnyConnection,
    kind: &str,
    identifier: &str,
) -> Result<Option<PayerRow>, StoreError> {
    Ok(sqlx::query_as(&format!("SELECT {PAYER_COLS} FROM payers WHERE kind = $1 AND identifier = $2"))
        .bind(kind)
        .bind(identifier)
        .fetch_optional(c)
        .await?)
}

/// A payer of `kind` by the keyed digest of their ID number.
pub async fn payer_by_id_digest(
    c: &mut AnyConnection,
    kind: &str,
    digest: &str,
) -> Result<Option<PayerRow>, StoreError> {
    if digest.is_empty() {
        return Ok(None);
    }
    Ok(sqlx::query_as(&format!("SELECT {PAYER_COLS} FROM payers WHERE kind = $1 AND id_number_digest = $2"))
        .bind(kind)
        .bind(digest)
        .fetch_optional(c)
        .await?)
}

/// A payer by login identifier (student/staff/registration number), whatever their kind.
pub async fn payer_by_identifier(c: &mut AnyConnection, identifier: &str) -> Result<Option<PayerRow>, StoreError> {
    let rows: Vec<PayerRow> =
        sqlx::query_as(&format!("SELECT {PAYER_COLS} FROM payers WHERE identifier = $1 ORDER BY kind"))
            .bind(identifier)
            .fetch_all(c)
            .await?;
    Ok(rows.into_iter().next())
}

pub async fn payer(c: &mut AnyConnection, id: &str) -> Result<PayerRow, StoreError> {
    sqlx::query_as(&format!("SELECT {PAYER_COLS} FROM payers WHERE id = $1"))
        .bind(id)
        .fetch_optional(c)
        .await?
        .ok_or_else(|| StoreError::NotFound(format!("payer {id}")))
}

pub async fn count_payers(c: &mut AnyConnection) -> Result<i64, StoreError> {
    Ok(sqlx::query_scalar("SELECT COUNT(*) FROM payers").fetch_one(c).await?)
}

pub async fn set_payer_password(
    c: &mut AnyConnection,
    id: &str,
    hash: &str,
    must_change: bool,
) -> Result<(), StoreError> {
    sqlx::query("UPDATE payers SET password_hash = $1, must_change_password = $2 WHERE id = $3")
        .bind(hash)
        .bind(i64::from(must_change))
        .bind(id)
        .execute(c)
        .await?;
    Ok(())
}

#[allow(clippy::too_many_arguments)] // one column each; a struct would only rename them
pub async fn insert_operator(
    c: &mut AnyConnection,
    id: &str,
    username: &str,
    name: &str,
    role: &str,
    department_id: Option<&str>,
    password_hash: &str,
    now_ms: i64,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO operators (id, username, name, role, department_id, password_hash, created_at_ms) VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(id)
    .bind(username)
    .bind(name)
    .bind(role)
    .bind(department_id)
    .bind(password_hash)
    .bind(now_ms)
    .execute(c)
    .await?;
    Ok(())
}

pub async fn operator_by_username(c: &mut AnyConnection, username: &str) -> Result<Option<OperatorRow>, StoreError> {
    Ok(sqlx::query_as(
        "SELECT id, username, name, role, department_id, password_hash FROM operators WHERE username = $1",
    )
    .bind(username)
    .fetch_optional(c)
    .await?)
}

pub async fn operator(c: &mut AnyConnection, id: &str) -> Result<OperatorRow, StoreError> {
    sqlx::query_as("SELECT id, username, name, role, department_id, password_hash FROM operators WHERE id = $1")
        .bind(id)
        .fetch_optional(c)
        .await?
        .ok_or_else(|| StoreError::NotFound(format!("operator {id}")))
}

pub async fn set_phone(c: &mut AnyConnection, id: &str, phone: &str) -> Result<(), StoreError> {
    sqlx::query("UPDATE payers SET phone = $1 WHERE id = $2").bind(phone).bind(id).execute(c).await?;
    Ok(())
}

#[derive(Clone, Debug, sqlx::FromRow)]
pub struct SecurityRow {
    pub payer_id: String,
    pub question1: String,
    pub answer1_hash: String,
    pub question2: String,
    pub answer2_hash: String,
    pub updated_at_ms: i64,
}

pub async fn security(c: &mut AnyConnection, payer_id: &str) -> Result<Option<SecurityRow>, StoreError> {
    Ok(sqlx::query_as(
        "SELECT payer_id, question1, answer1_hash, question2, answer2_hash, updated_at_ms FROM payer_security WHERE payer_id = $1",
    )
    .bind(payer_id)
    .fetch_optional(c)
    .await?)
}

pub async fn set_security(c: &mut AnyConnection, s: &SecurityRow) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO payer_security (payer_id, question1, answer1_hash, question2, answer2_hash, updated_at_ms) VALUES ($1, $2, $3, $4, $5, $6)
         ON CONFLICT (payer_id) DO UPDATE SET question1 = excluded.question1, answer1_hash = excluded.answer1_hash,
             question2 = excluded.question2, answer2_hash = excluded.answer2_hash, updated_at_ms = excluded.updated_at_ms",
    )
    .bind(&s.payer_id)
    .bind(&s.question1)
    .bind(&s.answer1_hash)
    .bind(&s.question2)
    .bind(&s.answer2_hash)
    .bind(s.updated_at_ms)
    .execute(c)
    .await?;
    Ok(())
}
