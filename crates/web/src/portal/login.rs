//! Payers log in (students, staff, registrants and outside people by number and password; new
//! students by ID number and name) and out. A captcha is asked for after two failures of an
//! account, and at once when the network or the platform sees many failures.

use askama::Template;
use axum::extract::{Query, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Redirect, Response};
use axum::Form;
use bursar_domain::payer::PayerKind;
use bursar_engine::access::accounts::{stored_identifier, PASSWORD_KINDS};
use bursar_engine::access::sessions::{Login, CAPTCHA_REFUSAL};
use serde::Deserialize;

use crate::guard::{self, PayerCtx, Source};

use crate::i18n::Translate as _;
use crate::views::render;
use crate::{AppState, WebError};

#[derive(Template)]
#[template(path = "portal/login.html")]
pub struct LoginPage {
    school_name: String,
    csrf: String,
    error: String,
    notice: String,
    identifier: String,
    kind: String,
    kinds: Vec<(&'static str, &'static str)>,
    /// Shown after repeated failures: (SVG, token).
    captcha: Option<(String, String)>,
    /// The new-student form's own captcha, when one is needed.
    ns_captcha: Option<(String, String)>,
    /// Where to go after logging in (a portal page, e.g. the project being registered for).
    next: String,
    /// The school's fixed initial password, when it uses one (else: last six of the ID number).
    fixed_initial: String,
    /// The new-student card's own refusal and what was typed there.
    ns_error: String,
    ns_id_number: String,
    ns_name: String,
    /// The school's notices shown now.
    notices: Vec<crate::notices::NoticeView>,
}

impl LoginPage {
    fn new(s: &AppState, csrf: String) -> LoginPage {
        LoginPage {
            school_name: s.config.school_name(),
            csrf,
            error: String::new(),
            notice: String::new(),
            identifier: String::new(),
            kind: PayerKind::EnrolledStudent.as_str().into(),
            kinds: PASSWORD_KINDS.iter().map(|k| (k.as_str(), k.label_zh())).collect(),
            captcha: None,
            ns_captcha: None,
            next: String::new(),
            fixed_initial: match &s.config.initial_password {
                bursar_domain::payer::InitialPasswordRule::Fixed(p) => p.clone(),
                bursar_domain::payer::InitialPasswordRule::IdLastSix => String::new(),
            },
            ns_error: String::new(),
            ns_id_number: String::new(),
            ns_name: String::new(),
            notices: Vec::new(),
        }
    }
    /// A fresh captcha on this page ("看不清？换一张"), keeping the account typed so far.
    fn captcha_refresh(&self) -> String {
        let mut q = form_urlencoded::Serializer::new(String::new());
        q.append_pair("captcha", "1").append_pair("identifier", &self.identifier).append_pair("kind", &self.kind);
        if !self.next.is_empty() {
            q.append_pair("next", &self.next);
        }
        format!("/portal/login?{}", q.finish())
    }
    fn with_captcha(mut self, s: &AppState) -> LoginPage {
        let c = crate::captcha::issue(s, &self.csrf);
        self.captcha = Some((c.svg, c.token));
        self
    }
    fn with_ns_captcha(mut self, s: &AppState) -> LoginPage {
        let c = crate::captcha::issue(s, &self.csrf);
        self.ns_captcha = Some((c.svg, c.token));
        self
    }
}

#[derive(Deserialize, Default)]
pub struct LoginQuery {
    #[serde(default)]
    reset: Option<String>,
    #[serde(default)]
    next: String,
    /// Asks for a (fresh) captcha, with the account typed so far.
    #[serde(default)]
    captcha: Option<String>,
    #[serde(default)]
    identifier: String,
    #[serde(default)]
    kind: String,
}

pub async fn login_page(
    State(s): State<AppState>,
    headers: HeaderMap,
    Source(source): Source,
    Query(q): Query<LoginQuery>,
) -> Result<Response, WebError> {
    let (csrf, fresh) = guard::login_csrf(&headers);
    let mut page = LoginPage::new(&s, csrf.clone());
    page.notices = crate::notices::portal_notices(&s).await?.general;
    page.next = super::portal_next(&q.next);
    if q.captcha.is_some() {
        page.identifier = q.identifier.trim().chars().take(64).collect();
        if let Some(k) = PayerKind::parse(&q.kind).filter(|k| PASSWORD_KINDS.contains(k)) {
            page.kind = k.as_str().into();
        }
        page = page.with_captcha(&s);
    }
    if s.engine.login_needs_captcha(source) {
        // This network (or the whole platform) sees many failures: ask at once.
        if page.captcha.is_none() {
            page = page.with_captcha(&s);
        }
        page = page.with_ns_captcha(&s);
    }
    if q.reset.is_some() {
        page.notice = "密码已重置，请用新密码登录。".into();
    }
    Ok(guard::with_login_csrf(render(&page)?, &csrf, fresh, s.config.secure_cookies))
}

