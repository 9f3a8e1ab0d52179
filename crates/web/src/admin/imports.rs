//! Finance imports offline collections (cash desk, POS, bank deduction) from CSV or xlsx. A file
//! with any bad row is refused whole, every bad row listed with its reason.

use crate::guard::get;
use askama::Template;
use axum::extract::{Multipart, State};
use axum::response::Response;
use bursar_domain::access::Permission;
use bursar_engine::collection::offline::ImportReport;

use crate::guard::{Guard, OperatorCtx, Routes, MAX_UPLOAD_BYTES};
use crate::i18n::Translate as _;
use crate::views::{datetime, render, Chrome};
use crate::{AppState, WebError};

pub fn routes() -> Routes {
    Routes::new().route(
        "/admin/imports",
        Guard::Permission(Permission::ImportOffline),
        get(page).post(upload).body_limit(MAX_UPLOAD_BYTES),
    )
}

pub struct PastImport {
    pub file_name: String,
    pub rows: i64,
    pub imported: i64,
    pub already: i64,
    pub at: String,
}

#[derive(Template)]
#[template(path = "admin/imports.html")]
struct ImportsPage {
    chrome: Chrome,
    report: Option<ImportReport>,
    file_name: String,
    error: String,
    past: Vec<PastImport>,
}

async fn render_page(
    s: &AppState,
    c: &OperatorCtx,
    report: Option<ImportReport>,
    file_name: String,
    error: String,
) -> Result<Response, WebError> {
    let past = s
        .engine
        .operator_view(c.0.principal())
        .offline_imports()
        .await?
        .into_iter()
        .map(|r| PastImport {
            file_name: r.file_name,
            rows: r.row_count,
            imported: r.imported,
            already: r.already_imported,
            at: datetime(r.created_at_ms),
        })
        .collect();
    let status = if report.as_ref().is_some_and(|r| !r.errors.is_empty()) || !error.is_empty() {
        axum::http::StatusCode::UNPROCESSABLE_ENTITY
    } else {
        axum::http::StatusCode::OK
    };
    let chrome = super::chrome(s, &c.0, "imports");
    let mut resp = render(&ImportsPage { chrome, report, file_name, error, past })?;
    *resp.status_mut() = status;
    Ok(resp)
}

pub async fn page(State(s): State<AppState>, c: OperatorCtx) -> Result<Response, WebError> {
    render_page(&s, &c, None, String::new(), String::new()).await
}

pub async fn upload(State(s): State<AppState>, c: OperatorCtx, mut form: Multipart) -> Result<Response, WebError> {
    let mut file: Option<(String, Vec<u8>)> = None;
    while let Some(field) = form.next_field().await.map_err(|e| WebError::BadRequest(format!("上传失败：{e}")))? {
        if field.name() == Some("file") {
            let name: String = field
                .file_name()
                .unwrap_or("upload")
                .chars()
                .filter(|c| crate::hygiene::allowed(*c) && *c != '\n' && *c != '\r')
                .take(120)
                .collect();
            let bytes = field.bytes().await.map_err(|e| WebError::BadRequest(format!("文件过大或上传失败：{e}")))?;
            file = Some((name, bytes.to_vec()));
        }
    }
    let Some((name, bytes)) = file.filter(|(_, b)| !b.is_empty()) else {
        return render_page(&s, &c, None, String::new(), "请选择要导入的文件".into()).await;
    };
    match s.engine.import_offline(c.0.principal(), &name, &bytes).await {
        Ok(report) => render_page(&s, &c, Some(report), name, String::new()).await,
        Err(bursar_engine::EngineError::Rule(e)) => render_page(&s, &c, None, name, e.to_string()).await,
        Err(e) => Err(e.into()),
    }
}
