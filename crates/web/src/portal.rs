//! The payer portal (zh-CN): login, current fees, choosing what to pay, paying by QR, the
//! payment result, vouchers and transaction records.

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Form, Json, Router};
use bursar_domain::fee::FeeType;
use bursar_domain::payer::PayerKind;
use bursar_domain::payment::{Device, PayMethod, PaymentState};
use bursar_domain::Fen;
use bursar_engine::PayContext;
use bursar_store::payments as pay_store;
use bursar_store::{payers, receivables};
use serde::Deserialize;

use crate::auth::{self, PayerSession};
use crate::i18n::Translate as _;
use crate::views::{date_or_unlimited, datetime, method_label, payment_state_label, render, yuan, Chrome};
use crate::{AppState, WebError};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/portal", get(|_: PayerSession| async { Redirect::to("/portal/fees") }))
        .route("/portal/login", get(login_page).post(login))
        .route("/portal/login/new-student", post(login_new_student))
        .route("/portal/logout", post(logout))
        .route("/portal/fees", get(fees))
        .route("/portal/pay", get(pay_page))
        .route("/portal/orders", post(create_order))
        .route("/portal/orders/{id}", get(order_page))
        .route("/portal/orders/{id}/pay", post(pay_order))
        .route("/portal/payments/{id}", get(payment_page).post(front_return))
        .route("/portal/payments/{id}/status", get(payment_status))
        .route("/portal/payments/{id}/close", post(close_payment))
        .route("/portal/payments/{id}/voucher", get(voucher))
        .route("/portal/records", get(records))
        .route("/portal/paid", get(paid_info))
        .route("/receipts/verify/{code}", get(verify_receipt))
}

pub(crate) async fn chrome(s: &AppState, session: &PayerSession, section: &'static str) -> Result<Chrome, WebError> {
    let mut c = s.engine.store().read().await?;
    let payer = payers::payer(&mut c, &session.payer_id).await?;
    Ok(Chrome {
        school_name: s.config.school_name(),
        user_name: payer.name,
        csrf: session.csrf.clone(),
        section,
        area: "portal",
        finance: false,
    })
}

// ---- login ----

#[derive(Template)]
#[template(path = "portal_login.html")]
struct LoginPage {
    school_name: String,
    csrf: String,
    error: String,
    notice: String,
    identifier: String,
    kind: String,
    kinds: Vec<(&'static str, &'static str)>,
    /// Shown after repeated failures: (SVG, token).
    captcha: Option<(String, String)>,
    /// Where to go after logging in (a portal page, e.g. the project being registered for).
    next: String,
    /// The school's fixed initial password, when it uses one (else: last six of the ID number).
    fixed_initial: String,
}

/// Failed logins on an account before a captcha is asked for.
const CAPTCHA_AFTER: i64 = 2;

impl LoginPage {
    fn new(s: &AppState, csrf: String) -> LoginPage {
        LoginPage {
            school_name: s.config.school_name(),
            csrf,
            error: String::new(),
            notice: String::new(),
            identifier: String::new(),
            kind: PayerKind::EnrolledStudent.as_str().into(),
            kinds: crate::account::PASSWORD_KINDS.iter().map(|k| (k.as_str(), k.label_zh())).collect(),
            captcha: None,
            next: String::new(),
            fixed_initial: match &s.config.initial_password {
                bursar_domain::payer::InitialPasswordRule::Fixed(p) => p.clone(),
                bursar_domain::payer::InitialPasswordRule::IdLastSix => String::new(),
            },
        }
    }
    fn with_captcha(mut self, s: &AppState) -> LoginPage {
        let c = crate::captcha::new(&s.config.id_digest_key, s.engine.store().now_ms() / 1000);
        self.captcha = Some((c.svg, c.token));
        self
    }
}

#[derive(Deserialize, Default)]
struct LoginQuery {
    #[serde(default)]
    reset: Option<String>,
    #[serde(default)]
    next: String,
}

/// A page of the portal to continue to after logging in or registering; anything else is dropped.
pub(crate) fn portal_next(next: &str) -> String {
    let p = crate::views::local_path(next);
    if p.starts_with("/portal/") {
        p.to_string()
    } else {
        String::new()
    }
}

