//! The payer's own account (payer guide §1–2): personal information with an editable phone,
//! password change (forced after logging in with an initial password), security questions set
//! after confirming the password, "forgot password" answered by those questions, and outside
//! people registering themselves.

use askama::Template;
use axum::extract::{Query, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Form, Router};
use bursar_domain::payer::{mask_id_number, mask_phone, PayerKind};
use bursar_store::payers::{self, NewPayer, SecurityRow};
use serde::Deserialize;

use crate::auth::{self, PayerSession};
use crate::i18n::Translate as _;
use crate::views::{render, Chrome};
use crate::{AppState, WebError};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/portal/account", get(account_page))
        .route("/portal/account/password", get(password_page).post(change_password))
        .route("/portal/account/phone", post(change_phone))
        .route("/portal/account/security", post(set_security))
        .route("/portal/forgot", get(forgot_page).post(forgot_step))
        .route("/portal/register", get(register_page).post(register))
}

/// At least 8 characters with letters and digits.
pub fn password_ok(p: &str) -> bool {
    p.chars().count() >= 8
        && p.chars().count() <= 64
        && p.chars().any(|c| c.is_ascii_alphabetic())
        && p.chars().any(|c| c.is_ascii_digit())
}

const PASSWORD_RULE: &str = "新密码至少 8 位，须同时包含字母和数字";

fn normalize_answer(a: &str) -> String {
    a.trim().to_lowercase()
}

async fn hash(password: &str) -> Result<String, WebError> {
    let p = password.to_string();
    tokio::task::spawn_blocking(move || auth::hash_password(&p)).await.map_err(|e| WebError::Internal(e.to_string()))?
}

async fn verify(password: &str, hash: &str) -> Result<bool, WebError> {
    let (p, h) = (password.to_string(), hash.to_string());
    tokio::task::spawn_blocking(move || auth::verify_password(&p, &h))
        .await
        .map_err(|e| WebError::Internal(e.to_string()))
}

#[derive(Template)]
#[template(path = "portal_account.html")]
struct AccountPage {
    chrome: Chrome,
    name: String,
    identifier: String,
    kind: &'static str,
    id_number: String,
    phone: String,
    phone_masked: String,
    class_name: String,
    department: String,
    questions: Option<(String, String)>,
    forced: bool,
    message: String,
    error: String,
}

#[derive(Deserialize, Default)]
struct AccountQuery {
    #[serde(default)]
    saved: String,
}

async fn render_account(
    s: &AppState,
    session: &PayerSession,
    forced: bool,
    message: String,
    error: String,
) -> Result<Response, WebError> {
    let mut c = s.engine.store().read().await?;
    let p = payers::payer(&mut c, &session.payer_id).await?;
    let department = match &p.department_id {
        Some(d) => payers::department_name(&mut c, d).await?.unwrap_or_default(),
        None => String::new(),
    };
    let questions = payers::security(&mut c, &p.id).await?.map(|q| (q.question1, q.question2));
    drop(c);
    let chrome = Chrome {
        school_name: s.config.school_name(),
        user_name: p.name.clone(),
        csrf: session.csrf.clone(),
        section: "account",
        area: "portal",
        finance: false,
    };
    let mut resp = render(&AccountPage {
        chrome,
        kind: PayerKind::parse(&p.kind).map(PayerKind::label_zh).unwrap_or(""),
        id_number: p.id_number_masked.clone(),
        phone_masked: mask_phone(&p.phone),
        phone: p.phone.clone(),
        class_name: p.class_name.clone(),
        identifier: shown_identifier(&p.kind, &p.identifier),
        name: p.name.clone(),
        department,
        questions,
        forced: forced || p.must_change_password != 0,
        message,
        error: error.clone(),
    })?;
    if !error.is_empty() {
        *resp.status_mut() = axum::http::StatusCode::UNPROCESSABLE_ENTITY;
    }
    Ok(resp)
}

