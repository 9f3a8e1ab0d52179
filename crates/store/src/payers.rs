//! Departments, payers and operators.

use bursar_domain::access::{OperatorPrincipal, Role};
use bursar_domain::payer::PayerKind;
use std::collections::HashMap;

use crate::bulk::{chunk_rows, values_sql};
use crate::db::{Conn, Tx};

use crate::error::{is_unique_violation, StoreError};

#[derive(Clone, Debug, sqlx::FromRow)]
pub struct PayerRow {
    pub id: String,
    #[sqlx(try_from = "String")]
    pub kind: PayerKind,
    pub identifier: String,
    pub name: String,
    pub id_number_masked: String,
    pub phone: String,
    pub department_id: Option<String>,
    pub class_name: String,
    pub password_hash: String,
    pub must_change_password: i64,
    /// The keyed digest of the ID document number ("" when the school registered none).
    pub id_number_digest: String,
    /// When the phone was proven by a one-time code (`None`: never).
    pub phone_verified_at_ms: Option<i64>,
    /// Frozen by finance (since when, and why); a frozen account cannot be used.
    pub frozen_at_ms: Option<i64>,
    pub frozen_reason: String,
    /// The account cannot be used from this moment on (`None`: no end).
    pub valid_until_ms: Option<i64>,
    /// 年级 (students; "" when the school gave none).
    pub grade: String,
}

impl PayerRow {
    /// Why the account cannot be used at `now_ms` (frozen, or past its validity), if so.
    pub fn blocked(&self, now_ms: i64) -> Option<String> {
        bursar_domain::payer::account_block(self.frozen_at_ms, self.valid_until_ms, now_ms)
    }
}

#[derive(Clone, Debug)]
pub struct NewPayer<'a> {
    pub kind: PayerKind,
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
    #[sqlx(try_from = "String")]
    pub state: OperatorState,
    pub password_hash: String,
}

bursar_domain::coded_enum! {
    pub enum OperatorState {
        Active = ("active", "启用", "Active"),
        Disabled = ("disabled", "停用", "Disabled"),
    }
}

const OPERATOR_COLS: &str = "id, username, name, state, password_hash";

const PAYER_COLS: &str =
    "id, kind, identifier, name, id_number_masked, phone, department_id, class_name, password_hash, must_change_password, id_number_digest, phone_verified_at_ms, frozen_at_ms, frozen_reason, valid_until_ms, grade";

pub async fn insert_department(c: &mut Tx, id: &str, code: &str, name: &str) -> Result<(), StoreError> {
    sqlx::query("INSERT INTO departments (id, code, name) VALUES ($1, $2, $3)")
        .bind(id)
        .bind(code)
        .bind(name)
        .execute(c.raw())
        .await?;
    Ok(())
}

/// Every department: (id, name), by code.
pub async fn departments(c: &mut impl Conn) -> Result<Vec<(String, String)>, StoreError> {
    Ok(sqlx::query_as("SELECT id, name FROM departments ORDER BY code").fetch_all(c.raw()).await?)
}

pub async fn department_name(c: &mut impl Conn, id: &str) -> Result<Option<String>, StoreError> {
    Ok(sqlx::query_scalar("SELECT name FROM departments WHERE id = $1").bind(id).fetch_optional(c.raw()).await?)
}

/// The last four characters of an ID number (kept in its masked form), searched by the counter
/// and the finance view.
fn last4(masked: &str) -> String {
    let n = masked.chars().count();
    if n < 4 {
        return String::new();
    }
    masked.chars().skip(n - 4).collect()
}

/// Inserts a payer; `Conflict` when a payer of that kind with that identifier exists.
pub async fn insert_payer(c: &mut Tx, id: &str, p: &NewPayer<'_>, now_ms: i64) -> Result<(), StoreError> {
    let r = sqlx::query(
        "INSERT INTO payers (id, kind, identifier, name, id_number_masked, id_number_digest, phone, department_id, class_name, password_hash, must_change_password, created_at_ms, id_last4)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, 1, $11, $12)",
    )
    .bind(id)
    .bind(p.kind.as_str())
    .bind(p.identifier)
    .bind(p.name)
    .bind(p.id_number_masked)
    .bind(p.id_number_digest)
    .bind(p.phone)
    .bind(p.department_id)
    .bind(p.class_name)
    .bind(p.password_hash)
    .bind(now_ms)
    .bind(last4(p.id_number_masked))
    .execute(c.raw())
    .await;
    match r {
        Ok(_) => Ok(()),
        Err(e) if is_unique_violation(&e) => {
            Err(StoreError::Duplicate(format!("payer {} {} exists", p.kind.as_str(), p.identifier)))
        }
        Err(e) => Err(e.into()),
    }
}

