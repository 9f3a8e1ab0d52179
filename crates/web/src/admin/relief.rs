//! 批量减免缓缴: a department or finance asks for many reductions and deferrals at once from a
//! spreadsheet (the green-channel list, the student loan centre's list); the requests wait as one
//! batch, which another person approves or rejects whole on the 减免缓缴 page (four eyes).

use askama::Template;
use axum::extract::{Multipart, Path, State};
use axum::response::{IntoResponse, Redirect, Response};
use axum::Form;
use bursar_domain::access::Permission;
use bursar_domain::Fen;
use bursar_engine::relief_import::ReliefReport;
use bursar_engine::EngineError;
use serde::Deserialize;

use super::import_report::ImportReport;
use crate::guard::{get, post, Current, Guard, OperatorCtx, Routes, MAX_UPLOAD_BYTES};
use crate::i18n::Translate as _;
use crate::views::{datetime, render, yuan, Chrome};
use crate::{AppState, WebError};

pub fn routes() -> Routes {
    Routes::new()
        .route(
            "/admin/relief",
            Guard::Permission(Permission::RequestWaiver),
            get(page).post(import).body_limit(MAX_UPLOAD_BYTES),
        )
        .route("/admin/relief-template.xlsx", Guard::Operator, get(template))
        // Approvers and the submitter (the engine decides: approver, or the one who sent it).
        .route("/admin/relief/{batch}", Guard::Operator, get(batch_page))
        .route("/admin/relief/{batch}/lines.xlsx", Guard::Operator, get(batch_xlsx))
        .route("/admin/relief/{batch}/decide", Guard::Permission(Permission::ApproveWaiver), post(decide))
}

#[derive(Template)]
#[template(path = "admin/relief.html")]
struct ReliefPage {
    chrome: Chrome,
    report: Option<ImportReport>,
    /// The batches this operator submitted (an approver sees them on 减免缓缴).
    batches: Vec<BatchLine>,
    error: String,
}

async fn page_with(
    s: &AppState,
    c: &Current,
    imported: Option<(String, ReliefReport)>,
    error: String,
) -> Result<Response, WebError> {
    let report = imported.map(|(file_name, r)| {
        let summary = format!(
            "共 {} 行，申请减免 {} 笔（合计 {}）、缓缴 {} 笔，已提交审批",
            r.rows,
            r.waivers,
            yuan(r.waived),
            r.deferrals
        );
        ImportReport::new(file_name, r.applied, summary, &r.problems)
    });
    let failed = !error.is_empty() || report.as_ref().is_some_and(|r| !r.applied);
    let batches = if c.principal().can(Permission::ApproveWaiver) { Vec::new() } else { lines(s, c).await? };
    let mut resp = render(&ReliefPage { chrome: super::chrome(s, c, "relief"), report, batches, error })?;
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
        return page_with(&s, &c, None, "请选择要导入的文件".into()).await;
    };
    let none = |_: usize, _: usize| {};
    match s.engine.import_relief(c.principal(), &bytes, up.mode, &none).await {
        Ok(report) => page_with(&s, &c, Some((name, report)), String::new()).await,
        Err(EngineError::Rule(e)) => page_with(&s, &c, None, format!("{name}：{e}")).await,
        Err(e) => Err(e.into()),
    }
}

/// A batch as the 减免缓缴 page lists it.
pub struct BatchLine {
    pub id: String,
    pub requested_at: String,
    pub waivers: i64,
    pub waived: String,
    pub deferrals: i64,
    pub waiting: bool,
    pub state: &'static str,
    pub badge: &'static str,
    pub decision: String,
}

/// The batches for the review page.
pub(super) async fn lines(s: &AppState, c: &Current) -> Result<Vec<BatchLine>, WebError> {
    Ok(s.engine
        .relief_batches(c.principal())
        .await?
        .into_iter()
        .map(|b| {
            let (state, badge) = match (b.waiting > 0, b.approved) {
                (true, _) => ("待审批", "warn"),
                (false, true) => ("已批准", "ok"),
                (false, false) => ("已驳回", "bad"),
            };
            BatchLine {
                id: b.batch_id,
                requested_at: datetime(b.created_at_ms),
                waivers: b.waivers,
                waived: yuan(Fen(b.waived_fen)),
                deferrals: b.deferrals,
                waiting: b.waiting > 0,
                state,
                badge,
                decision: b.decision_comment.unwrap_or_default(),
            }
        })
        .collect())
}

#[derive(Deserialize)]
pub struct DecideForm {
    decision: String,
    #[serde(default)]
    comment: String,
}

pub async fn decide(
    State(s): State<AppState>,
    OperatorCtx(c): OperatorCtx,
    Path(batch): Path<String>,
    Form(f): Form<DecideForm>,
) -> Result<Response, WebError> {
    let approve = f.decision == "approve";
    match s.engine.decide_relief_batch(c.principal(), &batch, approve, &f.comment).await {
        Ok(_) => Ok(Redirect::to("/admin/waivers/review?done=1#batches").into_response()),
        Err(EngineError::Rule(e)) => super::waivers::page_with(&s, &c, "", e.to_string()).await,
        Err(EngineError::Access(
            a @ (bursar_domain::AccessError::OwnRequest | bursar_domain::AccessError::OwnApplication),
        )) => super::waivers::page_with(&s, &c, "", a.to_string()).await,
        Err(e) => Err(e.into()),
    }
}

pub struct RequestLine {
    pub identifier: String,
    pub name: String,
    pub item: String,
    pub year: String,
    pub kind: &'static str,
    pub what: String,
    pub reason: String,
    pub state: &'static str,
}