async fn account_page(
    State(s): State<AppState>,
    session: PayerSession,
    Query(q): Query<AccountQuery>,
) -> Result<Response, WebError> {
    let message = match q.saved.as_str() {
        "phone" => "手机号已保存。",
        "password" => "密码已修改。",
        "security" => "密保问题已保存。",
        _ => "",
    };
    render_account(&s, &session, false, message.into(), String::new()).await
}

async fn password_page(State(s): State<AppState>, session: PayerSession) -> Result<Response, WebError> {
    render_account(&s, &session, true, String::new(), String::new()).await
}

#[derive(Deserialize)]
struct PhoneForm {
    csrf: String,
    phone: String,
}

async fn change_phone(
    State(s): State<AppState>,
    session: PayerSession,
    Form(f): Form<PhoneForm>,
) -> Result<Response, WebError> {
    auth::check_csrf(&session.csrf, Some(&f.csrf))?;
    let phone = f.phone.trim();
    if phone.len() != 11 || !phone.bytes().all(|b| b.is_ascii_digit()) {
        return render_account(&s, &session, false, String::new(), "手机号须为 11 位数字".into()).await;
    }
    let mut c = s.engine.store().read().await?;
    payers::set_phone(&mut c, &session.payer_id, phone).await?;
    Ok(Redirect::to("/portal/account?saved=phone").into_response())
}

/// The payer behind a form that changes their account: CSRF checked, current password confirmed
/// (`Ok(Err(()))` when it is wrong).
async fn confirmed(
    s: &AppState,
    session: &PayerSession,
    csrf: &str,
    current: &str,
) -> Result<Result<payers::PayerRow, ()>, WebError> {
    auth::check_csrf(&session.csrf, Some(csrf))?;
    let p = {
        let mut c = s.engine.store().read().await?;
        payers::payer(&mut c, &session.payer_id).await?
    };
    Ok(if verify(current, &p.password_hash).await? { Ok(p) } else { Err(()) })
}

#[derive(Deserialize)]
struct PasswordForm {
    csrf: String,
    current: String,
    new: String,
    confirm: String,
}

async fn change_password(
    State(s): State<AppState>,
    session: PayerSession,
    Form(f): Form<PasswordForm>,
) -> Result<Response, WebError> {
    let p = match confirmed(&s, &session, &f.csrf, &f.current).await? {
        Ok(p) => p,
        Err(()) => return render_account(&s, &session, false, String::new(), "当前密码不正确".into()).await,
    };
    if f.new != f.confirm {
        return render_account(&s, &session, false, String::new(), "两次输入的新密码不一致".into()).await;
    }
    if !password_ok(&f.new) || f.new == f.current {
        return render_account(&s, &session, false, String::new(), PASSWORD_RULE.into()).await;
    }
    let h = hash(&f.new).await?;
    let mut c = s.engine.store().read().await?;
    payers::set_payer_password(&mut c, &p.id, &h, false).await?;
    Ok(Redirect::to("/portal/account?saved=password").into_response())
}

#[derive(Deserialize)]
struct SecurityForm {
    csrf: String,
    current: String,
    question1: String,
    answer1: String,
    question2: String,
    answer2: String,
}

async fn set_security(
    State(s): State<AppState>,
    session: PayerSession,
    Form(f): Form<SecurityForm>,
) -> Result<Response, WebError> {
    let p = match confirmed(&s, &session, &f.csrf, &f.current).await? {
        Ok(p) => p,
        Err(()) => {
            return render_account(&s, &session, false, String::new(), "当前密码不正确，密保问题未修改".into()).await
        }
    };
    let fields = [&f.question1, &f.answer1, &f.question2, &f.answer2];
    if fields.iter().any(|v| v.trim().is_empty() || v.chars().count() > 60) || f.question1.trim() == f.question2.trim()
    {
        return render_account(
            &s,
            &session,
            false,
            String::new(),
            "请填写两个不同的问题及答案（各不超过 60 字）".into(),
        )
        .await;
    }
    let row = SecurityRow {
        payer_id: p.id.clone(),
        question1: f.question1.trim().into(),
        answer1_hash: hash(&normalize_answer(&f.answer1)).await?,
        question2: f.question2.trim().into(),
        answer2_hash: hash(&normalize_answer(&f.answer2)).await?,
        updated_at_ms: s.engine.store().now_ms(),
    };
    let mut c = s.engine.store().read().await?;
    payers::set_security(&mut c, &row).await?;
    Ok(Redirect::to("/portal/account?saved=security").into_response())
}