pub async fn payer_by_login(
    c: &mut impl Conn,
    kind: PayerKind,
    identifier: &str,
) -> Result<Option<PayerRow>, StoreError> {
    Ok(sqlx::query_as(&format!("SELECT {PAYER_COLS} FROM payers WHERE kind = $1 AND identifier = $2"))
        .bind(kind.as_str())
        .bind(identifier)
        .fetch_optional(c.raw())
        .await?)
}

/// A payer of `kind` by the keyed digest of their ID number.
pub async fn payer_by_id_digest(
    c: &mut impl Conn,
    kind: PayerKind,
    digest: &str,
) -> Result<Option<PayerRow>, StoreError> {
    if digest.is_empty() {
        return Ok(None);
    }
    Ok(sqlx::query_as(&format!("SELECT {PAYER_COLS} FROM payers WHERE kind = $1 AND id_number_digest = $2"))
        .bind(kind.as_str())
        .bind(digest)
        .fetch_optional(c.raw())
        .await?)
}

/// A payer by login identifier (student/staff/registration number), whatever their kind.
pub async fn payer_by_identifier(c: &mut impl Conn, identifier: &str) -> Result<Option<PayerRow>, StoreError> {
    let rows: Vec<PayerRow> =
        sqlx::query_as(&format!("SELECT {PAYER_COLS} FROM payers WHERE identifier = $1 ORDER BY kind"))
            .bind(identifier)
            .fetch_all(c.raw())
            .await?;
    Ok(rows.into_iter().next())
}

/// What a fee item's audience (收费对象) looks at in a payer.
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct MemberRow {
    pub id: String,
    #[sqlx(try_from = "String")]
    pub kind: PayerKind,
    pub department_id: Option<String>,
    pub major: String,
    pub grade: String,
    pub class_name: String,
}

impl MemberRow {
    pub fn member(&self) -> bursar_domain::audience::Member<'_> {
        bursar_domain::audience::Member {
            kind: self.kind,
            department_id: self.department_id.as_deref(),
            major: &self.major,
            grade: &self.grade,
            class_name: &self.class_name,
        }
    }
}

const MEMBER_COLS: &str = "id, kind, department_id, major, grade, class_name";

/// The audience facts of one payer.
pub async fn member(c: &mut impl Conn, id: &str) -> Result<MemberRow, StoreError> {
    sqlx::query_as(&format!("SELECT {MEMBER_COLS} FROM payers WHERE id = $1"))
        .bind(id)
        .fetch_optional(c.raw())
        .await?
        .ok_or_else(|| StoreError::NotFound(format!("payer {id}")))
}

/// The audience facts of many payers (ids not found are left out), a few hundred per query.
pub async fn members(c: &mut impl Conn, ids: &[&str]) -> Result<HashMap<String, MemberRow>, StoreError> {
    let mut out = HashMap::with_capacity(ids.len());
    for chunk in ids.chunks(500) {
        let list = (1..=chunk.len()).map(|n| format!("${n}")).collect::<Vec<_>>().join(", ");
        let sql = format!("SELECT {MEMBER_COLS} FROM payers WHERE id IN ({list})");
        let mut q = sqlx::query_as::<_, MemberRow>(&sql);
        for id in chunk {
            q = q.bind(*id);
        }
        for row in q.fetch_all(c.raw()).await? {
            out.insert(row.id.clone(), row);
        }
    }
    Ok(out)
}

/// Every payer's id by number (more than one where kinds share a number), for bulk imports.
pub async fn ids_by_identifier(c: &mut impl Conn) -> Result<HashMap<String, Vec<String>>, StoreError> {
    let rows: Vec<(String, String)> =
        sqlx::query_as("SELECT identifier, id FROM payers ORDER BY kind").fetch_all(c.raw()).await?;
    let mut out: HashMap<String, Vec<String>> = HashMap::with_capacity(rows.len());
    for (identifier, id) in rows {
        out.entry(identifier).or_default().push(id);
    }
    Ok(out)
}

pub async fn payer(c: &mut impl Conn, id: &str) -> Result<PayerRow, StoreError> {
    sqlx::query_as(&format!("SELECT {PAYER_COLS} FROM payers WHERE id = $1"))
        .bind(id)
        .fetch_optional(c.raw())
        .await?
        .ok_or_else(|| StoreError::NotFound(format!("payer {id}")))
}

