//! The hosted cashier (收银台) for business systems' orders: the app sends the payer to
//! `/cashier/{token}` (the token comes back from order creation); the payer chooses any channel
//! the order's items accept, pays, and returns to the app's return URL with a signed result.
//! An app whose user is already signed in can hand them over with a short-lived, single-use,
//! signed SSO token (`/cashier/sso`), which also starts a portal session.

use crate::guard::{get, post};
use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Redirect, Response};
use axum::{Form, Json};
use bursar_domain::order::OrderState;
use bursar_domain::payment::{PayMethod, PaymentState};
use bursar_engine::access::sso::SsoTarget;
use bursar_engine::queries::public::CashierOrder;
use bursar_engine::rows::ApiOrderRow;
use bursar_engine::PayContext;
use serde::Deserialize;

use crate::api::auth::hmac_hex;
use crate::guard::{self, Guard, Routes};
use crate::i18n::Translate as _;
use crate::portal::fees::MethodOption;
use crate::views::{render, yuan, ActionView};
use crate::{AppState, WebError};

pub fn routes() -> Routes {
    Routes::new()
        .route("/cashier/sso", Guard::Public, get(sso))
        .route("/cashier/{token}", Guard::CashierLink, get(cashier_page).post(pay))
        .route("/cashier/{token}/payments/{id}", Guard::CashierLink, get(payment_page))
        .route("/cashier/{token}/payments/{id}", Guard::GatewayReturn, post(front_return))
        .route("/cashier/{token}/payments/{id}/status", Guard::CashierLink, get(status))
        .route("/cashier/{token}/payments/{id}/voucher", Guard::CashierLink, get(voucher))
}

async fn load(s: &AppState, token: &str) -> Result<CashierOrder, WebError> {
    s.engine.cashier_order(token).await?.ok_or(WebError::NotFound)
}

/// The signed result an app receives on its return URL.
pub fn signed_return_url(secret: &str, api: &ApiOrderRow, status: &str, amount_fen: i64, now_s: i64) -> String {
    let fields = [
        ("amount_fen", amount_fen.to_string()),
        ("order_id", api.order_id.clone()),
        ("out_order_no", api.out_order_no.clone()),
        ("status", status.to_string()),
        ("timestamp", now_s.to_string()),
    ];
    let text = fields.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join("&");
    let sig = hmac_hex(secret, text.as_bytes());
    let query =
        fields.iter().map(|(k, v)| format!("{k}={}", bursar_channels::url_encode(v))).collect::<Vec<_>>().join("&");
    let sep = if api.return_url.contains('?') { '&' } else { '?' };
    format!("{}{sep}{query}&signature={sig}", api.return_url)
}

#[derive(Template)]
#[template(path = "cashier/order.html")]
struct CashierPage {
    app_name: String,
    description: String,
    token: String,
    csrf: String,
    lines: Vec<(String, String, String)>,
    total: String,
    state: &'static str,
    methods: Vec<MethodOption>,
    return_url: String,
    error: String,
}

async fn cashier_with(s: &AppState, headers: &HeaderMap, token: &str, error: String) -> Result<Response, WebError> {
    let co = load(s, token).await?;
    let (api, app, order) = (&co.api, &co.app, &co.order);
    let (csrf, fresh) = guard::login_csrf(headers);
    let now = s.engine.store().now_ms();
    let state = match order.state {
        OrderState::Paid => "paid",
        OrderState::Open if now >= api.expires_at_ms => "expired",
        OrderState::Open => "open",
        OrderState::Closed => "closed",
    };
    let notices = crate::notices::portal_notices(s).await?;
    let methods = if state == "open" {
        s.engine
            .offered_methods(&api.order_id, &order.payer_id, crate::portal::device_of(headers))
            .await?
            .methods
            .into_iter()
            .filter(|m| *m != PayMethod::CampusCard) // the card needs the payer's own login
            .map(|m| MethodOption {
                code: m.as_str(),
                label: m.channel_kind().label_zh().to_string(),
                maintenance: notices.for_channel(m.channel_kind()),
            })
            .collect()
    } else {
        Vec::new()
    };
    let return_url = if state == "paid" {
        let secret = first_secret(s, app)?;
        signed_return_url(&secret, api, "paid", order.total_fen.get(), now / 1000)
    } else {
        String::new()
    };
    let lines = co.lines.iter().map(|l| (l.item_name.clone(), l.academic_year.clone(), yuan(l.amount_fen))).collect();
    let resp = render(&CashierPage {
        app_name: app.name.clone(),
        description: api.description.clone(),
        token: token.to_string(),
        csrf: csrf.clone(),
        lines,
        total: yuan(order.total_fen),
        state,
        methods,
        return_url,
        error,
    })?;
    Ok(guard::with_login_csrf(resp, &csrf, fresh, s.config.secure_cookies))
}

fn first_secret(s: &AppState, app: &bursar_engine::rows::AppRow) -> Result<String, WebError> {
    s.engine
        .app_secrets(app)?
        .into_iter()
        .next()
        .ok_or_else(|| WebError::Internal(format!("app {} has no secret", app.app_id)))
}

async fn cashier_page(
    State(s): State<AppState>,
    headers: HeaderMap,
    Path(token): Path<String>,
) -> Result<Response, WebError> {
    cashier_with(&s, &headers, &token, String::new()).await
}

#[derive(Deserialize)]
struct PayForm {
    method: String,
}