// ---- forgot password ----

#[derive(Template)]
#[template(path = "portal_forgot.html")]
struct ForgotPage {
    school_name: String,
    csrf: String,
    kind: String,
    identifier: String,
    questions: Option<(String, String)>,
    error: String,
    kinds: Vec<(&'static str, &'static str)>,
}

pub const PASSWORD_KINDS: [PayerKind; 4] =
    [PayerKind::EnrolledStudent, PayerKind::Staff, PayerKind::Registrant, PayerKind::External];

/// A login identifier as its owner types it (an outside person's phone, not the stored `M…`).
pub fn shown_identifier(kind: &str, stored: &str) -> String {
    match stored.strip_prefix('M') {
        Some(phone) if kind == PayerKind::External.as_str() => phone.to_string(),
        _ => stored.to_string(),
    }
}

/// The login identifier stored for what the payer types (outside people log in by phone).
pub fn stored_identifier(kind: PayerKind, typed: &str) -> String {
    match kind {
        PayerKind::External => format!("M{}", typed.trim()),
        _ => typed.trim().to_string(),
    }
}

fn kinds() -> Vec<(&'static str, &'static str)> {
    PASSWORD_KINDS.iter().map(|k| (k.as_str(), k.label_zh())).collect()
}

async fn forgot_page(State(s): State<AppState>, headers: HeaderMap) -> Result<Response, WebError> {
    let (csrf, fresh) = auth::login_csrf(&headers);
    let mut resp = render(&ForgotPage {
        school_name: s.config.school_name(),
        csrf: csrf.clone(),
        kind: PayerKind::EnrolledStudent.as_str().into(),
        identifier: String::new(),
        questions: None,
        error: String::new(),
        kinds: kinds(),
    })?;
    if fresh {
        auth::set_cookie(&mut resp, auth::LOGIN_CSRF_COOKIE, &csrf, 3600, s.config.secure_cookies);
    }
    Ok(resp)
}

#[derive(Deserialize)]
struct ForgotForm {
    csrf: String,
    kind: String,
    identifier: String,
    #[serde(default)]
    answer1: Option<String>,
    #[serde(default)]
    answer2: Option<String>,
    #[serde(default)]
    new: String,
    #[serde(default)]
    confirm: String,
}

