//! Project registration (项目报名), payer guide §8: open projects anyone can read, registration
//! with each project's own fields (people without an account register first, after accepting
//! the notice), my registrations with what is left to pay; departments publish projects, open or
//! close them and export who registered.

use std::collections::BTreeMap;

use askama::Template;
use axum::extract::{FromRequestParts, Path, State};
use axum::http::request::Parts;
use axum::http::{header, HeaderValue};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Form, Router};
use bursar_domain::payer::PayerKind;
use bursar_domain::project::{parse_field_lines, Field};
use bursar_domain::time_fmt;
use bursar_domain::Fen;
use bursar_engine::NewProject;
use bursar_store::projects::{self as project_store, ProjectRow};
use bursar_store::{payers, receivables};
use serde::Deserialize;

use crate::auth::{self, OperatorSession, PayerSession};
use crate::i18n::Translate as _;
use crate::views::{datetime, render, yuan, Chrome};
use crate::{AppState, WebError};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/portal/projects", get(list))
        .route("/portal/projects/{id}", get(detail).post(register))
        .route("/portal/registrations", get(mine))
        .route("/admin/projects", get(admin_list).post(admin_create))
        .route("/admin/projects/{id}", get(admin_detail))
        .route("/admin/projects/{id}/state", post(admin_state))
        .route("/admin/projects/{id}/registrations.xlsx", get(admin_export))
}

/// A payer session if there is one: project pages are public.
pub struct MaybePayer(pub Option<PayerSession>);

impl FromRequestParts<AppState> for MaybePayer {
    type Rejection = WebError;
    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        match PayerSession::from_request_parts(parts, state).await {
            Ok(s) => Ok(MaybePayer(Some(s))),
            Err(WebError::LoginRequired { login_path: "/portal/login" }) => Ok(MaybePayer(None)),
            Err(e) => Err(e),
        }
    }
}

async fn chrome_for(s: &AppState, who: &MaybePayer) -> Result<Chrome, WebError> {
    match &who.0 {
        Some(session) => crate::portal::chrome(s, session, "projects").await,
        None => Ok(Chrome {
            school_name: s.config.school_name(),
            user_name: String::new(),
            csrf: String::new(),
            section: "projects",
            area: "public",
            finance: false,
        }),
    }
}

/// What a payer sees of a project.
pub struct ProjectView {
    pub id: String,
    pub code: String,
    pub title: String,
    pub department: String,
    pub description: String,
    pub notice: String,
    pub fee: String,
    pub free: bool,
    pub window: String,
    pub seats: String,
    pub open_to: String,
    /// 报名中 / 未开始 / 已截止 / 已满 / 未开放.
    pub status: String,
    pub can_register: bool,
}

fn window_text(p: &ProjectRow) -> String {
    match (p.opens_at_ms, p.closes_at_ms) {
        (Some(a), Some(b)) => format!("{} — {}", datetime(a), datetime(b)),
        (Some(a), None) => format!("{} —", datetime(a)),
        (None, Some(b)) => format!("— {}", datetime(b)),
        (None, None) => "不限".into(),
    }
}

async fn view_of(s: &AppState, p: &ProjectRow, now: i64) -> Result<ProjectView, WebError> {
    let mut c = s.engine.store().read().await?;
    let department = payers::department_name(&mut c, &p.department_id).await?.unwrap_or_default();
    let o = p.openness();
    let open_now = o.check_now(now);
    let status = match &open_now {
        Ok(()) => "报名中".to_string(),
        Err(e) => e.to_string(),
    };
    Ok(ProjectView {
        id: p.id.clone(),
        code: p.code.clone(),
        title: p.title.clone(),
        department,
        description: p.description.clone(),
        notice: p.notice.clone(),
        fee: yuan(p.fee_fen),
        free: p.fee_fen == 0,
        window: window_text(p),
        seats: match o.seats_left() {
            Some(n) => format!("{n} / {}", p.capacity.unwrap_or(0)),
            None => "不限".into(),
        },
        open_to: o.open_to.iter().map(|k| crate::i18n::t(k.label_zh()).into_owned()).collect::<Vec<_>>().join(" · "),
        can_register: open_now.is_ok(),
        status,
    })
}

