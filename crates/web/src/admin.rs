//! The finance view: operators log in and see collection per fee item, payments, and the channel
//! event log (including refused notifications).

use askama::Template;
use axum::extract::{Query, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Form, Router};
use bursar_domain::fee::{FeeItemStatus, FeeType};
use bursar_store::{payers, payments as pay_store, receivables};
use serde::Deserialize;

use crate::auth::{self, FinanceSession};
use crate::i18n::Translate as _;
use crate::views::{datetime, method_label, payment_state_label, render, yuan, Chrome};
use crate::{AppState, WebError};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/admin", get(dashboard))
        .route("/admin/login", get(login_page).post(login))
        .route("/admin/logout", post(logout))
        .route("/admin/payments", get(payments))
        .merge(crate::refunds::routes())
        .merge(crate::counter::routes())
        .merge(crate::imports::routes())
        .merge(crate::channels::routes())
        .merge(crate::apps::routes())
}

fn chrome(s: &AppState, session: &FinanceSession, section: &'static str) -> Chrome {
    Chrome {
        school_name: s.config.school_name(),
        user_name: session.name.clone(),
        csrf: session.csrf.clone(),
        section,
        area: "admin",
        finance: true,
    }
}

#[derive(Template)]
#[template(path = "admin_login.html")]
struct LoginPage {
    school_name: String,
    csrf: String,
    error: String,
    username: String,
}

async fn login_page(State(s): State<AppState>, headers: HeaderMap) -> Result<Response, WebError> {
    let (csrf, fresh) = auth::login_csrf(&headers);
    let mut resp = render(&LoginPage {
        school_name: s.config.school_name(),
        csrf: csrf.clone(),
        error: String::new(),
        username: String::new(),
    })?;
    if fresh {
        auth::set_cookie(&mut resp, auth::LOGIN_CSRF_COOKIE, &csrf, 3600, s.config.secure_cookies);
    }
    Ok(resp)
}

#[derive(Deserialize)]
struct LoginForm {
    username: String,
    password: String,
    csrf: String,
}

async fn login(State(s): State<AppState>, headers: HeaderMap, Form(f): Form<LoginForm>) -> Result<Response, WebError> {
    let username = f.username.trim().to_string();
    let op = {
        let mut c = s.engine.store().read().await?;
        payers::operator_by_username(&mut c, &username).await?
    };
    let home = if op.as_ref().is_some_and(|o| o.role == "finance") { "/admin" } else { "/admin/refunds" };
    let account = op.map(|o| (o.id, o.password_hash));
    match auth::password_login(&s, &headers, &f.csrf, &format!("operator:{username}"), account, &f.password).await? {
        Ok(operator_id) => {
            let mut resp = Redirect::to(home).into_response();
            auth::start_session(&s, &headers, &mut resp, "operator", &operator_id).await?;
            Ok(resp)
        }
        Err(refused) => {
            let page =
                LoginPage { school_name: s.config.school_name(), csrf: refused.csrf, error: refused.message, username };
            let mut resp = render(&page)?;
            *resp.status_mut() = axum::http::StatusCode::UNAUTHORIZED;
            Ok(resp)
        }
    }
}

#[derive(Deserialize)]
struct CsrfForm {
    csrf: String,
}

async fn logout(
    State(s): State<AppState>,
    session: FinanceSession,
    headers: HeaderMap,
    Form(f): Form<CsrfForm>,
) -> Result<Response, WebError> {
    auth::check_csrf(&session.csrf, Some(&f.csrf))?;
    let mut resp = Redirect::to("/admin/login").into_response();
    auth::end_session(&s, &headers, &mut resp).await?;
    Ok(resp)
}

pub struct CollectionView {
    pub code: String,
    pub name: String,
    pub fee_type: &'static str,
    pub status: &'static str,
    pub receivables: i64,
    pub settled: i64,
    pub due: String,
    pub paid: String,
    pub outstanding: String,
    /// Collected share, 0–100, for the bar.
    pub percent: i64,
    /// The same with one decimal, for people.
    pub percent_text: String,
}

#[derive(Template)]
#[template(path = "admin_dashboard.html")]
struct DashboardPage {
    chrome: Chrome,
    items: Vec<CollectionView>,
    total_due: String,
    total_paid: String,
    total_percent: String,
    succeeded_count: i64,
    events: Vec<EventView>,
}

pub struct EventView {
    pub time: String,
    pub channel: String,
    pub kind: String,
    pub merchant_order_no: String,
    pub outcome: String,
    pub outcome_label: &'static str,
    pub reason: String,
}

fn percent(part: i64, whole: i64) -> i64 {
    if whole <= 0 {
        0
    } else {
        (part.saturating_mul(100) / whole).clamp(0, 100)
    }
}