/// Step 1 (identifier) shows the questions; step 2 (answers + new password) resets it. Wrong
/// answers count towards the same lock as wrong passwords.
async fn forgot_step(
    State(s): State<AppState>,
    headers: HeaderMap,
    Form(f): Form<ForgotForm>,
) -> Result<Response, WebError> {
    let (csrf, _) = auth::login_csrf(&headers);
    auth::check_csrf(&csrf, Some(&f.csrf))?;
    let kind = PayerKind::parse(&f.kind).filter(|k| PASSWORD_KINDS.contains(k)).unwrap_or(PayerKind::EnrolledStudent);
    let identifier = stored_identifier(kind, &f.identifier);
    let (payer, security) = {
        let mut c = s.engine.store().read().await?;
        let p = payers::payer_by_login(&mut c, kind.as_str(), &identifier).await?;
        let q = match &p {
            Some(p) => payers::security(&mut c, &p.id).await?,
            None => None,
        };
        (p, q)
    };
    let page = |questions: Option<(String, String)>, error: String| ForgotPage {
        school_name: s.config.school_name(),
        csrf: csrf.clone(),
        kind: kind.as_str().into(),
        identifier: f.identifier.trim().to_string(),
        questions,
        error,
        kinds: kinds(),
    };
    let (Some(payer), Some(sec)) = (payer, security) else {
        // The same answer whether or not the account exists.
        let mut resp = render(&page(None, "该账号不存在或未设置密保问题，请携带证件到财务处重置密码".into()))?;
        *resp.status_mut() = axum::http::StatusCode::UNPROCESSABLE_ENTITY;
        return Ok(resp);
    };
    let questions = Some((sec.question1.clone(), sec.question2.clone()));
    let (Some(a1), Some(a2)) = (f.answer1.as_deref(), f.answer2.as_deref()) else {
        return render(&page(questions, String::new()));
    };
    let ok = verify(&normalize_answer(a1), &sec.answer1_hash).await?
        && verify(&normalize_answer(a2), &sec.answer2_hash).await?;
    let key = format!("forgot:{}:{identifier}", kind.as_str());
    let refuse = |msg: String| -> Result<Response, WebError> {
        let mut resp = render(&page(questions.clone(), msg))?;
        *resp.status_mut() = axum::http::StatusCode::UNPROCESSABLE_ENTITY;
        Ok(resp)
    };
    match auth::throttled_check(&s, &key, ok).await {
        Ok(()) => {}
        Err(WebError::BadRequest(m)) => {
            return refuse(if m.contains("锁定") { m } else { "密保答案不正确".into() })
        }
        Err(e) => return Err(e),
    }
    if f.new != f.confirm {
        return refuse("两次输入的新密码不一致".into());
    }
    if !password_ok(&f.new) {
        return refuse(PASSWORD_RULE.into());
    }
    let h = hash(&f.new).await?;
    let mut c = s.engine.store().read().await?;
    payers::set_payer_password(&mut c, &payer.id, &h, false).await?;
    Ok(Redirect::to("/portal/login?reset=1").into_response())
}

// ---- outside people register themselves ----

#[derive(Template)]
#[template(path = "portal_register.html")]
struct RegisterPage {
    school_name: String,
    csrf: String,
    name: String,
    phone: String,
    error: String,
    next: String,
    /// Registering in order to sign up for a project: its (title, notice), accepted together.
    project: Option<(String, String)>,
}

#[derive(Deserialize, Default)]
struct NextQuery {
    #[serde(default)]
    next: String,
}