pub async fn count_payers(c: &mut impl Conn) -> Result<i64, StoreError> {
    Ok(sqlx::query_scalar("SELECT COUNT(*) FROM payers").fetch_one(c.raw()).await?)
}

pub async fn set_payer_password(c: &mut Tx, id: &str, hash: &str, must_change: bool) -> Result<(), StoreError> {
    sqlx::query("UPDATE payers SET password_hash = $1, must_change_password = $2 WHERE id = $3")
        .bind(hash)
        .bind(i64::from(must_change))
        .bind(id)
        .execute(c.raw())
        .await?;
    Ok(())
}

/// Inserts an operator with their roles and departments.
pub async fn insert_operator(
    c: &mut Tx,
    id: &str,
    username: &str,
    name: &str,
    password_hash: &str,
    roles: &[Role],
    departments: &[String],
) -> Result<(), StoreError> {
    let now = c.now_ms;
    let r = sqlx::query(
        "INSERT INTO operators (id, username, name, state, password_hash, created_at_ms, updated_at_ms, password_changed_at_ms) VALUES ($1, $2, $3, 'active', $4, $5, $5, $5)",
    )
    .bind(id)
    .bind(username)
    .bind(name)
    .bind(password_hash)
    .bind(now)
    .execute(c.raw())
    .await;
    match r {
        Ok(_) => {}
        Err(e) if is_unique_violation(&e) => return Err(StoreError::Duplicate(format!("operator {username} exists"))),
        Err(e) => return Err(e.into()),
    }
    set_roles(c, id, roles, departments).await
}

/// Replaces an operator's roles and departments.
pub async fn set_roles(c: &mut Tx, id: &str, roles: &[Role], departments: &[String]) -> Result<(), StoreError> {
    sqlx::query("DELETE FROM operator_roles WHERE operator_id = $1").bind(id).execute(c.raw()).await?;
    sqlx::query("DELETE FROM operator_departments WHERE operator_id = $1").bind(id).execute(c.raw()).await?;
    for role in roles {
        sqlx::query("INSERT INTO operator_roles (operator_id, role) VALUES ($1, $2) ON CONFLICT DO NOTHING")
            .bind(id)
            .bind(role.as_str())
            .execute(c.raw())
            .await?;
    }
    for d in departments {
        sqlx::query(
            "INSERT INTO operator_departments (operator_id, department_id) VALUES ($1, $2) ON CONFLICT DO NOTHING",
        )
        .bind(id)
        .bind(d)
        .execute(c.raw())
        .await?;
    }
    Ok(())
}

pub async fn operator_by_username(c: &mut impl Conn, username: &str) -> Result<Option<OperatorRow>, StoreError> {
    Ok(sqlx::query_as(&format!("SELECT {OPERATOR_COLS} FROM operators WHERE username = $1"))
        .bind(username)
        .fetch_optional(c.raw())
        .await?)
}

pub async fn operator(c: &mut impl Conn, id: &str) -> Result<OperatorRow, StoreError> {
    sqlx::query_as(&format!("SELECT {OPERATOR_COLS} FROM operators WHERE id = $1"))
        .bind(id)
        .fetch_optional(c.raw())
        .await?
        .ok_or_else(|| StoreError::NotFound(format!("operator {id}")))
}

/// An active operator as a principal: their roles and departments. `None` when the operator is
/// unknown or disabled.
pub async fn operator_principal(c: &mut impl Conn, id: &str) -> Result<Option<OperatorPrincipal>, StoreError> {
    let Some(op) = sqlx::query_as::<_, OperatorRow>(&format!("SELECT {OPERATOR_COLS} FROM operators WHERE id = $1"))
        .bind(id)
        .fetch_optional(c.raw())
        .await?
    else {
        return Ok(None);
    };
    if op.state != OperatorState::Active {
        return Ok(None);
    }
    let codes: Vec<String> = sqlx::query_scalar("SELECT role FROM operator_roles WHERE operator_id = $1 ORDER BY role")
        .bind(id)
        .fetch_all(c.raw())
        .await?;
    let roles = codes.into_iter().map(Role::try_from).collect::<Result<Vec<_>, _>>()?;
    let departments: Vec<String> = sqlx::query_scalar(
        "SELECT department_id FROM operator_departments WHERE operator_id = $1 ORDER BY department_id",
    )
    .bind(id)
    .fetch_all(c.raw())
    .await?;
    Ok(Some(OperatorPrincipal { id: op.id, name: op.name, roles, departments }))
}

