//! 退款管理: a department (for its own fees) or finance finds a payment and requests a refund
//! with a reason; a finance approver — never the requester — approves or rejects with a comment;
//! a failed refund is retried or paid by transfer. 多缴款: late and duplicate payments.

use crate::guard::{get, post};
use askama::Template;
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use axum::Form;
use bursar_domain::access::{Permission, Scope};
use bursar_domain::refund::RefundKind;
use bursar_domain::Fen;
use bursar_engine::EngineError;
use serde::Deserialize;

use crate::guard::{Guard, OperatorCtx, Routes};
use crate::i18n::Translate as _;
use crate::views::{datetime, render, yuan, Chrome};
use crate::{AppState, WebError};

pub fn routes() -> Routes {
    // Those who ask, decide or watch collection read the list; each action needs its own.
    let reads = Guard::Permission(Permission::ViewCollection);
    Routes::new()
        .route("/admin/refunds", reads, get(list))
        .route("/admin/refunds", Guard::Permission(Permission::RequestRefund), post(request))
        .route("/admin/refunds/new", Guard::Permission(Permission::RequestRefund), get(new_page))
        .route("/admin/refunds/{id}/decide", Guard::Permission(Permission::ApproveRefund), post(decide))
        .route("/admin/refunds/{id}/retry", Guard::Permission(Permission::ExecuteRefund), post(retry))
        .route("/admin/refunds/{id}/manual", Guard::Permission(Permission::ExecuteRefund), post(manual))
        .route("/admin/overpayments", reads, get(overpayments))
        .route("/admin/overpayments", Guard::Permission(Permission::RequestRefund), post(refund_overpayment))
}

pub struct RefundView {
    pub id: String,
    pub merchant_order_no: String,
    pub payer: String,
    pub amount: String,
    pub kind: &'static str,
    pub reason: String,
    pub state: &'static str,
    pub state_code: &'static str,
    pub failure: String,
    pub created: String,
    pub requested_by: String,
    pub decided_by: String,
    pub decision_comment: String,
    /// Asked by the operator looking at it (who may not decide it).
    pub own_request: bool,
}

#[derive(Template)]
#[template(path = "admin/refunds.html")]
struct ListPage {
    chrome: Chrome,
    refunds: Vec<RefundView>,
    error: String,
    can_request: bool,
    can_approve: bool,
    can_execute: bool,
}

/// Who an actor reference names, for people: an operator's name, the system, an application.
fn actor_name(names: &std::collections::HashMap<String, String>, actor: &str) -> String {
    if let Some(n) = names.get(actor) {
        return n.clone();
    }
    match actor.split_once(':') {
        Some(("system", _)) => "系统".into(),
        Some(("app", _)) => "业务系统".into(),
        _ => actor.to_string(),
    }
}

pub async fn list(State(s): State<AppState>, OperatorCtx(c): OperatorCtx) -> Result<Response, WebError> {
    list_page(&s, &c, String::new()).await
}

/// The list, with what went wrong with the last action (a refusal is shown on the page it was
/// asked from, with status 422; nothing from the address is shown).
async fn list_page(s: &AppState, c: &crate::guard::Current, error: String) -> Result<Response, WebError> {
    let p = c.principal();
    let view = s.engine.operator_view(p);
    let names = view.operator_names().await?;
    let me = p.actor_ref();
    let refunds = view
        .refunds()
        .await?
        .into_iter()
        .map(|row| {
            let r = row.refund;
            RefundView {
                own_request: r.requested_by == me,
                id: r.id.clone(),
                merchant_order_no: row.merchant_order_no,
                payer: format!("{} {}", row.payer_identifier, row.payer_name),
                amount: yuan(r.amount_fen),
                kind: r.kind.label_zh(),
                reason: r.reason.clone(),
                state: r.state.label_zh(),
                state_code: r.state.as_str(),
                failure: r.failure_reason.clone().unwrap_or_default(),
                created: datetime(r.created_at_ms),
                requested_by: actor_name(&names, &r.requested_by),
                decided_by: r.decided_by.as_deref().map(|d| actor_name(&names, d)).unwrap_or_default(),
                decision_comment: r.decision_comment.clone().unwrap_or_default(),
            }
        })
        .collect();
    let failed = !error.is_empty();
    let mut resp = render(&ListPage {
        chrome: super::chrome(s, c, "refunds"),
        refunds,
        error,
        can_request: p.can(Permission::RequestRefund),
        can_approve: p.can(Permission::ApproveRefund),
        can_execute: p.can(Permission::ExecuteRefund),
    })?;
    if failed {
        *resp.status_mut() = axum::http::StatusCode::UNPROCESSABLE_ENTITY;
    }
    Ok(resp)
}