#[derive(Template)]
#[template(path = "admin/relief_batch.html")]
struct BatchPage {
    chrome: Chrome,
    batch: String,
    rows: Vec<RequestLine>,
    /// Requests in the batch (the page shows the first [`SHOWN`]; the xlsx has them all).
    total: i64,
}

/// Requests a batch's page lists.
const SHOWN: i64 = 1_000;
/// The largest batch a file may make (`RELIEF_LIMITS`), for the download.
const ALL: i64 = 20_000;

fn request_lines(lines: Vec<bursar_engine::rows::ReliefLine>) -> Vec<RequestLine> {
    use bursar_domain::fee::{DeferralKind, WaiverState};
    lines
        .into_iter()
        .map(|l| {
            let deferral = DeferralKind::parse(&l.kind);
            RequestLine {
                identifier: l.identifier,
                name: l.name,
                item: l.item_name,
                year: l.academic_year,
                kind: deferral.map(DeferralKind::label_zh).unwrap_or("减免"),
                what: match deferral {
                    Some(_) => format!("缓缴至 {}", bursar_domain::time_fmt::date_cst(l.until_ms)),
                    None => yuan(Fen(l.amount_fen)),
                },
                reason: l.reason,
                state: WaiverState::parse(&l.state).map(WaiverState::label_zh).unwrap_or(""),
            }
        })
        .collect()
}

/// Every request of a batch as a workbook, for an approver to read a long list before deciding.
pub async fn batch_xlsx(
    State(s): State<AppState>,
    OperatorCtx(c): OperatorCtx,
    Path(batch): Path<String>,
) -> Result<Response, WebError> {
    let (lines, _) = s.engine.relief_batch_lines(c.principal(), &batch, ALL).await?;
    if lines.is_empty() {
        return Err(WebError::NotFound);
    }
    let xerr = |e: rust_xlsxwriter::XlsxError| WebError::Internal(format!("xlsx: {e}"));
    let mut book = rust_xlsxwriter::Workbook::new();
    let bold = rust_xlsxwriter::Format::new().set_bold();
    let sheet = book.add_worksheet().set_name("批量申请明细").map_err(xerr)?;
    let header = ["学号/工号", "姓名", "收费项目", "学年", "类型", "减免金额／缓缴至", "原因", "状态"];
    for (col, h) in header.iter().enumerate() {
        sheet.write_string_with_format(0, col as u16, *h, &bold).map_err(xerr)?;
        sheet.set_column_width(col as u16, if col == 6 { 36 } else { 14 }).map_err(xerr)?;
    }
    for (i, r) in request_lines(lines).into_iter().enumerate() {
        let row = u32::try_from(i + 1).map_err(|_| WebError::Internal("too many rows".into()))?;
        for (col, v) in
            [r.identifier, r.name, r.item, r.year, r.kind.to_string(), r.what, r.reason, r.state.to_string()]
                .iter()
                .enumerate()
        {
            sheet.write_string(row, col as u16, v).map_err(xerr)?;
        }
    }
    sheet.set_freeze_panes(1, 0).map_err(xerr)?;
    let bytes = book.save_to_buffer().map_err(xerr)?;
    Ok(super::import_report::xlsx_response(bytes, "relief-batch.xlsx"))
}

/// The requests of one batch, for the approver to read before deciding.
pub async fn batch_page(
    State(s): State<AppState>,
    OperatorCtx(c): OperatorCtx,
    Path(batch): Path<String>,
) -> Result<Response, WebError> {
    let (lines, total) = s.engine.relief_batch_lines(c.principal(), &batch, SHOWN).await?;
    if lines.is_empty() {
        return Err(WebError::NotFound);
    }
    let rows = request_lines(lines);
    render(&BatchPage { chrome: super::chrome(&s, &c, "waivers"), batch, rows, total })
}

/// The list's template: the header row (numbers kept as text, so 学号 keep their leading zeros),
/// two example rows, and a sheet of notes that is not read.
pub async fn template(OperatorCtx(_): OperatorCtx) -> Result<Response, WebError> {
    super::import_report::template_xlsx(
        "减免缓缴名单",
        &[
            &["学号/工号", "项目编码", "学年", "类型", "减免金额", "减至金额", "缓缴至", "原因"],
            &["2026010001", "ZSF", "2026-2027", "减免", "600.00", "", "", "家庭经济困难认定（校资〔2026〕8 号）"],
            &["2026010003", "XF", "2026-2027", "减免", "", "2000.00", "", "孤残学生学费减至 2000 元"],
            &["2026010002", "XF", "2026-2027", "绿色通道", "", "", "2027-03-31", "新生绿色通道"],
        ],
        &[14.0, 14.0, 14.0, 14.0, 14.0, 14.0, 14.0, 36.0],
        &[
            "每行一笔：学号/工号、项目编码、学年确定哪一笔应收（须已生成）。",
            "类型：减免、困难缓缴、绿色通道、助学贷款。",
            "减免金额：元，最多两位小数；或填减至金额（减免后还应缴多少），两项只填一项；都留空表示减免该项尚欠的全部金额。缓缴不填。",
            "缓缴至：日期，如 2027-03-31，须在今天之后、一年半以内。减免不填。",
            "原因必填（文件号、困难认定、贷款合同号等），缴费人能看到减免原因。",
            "提交后整批等待另一位审批人批准或驳回。本说明页不会被导入。",
        ],
        "relief-template.xlsx",
    )
}
