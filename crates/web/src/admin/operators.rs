//! 操作员管理 (system administrators): the operators with their roles and departments, a new
//! operator (with a temporary password shown once), roles changed, an account disabled with a
//! reason or enabled again, a temporary password; and 我的账号, where every operator changes
//! their own password (first of all when it is a temporary one).

use std::collections::HashMap;

use askama::Template;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Redirect, Response};
use axum::Form;
use bursar_domain::access::{Permission, Role};
use bursar_engine::access::operators::NewOperator;
use bursar_engine::rows::LogQuery;
use bursar_engine::EngineError;

use crate::guard::{get, post, Guard, OperatorCtx, Routes};
use crate::i18n::Translate as _;
use crate::views::{datetime, render, Chrome};
use crate::{AppState, WebError};

pub fn routes() -> Routes {
    let g = Guard::Permission(Permission::ManageOperators);
    Routes::new()
        .route("/admin/operators", g, get(list).post(create))
        .route("/admin/operators/{id}", g, get(detail))
        .route("/admin/operators/{id}/roles", g, post(set_roles))
        .route("/admin/operators/{id}/state", g, post(set_state))
        .route("/admin/operators/{id}/password", g, post(reset_password))
        .route("/admin/operators/{id}/second-factor", g, post(reset_second_factor))
        .route("/admin/account", Guard::Operator, get(account).post(change_password))
}

pub struct OperatorView {
    pub id: String,
    pub username: String,
    pub name: String,
    pub roles: String,
    pub departments: String,
    pub active: bool,
    pub state: &'static str,
    pub note: String,
    pub second_factor_on: bool,
    /// 已开启 / 未开启, and whether the roles require it.
    pub second_factor: &'static str,
}

/// The roles to choose from: (code, label, held).
type RoleChoice = (&'static str, &'static str, bool);

fn role_choices(held: &[Role]) -> Vec<RoleChoice> {
    Role::ALL.iter().map(|r| (r.as_str(), r.label_zh(), held.contains(r))).collect()
}

#[derive(Template)]
#[template(path = "admin/operators.html")]
struct ListPage {
    chrome: Chrome,
    operators: Vec<OperatorView>,
    roles: Vec<RoleChoice>,
    departments: Vec<(String, String, bool)>,
    /// A temporary password to hand over, shown once: (user name, password).
    issued: Option<(String, String)>,
    error: String,
}

async fn departments(s: &AppState, c: &OperatorCtx) -> Result<HashMap<String, String>, WebError> {
    Ok(s.engine.department_choices(c.0.principal()).await?.into_iter().collect())
}

fn view(o: &bursar_engine::rows::OperatorListing, names: &HashMap<String, String>, sf: &[String]) -> OperatorView {
    let active = o.state == bursar_engine::rows::OperatorState::Active;
    let on = sf.contains(&o.id);
    let money = o.roles.iter().any(|r| r.approves_money());
    OperatorView {
        second_factor_on: on,
        second_factor: match (on, money) {
            (true, _) => "已开启",
            (false, true) => "未开启（角色涉及资金，登录后须设置）",
            (false, false) => "未开启",
        },
        id: o.id.clone(),
        username: o.username.clone(),
        name: o.name.clone(),
        roles: o.roles.iter().map(|r| r.label_zh()).collect::<Vec<_>>().join("、"),
        departments: o.departments.iter().filter_map(|d| names.get(d).cloned()).collect::<Vec<_>>().join("、"),
        active,
        state: o.state.label_zh(),
        note: if !active {
            o.disabled_reason.clone()
        } else if o.must_change_password {
            "临时密码，待本人修改".into()
        } else {
            String::new()
        },
    }
}

