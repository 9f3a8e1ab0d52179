//! 项目报名 for departments and finance: publish projects (their fee item then waits for
//! finance's approval), open or close them, see and export who registered.

use std::collections::BTreeMap;

use crate::guard::{get, post};
use askama::Template;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Redirect, Response};
use axum::Form;
use bursar_domain::access::Permission;
use bursar_domain::payer::PayerKind;
use bursar_domain::project::{parse_field_lines, ProjectState};
use bursar_domain::time_fmt;
use bursar_domain::Fen;
use bursar_engine::queries::operator::ProjectDetail;
use bursar_engine::NewProject;
use serde::Deserialize;

use crate::guard::{Guard, OperatorCtx, Routes};
use crate::i18n::Translate as _;
use crate::portal::projects::{view_of, ProjectView};
use crate::views::{datetime, render, yuan, Chrome};
use crate::{AppState, WebError};

pub fn routes() -> Routes {
    // Read by those who manage projects and those who watch collection (finance's approvers,
    // auditors); changed only by those who manage them.
    let reads = Guard::Permission(Permission::ViewCollection);
    let manages = Guard::Permission(Permission::ManageProjects);
    Routes::new()
        .route("/admin/projects", reads, get(admin_list))
        .route("/admin/projects", manages, post(admin_create))
        .route("/admin/projects/{id}", reads, get(admin_detail))
        .route("/admin/projects/{id}/state", manages, post(admin_state))
        .route("/admin/projects/{id}/registrations.xlsx", reads, get(admin_export))
}

fn window_text(p: &bursar_engine::rows::ProjectRow) -> String {
    match (p.opens_at_ms, p.closes_at_ms) {
        (Some(a), Some(b)) => format!("{} — {}", datetime(a), datetime(b)),
        (Some(a), None) => format!("{} —", datetime(a)),
        (None, Some(b)) => format!("— {}", datetime(b)),
        (None, None) => "不限".into(),
    }
}

pub struct AdminProjectRow {
    pub id: String,
    pub code: String,
    pub title: String,
    pub department: String,
    pub fee: String,
    pub registered: i64,
    pub capacity: String,
    pub window: String,
    pub open: bool,
    /// The fee item's approval (待审核 / 收费 …).
    pub approval: &'static str,
}

#[derive(Template)]
#[template(path = "admin/projects.html")]
struct AdminListPage {
    chrome: Chrome,
    can_manage: bool,
    projects: Vec<AdminProjectRow>,
    departments: Vec<(String, String)>,
    /// Fee items whose channels a new project can copy: (id, name).
    channel_templates: Vec<(String, String)>,
    kinds: Vec<(&'static str, &'static str)>,
    error: String,
    form: CreateForm,
}

#[derive(Deserialize, Default, Clone)]
pub struct CreateForm {
    #[serde(default)]
    code: String,
    #[serde(default)]
    title: String,
    #[serde(default)]
    department_id: String,
    #[serde(default)]
    academic_year: String,
    #[serde(default)]
    fee: String,
    #[serde(default)]
    capacity: String,
    #[serde(default)]
    opens_at: String,
    #[serde(default)]
    closes_at: String,
    #[serde(default)]
    description: String,
    #[serde(default)]
    notice: String,
    #[serde(default)]
    fields: String,
    #[serde(default)]
    channels_like: String,
    /// The most a payer may choose to pay (blank: the fee is fixed).
    #[serde(default)]
    amount_max: String,
    #[serde(default)]
    open_grades: String,
    #[serde(default)]
    open_departments: Vec<String>,
}

async fn admin_list_page(s: &AppState, c: &OperatorCtx, form: CreateForm, error: String) -> Result<Response, WebError> {
    let view = s.engine.operator_view(c.0.principal());
    let departments = view.departments().await?;
    let names: std::collections::HashMap<String, String> = departments.iter().cloned().collect();
    let items = view.fee_items().await?;
    let approval =
        |fee_item_id: &str| items.iter().find(|i| i.id == fee_item_id).map(|i| i.status.label_zh()).unwrap_or("");
    let projects = view
        .projects()
        .await?
        .iter()
        .map(|p| AdminProjectRow {
            id: p.id.clone(),
            code: p.code.clone(),
            title: p.title.clone(),
            department: names.get(&p.department_id).cloned().unwrap_or_default(),
            fee: match p.amount_max_fen {
                Some(max) => format!("自愿 {} – {}", yuan(p.fee_fen), yuan(Fen(max))),
                None => yuan(p.fee_fen),
            },
            registered: p.registered,
            capacity: p.capacity.map(|n| n.to_string()).unwrap_or_else(|| "不限".into()),
            window: window_text(p),
            open: p.state == ProjectState::Open,
            approval: approval(&p.fee_item_id),
        })
        .collect();
    let channel_templates = match view.channels().await {
        Ok(ch) => {
            let routed: Vec<String> = ch.routes.into_iter().map(|(item, _, _)| item).collect();
            ch.items
                .into_iter()
                .filter(|f| routed.contains(&f.id))
                .map(|f| (f.id, format!("{}（{}）", f.name, f.code)))
                .collect()
        }
        // Departments propose the channels of their own routed items.
        Err(_) => items
            .iter()
            .filter(|f| f.status.is_approved())
            .map(|f| (f.id.clone(), format!("{}（{}）", f.name, f.code)))
            .collect(),
    };
    let failed = !error.is_empty();
    let mut resp = render(&AdminListPage {
        can_manage: c.0.principal().can(Permission::ManageProjects),
        chrome: super::chrome(s, &c.0, "projects"),
        projects,
        departments,
        channel_templates,
        kinds: PayerKind::ALL.iter().map(|k| (k.as_str(), k.label_zh())).collect(),
        error,
        form,
    })?;
    if failed {
        *resp.status_mut() = axum::http::StatusCode::UNPROCESSABLE_ENTITY;
    }
    Ok(resp)
}

