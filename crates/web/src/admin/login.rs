//! Operators log in and out (every role: one logout for all).

use askama::Template;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Redirect, Response};
use axum::Form;
use bursar_engine::access::sessions::{Login, Started};
use serde::Deserialize;

use crate::guard::{self, OperatorCtx, Source};
use crate::i18n::Translate as _;
use crate::views::{render, Chrome};
use crate::{AppState, WebError};

#[derive(Template)]
#[template(path = "admin/login.html")]
struct LoginPage {
    school_name: String,
    csrf: String,
    error: String,
    username: String,
    /// Shown after failures of the account, or when the network sees many: (SVG, token).
    captcha: Option<(String, String)>,
}

impl LoginPage {
    /// A fresh captcha on this page ("看不清？换一张"), keeping the user name typed so far.
    fn captcha_refresh(&self) -> String {
        let mut q = form_urlencoded::Serializer::new(String::new());
        q.append_pair("captcha", "1").append_pair("username", &self.username);
        format!("/admin/login?{}", q.finish())
    }
}

#[derive(Deserialize, Default)]
pub struct LoginQuery {
    /// Asks for a (fresh) captcha, with the user name typed so far.
    #[serde(default)]
    captcha: Option<String>,
    #[serde(default)]
    username: String,
}

pub async fn login_page(
    State(s): State<AppState>,
    headers: HeaderMap,
    Source(source): Source,
    axum::extract::Query(q): axum::extract::Query<LoginQuery>,
) -> Result<Response, WebError> {
    let (csrf, fresh) = guard::login_csrf(&headers);
    let wanted = q.captcha.is_some() || s.engine.login_needs_captcha(source);
    let captcha = wanted.then(|| crate::captcha::issue(&s, &csrf));
    let page = LoginPage {
        school_name: s.config.school_name(),
        csrf: csrf.clone(),
        error: String::new(),
        username: q.username.trim().chars().take(64).collect(),
        captcha: captcha.map(|c| (c.svg, c.token)),
    };
    Ok(guard::with_login_csrf(render(&page)?, &csrf, fresh, s.config.secure_cookies))
}

#[derive(Deserialize)]
pub struct LoginForm {
    username: String,
    password: String,
    #[serde(default)]
    captcha: String,
    #[serde(default)]
    captcha_token: String,
}

pub async fn login(
    State(s): State<AppState>,
    headers: HeaderMap,
    Source(source): Source,
    Form(f): Form<LoginForm>,
) -> Result<Response, WebError> {
    let previous = guard::cookie_value(&headers, guard::SESSION_COOKIE);
    let csrf = guard::cookie_value(&headers, guard::LOGIN_CSRF_COOKIE).unwrap_or_default();
    let captcha_ok = crate::captcha::solved(&s, &f.captcha_token, &f.captcha, &csrf);
    match s.engine.login_operator(&f.username, &f.password, captcha_ok, previous.as_deref(), source).await? {
        Login::In(started) => logged_in(&s, &started).await,
        Login::Code(challenge) => {
            let mut resp = Redirect::to("/admin/login/code").into_response();
            let ttl_s = bursar_engine::access::second_factor::CHALLENGE_TTL_MS / 1000;
            guard::set_cookie(&mut resp, CHALLENGE_COOKIE, &challenge, ttl_s, s.config.secure_cookies);
            Ok(resp)
        }
        Login::Refused { message, captcha } => {
            let captcha = captcha.then(|| crate::captcha::issue(&s, &csrf)).map(|c| (c.svg, c.token));
            let error = if captcha.is_some()
                && f.captcha_token.is_empty()
                && message == bursar_engine::access::sessions::CAPTCHA_REFUSAL
            {
                "为保护账号安全，请输入下方的验证码后再次登录。".to_string()
            } else {
                message
            };
            refused(&s, csrf, error, &f.username, captcha)
        }
    }
}

/// The login page again, refused (401): the message, the name typed so far, a captcha when asked.
fn refused(
    s: &AppState,
    csrf: String,
    error: String,
    username: &str,
    captcha: Option<(String, String)>,
) -> Result<Response, WebError> {
    let username = username.trim().chars().take(64).collect();
    let mut resp = render(&LoginPage { school_name: s.config.school_name(), csrf, error, username, captcha })?;
    *resp.status_mut() = axum::http::StatusCode::UNAUTHORIZED;
    Ok(resp)
}

