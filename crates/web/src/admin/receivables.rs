//! 应收导入: what payers owe, imported from the school's spreadsheets (学号/工号, 项目编码, 学年,
//! 金额, 备注) with every bad row named and an error report as xlsx (the same report form as
//! the roster's).

use askama::Template;
use axum::extract::{Multipart, State};
use axum::response::Response;
use bursar_domain::access::Permission;
use bursar_engine::bills_import::BillsReport;
use bursar_engine::roster::ImportMode;

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
    mut form: Multipart,
) -> Result<Response, WebError> {
    let (mut file, mut mode) = (None, ImportMode::AllOrNothing);
    while let Some(field) = form.next_field().await.map_err(|e| WebError::BadRequest(format!("上传失败：{e}")))? {
        match field.name() {
            Some("file") => {
                let name: String =
                    field.file_name().unwrap_or("upload").chars().filter(|ch| !ch.is_control()).take(120).collect();
                let bytes =
                    field.bytes().await.map_err(|e| WebError::BadRequest(format!("文件过大或上传失败：{e}")))?;
                file = Some((name, bytes.to_vec()));
            }
            Some("valid_rows") => mode = ImportMode::ValidRows,
            _ => {}
        }
    }
    let Some((name, bytes)) = file.filter(|(_, b)| !b.is_empty()) else {
        return page_with(&s, &c, None, "请选择要导入的应收文件".into()).await;
    };
    let none = |_: usize, _: usize| {};
    match s.engine.import_bills(c.principal(), &bytes, mode, &none).await {
        Ok(report) => page_with(&s, &c, Some((name, report)), String::new()).await,
        Err(bursar_engine::EngineError::Rule(e)) => page_with(&s, &c, None, format!("{name}：{e}")).await,
        Err(e) => Err(e.into()),
    }
}