async fn pay(
    State(s): State<AppState>,
    headers: HeaderMap,
    Path(token): Path<String>,
    Form(f): Form<PayForm>,
) -> Result<Response, WebError> {
    let co = load(&s, &token).await?;
    let (api, order) = (&co.api, &co.order);
    if s.engine.store().now_ms() >= api.expires_at_ms {
        return cashier_with(&s, &headers, &token, "订单已过期".into()).await;
    }
    let method = PayMethod::parse(&f.method)
        .filter(|m| *m != PayMethod::CampusCard)
        .ok_or_else(|| WebError::BadRequest("请选择支付方式".into()))?;
    let ctx = PayContext {
        client_ip: crate::portal::client_ip(&headers),
        openid: crate::portal::openid_for(&s, &order.payer_id),
        return_base: Some(format!(
            "{}/cashier/{token}/payments",
            s.engine.config().public_base_url.trim_end_matches('/')
        )),
    };
    match s.engine.start_payment(&co.payer, &api.order_id, method, &ctx).await {
        Ok(p) => Ok(Redirect::to(&format!("/cashier/{token}/payments/{}#go", p.id)).into_response()),
        Err(e) => {
            let msg = WebError::from(e).to_string();
            let mut resp = cashier_with(&s, &headers, &token, msg).await?;
            *resp.status_mut() = axum::http::StatusCode::UNPROCESSABLE_ENTITY;
            Ok(resp)
        }
    }
}

#[derive(Template)]
#[template(path = "cashier/payment.html")]
struct PaymentPage {
    token: String,
    id: String,
    amount: String,
    state_code: &'static str,
    state: &'static str,
    waiting: bool,
    succeeded: bool,
    method: &'static str,
    merchant_order_no: String,
    return_url: String,
    act: ActionView,
}

async fn own_payment(
    s: &AppState,
    token: &str,
    id: &str,
) -> Result<(CashierOrder, bursar_engine::rows::PaymentRow), WebError> {
    s.engine.cashier_payment(token, id).await?.ok_or(WebError::NotFound)
}

async fn payment_page(
    State(s): State<AppState>,
    Path((token, id)): Path<(String, String)>,
) -> Result<Response, WebError> {
    let (co, p) = own_payment(&s, &token, &id).await?;
    let state = p.state;
    let return_url = if state == PaymentState::Succeeded {
        let secret = first_secret(&s, &co.app)?;
        signed_return_url(&secret, &co.api, "paid", p.amount_fen.get(), s.engine.store().now_ms() / 1000)
    } else {
        String::new()
    };
    let act = ActionView::of(&p, state == PaymentState::Paying, s.config.sim_base_url.as_deref());
    let mut resp = render(&PaymentPage {
        token,
        id: p.id.clone(),
        amount: yuan(p.amount_fen),
        state_code: state.as_str(),
        state: state.label_zh(),
        waiting: state == PaymentState::Paying,
        succeeded: state == PaymentState::Succeeded,
        method: p.method.label_zh(),
        merchant_order_no: p.merchant_order_no.clone(),
        return_url,
        act: act.clone(),
    })?;
    act.allow_gateway(&mut resp);
    Ok(resp)
}

#[derive(Template)]
#[template(path = "cashier/voucher.html")]
struct VoucherPage {
    school_name: String,
    v: crate::portal::VoucherBody,
    return_url: String,
}

/// The voucher of a payment made through this link (for payers who came from a business system
/// and have no portal account), with the way back to it.
async fn voucher(
    State(s): State<AppState>,
    Path((token, id)): Path<(String, String)>,
    axum::extract::Query(paper): axum::extract::Query<crate::portal::PaperQuery>,
) -> Result<Response, WebError> {
    let Some(facts) = s.engine.cashier_voucher(&token, &id).await? else { return Err(WebError::NotFound) };
    let co = load(&s, &token).await?;
    let secret = first_secret(&s, &co.app)?;
    let return_url =
        signed_return_url(&secret, &co.api, "paid", facts.payment.amount_fen.get(), s.engine.store().now_ms() / 1000);
    render(&VoucherPage {
        school_name: s.config.school_name(),
        v: crate::portal::voucher_body(&s, facts, &paper),
        return_url,
    })
}

/// A gateway's front return (cross-site POST): redirect to the page itself.
async fn front_return(Path((token, id)): Path<(String, String)>) -> Response {
    let ok = |x: &str| !x.is_empty() && x.chars().all(|c| c.is_ascii_alphanumeric());
    if !ok(&token) || !ok(&id) {
        return WebError::NotFound.into_response();
    }
    Redirect::to(&format!("/cashier/{token}/payments/{id}")).into_response()
}

#[derive(serde::Serialize)]
struct StatusJson {
    state: &'static str,
}

async fn status(State(s): State<AppState>, Path((token, id)): Path<(String, String)>) -> Result<Response, WebError> {
    let (_, p) = own_payment(&s, &token, &id).await?;
    Ok(Json(StatusJson { state: p.state.as_str() }).into_response())
}

#[derive(Deserialize)]
struct SsoQuery {
    app_id: String,
    token: String,
}

pub use bursar_engine::access::sso::{sso_token, SsoClaims};

async fn sso(State(s): State<AppState>, headers: HeaderMap, Query(q): Query<SsoQuery>) -> Result<Response, WebError> {
    let previous = guard::cookie_value(&headers, guard::SESSION_COOKIE);
    match s.engine.sso_login(&q.app_id, &q.token, previous.as_deref()).await? {
        Ok((started, target)) => {
            let target = match target {
                SsoTarget::Cashier(token) => format!("/cashier/{token}"),
                SsoTarget::Portal => "/portal/fees".to_string(),
            };
            let mut resp = Redirect::to(&target).into_response();
            guard::start_cookie(&mut resp, &s, &started);
            Ok(resp)
        }
        Err(why) => Err(WebError::BadRequest(format!("登录凭证无效：{why}"))),
    }
}
