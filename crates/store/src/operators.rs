//! Operators as the system administrator manages them (migration 0026): the list with roles and
//! departments, enabling and disabling, temporary passwords.

use std::collections::HashMap;

use bursar_domain::access::Role;

use crate::db::{Conn, Tx};
use crate::error::StoreError;
use crate::payers::OperatorState;

#[derive(Clone, Debug)]
pub struct OperatorListing {
    pub id: String,
    pub username: String,
    pub name: String,
    pub state: OperatorState,
    pub disabled_reason: String,
    pub must_change_password: bool,
    pub created_at_ms: i64,
    pub roles: Vec<Role>,
    /// Department ids.
    pub departments: Vec<String>,
}

type Row = (String, String, String, String, String, i64, i64);

/// Every operator, by user name.
pub async fn list(c: &mut impl Conn) -> Result<Vec<OperatorListing>, StoreError> {
    let rows: Vec<Row> = sqlx::query_as(
        "SELECT id, username, name, state, disabled_reason, must_change_password, created_at_ms FROM operators ORDER BY username",
    )
    .fetch_all(c.raw())
    .await?;
    let roles: Vec<(String, String)> =
        sqlx::query_as("SELECT operator_id, role FROM operator_roles ORDER BY role").fetch_all(c.raw()).await?;
    let depts: Vec<(String, String)> =
        sqlx::query_as("SELECT operator_id, department_id FROM operator_departments ORDER BY department_id")
            .fetch_all(c.raw())
            .await?;
    let mut by_role: HashMap<String, Vec<Role>> = HashMap::new();
    for (id, r) in roles {
        if let Some(r) = Role::parse(&r) {
            by_role.entry(id).or_default().push(r);
        }
    }
    let mut by_dept: HashMap<String, Vec<String>> = HashMap::new();
    for (id, d) in depts {
        by_dept.entry(id).or_default().push(d);
    }
    rows.into_iter()
        .map(|(id, username, name, state, disabled_reason, must, created_at_ms)| {
            let state =
                OperatorState::parse(&state).ok_or_else(|| StoreError::Corrupt(format!("operator state {state}")))?;
            let mut roles = by_role.remove(&id).unwrap_or_default();
            roles.sort();
            Ok(OperatorListing {
                departments: by_dept.remove(&id).unwrap_or_default(),
                roles,
                id,
                username,
                name,
                state,
                disabled_reason,
                must_change_password: must != 0,
                created_at_ms,
            })
        })
        .collect()
}

/// Enables or disables an operator (compare-and-set from the other state): false when it was
/// already so.
pub async fn set_state(c: &mut Tx, id: &str, to: OperatorState, reason: &str) -> Result<bool, StoreError> {
    let from = match to {
        OperatorState::Active => OperatorState::Disabled,
        OperatorState::Disabled => OperatorState::Active,
    };
    let now = c.now_ms;
    let r = sqlx::query(
        "UPDATE operators SET state = $1, disabled_reason = $2, updated_at_ms = $3 WHERE id = $4 AND state = $5",
    )
    .bind(to.as_str())
    .bind(reason)
    .bind(now)
    .bind(id)
    .bind(from.as_str())
    .execute(c.raw())
    .await?;
    Ok(r.rows_affected() == 1)
}

/// Sets an operator's password hash, and whether it must be changed at the next login.
pub async fn set_password(c: &mut Tx, id: &str, hash: &str, must_change: bool) -> Result<(), StoreError> {
    let now = c.now_ms;
    sqlx::query(
        "UPDATE operators SET password_hash = $1, must_change_password = $2, updated_at_ms = $3, password_changed_at_ms = $3 WHERE id = $4",
    )
        .bind(hash)
        .bind(i64::from(must_change))
        .bind(now)
        .bind(id)
        .execute(c.raw())
        .await?;
    Ok(())
}

/// Whether the operator must change a temporary password first.
pub async fn must_change_password(c: &mut impl Conn, id: &str) -> Result<bool, StoreError> {
    Ok(password_state(c, id).await?.0)
}

/// Whether the operator's password is a temporary one, and when it was last set.
pub async fn password_state(c: &mut impl Conn, id: &str) -> Result<(bool, i64), StoreError> {
    let v: Option<(i64, i64)> =
        sqlx::query_as("SELECT must_change_password, password_changed_at_ms FROM operators WHERE id = $1")
            .bind(id)
            .fetch_optional(c.raw())
            .await?;
    Ok(v.map(|(m, at)| (m == 1, at)).unwrap_or((false, 0)))
}

/// Active operators holding `role`.
pub async fn active_with_role(c: &mut impl Conn, role: Role) -> Result<Vec<String>, StoreError> {
    Ok(sqlx::query_scalar(
        "SELECT o.id FROM operators o JOIN operator_roles r ON r.operator_id = o.id WHERE r.role = $1 AND o.state = 'active' ORDER BY o.id",
    )
    .bind(role.as_str())
    .fetch_all(c.raw())
    .await?)
}
