//! 我的账号 › 动态口令: an operator sets up their second factor (scan the QR code with an
//! authenticator app, type one code to confirm), sees since when it is on, and may turn it off
//! when their roles do not require it. Roles that approve money are sent here until it is on.

use askama::Template;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::Form;
use bursar_engine::access::second_factor::Setup;
use bursar_engine::EngineError;

use crate::guard::{get, Guard, OperatorCtx, Routes};
use crate::i18n::Translate as _;
use crate::views::{datetime, render, Chrome};
use crate::{AppState, WebError};

pub fn routes() -> Routes {
    Routes::new().route("/admin/account/second-factor", Guard::Operator, get(page).post(act))
}

#[derive(Template)]
#[template(path = "admin/second_factor.html")]
struct Page {
    chrome: Chrome,
    enabled: bool,
    /// When it was turned on, as shown.
    since: String,
    required: bool,
    /// The setup under way: (QR code SVG, secret to type by hand).
    setup: Option<(String, String)>,
    notice: &'static str,
    error: String,
}

async fn page_with(s: &AppState, c: &OperatorCtx, notice: &'static str, error: String) -> Result<Response, WebError> {
    let Some(me) = c.0.principal().operator() else { return Err(WebError::NotFound) };
    let st = s.engine.second_factor_status(me).await?;
    let failed = !error.is_empty();
    let setup = st.setup.filter(|_| !st.enabled).map(|Setup { secret, uri }| (bursar_channels::qr_svg(&uri), secret));
    let mut resp = render(&Page {
        chrome: super::chrome(s, &c.0, "account"),
        enabled: st.enabled,
        since: if st.enabled { datetime(st.enabled_at_ms) } else { String::new() },
        required: st.required,
        setup,
        notice,
        error,
    })?;
    if failed {
        *resp.status_mut() = StatusCode::UNPROCESSABLE_ENTITY;
    }
    Ok(resp)
}

async fn page(State(s): State<AppState>, c: OperatorCtx) -> Result<Response, WebError> {
    page_with(&s, &c, "", String::new()).await
}

async fn act(
    State(s): State<AppState>,
    c: OperatorCtx,
    Form(form): Form<Vec<(String, String)>>,
) -> Result<Response, WebError> {
    let field = |k: &str| form.iter().find(|(n, _)| n == k).map(|(_, v)| v.chars().take(16).collect::<String>());
    let code = field("code").unwrap_or_default();
    let by = c.0.principal();
    let r = match field("action").as_deref() {
        Some("begin") => {
            let password = form.iter().find(|(n, _)| n == "password").map(|(_, v)| v.as_str()).unwrap_or_default();
            s.engine
                .begin_second_factor(by, password)
                .await
                .map(|_| "请用验证器应用扫描二维码，再输入它显示的 6 位数字。")
        }
        Some("confirm") => s
            .engine
            .confirm_second_factor(by, &code, &c.0.token)
            .await
            .map(|_| "动态口令已开启。以后登录时，输入密码后还须输入动态口令。"),
        Some("off") => s.engine.turn_off_own_second_factor(by, &code).await.map(|_| "动态口令已关闭。"),
        _ => return Err(WebError::BadRequest("无效的操作".into())),
    };
    match r {
        // A required setup just finished: on to the work.
        Ok(_) if field("action").as_deref() == Some("confirm") && c.0.session.second_factor_missing => {
            Ok(Redirect::to(super::home_of(by)).into_response())
        }
        Ok(notice) => page_with(&s, &c, notice, String::new()).await,
        Err(EngineError::Rule(e)) => page_with(&s, &c, "", e.to_string()).await,
        Err(e) => Err(e.into()),
    }
}
