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

#[derive(Template)]
#[template(path = "admin/counter.html")]
struct CounterPage {
    chrome: Chrome,
    query: String,
    payer_name: String,
    payer_identifier: String,
    lines: Vec<DueLine>,
    error: String,
}

#[derive(Deserialize)]
pub struct CounterQuery {
    #[serde(default)]
    payer: String,
}

async fn counter_with(s: &AppState, c: &OperatorCtx, identifier: &str, error: String) -> Result<Response, WebError> {
    let identifier = identifier.trim().to_string();
    let mut page = CounterPage {
        chrome: chrome(s, c),
        query: identifier.clone(),
        payer_name: String::new(),
        payer_identifier: String::new(),
        lines: Vec::new(),
        error,
    };
    if !identifier.is_empty() {
        match s.engine.operator_view(c.0.principal()).counter_payer(&identifier).await? {
            Some((p, receivables)) => {
                let now = s.engine.store().now_ms();
                page.payer_name = p.name.clone();
                page.payer_identifier = p.identifier.clone();
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
            None if page.error.is_empty() => page.error = format!("未找到缴费人 {identifier}"),
            None => {}
        }
    }
    render(&page)
}

pub async fn counter_page(
    State(s): State<AppState>,
    c: OperatorCtx,
    Query(q): Query<CounterQuery>,
) -> Result<Response, WebError> {
    counter_with(&s, &c, &q.payer, String::new()).await
}

pub async fn collect(
    State(s): State<AppState>,
    c: OperatorCtx,
    headers: HeaderMap,
    Form(form): Form<Vec<(String, String)>>,
) -> Result<Response, WebError> {
    let get = |k: &str| form.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone()).unwrap_or_default();
    let identifier = get("payer");
    let by = c.0.principal().clone();
    let (payer, _) = s.engine.operator_view(&by).counter_payer(identifier.trim()).await?.ok_or(WebError::NotFound)?;
    let mut lines = Vec::new();
    for (_, rid) in form.iter().filter(|(n, _)| n == "sel") {
        let amount =
            Fen::parse_yuan(&get(&format!("amount_{rid}"))).map_err(|e| WebError::BadRequest(e.to_string()))?;
        lines.push((rid.clone(), amount));
    }
    let method = PayMethod::parse(&get("method")).filter(|m| m.is_payment_code());
    let result = async {
        let method = method.ok_or_else(|| WebError::BadRequest("请选择微信或支付宝付款码".into()))?;
        let order = s.engine.create_counter_order(&by, &payer.id, &lines).await?;
        let ip = crate::portal::client_ip(&headers);
        Ok::<_, WebError>(s.engine.collect_by_code(&by, &order, method, &get("auth_code"), &ip).await?)
    }
    .await;
    match result {
        Ok(p) => Ok(Redirect::to(&format!("/admin/counter/payments/{}", p.id)).into_response()),
        Err(WebError::BadRequest(msg)) => {
            let mut resp = counter_with(&s, &c, &identifier, msg).await?;
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
