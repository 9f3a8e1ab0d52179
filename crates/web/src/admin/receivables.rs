//! 应收导入: what payers owe, imported from the school's spreadsheets (学号/工号, 项目编码, 学年,
//! 金额, 备注) with every bad row named and an error report as xlsx (the same report form as
//! the roster's).

use askama::Template;
use axum::extract::{Multipart, State};
use axum::response::Response;
use bursar_domain::access::Permission;
use bursar_engine::bills_import::BillsReport;

use super::import_report::ImportReport;

use crate::guard::{get, Current, Guard, OperatorCtx, Routes, MAX_UPLOAD_BYTES};
use crate::i18n::Translate as _;
use crate::views::{render, Chrome};
use crate::{AppState, WebError};

pub fn routes() -> Routes {
    Routes::new().route(
        "/admin/receivables",
        Guard::Permission(Permission::RaiseReceivables),
        get(page).post(import).body_limit(MAX_UPLOAD_BYTES),
    )
}

#[derive(Template)]
#[template(path = "admin/receivables.html")]
struct ReceivablesPage {
    chrome: Chrome,
    report: Option<ImportReport>,
    error: String,
}

async fn page_with(
    s: &AppState,
    c: &Current,
    imported: Option<(String, BillsReport)>,
    error: String,
) -> Result<Response, WebError> {
    let report = imported.map(|(file_name, r)| {
        let summary = format!("共 {} 行，新生成应收 {} 笔，已有相同应收 {} 笔", r.rows, r.created, r.existing);
        ImportReport::new(file_name, r.applied, summary, &r.problems)
    });
    let failed = !error.is_empty() || report.as_ref().is_some_and(|r| !r.applied);
    let mut resp = render(&ReceivablesPage { chrome: super::chrome(s, c, "receivables"), report, error })?;
    if failed {
        *resp.status_mut() = axum::http::StatusCode::UNPROCESSABLE_ENTITY;
    }
    Ok(resp)
}

pub async fn page(State(s): State<AppState>, OperatorCtx(c): OperatorCtx) -> Result<Response, WebError> {
    page_with(&s, &c, None, String::new()).await
}

pub async fn import(
    State(s): State<AppState>,
    OperatorCtx(c): OperatorCtx,
    form: Multipart,
) -> Result<Response, WebError> {
    let up = super::import_report::read_upload(form).await?;
    let Some((name, bytes)) = up.file else {
        return page_with(&s, &c, None, "请选择要导入的应收文件".into()).await;
    };
    let none = |_: usize, _: usize| {};
    match s.engine.import_bills(c.principal(), &bytes, up.mode, &none).await {
        Ok(report) => page_with(&s, &c, Some((name, report)), String::new()).await,
        Err(bursar_engine::EngineError::Rule(e)) => page_with(&s, &c, None, format!("{name}：{e}")).await,
        Err(e) => Err(e.into()),
    }
}