#[derive(Template)]
#[template(path = "portal_projects.html")]
struct ListPage {
    chrome: Chrome,
    projects: Vec<ProjectView>,
}

async fn list(State(s): State<AppState>, who: MaybePayer) -> Result<Response, WebError> {
    let chrome = chrome_for(&s, &who).await?;
    let now = s.engine.store().now_ms();
    let all = {
        let mut c = s.engine.store().read().await?;
        project_store::all(&mut c).await?
    };
    let mut projects = Vec::new();
    for p in all.iter().filter(|p| p.state == "open") {
        projects.push(view_of(&s, p, now).await?);
    }
    render(&ListPage { chrome, projects })
}

/// One field of the registration form, with what the payer typed (after a refusal).
pub struct FieldView {
    pub name: String,
    pub label: String,
    pub kind: &'static str,
    pub required: bool,
    pub options: Vec<String>,
    pub value: String,
}

fn field_views(fields: &[Field], values: &BTreeMap<String, String>) -> Vec<FieldView> {
    fields
        .iter()
        .map(|f| FieldView {
            name: f.name.clone(),
            label: f.label.clone(),
            kind: f.kind.as_str(),
            required: f.required,
            options: f.options.clone(),
            value: values.get(&f.name).cloned().unwrap_or_default(),
        })
        .collect()
}

/// A registration as its payer sees it.
pub struct MyRegistration {
    pub project_id: String,
    pub title: String,
    pub at: String,
    pub answers: Vec<(String, String)>,
    pub fee: String,
    /// What is still owed (empty when nothing is).
    pub outstanding: String,
    pub outstanding_input: String,
    pub receivable_id: String,
    pub paid: bool,
    pub free: bool,
}

async fn my_registration(
    s: &AppState,
    r: &project_store::RegistrationRow,
    p: &ProjectRow,
) -> Result<MyRegistration, WebError> {
    let mut c = s.engine.store().read().await?;
    let fields = project_store::fields(&mut c, &p.id).await?;
    let values: BTreeMap<String, String> = serde_json::from_str(&r.answers).unwrap_or_default();
    let answers = fields.iter().filter_map(|f| values.get(&f.name).map(|v| (f.label.clone(), v.clone()))).collect();
    let (outstanding, paid) = match &r.receivable_id {
        Some(rid) => {
            let rv = receivables::receivable(&mut c, rid).await?;
            (rv.outstanding(), rv.outstanding().get() == 0)
        }
        None => (Fen::ZERO, true),
    };
    Ok(MyRegistration {
        project_id: p.id.clone(),
        title: p.title.clone(),
        at: datetime(r.created_at_ms),
        answers,
        fee: yuan(p.fee_fen),
        outstanding: if outstanding.get() > 0 { yuan(outstanding.get()) } else { String::new() },
        outstanding_input: outstanding.to_yuan_string(),
        receivable_id: r.receivable_id.clone().unwrap_or_default(),
        paid,
        free: p.fee_fen == 0,
    })
}

#[derive(Template)]
#[template(path = "portal_project.html")]
struct DetailPage {
    chrome: Chrome,
    project: ProjectView,
    fields: Vec<FieldView>,
    mine: Option<MyRegistration>,
    error: String,
    /// The payer's kind may not register for this project.
    kind_refused: String,
    logged_in: bool,
    next: String,
}

async fn detail_page(
    s: &AppState,
    who: &MaybePayer,
    id: &str,
    values: &BTreeMap<String, String>,
    error: String,
) -> Result<Response, WebError> {
    let chrome = chrome_for(s, who).await?;
    let now = s.engine.store().now_ms();
    let (p, fields, reg, kind) = {
        let mut c = s.engine.store().read().await?;
        let p = project_store::get(&mut c, id).await?;
        if p.state != "open" && who.0.is_none() {
            return Err(WebError::NotFound);
        }
        let fields = project_store::fields(&mut c, id).await?;
        let (reg, kind) = match &who.0 {
            Some(session) => (
                project_store::registration_of(&mut c, id, &session.payer_id).await?,
                PayerKind::parse(&payers::payer(&mut c, &session.payer_id).await?.kind),
            ),
            None => (None, None),
        };
        (p, fields, reg, kind)
    };
    let project = view_of(s, &p, now).await?;
    let mine = match &reg {
        Some(r) => Some(my_registration(s, r, &p).await?),
        None => None,
    };
    let kind_refused = match kind {
        Some(k) if !p.open_to_kinds().contains(&k) => {
            bursar_domain::project::RegistrationError::KindNotAllowed(k.label_zh()).to_string()
        }
        _ => String::new(),
    };
    let failed = !error.is_empty();
    let mut resp = render(&DetailPage {
        chrome,
        project,
        fields: field_views(&fields, values),
        mine,
        error,
        kind_refused,
        logged_in: who.0.is_some(),
        next: format!("/portal/projects/{id}"),
    })?;
    if failed {
        *resp.status_mut() = axum::http::StatusCode::UNPROCESSABLE_ENTITY;
    }
    Ok(resp)
}

