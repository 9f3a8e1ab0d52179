//! The school's roster imported from a real-looking xlsx: numbers kept as typed (leading zeros,
//! full-width digits), every bad row named by row, column, value and reason, nothing applied
//! unless every row is good (or the good ones on request), the same file again changing nothing,
//! a changed row updated; the people imported log in with the initial password and must prove
//! their ID number to change it; the same from the command line with the error report on disk.

use std::process::Command;

use bursar_domain::access::Principal;
use bursar_domain::payer::{complete_resident_id, PayerKind};
use bursar_domain::SystemJob;
use bursar_engine::roster::ImportMode;

use crate::both_stores;
use crate::support::*;

const BIN: &str = env!("CARGO_BIN_EXE_bursar");

/// A roster as the registry office exports it; `rows` are the cells after the header.
fn roster_xlsx(rows: &[[&str; 12]]) -> Vec<u8> {
    let mut book = rust_xlsxwriter::Workbook::new();
    let sheet = book.add_worksheet();
    let header = [
        "学号",
        "姓名",
        "证件类型",
        "证件号码",
        "性别",
        "院系",
        "专业",
        "年级",
        "班级",
        "学籍状态",
        "手机号码",
        "入学年份",
    ];
    for (c, h) in header.iter().enumerate() {
        sheet.write_string(0, c as u16, *h).unwrap();
    }
    for (r, row) in rows.iter().enumerate() {
        for (c, v) in row.iter().enumerate() {
            // The year as a number cell, as Excel keeps it; everything else as text.
            if c == 11 && !v.is_empty() {
                sheet.write_number(r as u32 + 1, c as u16, v.parse::<f64>().unwrap()).unwrap();
            } else {
                sheet.write_string(r as u32 + 1, c as u16, *v).unwrap();
            }
        }
    }
    // A second sheet is ignored (schools keep notes there).
    book.add_worksheet().set_name("说明").unwrap().write_string(0, 0, "不导入").unwrap();
    book.save_to_buffer().unwrap()
}

