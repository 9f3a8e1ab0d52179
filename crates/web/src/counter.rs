//! The cashier's counter (收费窗口, seed 002): find the payer, pick what they pay, scan their
//! WeChat or Alipay payment code. The charge is decided at once, or waits for the payer's
//! password while the page polls; an unconfirmed charge is reversed at the deadline.

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use axum::{Form, Json, Router};
use bursar_domain::payment::{PayMethod, PaymentState};
use bursar_domain::Fen;
use bursar_engine::Actor;
use bursar_store::{payers, receivables};
use serde::Deserialize;

use crate::auth::{self, FinanceSession};
use crate::i18n::Translate as _;
use crate::views::{datetime, render, yuan, Chrome};
use crate::{AppState, WebError};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/admin/counter", get(counter_page).post(collect))
        .route("/admin/counter/payments/{id}", get(result_page))
        .route("/admin/counter/payments/{id}/status", get(status))
}

fn chrome(s: &AppState, session: &FinanceSession) -> Chrome {
    Chrome {
        school_name: s.config.school_name(),
        user_name: session.name.clone(),
        csrf: session.csrf.clone(),
        section: "counter",
        area: "admin",
        finance: true,
    }
}

pub struct DueLine {
    pub id: String,
    pub item: String,
    pub year: String,
    pub outstanding: String,
}

#[derive(Template)]
#[template(path = "admin_counter.html")]
struct CounterPage {
    chrome: Chrome,
    query: String,
    payer_name: String,
    payer_identifier: String,
    lines: Vec<DueLine>,
    error: String,
}

#[derive(Deserialize)]
struct CounterQuery {
    #[serde(default)]
    payer: String,
}

async fn counter_with(
    s: &AppState,
    session: &FinanceSession,
    identifier: &str,
    error: String,
) -> Result<Response, WebError> {
    let identifier = identifier.trim().to_string();
    let mut page = CounterPage {
        chrome: chrome(s, session),
        query: identifier.clone(),
        payer_name: String::new(),
        payer_identifier: String::new(),
        lines: Vec::new(),
        error,
    };
    if !identifier.is_empty() {
        let mut c = s.engine.store().read().await?;
        match payers::payer_by_identifier(&mut c, &identifier).await? {
            Some(p) => {
                let now = s.engine.store().now_ms();
                page.payer_name = p.name.clone();
                page.payer_identifier = p.identifier.clone();
                page.lines = receivables::for_payer(&mut c, &p.id)
                    .await?
                    .into_iter()
                    .filter(|r| r.outstanding().get() > 0 && r.rules().check_open(now).is_ok())
                    .map(|r| DueLine {
                        outstanding: yuan(r.outstanding().get()),
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

async fn counter_page(
    State(s): State<AppState>,
    session: FinanceSession,
    Query(q): Query<CounterQuery>,
) -> Result<Response, WebError> {
    counter_with(&s, &session, &q.payer, String::new()).await
}

async fn collect(
    State(s): State<AppState>,
    session: FinanceSession,
    headers: HeaderMap,
    Form(form): Form<Vec<(String, String)>>,
) -> Result<Response, WebError> {
    let get = |k: &str| form.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone()).unwrap_or_default();
    auth::check_csrf(&session.csrf, Some(&get("csrf")))?;
    let identifier = get("payer");
    let payer = {
        let mut c = s.engine.store().read().await?;
        payers::payer_by_identifier(&mut c, identifier.trim()).await?.ok_or(WebError::NotFound)?
    };
    let mut lines = Vec::new();
    for (_, rid) in form.iter().filter(|(n, _)| n == "sel") {
        let amount =
            Fen::parse_yuan(&get(&format!("amount_{rid}"))).map_err(|e| WebError::BadRequest(e.to_string()))?;
        lines.push((rid.clone(), amount));
    }
    let method = PayMethod::parse(&get("method")).filter(|m| m.is_payment_code());
    let result = async {
        let method = method.ok_or_else(|| WebError::BadRequest("请选择微信或支付宝付款码".into()))?;
        let order = s.engine.create_order(&payer.id, &lines).await?;
        let ip = headers.get("x-forwarded-for").and_then(|v| v.to_str().ok()).unwrap_or("127.0.0.1").to_string();
        Ok::<_, WebError>(
            s.engine
                .collect_by_code(&order, method, &get("auth_code"), &Actor::operator(&session.operator_id), &ip)
                .await?,
        )
    }
    .await;
    match result {
        Ok(p) => Ok(Redirect::to(&format!("/admin/counter/payments/{}", p.id)).into_response()),
        Err(WebError::BadRequest(msg)) => {
            let mut resp = counter_with(&s, &session, &identifier, msg).await?;
            *resp.status_mut() = axum::http::StatusCode::UNPROCESSABLE_ENTITY;
            Ok(resp)
        }
        Err(e) => Err(e),
    }
}

#[derive(Template)]
#[template(path = "admin_counter_result.html")]
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

async fn result_page(
    State(s): State<AppState>,
    session: FinanceSession,
    Path(id): Path<String>,
) -> Result<Response, WebError> {
    let p = s.engine.refresh_payment(&id).await?;
    let state = p.state();
    render(&ResultPage {
        chrome: chrome(&s, &session),
        id: p.id.clone(),
        state_code: state.as_str(),
        state: state.label_zh(),
        waiting: state == PaymentState::Paying,
        amount: yuan(p.amount_fen),
        method: PayMethod::parse(&p.method).map(PayMethod::label_zh).unwrap_or(""),
        merchant_order_no: p.merchant_order_no.clone(),
        reason: p.failure_reason.clone().unwrap_or_default(),
        time: datetime(p.succeeded_at_ms.unwrap_or(p.created_at_ms)),
    })
}

#[derive(serde::Serialize)]
struct StatusJson {
    state: String,
}

async fn status(
    State(s): State<AppState>,
    _session: FinanceSession,
    Path(id): Path<String>,
) -> Result<Response, WebError> {
    let p = s.engine.refresh_payment(&id).await?;
    Ok(Json(StatusJson { state: p.state }).into_response())
}
