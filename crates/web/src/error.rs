use crate::i18n::Translate as _;
use askama::Template;
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Redirect, Response};
use bursar_engine::EngineError;
use bursar_store::StoreError;
use thiserror::Error;

/// Every way a web request can fail, mapped to HTTP exactly once (here).
#[derive(Debug, Error)]
pub enum WebError {
    #[error("页面不存在")]
    NotFound,
    /// Not logged in (or session expired): back to the right login page.
    #[error("请先登录")]
    LoginRequired { login_path: &'static str },
    #[error("无权访问")]
    Forbidden,
    #[error("页面已过期，请刷新后重试")]
    BadCsrf,
    /// Something the user can fix; shown to them as is.
    #[error("{0}")]
    BadRequest(String),
    #[error("支付渠道暂时不可用，请稍后重试")]
    ChannelUnavailable,
    #[error("系统繁忙，请稍后重试")]
    Internal(String),
}

impl From<StoreError> for WebError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound(_) => WebError::NotFound,
            other => WebError::Internal(other.to_string()),
        }
    }
}

impl From<EngineError> for WebError {
    fn from(e: EngineError) -> Self {
        match e {
            EngineError::Rule(r) => WebError::BadRequest(r.to_string()),
            EngineError::NotFound(_) => WebError::NotFound,
            EngineError::OrderNotOpen(_)
            | EngineError::MethodUnavailable(_)
            | EngineError::CardUnavailable(_)
            | EngineError::CardPassword(_)
            | EngineError::InsufficientBalance { .. } => WebError::BadRequest(e.to_string()),
            EngineError::Channel(c) => {
                tracing::warn!(error = %c, "channel error");
                WebError::ChannelUnavailable
            }
            EngineError::Store(s) => s.into(),
            other => WebError::Internal(other.to_string()),
        }
    }
}

#[derive(Template)]
#[template(path = "error.html")]
struct ErrorPage<'a> {
    title: &'a str,
    message: String,
}

impl IntoResponse for WebError {
    fn into_response(self) -> Response {
        let status = match &self {
            WebError::NotFound => StatusCode::NOT_FOUND,
            WebError::LoginRequired { login_path } => return Redirect::to(login_path).into_response(),
            WebError::Forbidden => StatusCode::FORBIDDEN,
            WebError::BadCsrf => StatusCode::FORBIDDEN,
            WebError::BadRequest(_) => StatusCode::UNPROCESSABLE_ENTITY,
            WebError::ChannelUnavailable => StatusCode::BAD_GATEWAY,
            WebError::Internal(detail) => {
                tracing::error!(%detail, "internal error");
                StatusCode::INTERNAL_SERVER_ERROR
            }
        };
        let page = ErrorPage { title: "出错了", message: self.to_string() };
        match page.render() {
            Ok(html) => (status, Html(html)).into_response(),
            Err(_) => (status, self.to_string()).into_response(),
        }
    }
}