#[derive(Deserialize)]
pub struct LoginForm {
    identifier: String,
    password: String,
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

/// After a login: an initial password must be changed first, else on to `next` or the fees.
fn logged_in(s: &AppState, started: &bursar_engine::access::sessions::Started, next: &str) -> Response {
    let next = super::portal_next(next);
    let target = if started.must_change_password {
        "/portal/account/password"
    } else if !next.is_empty() {
        next.as_str()
    } else {
        "/portal/fees"
    };
    let mut resp = Redirect::to(target).into_response();
    guard::start_cookie(&mut resp, s, started);
    resp
}

pub async fn login(
    State(s): State<AppState>,
    headers: HeaderMap,
    Source(source): Source,
    Form(f): Form<LoginForm>,
) -> Result<Response, WebError> {
    let kind = PayerKind::parse(&f.kind).filter(|k| PASSWORD_KINDS.contains(k)).unwrap_or(PayerKind::EnrolledStudent);
    let identifier = stored_identifier(kind, &f.identifier);
    let csrf = guard::cookie_value(&headers, guard::LOGIN_CSRF_COOKIE).unwrap_or_default();
    let captcha_ok = crate::captcha::solved(&s, &f.captcha_token, &f.captcha, &csrf);
    let previous = guard::cookie_value(&headers, guard::SESSION_COOKIE);
    match s.engine.login_payer(kind, &identifier, &f.password, captcha_ok, previous.as_deref(), source).await? {
        Login::In(started) => Ok(logged_in(&s, &started, &f.next)),
        Login::Code(_) => Err(WebError::Internal("a payer's login asked for a second factor".into())),
        Login::Refused { message, captcha } => {
            let mut page = LoginPage::new(&s, csrf);
            page.identifier = f.identifier.trim().to_string();
            page.kind = kind.as_str().into();
            page.next = super::portal_next(&f.next);
            // Asked for a captcha it did not show yet: say what to do, not that it was wrong.
            page.error = if captcha && f.captcha_token.is_empty() && message == CAPTCHA_REFUSAL {
                "为保护您的账号，请输入下方的验证码后再次登录。".into()
            } else {
                message
            };
            if captcha {
                page = page.with_captcha(&s);
            }
            refused(page)
        }
    }
}

#[derive(Deserialize)]
pub struct NewStudentForm {
    id_number: String,
    name: String,
    #[serde(default)]
    captcha: String,
    #[serde(default)]
    captcha_token: String,
}

/// New students (新生) sign in with their ID document number and name, as admissions gave them.
pub async fn login_new_student(
    State(s): State<AppState>,
    headers: HeaderMap,
    Source(source): Source,
    Form(f): Form<NewStudentForm>,
) -> Result<Response, WebError> {
    let previous = guard::cookie_value(&headers, guard::SESSION_COOKIE);
    let csrf = guard::cookie_value(&headers, guard::LOGIN_CSRF_COOKIE).unwrap_or_default();
    let captcha_ok = crate::captcha::solved(&s, &f.captcha_token, &f.captcha, &csrf);
    match s.engine.login_new_student(&f.id_number, &f.name, captcha_ok, previous.as_deref(), source).await? {
        Login::In(started) => Ok(logged_in(&s, &started, "")),
        Login::Code(_) => Err(WebError::Internal("a new student's login asked for a second factor".into())),
        Login::Refused { message, captcha } => {
            let mut page = LoginPage::new(&s, csrf);
            if captcha {
                page = page.with_ns_captcha(&s);
            }
            page.ns_error = if captcha && f.captcha_token.is_empty() && message == CAPTCHA_REFUSAL {
                "为保护您的账号，请输入下方的验证码后再次登录。".into()
            } else {
                message
            };
            page.ns_id_number = f.id_number.trim().chars().take(18).collect();
            page.ns_name = f.name.trim().chars().take(30).collect();
            refused(page)
        }
    }
}

pub async fn logout(State(s): State<AppState>, PayerCtx(c): PayerCtx) -> Result<Response, WebError> {
    s.engine.end_session(&c.token).await?;
    let mut resp = Redirect::to("/portal/login").into_response();
    guard::end_cookie(&mut resp, &s);
    Ok(resp)
}