/// The project a `next` path leads to, if any: its title and notice.
async fn project_of_next(s: &AppState, next: &str) -> Result<Option<(String, String)>, WebError> {
    let Some(id) = next.strip_prefix("/portal/projects/") else { return Ok(None) };
    let mut c = s.engine.store().read().await?;
    match bursar_store::projects::get(&mut c, id).await {
        Ok(p) => Ok(Some((p.title, p.notice))),
        Err(bursar_store::StoreError::NotFound(_)) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

async fn register_page(
    State(s): State<AppState>,
    headers: HeaderMap,
    Query(q): Query<NextQuery>,
) -> Result<Response, WebError> {
    let (csrf, fresh) = auth::login_csrf(&headers);
    let next = crate::portal::portal_next(&q.next);
    let mut resp = render(&RegisterPage {
        school_name: s.config.school_name(),
        csrf: csrf.clone(),
        name: String::new(),
        phone: String::new(),
        error: String::new(),
        project: project_of_next(&s, &next).await?,
        next,
    })?;
    if fresh {
        auth::set_cookie(&mut resp, auth::LOGIN_CSRF_COOKIE, &csrf, 3600, s.config.secure_cookies);
    }
    Ok(resp)
}

#[derive(Deserialize)]
struct RegisterForm {
    csrf: String,
    name: String,
    phone: String,
    #[serde(default)]
    id_number: String,
    password: String,
    confirm: String,
    question1: String,
    answer1: String,
    question2: String,
    answer2: String,
    #[serde(default)]
    accept: Option<String>,
    #[serde(default)]
    next: String,
}

async fn register(
    State(s): State<AppState>,
    headers: HeaderMap,
    Form(f): Form<RegisterForm>,
) -> Result<Response, WebError> {
    let (csrf, _) = auth::login_csrf(&headers);
    auth::check_csrf(&csrf, Some(&f.csrf))?;
    let (name, phone, id_number) =
        (f.name.trim().to_string(), f.phone.trim().to_string(), f.id_number.trim().to_uppercase());
    let next = crate::portal::portal_next(&f.next);
    let project = project_of_next(&s, &next).await?;
    let refuse = |error: &str| -> Result<Response, WebError> {
        let mut resp = render(&RegisterPage {
            school_name: s.config.school_name(),
            csrf: csrf.clone(),
            name: name.clone(),
            phone: phone.clone(),
            error: error.into(),
            next: next.clone(),
            project: project.clone(),
        })?;
        *resp.status_mut() = axum::http::StatusCode::UNPROCESSABLE_ENTITY;
        Ok(resp)
    };
    if f.accept.is_none() {
        return refuse("请阅读并同意注册须知");
    }
    if name.is_empty() || name.chars().count() > 30 {
        return refuse("请填写姓名");
    }
    if phone.len() != 11 || !phone.bytes().all(|b| b.is_ascii_digit()) {
        return refuse("手机号须为 11 位数字");
    }
    if !id_number.is_empty() && !bursar_domain::payer::is_valid_resident_id(&id_number) {
        return refuse("身份证号码无效");
    }
    if f.password != f.confirm {
        return refuse("两次输入的密码不一致");
    }
    if !password_ok(&f.password) {
        return refuse("密码至少 8 位，须同时包含字母和数字");
    }
    if [&f.question1, &f.answer1, &f.question2, &f.answer2].iter().any(|v| v.trim().is_empty())
        || f.question1.trim() == f.question2.trim()
    {
        return refuse("请设置两个不同的密保问题及答案");
    }
    let identifier = stored_identifier(PayerKind::External, &phone);
    {
        let mut c = s.engine.store().read().await?;
        if payers::payer_by_login(&mut c, PayerKind::External.as_str(), &identifier).await?.is_some() {
            return refuse("该手机号已注册，请直接登录或找回密码");
        }
    }
    let password_hash = hash(&f.password).await?;
    let (a1, a2) = (hash(&normalize_answer(&f.answer1)).await?, hash(&normalize_answer(&f.answer2)).await?);
    let digest =
        if id_number.is_empty() { String::new() } else { auth::id_number_digest(&s.config.id_digest_key, &id_number) };
    let mut tx = s.engine.store().begin().await?;
    let now = tx.now_ms;
    let id = tx.new_id();
    let p = NewPayer {
        kind: PayerKind::External.as_str(),
        identifier: &identifier,
        name: &name,
        id_number_masked: &if id_number.is_empty() { String::new() } else { mask_id_number(&id_number) },
        id_number_digest: &digest,
        phone: &phone,
        department_id: None,
        class_name: "",
        password_hash: &password_hash,
    };
    payers::insert_payer(tx.c(), &id, &p, now).await?;
    payers::set_payer_password(tx.c(), &id, &password_hash, false).await?;
    let row = SecurityRow {
        payer_id: id.clone(),
        question1: f.question1.trim().into(),
        answer1_hash: a1,
        question2: f.question2.trim().into(),
        answer2_hash: a2,
        updated_at_ms: now,
    };
    payers::set_security(tx.c(), &row).await?;
    let change = bursar_store::oplog::Change {
        action: "payer.register",
        entity: "payer",
        entity_id: &id,
        before: "",
        after: "active",
        detail: "self-registration",
    };
    bursar_store::oplog::append(tx.c(), now, &bursar_store::oplog::Actor::payer(&id), &change).await?;
    tx.commit().await?;
    let target = if next.is_empty() { "/portal/fees" } else { next.as_str() };
    let mut resp = Redirect::to(target).into_response();
    auth::start_session(&s, &headers, &mut resp, "payer", &id).await?;
    Ok(resp)
}
