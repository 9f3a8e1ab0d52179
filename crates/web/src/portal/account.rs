//! The payer's own account (payer guide §1–2): personal information with an editable phone,
//! password change (forced after logging in with an initial password), security questions set
//! after confirming the password, "forgot password" answered by those questions, and outside
//! people registering themselves. Every change is an engine command (logged; a password change
//! ends the payer's other sessions).

use crate::guard::{get, post};
use askama::Template;
use axum::extract::{Query, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Redirect, Response};
use axum::Form;
use bursar_domain::payer::{mask_phone, PayerKind};
use bursar_engine::access::accounts::{
    initial_proof, shown_identifier, stored_identifier, InitialProof, Questions, Registration, PASSWORD_KINDS,
};
use bursar_engine::rows::AuthMethod;
use bursar_engine::EngineError;
use serde::Deserialize;

use crate::guard::{self, Guard, PayerCtx, Routes, Source};
use crate::i18n::Translate as _;
use crate::views::{render, Chrome};
use crate::{AppState, WebError};

pub fn routes() -> Routes {
    Routes::new()
        .route("/portal/account", Guard::PayerInitial, get(account_page))
        .route("/portal/account/password", Guard::PayerInitial, get(password_page).post(change_password))
        .route("/portal/account/phone", Guard::PayerInitial, post(change_phone))
        .route("/portal/account/security", Guard::PayerInitial, post(set_security))
        .route("/portal/forgot", Guard::Public, get(forgot_page).post(forgot_step))
        .route("/portal/register", Guard::Public, get(register_page).post(register))
        .route("/portal/register/code", Guard::Public, post(register_code))
}

#[derive(Template)]
#[template(path = "portal/account.html")]
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
    /// No password to change (a new student by ID number and name).
    no_password: bool,
    /// Handed over by a business system: changes ask for the password.
    via_sso: bool,
    /// The first change of an initial password also asks for this fact ("" when not).
    proof: &'static str,
    message: String,
    error: String,
}

#[derive(Deserialize, Default)]
pub struct AccountQuery {
    #[serde(default)]
    saved: String,
}

async fn render_account(
    s: &AppState,
    c: &PayerCtx,
    forced: bool,
    message: String,
    error: String,
) -> Result<Response, WebError> {
    let view = s.engine.payer_view(c.0.principal())?;
    let p = view.me().await?;
    let department = view.department_name().await?;
    let questions = view.security_questions().await?;
    let mut resp = render(&AccountPage {
        chrome: super::chrome(s, &c.0, "account"),
        kind: p.kind.label_zh(),
        id_number: p.id_number_masked.clone(),
        phone_masked: mask_phone(&p.phone),
        phone: p.phone.clone(),
        class_name: p.class_name.clone(),
        identifier: shown_identifier(p.kind, &p.identifier),
        name: p.name.clone(),
        department,
        questions,
        forced: forced || c.0.session.must_change_password,
        no_password: p.password_hash == "!",
        via_sso: c.0.session.auth_method == AuthMethod::Sso,
        proof: match initial_proof(&p) {
            InitialProof::None => "",
            InitialProof::IdNumber => "id_number",
            InitialProof::Name => "name",
        },
        message,
        error: error.clone(),
    })?;
    if !error.is_empty() {
        *resp.status_mut() = axum::http::StatusCode::UNPROCESSABLE_ENTITY;
    }
    Ok(resp)
}

pub async fn account_page(
    State(s): State<AppState>,
    c: PayerCtx,
    Query(q): Query<AccountQuery>,
) -> Result<Response, WebError> {
    let message = match q.saved.as_str() {
        "phone" => "手机号已保存。",
        "password" => "密码已修改。",
        "security" => "密保问题已保存。",
        _ => "",
    };
    render_account(&s, &c, false, message.into(), String::new()).await
}

pub async fn password_page(State(s): State<AppState>, c: PayerCtx) -> Result<Response, WebError> {
    render_account(&s, &c, true, String::new(), String::new()).await
}

