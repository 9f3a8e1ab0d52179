//! A report as an Excel workbook: a title row (the unit and the report's name), a row of the
//! filters, the header (frozen, repeated on printed pages), the rows with number formats, and
//! a totals row. Written in constant memory: each row goes to a temporary file as it comes, so
//! 100,000 rows hold no more memory than ten.

use std::path::Path;

use bursar_domain::report::{Cell, Column, ColumnKind};
use rust_xlsxwriter::{Color, Format, FormatAlign, FormatBorder, Workbook, XlsxError};

use super::{ReportHead, ReportSink};
use crate::error::EngineError;

/// The rows an Excel sheet holds.
const EXCEL_ROWS: u32 = 1_048_576;

/// Where the header row is (0-based): title, filters, then the header.
pub const HEADER_ROW: u32 = 2;

pub struct XlsxReport {
    book: Workbook,
    columns: Vec<Column>,
    next_row: u32,
    formats: Formats,
}

struct Formats {
    title: Format,
    note: Format,
    header: Format,
    money: Format,
    count: Format,
    share: Format,
    total_text: Format,
    total_money: Format,
    total_count: Format,
}

fn xlsx_error(e: XlsxError) -> EngineError {
    EngineError::Invariant(format!("xlsx: {e}"))
}

impl XlsxReport {
    pub fn new() -> Result<XlsxReport, EngineError> {
        let mut book = Workbook::new();
        book.add_worksheet_with_constant_memory().map_err(xlsx_error)?;
        let money = Format::new().set_num_format("#,##0.00");
        let count = Format::new().set_num_format("0");
        Ok(XlsxReport {
            book,
            columns: Vec::new(),
            next_row: 0,
            formats: Formats {
                title: Format::new().set_bold().set_font_size(14).set_align(FormatAlign::Center),
                note: Format::new().set_font_color(Color::RGB(0x44_4444)),
                header: Format::new()
                    .set_bold()
                    .set_background_color(Color::RGB(0xE8_EEF5))
                    .set_border(FormatBorder::Thin)
                    .set_align(FormatAlign::Center),
                total_text: Format::new().set_bold().set_border_top(FormatBorder::Thin),
                total_money: money.clone().set_bold().set_border_top(FormatBorder::Thin),
                total_count: count.clone().set_bold().set_border_top(FormatBorder::Thin),
                share: Format::new().set_num_format("0.0%"),
                money,
                count,
            },
        })
    }

    fn write_cells(&mut self, cells: &[Cell], total: bool) -> Result<(), EngineError> {
        let row = self.next_row;
        let f = &self.formats;
        let ws = self.book.worksheet_from_index(0).map_err(xlsx_error)?;
        for (col, cell) in (0u16..).zip(cells) {
            match cell {
                Cell::Text(t) if total => ws.write_string_with_format(row, col, t, &f.total_text),
                Cell::Text(t) => ws.write_string(row, col, t),
                Cell::Count(n) => {
                    // Counts are far below 2^53: exact as a spreadsheet number.
                    let v = *n as f64;
                    ws.write_number_with_format(row, col, v, if total { &f.total_count } else { &f.count })
                }
                Cell::Money(fen) => {
                    // Yuan with two decimals; the fen are exact below 2^53.
                    let v = fen.get() as f64 / 100.0;
                    ws.write_number_with_format(row, col, v, if total { &f.total_money } else { &f.money })
                }
                Cell::Share(Some(pm)) => ws.write_number_with_format(row, col, *pm as f64 / 1000.0, &f.share),
                Cell::Share(None) => ws.write_string(row, col, "—"),
            }
            .map_err(xlsx_error)?;
        }
        self.next_row += 1;
        Ok(())
    }

    /// The workbook as bytes (for a download).
    pub fn into_bytes(mut self) -> Result<Vec<u8>, EngineError> {
        self.book.save_to_buffer().map_err(xlsx_error)
    }

    /// The workbook written to a file.
    pub fn save(mut self, path: &Path) -> Result<(), EngineError> {
        self.book.save(path).map_err(xlsx_error)
    }
}

impl ReportSink for XlsxReport {
    fn start(&mut self, head: &ReportHead) -> Result<(), EngineError> {
        self.columns.clone_from(&head.columns);
        let last = u16::try_from(head.columns.len().saturating_sub(1)).unwrap_or(0);
        let f = &self.formats;
        let ws = self.book.worksheet_from_index(0).map_err(xlsx_error)?;
        ws.set_name(head.title.as_str()).map_err(xlsx_error)?;
        for (col, c) in (0u16..).zip(&head.columns) {
            let width = match c.kind {
                ColumnKind::Money => 16.0,
                ColumnKind::Count | ColumnKind::Share => 10.0,
                ColumnKind::Text => 18.0,
            };
            ws.set_column_width(col, width).map_err(xlsx_error)?;
        }
        let title = format!("{} {}", head.unit, head.title);
        if last > 0 {
            ws.merge_range(0, 0, 0, last, &title, &f.title).map_err(xlsx_error)?;
        } else {
            ws.write_string_with_format(0, 0, &title, &f.title).map_err(xlsx_error)?;
        }
        let mut words: Vec<String> = head.filters.iter().map(|(k, v)| format!("{k}：{v}")).collect();
        words.push(format!("制表时间：{}", head.made_at));
        ws.write_string_with_format(1, 0, words.join("    "), &f.note).map_err(xlsx_error)?;
        for (col, c) in (0u16..).zip(&head.columns) {
            ws.write_string_with_format(HEADER_ROW, col, c.label, &f.header).map_err(xlsx_error)?;
        }
        ws.set_freeze_panes(HEADER_ROW + 1, 0).map_err(xlsx_error)?;
        ws.set_repeat_rows(HEADER_ROW, HEADER_ROW).map_err(xlsx_error)?;
        self.next_row = HEADER_ROW + 1;
        Ok(())
    }

    fn row(&mut self, cells: Vec<Cell>) -> Result<(), EngineError> {
        if self.next_row >= EXCEL_ROWS - 2 {
            return Err(crate::error::refused("行数超过 Excel 的上限，请缩小期间或加筛选条件"));
        }
        self.write_cells(&cells, false)
    }

    fn finish(&mut self, totals: Option<Vec<Cell>>) -> Result<(), EngineError> {
        if let Some(t) = totals {
            self.write_cells(&t, true)?;
        }
        Ok(())
    }
}