async fn login_page(
    State(s): State<AppState>,
    headers: HeaderMap,
    Query(q): Query<LoginQuery>,
) -> Result<Response, WebError> {
    let (csrf, fresh) = auth::login_csrf(&headers);
    let mut page = LoginPage::new(&s, csrf.clone());
    page.next = portal_next(&q.next);
    if q.reset.is_some() {
        page.notice = "密码已重置，请用新密码登录。".into();
    }
    let mut resp = render(&page)?;
    if fresh {
        auth::set_cookie(&mut resp, auth::LOGIN_CSRF_COOKIE, &csrf, 3600, s.config.secure_cookies);
    }
    Ok(resp)
}

#[derive(Deserialize)]
struct LoginForm {
    identifier: String,
    password: String,
    csrf: String,
    #[serde(default)]
    kind: String,
    #[serde(default)]
    captcha: String,
    #[serde(default)]
    captcha_token: String,
    #[serde(default)]
    next: String,
}

fn refused(page: LoginPage) -> Result<Response, WebError> {
    let mut resp = render(&page)?;
    *resp.status_mut() = axum::http::StatusCode::UNAUTHORIZED;
    Ok(resp)
}

/// After login: an initial password must be changed first.
async fn after_login(s: &AppState, headers: &HeaderMap, payer_id: &str, next: &str) -> Result<Response, WebError> {
    let must_change = {
        let mut c = s.engine.store().read().await?;
        let p = payers::payer(&mut c, payer_id).await?;
        p.must_change_password != 0 && p.password_hash != "!"
    };
    let next = portal_next(next);
    let target = if must_change {
        "/portal/account/password"
    } else if !next.is_empty() {
        next.as_str()
    } else {
        "/portal/fees"
    };
    let mut resp = Redirect::to(target).into_response();
    auth::start_session(s, headers, &mut resp, "payer", payer_id).await?;
    Ok(resp)
}

async fn login(State(s): State<AppState>, headers: HeaderMap, Form(f): Form<LoginForm>) -> Result<Response, WebError> {
    let kind = PayerKind::parse(&f.kind)
        .filter(|k| crate::account::PASSWORD_KINDS.contains(k))
        .unwrap_or(PayerKind::EnrolledStudent);
    let identifier = crate::account::stored_identifier(kind, &f.identifier);
    let key = format!("payer:{}:{identifier}", kind.as_str());
    let (failures, locked) = {
        let mut c = s.engine.store().read().await?;
        let now = s.engine.store().now_ms();
        (
            bursar_store::sessions::failures(&mut c, &key).await?,
            bursar_store::sessions::locked_until(&mut c, &key, now).await?.is_some(),
        )
    };
    let mut page = LoginPage::new(&s, f.csrf.clone());
    page.identifier = f.identifier.trim().to_string();
    page.kind = kind.as_str().into();
    page.next = portal_next(&f.next);
    let now_s = s.engine.store().now_ms() / 1000;
    // After repeated failures a captcha is required; a wrong one counts as a failed attempt, so
    // the lock still comes after the usual number of tries (a locked account says so first).
    let captcha_ok = crate::captcha::check(&s.config.id_digest_key, &f.captcha_token, &f.captcha, now_s);
    if !locked && failures >= CAPTCHA_AFTER && !captcha_ok {
        let expected = auth::cookie_value(&headers, auth::LOGIN_CSRF_COOKIE).unwrap_or_default();
        auth::check_csrf(&expected, Some(&f.csrf))?;
        page.error = match auth::throttled_check(&s, &key, false).await {
            Err(WebError::BadRequest(m)) if m.contains("锁定") => m,
            Err(WebError::BadRequest(_)) | Ok(()) => "请输入正确的验证码".into(),
            Err(e) => return Err(e),
        };
        return refused(page.with_captcha(&s));
    }
    let account = {
        let mut c = s.engine.store().read().await?;
        payers::payer_by_login(&mut c, kind.as_str(), &identifier).await?.map(|p| (p.id, p.password_hash))
    };
    match auth::password_login(&s, &headers, &f.csrf, &key, account, &f.password).await? {
        Ok(payer_id) => after_login(&s, &headers, &payer_id, &f.next).await,
        Err(r) => {
            page.csrf = r.csrf;
            page.error = r.message;
            if failures + 1 >= CAPTCHA_AFTER {
                page = page.with_captcha(&s);
            }
            refused(page)
        }
    }
}

#[derive(Deserialize)]
struct NewStudentForm {
    csrf: String,
    id_number: String,
    name: String,
}

