//! 统计报表: the list of reports, each report with its filters and first rows, and its xlsx.

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::response::Response;
use bursar_domain::access::Permission;
use bursar_domain::payer::PayerKind;
use bursar_domain::payment::ChannelKind;
use bursar_domain::report::{Cell, ColumnKind, ReportKind};
use bursar_engine::reports::xlsx::XlsxReport;
use bursar_engine::reports::{ReportQuery, ReportTable};

use crate::guard::{get, Guard, OperatorCtx, Routes};
use crate::i18n::Translate as _;
use crate::views::{render, yuan, Chrome};
use crate::{AppState, WebError};

/// Rows a report page shows; the xlsx has them all.
const PAGE_ROWS: usize = 500;

pub fn routes() -> Routes {
    let view = Guard::Permission(Permission::ViewReports);
    Routes::new().route("/admin/reports", view, get(list)).route("/admin/reports/{kind}", view, get(report)).route(
        "/admin/reports/{kind}/xlsx",
        view,
        get(report_xlsx),
    )
}

#[derive(Template)]
#[template(path = "admin/reports.html")]
struct ListPage {
    chrome: Chrome,
    reports: Vec<(&'static str, &'static str, &'static str)>,
}

async fn list(State(s): State<AppState>, OperatorCtx(c): OperatorCtx) -> Result<Response, WebError> {
    render(&ListPage {
        chrome: super::chrome(&s, &c, "reports"),
        reports: ReportKind::ALL.iter().map(|k| (k.as_str(), k.label_zh(), k.describe())).collect(),
    })
}

pub struct CellView {
    pub text: String,
    pub num: bool,
}

fn cell_view(c: &Cell) -> CellView {
    match c {
        Cell::Money(f) => CellView { text: yuan(*f), num: true },
        Cell::Count(_) | Cell::Share(_) => CellView { text: c.display(), num: true },
        Cell::Text(_) => CellView { text: c.display(), num: false },
    }
}

#[derive(Template)]
#[template(path = "admin/report.html")]
struct ReportPage {
    chrome: Chrome,
    kind: &'static str,
    title: &'static str,
    describe: &'static str,
    snapshot: bool,
    q: ReportQuery,
    error: String,
    filters: Vec<(&'static str, String)>,
    headers: Vec<(&'static str, bool)>,
    rows: Vec<Vec<CellView>>,
    totals: Vec<CellView>,
    row_count: usize,
    shown: usize,
    export: String,
    departments: Vec<(String, String)>,
    items: Vec<(String, String, String)>,
    operators: Vec<(String, String)>,
    channels: Vec<(&'static str, &'static str)>,
    payer_kinds: Vec<(&'static str, &'static str)>,
}

fn kind_of(code: &str) -> Result<ReportKind, WebError> {
    ReportKind::parse(code).ok_or(WebError::NotFound)
}

/// The first day of this month and today, `YYYY-MM-DD`, when the form names no period.
fn default_period(q: &mut ReportQuery, now_ms: i64) {
    if q.from.trim().is_empty() && q.to.trim().is_empty() {
        let today = bursar_domain::time_fmt::date_cst(now_ms);
        q.from = format!("{}-01", today.get(..7).unwrap_or("2026-01"));
        q.to = today;
    }
}

fn query_string(q: &ReportQuery) -> String {
    let pairs = [
        ("from", &q.from),
        ("to", &q.to),
        ("department", &q.department),
        ("item", &q.item),
        ("channel", &q.channel),
        ("college", &q.college),
        ("grade", &q.grade),
        ("class", &q.class),
        ("payer_kind", &q.payer_kind),
        ("operator", &q.operator),
    ];
    let mut ser = form_urlencoded::Serializer::new(String::new());
    for (k, v) in pairs {
        if !v.trim().is_empty() {
            ser.append_pair(k, v.trim());
        }
    }
    ser.finish()
}

async fn report(
    State(s): State<AppState>,
    OperatorCtx(c): OperatorCtx,
    Path(code): Path<String>,
    Query(mut q): Query<ReportQuery>,
) -> Result<Response, WebError> {
    let kind = kind_of(&code)?;
    default_period(&mut q, s.engine.store().now_ms());
    let choices = s.engine.report_choices(c.principal()).await?;
    let mut table = ReportTable::new(PAGE_ROWS);
    let outcome = match s.engine.report_filter(c.principal(), &q).await {
        Ok(f) => s.engine.run_report(c.principal(), kind, &f, &mut table).await,
        Err(e) => Err(e),
    };
    let error = match outcome {
        Ok(()) => String::new(),
        Err(bursar_engine::EngineError::Rule(e)) => e.to_string(),
        Err(other) => return Err(other.into()),
    };
    let head = table.head.as_ref();
    render(&ReportPage {
        chrome: super::chrome(&s, &c, "reports"),
        kind: kind.as_str(),
        title: kind.label_zh(),
        describe: kind.describe(),
        snapshot: kind.is_snapshot(),
        export: format!("/admin/reports/{}/xlsx?{}", kind.as_str(), query_string(&q)),
        q,
        error,
        filters: head.map(|h| h.filters.clone()).unwrap_or_default(),
        headers: bursar_engine::reports::columns(kind).iter().map(|c| (c.label, c.kind != ColumnKind::Text)).collect(),
        rows: table.rows.iter().map(|r| r.iter().map(cell_view).collect()).collect(),
        totals: table.totals.as_deref().unwrap_or_default().iter().map(cell_view).collect(),
        row_count: table.row_count,
        shown: table.rows.len(),
        departments: choices.departments,
        items: choices.items,
        operators: choices.operators,
        channels: ChannelKind::ALL.iter().map(|k| (k.as_str(), k.label_zh())).collect(),
        payer_kinds: PayerKind::ALL.iter().map(|k| (k.as_str(), k.label_zh())).collect(),
    })
}

async fn report_xlsx(
    State(s): State<AppState>,
    OperatorCtx(c): OperatorCtx,
    Path(code): Path<String>,
    Query(mut q): Query<ReportQuery>,
) -> Result<Response, WebError> {
    let kind = kind_of(&code)?;
    default_period(&mut q, s.engine.store().now_ms());
    let filter = s.engine.report_filter(c.principal(), &q).await?;
    let mut book = XlsxReport::new()?;
    s.engine.run_report(c.principal(), kind, &filter, &mut book).await?;
    let bytes = tokio::task::spawn_blocking(move || book.into_bytes())
        .await
        .map_err(|e| WebError::Internal(format!("xlsx: {e}")))??;
    let day = bursar_domain::time_fmt::date_cst(s.engine.store().now_ms());
    Ok(super::import_report::xlsx_response(bytes, &format!("report-{}-{day}.xlsx", kind.as_str())))
}
