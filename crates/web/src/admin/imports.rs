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
    Routes::new()
        .route(
            "/admin/imports",
            Guard::Permission(Permission::ImportOffline),
            get(page).post(upload).body_limit(MAX_UPLOAD_BYTES),
        )
        .route("/admin/imports/template.xlsx", Guard::Permission(Permission::ImportOffline), get(template))
}

/// The offline-collection template: the columns the import reads, examples, and notes.
async fn template() -> Result<Response, WebError> {
    super::import_report::template_xlsx(
        "线下收款",
        &[
            &["来源参考号", "学号/工号", "收费项目代码", "学年", "金额", "方式", "收款时间", "收款点/账户"],
            &[
                "CASH-20261130-0001",
                "2026010001",
                "ZSF",
                "2026-2027",
                "1200.00",
                "现金",
                "2026/11/30 09:30",
                "财务处一号窗口",
            ],
            &[
                "POS-882731",
                "2026010002",
                "XF",
                "2026-2027",
                "2000.00",
                "POS",
                "2026-11-30 10:05:00",
                "财务处 POS 1 号机",
            ],
            &[
                "BANK-20261130-17",
                "2026010003",
                "XF",
                "2026-2027",
                "4800.00",
                "银行代扣",
                "2026年11月30日",
                "农行代扣户",
            ],
        ],
        &[22.0, 14.0, 14.0, 12.0, 12.0, 10.0, 20.0, 20.0],
        &[
            "每行一笔已经收到的钱：现金、POS 刷卡或银行代扣/转账。",
            "来源参考号：收据号、POS 参考号或银行流水号，同一参考号只导入一次（重复导入的行会跳过）。",
            "学号/工号、收费项目代码、学年确定哪一笔应收（须已生成），金额不能超过尚欠。",
            "方式：现金、POS、银行代扣（或 转账）。",
            "收款时间：2026-11-30 09:30:00、2026/11/30 9:30、2026年11月30日，或 Excel 的日期单元格。",
            "收款点/账户：收款窗口、POS 机或银行账户的名称，对账时按它归集。",
            "整个文件先逐行检查，有任何一行不对则整个文件不导入，并列出每一行的问题。本说明页不会被导入。",
        ],
        "offline-template.xlsx",
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