/// Names of operators by id (for showing who asked and who decided).
pub async fn operator_names(c: &mut impl Conn) -> Result<Vec<(String, String)>, StoreError> {
    Ok(sqlx::query_as("SELECT id, name FROM operators ORDER BY username").fetch_all(c.raw()).await?)
}

/// Changes a payer's phone; a new phone is not verified.
pub async fn set_phone(c: &mut Tx, id: &str, phone: &str) -> Result<(), StoreError> {
    sqlx::query("UPDATE payers SET phone = $1, phone_verified_at_ms = NULL WHERE id = $2")
        .bind(phone)
        .bind(id)
        .execute(c.raw())
        .await?;
    Ok(())
}

/// Marks a payer's phone as proven by a one-time code.
pub async fn set_phone_verified(c: &mut Tx, id: &str, at_ms: i64) -> Result<(), StoreError> {
    sqlx::query("UPDATE payers SET phone_verified_at_ms = $1 WHERE id = $2")
        .bind(at_ms)
        .bind(id)
        .execute(c.raw())
        .await?;
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

pub async fn security(c: &mut impl Conn, payer_id: &str) -> Result<Option<SecurityRow>, StoreError> {
    Ok(sqlx::query_as(
        "SELECT payer_id, question1, answer1_hash, question2, answer2_hash, updated_at_ms FROM payer_security WHERE payer_id = $1",
    )
    .bind(payer_id)
    .fetch_optional(c.raw())
    .await?)
}

pub async fn set_security(c: &mut Tx, s: &SecurityRow) -> Result<(), StoreError> {
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
    .execute(c.raw())
    .await?;
    Ok(())
}

/// What a roster says about a payer (the import's view of the row).
#[derive(Clone, Debug, PartialEq, Eq, sqlx::FromRow)]
pub struct RosterRow {
    pub id: String,
    pub identifier: String,
    pub name: String,
    pub id_type: String,
    pub id_number_masked: String,
    pub id_number_digest: String,
    pub gender: Option<String>,
    pub department_id: Option<String>,
    pub major: String,
    pub grade: String,
    pub class_name: String,
    pub status: String,
    pub phone: String,
    pub enrolled_year: Option<i64>,
}

const ROSTER_COLS: &str = "id, identifier, name, id_type, id_number_masked, id_number_digest, gender, department_id, major, grade, class_name, status, phone, enrolled_year";

/// One payer as the roster describes them.
pub async fn roster_row(c: &mut impl Conn, id: &str) -> Result<Option<RosterRow>, StoreError> {
    Ok(sqlx::query_as(&format!("SELECT {ROSTER_COLS} FROM payers WHERE id = $1"))
        .bind(id)
        .fetch_optional(c.raw())
        .await?)
}

/// Every payer of a kind as a roster sees them (an import compares against these).
pub async fn roster_of_kind(c: &mut impl Conn, kind: PayerKind) -> Result<Vec<RosterRow>, StoreError> {
    Ok(sqlx::query_as(&format!("SELECT {ROSTER_COLS} FROM payers WHERE kind = $1"))
        .bind(kind.as_str())
        .fetch_all(c.raw())
        .await?)
}

/// Adds many payers from a roster, each with its initial password marker, in multi-row inserts
/// (a whole year's students in seconds). A number taken meanwhile fails the whole call with
/// `Conflict`, and the engine runs the import again.
pub async fn insert_roster_payers(
    c: &mut Tx,
    kind: PayerKind,
    rows: &[(RosterRow, String)],
    now_ms: i64,
) -> Result<(), StoreError> {
    let backend = c.backend();
    for chunk in rows.chunks(chunk_rows(19)) {
        let sql = values_sql(
            backend,
            "INSERT INTO payers (id, kind, identifier, name, id_type, id_number_masked, id_number_digest, gender, department_id,
                 major, grade, class_name, status, phone, enrolled_year, password_hash, must_change_password, created_at_ms, id_last4)",
            19,
            chunk.len(),
            "",
        );
        let mut q = sqlx::query(&sql);
        for (r, password_hash) in chunk {
            q = q.bind(&r.id).bind(kind.as_str()).bind(&r.identifier).bind(&r.name).bind(&r.id_type);
            q = q.bind(&r.id_number_masked).bind(&r.id_number_digest).bind(&r.gender).bind(&r.department_id);
            q = q.bind(&r.major).bind(&r.grade).bind(&r.class_name).bind(&r.status).bind(&r.phone);
            q = q.bind(r.enrolled_year).bind(password_hash).bind(1i64).bind(now_ms).bind(last4(&r.id_number_masked));
        }
        q.execute(c.raw()).await.map_err(|e| match is_unique_violation(&e) {
            // Added meanwhile by another import: the command runs again from a fresh read.
            true => StoreError::Conflict(format!("a payer of this {} roster was added meanwhile", kind.as_str())),
            false => e.into(),
        })?;
    }
    Ok(())
}

