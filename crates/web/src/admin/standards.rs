//! 收费标准: an item's standard per academic year — one amount for everyone, or a table by
//! college, major, grade and payer kind uploaded as Excel/CSV — proposed by the department or
//! finance and put in force by another person with the approval right. Every version is kept.

use askama::Template;
use axum::extract::{Multipart, Path, Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use axum::Form;
use bursar_domain::access::Permission;
use bursar_domain::fee::AcademicYear;
use bursar_domain::standards::StandardState;
use bursar_domain::Fen;
use bursar_engine::standards::{StandardSource, StandardView};
use bursar_engine::EngineError;
use serde::Deserialize;

use crate::guard::{get, post, Guard, OperatorCtx, Routes, MAX_UPLOAD_BYTES};
use crate::i18n::Translate as _;
use crate::views::{datetime, render, yuan, Chrome};
use crate::{AppState, WebError};

pub fn routes() -> Routes {
    Routes::new()
        .route("/admin/fee-items/{id}/standards", Guard::Operator, get(page))
        .route(
            "/admin/fee-items/{id}/standards",
            Guard::Permission(Permission::ApplyFeeItem),
            post(propose).body_limit(MAX_UPLOAD_BYTES),
        )
        .route(
            "/admin/fee-items/{id}/standards/{standard}/decide",
            Guard::Permission(Permission::ApproveFeeItem),
            post(decide),
        )
        .route("/admin/standards-template.xlsx", Guard::Operator, get(template))
}

/// Lines shown per version (the rest are counted).
const SHOWN_LINES: usize = 100;

pub struct VersionView {
    pub id: String,
    pub year: String,
    pub version: i64,
    pub state: &'static str,
    pub badge: &'static str,
    pub requested_by: String,
    pub requested_at: String,
    pub note: String,
    pub decision: String,
    pub lines: Vec<[String; 6]>,
    pub more_lines: usize,
    /// This operator may decide it now.
    pub decidable: bool,
    /// Waiting, and this operator proposed it.
    pub own: bool,
}

#[derive(Template)]
#[template(path = "admin/standards.html")]
struct StandardsPage {
    chrome: Chrome,
    item_id: String,
    item_name: String,
    versions: Vec<VersionView>,
    can_propose: bool,
    year: String,
    amount: String,
    note: String,
    notice: &'static str,
    error: String,
}

#[derive(Deserialize)]
pub struct DoneQuery {
    done: Option<String>,
}

fn version_view(
    v: StandardView,
    names: &std::collections::HashMap<String, String>,
    me: &str,
    can_approve: bool,
) -> VersionView {
    let who = |actor: &str| names.get(actor).cloned().unwrap_or_else(|| "系统".into());
    let r = v.row;
    let waiting = r.state == StandardState::Requested;
    let total = v.lines.len();
    VersionView {
        decidable: waiting && can_approve && r.requested_by != me,
        own: waiting && r.requested_by == me,
        badge: match r.state {
            StandardState::Approved => "ok",
            StandardState::Requested => "warn",
            StandardState::Rejected => "bad",
            StandardState::Superseded => "info",
        },
        state: r.state.label_zh(),
        requested_by: who(&r.requested_by),
        requested_at: datetime(r.created_at_ms),
        decision: match (&r.decided_by, &r.decision_comment) {
            (Some(by), Some(c)) if !c.is_empty() => format!("{}：{c}", who(by)),
            (Some(by), _) => who(by),
            _ => String::new(),
        },
        lines: v
            .lines
            .into_iter()
            .take(SHOWN_LINES)
            .map(|l| {
                let any = |s: String| if s.is_empty() { "不限".to_string() } else { s };
                [
                    any(l.department),
                    any(l.major),
                    any(l.grade),
                    any(l.class_name),
                    l.kind.map(|k| k.label_zh().to_string()).unwrap_or_else(|| "不限".into()),
                    yuan(l.amount),
                ]
            })
            .collect(),
        more_lines: total.saturating_sub(SHOWN_LINES),
        id: r.id,
        year: r.academic_year,
        version: r.version,
        note: r.note,
    }
}

async fn page_with(
    s: &AppState,
    c: &OperatorCtx,
    id: &str,
    typed: (String, String, String),
    notice: &'static str,
    error: String,
) -> Result<Response, WebError> {
    let p = c.0.principal();
    let view = s.engine.operator_view(p);
    let (item, _) = view.fee_item(id).await?;
    let names = view.operator_names().await?;
    let me = p.actor_ref();
    let can_approve = p.can(Permission::ApproveFeeItem);
    let versions = s
        .engine
        .standards_of(p, &item.id)
        .await?
        .into_iter()
        .map(|v| version_view(v, &names, &me, can_approve))
        .collect();
    let (year, amount, note) = typed;
    let year =
        if year.is_empty() { AcademicYear::containing(s.engine.store().now_ms()).as_str().to_string() } else { year };
    let failed = !error.is_empty();
    let mut resp = render(&StandardsPage {
        chrome: super::chrome(s, &c.0, "fee_items"),
        item_id: item.id.clone(),
        item_name: format!("{}（{}）", item.name, item.code),
        versions,
        can_propose: p.can(Permission::ApplyFeeItem),
        year,
        amount,
        note,
        notice,
        error,
    })?;
    if failed {
        *resp.status_mut() = axum::http::StatusCode::UNPROCESSABLE_ENTITY;
    }
    Ok(resp)
}

pub async fn page(
    State(s): State<AppState>,
    c: OperatorCtx,
    Path(id): Path<String>,
    Query(q): Query<DoneQuery>,
) -> Result<Response, WebError> {
    let notice = match q.done.as_deref() {
        Some("proposed") => "收费标准已提交，等待审核。",
        Some("approved") => "收费标准已审核通过，现行标准已更新。",
        Some("rejected") => "已驳回。",
        _ => "",
    };
    page_with(&s, &c, &id, Default::default(), notice, String::new()).await
}

pub async fn propose(
    State(s): State<AppState>,
    c: OperatorCtx,
    Path(id): Path<String>,
    mut form: Multipart,
) -> Result<Response, WebError> {
    let (mut year, mut amount, mut note, mut file) = (String::new(), String::new(), String::new(), Vec::new());
    while let Some(field) = form.next_field().await.map_err(|e| WebError::BadRequest(format!("上传失败：{e}")))? {
        let name = field.name().unwrap_or("").to_string();
        if name == "file" {
            file = field.bytes().await.map_err(|e| WebError::BadRequest(format!("文件过大或上传失败：{e}")))?.to_vec();
            continue;
        }
        let text = field.text().await.map_err(|e| WebError::BadRequest(format!("表单无效：{e}")))?;
        match name.as_str() {
            "year" => year = text.trim().to_string(),
            "amount" => amount = text.trim().to_string(),
            "note" => note = text.trim().to_string(),
            _ => {}
        }
    }
    let typed = (year.clone(), amount.clone(), note.clone());
    let source = match (file.is_empty(), amount.is_empty()) {
        (false, true) => StandardSource::Table(file),
        (true, false) => match Fen::parse_yuan(&amount) {
            Ok(a) if a.is_positive() => StandardSource::Uniform(a),
            _ => return page_with(&s, &c, &id, typed, "", "金额应为正数，最多两位小数".into()).await,
        },
        (false, false) => {
            return page_with(&s, &c, &id, typed, "", "请填写统一金额或上传标准表，二者选一".into()).await
        }
        (true, true) => return page_with(&s, &c, &id, typed, "", "请填写统一金额或上传标准表".into()).await,
    };
    match s.engine.propose_standard(c.0.principal(), &id, &year, source, &note).await {
        Ok(_) => Ok(Redirect::to(&format!("/admin/fee-items/{id}/standards?done=proposed")).into_response()),
        Err(EngineError::Rule(e)) => page_with(&s, &c, &id, typed, "", e.to_string()).await,
        Err(e) => Err(e.into()),
    }
}

pub async fn decide(
    State(s): State<AppState>,
    c: OperatorCtx,
    Path((id, standard)): Path<(String, String)>,
    Form(f): Form<Vec<(String, String)>>,
) -> Result<Response, WebError> {
    let get = |k: &str| f.iter().find(|(n, _)| n == k).map(|(_, v)| v.trim().to_string()).unwrap_or_default();
    let approve = match get("decision").as_str() {
        "approve" => true,
        "reject" => false,
        _ => return Err(WebError::BadRequest("无效的审核结果".into())),
    };
    match s.engine.decide_standard(c.0.principal(), &standard, approve, &get("comment")).await {
        Ok(()) => {
            let done = if approve { "approved" } else { "rejected" };
            Ok(Redirect::to(&format!("/admin/fee-items/{id}/standards?done={done}")).into_response())
        }
        Err(EngineError::Rule(e)) => page_with(&s, &c, &id, Default::default(), "", e.to_string()).await,
        Err(EngineError::Access(
            a @ (bursar_domain::AccessError::OwnRequest | bursar_domain::AccessError::OwnApplication),
        )) => page_with(&s, &c, &id, Default::default(), "", a.to_string()).await,
        Err(e) => Err(e.into()),
    }
}

/// The standards table's template: its headers, two example lines, and notes.
pub async fn template(OperatorCtx(_): OperatorCtx) -> Result<Response, WebError> {
    super::import_report::template_xlsx(
        "收费标准",
        &[
            &["院系", "专业", "年级", "班级", "缴费人类别", "金额"],
            &["", "", "", "", "", "5000.00"],
            &["计算机学院", "软件工程", "2026", "", "", "6800.00"],
            &["计算机学院", "软件工程", "2026", "软工2601", "", "7200.00"],
        ],
        &[16.0; 6],
        &[
            "每行一条标准：院系、专业、年级、班级、缴费人类别留空表示不限；金额必填（元，最多两位小数）。",
            "一个缴费人适用多条时，取条件最具体（填写的条件最多）的一条；同样具体而金额不同的，生成应收时列为“标准冲突”，不会生成。",
            "缴费人类别：在校生、新生、教工、报名人员、校外人员。院系须与系统中的名称一致。",
            "提交后须由另一位有审核权限的人员审核；审核通过后成为该学年的现行标准，原标准保留为历史版本。",
            "本说明页不会被导入。",
        ],
        "fee-standard-template.xlsx",
    )
}
