//! What every page shows around its content, and formatting helpers.

use askama::Template;
use axum::response::{Html, IntoResponse, Response};
use bursar_domain::time_fmt;
use bursar_domain::Fen;

use crate::WebError;

/// Renders a page template into a response.
pub fn render<T: Template>(t: &T) -> Result<Response, WebError> {
    t.render().map(|h| Html(h).into_response()).map_err(|e| WebError::Internal(format!("template: {e}")))
}

/// The page frame: school name, who is logged in, the CSRF token for the logout form.
pub struct Chrome {
    pub school_name: String,
    pub user_name: String,
    pub csrf: String,
    /// Which navigation entry is current.
    pub section: &'static str,
    /// `portal` or `admin`: which navigation to show.
    pub area: &'static str,
    /// A finance operator (sees all of the finance view), rather than a department.
    pub finance: bool,
}

pub fn yuan(fen: i64) -> String {
    Fen(fen).to_string()
}

pub fn datetime(ms: i64) -> String {
    time_fmt::datetime_cst(ms)
}

pub fn date_or_unlimited(ms: Option<i64>, end: bool) -> String {
    match ms {
        // Windows end exclusively at midnight; show the last day that is still open.
        Some(v) if end => time_fmt::date_cst(v - 1),
        Some(v) => time_fmt::date_cst(v),
        None => "不限".into(),
    }
}

pub fn method_label(code: &str) -> &'static str {
    bursar_domain::payment::PayMethod::parse(code).map(|m| m.label_zh()).unwrap_or("其他")
}

pub fn payment_state_label(code: &str) -> &'static str {
    bursar_domain::payment::PaymentState::parse(code).map(|s| s.label_zh()).unwrap_or("未知")
}