/// Moves a payer to another kind (a new student enrolled): compare-and-set on the kind.
pub async fn change_kind(c: &mut Tx, id: &str, from: PayerKind, to: PayerKind) -> Result<(), StoreError> {
    let r = sqlx::query("UPDATE payers SET kind = $1 WHERE id = $2 AND kind = $3")
        .bind(to.as_str())
        .bind(id)
        .bind(from.as_str())
        .execute(c.raw())
        .await
        .map_err(|e| {
            if is_unique_violation(&e) {
                StoreError::Duplicate(format!("payer {id} as {}", to.as_str()))
            } else {
                e.into()
            }
        })?;
    if r.rows_affected() != 1 {
        return Err(StoreError::Conflict(format!("payer {id} is no longer {}", from.as_str())));
    }
    Ok(())
}

/// Updates what a roster says about an existing payer (never the password).
pub async fn update_roster_payer(c: &mut Tx, r: &RosterRow) -> Result<(), StoreError> {
    sqlx::query(
        "UPDATE payers SET name = $1, id_type = $2, id_number_masked = $3, id_number_digest = $4, gender = $5,
             department_id = $6, major = $7, grade = $8, class_name = $9, status = $10, phone = $11, enrolled_year = $12,
             id_last4 = $14
         WHERE id = $13",
    )
    .bind(&r.name)
    .bind(&r.id_type)
    .bind(&r.id_number_masked)
    .bind(&r.id_number_digest)
    .bind(&r.gender)
    .bind(&r.department_id)
    .bind(&r.major)
    .bind(&r.grade)
    .bind(&r.class_name)
    .bind(&r.status)
    .bind(&r.phone)
    .bind(r.enrolled_year)
    .bind(&r.id)
    .bind(last4(&r.id_number_masked))
    .execute(c.raw())
    .await?;
    Ok(())
}

/// A payer in a finance list.
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct PayerListRow {
    pub id: String,
    #[sqlx(try_from = "String")]
    pub kind: PayerKind,
    pub identifier: String,
    pub name: String,
    pub id_number_masked: String,
    pub department: Option<String>,
    pub class_name: String,
    pub status: String,
    pub phone: String,
}

/// A search of payers: by number (prefix), name (part), the last four characters of the ID
/// number, or class; within departments when given; after a (identifier, id) cursor.
pub struct PayerSearch<'a> {
    pub text: &'a str,
    pub kind: Option<PayerKind>,
    pub departments: Option<&'a [String]>,
    pub after: Option<(&'a str, &'a str)>,
    pub limit: i64,
}