/// New students (新生) sign in with their ID document number and name, as admissions gave them.
async fn login_new_student(
    State(s): State<AppState>,
    headers: HeaderMap,
    Form(f): Form<NewStudentForm>,
) -> Result<Response, WebError> {
    let expected = auth::cookie_value(&headers, auth::LOGIN_CSRF_COOKIE).unwrap_or_default();
    auth::check_csrf(&expected, Some(&f.csrf))?;
    let id_number = bursar_domain::payer::normalize_id_number(&f.id_number);
    let digest = auth::id_number_digest(&s.config.id_digest_key, &id_number);
    let payer = {
        let mut c = s.engine.store().read().await?;
        payers::payer_by_id_digest(&mut c, PayerKind::NewStudent.as_str(), &digest).await?
    };
    let ok = payer.as_ref().is_some_and(|p| p.name == f.name.trim());
    let key = format!("payer:new_student:{digest}");
    match auth::throttled_check(&s, &key, ok).await {
        Ok(()) => match payer {
            Some(p) => after_login(&s, &headers, &p.id, "").await,
            None => Err(WebError::Forbidden),
        },
        Err(WebError::BadRequest(message)) => {
            let mut page = LoginPage::new(&s, expected);
            page.error = if message.contains("锁定") { message } else { "证件号码或姓名不正确".into() };
            page.kind = PayerKind::NewStudent.as_str().into();
            refused(page)
        }
        Err(e) => Err(e),
    }
}

#[derive(Deserialize)]
struct CsrfForm {
    csrf: String,
}

async fn logout(
    State(s): State<AppState>,
    session: PayerSession,
    headers: HeaderMap,
    Form(f): Form<CsrfForm>,
) -> Result<Response, WebError> {
    auth::check_csrf(&session.csrf, Some(&f.csrf))?;
    let mut resp = Redirect::to("/portal/login").into_response();
    auth::end_session(&s, &headers, &mut resp).await?;
    Ok(resp)
}

// ---- current fees ----

pub struct FeeRow {
    pub id: String,
    pub item: String,
    pub year: String,
    pub window_start: String,
    pub window_end: String,
    pub status: &'static str,
    pub fee_type: &'static str,
    pub due: String,
    pub paid: String,
    pub outstanding: String,
    pub outstanding_input: String,
    pub partial_allowed: bool,
    pub min_partial: String,
    pub payable: bool,
    pub reason: String,
}

fn fee_row(r: &receivables::ReceivableView, now: i64) -> FeeRow {
    let rules = r.rules();
    let outstanding = r.outstanding();
    let (payable, reason) = if outstanding.get() <= 0 {
        (false, "已缴清".to_string())
    } else {
        match rules.check_open(now) {
            Ok(()) => (true, String::new()),
            Err(e) => (false, e.to_string()),
        }
    };
    FeeRow {
        id: r.id.clone(),
        item: r.item_name.clone(),
        year: r.academic_year.clone(),
        window_start: date_or_unlimited(r.window_start_ms, false),
        window_end: date_or_unlimited(r.window_end_ms, true),
        status: rules.status.label_zh(),
        fee_type: rules.fee_type.label_zh(),
        due: yuan(r.due_fen - r.waived_fen),
        paid: yuan(r.paid_fen),
        outstanding: yuan(outstanding.get()),
        outstanding_input: outstanding.to_yuan_string(),
        partial_allowed: rules.partial_allowed,
        min_partial: yuan(rules.min_partial.get()),
        payable,
        reason,
    }
}

#[derive(Template)]
#[template(path = "portal_fees.html")]
struct FeesPage {
    chrome: Chrome,
    rows: Vec<FeeRow>,
    total_outstanding: String,
    id_masked: String,
}

async fn fees(State(s): State<AppState>, session: PayerSession) -> Result<Response, WebError> {
    let chrome = chrome(&s, &session, "fees").await?;
    let now = s.engine.store().now_ms();
    let mut c = s.engine.store().read().await?;
    let payer = payers::payer(&mut c, &session.payer_id).await?;
    let all = receivables::for_payer(&mut c, &session.payer_id).await?;
    let owing: Vec<_> = all.iter().filter(|r| r.outstanding().get() > 0).collect();
    let total: i64 = owing.iter().map(|r| r.outstanding().get()).sum();
    render(&FeesPage {
        chrome,
        rows: owing.iter().map(|r| fee_row(r, now)).collect(),
        total_outstanding: yuan(total),
        id_masked: payer.id_number_masked,
    })
}

