//! The system administrator's operator management (操作员管理): the list, enabling and disabling
//! (with a reason), temporary passwords (shown once, changed at the next login), and each
//! operator's own password change. Nobody locks the school out: an administrator cannot disable
//! or strip themselves, nor the last active system administrator.

use bursar_domain::access::{Permission, Principal, Role};
use bursar_store::operators::{self as store, OperatorListing};
use bursar_store::payers::{self, OperatorState};
use bursar_store::sessions::{self as session_store, SubjectKind};
use bursar_store::Tx;

use crate::access::passwords;
use crate::access::payer_admin::temporary_password;
use crate::engine::{log, require, Engine};
use crate::error::{not_found, refused, EngineError};

fn check_reason(reason: &str) -> Result<String, EngineError> {
    let r = reason.trim();
    if r.chars().count() > 200 || r.chars().any(char::is_control) {
        return Err(refused("原因最多 200 字"));
    }
    Ok(r.to_string())
}

/// Refuses a change that would leave no active system administrator.
async fn keep_an_admin(tx: &mut Tx, id: &str) -> Result<(), EngineError> {
    let admins = store::active_with_role(tx, Role::SystemAdmin).await?;
    if admins.iter().all(|a| a == id) {
        return Err(refused("这是最后一位在用的系统管理员，不能停用或取消其系统管理员角色"));
    }
    Ok(())
}

impl Engine {
    /// Every operator with roles and departments.
    pub async fn operator_list(&self, by: &Principal) -> Result<Vec<OperatorListing>, EngineError> {
        require(by, Permission::ManageOperators)?;
        let mut c = self.store().read().await?;
        Ok(store::list(&mut c).await?)
    }

    /// Departments (id, name) to give operators.
    pub async fn department_choices(&self, by: &Principal) -> Result<Vec<(String, String)>, EngineError> {
        require(by, Permission::ManageOperators)?;
        let mut c = self.store().read().await?;
        Ok(payers::departments(&mut c).await?)
    }

    /// Creates an operator with a temporary password, returned once: (id, password). They must
    /// change it at their first login.
    pub async fn create_operator_with_temporary_password(
        &self,
        by: &Principal,
        op: &crate::access::operators::NewOperator,
    ) -> Result<(String, String), EngineError> {
        let temp = temporary_password();
        let op = crate::access::operators::NewOperator { password: temp.clone(), ..op.clone() };
        let id = self.add_operator(by, &op).await?;
        let id2 = id.clone();
        self.store()
            .write(|tx: &mut Tx| {
                let id = id2.clone();
                Box::pin(async move {
                    let hash = payers::operator(tx, &id).await?.password_hash;
                    store::set_password(tx, &id, &hash, true).await?;
                    Ok::<_, EngineError>(())
                })
            })
            .await?;
        Ok((id, temp))
    }

    /// Enables or disables an operator; a disabled one's sessions end at once.
    pub async fn set_operator_active(
        &self,
        by: &Principal,
        id: &str,
        active: bool,
        reason: &str,
    ) -> Result<(), EngineError> {
        require(by, Permission::ManageOperators)?;
        let reason = check_reason(reason)?;
        if !active && reason.is_empty() {
            return Err(refused("停用账号须写明原因"));
        }
        if !active && by.operator().is_some_and(|o| o.id == id) {
            return Err(refused("不能停用自己的账号"));
        }
        let (by, id) = (by.clone(), id.to_string());
        self.store()
            .write(|tx: &mut Tx| {
                let (by, id, reason) = (by.clone(), id.clone(), reason.clone());
                Box::pin(async move {
                    payers::operator(tx, &id).await.map_err(not_found("操作员"))?;
                    let to = if active { OperatorState::Active } else { OperatorState::Disabled };
                    if !active {
                        keep_an_admin(tx, &id).await?;
                    }
                    if !store::set_state(tx, &id, to, if active { "" } else { &reason }).await? {
                        return Err(refused(format!("该账号已是「{}」", to.label_zh())));
                    }
                    if !active {
                        session_store::delete_others(tx, SubjectKind::Operator, &id, None).await?;
                    }
                    let (before, after) = if active { ("disabled", "active") } else { ("active", "disabled") };
                    log(tx, &by, "operator.state", ("operator", &id), (before, after), &reason).await
                })
            })
            .await
    }

    /// Gives an operator a temporary password (returned once, never stored in the clear); they
    /// must change it at their next login, and their sessions end now.
    pub async fn reset_operator_password(&self, by: &Principal, id: &str) -> Result<String, EngineError> {
        require(by, Permission::ManageOperators)?;
        if by.operator().is_some_and(|o| o.id == id) {
            return Err(refused("修改自己的密码请到「我的账号」"));
        }
        let temp = temporary_password();
        let hash = passwords::hash(&temp).await?;
        let (by, id) = (by.clone(), id.to_string());
        self.store()
            .write(|tx: &mut Tx| {
                let (by, id, hash) = (by.clone(), id.clone(), hash.clone());
                Box::pin(async move {
                    payers::operator(tx, &id).await.map_err(not_found("操作员"))?;
                    store::set_password(tx, &id, &hash, true).await?;
                    session_store::delete_others(tx, SubjectKind::Operator, &id, None).await?;
                    log(tx, &by, "operator.password_reset", ("operator", &id), ("", ""), "temporary").await
                })
            })
            .await?;
        Ok(temp)
    }

    /// An operator changes their own password (after checking the current one); a temporary
    /// password stops being one.
    pub async fn change_own_operator_password(
        &self,
        by: &Principal,
        current: &str,
        new: &str,
    ) -> Result<(), EngineError> {
        let Some(me) = by.operator() else { return Err(refused("只有操作员可以在这里修改密码")) };
        self.current_policy().await?.check_operator_password(new)?;
        if current == new {
            return Err(refused("新密码不能与当前密码相同"));
        }
        let row = {
            let mut c = self.store().read().await?;
            payers::operator(&mut c, &me.id).await?
        };
        if !passwords::verify(current, &row.password_hash).await? {
            return Err(refused("当前密码不正确"));
        }
        let hash = passwords::hash(new).await?;
        let (by, id) = (by.clone(), me.id.clone());
        self.store()
            .write(|tx: &mut Tx| {
                let (by, id, hash) = (by.clone(), id.clone(), hash.clone());
                Box::pin(async move {
                    store::set_password(tx, &id, &hash, false).await?;
                    log(tx, &by, "operator.password", ("operator", &id), ("", ""), "changed by themselves").await
                })
            })
            .await
    }

    /// Whether an operator must change a temporary password before anything else.
    pub async fn operator_must_change_password(&self, id: &str) -> Result<bool, EngineError> {
        let mut c = self.store().read().await?;
        Ok(store::must_change_password(&mut c, id).await?)
    }

    /// Checks a change of roles before it is made: nobody changes their own, and some active
    /// system administrator remains.
    pub(crate) async fn check_roles_change(
        tx: &mut Tx,
        by: &Principal,
        id: &str,
        roles: &[Role],
    ) -> Result<(), EngineError> {
        // Nobody changes their own roles (an administrator would otherwise give themselves the
        // right to approve money): another administrator does it.
        if by.operator().is_some_and(|o| o.id == id) {
            return Err(refused("不能修改自己的角色，请由另一位系统管理员办理"));
        }
        if !roles.contains(&Role::SystemAdmin) {
            keep_an_admin(tx, id).await?;
        }
        Ok(())
    }
}
