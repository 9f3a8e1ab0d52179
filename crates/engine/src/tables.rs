//! Reading the spreadsheets finance offices upload (xlsx, or CSV in UTF-8 or GBK) within
//! declared limits, in memory bounded by those limits whatever the file claims.
//!
//! An xlsx is a zip of XML parts. Before any part is parsed, every entry is decompressed into a
//! counting sink (never into memory) and the total is held to [`TableLimits::max_unzipped`]: a
//! tiny file that expands to gigabytes is refused. The sheet is then read cell by cell with
//! calamine's streaming reader (never its dense range, which allocates rows × columns of the
//! sheet's claimed extent): the sheet's declared dimension and every cell actually present are
//! held to the row and column limits. A CSV is held to the same limits, and must decode whole in
//! one encoding (a file mixing UTF-8 and GBK lines would otherwise import as mojibake).

use std::collections::HashMap;
use std::io::{Cursor, Read};

use bursar_domain::roster::normalize_cell;

use crate::roster::RosterProblem;

/// An import's columns: (key, the header names finance offices use, the first being its label).
pub type Columns = [(&'static str, &'static [&'static str])];

/// The label of a column (its first header name), for problems.
pub fn column_label(columns: &'static Columns, key: &str) -> &'static str {
    columns.iter().find(|(k, _)| *k == key).and_then(|(_, names)| names.first().copied()).unwrap_or("")
}

/// Finds a table's columns by the names in its header row: key → column index. Every required
/// column missing (and an empty file) is a problem of row 1.
pub fn find_columns(
    table: &[Vec<String>],
    columns: &'static Columns,
    optional: &[&str],
) -> Result<HashMap<&'static str, usize>, Vec<RosterProblem>> {
    let problem = |key: &str, reason: String| RosterProblem {
        line: 1,
        column: column_label(columns, key),
        value: String::new(),
        reason,
    };
    let Some(header) = table.first() else {
        return Err(vec![problem("", "文件为空".into())]);
    };
    let header: Vec<String> = header.iter().map(|h| normalize_cell(h)).collect();
    let mut found = HashMap::new();
    let mut missing = Vec::new();
    for (key, names) in columns {
        match header.iter().position(|h| names.contains(&h.as_str())) {
            Some(i) => {
                found.insert(*key, i);
            }
            None if optional.contains(key) => {}
            None => missing.push(problem(key, format!("缺少列“{}”", column_label(columns, key)))),
        }
    }
    if missing.is_empty() {
        Ok(found)
    } else {
        Err(missing)
    }
}

/// What a table may hold. Every refusal names the limit that was passed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TableLimits {
    /// Rows, the header row included.
    pub max_rows: usize,
    /// Columns.
    pub max_cols: usize,
    /// The bytes an xlsx's parts may decompress to, all together.
    pub max_unzipped: u64,
    /// Characters in one cell.
    pub max_cell_chars: usize,
    /// Bytes of text in all cells together (a cell pointing at a shared string is a copy of it:
    /// a small file can name one long string a million times).
    pub max_text_bytes: usize,
}

impl TableLimits {
    /// Offline collections: a cash desk's or a bank's records for a period.
    pub const OFFLINE: TableLimits = TableLimits {
        max_rows: 50_001,
        max_cols: 40,
        max_unzipped: 64 * 1024 * 1024,
        max_cell_chars: 200,
        max_text_bytes: 64 * 1024 * 1024,
    };
}

/// Entries an xlsx may have (a real workbook has a few dozen).
const MAX_ZIP_ENTRIES: usize = 1_000;

/// Reads a file's cells: xlsx by its zip signature, otherwise CSV in UTF-8 (BOM allowed) or GBK.
/// The error is a sentence for the person who uploaded the file.
pub fn read_table(bytes: &[u8], limits: &TableLimits) -> Result<Vec<Vec<String>>, String> {
    if bytes.starts_with(b"PK\x03\x04") {
        check_zip(bytes, limits)?;
        return read_xlsx(bytes, limits);
    }
    read_csv(bytes, limits)
}

/// Decompresses every entry into a counting sink: the true expanded size, in constant memory.
fn check_zip(bytes: &[u8], limits: &TableLimits) -> Result<(), String> {
    let mut zip = zip::ZipArchive::new(Cursor::new(bytes)).map_err(|e| format!("无法读取 xlsx 文件：{e}"))?;
    if zip.len() > MAX_ZIP_ENTRIES {
        return Err(format!("xlsx 文件包含 {} 个部件，超过上限 {MAX_ZIP_ENTRIES}", zip.len()));
    }
    let too_big = || format!("xlsx 文件解压后超过 {} MB 的上限，请拆分后分批导入", limits.max_unzipped / (1024 * 1024));
    let mut total: u64 = 0;
    for i in 0..zip.len() {
        let entry = zip.by_index(i).map_err(|e| format!("无法读取 xlsx 文件：{e}"))?;
        // The declared size first (cheap), then the real one: a declared size can lie.
        if entry.size() > limits.max_unzipped {
            return Err(too_big());
        }
        let budget = limits.max_unzipped.saturating_sub(total);
        let n = std::io::copy(&mut entry.take(budget.saturating_add(1)), &mut std::io::sink())
            .map_err(|e| format!("无法读取 xlsx 文件：{e}"))?;
        total = total.saturating_add(n);
        if total > limits.max_unzipped {
            return Err(too_big());
        }
    }
    Ok(())
}

fn over_rows(limits: &TableLimits) -> String {
    format!("表格超过 {} 行的上限（含表头），请拆分后分批导入", limits.max_rows)
}

fn over_cols(limits: &TableLimits) -> String {
    format!("表格超过 {} 列的上限，请删除多余的列", limits.max_cols)
}

fn read_xlsx(bytes: &[u8], limits: &TableLimits) -> Result<Vec<Vec<String>>, String> {
    use calamine::{Reader, Xlsx};
    let mut book: Xlsx<_> = Xlsx::new(Cursor::new(bytes)).map_err(|e| format!("无法读取 xlsx 文件：{e}"))?;
    let name = book.sheet_names().first().cloned().ok_or("xlsx 文件没有工作表")?;
    let mut cells = book.worksheet_cells_reader(&name).map_err(|e| format!("无法读取工作表：{e}"))?;
    let dims = cells.dimensions();
    // The sheet's own claim (a `<dimension ref>`), before anything is read.
    if dims.end.0 as usize >= limits.max_rows {
        return Err(over_rows(limits));
    }
    if dims.end.1 as usize >= limits.max_cols {
        return Err(over_cols(limits));
    }
    let mut rows: Vec<Vec<String>> = Vec::new();
    let mut text_bytes = 0usize;
    while let Some(cell) = cells.next_cell().map_err(|e| format!("无法读取工作表：{e}"))? {
        let (r, c) = cell.get_position();
        let (r, c) = (r as usize, c as usize);
        // What is actually present, whatever the dimension said.
        if r >= limits.max_rows {
            return Err(over_rows(limits));
        }
        if c >= limits.max_cols {
            return Err(over_cols(limits));
        }
        let text = cell_text(cell.get_value());
        check_cell(&text, r, c, limits)?;
        text_bytes = text_bytes.saturating_add(text.len());
        if text_bytes > limits.max_text_bytes {
            return Err(over_text(limits));
        }
        if rows.len() <= r {
            rows.resize_with(r + 1, Vec::new);
        }
        let row = &mut rows[r];
        if row.len() <= c {
            row.resize(c + 1, String::new());
        }
        row[c] = text;
    }
    Ok(rows)
}

fn over_text(limits: &TableLimits) -> String {
    format!("表格文字总量超过 {} MB 的上限，请拆分后分批导入", limits.max_text_bytes / (1024 * 1024))
}

/// A cell's own limits: its length, and no control characters (a NUL or an escape sequence is
/// never what a person typed).
fn check_cell(text: &str, r: usize, c: usize, limits: &TableLimits) -> Result<(), String> {
    if text.chars().count() > limits.max_cell_chars {
        return Err(format!("第 {} 行第 {} 列的内容超过 {} 个字符", r + 1, c + 1, limits.max_cell_chars));
    }
    if text.chars().any(|ch| ch.is_control() && !matches!(ch, '\n' | '\r' | '\t')) {
        return Err(format!("第 {} 行第 {} 列含有不可见的控制字符，请删除后重新上传", r + 1, c + 1));
    }
    Ok(())
}

fn cell_text(value: &calamine::DataRef<'_>) -> String {
    use calamine::DataRef;
    match value {
        DataRef::Float(f) if f.fract() == 0.0 && f.abs() < 1e15 => format!("{}", *f as i64),
        DataRef::Int(i) => i.to_string(),
        // Excel stores wall-clock time as days since 1899-12-30; read it as Beijing time.
        DataRef::DateTime(d) => {
            let wall_ms = ((d.as_f64() - 25_569.0) * 86_400_000.0).round() as i64;
            bursar_domain::time_fmt::datetime_cst(wall_ms - 8 * 3_600_000)
        }
        DataRef::SharedString(s) => (*s).to_string(),
        DataRef::String(s) => s.clone(),
        DataRef::Float(f) => f.to_string(),
        DataRef::Bool(b) => b.to_string(),
        DataRef::DateTimeIso(s) | DataRef::DurationIso(s) => s.clone(),
        DataRef::Error(e) => e.to_string(),
        DataRef::Empty => String::new(),
    }
}

/// Decodes a CSV whole in one encoding: UTF-8 (with or without BOM) or GBK. A file that is not
/// valid UTF-8 but has lines that are (and hold non-ASCII text) mixes encodings: refused.
fn decode_csv(bytes: &[u8]) -> Result<String, String> {
    if let Ok(t) = std::str::from_utf8(bytes) {
        return Ok(t.trim_start_matches('\u{feff}').to_string());
    }
    let (text, _, bad) = encoding_rs::GBK.decode(bytes);
    if bad {
        return Err("文件既不是 UTF-8 也不是 GBK 编码的 CSV，也不是 xlsx".into());
    }
    let mixed = bytes
        .split(|b| *b == b'\n')
        .enumerate()
        .find(|(_, line)| !line.is_ascii() && std::str::from_utf8(line).is_ok());
    if let Some((i, _)) = mixed {
        return Err(format!(
            "文件混用了两种编码：第 {} 行是 UTF-8，其余是 GBK。请在 Excel 中“另存为”CSV UTF-8 后重新上传",
            i + 1
        ));
    }
    Ok(text.into_owned())
}

fn read_csv(bytes: &[u8], limits: &TableLimits) -> Result<Vec<Vec<String>>, String> {
    let text = decode_csv(bytes)?;
    let mut rdr = csv::ReaderBuilder::new().has_headers(false).flexible(true).from_reader(text.as_bytes());
    let mut out = Vec::new();
    for rec in rdr.records() {
        let rec = rec.map_err(|e| format!("CSV 格式错误：{e}"))?;
        if out.len() >= limits.max_rows {
            return Err(over_rows(limits));
        }
        if rec.len() > limits.max_cols {
            return Err(over_cols(limits));
        }
        for (c, cell) in rec.iter().enumerate() {
            check_cell(cell, out.len(), c, limits)?;
        }
        out.push(rec.iter().map(|c| c.trim().to_string()).collect());
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    /// An xlsx written by hand: a workbook, one sheet whose XML is given, no shared strings.
    pub(crate) fn xlsx_with_sheet(sheet_xml: &str) -> Vec<u8> {
        xlsx_with_parts(sheet_xml, None)
    }

    fn xlsx_with_parts(sheet_xml: &str, shared_strings: Option<&str>) -> Vec<u8> {
        let mut w = zip::ZipWriter::new(Cursor::new(Vec::new()));
        let opts = zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Deflated);
        let parts = [
            ("[Content_Types].xml", r#"<?xml version="1.0" encoding="UTF-8"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types"><Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/><Default Extension="xml" ContentType="application/xml"/><Override PartName="/xl/workbook.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/><Override PartName="/xl/worksheets/sheet1.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/></Types>"#.to_string()),
            ("_rels/.rels", r#"<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" Target="xl/workbook.xml"/></Relationships>"#.to_string()),
            ("xl/workbook.xml", r#"<?xml version="1.0" encoding="UTF-8"?><workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships"><sheets><sheet name="Sheet1" sheetId="1" r:id="rId1"/></sheets></workbook>"#.to_string()),
            ("xl/_rels/workbook.xml.rels", r#"<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/worksheet" Target="worksheets/sheet1.xml"/></Relationships>"#.to_string()),
            ("xl/worksheets/sheet1.xml", sheet_xml.to_string()),
        ];
        for (name, body) in parts {
            w.start_file(name, opts).unwrap();
            w.write_all(body.as_bytes()).unwrap();
        }
        if let Some(sst) = shared_strings {
            w.start_file("xl/sharedStrings.xml", opts).unwrap();
            w.write_all(sst.as_bytes()).unwrap();
        }
        w.finish().unwrap().into_inner()
    }

    fn sheet(dimension: &str, rows: &str) -> String {
        format!(
            r#"<?xml version="1.0" encoding="UTF-8"?><worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><dimension ref="{dimension}"/><sheetData>{rows}</sheetData></worksheet>"#
        )
    }

    const SMALL: TableLimits = TableLimits {
        max_rows: 100,
        max_cols: 10,
        max_unzipped: 1024 * 1024,
        max_cell_chars: 50,
        max_text_bytes: 2_000,
    };

    #[test]
    fn a_small_sheet_reads_with_gaps_filled() {
        let rows = r#"<row r="1"><c r="A1" t="inlineStr"><is><t>学号</t></is></c><c r="C1"><v>12</v></c></row><row r="3"><c r="B3"><v>1.5</v></c></row>"#;
        let t = read_table(&xlsx_with_sheet(&sheet("A1:C3", rows)), &SMALL).unwrap();
        assert_eq!(
            t,
            vec![vec!["学号".to_string(), String::new(), "12".into()], vec![], vec![String::new(), "1.5".into()]]
        );
    }

    #[test]
    fn two_far_cells_are_refused_without_expanding() {
        // The 1.5 KB file that made the dense reader ask for 512 GiB.
        let rows = r#"<row r="1"><c r="A1"><v>1</v></c></row><row r="1048576"><c r="XFD1048576"><v>1</v></c></row>"#;
        let file = xlsx_with_sheet(&sheet("A1:XFD1048576", rows));
        assert!(file.len() < 2_000);
        let e = read_table(&file, &SMALL).unwrap_err();
        assert!(e.contains("100 行"), "{e}");
        // Without a dimension, the cell itself is caught.
        let e = read_table(&xlsx_with_sheet(&sheet("A1", rows)), &SMALL).unwrap_err();
        assert!(e.contains("行的上限"), "{e}");
        let wide = r#"<row r="1"><c r="A1"><v>1</v></c><c r="XFD1"><v>1</v></c></row>"#;
        let e = read_table(&xlsx_with_sheet(&sheet("A1", wide)), &SMALL).unwrap_err();
        assert!(e.contains("10 列"), "{e}");
    }

    #[test]
    fn a_part_that_expands_past_the_limit_is_refused() {
        let empty_rows: String = (1..=100_000).map(|r| format!(r#"<row r="{r}"/>"#)).collect();
        let file = xlsx_with_sheet(&sheet("A1", &empty_rows));
        assert!(file.len() < 400_000, "compresses well: {}", file.len());
        let e = read_table(&file, &SMALL).unwrap_err();
        assert!(e.contains("解压后超过 1 MB"), "{e}");
    }

    #[test]
    fn a_shared_string_named_many_times_counts_every_time() {
        // One 40-character shared string, named by 100 cells: 100 copies of it.
        let strings = format!(
            r#"<?xml version="1.0"?><sst xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><si><t>{}</t></si></sst>"#,
            "长".repeat(40)
        );
        let rows: String = (1..=100).map(|r| format!(r#"<row r="{r}"><c r="A{r}" t="s"><v>0</v></c></row>"#)).collect();
        let file = xlsx_with_parts(&sheet("A1:A100", &rows), Some(&strings));
        let e = read_table(&file, &SMALL).unwrap_err();
        assert!(e.contains("文字总量"), "{e}");
    }

    #[test]
    fn control_characters_in_cells_are_refused() {
        let e = read_table("a,b\nok,de\u{1b}[2Jsk\n".as_bytes(), &SMALL).unwrap_err();
        assert!(e.contains("第 2 行第 2 列含有不可见的控制字符"), "{e}");
        let rows = r#"<row r="1"><c r="A1" t="inlineStr"><is><t>a&#x7;b</t></is></c></row>"#;
        let e = read_table(&xlsx_with_sheet(&sheet("A1", rows)), &SMALL).unwrap_err();
        assert!(e.contains("控制字符"), "{e}");
    }

    #[test]
    fn csv_limits_and_encodings() {
        let e = read_table("a,b\n".repeat(101).as_bytes(), &SMALL).unwrap_err();
        assert!(e.contains("100 行"), "{e}");
        let e = read_table("a,b,c,d,e,f,g,h,i,j,k\n".as_bytes(), &SMALL).unwrap_err();
        assert!(e.contains("10 列"), "{e}");
        let (gbk, _, _) = encoding_rs::GBK.encode("学号,姓名\n2023010001,张三\n");
        assert_eq!(read_table(&gbk, &SMALL).unwrap()[1], vec!["2023010001", "张三"]);
        // An English header (ASCII), one GBK line and one UTF-8 line: refused, not mojibake.
        let mut mixed = b"reference,identifier\n".to_vec();
        mixed.extend_from_slice(&encoding_rs::GBK.encode("R1,张三\n").0);
        mixed.extend_from_slice("R2,李四\n".as_bytes());
        let e = read_table(&mixed, &SMALL).unwrap_err();
        assert!(e.contains("第 3 行是 UTF-8"), "{e}");
    }
}
