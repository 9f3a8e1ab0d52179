//! The cashier's counter (收费窗口, seed 002): find the payer, pick what they pay, scan their
//! WeChat or Alipay payment code. The charge is decided at once, or waits for the payer's
//! password while the page polls; an unconfirmed charge is reversed at the deadline.

use crate::guard::get;
use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Redirect, Response};
use axum::{Form, Json};
use bursar_domain::access::Permission;
use bursar_domain::payment::{PayMethod, PaymentState};
use bursar_domain::Fen;
use bursar_engine::collection::counter::Tender;
use serde::Deserialize;

use crate::guard::{Guard, OperatorCtx, Routes};
use crate::i18n::Translate as _;
use crate::views::{datetime, render, yuan, Chrome};
use crate::{AppState, WebError};

pub fn routes() -> Routes {
    let g = Guard::Permission(Permission::CollectAtCounter);
    Routes::new()
        .route("/admin/counter", g, get(counter_page).post(collect))
        .route("/admin/counter/payments/{id}", g, get(result_page))
        .route("/admin/counter/payments/{id}/status", g, get(status))
        .route("/admin/counter/payments/{id}/voucher", g, get(voucher))
}

fn chrome(s: &AppState, c: &OperatorCtx) -> Chrome {
    super::chrome(s, &c.0, "counter")
}

pub struct DueLine {
    pub id: String,
    pub item: String,
    pub year: String,
    pub outstanding: String,
    /// The same in yuan as the amount field takes it (`1200.00`).
    pub outstanding_input: String,
}

/// A payer found by a search, to choose from.
pub struct FoundPayer {
    pub id: String,
    pub identifier: String,
    pub name: String,
    pub kind: &'static str,
    pub department: String,
    pub class_name: String,
    pub id_masked: String,
}

#[derive(Template)]
#[template(path = "admin/counter.html")]
struct CounterPage {
    chrome: Chrome,
    query: String,
    found: Vec<FoundPayer>,
    payer_id: String,
    payer_name: String,
    payer_identifier: String,
    payer_facts: String,
    lines: Vec<DueLine>,
    /// A one-time ticket: submitting the same cash form twice records one payment.
    ticket: String,
    error: String,
}

#[derive(Deserialize)]
pub struct CounterQuery {
    /// What the cashier typed: a number, a name, a class or the ID number's last four.
    #[serde(default)]
    payer: String,
    /// The payer chosen from the results.
    #[serde(default)]
    pid: String,
}

fn ticket() -> String {
    use rand::Rng as _;
    hex::encode(rand::thread_rng().gen::<[u8; 16]>())
}

async fn counter_with(s: &AppState, c: &OperatorCtx, q: &CounterQuery, error: String) -> Result<Response, WebError> {
    let query = q.payer.trim().to_string();
    let mut page = CounterPage {
        chrome: chrome(s, c),
        query: query.clone(),
        found: Vec::new(),
        payer_id: String::new(),
        payer_name: String::new(),
        payer_identifier: String::new(),
        payer_facts: String::new(),
        lines: Vec::new(),
        ticket: ticket(),
        error,
    };
    let view = s.engine.operator_view(c.0.principal());
    let mut chosen = q.pid.trim().to_string();
    if chosen.is_empty() && !query.is_empty() {
        let found = view.counter_search(&query).await?;
        match found.len() {
            0 if page.error.is_empty() => {
                page.error = format!("未找到缴费人「{query}」：可按学号/工号、姓名、班级或证件号后四位查找")
            }
            1 => chosen = found[0].id.clone(),
            _ => {
                page.found = found
                    .into_iter()
                    .map(|p| FoundPayer {
                        id: p.id,
                        identifier: p.identifier,
                        name: p.name,
                        kind: p.kind.label_zh(),
                        department: p.department.unwrap_or_default(),
                        class_name: p.class_name,
                        id_masked: p.id_number_masked,
                    })
                    .collect()
            }
        }
    }
    if !chosen.is_empty() {
        let (p, receivables) = view.counter_payer_by_id(&chosen).await?;
        let now = s.engine.store().now_ms();
        page.payer_id = p.id.clone();
        page.payer_name = p.name.clone();
        page.payer_identifier = p.identifier.clone();
        page.payer_facts = [p.kind.label_zh().to_string(), p.class_name.clone(), p.id_number_masked.clone()]
            .into_iter()
            .filter(|x| !x.is_empty())
            .collect::<Vec<_>>()
            .join(" · ");
        page.lines = receivables
            .into_iter()
            .filter(|r| r.outstanding().is_positive() && r.rules().check_open(now).is_ok())
            .map(|r| DueLine {
                outstanding: yuan(r.outstanding()),
                outstanding_input: r.outstanding().to_yuan_string(),
                id: r.id,
                item: r.item_name,
                year: r.academic_year,
            })
            .collect();
    }
    render(&page)
}