// ---- choose what to pay ----

#[derive(Template)]
#[template(path = "portal_pay.html")]
struct PayPage {
    chrome: Chrome,
    years: Vec<String>,
    year: String,
    groups: Vec<FeeGroup>,
    error: String,
}

pub struct FeeGroup {
    pub title: &'static str,
    pub rows: Vec<FeeRow>,
}

#[derive(Deserialize)]
struct YearQuery {
    year: Option<String>,
}

async fn pay_page_with(
    s: &AppState,
    session: &PayerSession,
    year: Option<String>,
    error: String,
) -> Result<Response, WebError> {
    let chrome = chrome(s, session, "pay").await?;
    let now = s.engine.store().now_ms();
    let mut c = s.engine.store().read().await?;
    let all = receivables::for_payer(&mut c, &session.payer_id).await?;
    let mut years: Vec<String> =
        all.iter().filter(|r| r.outstanding().get() > 0).map(|r| r.academic_year.clone()).collect();
    years.sort_by(|a, b| b.cmp(a));
    years.dedup();
    let year = year.filter(|y| years.contains(y)).or_else(|| years.first().cloned()).unwrap_or_default();
    let rows: Vec<_> = all.iter().filter(|r| r.academic_year == year && r.outstanding().get() > 0).collect();
    let groups = vec![
        FeeGroup {
            title: "学费",
            rows: rows.iter().filter(|r| r.fee_type == FeeType::Tuition.as_str()).map(|r| fee_row(r, now)).collect(),
        },
        FeeGroup {
            title: "其他费用",
            rows: rows.iter().filter(|r| r.fee_type != FeeType::Tuition.as_str()).map(|r| fee_row(r, now)).collect(),
        },
    ];
    let mut resp = render(&PayPage { chrome, years, year, groups, error: error.clone() })?;
    if !error.is_empty() {
        *resp.status_mut() = axum::http::StatusCode::UNPROCESSABLE_ENTITY;
    }
    Ok(resp)
}

async fn pay_page(
    State(s): State<AppState>,
    session: PayerSession,
    Query(q): Query<YearQuery>,
) -> Result<Response, WebError> {
    pay_page_with(&s, &session, q.year, String::new()).await
}

/// The selection form: `sel=<receivable id>` for each chosen line, `amount_<id>=<yuan>`.
async fn create_order(
    State(s): State<AppState>,
    session: PayerSession,
    Form(pairs): Form<Vec<(String, String)>>,
) -> Result<Response, WebError> {
    let get = |k: &str| pairs.iter().find(|(key, _)| key == k).map(|(_, v)| v.as_str());
    auth::check_csrf(&session.csrf, get("csrf"))?;
    let year = get("year").map(str::to_string);
    let mut lines = Vec::new();
    for (k, rid) in &pairs {
        if k != "sel" {
            continue;
        }
        let amount_text = get(&format!("amount_{rid}")).unwrap_or("");
        match Fen::parse_yuan(amount_text) {
            Ok(a) => lines.push((rid.clone(), a)),
            Err(e) => return pay_page_with(&s, &session, year, e.to_string()).await,
        }
    }
    match s.engine.create_or_reuse_order(&session.payer_id, &lines).await {
        Ok(order_id) => Ok(Redirect::to(&format!("/portal/orders/{order_id}")).into_response()),
        Err(bursar_engine::EngineError::Rule(e)) => pay_page_with(&s, &session, year, e.to_string()).await,
        Err(bursar_engine::EngineError::NotFound(_)) => Err(WebError::NotFound),
        Err(e) => Err(e.into()),
    }
}

// ---- confirm the order, choose a channel ----

pub struct LineRow {
    pub item: String,
    pub year: String,
    pub fee_type: &'static str,
    pub amount: String,
}

pub struct PaymentRowView {
    /// Refunds of this payment, for the payer: e.g. `退款 ¥300.00（退款成功）`.
    pub refunds: Vec<String>,
    pub id: String,
    pub merchant_order_no: String,
    pub method: &'static str,
    pub state: &'static str,
    pub state_code: String,
    pub amount: String,
    pub created: String,
    pub succeeded: String,
}