pub async fn admin_list(State(s): State<AppState>, c: OperatorCtx) -> Result<Response, WebError> {
    let form = CreateForm { academic_year: "2026-2027".into(), ..CreateForm::default() };
    admin_list_page(&s, &c, form, String::new()).await
}

fn parse_local_datetime(v: &str) -> Result<Option<i64>, String> {
    let v = v.trim();
    if v.is_empty() {
        return Ok(None);
    }
    // `<input type=datetime-local>` sends `2026-11-01T08:00`.
    let text = format!("{}:00", v.replace('T', " "));
    time_fmt::parse_datetime_cst_ms(&text).map(Some).ok_or_else(|| format!("时间格式不正确：{v}"))
}

pub async fn admin_create(
    State(s): State<AppState>,
    c: OperatorCtx,
    Form(pairs): Form<Vec<(String, String)>>,
) -> Result<Response, WebError> {
    let get = |k: &str| pairs.iter().find(|(key, _)| key == k).map(|(_, v)| v.clone()).unwrap_or_default();
    let form = CreateForm {
        code: get("code").trim().to_uppercase(),
        title: get("title"),
        department_id: get("department_id"),
        academic_year: get("academic_year").trim().to_string(),
        fee: get("fee"),
        capacity: get("capacity"),
        opens_at: get("opens_at"),
        closes_at: get("closes_at"),
        description: get("description"),
        notice: get("notice"),
        fields: get("fields"),
        channels_like: get("channels_like"),
        amount_max: get("amount_max"),
        open_grades: get("open_grades"),
        open_departments: pairs.iter().filter(|(k, _)| k == "open_departments").map(|(_, v)| v.clone()).collect(),
    };
    let open_to: Vec<PayerKind> =
        pairs.iter().filter(|(k, _)| k == "open_to").filter_map(|(_, v)| PayerKind::parse(v)).collect();
    let parsed = (|| -> Result<NewProject, String> {
        let fee = if form.fee.trim().is_empty() {
            Fen::ZERO
        } else {
            Fen::parse_yuan(&form.fee).map_err(|e| e.to_string())?
        };
        let amount_max = match form.amount_max.trim() {
            "" => None,
            m => Some(Fen::parse_yuan(m).map_err(|e| format!("最高金额：{e}"))?),
        };
        let open_grades: Vec<String> = form
            .open_grades
            .split([',', '，', ' ', '、'])
            .map(|g| g.trim().trim_end_matches('级').to_string())
            .filter(|g| !g.is_empty())
            .collect();
        let capacity = match form.capacity.trim() {
            "" => None,
            c => Some(c.parse::<i64>().map_err(|_| "名额须为正整数，不限名额请留空".to_string())?),
        };
        Ok(NewProject {
            code: form.code.clone(),
            title: form.title.clone(),
            department_id: form.department_id.clone(),
            academic_year: form.academic_year.clone(),
            description: form.description.clone(),
            notice: form.notice.clone(),
            fee,
            capacity,
            open_to: open_to.clone(),
            open_departments: form.open_departments.clone(),
            open_grades,
            amount_max,
            opens_at_ms: parse_local_datetime(&form.opens_at)?,
            closes_at_ms: parse_local_datetime(&form.closes_at)?,
            fields: parse_field_lines(&form.fields)?,
            channels_like: Some(form.channels_like.clone()).filter(|v| !v.is_empty()),
        })
    })();
    let project = match parsed {
        Ok(p) => p,
        Err(e) => return admin_list_page(&s, &c, form, e).await,
    };
    match s.engine.create_project(c.0.principal(), project).await {
        Ok(id) => Ok(Redirect::to(&format!("/admin/projects/{id}")).into_response()),
        Err(bursar_engine::EngineError::Rule(e)) => admin_list_page(&s, &c, form, e.to_string()).await,
        Err(e) => Err(e.into()),
    }
}