pub async fn counter_page(
    State(s): State<AppState>,
    c: OperatorCtx,
    Query(q): Query<CounterQuery>,
) -> Result<Response, WebError> {
    counter_with(&s, &c, &q, String::new()).await
}

pub async fn collect(
    State(s): State<AppState>,
    c: OperatorCtx,
    headers: HeaderMap,
    Form(form): Form<Vec<(String, String)>>,
) -> Result<Response, WebError> {
    let get = |k: &str| form.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone()).unwrap_or_default();
    let by = c.0.principal().clone();
    let view = s.engine.operator_view(&by);
    let payer_id = match get("pid").trim() {
        "" => view.counter_payer(get("payer").trim()).await?.ok_or(WebError::NotFound)?.0.id,
        id => view.counter_payer_by_id(id).await?.0.id,
    };
    let again = CounterQuery { payer: String::new(), pid: payer_id.clone() };
    let mut lines = Vec::new();
    for (_, rid) in form.iter().filter(|(n, _)| n == "sel") {
        let amount =
            Fen::parse_yuan(&get(&format!("amount_{rid}"))).map_err(|e| WebError::BadRequest(e.to_string()))?;
        lines.push((rid.clone(), amount));
    }
    let result = async {
        let method = PayMethod::parse(&get("method")).ok_or_else(|| WebError::BadRequest("请选择收款方式".into()))?;
        if method.is_payment_code() {
            let order = s.engine.create_counter_order(&by, &payer_id, &lines).await?;
            let ip = crate::portal::client_ip(&headers);
            return Ok::<_, WebError>(s.engine.collect_by_code(&by, &order, method, &get("auth_code"), &ip).await?);
        }
        let tender = match method {
            PayMethod::OfflineCash => Tender::Cash,
            PayMethod::OfflinePos => Tender::Pos { reference: get("pos_ref") },
            _ => return Err(WebError::BadRequest("请选择收款方式".into())),
        };
        Ok(s.engine.collect_at_counter(&by, &payer_id, &lines, &tender, &get("ticket")).await?)
    }
    .await;
    match result {
        Ok(p) => Ok(Redirect::to(&format!("/admin/counter/payments/{}", p.id)).into_response()),
        Err(WebError::BadRequest(msg)) => {
            let mut resp = counter_with(&s, &c, &again, msg).await?;
            *resp.status_mut() = axum::http::StatusCode::UNPROCESSABLE_ENTITY;
            Ok(resp)
        }
        Err(e) => Err(e),
    }
}

#[derive(Template)]
#[template(path = "admin/counter_result.html")]
struct ResultPage {
    chrome: Chrome,
    id: String,
    state_code: &'static str,
    state: &'static str,
    waiting: bool,
    amount: String,
    method: &'static str,
    merchant_order_no: String,
    reason: String,
    time: String,
    /// The voucher to print, once it succeeded.
    voucher: String,
}

pub async fn result_page(
    State(s): State<AppState>,
    c: OperatorCtx,
    Path(id): Path<String>,
) -> Result<Response, WebError> {
    let p = s.engine.operator_view(c.0.principal()).counter_payment(&id).await?;
    let state = p.state;
    render(&ResultPage {
        chrome: chrome(&s, &c),
        id: p.id.clone(),
        state_code: state.as_str(),
        state: state.label_zh(),
        waiting: state == PaymentState::Paying,
        amount: yuan(p.amount_fen),
        method: p.method.label_zh(),
        merchant_order_no: p.merchant_order_no.clone(),
        reason: p.failure_reason.clone().unwrap_or_default(),
        time: datetime(p.succeeded_at_ms.unwrap_or(p.created_at_ms)),
        voucher: if state == PaymentState::Succeeded {
            format!("/admin/counter/payments/{}/voucher", p.id)
        } else {
            String::new()
        },
    })
}

#[derive(serde::Serialize)]
struct StatusJson {
    state: &'static str,
}

pub async fn status(State(s): State<AppState>, c: OperatorCtx, Path(id): Path<String>) -> Result<Response, WebError> {
    let p = s.engine.operator_view(c.0.principal()).counter_payment(&id).await?;
    Ok(Json(StatusJson { state: p.state.as_str() }).into_response())
}

#[derive(Template)]
#[template(path = "admin/counter_voucher.html")]
struct VoucherPage {
    school_name: String,
    v: crate::portal::VoucherBody,
}

/// The voucher (缴费凭证) of a payment taken at the counter, to print and hand over.
pub async fn voucher(
    State(s): State<AppState>,
    c: OperatorCtx,
    Path(id): Path<String>,
    axum::extract::Query(paper): axum::extract::Query<crate::portal::PaperQuery>,
) -> Result<Response, WebError> {
    let Some(facts) = s.engine.counter_voucher(c.0.principal(), &id).await? else { return Err(WebError::NotFound) };
    render(&VoucherPage { school_name: s.config.school_name(), v: crate::portal::voucher_body(&s, facts, &paper) })
}
