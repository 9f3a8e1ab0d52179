//! 缓缴: finance or a department asks, from the payer's record, to let what a receivable owes
//! wait until a date (hardship, the green channel for new students, a student loan expected to
//! pay it); another person decides on 减免缓缴审批 (four eyes). The amount owed does not change.

use axum::extract::{Path, State};
use axum::response::{IntoResponse, Redirect, Response};
use axum::Form;
use bursar_domain::access::Permission;
use bursar_domain::fee::{DeferralKind, WaiverState};
use bursar_engine::EngineError;
use serde::Deserialize;

use crate::guard::{post, Current, Guard, OperatorCtx, Routes};
use crate::views::{datetime, yuan};
use crate::{AppState, WebError};

pub fn routes() -> Routes {
    Routes::new().route("/admin/deferrals", Guard::Permission(Permission::RequestWaiver), post(request)).route(
        "/admin/deferrals/{id}/decide",
        Guard::Permission(Permission::ApproveWaiver),
        post(decide),
    )
}

pub struct DeferralLine {
    pub id: String,
    pub payer_id: String,
    /// "姓名（学号）", and who asked.
    pub payer: String,
    pub requested_by: String,
    pub item: String,
    pub year: String,
    pub kind: &'static str,
    pub until: String,
    pub outstanding: String,
    pub reason: String,
    pub requested_at: String,
    pub waiting: bool,
    pub state: &'static str,
    pub badge: &'static str,
    pub decision: String,
}

/// The requests this operator may see, waiting first (for 减免缓缴审批).
pub(super) async fn lines(s: &AppState, c: &Current) -> Result<Vec<DeferralLine>, WebError> {
    let names = s.engine.operator_view(c.principal()).operator_names().await?;
    Ok(s.engine
        .deferrals(c.principal())
        .await?
        .into_iter()
        .map(|(d, r, who)| DeferralLine {
            id: d.id,
            payer_id: r.payer_id.clone(),
            payer: format!("{}（{}）", who.name, who.identifier),
            requested_by: names.get(&d.requested_by).cloned().unwrap_or_else(|| "系统".into()),
            item: r.item_name.clone(),
            year: r.academic_year.clone(),
            kind: d.kind.label_zh(),
            until: bursar_domain::time_fmt::date_cst(d.until_ms),
            outstanding: yuan(r.outstanding()),
            reason: d.reason,
            requested_at: datetime(d.created_at_ms),
            waiting: d.state == WaiverState::Requested,
            state: d.state.label_zh(),
            badge: match d.state {
                WaiverState::Requested => "warn",
                WaiverState::Approved => "ok",
                WaiverState::Rejected => "bad",
            },
            decision: d.decision_comment.unwrap_or_default(),
        })
        .collect())
}

#[derive(Deserialize)]
pub struct RequestForm {
    receivable_id: String,
    payer_id: String,
    kind: String,
    /// A date (YYYY-MM-DD): the deferral runs to the end of that day, Beijing time.
    until: String,
    reason: String,
}

/// From a payer's record: back to it with the outcome.
pub async fn request(
    State(s): State<AppState>,
    OperatorCtx(c): OperatorCtx,
    Form(f): Form<RequestForm>,
) -> Result<Response, WebError> {
    let kind = DeferralKind::parse(&f.kind).ok_or_else(|| WebError::BadRequest("缓缴类型无效".into()))?;
    let until = bursar_domain::time_fmt::parse_date_cst_ms(&f.until)
        .map(|start| start + 24 * 3_600_000 - 1)
        .ok_or_else(|| WebError::BadRequest("缓缴日期格式应为 2027-03-01".into()))?;
    match s.engine.request_deferral(c.principal(), &f.receivable_id, kind, until, &f.reason).await {
        Ok(_) => Ok(Redirect::to(&format!("/admin/payers/{}?deferral=requested", f.payer_id)).into_response()),
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
    match s.engine.decide_deferral(c.principal(), &id, approve, &f.comment).await {
        Ok(()) => Ok(Redirect::to("/admin/waivers/review?done=1").into_response()),
        Err(EngineError::Rule(e)) => super::waivers::page_with(&s, &c, "", e.to_string()).await,
        Err(EngineError::Access(
            a @ (bursar_domain::AccessError::OwnRequest | bursar_domain::AccessError::OwnApplication),
        )) => super::waivers::page_with(&s, &c, "", a.to_string()).await,
        Err(e) => Err(e.into()),
    }
}