fn payment_view(p: &pay_store::PaymentRow) -> PaymentRowView {
    PaymentRowView {
        refunds: Vec::new(),
        id: p.id.clone(),
        merchant_order_no: p.merchant_order_no.clone(),
        method: method_label(&p.method),
        state: payment_state_label(&p.state),
        state_code: p.state.clone(),
        amount: yuan(p.amount_fen),
        created: datetime(p.created_at_ms),
        succeeded: p.succeeded_at_ms.map(datetime).unwrap_or_default(),
    }
}

pub struct MethodOption {
    pub code: &'static str,
    pub label: String,
}

#[derive(Template)]
#[template(path = "portal_order.html")]
struct OrderPage {
    chrome: Chrome,
    order_id: String,
    state: &'static str,
    open: bool,
    lines: Vec<LineRow>,
    total: String,
    methods: Vec<MethodOption>,
    /// The campus card is offered: the form asks for its password.
    card_offered: bool,
    /// Why some channels are missing (items collected into different accounts…).
    channel_note: String,
    payments: Vec<PaymentRowView>,
    error: String,
}

async fn load_order_lines(s: &AppState, order_id: &str) -> Result<Vec<LineRow>, WebError> {
    let mut c = s.engine.store().read().await?;
    Ok(pay_store::order_lines(&mut c, order_id)
        .await?
        .into_iter()
        .map(|l| LineRow {
            item: l.item_name,
            year: l.academic_year,
            fee_type: FeeType::parse(&l.fee_type).map(|t| t.label_zh()).unwrap_or(""),
            amount: yuan(l.amount_fen),
        })
        .collect())
}

/// Where the payer is paying from, by the browser's User-Agent.
pub(crate) fn device_of(headers: &HeaderMap) -> Device {
    let ua = headers.get(axum::http::header::USER_AGENT).and_then(|v| v.to_str().ok()).unwrap_or("");
    Device::from_user_agent(ua)
}

/// The payer's IP as the front proxy reports it (WeChat H5 needs it); loopback otherwise.
pub(crate) fn client_ip(headers: &HeaderMap) -> String {
    let forwarded = headers.get("x-forwarded-for").and_then(|v| v.to_str().ok()).and_then(|v| v.split(',').next());
    let real = headers.get("x-real-ip").and_then(|v| v.to_str().ok());
    forwarded
        .or(real)
        .map(|v| v.trim().to_string())
        .filter(|v| v.parse::<std::net::IpAddr>().is_ok())
        .unwrap_or_else(|| "127.0.0.1".into())
}

async fn order_page_with(
    s: &AppState,
    session: &PayerSession,
    headers: &HeaderMap,
    id: &str,
    error: String,
) -> Result<Response, WebError> {
    let chrome = chrome(s, session, "pay").await?;
    let mut c = s.engine.store().read().await?;
    let order = pay_store::order(&mut c, id).await?;
    if order.payer_id != session.payer_id {
        return Err(WebError::NotFound);
    }
    let payments = pay_store::payments_of_order(&mut c, id).await?;
    drop(c);
    let state =
        bursar_domain::order::OrderState::parse(&order.state).unwrap_or(bursar_domain::order::OrderState::Closed);
    let offered = s.engine.offered_methods(id, &session.payer_id, device_of(headers)).await?;
    let mut methods = Vec::new();
    for m in &offered {
        let label = match m {
            PayMethod::CampusCard => match s.engine.card_of(&session.payer_id).await? {
                Some(card) => format!("校园卡（余额 ¥{}）", s.engine.card_balance(&card.card_no).await?),
                None => m.channel_kind().label_zh().to_string(),
            },
            _ => m.channel_kind().label_zh().to_string(),
        };
        methods.push(MethodOption { code: m.as_str(), label });
    }
    let card_offered = offered.contains(&PayMethod::CampusCard);
    let channel_note = if offered.is_empty() {
        "所选项目没有可共同使用的支付方式（收款账户不同），请返回分开支付。".to_string()
    } else {
        String::new()
    };
    render(&OrderPage {
        chrome,
        order_id: order.id.clone(),
        state: state.label_zh(),
        open: state == bursar_domain::order::OrderState::Open,
        lines: load_order_lines(s, id).await?,
        total: yuan(order.total_fen),
        methods,
        card_offered,
        channel_note,
        payments: payments.iter().map(payment_view).collect(),
        error,
    })
}

