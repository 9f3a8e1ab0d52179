//! Refunds in the finance view: a department (or finance) finds a payment by its merchant order
//! number and requests a refund with a reason; finance approves or rejects; a failed refund is
//! retried or paid by bank transfer. Departments only see and request refunds of their own fees.

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Form, Router};
use bursar_domain::refund::RefundKind;
use bursar_domain::Fen;
use bursar_store::{payers, payments as pay_store, refunds as refund_store};
use serde::Deserialize;

use crate::auth::{self, OperatorSession};
use crate::i18n::Translate as _;
use crate::views::{datetime, method_label, payment_state_label, render, yuan, Chrome};
use crate::{AppState, WebError};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/admin/refunds", get(list).post(request))
        .route("/admin/refunds/new", get(new_page))
        .route("/admin/refunds/{id}/decide", post(decide))
        .route("/admin/refunds/{id}/retry", post(retry))
        .route("/admin/refunds/{id}/manual", post(manual))
        .route("/admin/overpayments", get(overpayments).post(refund_overpayment))
}

fn chrome(s: &AppState, session: &OperatorSession) -> Chrome {
    Chrome {
        school_name: s.config.school_name(),
        user_name: session.operator.name.clone(),
        csrf: session.csrf.clone(),
        section: "refunds",
        area: "admin",
        finance: session.operator.role == "finance",
    }
}

pub struct RefundView {
    pub id: String,
    pub merchant_order_no: String,
    pub payer: String,
    pub amount: String,
    pub kind: &'static str,
    pub reason: String,
    pub state: &'static str,
    pub state_code: String,
    pub failure: String,
    pub created: String,
    pub requested_by: String,
}

#[derive(Template)]
#[template(path = "admin_refunds.html")]
struct ListPage {
    chrome: Chrome,
    refunds: Vec<RefundView>,
    error: String,
}

#[derive(Deserialize)]
struct ListQuery {
    error: Option<String>,
}

async fn list(
    State(s): State<AppState>,
    session: OperatorSession,
    Query(q): Query<ListQuery>,
) -> Result<Response, WebError> {
    let mut c = s.engine.store().read().await?;
    let rows = refund_store::list(&mut c, None, 500).await?;
    let mut refunds = Vec::new();
    for r in rows {
        // A department sees the refunds it asked for; finance sees all.
        if session.operator.role != "finance" && r.requested_by != session.operator.id {
            continue;
        }
        let p = pay_store::payment(&mut c, &r.payment_id).await?;
        let payer = payers::payer(&mut c, &r.payer_id).await?;
        let by = payers::operator(&mut c, &r.requested_by).await.map(|o| o.name).unwrap_or_default();
        refunds.push(RefundView {
            id: r.id.clone(),
            merchant_order_no: p.merchant_order_no,
            payer: format!("{} {}", payer.identifier, payer.name),
            amount: yuan(r.amount_fen),
            kind: RefundKind::parse(&r.kind).map(|k| k.label_zh()).unwrap_or(""),
            reason: r.reason.clone(),
            state: r.state().label_zh(),
            state_code: r.state.clone(),
            failure: r.failure_reason.clone().unwrap_or_default(),
            created: datetime(r.created_at_ms),
            requested_by: by,
        });
    }
    drop(c);
    let error = q.error.filter(|e| e.chars().count() <= 200).unwrap_or_default();
    render(&ListPage { chrome: chrome(&s, &session), refunds, error })
}

#[derive(Template)]
#[template(path = "admin_refund_new.html")]
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
struct NewQuery {
    no: Option<String>,
}