/// An account change refused with a reason goes back to the page with it; anything else is an
/// error page.
async fn refused_or(
    s: &AppState,
    c: &PayerCtx,
    result: Result<(), EngineError>,
    saved: &str,
) -> Result<Response, WebError> {
    match result {
        Ok(()) => Ok(Redirect::to(&format!("/portal/account?saved={saved}")).into_response()),
        Err(EngineError::Rule(e)) => render_account(s, c, false, String::new(), e.to_string()).await,
        Err(e) => Err(e.into()),
    }
}

#[derive(Deserialize)]
pub struct PhoneForm {
    phone: String,
    #[serde(default)]
    current: Option<String>,
}

pub async fn change_phone(
    State(s): State<AppState>,
    c: PayerCtx,
    Form(f): Form<PhoneForm>,
) -> Result<Response, WebError> {
    let result = s.engine.change_phone(c.0.principal(), &f.phone, f.current.as_deref().filter(|p| !p.is_empty())).await;
    refused_or(&s, &c, result, "phone").await
}

#[derive(Deserialize)]
pub struct PasswordForm {
    current: String,
    #[serde(default)]
    proof: String,
    new: String,
    confirm: String,
}

pub async fn change_password(
    State(s): State<AppState>,
    c: PayerCtx,
    Form(f): Form<PasswordForm>,
) -> Result<Response, WebError> {
    if f.new != f.confirm {
        return render_account(&s, &c, false, String::new(), "两次输入的新密码不一致".into()).await;
    }
    let result = s.engine.change_password(c.0.principal(), &f.current, &f.new, &f.proof, &c.0.token).await;
    refused_or(&s, &c, result, "password").await
}

#[derive(Deserialize)]
pub struct SecurityForm {
    current: String,
    question1: String,
    answer1: String,
    question2: String,
    answer2: String,
}

pub async fn set_security(
    State(s): State<AppState>,
    c: PayerCtx,
    Form(f): Form<SecurityForm>,
) -> Result<Response, WebError> {
    let q = Questions { question1: f.question1, answer1: f.answer1, question2: f.question2, answer2: f.answer2 };
    let result = s.engine.set_security_questions(c.0.principal(), &f.current, &q).await;
    refused_or(&s, &c, result, "security").await
}

// ---- forgot password ----

#[derive(Template)]
#[template(path = "portal/forgot.html")]
struct ForgotPage {
    school_name: String,
    csrf: String,
    kind: String,
    identifier: String,
    questions: Option<(String, String)>,
    error: String,
    kinds: Vec<(&'static str, &'static str)>,
}

fn kinds() -> Vec<(&'static str, &'static str)> {
    PASSWORD_KINDS.iter().map(|k| (k.as_str(), k.label_zh())).collect()
}

pub async fn forgot_page(State(s): State<AppState>, headers: HeaderMap) -> Result<Response, WebError> {
    let (csrf, fresh) = guard::login_csrf(&headers);
    let page = ForgotPage {
        school_name: s.config.school_name(),
        csrf: csrf.clone(),
        kind: PayerKind::EnrolledStudent.as_str().into(),
        identifier: String::new(),
        questions: None,
        error: String::new(),
        kinds: kinds(),
    };
    Ok(guard::with_login_csrf(render(&page)?, &csrf, fresh, s.config.secure_cookies))
}

