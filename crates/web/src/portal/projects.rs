//! Project registration (项目报名), payer guide §8: published projects anyone can read (once
//! finance approved their fee item), registration with each project's own fields (people without
//! an account register first, after accepting the notice), my registrations with what is left to
//! pay.

use std::collections::{BTreeMap, HashMap};

use crate::fields::{field_views, FieldView};
use crate::guard::{get, post};
use askama::Template;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Redirect, Response};
use axum::Form;
use bursar_domain::access::Principal;
use bursar_domain::project::{Field, ProjectState};
use bursar_domain::Fen;
use bursar_engine::rows::{ProjectRow, RegistrationRow};

use crate::guard::{Guard, MaybeCurrent, PayerCtx, Routes};
use crate::i18n::Translate as _;
use crate::views::{datetime, render, yuan, Chrome};
use crate::{AppState, WebError};

pub fn routes() -> Routes {
    Routes::new()
        .route("/portal/projects", Guard::Public, get(list))
        // Anyone reads a project; registering needs a payer.
        .route("/portal/projects/{id}", Guard::Public, get(detail))
        .route("/portal/projects/{id}", Guard::Payer, post(register))
        .route("/portal/registrations", Guard::Payer, get(mine))
}

async fn chrome_for(s: &AppState, who: &MaybeCurrent) -> Result<Chrome, WebError> {
    match who.0.as_ref().filter(|c| c.principal().payer().is_some()) {
        Some(c) => Ok(super::chrome(s, c, "projects")),
        None => Ok(Chrome {
            school_name: s.config.school_name(),
            logo_url: s.config.image_url(bursar_engine::school_profile::ImageKind::Logo),
            user_name: String::new(),
            csrf: String::new(),
            section: "projects",
            area: "public",
            nav: Vec::new(),
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
    /// The payer chooses the amount between these (empty for a fixed fee).
    pub amount_min: String,
    pub amount_max: String,
    pub window: String,
    pub seats: String,
    pub open_to: String,
    /// Colleges and grades it is only for ("" when for everyone of its kinds).
    pub limits: Vec<String>,
    /// 报名中 / 未开始 / 已截止 / 已满 / 未开放.
    pub status: String,
    pub can_register: bool,
    /// The logged-in payer already signed up for it.
    pub registered: bool,
}

fn window_text(p: &ProjectRow) -> String {
    match (p.opens_at_ms, p.closes_at_ms) {
        (Some(a), Some(b)) => format!("{} — {}", datetime(a), datetime(b)),
        (Some(a), None) => format!("{} —", datetime(a)),
        (None, Some(b)) => format!("— {}", datetime(b)),
        (None, None) => "不限".into(),
    }
}

pub(crate) fn view_of(p: &ProjectRow, departments: &HashMap<String, String>, now: i64, approved: bool) -> ProjectView {
    let department = departments.get(&p.department_id).cloned().unwrap_or_default();
    let o = p.openness();
    let open_now = o.check_now(now);
    let status = match &open_now {
        Ok(()) if approved => "报名中".to_string(),
        Ok(()) => "暂停报名".to_string(),
        Err(e) => e.to_string(),
    };
    ProjectView {
        id: p.id.clone(),
        code: p.code.clone(),
        title: p.title.clone(),
        department,
        description: p.description.clone(),
        notice: p.notice.clone(),
        fee: match p.amount_max_fen {
            Some(max) => format!("{} – {}", yuan(p.fee_fen), yuan(Fen(max))),
            None => yuan(p.fee_fen),
        },
        free: !p.fee_fen.is_positive() && p.amount_max_fen.is_none(),
        amount_min: p.amount_max_fen.map(|_| yuan(p.fee_fen)).unwrap_or_default(),
        amount_max: p.amount_max_fen.map(|m| yuan(Fen(m))).unwrap_or_default(),
        window: window_text(p),
        seats: match o.seats_left() {
            Some(n) => format!("{n} / {}", p.capacity.unwrap_or(0)),
            None => "不限".into(),
        },
        open_to: o.open_to.iter().map(|k| crate::i18n::t(k.label_zh()).into_owned()).collect::<Vec<_>>().join(" · "),
        limits: o
            .open_departments
            .iter()
            .map(|d| departments.get(d).cloned().unwrap_or_default())
            .chain(o.open_grades.iter().map(|g| crate::i18n::t("{}级").replace("{}", g)))
            .collect(),
        can_register: open_now.is_ok() && approved,
        registered: false,
        status,
    }
}

#[derive(Template)]
#[template(path = "portal/projects.html")]
struct ListPage {
    chrome: Chrome,
    projects: Vec<ProjectView>,
}

async fn list(State(s): State<AppState>, who: MaybeCurrent) -> Result<Response, WebError> {
    let chrome = chrome_for(&s, &who).await?;
    let now = s.engine.store().now_ms();
    let departments = s.engine.department_names().await?;
    let projects = s
        .engine
        .published_projects()
        .await?
        .iter()
        .filter(|p| p.state == ProjectState::Open)
        .map(|p| view_of(p, &departments, now, true))
        .collect::<Vec<_>>();
    // A payer who already signed up sees that, not an invitation to sign up again.
    let mut projects = projects;
    if let Some(c) = who.0.as_ref().filter(|c| matches!(c.principal(), Principal::Payer(_))) {
        let mine = s.engine.payer_view(c.principal())?.registrations().await?;
        for p in projects.iter_mut() {
            p.registered = mine.iter().any(|(_, project)| project.id == p.id);
        }
    }
    render(&ListPage { chrome, projects })
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
    payer: &PayerCtx,
    r: &RegistrationRow,
    p: &ProjectRow,
    fields: &[Field],
) -> Result<MyRegistration, WebError> {
    let values: BTreeMap<String, String> =
        serde_json::from_str(&r.answers).map_err(|e| WebError::Internal(format!("registration answers: {e}")))?;
    let answers = fields.iter().filter_map(|f| values.get(&f.name).map(|v| (f.label.clone(), v.clone()))).collect();
    // What this registration raised (for a project whose payer chose the amount, their amount).
    let (outstanding, paid, fee) = match &r.receivable_id {
        Some(rid) => match s.engine.payer_view(payer.0.principal())?.receivable(rid).await? {
            Some(rv) => (rv.outstanding(), !rv.outstanding().is_positive(), rv.due_fen),
            None => (Fen::ZERO, true, p.fee_fen),
        },
        None => (Fen::ZERO, true, Fen::ZERO),
    };
    Ok(MyRegistration {
        project_id: p.id.clone(),
        title: p.title.clone(),
        at: datetime(r.created_at_ms),
        answers,
        fee: yuan(fee),
        outstanding: if outstanding.is_positive() { yuan(outstanding) } else { String::new() },
        outstanding_input: outstanding.to_yuan_string(),
        receivable_id: r.receivable_id.clone().unwrap_or_default(),
        paid,
        free: r.receivable_id.is_none(),
    })
}

#[derive(Template)]
#[template(path = "portal/project.html")]
struct DetailPage {
    chrome: Chrome,
    project: ProjectView,
    fields: Vec<FieldView>,
    mine: Option<MyRegistration>,
    error: String,
    /// The payer's kind may not register for this project.
    kind_refused: String,
    /// The amount the payer typed (a project whose payer chooses it), kept after a refusal.
    amount: String,
    logged_in: bool,
    next: String,
}

async fn detail_page(
    s: &AppState,
    who: &MaybeCurrent,
    id: &str,
    values: &BTreeMap<String, String>,
    amount: &str,
    error: String,
) -> Result<Response, WebError> {
    let chrome = chrome_for(s, who).await?;
    let now = s.engine.store().now_ms();
    let (p, fields, approved) = s.engine.published_project(id).await?.ok_or(WebError::NotFound)?;
    let payer = who.0.clone().filter(|c| c.principal().payer().is_some()).map(PayerCtx);
    if p.state != ProjectState::Open && payer.is_none() {
        return Err(WebError::NotFound);
    }
    let departments = s.engine.department_names().await?;
    let project = view_of(&p, &departments, now, approved);
    let (mine, kind_refused) = match &payer {
        Some(ctx) => {
            let reg = s.engine.payer_view(ctx.0.principal())?.registration(id).await?;
            let mine = match &reg {
                Some(r) => Some(my_registration(s, ctx, r, &p, &fields).await?),
                None => None,
            };
            // Whether this payer is among those the project is for (kind, college, grade).
            let me = s.engine.payer_view(ctx.0.principal())?.me().await?;
            let who = bursar_domain::project::Registrant {
                kind: me.kind,
                department_id: me.department_id.as_deref(),
                grade: &me.grade,
            };
            let refused = p.openness().check_who(&who).err().map(|e| e.to_string()).unwrap_or_default();
            (mine, refused)
        }
        None => (None, String::new()),
    };
    let failed = !error.is_empty();
    let mut resp = render(&DetailPage {
        chrome,
        project,
        fields: field_views(&fields, values, "f_"),
        mine,
        error,
        kind_refused,
        amount: amount.chars().take(20).collect(),
        logged_in: payer.is_some(),
        next: format!("/portal/projects/{id}"),
    })?;
    if failed {
        *resp.status_mut() = axum::http::StatusCode::UNPROCESSABLE_ENTITY;
    }
    Ok(resp)
}

async fn detail(State(s): State<AppState>, who: MaybeCurrent, Path(id): Path<String>) -> Result<Response, WebError> {
    detail_page(&s, &who, &id, &BTreeMap::new(), "", String::new()).await
}

/// The registration form: `csrf`, `accept`, and `f_<field name>` for each answer.
async fn register(
    State(s): State<AppState>,
    payer: PayerCtx,
    Path(id): Path<String>,
    Form(pairs): Form<Vec<(String, String)>>,
) -> Result<Response, WebError> {
    let who = MaybeCurrent(Some(payer.0.clone()));
    let get = |k: &str| pairs.iter().find(|(key, _)| key == k).map(|(_, v)| v.as_str());
    let values: BTreeMap<String, String> = crate::fields::answers_with_prefix(&pairs, "f_");
    if get("accept").is_none() {
        let typed = get("amount").unwrap_or("");
        return detail_page(&s, &who, &id, &values, typed, "请阅读并同意报名须知".into()).await;
    }
    // Only a project whose payer chooses the amount has the field; elsewhere it is ignored.
    let typed = get("amount").unwrap_or("").trim();
    let amount = match typed {
        "" => None,
        a => match Fen::parse_yuan(a) {
            Ok(f) => Some(f),
            Err(_) => return detail_page(&s, &who, &id, &values, typed, "缴费金额应为数字，最多两位小数".into()).await,
        },
    };
    match s.engine.register_for_project(payer.0.principal(), &id, &values, amount).await {
        Ok(_) => Ok(Redirect::to("/portal/registrations").into_response()),
        Err(bursar_engine::EngineError::Rule(e)) => detail_page(&s, &who, &id, &values, typed, e.to_string()).await,
        Err(bursar_engine::EngineError::NotFound(_)) => Err(WebError::NotFound),
        Err(e) => Err(e.into()),
    }
}

#[derive(Template)]
#[template(path = "portal/registrations.html")]
struct MinePage {
    chrome: Chrome,
    registrations: Vec<MyRegistration>,
}

async fn mine(State(s): State<AppState>, payer: PayerCtx) -> Result<Response, WebError> {
    let chrome = super::chrome(&s, &payer.0, "projects");
    let rows = s.engine.payer_view(payer.0.principal())?.registrations().await?;
    let mut registrations = Vec::new();
    for (r, p) in &rows {
        let fields = s.engine.published_project(&p.id).await?.map(|(_, f, _)| f).unwrap_or_default();
        registrations.push(my_registration(&s, &payer, r, p, &fields).await?);
    }
    render(&MinePage { chrome, registrations })
}