///
/// What was typed is matched by the indexes (a number or name prefix, a class, the ID number's
/// last four). Only when that finds no one at all is a name searched for the text anywhere in it
/// (a given name without the surname), which reads every name.
pub async fn search(c: &mut impl Conn, s: &PayerSearch<'_>) -> Result<Vec<PayerListRow>, StoreError> {
    // LIKE's own characters are taken out of what was typed: a search is never a pattern.
    let text: String = s.text.trim().chars().filter(|ch| !matches!(ch, '%' | '_' | '\\')).take(40).collect();
    let rows = search_with(c, s, &text, TextMatch::Indexed, s.after).await?;
    let digits = text.chars().all(|ch| ch.is_ascii_digit());
    if !rows.is_empty() || text.chars().count() < 2 || digits {
        return Ok(rows);
    }
    if s.after.is_some()
        && !search_with(c, &PayerSearch { limit: 1, ..*s }, &text, TextMatch::Indexed, None).await?.is_empty()
    {
        return Ok(rows);
    }
    search_with(c, s, &text, TextMatch::NameContains, s.after).await
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum TextMatch {
    Indexed,
    NameContains,
}

async fn search_with(
    c: &mut impl Conn,
    s: &PayerSearch<'_>,
    text: &str,
    how: TextMatch,
    after: Option<(&str, &str)>,
) -> Result<Vec<PayerListRow>, StoreError> {
    let text = text.to_string();
    let mut sql = String::from(
        "SELECT p.id, p.kind, p.identifier, p.name, p.id_number_masked, d.name AS department, p.class_name, p.status, p.phone
         FROM payers p LEFT JOIN departments d ON d.id = p.department_id WHERE 1 = 1",
    );
    let mut binds: Vec<String> = Vec::new();
    let next = |v: String, binds: &mut Vec<String>| {
        binds.push(v);
        format!("${}", binds.len())
    };
    if !text.is_empty() && how == TextMatch::NameContains {
        let t = next(text.clone(), &mut binds);
        // Read the names in table order (a subquery), not through the number index with a
        // lookup per row: several times faster over tens of thousands.
        sql.push_str(&format!(" AND p.id IN (SELECT id FROM payers WHERE name LIKE '%' || {t} || '%')"));
    } else if !text.is_empty() {
        // Every term is served by an index (a byte range for the prefixes), so a search reads
        // only what it finds: a number or name prefix, a class, the ID number's last four.
        let pg = c.raw().backend_name() == "PostgreSQL";
        let col = |name: &str| if pg { format!("p.{name} COLLATE \"C\"") } else { format!("p.{name}") };
        let lo = next(text.clone(), &mut binds);
        let hi = next(format!("{text}\u{10FFFF}"), &mut binds);
        let (ident, name) = (col("identifier"), col("name"));
        let tail = if text.chars().count() == 4 { format!(" OR p.id_last4 = {lo}") } else { String::new() };
        sql.push_str(&format!(
            " AND (({ident} >= {lo} AND {ident} < {hi}) OR ({name} >= {lo} AND {name} < {hi}) OR p.class_name = {lo}{tail})"
        ));
    }
    if let Some(k) = s.kind {
        let k = next(k.as_str().to_string(), &mut binds);
        sql.push_str(&format!(" AND p.kind = {k}"));
    }
    if let Some(depts) = s.departments {
        if depts.is_empty() {
            return Ok(Vec::new());
        }
        let list: Vec<String> = depts.iter().map(|d| next(d.clone(), &mut binds)).collect();
        let list = list.join(", ");
        // The departments' own payers, and whoever owes one of their fee items.
        sql.push_str(&format!(
            " AND (p.department_id IN ({list}) OR EXISTS (SELECT 1 FROM receivables r JOIN fee_items f ON f.id = r.fee_item_id
                                                          WHERE r.payer_id = p.id AND f.department_id IN ({list})))"
        ));
    }
    if let Some((ident, id)) = after {
        let a = next(ident.to_string(), &mut binds);
        let b = next(id.to_string(), &mut binds);
        sql.push_str(&format!(" AND (p.identifier > {a} OR (p.identifier = {a} AND p.id > {b}))"));
    }
    sql.push_str(&format!(" ORDER BY p.identifier, p.id LIMIT {}", s.limit.clamp(1, 200)));
    let mut q = sqlx::query_as::<_, PayerListRow>(&sql);
    for b in binds {
        q = q.bind(b);
    }
    Ok(q.fetch_all(c.raw()).await?)
}

/// Freezes (with a reason) or unfreezes a payer's account: compare-and-set on its current state;
/// false when it was already so.
pub async fn set_frozen(c: &mut Tx, id: &str, frozen: Option<(i64, &str)>) -> Result<bool, StoreError> {
    let r =
        match frozen {
            Some((at, reason)) => {
                sqlx::query(
                    "UPDATE payers SET frozen_at_ms = $1, frozen_reason = $2 WHERE id = $3 AND frozen_at_ms IS NULL",
                )
                .bind(at)
                .bind(reason)
                .bind(id)
                .execute(c.raw())
                .await?
            }
            None => sqlx::query(
                "UPDATE payers SET frozen_at_ms = NULL, frozen_reason = '' WHERE id = $1 AND frozen_at_ms IS NOT NULL",
            )
            .bind(id)
            .execute(c.raw())
            .await?,
        };
    Ok(r.rows_affected() == 1)
}

/// Sets (or clears) the moment a payer's account stops working.
pub async fn set_valid_until(c: &mut Tx, id: &str, until_ms: Option<i64>) -> Result<(), StoreError> {
    sqlx::query("UPDATE payers SET valid_until_ms = $1 WHERE id = $2").bind(until_ms).bind(id).execute(c.raw()).await?;
    Ok(())
}
