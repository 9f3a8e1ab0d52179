//! 减免: finance asks to reduce what a payer owes from the payer's record; another person decides
//! here (four eyes), together with deferrals (缓缴, see `deferrals`). Every step is an engine
//! command, logged.

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use axum::Form;
use bursar_domain::access::Permission;
use bursar_domain::fee::{Reduction, WaiverState};
use bursar_domain::Fen;
use bursar_engine::EngineError;
use serde::Deserialize;

use crate::guard::{get, post, Current, Guard, OperatorCtx, Routes};
use crate::i18n::Translate as _;
use crate::views::{datetime, render, yuan, Chrome};
use crate::{AppState, WebError};

pub fn routes() -> Routes {
    Routes::new()
        .route("/admin/waivers", Guard::Permission(Permission::RequestWaiver), post(request))
        .route("/admin/waivers/review", Guard::Permission(Permission::ApproveWaiver), get(page))
        .route("/admin/waivers/{id}/decide", Guard::Permission(Permission::ApproveWaiver), post(decide))
        .route("/admin/receivables/{id}/cancel", Guard::Permission(Permission::RaiseReceivables), post(cancel))
}

pub struct WaiverLine {
    pub id: String,
    pub payer_id: String,
    /// "姓名（学号）", and who asked.
    pub payer: String,
    pub requested_by: String,
    pub item: String,
    pub year: String,
    pub amount: String,
    pub outstanding: String,
    pub reason: String,
    pub requested_at: String,
    pub waiting: bool,
    pub state: &'static str,
    pub badge: &'static str,
    pub decision: String,
}

#[derive(Template)]
#[template(path = "admin/waivers.html")]
struct WaiversPage {
    chrome: Chrome,
    rows: Vec<WaiverLine>,
    deferrals: Vec<super::deferrals::DeferralLine>,
    batches: Vec<super::relief::BatchLine>,
    notice: &'static str,
    error: String,
}

pub(super) async fn page_with(
    s: &AppState,
    c: &Current,
    notice: &'static str,
    error: String,
) -> Result<Response, WebError> {
    let names = s.engine.operator_view(c.principal()).operator_names().await?;
    let rows = s
        .engine
        .waivers(c.principal())
        .await?
        .into_iter()
        .map(|(w, r, who)| WaiverLine {
            id: w.id,
            payer_id: r.payer_id.clone(),
            payer: format!("{}（{}）", who.name, who.identifier),
            requested_by: names.get(&w.requested_by).cloned().unwrap_or_else(|| "系统".into()),
            item: r.item_name.clone(),
            year: r.academic_year.clone(),
            amount: yuan(w.amount_fen),
            outstanding: yuan(r.outstanding()),
            reason: w.reason,
            requested_at: datetime(w.created_at_ms),
            waiting: w.state == WaiverState::Requested,
            state: w.state.label_zh(),
            badge: match w.state {
                WaiverState::Requested => "warn",
                WaiverState::Approved => "ok",
                WaiverState::Rejected => "bad",
            },
            decision: w.decision_comment.unwrap_or_default(),
        })
        .collect();
    let failed = !error.is_empty();
    let deferrals = super::deferrals::lines(s, c).await?;
    let batches = super::relief::lines(s, c).await?;
    let chrome = super::chrome(s, c, "waivers");
    let mut resp = render(&WaiversPage { chrome, rows, deferrals, batches, notice, error })?;
    if failed {
        *resp.status_mut() = axum::http::StatusCode::UNPROCESSABLE_ENTITY;
    }
    Ok(resp)
}

#[derive(Deserialize, Default)]
pub struct DoneQuery {
    #[serde(default)]
    done: Option<String>,
}

pub async fn page(
    State(s): State<AppState>,
    OperatorCtx(c): OperatorCtx,
    Query(q): Query<DoneQuery>,
) -> Result<Response, WebError> {
    page_with(&s, &c, if q.done.is_some() { "已处理。" } else { "" }, String::new()).await
}

#[derive(Deserialize)]
pub struct RequestForm {
    receivable_id: String,
    payer_id: String,
    #[serde(default)]
    amount: String,
    /// Down to this amount instead (减至), when `amount` is empty.
    #[serde(default)]
    left: String,
    reason: String,
}

/// From a payer's record: back to it with the outcome.
pub async fn request(
    State(s): State<AppState>,
    OperatorCtx(c): OperatorCtx,
    Form(f): Form<RequestForm>,
) -> Result<Response, WebError> {
    let yuan_of = |t: &str| Fen::parse_yuan(t).map_err(|e| WebError::BadRequest(e.to_string()));
    let reduction = match (f.amount.trim(), f.left.trim()) {
        ("", "") => Reduction::All,
        (a, "") => Reduction::By(yuan_of(a)?),
        ("", l) => Reduction::To(yuan_of(l)?),
        _ => return Err(WebError::BadRequest("减免金额与减至金额只填一项".into())),
    };
    let back = format!("/admin/payers/{}", f.payer_id);
    match s.engine.request_reduction(c.principal(), &f.receivable_id, reduction, &f.reason).await {
        Ok(_) => Ok(Redirect::to(&format!("{back}?waiver=requested")).into_response()),
        Err(EngineError::Rule(e)) => Err(WebError::BadRequest(e.to_string())),
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
    OperatorCtx(c): OperatorCtx,
    Path(id): Path<String>,
    Form(f): Form<DecideForm>,
) -> Result<Response, WebError> {
    let approve = f.decision == "approve";
    match s.engine.decide_waiver(c.principal(), &id, approve, &f.comment).await {
        Ok(()) => Ok(Redirect::to("/admin/waivers/review?done=1").into_response()),
        Err(EngineError::Rule(e)) => page_with(&s, &c, "", e.to_string()).await,
        Err(EngineError::Access(
            a @ (bursar_domain::AccessError::OwnRequest | bursar_domain::AccessError::OwnApplication),
        )) => page_with(&s, &c, "", a.to_string()).await,
        Err(e) => Err(e.into()),
    }
}

#[derive(Deserialize)]
pub struct CancelForm {
    payer_id: String,
    reason: String,
}

/// From a payer's record: cancels an unpaid receivable, back to the record.
pub async fn cancel(
    State(s): State<AppState>,
    OperatorCtx(c): OperatorCtx,
    Path(id): Path<String>,
    Form(f): Form<CancelForm>,
) -> Result<Response, WebError> {
    match s.engine.cancel_receivable(c.principal(), &id, &f.reason).await {
        Ok(_) => Ok(Redirect::to(&format!("/admin/payers/{}?cancelled=1", f.payer_id)).into_response()),
        Err(EngineError::Rule(e)) => Err(WebError::BadRequest(e.to_string())),
        Err(e) => Err(e.into()),
    }
}