async fn detail(State(s): State<AppState>, who: MaybePayer, Path(id): Path<String>) -> Result<Response, WebError> {
    detail_page(&s, &who, &id, &BTreeMap::new(), String::new()).await
}

/// The registration form: `csrf`, `accept`, and `f_<field name>` for each answer.
async fn register(
    State(s): State<AppState>,
    who: MaybePayer,
    Path(id): Path<String>,
    Form(pairs): Form<Vec<(String, String)>>,
) -> Result<Response, WebError> {
    let Some(session) = &who.0 else {
        return Ok(Redirect::to(&format!("/portal/login?next=/portal/projects/{id}")).into_response());
    };
    let get = |k: &str| pairs.iter().find(|(key, _)| key == k).map(|(_, v)| v.as_str());
    auth::check_csrf(&session.csrf, get("csrf"))?;
    let values: BTreeMap<String, String> =
        pairs.iter().filter_map(|(k, v)| k.strip_prefix("f_").map(|n| (n.to_string(), v.clone()))).collect();
    if get("accept").is_none() {
        return detail_page(&s, &who, &id, &values, "请阅读并同意报名须知".into()).await;
    }
    match s.engine.register_for_project(&session.payer_id, &id, &values).await {
        Ok(_) => Ok(Redirect::to("/portal/registrations").into_response()),
        Err(bursar_engine::EngineError::Rule(e)) => detail_page(&s, &who, &id, &values, e.to_string()).await,
        Err(bursar_engine::EngineError::NotFound(_)) => Err(WebError::NotFound),
        Err(e) => Err(e.into()),
    }
}

#[derive(Template)]
#[template(path = "portal_registrations.html")]
struct MinePage {
    chrome: Chrome,
    registrations: Vec<MyRegistration>,
}

async fn mine(State(s): State<AppState>, session: PayerSession) -> Result<Response, WebError> {
    let chrome = crate::portal::chrome(&s, &session, "projects").await?;
    let rows = {
        let mut c = s.engine.store().read().await?;
        let regs = project_store::registrations_of_payer(&mut c, &session.payer_id).await?;
        let mut rows = Vec::new();
        for r in regs {
            let p = project_store::get(&mut c, &r.project_id).await?;
            rows.push((r, p));
        }
        rows
    };
    let mut registrations = Vec::new();
    for (r, p) in &rows {
        registrations.push(my_registration(&s, r, p).await?);
    }
    render(&MinePage { chrome, registrations })
}

// ---- departments and finance ----

fn admin_chrome(s: &AppState, session: &OperatorSession) -> Chrome {
    Chrome {
        school_name: s.config.school_name(),
        user_name: session.operator.name.clone(),
        csrf: session.csrf.clone(),
        section: "projects",
        area: "admin",
        finance: session.operator.role == "finance",
    }
}

fn may_see(session: &OperatorSession, p: &ProjectRow) -> bool {
    session.operator.role == "finance" || session.operator.department_id.as_deref() == Some(p.department_id.as_str())
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
}

#[derive(Template)]
#[template(path = "admin_projects.html")]
struct AdminListPage {
    chrome: Chrome,
    projects: Vec<AdminProjectRow>,
    departments: Vec<(String, String)>,
    /// Fee items whose channels a new project can copy: (id, name).
    channel_templates: Vec<(String, String)>,
    kinds: Vec<(&'static str, &'static str)>,
    error: String,
    form: CreateForm,
}