async fn order_page(
    State(s): State<AppState>,
    session: PayerSession,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response, WebError> {
    order_page_with(&s, &session, &headers, &id, String::new()).await
}

#[derive(Deserialize)]
struct PayForm {
    csrf: String,
    method: String,
    #[serde(default)]
    card_password: String,
}

/// The payer's openid under the merchant's WeChat app. Production obtains it by WeChat's OAuth
/// redirect; with the simulators a stable pseudonym of the payer stands in for it.
pub(crate) fn openid_for(s: &AppState, payer_id: &str) -> Option<String> {
    s.config.sim_base_url.as_ref()?;
    let digest = auth::id_number_digest(&s.config.id_digest_key, &format!("openid:{payer_id}"));
    Some(format!("oSim{}", &digest[..24.min(digest.len())]))
}

async fn pay_order(
    State(s): State<AppState>,
    session: PayerSession,
    headers: HeaderMap,
    Path(id): Path<String>,
    Form(f): Form<PayForm>,
) -> Result<Response, WebError> {
    auth::check_csrf(&session.csrf, Some(&f.csrf))?;
    let method = PayMethod::parse(&f.method).ok_or_else(|| WebError::BadRequest("请选择支付方式".into()))?;
    let started = if method == PayMethod::CampusCard {
        let password = f.card_password.clone();
        s.engine.pay_with_card(&id, &session.payer_id, |hash| auth::verify_password(&password, hash)).await
    } else {
        let ctx =
            PayContext { client_ip: client_ip(&headers), openid: openid_for(&s, &session.payer_id), return_base: None };
        s.engine.start_payment(&id, &session.payer_id, method, &ctx).await
    };
    match started {
        // `#go`: this visit comes from choosing the channel, so the page's script may go on to
        // the channel's cashier by itself (a return from the cashier must not bounce back).
        Ok(p) => Ok(Redirect::to(&format!("/portal/payments/{}#go", p.id)).into_response()),
        Err(bursar_engine::EngineError::NotFound(_)) => Err(WebError::NotFound),
        Err(e) => {
            let msg = WebError::from(e).to_string();
            let mut resp = order_page_with(&s, &session, &headers, &id, msg).await?;
            *resp.status_mut() = axum::http::StatusCode::UNPROCESSABLE_ENTITY;
            Ok(resp)
        }
    }
}

// ---- the payment: QR code, waiting, result ----

#[derive(Template)]
#[template(path = "portal_payment.html")]
struct PaymentPage {
    chrome: Chrome,
    p: PaymentRowView,
    order_id: String,
    waiting: bool,
    succeeded: bool,
    expires: String,
    /// What the payer does next (QR, redirect, form, JSAPI).
    act: crate::views::ActionView,
    lines: Vec<LineRow>,
}

async fn own_payment(s: &AppState, session: &PayerSession, id: &str) -> Result<pay_store::PaymentRow, WebError> {
    let p = s.engine.refresh_payment(id).await.map_err(|e| match e {
        bursar_engine::EngineError::Store(bursar_store::StoreError::NotFound(_)) => WebError::NotFound,
        other => other.into(),
    })?;
    if p.payer_id != session.payer_id {
        return Err(WebError::NotFound);
    }
    Ok(p)
}

async fn payment_page(
    State(s): State<AppState>,
    session: PayerSession,
    Path(id): Path<String>,
) -> Result<Response, WebError> {
    let chrome = chrome(&s, &session, "pay").await?;
    let p = own_payment(&s, &session, &id).await?;
    let waiting = p.state() == PaymentState::Paying;
    let act = crate::views::ActionView::of(&p, waiting, s.config.sim_base_url.as_deref());
    let view = {
        let mut c = s.engine.store().read().await?;
        payment_view_with_refunds(&mut c, &p).await?
    };
    let mut resp = render(&PaymentPage {
        chrome,
        order_id: p.order_id.clone(),
        waiting,
        succeeded: p.state() == PaymentState::Succeeded,
        expires: datetime(p.expires_at_ms),
        lines: load_order_lines(&s, &p.order_id).await?,
        p: view,
        act: act.clone(),
    })?;
    act.allow_gateway(&mut resp);
    Ok(resp)
}

/// A gateway (UnionPay) returns the payer by posting a form to the payment page. The post
/// changes nothing (the back notification and the active query decide the payment) and carries
/// no session cookie (it is cross-site): answer with a redirect to the page itself.
async fn front_return(Path(id): Path<String>) -> Response {
    if id.is_empty() || !id.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') {
        return WebError::NotFound.into_response();
    }
    Redirect::to(&format!("/portal/payments/{id}")).into_response()
}