async fn list_with(
    s: &AppState,
    c: &OperatorCtx,
    issued: Option<(String, String)>,
    error: String,
) -> Result<Response, WebError> {
    let ops = s.engine.operator_list(c.0.principal()).await?;
    let names = departments(s, c).await?;
    let sf = s.engine.second_factor_enabled_ids().await?;
    let mut depts: Vec<(String, String, bool)> = names.iter().map(|(id, n)| (id.clone(), n.clone(), false)).collect();
    depts.sort_by(|a, b| a.1.cmp(&b.1));
    render(&ListPage {
        chrome: super::chrome(s, &c.0, "operators"),
        operators: ops.iter().map(|o| view(o, &names, &sf)).collect(),
        roles: role_choices(&[]),
        departments: depts,
        issued,
        error,
    })
}

async fn list(State(s): State<AppState>, c: OperatorCtx) -> Result<Response, WebError> {
    list_with(&s, &c, None, String::new()).await
}

fn roles_of(form: &[(String, String)]) -> Vec<Role> {
    form.iter().filter(|(k, _)| k == "role").filter_map(|(_, v)| Role::parse(v)).collect()
}

fn departments_of(form: &[(String, String)]) -> Vec<String> {
    form.iter().filter(|(k, v)| k == "department" && !v.is_empty()).map(|(_, v)| v.clone()).collect()
}

fn field(form: &[(String, String)], k: &str) -> String {
    form.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone()).unwrap_or_default()
}

async fn create(
    State(s): State<AppState>,
    c: OperatorCtx,
    Form(form): Form<Vec<(String, String)>>,
) -> Result<Response, WebError> {
    let op = NewOperator {
        username: field(&form, "username"),
        name: field(&form, "name"),
        password: String::new(),
        roles: roles_of(&form),
        departments: departments_of(&form),
    };
    match s.engine.create_operator_with_temporary_password(c.0.principal(), &op).await {
        Ok((_, temp)) => list_with(&s, &c, Some((op.username.trim().to_string(), temp)), String::new()).await,
        Err(EngineError::Rule(e)) => {
            let mut r = list_with(&s, &c, None, e.to_string()).await?;
            *r.status_mut() = axum::http::StatusCode::UNPROCESSABLE_ENTITY;
            Ok(r)
        }
        Err(e) => Err(e.into()),
    }
}

pub struct ActionLine {
    pub at: String,
    pub action: String,
    pub entity: String,
}

#[derive(Template)]
#[template(path = "admin/operator.html")]
struct DetailPage {
    chrome: Chrome,
    o: OperatorView,
    roles: Vec<RoleChoice>,
    departments: Vec<(String, String, bool)>,
    actions: Vec<ActionLine>,
    temp: String,
    error: String,
    done: bool,
}

async fn detail_with(
    s: &AppState,
    c: &OperatorCtx,
    id: &str,
    temp: String,
    error: String,
    done: bool,
) -> Result<Response, WebError> {
    let ops = s.engine.operator_list(c.0.principal()).await?;
    let o = ops.iter().find(|o| o.id == id).ok_or(WebError::NotFound)?;
    let names = departments(s, c).await?;
    let sf = s.engine.second_factor_enabled_ids().await?;
    let mut depts: Vec<(String, String, bool)> =
        names.iter().map(|(d, n)| (d.clone(), n.clone(), o.departments.contains(d))).collect();
    depts.sort_by(|a, b| a.1.cmp(&b.1));
    let q = LogQuery { actor_id: Some(id.to_string()), ..LogQuery::default() };
    let actions = match s.engine.operator_view(c.0.principal()).operation_log(&q, 15).await {
        Ok((rows, _)) => rows
            .iter()
            .map(|r| ActionLine {
                at: datetime(r.at_ms),
                action: super::oplog::action_label(&r.action),
                entity: super::oplog::entity_label(&r.entity).to_string(),
            })
            .collect(),
        Err(EngineError::Access(_)) => Vec::new(),
        Err(e) => return Err(e.into()),
    };
    render(&DetailPage {
        chrome: super::chrome(s, &c.0, "operators"),
        roles: role_choices(&o.roles),
        o: view(o, &names, &sf),
        departments: depts,
        actions,
        temp,
        error,
        done,
    })
}

async fn detail(State(s): State<AppState>, c: OperatorCtx, Path(id): Path<String>) -> Result<Response, WebError> {
    detail_with(&s, &c, &id, String::new(), String::new(), false).await
}