pub struct AdminRegistration {
    pub payer: String,
    pub identifier: String,
    pub phone: String,
    pub at: String,
    pub answers: Vec<String>,
    pub fee_state: String,
}

#[derive(Template)]
#[template(path = "admin/project.html")]
struct AdminDetailPage {
    chrome: Chrome,
    can_manage: bool,
    project: ProjectView,
    open: bool,
    registered: i64,
    approval: &'static str,
    labels: Vec<String>,
    rows: Vec<AdminRegistration>,
}

fn registrations_table(d: &ProjectDetail) -> Result<(Vec<String>, Vec<AdminRegistration>), WebError> {
    let mut rows = Vec::new();
    for (r, payer, receivable) in &d.registrations {
        let values: BTreeMap<String, String> =
            serde_json::from_str(&r.answers).map_err(|e| WebError::Internal(format!("registration answers: {e}")))?;
        let fee_state = match receivable {
            Some(rv) if !rv.outstanding().is_positive() => "已缴清".to_string(),
            Some(rv) => format!("欠 {}", yuan(rv.outstanding())),
            None => "免费".into(),
        };
        rows.push(AdminRegistration {
            payer: payer.name.clone(),
            // An outside person's login is their phone number: shown masked, like the phone.
            identifier: if payer.kind == PayerKind::External { "—".into() } else { payer.identifier.clone() },
            phone: bursar_domain::payer::mask_phone(&payer.phone),
            at: datetime(r.created_at_ms),
            answers: d.fields.iter().map(|f| values.get(&f.name).cloned().unwrap_or_default()).collect(),
            fee_state,
        });
    }
    Ok((d.fields.iter().map(|f| f.label.clone()).collect(), rows))
}

pub async fn admin_detail(
    State(s): State<AppState>,
    c: OperatorCtx,
    Path(id): Path<String>,
) -> Result<Response, WebError> {
    let d = s.engine.operator_view(c.0.principal()).project(&id).await?;
    let now = s.engine.store().now_ms();
    let (labels, rows) = registrations_table(&d)?;
    let departments = s.engine.department_names().await?;
    let approved = d.item.status == bursar_domain::fee::FeeItemStatus::Collecting;
    render(&AdminDetailPage {
        can_manage: c.0.principal().can(Permission::ManageProjects),
        chrome: super::chrome(&s, &c.0, "projects"),
        project: view_of(&d.project, &departments, now, approved),
        open: d.project.state == ProjectState::Open,
        registered: d.project.registered,
        approval: d.item.status.label_zh(),
        labels,
        rows,
    })
}

#[derive(Deserialize)]
pub struct StateForm {
    open: String,
}

pub async fn admin_state(
    State(s): State<AppState>,
    c: OperatorCtx,
    Path(id): Path<String>,
    Form(f): Form<StateForm>,
) -> Result<Response, WebError> {
    s.engine.set_project_open(c.0.principal(), &id, f.open == "1").await?;
    Ok(Redirect::to(&format!("/admin/projects/{id}")).into_response())
}

/// Who registered, as an Excel workbook (names and numbers as finance keeps them; phones masked).
pub async fn admin_export(
    State(s): State<AppState>,
    c: OperatorCtx,
    Path(id): Path<String>,
) -> Result<Response, WebError> {
    let d = s.engine.operator_view(c.0.principal()).project(&id).await?;
    let p = &d.project;
    let (labels, rows) = registrations_table(&d)?;
    let mut book = rust_xlsxwriter::Workbook::new();
    let sheet = book.add_worksheet();
    let xerr = |e: rust_xlsxwriter::XlsxError| WebError::Internal(format!("xlsx: {e}"));
    let mut head = vec!["姓名".to_string(), "学号/工号/账号".into(), "手机号".into(), "报名时间".into()];
    head.extend(labels.iter().cloned());
    head.push("缴费状态".into());
    let col_of = |i: usize| u16::try_from(i).map_err(|_| WebError::BadRequest("报名字段过多".into()));
    for (col, h) in head.iter().enumerate() {
        sheet.write_string(0, col_of(col)?, h).map_err(xerr)?;
    }
    for (i, r) in rows.iter().enumerate() {
        let row = u32::try_from(i + 1).map_err(|_| WebError::BadRequest("报名人数过多".into()))?;
        let mut cells = vec![r.payer.clone(), r.identifier.clone(), r.phone.clone(), r.at.clone()];
        cells.extend(r.answers.iter().cloned());
        cells.push(r.fee_state.clone());
        for (col, v) in cells.iter().enumerate() {
            sheet.write_string(row, col_of(col)?, v).map_err(xerr)?;
        }
    }
    let bytes = book.save_to_buffer().map_err(xerr)?;
    Ok(super::import_report::xlsx_response(bytes, &format!("registrations-{}.xlsx", p.code)))
}
