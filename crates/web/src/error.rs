use crate::i18n::Translate as _;
use askama::Template;
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Redirect, Response};
use bursar_domain::access::AccessError;
use bursar_engine::EngineError;
use thiserror::Error;

/// Every way a web request can fail, mapped to HTTP exactly once (here).
#[derive(Debug, Error)]
pub enum WebError {
    #[error("页面不存在")]
    NotFound,
    /// Not logged in (or session expired): back to the right login page.
    #[error("请先登录")]
    LoginRequired { login_path: String },
    /// Logged in but without the permission; the message names it.
    #[error("{0}")]
    Forbidden(String),
    #[error("页面已过期，请刷新后重试")]
    BadCsrf,
    /// Something the user can fix; shown to them as is.
    #[error("{0}")]
    BadRequest(String),
    #[error("支付渠道暂时不可用，请稍后重试")]
    ChannelUnavailable,
    /// Logged with its detail; the person sees only that the system is busy.
    #[error("系统繁忙，请稍后重试")]
    Internal(String),
}

impl From<EngineError> for WebError {
    fn from(e: EngineError) -> Self {
        match e {
            EngineError::Rule(r) => WebError::BadRequest(r.to_string()),
            EngineError::Access(AccessError::OutOfScope) | EngineError::NotFound(_) => WebError::NotFound,
            EngineError::Access(a @ AccessError::Missing(_)) => WebError::Forbidden(a.to_string()),
            EngineError::Access(a @ (AccessError::OwnRequest | AccessError::OwnApplication)) => {
                WebError::BadRequest(a.to_string())
            }
            EngineError::OrderNotOpen(_)
            | EngineError::MethodUnavailable(_)
            | EngineError::CardUnavailable(_)
            | EngineError::CardPassword(_)
            | EngineError::InsufficientBalance { .. }
            | EngineError::Login(_) => WebError::BadRequest(e.to_string()),
            EngineError::Param(p) => WebError::BadRequest(p.message),
            EngineError::Channel(c) => {
                tracing::warn!(error = %c, "channel error");
                WebError::ChannelUnavailable
            }
            EngineError::Store(bursar_engine::StoreError::NotFound(_)) => WebError::NotFound,
            other => WebError::Internal(other.to_string()),
        }
    }
}

#[derive(Template)]
#[template(path = "error.html")]
struct ErrorPage<'a> {
    title: &'a str,
    message: String,
    /// Back to the home of the area the request was in (the finance view or the portal).
    home: &'static str,
}

impl IntoResponse for WebError {
    fn into_response(self) -> Response {
        let status = match &self {
            WebError::NotFound => StatusCode::NOT_FOUND,
            WebError::LoginRequired { login_path } => return Redirect::to(login_path.as_str()).into_response(),
            WebError::Forbidden(_) => StatusCode::FORBIDDEN,
            WebError::BadCsrf => StatusCode::FORBIDDEN,
            WebError::BadRequest(_) => StatusCode::UNPROCESSABLE_ENTITY,
            WebError::ChannelUnavailable => StatusCode::BAD_GATEWAY,
            WebError::Internal(detail) => {
                tracing::error!(%detail, "internal error");
                StatusCode::INTERNAL_SERVER_ERROR
            }
        };
        let home = if crate::i18n::current_path().starts_with("/admin") { "/admin" } else { "/portal" };
        let page = ErrorPage { title: "出错了", message: self.to_string(), home };
        match page.render() {
            Ok(html) => (status, Html(html)).into_response(),
            Err(_) => (status, self.to_string()).into_response(),
        }
    }
}
