//! Hostile files: an xlsx that claims a huge sheet, one that expands to hundreds of megabytes,
//! a CSV mixing encodings. Each is refused with the limit in the message, the server keeps
//! serving, and a real `bursar import offline` process reading them stays small (its peak
//! resident memory is measured by the kernel, not estimated).

use std::io::{Cursor, Write};
use std::process::{Command, Stdio};

use crate::both_stores;
use crate::support::*;

const BIN: &str = env!("CARGO_BIN_EXE_bursar");

/// An xlsx written by hand: the smallest workbook whose only sheet is `sheet_data` (the rows).
pub fn xlsx(dimension: &str, sheet_data: impl FnOnce(&mut dyn Write)) -> Vec<u8> {
    let mut w = zip::ZipWriter::new(Cursor::new(Vec::new()));
    let opts = zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Deflated);
    let ns = "http://schemas.openxmlformats.org";
    let parts = [
        (
            "[Content_Types].xml",
            format!(
                r#"<?xml version="1.0" encoding="UTF-8"?><Types xmlns="{ns}/package/2006/content-types"><Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/><Default Extension="xml" ContentType="application/xml"/><Override PartName="/xl/workbook.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/><Override PartName="/xl/worksheets/sheet1.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/></Types>"#
            ),
        ),
        (
            "_rels/.rels",
            format!(
                r#"<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="{ns}/package/2006/relationships"><Relationship Id="rId1" Type="{ns}/officeDocument/2006/relationships/officeDocument" Target="xl/workbook.xml"/></Relationships>"#
            ),
        ),
        (
            "xl/workbook.xml",
            format!(
                r#"<?xml version="1.0" encoding="UTF-8"?><workbook xmlns="{ns}/spreadsheetml/2006/main" xmlns:r="{ns}/officeDocument/2006/relationships"><sheets><sheet name="Sheet1" sheetId="1" r:id="rId1"/></sheets></workbook>"#
            ),
        ),
        (
            "xl/_rels/workbook.xml.rels",
            format!(
                r#"<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="{ns}/package/2006/relationships"><Relationship Id="rId1" Type="{ns}/officeDocument/2006/relationships/worksheet" Target="worksheets/sheet1.xml"/></Relationships>"#
            ),
        ),
    ];
    for (name, body) in parts {
        w.start_file(name, opts).unwrap();
        w.write_all(body.as_bytes()).unwrap();
    }
    w.start_file("xl/worksheets/sheet1.xml", opts).unwrap();
    write!(w, r#"<?xml version="1.0" encoding="UTF-8"?><worksheet xmlns="{ns}/spreadsheetml/2006/main"><dimension ref="{dimension}"/><sheetData>"#).unwrap();
    sheet_data(&mut w);
    w.write_all(b"</sheetData></worksheet>").unwrap();
    w.finish().unwrap().into_inner()
}

