//! Operators (操作员) and the settings that decide access: who holds which roles over which
//! departments, and which approvals need a second person.

use bursar_domain::access::{ApprovalKind, Permission, Principal, Role};
use bursar_store::payers;
use bursar_store::sessions::{self as session_store, SubjectKind};
use bursar_store::{settings, Tx};

use crate::access::passwords;
use crate::engine::{log, require, Engine};
use crate::error::{refused, EngineError};

/// An operator to create.
#[derive(Clone, Debug)]
pub struct NewOperator {
    pub username: String,
    pub name: String,
    pub password: String,
    pub roles: Vec<Role>,
    /// Departments (ids) the department roles hold over.
    pub departments: Vec<String>,
}

/// A safeguard a school may relax with a reason: its setting, the log's action, and what a
/// relaxation without a reason is told.
pub(crate) struct Safeguard<'a> {
    pub setting: &'a str,
    pub action: &'static str,
    pub why: &'static str,
}

/// What every new operator needs: a plain user name, a name, roles, departments for department roles.
fn check_new_operator(op: &NewOperator) -> Result<(), EngineError> {
    let username = op.username.trim();
    if username.is_empty()
        || username.len() > 32
        || !username.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'.')
    {
        return Err(refused("用户名须为 1–32 位字母、数字、下划线或点"));
    }
    if op.name.trim().is_empty() || op.name.chars().count() > 40 {
        return Err(refused("请填写姓名"));
    }
    if op.roles.is_empty() {
        return Err(refused("请至少选择一个角色"));
    }
    if op.roles.iter().any(|r| r.is_department_scoped()) && op.departments.is_empty() {
        return Err(refused("收费部门角色须指定所属部门"));
    }
    Ok(())
}

impl Engine {
    /// Creates an operator with roles (system administrators; the demo seed). Returns the id.
    pub async fn create_operator(&self, by: &Principal, op: &NewOperator) -> Result<String, EngineError> {
        require(by, Permission::ManageOperators)?;
        check_new_operator(op)?;
        self.current_policy().await?.check_operator_password(&op.password)?;
        self.add_operator(by, op).await
    }

    /// Adds an operator whose password was checked, or is a temporary one (to be changed at
    /// the first login, whatever the school's rule).
    pub(crate) async fn add_operator(&self, by: &Principal, op: &NewOperator) -> Result<String, EngineError> {
        require(by, Permission::ManageOperators)?;
        check_new_operator(op)?;
        let username = op.username.trim().to_string();
        let hash = passwords::hash(&op.password).await?;
        let (by, op) = (by.clone(), op.clone());
        self.store()
            .write(|tx: &mut Tx| {
                let (by, op, hash, username) = (by.clone(), op.clone(), hash.clone(), username.clone());
                Box::pin(async move {
                    let id = tx.new_id();
                    payers::insert_operator(tx, &id, &username, op.name.trim(), &hash, &op.roles, &op.departments)
                        .await
                        .map_err(|e| match e {
                            bursar_store::StoreError::Duplicate(_) => refused(format!("用户名 {username} 已存在")),
                            other => other.into(),
                        })?;
                    let roles: Vec<&str> = op.roles.iter().map(|r| r.as_str()).collect();
                    let detail = format!(
                        "username={username} roles={} departments={}",
                        roles.join(","),
                        op.departments.join(",")
                    );
                    log(tx, &by, "operator.create", ("operator", &id), ("", "active"), &detail).await?;
                    Ok(id)
                })
            })
            .await
    }