/// `12.3%` style, truncated (never shows 100% before everything is collected).
fn percent_text(part: i64, whole: i64) -> String {
    if whole <= 0 {
        return "—".into();
    }
    let per_mille = (part.saturating_mul(1000) / whole).clamp(0, 1000);
    format!("{}.{}%", per_mille / 10, per_mille % 10)
}

fn outcome_label(code: &str) -> &'static str {
    match code {
        "credited" => "已入账",
        "duplicate" => "重复通知（已忽略）",
        "refused" => "已拒绝",
        "applied" => "已处理",
        "unchanged" => "无变化",
        "error" => "处理出错（渠道将重试）",
        _ => "其他",
    }
}

fn channel_label(code: &str) -> &'static str {
    match code {
        "wechatpay" => "微信支付",
        _ => "其他渠道",
    }
}

async fn dashboard(State(s): State<AppState>, session: FinanceSession) -> Result<Response, WebError> {
    let mut c = s.engine.store().read().await?;
    let rows = receivables::collection_by_item(&mut c).await?;
    let succeeded = pay_store::count_in_state(&mut c, "succeeded").await?;
    let events = pay_store::channel_events(&mut c, 20).await?;
    drop(c);
    let total_due: i64 = rows.iter().map(|r| r.due_fen).sum();
    let total_paid: i64 = rows.iter().map(|r| r.paid_fen).sum();
    render(&DashboardPage {
        chrome: chrome(&s, &session, "dashboard"),
        items: rows
            .iter()
            .map(|r| CollectionView {
                code: r.code.clone(),
                name: r.name.clone(),
                fee_type: FeeType::parse(&r.fee_type).map(|t| t.label_zh()).unwrap_or(""),
                status: FeeItemStatus::parse(&r.status).map(|t| t.label_zh()).unwrap_or(""),
                receivables: r.receivables,
                settled: r.settled,
                due: yuan(r.due_fen),
                paid: yuan(r.paid_fen),
                outstanding: yuan(r.due_fen - r.paid_fen),
                percent: percent(r.paid_fen, r.due_fen),
                percent_text: percent_text(r.paid_fen, r.due_fen),
            })
            .collect(),
        total_due: yuan(total_due),
        total_paid: yuan(total_paid),
        total_percent: percent_text(total_paid, total_due),
        succeeded_count: succeeded,
        events: events
            .into_iter()
            .map(|e| EventView {
                time: datetime(e.received_at_ms),
                channel: channel_label(&e.channel).to_string(),
                kind: if e.kind == "payment_notification" { "支付通知".to_string() } else { e.kind },
                merchant_order_no: e.merchant_order_no.unwrap_or_default(),
                outcome_label: outcome_label(&e.outcome),
                outcome: e.outcome,
                reason: e.reason,
            })
            .collect(),
    })
}

pub struct AdminPaymentView {
    pub merchant_order_no: String,
    pub payer: String,
    pub method: &'static str,
    pub state: &'static str,
    pub state_code: String,
    pub amount: String,
    pub created: String,
    pub succeeded: String,
    pub channel_txn_id: String,
}

#[derive(Template)]
#[template(path = "admin_payments.html")]
struct PaymentsPage {
    chrome: Chrome,
    payments: Vec<AdminPaymentView>,
    state: String,
}

#[derive(Deserialize)]
struct StateQuery {
    state: Option<String>,
}

async fn payments(
    State(s): State<AppState>,
    session: FinanceSession,
    Query(q): Query<StateQuery>,
) -> Result<Response, WebError> {
    let state = q.state.filter(|st| bursar_domain::payment::PaymentState::parse(st).is_some());
    let mut c = s.engine.store().read().await?;
    let rows = pay_store::recent_payments(&mut c, state.as_deref(), 500).await?;
    let mut views = Vec::with_capacity(rows.len());
    for p in rows {
        let payer = payers::payer(&mut c, &p.payer_id).await?;
        views.push(AdminPaymentView {
            merchant_order_no: p.merchant_order_no,
            payer: format!("{} {}", payer.identifier, payer.name),
            method: method_label(&p.method),
            state: payment_state_label(&p.state),
            state_code: p.state,
            amount: yuan(p.amount_fen),
            created: datetime(p.created_at_ms),
            succeeded: p.succeeded_at_ms.map(datetime).unwrap_or_default(),
            channel_txn_id: p.channel_txn_id.unwrap_or_default(),
        });
    }
    render(&PaymentsPage {
        chrome: chrome(&s, &session, "payments"),
        payments: views,
        state: state.unwrap_or_default(),
    })
}
