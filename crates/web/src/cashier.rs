//! The hosted cashier (收银台) for business systems' orders: the app sends the payer to
//! `/cashier/{token}` (the token comes back from order creation); the payer chooses any channel
//! the order's items accept, pays, and returns to the app's return URL with a signed result.
//! An app whose user is already signed in can hand them over with a short-lived, single-use,
//! signed SSO token (`/cashier/sso`), which also starts a portal session.

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use axum::{Form, Json, Router};
use base64::Engine as _;
use bursar_domain::order::OrderState;
use bursar_domain::payment::{PayMethod, PaymentState};
use bursar_engine::PayContext;
use bursar_store::api::{self as api_store, ApiOrderRow, AppRow};
use bursar_store::payments as pay_store;
use serde::Deserialize;

use crate::api::hmac_hex;
use crate::auth;
use crate::i18n::Translate as _;
use crate::portal::MethodOption;
use crate::views::{render, yuan, ActionView};
use crate::{AppState, WebError};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/cashier/sso", get(sso))
        .route("/cashier/{token}", get(cashier_page).post(pay))
        .route("/cashier/{token}/payments/{id}", get(payment_page).post(front_return))
        .route("/cashier/{token}/payments/{id}/status", get(status))
}

async fn load(s: &AppState, token: &str) -> Result<(ApiOrderRow, AppRow, pay_store::OrderRow), WebError> {
    if token.len() != 32 || !token.chars().all(|c| c.is_ascii_alphanumeric()) {
        return Err(WebError::NotFound);
    }
    let mut c = s.engine.store().read().await?;
    let api = api_store::order_by_token(&mut c, token).await?.ok_or(WebError::NotFound)?;
    let app = api_store::app(&mut c, &api.app_id).await?;
    let order = pay_store::order(&mut c, &api.order_id).await?;
    Ok((api, app, order))
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
#[template(path = "cashier.html")]
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
    let (api, app, order) = load(s, token).await?;
    let (csrf, fresh) = auth::login_csrf(headers);
    let now = s.engine.store().now_ms();
    let state = match OrderState::parse(&order.state) {
        Some(OrderState::Paid) => "paid",
        Some(OrderState::Open) if now >= api.expires_at_ms => "expired",
        Some(OrderState::Open) => "open",
        _ => "closed",
    };
    let methods = if state == "open" {
        s.engine
            .offered_methods(&api.order_id, &order.payer_id, crate::portal::device_of(headers))
            .await?
            .into_iter()
            .filter(|m| *m != PayMethod::CampusCard) // the card needs the payer's own login
            .map(|m| MethodOption { code: m.as_str(), label: m.channel_kind().label_zh().to_string() })
            .collect()
    } else {
        Vec::new()
    };
    let return_url = if state == "paid" {
        let secret = s.engine.app_secrets(&s.engine.config().sealing, &app)?.into_iter().next().unwrap_or_default();
        signed_return_url(&secret, &api, "paid", order.total_fen, now / 1000)
    } else {
        String::new()
    };
    let mut c = s.engine.store().read().await?;
    let lines = pay_store::order_lines(&mut c, &api.order_id)
        .await?
        .into_iter()
        .map(|l| (l.item_name, l.academic_year, yuan(l.amount_fen)))
        .collect();
    drop(c);
    let mut resp = render(&CashierPage {
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
    if fresh {
        auth::set_cookie(&mut resp, auth::LOGIN_CSRF_COOKIE, &csrf, 3600, s.config.secure_cookies);
    }
    Ok(resp)
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
    csrf: String,
    method: String,
}

async fn pay(
    State(s): State<AppState>,
    headers: HeaderMap,
    Path(token): Path<String>,
    Form(f): Form<PayForm>,
) -> Result<Response, WebError> {
    let (csrf, _) = auth::login_csrf(&headers);
    if !bursar_channels::crypto::ct_eq(csrf.as_bytes(), f.csrf.as_bytes()) {
        return Err(WebError::BadCsrf);
    }
    let (api, _, order) = load(&s, &token).await?;
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
    match s.engine.start_payment(&api.order_id, &order.payer_id, method, &ctx).await {
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
#[template(path = "cashier_payment.html")]
struct PaymentPage {
    token: String,
    id: String,
    amount: String,
    state_code: String,
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
) -> Result<(ApiOrderRow, AppRow, pay_store::PaymentRow), WebError> {
    let (api, app, _) = load(s, token).await?;
    let p = s.engine.refresh_payment(id).await.map_err(|_| WebError::NotFound)?;
    if p.order_id != api.order_id {
        return Err(WebError::NotFound);
    }
    Ok((api, app, p))
}

async fn payment_page(
    State(s): State<AppState>,
    Path((token, id)): Path<(String, String)>,
) -> Result<Response, WebError> {
    let (api, app, p) = own_payment(&s, &token, &id).await?;
    let state = p.state();
    let return_url = if state == PaymentState::Succeeded {
        let secret = s.engine.app_secrets(&s.engine.config().sealing, &app)?.into_iter().next().unwrap_or_default();
        signed_return_url(&secret, &api, "paid", p.amount_fen, s.engine.store().now_ms() / 1000)
    } else {
        String::new()
    };
    let act = ActionView::of(&p, state == PaymentState::Paying, s.config.sim_base_url.as_deref());
    let mut resp = render(&PaymentPage {
        token,
        id: p.id.clone(),
        amount: yuan(p.amount_fen),
        state_code: p.state.clone(),
        state: state.label_zh(),
        waiting: state == PaymentState::Paying,
        succeeded: state == PaymentState::Succeeded,
        method: PayMethod::parse(&p.method).map(PayMethod::label_zh).unwrap_or(""),
        merchant_order_no: p.merchant_order_no.clone(),
        return_url,
        act: act.clone(),
    })?;
    act.allow_gateway(&mut resp);
    Ok(resp)
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
    state: String,
}

async fn status(State(s): State<AppState>, Path((token, id)): Path<(String, String)>) -> Result<Response, WebError> {
    let (_, _, p) = own_payment(&s, &token, &id).await?;
    Ok(Json(StatusJson { state: p.state }).into_response())
}

#[derive(Deserialize)]
struct SsoQuery {
    app_id: String,
    token: String,
}

/// An SSO token as an app makes it.
#[derive(Deserialize, serde::Serialize)]
pub struct SsoClaims {
    /// The payer's login identifier.
    pub identifier: String,
    /// Go straight to this order's cashier (optional).
    #[serde(default)]
    pub order_id: Option<String>,
    /// Expiry, Unix seconds (at most 5 minutes ahead).
    pub exp: i64,
    /// Single use.
    pub nonce: String,
}

/// `base64url(claims JSON) + "." + hex(HMAC-SHA256(secret, base64url part))`.
pub fn sso_token(secret: &str, claims: &SsoClaims) -> String {
    let payload =
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(serde_json::to_vec(claims).unwrap_or_default());
    let sig = hmac_hex(secret, payload.as_bytes());
    format!("{payload}.{sig}")
}

async fn sso(State(s): State<AppState>, headers: HeaderMap, Query(q): Query<SsoQuery>) -> Result<Response, WebError> {
    let refuse = |why: &str| WebError::BadRequest(format!("登录凭证无效：{why}"));
    let app = {
        let mut c = s.engine.store().read().await?;
        api_store::app_by_app_id(&mut c, &q.app_id).await?
    }
    .filter(|a| a.state == "active")
    .ok_or_else(|| refuse("应用不存在"))?;
    let (payload, sig) = q.token.split_once('.').ok_or_else(|| refuse("格式错误"))?;
    let secrets = s.engine.app_secrets(&s.engine.config().sealing, &app)?;
    let given = hex::decode(sig).unwrap_or_default();
    let signed = secrets.iter().any(|k| {
        bursar_channels::crypto::ct_eq(&hex::decode(hmac_hex(k, payload.as_bytes())).unwrap_or_default(), &given)
    });
    if !signed {
        return Err(refuse("签名错误"));
    }
    let claims: SsoClaims = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .ok_or_else(|| refuse("内容错误"))?;
    let now_s = s.engine.store().now_ms() / 1000;
    if claims.exp < now_s || claims.exp > now_s + 300 {
        return Err(refuse("已过期"));
    }
    let mut c = s.engine.store().read().await?;
    if claims.nonce.len() < 8
        || !api_store::remember_nonce(&mut c, &app.id, &format!("sso:{}", claims.nonce), now_s * 1000).await?
    {
        return Err(refuse("已使用过"));
    }
    let payer = bursar_store::payers::payer_by_identifier(&mut c, &claims.identifier)
        .await?
        .ok_or_else(|| refuse("缴费人不存在"))?;
    let target = match &claims.order_id {
        Some(order_id) => {
            let api = api_store::order_of(&mut c, order_id)
                .await?
                .filter(|o| o.app_id == app.id)
                .ok_or_else(|| refuse("订单不存在"))?;
            let order = pay_store::order(&mut c, order_id).await?;
            if order.payer_id != payer.id {
                return Err(refuse("订单不属于该缴费人"));
            }
            format!("/cashier/{}", api.cashier_token)
        }
        None => "/portal/fees".to_string(),
    };
    drop(c);
    let mut resp = Redirect::to(&target).into_response();
    auth::start_session(&s, &headers, &mut resp, "payer", &payer.id).await?;
    Ok(resp)
}