/// Cells A1 and XFD1048576 only: 1.5 KB that a dense reader expands to 2^34 cells.
pub fn far_cells_xlsx() -> Vec<u8> {
    xlsx("A1:XFD1048576", |w| {
        w.write_all(br#"<row r="1"><c r="A1"><v>1</v></c></row><row r="1048576"><c r="XFD1048576"><v>1</v></c></row>"#)
            .unwrap();
    })
}

/// Twelve million empty rows: well under a megabyte that expands to 72 MB of XML.
pub fn empty_rows_xlsx() -> Vec<u8> {
    xlsx("A1", |w| {
        let chunk = "<row/>".repeat(10_000);
        for _ in 0..1_200 {
            w.write_all(chunk.as_bytes()).unwrap();
        }
    })
}

/// Runs `bursar import offline --check` on a file; its exit code, its stderr and its peak
/// resident memory in KiB (the process's own VmHWM, which it prints when asked).
fn import_check(env: &TestEnv, file: &std::path::Path) -> (i32, String, i64) {
    let out = Command::new(BIN)
        .args(["import", "offline", "--check", "--data-dir"])
        .arg(&env.dir)
        .arg(file)
        .env("BURSAR_DATABASE_URL", &env.url)
        .env("BURSAR_PRINT_PEAK_MEMORY", "1")
        .stdout(Stdio::null())
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    let kib = err
        .lines()
        .find_map(|l| l.strip_prefix("peak memory: "))
        .and_then(|v| v.trim_end_matches(" kB").trim().parse().ok())
        .unwrap_or_else(|| panic!("no peak memory reported: {err}"));
    (out.status.code().unwrap_or(-1), err, kib)
}

both_stores!(hostile_spreadsheets_are_refused_in_bounded_memory, |env: TestEnv| async move {
    let app = env.start_demo().await;
    let base = app.base_url.clone();

    // The baseline: the same process refusing a one-line file (no header it knows).
    let plain = env.dir.join("plain.csv");
    std::fs::write(&plain, "a,b\n1,2\n").unwrap();
    let (code, err, baseline_kib) = import_check(&env, &plain);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("缺少列"), "{err}");

    let far = env.dir.join("far.xlsx");
    let far_bytes = far_cells_xlsx();
    assert!(far_bytes.len() < 2_000, "{}", far_bytes.len());
    std::fs::write(&far, &far_bytes).unwrap();
    let (code, err, far_kib) = import_check(&env, &far);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("行的上限"), "names the limit: {err}");

    let rows = env.dir.join("rows.xlsx");
    let rows_bytes = empty_rows_xlsx();
    assert!(rows_bytes.len() < 1_000_000, "{}", rows_bytes.len());
    std::fs::write(&rows, &rows_bytes).unwrap();
    let (code, err, rows_kib) = import_check(&env, &rows);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("解压后超过 64 MB"), "names the limit: {err}");

    // Bounded: neither hostile file costs more than 32 MiB over the baseline process.
    eprintln!("peak RSS: baseline {baseline_kib} KiB, far cells {far_kib} KiB, empty rows {rows_kib} KiB");
    assert!(far_kib < baseline_kib + 32 * 1024, "far cells: {far_kib} KiB vs {baseline_kib}");
    assert!(rows_kib < baseline_kib + 32 * 1024, "empty rows: {rows_kib} KiB vs {baseline_kib}");

    // The same files through the finance view: refused with the limit, and the platform serves on.
    let fin = login_operator(&base, bursar::demo::FINANCE_USER, bursar::demo::FINANCE_PASSWORD).await;
    let before = scalar(&app.store, "SELECT COUNT(*) FROM payments", &[]).await;
    for (name, bytes, words) in [("far.xlsx", far_bytes, "行的上限"), ("rows.xlsx", rows_bytes, "解压后超过")]
    {
        let (status, page) = crate::offline_and_config::upload(&fin, &base, name, bytes).await;
        assert_eq!(status, 422, "{name}");
        assert!(page.contains(words), "{name}: {}", between(&page, "<main", "</main>").unwrap_or(&page));
    }
    let (student, _) = bursar::demo::first_student_login();
    let line = format!("CASH-M1,{student},ZSF,2026-2027,1.00,现金,2026-11-20 09:30:00\n");
    let (gbk_line, _, _) = encoding_rs::GBK.encode(&line);
    let mut mixed = b"reference,identifier,item_code,academic_year,amount,method,paid_at\n".to_vec();
    mixed.extend_from_slice(&gbk_line);
    mixed.extend_from_slice(format!("CASH-M2,{student},ZSF,2026-2027,1.00,现金,2026-11-20 09:31:00\n").as_bytes());
    let (status, page) = crate::offline_and_config::upload(&fin, &base, "mixed.csv", mixed).await;
    assert_eq!(status, 422);
    assert!(page.contains("混用了两种编码"), "{}", between(&page, "<main", "</main>").unwrap_or(&page));
    // A cell carrying control characters (an escape sequence, a NUL) is refused, not stored.
    let evil = format!(
        "来源参考号,学号/工号,收费项目代码,学年,金额,方式,收款时间,收款点/账户\nCASH-E1,{student},ZSF,2026-2027,1.00,现金,2026-11-20 09:30:00,desk\u{0}\u{1b}[2J\n"
    );
    let (status, page) = crate::offline_and_config::upload(&fin, &base, "evil.csv", evil.into_bytes()).await;
    assert_eq!(status, 422);
    assert!(
        page.contains("第 2 行第 8 列含有不可见的控制字符"),
        "{}",
        between(&page, "<main", "</main>").unwrap_or(&page)
    );
    assert_eq!(scalar(&app.store, "SELECT COUNT(*) FROM payments", &[]).await, before, "nothing imported");
    assert_eq!(client().get(format!("{base}/healthz")).send().await.unwrap().status(), 200);
    assert_verified(&app.store).await;
    app.stop().await;
});

#[cfg(unix)]
#[tokio::test]
async fn the_data_directory_and_database_are_private() {
    use std::os::unix::fs::PermissionsExt;
    let dir = std::env::temp_dir().join(format!("bursar-perm-{}", uuid::Uuid::now_v7().simple())).join("data");
    let out =
        Command::new(BIN).args(["migrate", "--data-dir"]).arg(&dir).env_remove("BURSAR_DATABASE_URL").output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&dir), 0o700, "data directory");
    assert_eq!(mode(&dir.join("bursar.db")), 0o600, "database file");
    for extra in ["bursar.db-wal", "bursar.db-shm"] {
        let p = dir.join(extra);
        if p.exists() {
            assert_eq!(mode(&p), 0o600, "{extra}");
        }
    }
    let _ = std::fs::remove_dir_all(dir.parent().unwrap());
}