#[derive(Template)]
#[template(path = "admin/refund_new.html")]
struct NewPage {
    chrome: Chrome,
    no: String,
    found: bool,
    payment_id: String,
    payer: String,
    amount: String,
    method: &'static str,
    state: &'static str,
    paid_at: String,
    kinds: Vec<(&'static str, &'static str)>,
    error: String,
}

#[derive(Deserialize)]
pub struct NewQuery {
    no: Option<String>,
}

async fn new_page_with(s: &AppState, c: &OperatorCtx, no: String, error: String) -> Result<Response, WebError> {
    let p = c.0.principal();
    let found = if no.is_empty() { None } else { s.engine.operator_view(p).payment_for_refund(&no).await? };
    let finance = p.require(Permission::RequestRefund).is_ok_and(|sc| sc == Scope::All);
    let kinds = RefundKind::ALL
        .iter()
        .filter(|k| finance || **k != RefundKind::Overpayment)
        .map(|k| (k.as_str(), k.label_zh()))
        .collect();
    let chrome = super::chrome(s, &c.0, "refunds");
    let page = match found {
        Some(f) => NewPage {
            chrome,
            no,
            found: true,
            payment_id: f.payment.id.clone(),
            payer: format!("{} {}", f.payer.identifier, f.payer.name),
            amount: yuan(f.payment.amount_fen),
            method: f.payment.method.label_zh(),
            state: f.payment.state.label_zh(),
            paid_at: f.payment.succeeded_at_ms.map(datetime).unwrap_or_default(),
            kinds,
            error,
        },
        None => NewPage {
            chrome,
            error: if no.is_empty() {
                error
            } else {
                "未找到该商户订单号的交易（或不属于本部门的收费项目）".into()
            },
            no,
            found: false,
            payment_id: String::new(),
            payer: String::new(),
            amount: String::new(),
            method: "",
            state: "",
            paid_at: String::new(),
            kinds,
        },
    };
    let mut resp = render(&page)?;
    if !page.error.is_empty() {
        *resp.status_mut() = axum::http::StatusCode::UNPROCESSABLE_ENTITY;
    }
    Ok(resp)
}

pub async fn new_page(
    State(s): State<AppState>,
    c: OperatorCtx,
    Query(q): Query<NewQuery>,
) -> Result<Response, WebError> {
    new_page_with(&s, &c, q.no.unwrap_or_default(), String::new()).await
}

#[derive(Deserialize)]
pub struct RequestForm {
    no: String,
    payment_id: String,
    amount: String,
    kind: String,
    reason: String,
}

pub async fn request(
    State(s): State<AppState>,
    c: OperatorCtx,
    Form(f): Form<RequestForm>,
) -> Result<Response, WebError> {
    let amount = match Fen::parse_yuan(&f.amount) {
        Ok(a) => a,
        Err(e) => return new_page_with(&s, &c, f.no, e.to_string()).await,
    };
    let kind = RefundKind::parse(&f.kind).ok_or_else(|| WebError::BadRequest("请选择退款类型".into()))?;
    match s.engine.request_refund(c.0.principal(), &f.payment_id, amount, kind, &f.reason).await {
        Ok(_) => Ok(Redirect::to("/admin/refunds").into_response()),
        Err(EngineError::Rule(e)) => new_page_with(&s, &c, f.no, e.to_string()).await,
        Err(e) => Err(e.into()),
    }
}

