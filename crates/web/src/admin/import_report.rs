//! The report of a spreadsheet import, shown the same way for every import of the finance view:
//! a summary, the problems by row and column (the first 200 on the page), and the whole list
//! as an xlsx to download.

use axum::http::{header, HeaderValue};
use axum::response::{IntoResponse, Response};
use axum::Form;
use bursar_engine::roster::RosterProblem;
use serde::Deserialize;

use crate::guard::{post, Guard, OperatorCtx, Routes};
use crate::WebError;

/// The error report's download. It only turns the problems the page was given back into a
/// workbook (nothing is read from the database), so any operator who saw a report may ask.
pub fn routes() -> Routes {
    Routes::new().route("/admin/import-errors.xlsx", Guard::Operator, post(errors_xlsx))
}

/// A spreadsheet upload: the file (its name cleaned for display), whether the operator chose to
/// apply only the valid rows, and the form's other fields.
pub struct Upload {
    pub file: Option<(String, Vec<u8>)>,
    pub mode: bursar_engine::roster::ImportMode,
    pub fields: Vec<(String, String)>,
}

/// Reads an import form (`file`, `valid_rows`, anything else as text); an empty file is none.
pub async fn read_upload(mut form: axum::extract::Multipart) -> Result<Upload, WebError> {
    let mut up = Upload { file: None, mode: bursar_engine::roster::ImportMode::AllOrNothing, fields: Vec::new() };
    let failed = |e: axum::extract::multipart::MultipartError| WebError::BadRequest(format!("上传失败：{e}"));
    while let Some(field) = form.next_field().await.map_err(failed)? {
        match field.name().map(str::to_string).as_deref() {
            Some("file") => {
                let name: String =
                    field.file_name().unwrap_or("upload").chars().filter(|ch| !ch.is_control()).take(120).collect();
                let bytes =
                    field.bytes().await.map_err(|e| WebError::BadRequest(format!("文件过大或上传失败：{e}")))?;
                up.file = Some((name, bytes.to_vec())).filter(|(_, b)| !b.is_empty());
            }
            Some("valid_rows") => up.mode = bursar_engine::roster::ImportMode::ValidRows,
            Some(other) => {
                let text = field.text().await.map_err(failed)?;
                up.fields.push((other.to_string(), text));
            }
            None => {}
        }
    }
    Ok(up)
}

/// An import's template: a first sheet with the header row (bold; every column formatted as
/// text, so numbers such as 学号 keep their leading zeros), example rows, and a sheet of notes
/// that the import never reads. `widths` gives each column's width.
pub(crate) fn template_xlsx(
    sheet_name: &str,
    rows: &[&[&str]],
    widths: &[f64],
    notes: &[&str],
    file_name: &str,
) -> Result<Response, WebError> {
    let xerr = |e: rust_xlsxwriter::XlsxError| WebError::Internal(format!("xlsx: {e}"));
    let mut book = rust_xlsxwriter::Workbook::new();
    let text = rust_xlsxwriter::Format::new().set_num_format("@");
    let bold = rust_xlsxwriter::Format::new().set_bold();
    let sheet = book.add_worksheet().set_name(sheet_name).map_err(xerr)?;
    for (r, cells) in rows.iter().enumerate() {
        for (col, v) in cells.iter().enumerate() {
            let (r, col) = (r as u32, col as u16);
            if r == 0 {
                sheet.write_string_with_format(r, col, *v, &bold).map_err(xerr)?;
                sheet.set_column_format(col, &text).map_err(xerr)?;
                sheet.set_column_width(col, widths.get(usize::from(col)).copied().unwrap_or(14.0)).map_err(xerr)?;
            } else if !v.is_empty() {
                sheet.write_string(r, col, *v).map_err(xerr)?;
            }
        }
    }
    let sheet = book.add_worksheet().set_name("填写说明").map_err(xerr)?;
    for (row, line) in notes.iter().enumerate() {
        sheet.write_string(row as u32, 0, *line).map_err(xerr)?;
    }
    Ok(xlsx_response(book.save_to_buffer().map_err(xerr)?, file_name))
}

/// Problems shown on the page (the xlsx report has them all).
const SHOWN_PROBLEMS: usize = 200;

pub struct ProblemLine {
    pub line: usize,
    pub column: &'static str,
    pub value: String,
    pub reason: String,
}

/// What the page shows of an import.
pub struct ImportReport {
    pub file_name: String,
    pub applied: bool,
    /// The sentence for the outcome ("共 N 行，新增 …").
    pub summary: String,
    pub count: usize,
    pub problems: Vec<ProblemLine>,
    /// Every problem, for the xlsx download form.
    pub problems_json: String,
}

impl ImportReport {
    pub fn new(file_name: String, applied: bool, summary: String, problems: &[RosterProblem]) -> ImportReport {
        let problems_json = serde_json::to_string(
            &problems.iter().map(|p| (p.line, p.column, p.value.as_str(), p.reason.as_str())).collect::<Vec<_>>(),
        )
        .unwrap_or_default();
        ImportReport {
            file_name,
            applied,
            summary,
            count: problems.len(),
            problems: problems
                .iter()
                .take(SHOWN_PROBLEMS)
                .map(|p| ProblemLine {
                    line: p.line,
                    column: p.column,
                    value: p.value.clone(),
                    reason: p.reason.clone(),
                })
                .collect(),
            problems_json,
        }
    }
}

pub(crate) fn xlsx_response(bytes: Vec<u8>, file_name: &str) -> Response {
    let mut resp = bytes.into_response();
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"),
    );
    if let Ok(v) = HeaderValue::from_str(&format!("attachment; filename=\"{file_name}\"")) {
        h.insert(header::CONTENT_DISPOSITION, v);
    }
    resp
}

#[derive(Deserialize)]
pub struct ErrorsForm {
    problems: String,
}

/// The import's problems as a workbook (行, 列, 值, 原因), from the report on the page.
pub async fn errors_xlsx(OperatorCtx(_): OperatorCtx, Form(f): Form<ErrorsForm>) -> Result<Response, WebError> {
    let problems: Vec<(usize, String, String, String)> =
        serde_json::from_str(&f.problems).map_err(|_| WebError::BadRequest("错误报告内容无效".into()))?;
    let xerr = |e: rust_xlsxwriter::XlsxError| WebError::Internal(format!("xlsx: {e}"));
    let mut book = rust_xlsxwriter::Workbook::new();
    let bold = rust_xlsxwriter::Format::new().set_bold();
    let sheet = book.add_worksheet().set_name("错误报告").map_err(xerr)?;
    for (col, h) in ["行", "列", "值", "原因"].iter().enumerate() {
        sheet.write_string_with_format(0, col as u16, *h, &bold).map_err(xerr)?;
    }
    for (i, (line, column, value, reason)) in problems.iter().enumerate().take(100_000) {
        let row = u32::try_from(i + 1).map_err(|_| WebError::BadRequest("错误过多".into()))?;
        sheet.write_number(row, 0, *line as f64).map_err(xerr)?;
        sheet.write_string(row, 1, column).map_err(xerr)?;
        sheet.write_string(row, 2, value).map_err(xerr)?;
        sheet.write_string(row, 3, reason).map_err(xerr)?;
    }
    sheet.set_column_width(3, 50).map_err(xerr)?;
    sheet.set_freeze_panes(1, 0).map_err(xerr)?;
    Ok(xlsx_response(book.save_to_buffer().map_err(xerr)?, "import-errors.xlsx"))
}