/// The cookie of a login waiting for its second-factor code.
pub const CHALLENGE_COOKIE: &str = "bursar_login_challenge";

async fn logged_in(s: &AppState, started: &Started) -> Result<Response, WebError> {
    let home = match s.engine.session(&started.token).await? {
        Some(session) => super::home_of(&session.principal),
        None => "/admin/login",
    };
    let mut resp = Redirect::to(home).into_response();
    guard::start_cookie(&mut resp, s, started);
    guard::set_cookie(&mut resp, CHALLENGE_COOKIE, "", 0, s.config.secure_cookies);
    Ok(resp)
}

#[derive(Template)]
#[template(path = "admin/login_code.html")]
struct CodePage {
    school_name: String,
    csrf: String,
    error: String,
}

/// The second step of a login: the code from the authenticator app.
pub async fn code_page(State(s): State<AppState>, headers: HeaderMap) -> Result<Response, WebError> {
    let challenge = guard::cookie_value(&headers, CHALLENGE_COOKIE).unwrap_or_default();
    if challenge.is_empty() || !s.engine.login_challenge_live(&challenge).await? {
        return Ok(Redirect::to("/admin/login").into_response());
    }
    let (csrf, fresh) = guard::login_csrf(&headers);
    let page = CodePage { school_name: s.config.school_name(), csrf: csrf.clone(), error: String::new() };
    Ok(guard::with_login_csrf(render(&page)?, &csrf, fresh, s.config.secure_cookies))
}

#[derive(Deserialize)]
pub struct CodeForm {
    code: String,
}

pub async fn code(
    State(s): State<AppState>,
    headers: HeaderMap,
    Source(source): Source,
    Form(f): Form<CodeForm>,
) -> Result<Response, WebError> {
    let challenge = guard::cookie_value(&headers, CHALLENGE_COOKIE).unwrap_or_default();
    let previous = guard::cookie_value(&headers, guard::SESSION_COOKIE);
    let code: String = f.code.chars().take(16).collect();
    match s.engine.login_operator_code(&challenge, &code, previous.as_deref(), source).await? {
        Login::In(started) => logged_in(&s, &started).await,
        Login::Refused { message, .. } if s.engine.login_challenge_live(&challenge).await? => {
            let csrf = guard::cookie_value(&headers, guard::LOGIN_CSRF_COOKIE).unwrap_or_default();
            let mut resp = render(&CodePage { school_name: s.config.school_name(), csrf, error: message })?;
            *resp.status_mut() = axum::http::StatusCode::UNAUTHORIZED;
            Ok(resp)
        }
        Login::Refused { message, .. } => {
            // The challenge is over (timed out or too many codes): the password again.
            let (csrf, fresh) = guard::login_csrf(&headers);
            let page = refused(&s, csrf.clone(), message, "", None)?;
            let mut resp = guard::with_login_csrf(page, &csrf, fresh, s.config.secure_cookies);
            guard::set_cookie(&mut resp, CHALLENGE_COOKIE, "", 0, s.config.secure_cookies);
            Ok(resp)
        }
        Login::Code(_) => Err(WebError::Internal("a code asked for another code".into())),
    }
}

/// Every operator logs out here, whatever their roles.
pub async fn logout(State(s): State<AppState>, OperatorCtx(c): OperatorCtx) -> Result<Response, WebError> {
    s.engine.end_session(&c.token).await?;
    let mut resp = Redirect::to("/admin/login").into_response();
    guard::end_cookie(&mut resp, &s);
    Ok(resp)
}

#[derive(Template)]
#[template(path = "admin/none.html")]
struct NonePage {
    chrome: Chrome,
}

/// An operator whose roles give no section of the finance view.
pub async fn no_sections(State(s): State<AppState>, OperatorCtx(c): OperatorCtx) -> Result<Response, WebError> {
    render(&NonePage { chrome: super::chrome(&s, &c, "") })
}
