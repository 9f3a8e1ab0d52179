//! 变更申请: an approved fee item's name, collection window and partial-payment terms change
//! only through a request that another person approves; every version is listed.

use std::collections::HashMap;

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use axum::Form;
use bursar_domain::access::Permission;
use bursar_domain::fee::{FeeType, WaiverState};
use bursar_domain::time_fmt::date_cst;
use bursar_domain::Fen;
use bursar_engine::rows::Terms;
use bursar_engine::EngineError;
use serde::Deserialize;

use super::fee_item_profile::{describe_audience, ProfileChoices, ProfileForm};
use super::fee_items::window_of;
use crate::guard::{get, post, Guard, OperatorCtx, Routes};
use crate::i18n::Translate as _;
use crate::views::{date_or_unlimited, datetime, render, yuan, Chrome};
use crate::{AppState, WebError};

pub fn routes() -> Routes {
    Routes::new()
        .route("/admin/fee-items/{id}/changes", Guard::Operator, get(page))
        .route("/admin/fee-items/{id}/changes", Guard::Permission(Permission::ApplyFeeItem), post(request))
        .route(
            "/admin/fee-items/{id}/changes/{change}/decide",
            Guard::Permission(Permission::ApproveFeeItem),
            post(decide),
        )
}

pub struct ChangeView {
    pub id: String,
    pub version: i64,
    pub name: String,
    pub window: String,
    pub partial: String,
    /// Whom it is for, its receipt, and whether it has a notice.
    pub profile: String,
    pub note: String,
    pub requested_by: String,
    pub requested_at: String,
    pub state: &'static str,
    pub badge: &'static str,
    pub decision: String,
    pub decidable: bool,
}

/// The request form as typed (or the item's current terms).
#[derive(Clone, Debug, Default)]
pub struct ChangeForm {
    name: String,
    start: String,
    end: String,
    partial_allowed: String,
    min_partial: String,
    note: String,
    profile: ProfileForm,
}

impl ChangeForm {
    fn from_pairs(f: &[(String, String)]) -> ChangeForm {
        let get = |k: &str| f.iter().find(|(n, _)| n == k).map(|(_, v)| v.trim().to_string()).unwrap_or_default();
        ChangeForm {
            name: get("name"),
            start: get("start"),
            end: get("end"),
            partial_allowed: get("partial_allowed"),
            min_partial: get("min_partial"),
            note: get("note"),
            profile: ProfileForm::from_pairs(f),
        }
    }
}

#[derive(Template)]
#[template(path = "admin/fee_item_changes.html")]
struct ChangesPage {
    chrome: Chrome,
    item_id: String,
    item_name: String,
    changes: Vec<ChangeView>,
    can_request: bool,
    form: ChangeForm,
    /// The profile part of the form (the shared include reads `pf` and `choices`).
    pf: ProfileForm,
    choices: ProfileChoices,
    notice: &'static str,
    error: String,
}

fn partial_text(allowed: bool, min: Fen) -> String {
    if !allowed {
        "须一次缴清".into()
    } else if min.is_positive() {
        format!("可分次缴纳，每次至少 {}", yuan(min))
    } else {
        "可分次缴纳".into()
    }
}

async fn page_with(
    s: &AppState,
    c: &OperatorCtx,
    id: &str,
    form: Option<ChangeForm>,
    notice: &'static str,
    error: String,
) -> Result<Response, WebError> {
    let p = c.0.principal();
    let view = s.engine.operator_view(p);
    let (item, _) = view.fee_item(id).await?;
    let names = view.operator_names().await?;
    let who = |a: &str| names.get(a).cloned().unwrap_or_else(|| "系统".into());
    let departments = view.all_departments().await?;
    let department_names: HashMap<String, String> = departments.iter().cloned().collect();
    let me = p.actor_ref();
    let can_approve = p.can(Permission::ApproveFeeItem);
    let changes = s
        .engine
        .fee_item_changes(p, &item.id)
        .await?
        .into_iter()
        .map(|ch| ChangeView {
            decidable: ch.state == WaiverState::Requested && can_approve && ch.requested_by != me,
            window: format!(
                "{} 至 {}",
                date_or_unlimited(ch.window_start_ms, false),
                date_or_unlimited(ch.window_end_ms, true)
            ),
            partial: partial_text(ch.partial_allowed != 0, ch.min_partial_fen),
            profile: {
                // Everything the version says, so the approver reads what they approve.
                let t = ch.terms();
                let notice = if t.profile.notice.is_empty() {
                    "无缴费须知".to_string()
                } else {
                    format!("缴费须知：{}", t.profile.notice)
                };
                let fields = if t.profile.fields.is_empty() {
                    "缴费时不收集信息".to_string()
                } else {
                    let list: Vec<String> = t
                        .profile
                        .fields
                        .iter()
                        .map(|f| format!("{}（{}）", f.label, if f.required { "必填" } else { "选填" }))
                        .collect();
                    format!("缴费时收集：{}", list.join("、"))
                };
                format!(
                    "{}；{}；{notice}；{fields}",
                    describe_audience(&t.profile.audience, &department_names),
                    t.profile.receipt_kind.label_zh()
                )
            },
            requested_by: who(&ch.requested_by),
            requested_at: datetime(ch.created_at_ms),
            state: ch.state.label_zh(),
            badge: match ch.state {
                WaiverState::Requested => "warn",
                WaiverState::Approved => "ok",
                WaiverState::Rejected => "bad",
            },
            decision: match (&ch.decided_by, &ch.decision_comment) {
                (Some(by), Some(cm)) if !cm.is_empty() => format!("{}：{cm}", who(by)),
                (Some(by), _) => who(by),
                _ => String::new(),
            },
            id: ch.id,
            version: ch.version,
            name: ch.name,
            note: ch.note,
        })
        .collect();
    let form = form.unwrap_or_else(|| ChangeForm {
        name: item.name.clone(),
        start: item.window_start_ms.map(date_cst).unwrap_or_default(),
        end: item.window_end_ms.map(|e| date_cst(e - 1)).unwrap_or_default(),
        partial_allowed: if item.partial_allowed != 0 { "1".into() } else { String::new() },
        min_partial: if item.min_partial_fen.is_positive() { item.min_partial_fen.to_string() } else { String::new() },
        note: String::new(),
        profile: ProfileForm::of(&item.profile()),
    });
    let failed = !error.is_empty();
    let mut resp = render(&ChangesPage {
        chrome: super::chrome(s, &c.0, "fee_items"),
        item_id: item.id.clone(),
        item_name: format!("{}（{}）", item.name, item.code),
        changes,
        can_request: p.can(Permission::ApplyFeeItem) && item.status.is_approved(),
        pf: form.profile.clone(),
        choices: ProfileChoices::new(departments),
        form,
        notice,
        error,
    })?;
    if failed {
        *resp.status_mut() = axum::http::StatusCode::UNPROCESSABLE_ENTITY;
    }
    Ok(resp)
}