async fn back_with(s: &AppState, c: &OperatorCtx, result: Result<(), EngineError>) -> Result<Response, WebError> {
    let message = match result {
        Ok(()) => return Ok(Redirect::to("/admin/refunds").into_response()),
        Err(EngineError::Rule(e)) => e.to_string(),
        Err(EngineError::Access(
            a @ (bursar_domain::AccessError::OwnRequest | bursar_domain::AccessError::OwnApplication),
        )) => a.to_string(),
        Err(e) => return Err(e.into()),
    };
    list_page(s, &c.0, message).await
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
    Path(id): Path<String>,
    Form(f): Form<DecideForm>,
) -> Result<Response, WebError> {
    let approve = match f.decision.as_str() {
        "approve" => true,
        "reject" => false,
        _ => return Err(WebError::BadRequest("无效的审批结果".into())),
    };
    back_with(&s, &c, s.engine.decide_refund(c.0.principal(), &id, approve, &f.comment).await).await
}

pub async fn retry(State(s): State<AppState>, c: OperatorCtx, Path(id): Path<String>) -> Result<Response, WebError> {
    back_with(&s, &c, s.engine.retry_refund(c.0.principal(), &id).await).await
}

#[derive(Deserialize)]
pub struct ManualForm {
    bank_reference: String,
}

pub async fn manual(
    State(s): State<AppState>,
    c: OperatorCtx,
    Path(id): Path<String>,
    Form(f): Form<ManualForm>,
) -> Result<Response, WebError> {
    back_with(&s, &c, s.engine.manual_refund(c.0.principal(), &id, &f.bank_reference).await).await
}

pub struct OverpaymentView {
    pub payment_id: String,
    pub merchant_order_no: String,
    pub payer: String,
    pub payment_amount: String,
    pub credited: String,
    pub refunded: String,
    pub left: String,
    pub left_input: String,
    pub has_left: bool,
    pub paid_at: String,
}

#[derive(Template)]
#[template(path = "admin/overpayments.html")]
struct OverpaymentsPage {
    chrome: Chrome,
    rows: Vec<OverpaymentView>,
    can_request: bool,
}

/// Finance's queue of late and duplicate payments: money that reached the school when nothing was
/// owed any more, kept as the payer's credit until it is refunded.
pub async fn overpayments(State(s): State<AppState>, OperatorCtx(c): OperatorCtx) -> Result<Response, WebError> {
    let list = s.engine.operator_view(c.principal()).overpayments().await?;
    let rows = list
        .into_iter()
        .map(|(o, payer)| {
            let left = Fen(o.credited_fen.get() - o.refunded_fen.get());
            OverpaymentView {
                payment_id: o.payment_id,
                merchant_order_no: o.merchant_order_no,
                payer: format!("{} {}", payer.identifier, payer.name),
                payment_amount: yuan(o.payment_amount_fen),
                credited: yuan(o.credited_fen),
                refunded: yuan(o.refunded_fen),
                left: yuan(left),
                left_input: left.to_yuan_string(),
                has_left: left.is_positive(),
                paid_at: o.succeeded_at_ms.map(datetime).unwrap_or_default(),
            }
        })
        .collect();
    render(&OverpaymentsPage {
        chrome: super::chrome(&s, &c, "overpayments"),
        rows,
        can_request: c.principal().can(Permission::RequestRefund),
    })
}

#[derive(Deserialize)]
pub struct OverpaymentForm {
    payment_id: String,
    amount: String,
}

pub async fn refund_overpayment(
    State(s): State<AppState>,
    c: OperatorCtx,
    Form(f): Form<OverpaymentForm>,
) -> Result<Response, WebError> {
    let amount = Fen::parse_yuan(&f.amount).map_err(|e| WebError::BadRequest(e.to_string()))?;
    let result =
        s.engine.request_refund(c.0.principal(), &f.payment_id, amount, RefundKind::Overpayment, "多缴款退还").await;
    back_with(&s, &c, result.map(|_| ())).await
}
