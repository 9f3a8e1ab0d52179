//! Finance imports offline collections (cash desk, POS, bank deduction) from CSV or xlsx. A file
//! with any bad row is refused whole, every bad row listed with its reason.

use askama::Template;
use axum::extract::{DefaultBodyLimit, Multipart, State};
use axum::response::Response;
use axum::routing::get;
use axum::Router;
use bursar_engine::offline::ImportReport;

use crate::auth::{self, FinanceSession};
use crate::i18n::Translate as _;
use crate::views::{datetime, render, Chrome};
use crate::{AppState, WebError};

/// Large enough for a term's cash-desk records.
const MAX_FILE_BYTES: usize = 10 * 1024 * 1024;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/admin/imports", get(page).post(upload))
        .layer(DefaultBodyLimit::max(MAX_FILE_BYTES + 64 * 1024))
}

pub struct PastImport {
    pub file_name: String,
    pub rows: i64,
    pub imported: i64,
    pub already: i64,
    pub at: String,
}

#[derive(Template)]
#[template(path = "admin_imports.html")]
struct ImportsPage {
    chrome: Chrome,
    report: Option<ImportReport>,
    file_name: String,
    error: String,
    past: Vec<PastImport>,
}

fn chrome(s: &AppState, session: &FinanceSession) -> Chrome {
    Chrome {
        school_name: s.config.school_name(),
        user_name: session.name.clone(),
        csrf: session.csrf.clone(),
        section: "imports",
        area: "admin",
        finance: true,
    }
}

async fn render_page(
    s: &AppState,
    session: &FinanceSession,
    report: Option<ImportReport>,
    file_name: String,
    error: String,
) -> Result<Response, WebError> {
    let mut c = s.engine.store().read().await?;
    let past = bursar_store::payments::offline_imports(&mut c, 20)
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
    let mut resp = render(&ImportsPage { chrome: chrome(s, session), report, file_name, error, past })?;
    *resp.status_mut() = status;
    Ok(resp)
}

async fn page(State(s): State<AppState>, session: FinanceSession) -> Result<Response, WebError> {
    render_page(&s, &session, None, String::new(), String::new()).await
}

async fn upload(State(s): State<AppState>, session: FinanceSession, mut form: Multipart) -> Result<Response, WebError> {
    let mut csrf = String::new();
    let mut file: Option<(String, Vec<u8>)> = None;
    while let Some(field) = form.next_field().await.map_err(|e| WebError::BadRequest(format!("上传失败：{e}")))? {
        match field.name() {
            Some("csrf") => csrf = field.text().await.map_err(|e| WebError::BadRequest(e.to_string()))?,
            Some("file") => {
                let name = field.file_name().unwrap_or("upload").to_string();
                let bytes =
                    field.bytes().await.map_err(|e| WebError::BadRequest(format!("文件过大或上传失败：{e}")))?;
                file = Some((name, bytes.to_vec()));
            }
            _ => {}
        }
    }
    auth::check_csrf(&session.csrf, Some(&csrf))?;
    let Some((name, bytes)) = file.filter(|(_, b)| !b.is_empty()) else {
        return render_page(&s, &session, None, String::new(), "请选择要导入的文件".into()).await;
    };
    match s.engine.import_offline(&name, &bytes, &session.operator_id).await {
        Ok(report) => render_page(&s, &session, Some(report), name, String::new()).await,
        Err(bursar_engine::EngineError::Rule(e)) => render_page(&s, &session, None, name, e.to_string()).await,
        Err(e) => Err(e.into()),
    }
}