#[derive(Deserialize, Default, Clone)]
struct CreateForm {
    #[serde(default)]
    csrf: String,
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
}

async fn admin_list_page(
    s: &AppState,
    session: &OperatorSession,
    form: CreateForm,
    error: String,
) -> Result<Response, WebError> {
    let mut c = s.engine.store().read().await?;
    let all = project_store::all(&mut c).await?;
    let mut projects = Vec::new();
    for p in all.iter().filter(|p| may_see(session, p)) {
        projects.push(AdminProjectRow {
            id: p.id.clone(),
            code: p.code.clone(),
            title: p.title.clone(),
            department: payers::department_name(&mut c, &p.department_id).await?.unwrap_or_default(),
            fee: yuan(p.fee_fen),
            registered: p.registered,
            capacity: p.capacity.map(|n| n.to_string()).unwrap_or_else(|| "不限".into()),
            window: window_text(p),
            open: p.state == "open",
        });
    }
    let departments: Vec<(String, String)> = payers::departments(&mut c)
        .await?
        .into_iter()
        .filter(|(id, _)| session.operator.role == "finance" || session.operator.department_id.as_deref() == Some(id))
        .collect();
    let routed: Vec<String> =
        bursar_store::merchants::route_ids(&mut c).await?.into_iter().map(|(item, _, _)| item).collect();
    let channel_templates = receivables::fee_items(&mut c)
        .await?
        .into_iter()
        .filter(|f| routed.contains(&f.id))
        .filter(|f| departments.iter().any(|(d, _)| d == &f.department_id))
        .map(|f| (f.id, format!("{}（{}）", f.name, f.code)))
        .collect();
    let failed = !error.is_empty();
    let mut resp = render(&AdminListPage {
        chrome: admin_chrome(s, session),
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

async fn admin_list(State(s): State<AppState>, session: OperatorSession) -> Result<Response, WebError> {
    let form = CreateForm { academic_year: "2026-2027".into(), ..CreateForm::default() };
    admin_list_page(&s, &session, form, String::new()).await
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

async fn admin_create(
    State(s): State<AppState>,
    session: OperatorSession,
    Form(pairs): Form<Vec<(String, String)>>,
) -> Result<Response, WebError> {
    let get = |k: &str| pairs.iter().find(|(key, _)| key == k).map(|(_, v)| v.clone()).unwrap_or_default();
    let form = CreateForm {
        csrf: get("csrf"),
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
    };
    auth::check_csrf(&session.csrf, Some(&form.csrf))?;
    let open_to: Vec<PayerKind> =
        pairs.iter().filter(|(k, _)| k == "open_to").filter_map(|(_, v)| PayerKind::parse(v)).collect();
    let parsed = (|| -> Result<NewProject, String> {
        let fee = if form.fee.trim().is_empty() {
            Fen::ZERO
        } else {
            Fen::parse_yuan(&form.fee).map_err(|e| e.to_string())?
        };
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
            opens_at_ms: parse_local_datetime(&form.opens_at)?,
            closes_at_ms: parse_local_datetime(&form.closes_at)?,
            fields: parse_field_lines(&form.fields)?,
            channels_like: Some(form.channels_like.clone()).filter(|v| !v.is_empty()),
        })
    })();
    let project = match parsed {
        Ok(p) => p,
        Err(e) => return admin_list_page(&s, &session, form, e).await,
    };
    match s.engine.create_project(&session.operator, project).await {
        Ok(id) => Ok(Redirect::to(&format!("/admin/projects/{id}")).into_response()),
        Err(bursar_engine::EngineError::Rule(e)) => admin_list_page(&s, &session, form, e.to_string()).await,
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
#[template(path = "admin_project.html")]
struct AdminDetailPage {
    chrome: Chrome,
    project: ProjectView,
    open: bool,
    registered: i64,
    labels: Vec<String>,
    rows: Vec<AdminRegistration>,
}

async fn registrations_table(s: &AppState, p: &ProjectRow) -> Result<(Vec<String>, Vec<AdminRegistration>), WebError> {
    let mut c = s.engine.store().read().await?;
    let fields = project_store::fields(&mut c, &p.id).await?;
    let regs = project_store::registrations_of_project(&mut c, &p.id).await?;
    let mut rows = Vec::new();
    for r in regs {
        let payer = payers::payer(&mut c, &r.payer_id).await?;
        let values: BTreeMap<String, String> = serde_json::from_str(&r.answers).unwrap_or_default();
        let fee_state = match &r.receivable_id {
            Some(rid) => {
                let rv = receivables::receivable(&mut c, rid).await?;
                if rv.outstanding().get() == 0 {
                    "已缴清".to_string()
                } else {
                    format!("欠 ¥{}", yuan(rv.outstanding().get()))
                }
            }
            None => "免费".into(),
        };
        rows.push(AdminRegistration {
            payer: payer.name,
            // An outside person's login is their phone number: shown masked, like the phone.
            identifier: if payer.kind == PayerKind::External.as_str() { "—".into() } else { payer.identifier },
            phone: bursar_domain::payer::mask_phone(&payer.phone),
            at: datetime(r.created_at_ms),
            answers: fields.iter().map(|f| values.get(&f.name).cloned().unwrap_or_default()).collect(),
            fee_state,
        });
    }
    Ok((fields.into_iter().map(|f| f.label).collect(), rows))
}

async fn admin_project(s: &AppState, session: &OperatorSession, id: &str) -> Result<ProjectRow, WebError> {
    let mut c = s.engine.store().read().await?;
    let p = project_store::get(&mut c, id).await?;
    if !may_see(session, &p) {
        return Err(WebError::NotFound);
    }
    Ok(p)
}

async fn admin_detail(
    State(s): State<AppState>,
    session: OperatorSession,
    Path(id): Path<String>,
) -> Result<Response, WebError> {
    let p = admin_project(&s, &session, &id).await?;
    let now = s.engine.store().now_ms();
    let (labels, rows) = registrations_table(&s, &p).await?;
    render(&AdminDetailPage {
        chrome: admin_chrome(&s, &session),
        project: view_of(&s, &p, now).await?,
        open: p.state == "open",
        registered: p.registered,
        labels,
        rows,
    })
}

#[derive(Deserialize)]
struct StateForm {
    csrf: String,
    open: String,
}

async fn admin_state(
    State(s): State<AppState>,
    session: OperatorSession,
    Path(id): Path<String>,
    Form(f): Form<StateForm>,
) -> Result<Response, WebError> {
    auth::check_csrf(&session.csrf, Some(&f.csrf))?;
    s.engine.set_project_open(&session.operator, &id, f.open == "1").await?;
    Ok(Redirect::to(&format!("/admin/projects/{id}")).into_response())
}

/// Who registered, as an Excel workbook (names and numbers as finance keeps them; phones masked).
async fn admin_export(
    State(s): State<AppState>,
    session: OperatorSession,
    Path(id): Path<String>,
) -> Result<Response, WebError> {
    let p = admin_project(&s, &session, &id).await?;
    let (labels, rows) = registrations_table(&s, &p).await?;
    let mut book = rust_xlsxwriter::Workbook::new();
    let sheet = book.add_worksheet();
    let xerr = |e: rust_xlsxwriter::XlsxError| WebError::Internal(format!("xlsx: {e}"));
    let mut head = vec!["姓名".to_string(), "学号/工号/账号".into(), "手机号".into(), "报名时间".into()];
    head.extend(labels.iter().cloned());
    head.push("缴费状态".into());
    for (col, h) in head.iter().enumerate() {
        sheet.write_string(0, col as u16, h).map_err(xerr)?;
    }
    for (i, r) in rows.iter().enumerate() {
        let row = (i + 1) as u32;
        let mut cells = vec![r.payer.clone(), r.identifier.clone(), r.phone.clone(), r.at.clone()];
        cells.extend(r.answers.iter().cloned());
        cells.push(r.fee_state.clone());
        for (col, v) in cells.iter().enumerate() {
            sheet.write_string(row, col as u16, v).map_err(xerr)?;
        }
    }
    let bytes = book.save_to_buffer().map_err(xerr)?;
    let mut resp = bytes.into_response();
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"),
    );
    if let Ok(v) = HeaderValue::from_str(&format!("attachment; filename=\"registrations-{}.xlsx\"", p.code)) {
        h.insert(header::CONTENT_DISPOSITION, v);
    }
    Ok(resp)
}