    /// Changes an operator's roles and departments; their sessions end (they log in again with
    /// the new rights).
    pub async fn set_operator_roles(
        &self,
        by: &Principal,
        operator_id: &str,
        roles: &[Role],
        departments: &[String],
    ) -> Result<(), EngineError> {
        require(by, Permission::ManageOperators)?;
        let (by, id, roles, departments) = (by.clone(), operator_id.to_string(), roles.to_vec(), departments.to_vec());
        self.store()
            .write(|tx: &mut Tx| {
                let (by, id, roles, departments) = (by.clone(), id.clone(), roles.clone(), departments.clone());
                Box::pin(async move {
                    payers::operator(tx, &id).await.map_err(crate::error::not_found("操作员"))?;
                    if roles.is_empty() {
                        return Err(refused("请至少选择一个角色"));
                    }
                    if roles.iter().any(|r| r.is_department_scoped()) && departments.is_empty() {
                        return Err(refused("收费部门角色须指定所属部门"));
                    }
                    Engine::check_roles_change(tx, &by, &id, &roles).await?;
                    payers::set_roles(tx, &id, &roles, &departments).await?;
                    session_store::delete_others(tx, SubjectKind::Operator, &id, None).await?;
                    let codes: Vec<&str> = roles.iter().map(|r| r.as_str()).collect();
                    let detail = format!("roles={} departments={}", codes.join(","), departments.join(","));
                    log(tx, &by, "operator.roles", ("operator", &id), ("", ""), &detail).await
                })
            })
            .await
    }

    /// Whether an approval of this kind needs a second person (on unless relaxed).
    pub async fn four_eyes(&self, kind: ApprovalKind) -> Result<bool, EngineError> {
        let mut c = self.store().read().await?;
        crate::engine::four_eyes_enforced(&mut c, kind).await
    }

    /// Relaxes or restores four-eyes control for one kind of approval (系统参数设置). Relaxing
    /// it needs a reason, which the operation log keeps with the change.
    pub async fn set_four_eyes(
        &self,
        by: &Principal,
        kind: ApprovalKind,
        enforced: bool,
        reason: &str,
    ) -> Result<(), EngineError> {
        let name = kind.setting_name();
        let safeguard =
            Safeguard {
                setting: &name, action: "settings.four_eyes", why: "取消双人复核须填写原因（例如学校文件号）"
            };
        self.set_safeguard(by, &safeguard, enforced, reason).await
    }

    /// Turns a safeguard on or off (`"1"`/`"0"` under its setting, on until relaxed). Relaxing
    /// it needs a reason, which the operation log keeps with the change; setting it as it is
    /// changes nothing and needs no reason.
    pub(crate) async fn set_safeguard(
        &self,
        by: &Principal,
        g: &Safeguard<'_>,
        on: bool,
        reason: &str,
    ) -> Result<(), EngineError> {
        require(by, Permission::ManageSettings)?;
        let is_on = {
            let mut c = self.store().read().await?;
            settings::get(&mut c, g.setting).await?.is_none_or(|v| v != "0")
        };
        if is_on == on {
            return Ok(());
        }
        let reason = reason.trim().to_string();
        if !on && reason.is_empty() {
            return Err(refused(g.why));
        }
        if reason.chars().count() > 200 {
            return Err(refused("原因不超过 200 字"));
        }
        let (by, name, action) = (by.clone(), g.setting.to_string(), g.action);
        self.store()
            .write(|tx: &mut Tx| {
                let (by, reason, name) = (by.clone(), reason.clone(), name.clone());
                Box::pin(async move {
                    let before = settings::get(tx, &name).await?.unwrap_or_else(|| "1".into());
                    let after = if on { "1" } else { "0" };
                    if before == after {
                        return Ok(());
                    }
                    settings::set(tx, &name, after).await?;
                    log(tx, &by, action, ("setting", &name), (&before, after), &reason).await
                })
            })
            .await
    }

    /// The last change of a kind's four-eyes setting: (who, when, reason), when it was changed.
    pub async fn four_eyes_changed(&self, kind: ApprovalKind) -> Result<Option<(String, i64, String)>, EngineError> {
        let mut c = self.store().read().await?;
        let rows = bursar_store::oplog::for_entity(&mut c, "setting", &kind.setting_name()).await?;
        let Some(last) = rows.last() else { return Ok(None) };
        let who = bursar_store::payers::operator_names(&mut c)
            .await?
            .into_iter()
            .find(|(id, _)| *id == last.actor_id)
            .map(|(_, n)| n)
            .unwrap_or_else(|| last.actor_id.clone());
        Ok(Some((who, last.at_ms, last.detail.clone())))
    }
}