#[derive(serde::Serialize)]
struct StatusJson {
    state: String,
    /// The state as the payer reads it, in their language.
    label: String,
}

async fn payment_status(
    State(s): State<AppState>,
    session: PayerSession,
    Path(id): Path<String>,
) -> Result<Json<StatusJson>, WebError> {
    let p = own_payment(&s, &session, &id).await?;
    Ok(Json(StatusJson { label: crate::i18n::t(payment_state_label(&p.state)).into_owned(), state: p.state }))
}

async fn close_payment(
    State(s): State<AppState>,
    session: PayerSession,
    Path(id): Path<String>,
    Form(f): Form<CsrfForm>,
) -> Result<Response, WebError> {
    auth::check_csrf(&session.csrf, Some(&f.csrf))?;
    let p = own_payment(&s, &session, &id).await?;
    s.engine.close_payment(&id, &session.payer_id).await?;
    Ok(Redirect::to(&format!("/portal/orders/{}", p.order_id)).into_response())
}

// ---- voucher and records ----

#[derive(Template)]
#[template(path = "portal_voucher.html")]
struct VoucherPage {
    chrome: Chrome,
    p: PaymentRowView,
    payer_name: String,
    payer_identifier: String,
    payer_id_masked: String,
    channel_txn_id: String,
    lines: Vec<LineRow>,
    receipt_number: String,
    receipt_state: &'static str,
    verify_url: String,
    verify_qr: String,
}

async fn voucher(
    State(s): State<AppState>,
    session: PayerSession,
    Path(id): Path<String>,
) -> Result<Response, WebError> {
    let chrome = chrome(&s, &session, "records").await?;
    let p = own_payment(&s, &session, &id).await?;
    if p.state() != PaymentState::Succeeded {
        return Err(WebError::BadRequest("该笔支付尚未成功，暂无缴费凭证".into()));
    }
    let mut c = s.engine.store().read().await?;
    let payer = payers::payer(&mut c, &session.payer_id).await?;
    let receipt = bursar_store::receipts::for_payment(&mut c, &p.id).await?.ok_or(WebError::NotFound)?;
    drop(c);
    let verify_url =
        format!("{}/receipts/verify/{}", s.engine.config().public_base_url.trim_end_matches('/'), receipt.verify_code);
    render(&VoucherPage {
        chrome,
        receipt_number: receipt.number,
        receipt_state: receipt_state_label(&receipt.state),
        verify_qr: bursar_channels::qr_svg(&verify_url),
        verify_url,
        payer_name: payer.name,
        payer_identifier: payer.identifier,
        payer_id_masked: payer.id_number_masked,
        channel_txn_id: p.channel_txn_id.clone().unwrap_or_default(),
        lines: load_order_lines(&s, &p.order_id).await?,
        p: payment_view(&p),
    })
}

#[derive(Template)]
#[template(path = "portal_records.html")]
struct RecordsPage {
    chrome: Chrome,
    payments: Vec<PaymentRowView>,
}

/// A payment as the payer sees it, with its refunds (rejected requests are not the payer's concern).
async fn payment_view_with_refunds(
    c: &mut bursar_store::AnyConnection,
    p: &pay_store::PaymentRow,
) -> Result<PaymentRowView, WebError> {
    let mut v = payment_view(p);
    for r in bursar_store::refunds::of_payment(c, &p.id).await? {
        if r.state() != bursar_domain::refund::RefundState::Rejected {
            v.refunds.push(format!("退款 ¥{}（{}）", yuan(r.amount_fen), r.state().label_zh()));
        }
    }
    Ok(v)
}

async fn records(State(s): State<AppState>, session: PayerSession) -> Result<Response, WebError> {
    let chrome = chrome(&s, &session, "records").await?;
    let mut c = s.engine.store().read().await?;
    let payments = pay_store::payments_of_payer(&mut c, &session.payer_id).await?;
    let mut views = Vec::with_capacity(payments.len());
    for p in &payments {
        views.push(payment_view_with_refunds(&mut c, p).await?);
    }
    render(&RecordsPage { chrome, payments: views })
}