both_stores!(a_roster_is_imported_checked_and_idempotent, |env: TestEnv| async move {
    let app = env.start_demo().await;
    let base = app.base_url.clone();
    let by = Principal::System(SystemJob::Cli);
    let id_a = complete_resident_id("37030320080101123").unwrap();
    let id_b = complete_resident_id("37030320080202234").unwrap();
    let bad_id = format!("{}{}", &id_b[..17], if id_b.ends_with('0') { '1' } else { '0' });
    let good: [[&str; 12]; 2] = [
        [
            "0020260001",
            "林新生",
            "",
            &id_a,
            "女",
            "计算机学院",
            "软件工程",
            "2026",
            "软件2601",
            "在读",
            "１３８００１３８０００",
            "2026",
        ],
        [
            "0020260002",
            "高同学",
            "居民身份证",
            &id_b,
            "男",
            "机械工程学院 ",
            "机械设计",
            "2026",
            "机械2601",
            "",
            "",
            "2026",
        ],
    ];
    let bad: [[&str; 12]; 3] = [
        ["0020260003", "错号码", "", &bad_id, "男", "计算机学院", "", "2026", "", "", "", ""],
        ["0020260001", "重复", "", &id_a, "女", "计算机学院", "", "2026", "", "", "", ""],
        ["0020260004", "新学院", "", &id_a, "", "不存在学院", "", "2026", "", "", "", ""],
    ];
    let rows: Vec<[&str; 12]> = good.iter().chain(bad.iter()).cloned().collect();
    let file = roster_xlsx(&rows);
    let before = scalar(&app.store, "SELECT COUNT(*) FROM payers", &[]).await;
    let none = |_: usize, _: usize| {};

    // Any bad row: nothing applied, every problem by row and column.
    let r = app
        .engine
        .import_roster(&by, PayerKind::EnrolledStudent, &file, ImportMode::AllOrNothing, &none)
        .await
        .unwrap();
    assert!(!r.applied);
    assert_eq!(r.rows, 5);
    let found: Vec<(usize, &str)> = r.problems.iter().map(|p| (p.line, p.column)).collect();
    assert_eq!(found, vec![(4, "证件号码"), (5, "学号/工号"), (6, "院系")], "{:?}", r.problems);
    assert!(r.problems[0].reason.contains("GB 11643"));
    assert!(r.problems[1].reason.contains("与第 2 行"));
    assert_eq!(scalar(&app.store, "SELECT COUNT(*) FROM payers", &[]).await, before);

    // The good rows on request; the same file again changes nothing; a change is an update.
    let r =
        app.engine.import_roster(&by, PayerKind::EnrolledStudent, &file, ImportMode::ValidRows, &none).await.unwrap();
    assert_eq!((r.applied, r.created, r.updated, r.unchanged, r.problems.len()), (true, 2, 0, 0, 3));
    let r =
        app.engine.import_roster(&by, PayerKind::EnrolledStudent, &file, ImportMode::ValidRows, &none).await.unwrap();
    assert_eq!((r.created, r.updated, r.unchanged), (0, 0, 2));
    let mut moved = good;
    moved[1][8] = "机械2602";
    let r = app
        .engine
        .import_roster(&by, PayerKind::EnrolledStudent, &roster_xlsx(&moved), ImportMode::AllOrNothing, &none)
        .await
        .unwrap();
    assert_eq!((r.applied, r.created, r.updated, r.unchanged), (true, 0, 1, 1));
    assert_eq!(scalar(&app.store, "SELECT COUNT(*) FROM payers", &[]).await, before + 2);
    let kept = scalar(&app.store, "SELECT COUNT(*) FROM payers WHERE identifier = '0020260001' AND phone = '13800138000' AND class_name = '软件2601' AND gender = 'female'", &[]).await;
    assert_eq!(kept, 1, "leading zeros, full-width digits and every column kept");

    // They log in with the initial password (last six of the ID number) and must prove the whole
    // ID number to set their own.
    let c = client();
    let page = c.get(format!("{base}/portal/login")).send().await.unwrap().text().await.unwrap();
    let initial = &id_a[12..];
    let r = c
        .post(format!("{base}/portal/login"))
        .form(&[("identifier", "0020260001"), ("password", initial), ("csrf", &csrf_of(&page))])
        .send()
        .await
        .unwrap();
    assert_eq!(location(&r), "/portal/account/password");
    let page = c.get(format!("{base}/portal/account/password")).send().await.unwrap().text().await.unwrap();
    let r = c
        .post(format!("{base}/portal/account/password"))
        .form(&[
            ("csrf", csrf_of(&page).as_str()),
            ("current", initial),
            ("proof", id_a.as_str()),
            ("new", "Student2026"),
            ("confirm", "Student2026"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(location(&r), "/portal/account?saved=password");
    assert_verified(&app.store).await;
    app.stop().await;
});

both_stores!(the_command_line_imports_a_roster_and_writes_the_error_report, |env: TestEnv| async move {
    // The store is migrated and seeded by starting the demo once.
    let app = env.start_demo().await;
    app.stop().await;
    let id = complete_resident_id("37030320080303345").unwrap();
    let rows = [
        ["T0001", "王老师", "", id.as_str(), "男", "计算机学院", "", "", "", "在职", "", ""],
        ["T0002", "", "", "=1+1", "", "", "", "", "", "", "", ""],
    ];
    let path = env.dir.join("staff.xlsx");
    std::fs::write(&path, roster_xlsx(&rows)).unwrap();
    let run = |extra: &[&str]| {
        Command::new(BIN)
            .args(["import", "payers", "--kind", "staff", "--data-dir"])
            .arg(&env.dir)
            .args(extra)
            .arg(&path)
            .env("BURSAR_DATABASE_URL", &env.url)
            .output()
            .unwrap()
    };
    let out = run(&[]);
    assert_eq!(out.status.code(), Some(2), "{}", String::from_utf8_lossy(&out.stderr));
    let report = std::fs::read_to_string(env.dir.join("staff.xlsx.errors.csv")).unwrap();
    assert!(report.starts_with("\u{feff}行,列,值,原因") && report.contains("3,\"姓名\""), "{report}");
    // A value a spreadsheet would run as a formula is written as text.
    assert!(report.contains("\"'=1+1\"") && !report.contains(",\"=1+1\""), "{report}");
    let out = run(&["--valid-rows"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stdout).contains("1 created"), "{}", String::from_utf8_lossy(&out.stdout));
});

/// Uploads a roster in the finance view; (status, page).
async fn upload_roster(c: &reqwest::Client, base: &str, bytes: Vec<u8>, valid_rows: bool) -> (u16, String) {
    let page = c.get(format!("{base}/admin/payers")).send().await.unwrap().text().await.unwrap();
    let mut form = reqwest::multipart::Form::new()
        .text("csrf", csrf_of(&page))
        .text("kind", "enrolled_student")
        .part("file", reqwest::multipart::Part::bytes(bytes).file_name("roster.xlsx"));
    if valid_rows {
        form = form.text("valid_rows", "1");
    }
    let r = c.post(format!("{base}/admin/payers/import")).multipart(form).send().await.unwrap();
    (r.status().as_u16(), r.text().await.unwrap())
}

both_stores!(finance_imports_searches_and_reads_payers_in_the_finance_view, |env: TestEnv| async move {
    let app = env.start_demo().await;
    let base = app.base_url.clone();
    let fin = login_operator(&base, bursar::demo::FINANCE_USER, bursar::demo::FINANCE_PASSWORD).await;
    // The template is a workbook with the headers the import reads.
    let r = fin.get(format!("{base}/admin/payers/template.xlsx")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let bytes = r.bytes().await.unwrap().to_vec();
    let mut book: calamine::Xlsx<_> = calamine::open_workbook_from_rs(std::io::Cursor::new(bytes)).unwrap();
    use calamine::Reader as _;
    let range = book.worksheet_range("花名册").unwrap();
    assert_eq!(range.get((0, 0)).map(|c| c.to_string()).as_deref(), Some("学号/工号"));

    let id = complete_resident_id("37030320080404456").unwrap();
    let rows = [
        [
            "0020269001",
            "郑导入",
            "",
            id.as_str(),
            "女",
            "计算机学院",
            "软件工程",
            "2026",
            "软件2609",
            "在读",
            "13900001111",
            "2026",
        ],
        ["0020269002", "", "", "123", "", "", "", "", "", "", "", ""],
    ];
    let (status, page) = upload_roster(&fin, &base, roster_xlsx(&rows), false).await;
    assert_eq!(status, 422);
    assert!(
        page.contains("整个文件未导入") && page.contains("姓名为空"),
        "{}",
        between(&page, "<main", "</main>").unwrap_or(&page)
    );
    // The report as a workbook.
    let json =
        between(&page, "name=\"problems\" value=\"", "\"").unwrap().replace("&quot;", "\"").replace("&#34;", "\"");
    let csrf = csrf_of(&page);
    let r = fin
        .post(format!("{base}/admin/import-errors.xlsx"))
        .form(&[("csrf", csrf.as_str()), ("problems", json.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let mut report: calamine::Xlsx<_> =
        calamine::open_workbook_from_rs(std::io::Cursor::new(r.bytes().await.unwrap().to_vec())).unwrap();
    let sheet = report.worksheet_range("错误报告").unwrap();
    assert_eq!(sheet.get((1, 1)).map(|c| c.to_string()).as_deref(), Some("姓名"));
    let (status, page) = upload_roster(&fin, &base, roster_xlsx(&rows), true).await;
    assert_eq!(status, 200);
    assert!(page.contains("新增 1 人"), "{}", between(&page, "id=\"import-result\"", "</p>").unwrap_or(&page));

    // Found by number prefix, name, ID last four and class; the payer's page shows their record.
    for q in ["00202690", "郑导", &id[14..], "软件2609"] {
        let page =
            fin.get(format!("{base}/admin/payers")).query(&[("q", q)]).send().await.unwrap().text().await.unwrap();
        assert!(page.contains("郑导入"), "search {q}");
    }
    let page =
        fin.get(format!("{base}/admin/payers")).query(&[("q", "郑导")]).send().await.unwrap().text().await.unwrap();
    let href = between(&page, "<a href=\"/admin/payers/", "\"").unwrap().to_string();
    let detail = fin.get(format!("{base}/admin/payers/{href}")).send().await.unwrap().text().await.unwrap();
    assert!(
        detail.contains("郑导入") && detail.contains("370***********") && !detail.contains(&id),
        "the ID number masked"
    );
    // Everything the roster said is on the record.
    for fact in ["软件工程", "2026", "女", "居民身份证", "在读", "入学年份"] {
        assert!(detail.contains(fact), "the record shows {fact}");
    }
    assert!(detail.contains("<h2>退款</h2>"), "and the payer's refunds");

    // A department sees only its own departments' payers (students belong to colleges).
    let (houqin, _, _) = bursar::demo::DEPARTMENT_USERS[0];
    let dept = login_operator(&base, houqin, bursar::demo::DEPARTMENT_PASSWORD).await;
    let page =
        dept.get(format!("{base}/admin/payers")).query(&[("q", "郑导")]).send().await.unwrap().text().await.unwrap();
    assert!(!page.contains("郑导入"));
    assert_eq!(dept.get(format!("{base}/admin/payers/{href}")).send().await.unwrap().status(), 404);
    assert!(!page.contains("导入花名册"), "no import form without the permission");
    app.stop().await;
});

both_stores!(a_new_student_on_the_enrolled_list_is_the_same_payer_moved, |env: TestEnv| async move {
    use bursar_domain::access::Principal;
    use bursar_domain::SystemJob;
    use bursar_engine::roster::ImportMode;
    let app = env.start_demo().await;
    let by = Principal::System(SystemJob::Cli);
    let none = |_: usize, _: usize| {};
    let id = bursar_domain::payer::complete_resident_id("37030320080301001").unwrap();
    let csv = format!("学号,姓名,证件号码,院系,年级\n2026970001,新同学,{id},计算机学院,2026\n");
    let import = |kind| {
        let (engine, csv, by) = (app.engine.clone(), csv.clone(), by.clone());
        async move {
            let none = |_: usize, _: usize| {};
            engine.import_roster(&by, kind, csv.as_bytes(), ImportMode::AllOrNothing, &none).await.unwrap()
        }
    };
    let r = import(PayerKind::NewStudent).await;
    assert_eq!((r.applied, r.created), (true, 1), "{:?}", r.problems);
    // Enrolled in September: the same number on the enrolled list moves the payer.
    let r = import(PayerKind::EnrolledStudent).await;
    assert_eq!((r.created, r.updated), (0, 1), "{:?}", r.problems);
    let rows = scalar(&app.store, "SELECT COUNT(*) FROM payers WHERE identifier = '2026970001'", &[]).await;
    assert_eq!(rows, 1, "one payer, not two");
    let enrolled = scalar(
        &app.store,
        "SELECT COUNT(*) FROM payers WHERE identifier = '2026970001' AND kind = 'enrolled_student'",
        &[],
    )
    .await;
    assert_eq!(enrolled, 1);
    // The same list again changes nothing; a receivable for the number finds one payer.
    let r = import(PayerKind::EnrolledStudent).await;
    assert_eq!((r.created, r.updated, r.unchanged), (0, 0, 1));
    let bills = "学号,项目编码,学年,金额\n2026970001,CET,2026-2027,30\n";
    let r = app.engine.import_bills(&by, bills.as_bytes(), ImportMode::AllOrNothing, &none).await.unwrap();
    assert!(r.applied && r.problems.is_empty(), "{:?}", r.problems);
    // Staff numbers stay apart from students'.
    let r = import(PayerKind::Staff).await;
    assert_eq!(r.created, 1);
    // A college whose name has full-width brackets is found (cells are read half-width).
    let id2 = bursar_domain::payer::complete_resident_id("37030320080301002").unwrap();
    let csv = format!("学号,姓名,证件号码,院系\n2026970002,外语生,{id2},外国语学院（学生）\n");
    let r = app
        .engine
        .import_roster(&by, PayerKind::EnrolledStudent, csv.as_bytes(), ImportMode::AllOrNothing, &none)
        .await
        .unwrap();
    assert!(r.applied && r.problems.is_empty(), "{:?}", r.problems);
    app.stop().await;
});