#[derive(Deserialize)]
pub struct DoneQuery {
    done: Option<String>,
}

pub async fn page(
    State(s): State<AppState>,
    c: OperatorCtx,
    Path(id): Path<String>,
    Query(q): Query<DoneQuery>,
) -> Result<Response, WebError> {
    let notice = match q.done.as_deref() {
        Some("requested") => "变更申请已提交，审批通过后生效。",
        Some("approved") => "变更已审批通过并生效。",
        Some("rejected") => "已驳回。",
        _ => "",
    };
    page_with(&s, &c, &id, None, notice, String::new()).await
}

fn terms_of(f: &ChangeForm, fee_type: FeeType) -> Result<Terms, String> {
    let (window_start_ms, window_end_ms) = window_of(&f.start, &f.end)?;
    let min = f.min_partial.trim();
    Ok(Terms {
        name: f.name.trim().to_string(),
        window_start_ms,
        window_end_ms,
        partial_allowed: !f.partial_allowed.is_empty(),
        min_partial: if min.is_empty() { Fen::ZERO } else { Fen::parse_yuan(min).map_err(|e| e.to_string())? },
        profile: f.profile.to_profile(fee_type)?,
    })
}

pub async fn request(
    State(s): State<AppState>,
    c: OperatorCtx,
    Path(id): Path<String>,
    Form(pairs): Form<Vec<(String, String)>>,
) -> Result<Response, WebError> {
    let f = ChangeForm::from_pairs(&pairs);
    let (item, _) = s.engine.operator_view(c.0.principal()).fee_item(&id).await?;
    let terms = match terms_of(&f, item.fee_type) {
        Ok(t) => t,
        Err(e) => return page_with(&s, &c, &id, Some(f), "", e).await,
    };
    match s.engine.request_fee_item_change(c.0.principal(), &id, &terms, &f.note).await {
        Ok(_) => Ok(Redirect::to(&format!("/admin/fee-items/{id}/changes?done=requested")).into_response()),
        Err(EngineError::Rule(e)) => page_with(&s, &c, &id, Some(f), "", e.to_string()).await,
        Err(e) => Err(e.into()),
    }
}

#[derive(Deserialize)]
pub struct DecideForm {
    decision: String,
    #[serde(default)]
    comment: String,
}

pub async fn decide(
    State(s): State<AppState>,
    c: OperatorCtx,
    Path((id, change)): Path<(String, String)>,
    Form(f): Form<DecideForm>,
) -> Result<Response, WebError> {
    let approve = f.decision == "approve";
    match s.engine.decide_fee_item_change(c.0.principal(), &change, approve, &f.comment).await {
        Ok(()) => {
            let done = if approve { "approved" } else { "rejected" };
            Ok(Redirect::to(&format!("/admin/fee-items/{id}/changes?done={done}")).into_response())
        }
        Err(EngineError::Rule(e)) => page_with(&s, &c, &id, None, "", e.to_string()).await,
        Err(EngineError::Access(
            a @ (bursar_domain::AccessError::OwnRequest | bursar_domain::AccessError::OwnApplication),
        )) => page_with(&s, &c, &id, None, "", a.to_string()).await,
        Err(e) => Err(e.into()),
    }
}