pub struct PaidLine {
    pub item: String,
    pub year: String,
    pub due: String,
    pub paid: String,
    pub outstanding: String,
    /// (time, method, amount) of each payment credited to it — every channel, offline included.
    pub payments: Vec<(String, &'static str, String)>,
}

pub struct PaidGroup {
    pub label: &'static str,
    pub lines: Vec<PaidLine>,
    pub paid_total: String,
}

#[derive(Template)]
#[template(path = "portal_paid.html")]
struct PaidPage {
    chrome: Chrome,
    groups: Vec<PaidGroup>,
    recovered: i64,
}

/// 已缴信息 (payer guide §7): what was paid, by fee type, with every payment behind it.
async fn paid_info(State(s): State<AppState>, session: PayerSession) -> Result<Response, WebError> {
    let chrome = chrome(&s, &session, "paid").await?;
    let mut c = s.engine.store().read().await?;
    let mut by_receivable: std::collections::HashMap<String, Vec<(String, &'static str, String)>> = Default::default();
    for p in pay_store::payments_of_payer(&mut c, &session.payer_id).await? {
        if p.state() != PaymentState::Succeeded {
            continue;
        }
        for (kind, rid, amount) in bursar_store::refunds::payment_allocations(&mut c, &p.id).await? {
            if kind == "receivable" {
                let when = datetime(p.succeeded_at_ms.unwrap_or(p.created_at_ms));
                by_receivable.entry(rid).or_default().push((when, method_label(&p.method), yuan(amount)));
            }
        }
    }
    let recovered = pay_store::recovered_count(&mut c, &session.payer_id).await?;
    let receivables = receivables::for_payer(&mut c, &session.payer_id).await?;
    drop(c);
    let mut groups = Vec::new();
    for ft in [FeeType::Tuition, FeeType::Other] {
        let mine: Vec<_> = receivables.iter().filter(|r| r.fee_type == ft.as_str() && r.paid_fen > 0).collect();
        if mine.is_empty() {
            continue;
        }
        groups.push(PaidGroup {
            label: ft.label_zh(),
            paid_total: yuan(mine.iter().map(|r| r.paid_fen).sum()),
            lines: mine
                .iter()
                .map(|r| PaidLine {
                    item: r.item_name.clone(),
                    year: r.academic_year.clone(),
                    due: yuan(r.due_fen - r.waived_fen),
                    paid: yuan(r.paid_fen),
                    outstanding: yuan(r.outstanding().get()),
                    payments: by_receivable.remove(&r.id).unwrap_or_default(),
                })
                .collect(),
        });
    }
    render(&PaidPage { chrome, groups, recovered })
}

pub fn receipt_state_label(code: &str) -> &'static str {
    match code {
        "valid" => "有效",
        "refunded" => "已退款（红冲）",
        "partially_refunded" => "部分退款",
        "void" => "已作废",
        _ => "未知",
    }
}

#[derive(Template)]
#[template(path = "receipt_verify.html")]
struct ReceiptVerifyPage {
    school_name: String,
    number: String,
    state: &'static str,
    valid: bool,
    payer_name: String,
    payer_identifier: String,
    amount: String,
    paid_at: String,
    method: &'static str,
    lines: Vec<LineRow>,
}

/// The public page a receipt's QR code opens: enough to tell a genuine receipt from a forged one,
/// nothing more (masked name and number, no ID number, no phone).
async fn verify_receipt(State(s): State<AppState>, Path(code): Path<String>) -> Result<Response, WebError> {
    if code.len() > 64 || !code.chars().all(|c| c.is_ascii_alphanumeric()) {
        return Err(WebError::NotFound);
    }
    let mut c = s.engine.store().read().await?;
    let receipt = bursar_store::receipts::by_verify_code(&mut c, &code).await?.ok_or(WebError::NotFound)?;
    let payment = pay_store::payment(&mut c, &receipt.payment_id).await?;
    let payer = payers::payer(&mut c, &receipt.payer_id).await?;
    drop(c);
    render(&ReceiptVerifyPage {
        school_name: s.config.school_name(),
        number: receipt.number,
        valid: receipt.state == "valid",
        state: receipt_state_label(&receipt.state),
        payer_name: bursar_domain::payer::mask_name(&payer.name),
        payer_identifier: bursar_domain::payer::mask_identifier(&payer.identifier),
        amount: yuan(receipt.amount_fen),
        paid_at: payment.succeeded_at_ms.map(datetime).unwrap_or_default(),
        method: method_label(&payment.method),
        lines: load_order_lines(&s, &payment.order_id).await?,
    })
}