async fn new_page_with(
    s: &AppState,
    session: &OperatorSession,
    no: String,
    error: String,
) -> Result<Response, WebError> {
    let mut c = s.engine.store().read().await?;
    let found = if no.is_empty() { None } else { pay_store::payment_by_merchant_order_no(&mut c, no.trim()).await? };
    let kinds: Vec<(&'static str, &'static str)> = RefundKind::ALL
        .into_iter()
        .filter(|k| session.operator.role == "finance" || *k != RefundKind::Overpayment)
        .map(|k| (k.as_str(), k.label_zh()))
        .collect();
    let page = match found {
        Some(p) => {
            let payer = payers::payer(&mut c, &p.payer_id).await?;
            NewPage {
                chrome: chrome(s, session),
                no,
                found: true,
                payment_id: p.id.clone(),
                payer: format!("{} {}", payer.identifier, payer.name),
                amount: yuan(p.amount_fen),
                method: method_label(&p.method),
                state: payment_state_label(&p.state),
                paid_at: p.succeeded_at_ms.map(datetime).unwrap_or_default(),
                kinds,
                error,
            }
        }
        None => NewPage {
            chrome: chrome(s, session),
            error: if no.is_empty() { error } else { "未找到该商户订单号的交易".into() },
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

async fn new_page(
    State(s): State<AppState>,
    session: OperatorSession,
    Query(q): Query<NewQuery>,
) -> Result<Response, WebError> {
    new_page_with(&s, &session, q.no.unwrap_or_default(), String::new()).await
}

#[derive(Deserialize)]
struct RequestForm {
    csrf: String,
    no: String,
    payment_id: String,
    amount: String,
    kind: String,
    reason: String,
}

async fn request(
    State(s): State<AppState>,
    session: OperatorSession,
    Form(f): Form<RequestForm>,
) -> Result<Response, WebError> {
    auth::check_csrf(&session.csrf, Some(&f.csrf))?;
    let amount = match Fen::parse_yuan(&f.amount) {
        Ok(a) => a,
        Err(e) => return new_page_with(&s, &session, f.no, e.to_string()).await,
    };
    let kind = RefundKind::parse(&f.kind).ok_or_else(|| WebError::BadRequest("请选择退款类型".into()))?;
    match s.engine.request_refund(&session.operator, &f.payment_id, amount, kind, &f.reason).await {
        Ok(_) => Ok(Redirect::to("/admin/refunds").into_response()),
        Err(bursar_engine::EngineError::Rule(e)) => new_page_with(&s, &session, f.no, e.to_string()).await,
        Err(e) => Err(e.into()),
    }
}

#[derive(Deserialize)]
struct DecideForm {
    csrf: String,
    decision: String,
}

fn back_with(result: Result<(), bursar_engine::EngineError>) -> Result<Response, WebError> {
    match result {
        Ok(()) => Ok(Redirect::to("/admin/refunds").into_response()),
        Err(bursar_engine::EngineError::Rule(e)) => {
            let msg: String = e.to_string().chars().filter(|c| !c.is_control()).collect();
            let encoded: String = msg.bytes().map(|b| format!("%{b:02X}")).collect();
            Ok(Redirect::to(&format!("/admin/refunds?error={encoded}")).into_response())
        }
        Err(e) => Err(e.into()),
    }
}

async fn decide(
    State(s): State<AppState>,
    session: OperatorSession,
    Path(id): Path<String>,
    Form(f): Form<DecideForm>,
) -> Result<Response, WebError> {
    auth::check_csrf(&session.csrf, Some(&f.csrf))?;
    let approve = match f.decision.as_str() {
        "approve" => true,
        "reject" => false,
        _ => return Err(WebError::BadRequest("无效的审批结果".into())),
    };
    back_with(s.engine.decide_refund(&session.operator, &id, approve).await)
}

#[derive(Deserialize)]
struct CsrfForm {
    csrf: String,
}

async fn retry(
    State(s): State<AppState>,
    session: OperatorSession,
    Path(id): Path<String>,
    Form(f): Form<CsrfForm>,
) -> Result<Response, WebError> {
    auth::check_csrf(&session.csrf, Some(&f.csrf))?;
    back_with(s.engine.retry_refund(&session.operator, &id).await)
}

#[derive(Deserialize)]
struct ManualForm {
    csrf: String,
    bank_reference: String,
}

async fn manual(
    State(s): State<AppState>,
    session: OperatorSession,
    Path(id): Path<String>,
    Form(f): Form<ManualForm>,
) -> Result<Response, WebError> {
    auth::check_csrf(&session.csrf, Some(&f.csrf))?;
    back_with(s.engine.manual_refund(&session.operator, &id, &f.bank_reference).await)
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
#[template(path = "admin_overpayments.html")]
struct OverpaymentsPage {
    chrome: Chrome,
    rows: Vec<OverpaymentView>,
}

/// Finance's queue of late and duplicate payments: money that reached the school when nothing was
/// owed any more, kept as the payer's credit until it is refunded.
async fn overpayments(State(s): State<AppState>, session: crate::auth::FinanceSession) -> Result<Response, WebError> {
    let mut c = s.engine.store().read().await?;
    let list = refund_store::overpayments(&mut c, 500).await?;
    let mut rows = Vec::with_capacity(list.len());
    for o in list {
        let payer = payers::payer(&mut c, &o.payer_id).await?;
        let left = o.credited_fen - o.refunded_fen;
        rows.push(OverpaymentView {
            payment_id: o.payment_id,
            merchant_order_no: o.merchant_order_no,
            payer: format!("{} {}", payer.identifier, payer.name),
            payment_amount: yuan(o.payment_amount_fen),
            credited: yuan(o.credited_fen),
            refunded: yuan(o.refunded_fen),
            left: yuan(left),
            left_input: Fen(left).to_yuan_string(),
            has_left: left > 0,
            paid_at: o.succeeded_at_ms.map(datetime).unwrap_or_default(),
        });
    }
    drop(c);
    let chrome = Chrome {
        school_name: s.config.school_name(),
        user_name: session.name.clone(),
        csrf: session.csrf.clone(),
        section: "overpayments",
        area: "admin",
        finance: true,
    };
    render(&OverpaymentsPage { chrome, rows })
}

#[derive(Deserialize)]
struct OverpaymentForm {
    csrf: String,
    payment_id: String,
    amount: String,
}

async fn refund_overpayment(
    State(s): State<AppState>,
    session: OperatorSession,
    Form(f): Form<OverpaymentForm>,
) -> Result<Response, WebError> {
    auth::check_csrf(&session.csrf, Some(&f.csrf))?;
    let amount = Fen::parse_yuan(&f.amount).map_err(|e| WebError::BadRequest(e.to_string()))?;
    let result =
        s.engine.request_refund(&session.operator, &f.payment_id, amount, RefundKind::Overpayment, "多缴款退还").await;
    back_with(result.map(|_| ()))
}
