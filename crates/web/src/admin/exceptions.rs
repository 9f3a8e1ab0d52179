//! 异常处理: what the platform refused from a channel that finance must look into (amounts that
//! do not match, payments or refunds it does not know, the wrong merchant account, many forged
//! notifications), each resolved with a comment; and the bounded record of refused input.

use crate::guard::{get, post};
use askama::Template;
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use axum::Form;
use bursar_domain::access::Permission;
use bursar_domain::exception::ExceptionState;
use serde::Deserialize;

use crate::guard::{Current, Guard, OperatorCtx, Routes};
use crate::i18n::Translate as _;
use crate::views::{datetime, render, Chrome};
use crate::{AppState, WebError};

pub fn routes() -> Routes {
    Routes::new().route("/admin/exceptions", Guard::Permission(Permission::ViewCollection), get(page)).route(
        "/admin/exceptions/{id}/resolve",
        Guard::Permission(Permission::ResolveExceptions),
        post(resolve),
    )
}

pub struct ExceptionView {
    pub id: String,
    pub kind: &'static str,
    pub subject: String,
    pub detail: String,
    pub open: bool,
    pub occurrences: i64,
    pub first: String,
    pub last: String,
    pub resolution: String,
}

pub struct RefusalView {
    pub source: String,
    pub class: &'static str,
    pub hour: String,
    pub occurrences: i64,
    pub kib: String,
    pub sample: String,
}

#[derive(Template)]
#[template(path = "admin/exceptions.html")]
struct ExceptionsPage {
    chrome: Chrome,
    open: Vec<ExceptionView>,
    resolved: Vec<ExceptionView>,
    refusals: Vec<RefusalView>,
    may_resolve: bool,
    notice: &'static str,
    error: String,
}

/// Where a refused message was sent, in words.
fn source_label(source: &str) -> String {
    match source.strip_prefix("notify:").and_then(bursar_domain::payment::ChannelKind::parse) {
        Some(ch) => format!("{}通知地址", ch.label_zh()),
        None => source.to_string(),
    }
}

async fn page_with(s: &AppState, c: &Current, notice: &'static str, error: String) -> Result<Response, WebError> {
    let (rows, refusals) = s.engine.exceptions(c.principal()).await?;
    let (mut open, mut resolved) = (Vec::new(), Vec::new());
    for r in rows {
        let resolution = match (&r.resolution, r.resolved_at_ms) {
            (Some(text), Some(at)) => {
                format!("{} 于 {} 处理：{text}", r.resolved_by.clone().unwrap_or_default(), datetime(at))
            }
            _ => String::new(),
        };
        let v = ExceptionView {
            id: r.id,
            kind: r.kind.label_zh(),
            subject: r.subject,
            detail: r.detail,
            open: r.state == ExceptionState::Open,
            occurrences: r.occurrences,
            first: datetime(r.first_at_ms),
            last: datetime(r.last_at_ms),
            resolution,
        };
        if v.open {
            open.push(v);
        } else {
            resolved.push(v);
        }
    }
    let refusals = refusals
        .into_iter()
        .map(|r| RefusalView {
            source: source_label(&r.source),
            class: r.class.label_zh(),
            hour: datetime(r.hour_ms),
            occurrences: r.occurrences,
            kib: format!("{:.1}", r.bytes as f64 / 1024.0),
            sample: r.sample,
        })
        .collect();
    let failed = !error.is_empty();
    let mut resp = render(&ExceptionsPage {
        chrome: super::chrome(s, c, "exceptions"),
        open,
        resolved,
        refusals,
        may_resolve: c.principal().can(Permission::ResolveExceptions),
        notice,
        error,
    })?;
    if failed {
        *resp.status_mut() = axum::http::StatusCode::UNPROCESSABLE_ENTITY;
    }
    Ok(resp)
}

#[derive(Deserialize)]
pub struct DoneQuery {
    done: Option<String>,
}

pub async fn page(
    State(s): State<AppState>,
    OperatorCtx(c): OperatorCtx,
    Query(q): Query<DoneQuery>,
) -> Result<Response, WebError> {
    page_with(&s, &c, if q.done.is_some() { "已记录处理结果。" } else { "" }, String::new()).await
}

#[derive(Deserialize)]
pub struct ResolveForm {
    resolution: String,
}

pub async fn resolve(
    State(s): State<AppState>,
    OperatorCtx(c): OperatorCtx,
    Path(id): Path<String>,
    Form(f): Form<ResolveForm>,
) -> Result<Response, WebError> {
    match s.engine.resolve_exception(c.principal(), &id, &f.resolution).await {
        Ok(()) => Ok(Redirect::to("/admin/exceptions?done=1").into_response()),
        Err(bursar_engine::EngineError::Rule(r)) => page_with(&s, &c, "", r.to_string()).await,
        Err(e) => Err(e.into()),
    }
}