#[derive(Deserialize)]
pub struct ForgotForm {
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
pub async fn forgot_step(
    State(s): State<AppState>,
    headers: HeaderMap,
    Source(source): Source,
    Form(f): Form<ForgotForm>,
) -> Result<Response, WebError> {
    let csrf = guard::cookie_value(&headers, guard::LOGIN_CSRF_COOKIE).unwrap_or_default();
    let kind = PayerKind::parse(&f.kind).filter(|k| PASSWORD_KINDS.contains(k)).unwrap_or(PayerKind::EnrolledStudent);
    let identifier = stored_identifier(kind, &f.identifier);
    let questions = s.engine.security_questions(kind, &identifier).await?;
    let page = |questions: Option<(String, String)>, error: String| ForgotPage {
        school_name: s.config.school_name(),
        csrf: csrf.clone(),
        kind: kind.as_str().into(),
        identifier: f.identifier.trim().to_string(),
        questions,
        error,
        kinds: kinds(),
    };
    let refuse = |questions: Option<(String, String)>, msg: String| -> Result<Response, WebError> {
        let mut resp = render(&page(questions, msg))?;
        *resp.status_mut() = axum::http::StatusCode::UNPROCESSABLE_ENTITY;
        Ok(resp)
    };
    let Some(q) = questions else {
        // The same answer whether or not the account exists.
        return refuse(None, "该账号不存在或未设置密保问题，请携带证件到财务处重置密码".into());
    };
    let (Some(a1), Some(a2)) = (f.answer1.as_deref(), f.answer2.as_deref()) else {
        return render(&page(Some(q), String::new()));
    };
    if f.new != f.confirm {
        return refuse(Some(q), "两次输入的新密码不一致".into());
    }
    match s.engine.reset_forgotten_password(kind, &identifier, (a1, a2), &f.new, source).await? {
        Ok(()) => Ok(Redirect::to("/portal/login?reset=1").into_response()),
        Err(message) => refuse(Some(q), message),
    }
}

// ---- outside people register themselves ----

#[derive(Template)]
#[template(path = "portal/register.html")]
struct RegisterPage {
    school_name: String,
    csrf: String,
    name: String,
    phone: String,
    id_number: String,
    question1: String,
    question2: String,
    error: String,
    /// The field the refusal is about (its message is shown next to it), or empty.
    error_at: &'static str,
    next: String,
    /// Registering in order to sign up for a project: its (title, notice), accepted together.
    project: Option<(String, String)>,
    /// "A code was sent to 138****0001", after 获取验证码.
    notice: String,
    /// Where the demo's simulated phone shows the text (the SMS simulator), when it runs.
    sms_page: String,
}

#[derive(Deserialize, Default)]
pub struct NextQuery {
    #[serde(default)]
    next: String,
}

/// The project a `next` path leads to, if any: its title and notice.
async fn project_of_next(s: &AppState, next: &str) -> Result<Option<(String, String)>, WebError> {
    let Some(id) = next.strip_prefix("/portal/projects/") else { return Ok(None) };
    Ok(s.engine.published_project(id).await?.map(|(p, _, _)| (p.title, p.notice)))
}

pub async fn register_page(
    State(s): State<AppState>,
    headers: HeaderMap,
    Query(q): Query<NextQuery>,
) -> Result<Response, WebError> {
    let (csrf, fresh) = guard::login_csrf(&headers);
    let next = super::portal_next(&q.next);
    let page = RegisterPage {
        school_name: s.config.school_name(),
        csrf: csrf.clone(),
        name: String::new(),
        phone: String::new(),
        id_number: String::new(),
        question1: String::new(),
        question2: String::new(),
        error: String::new(),
        error_at: "",
        project: project_of_next(&s, &next).await?,
        next,
        notice: String::new(),
        sms_page: String::new(),
    };
    Ok(guard::with_login_csrf(render(&page)?, &csrf, fresh, s.config.secure_cookies))
}

#[derive(Deserialize)]
pub struct RegisterForm {
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
    sms_code: String,
    #[serde(default)]
    accept: Option<String>,
    #[serde(default)]
    next: String,
}

/// The registration form again, with what was typed (never the passwords).
fn register_again(
    s: &AppState,
    csrf: &str,
    f: &RegisterForm,
    project: Option<(String, String)>,
    (error, at): (&str, &'static str),
    (notice, sms_page): (String, String),
) -> Result<Response, WebError> {
    let mut resp = render(&RegisterPage {
        school_name: s.config.school_name(),
        csrf: csrf.to_string(),
        name: f.name.trim().chars().take(30).collect(),
        phone: f.phone.trim().chars().take(11).collect(),
        id_number: f.id_number.trim().chars().take(18).collect(),
        question1: f.question1.trim().chars().take(60).collect(),
        question2: f.question2.trim().chars().take(60).collect(),
        error: error.into(),
        error_at: at,
        next: super::portal_next(&f.next),
        project,
        notice,
        sms_page,
    })?;
    if !error.is_empty() {
        *resp.status_mut() = axum::http::StatusCode::UNPROCESSABLE_ENTITY;
    }
    Ok(resp)
}

/// 获取验证码: sends a one-time code to the phone typed, and shows the form again.
pub async fn register_code(
    State(s): State<AppState>,
    headers: HeaderMap,
    Source(source): Source,
    Form(f): Form<RegisterForm>,
) -> Result<Response, WebError> {
    let csrf = guard::cookie_value(&headers, guard::LOGIN_CSRF_COOKIE).unwrap_or_default();
    let project = project_of_next(&s, &super::portal_next(&f.next)).await?;
    match s.engine.send_phone_code(&f.phone, source).await {
        Ok(()) => {
            let phone = f.phone.trim();
            let notice = format!("验证码已发送至 {}，10 分钟内有效", mask_phone(phone));
            let sms_page = match &s.config.sim_base_url {
                Some(sim) => format!("{sim}/sms?phone={phone}"),
                None => String::new(),
            };
            register_again(&s, &csrf, &f, project, ("", ""), (notice, sms_page))
        }
        Err(EngineError::Param(p)) => {
            register_again(&s, &csrf, &f, project, (&p.message, register_field(&p.param)), Default::default())
        }
        Err(e) => Err(e.into()),
    }
}

pub async fn register(
    State(s): State<AppState>,
    headers: HeaderMap,
    Form(f): Form<RegisterForm>,
) -> Result<Response, WebError> {
    let csrf = guard::cookie_value(&headers, guard::LOGIN_CSRF_COOKIE).unwrap_or_default();
    let next = super::portal_next(&f.next);
    let project = project_of_next(&s, &next).await?;
    // `at`: the field the refusal is about (its message goes next to it), or "".
    let refuse = |error: &str, at: &'static str| -> Result<Response, WebError> {
        register_again(&s, &csrf, &f, project.clone(), (error, at), Default::default())
    };
    if f.accept.is_none() {
        return refuse("请阅读并同意注册须知", "accept");
    }
    if f.password != f.confirm {
        return refuse("两次输入的密码不一致", "confirm");
    }
    let r = Registration {
        name: f.name.clone(),
        phone: f.phone.clone(),
        sms_code: f.sms_code.clone(),
        id_number: f.id_number.clone(),
        password: f.password.clone(),
        questions: Questions {
            question1: f.question1.clone(),
            answer1: f.answer1.clone(),
            question2: f.question2.clone(),
            answer2: f.answer2.clone(),
        },
    };
    let previous = guard::cookie_value(&headers, guard::SESSION_COOKIE);
    match s.engine.register_external(&r, previous.as_deref()).await {
        Ok(started) => {
            let target = if next.is_empty() { "/portal/fees" } else { next.as_str() };
            let mut resp = Redirect::to(target).into_response();
            guard::start_cookie(&mut resp, &s, &started);
            Ok(resp)
        }
        Err(EngineError::Param(p)) => refuse(&p.message, register_field(&p.param)),
        Err(EngineError::Rule(e)) => refuse(&e.to_string(), ""),
        Err(e) => Err(e.into()),
    }
}

/// The form's own name for a field the engine refused (a fixed set, for the template).
fn register_field(param: &str) -> &'static str {
    ["name", "phone", "sms_code", "id_number", "password", "question1"].into_iter().find(|f| *f == param).unwrap_or("")
}