/// The detail page again with the outcome of a command.
async fn after(s: &AppState, c: &OperatorCtx, id: &str, r: Result<(), EngineError>) -> Result<Response, WebError> {
    match r {
        Ok(()) => detail_with(s, c, id, String::new(), String::new(), true).await,
        Err(EngineError::Rule(e)) => {
            let mut r = detail_with(s, c, id, String::new(), e.to_string(), false).await?;
            *r.status_mut() = axum::http::StatusCode::UNPROCESSABLE_ENTITY;
            Ok(r)
        }
        Err(e) => Err(e.into()),
    }
}

async fn set_roles(
    State(s): State<AppState>,
    c: OperatorCtx,
    Path(id): Path<String>,
    Form(form): Form<Vec<(String, String)>>,
) -> Result<Response, WebError> {
    let r = s.engine.set_operator_roles(c.0.principal(), &id, &roles_of(&form), &departments_of(&form)).await;
    after(&s, &c, &id, r).await
}

async fn reset_second_factor(
    State(s): State<AppState>,
    c: OperatorCtx,
    Path(id): Path<String>,
    Form(form): Form<Vec<(String, String)>>,
) -> Result<Response, WebError> {
    let r = s.engine.reset_operator_second_factor(c.0.principal(), &id, &field(&form, "reason")).await;
    after(&s, &c, &id, r).await
}

async fn set_state(
    State(s): State<AppState>,
    c: OperatorCtx,
    Path(id): Path<String>,
    Form(form): Form<Vec<(String, String)>>,
) -> Result<Response, WebError> {
    let active = field(&form, "active") == "1";
    let r = s.engine.set_operator_active(c.0.principal(), &id, active, &field(&form, "reason")).await;
    after(&s, &c, &id, r).await
}

async fn reset_password(
    State(s): State<AppState>,
    c: OperatorCtx,
    Path(id): Path<String>,
) -> Result<Response, WebError> {
    match s.engine.reset_operator_password(c.0.principal(), &id).await {
        Ok(temp) => detail_with(&s, &c, &id, temp, String::new(), true).await,
        Err(e) => after(&s, &c, &id, Err(e)).await,
    }
}

#[derive(Template)]
#[template(path = "admin/account.html")]
struct AccountPage {
    chrome: Chrome,
    must_change: bool,
    /// The password is older than the school allows.
    expired: bool,
    /// The shortest password the school allows.
    min: i64,
    error: String,
}

async fn account_page(s: &AppState, c: &OperatorCtx, error: String) -> Result<Response, WebError> {
    let failed = !error.is_empty();
    let mut r = render(&AccountPage {
        chrome: super::chrome(s, &c.0, "account"),
        must_change: c.0.session.must_change_password,
        expired: c.0.session.password_expired,
        min: s.engine.current_policy().await?.operator_password_min,
        error,
    })?;
    if failed {
        *r.status_mut() = axum::http::StatusCode::UNPROCESSABLE_ENTITY;
    }
    Ok(r)
}

async fn account(State(s): State<AppState>, c: OperatorCtx) -> Result<Response, WebError> {
    account_page(&s, &c, String::new()).await
}

async fn change_password(
    State(s): State<AppState>,
    c: OperatorCtx,
    Form(form): Form<Vec<(String, String)>>,
) -> Result<Response, WebError> {
    let (new, again) = (field(&form, "new_password"), field(&form, "new_password_again"));
    let r = if new != again {
        Err(EngineError::Rule(bursar_domain::DomainError::Refused("两次输入的新密码不一致".into())))
    } else {
        s.engine.change_own_operator_password(c.0.principal(), &field(&form, "current_password"), &new).await
    };
    match r {
        Ok(()) => Ok(Redirect::to(super::home_of(c.0.principal())).into_response()),
        Err(EngineError::Rule(e)) => account_page(&s, &c, e.to_string()).await,
        Err(e) => Err(e.into()),
    }
}
