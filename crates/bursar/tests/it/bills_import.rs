//! Receivables imported from a file: each bad row named (unknown payer or item, a year written
//! another way, three decimals, a row twice, an amount differing from what is already owed),
//! nothing applied unless every row is good (or the good ones on request), the same file again
//! raising nothing twice; and the same from the command line.

use std::process::Command;

use bursar_domain::access::Principal;
use bursar_domain::SystemJob;
use bursar_engine::roster::ImportMode;

use crate::both_stores;
use crate::support::*;

const BIN: &str = env!("CARGO_BIN_EXE_bursar");

both_stores!(receivables_are_imported_checked_and_never_changed_silently, |env: TestEnv| async move {
    let app = env.start_demo().await;
    let by = Principal::System(SystemJob::Cli);
    let (student, _) = bursar::demo::first_student_login();
    let csv = format!(
        "学号,项目编码,学年,金额,备注\n\
         {student},CET,2027-2028,30.00,下学年报名\n\
         {student},PXF,2026-2027,100.005,\n\
         nobody,CET,2026-2027,30,\n\
         {student},NOPE,2026-2027,30,\n\
         {student},CET,2026/2027,30,\n\
         {student},CET,2027-2028,30.00,\n\
         {student},XF,2026-2027,1.00,\n"
    );
    let before = scalar(&app.store, "SELECT COUNT(*) FROM receivables", &[]).await;
    let none = |_: usize, _: usize| {};
    let r = app.engine.import_bills(&by, csv.as_bytes(), ImportMode::AllOrNothing, &none).await.unwrap();
    assert!(!r.applied);
    let found: Vec<(usize, &str)> = r.problems.iter().map(|p| (p.line, p.column)).collect();
    assert_eq!(
        found,
        vec![(3, "金额"), (4, "学号/工号"), (5, "项目编码"), (6, "学年"), (7, "学号/工号"), (8, "金额")],
        "{:?}",
        r.problems
    );
    assert!(r.problems[5].reason.contains("金额不同"), "{:?}", r.problems[5]);
    assert_eq!(scalar(&app.store, "SELECT COUNT(*) FROM receivables", &[]).await, before);
    let r = app.engine.import_bills(&by, csv.as_bytes(), ImportMode::ValidRows, &none).await.unwrap();
    assert_eq!((r.applied, r.created, r.existing), (true, 1, 0));
    // The note (备注) is kept with the receivable.
    let note = scalar(
        &app.store,
        "SELECT COUNT(*) FROM receivables r JOIN fee_items f ON f.id = r.fee_item_id
          WHERE f.code = 'CET' AND r.academic_year = '2027-2028' AND r.note = '下学年报名'",
        &[],
    )
    .await;
    assert_eq!(note, 1);
    let r = app.engine.import_bills(&by, csv.as_bytes(), ImportMode::ValidRows, &none).await.unwrap();
    assert_eq!((r.created, r.existing), (0, 1), "the same file again raises nothing");
    assert_eq!(scalar(&app.store, "SELECT COUNT(*) FROM receivables", &[]).await, before + 1);
    assert_verified(&app.store).await;
    app.stop().await;
});

both_stores!(the_command_line_imports_receivables, |env: TestEnv| async move {
    let app = env.start_demo().await;
    app.stop().await;
    let (student, _) = bursar::demo::first_student_login();
    let path = env.dir.join("bills.csv");
    std::fs::write(&path, format!("学号,项目编码,学年,金额\n{student},CET,2028-2029,30\nnobody,CET,2028-2029,30\n"))
        .unwrap();
    let run = |extra: &[&str]| {
        Command::new(BIN)
            .args(["import", "receivables", "--data-dir"])
            .arg(&env.dir)
            .args(extra)
            .arg(&path)
            .env("BURSAR_DATABASE_URL", &env.url)
            .output()
            .unwrap()
    };
    let out = run(&[]);
    assert_eq!(out.status.code(), Some(2), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(std::fs::read_to_string(env.dir.join("bills.csv.errors.csv")).unwrap().contains("缴费人不存在"));
    let out = run(&["--valid-rows"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stdout).contains("1 raised"), "{}", String::from_utf8_lossy(&out.stdout));
});

both_stores!(finance_imports_receivables_in_the_finance_view, |env: TestEnv| async move {
    let app = env.start_demo().await;
    let base = app.base_url.clone();
    let fin = login_operator(&base, bursar::demo::FINANCE_USER, bursar::demo::FINANCE_PASSWORD).await;
    let (student, _) = bursar::demo::first_student_login();
    let csv = format!("学号,项目编码,学年,金额\n{student},CET,2029-2030,30\n{student},CET,2029-2030,30\n");
    let upload = |valid_rows: bool| {
        let (fin, base, csv) = (fin.clone(), base.clone(), csv.clone());
        async move {
            let page = fin.get(format!("{base}/admin/receivables")).send().await.unwrap().text().await.unwrap();
            let mut form = reqwest::multipart::Form::new()
                .text("csrf", csrf_of(&page))
                .part("file", reqwest::multipart::Part::bytes(csv.into_bytes()).file_name("bills.csv"));
            if valid_rows {
                form = form.text("valid_rows", "1");
            }
            let r = fin.post(format!("{base}/admin/receivables")).multipart(form).send().await.unwrap();
            (r.status().as_u16(), r.text().await.unwrap())
        }
    };
    let (status, page) = upload(false).await;
    assert_eq!(status, 422);
    assert!(
        page.contains("整个文件未导入") && page.contains("在文件中重复"),
        "{}",
        between(&page, "<main", "</main>").unwrap_or(&page)
    );
    let (status, page) = upload(true).await;
    assert_eq!(status, 200);
    assert!(page.contains("新生成应收 1 笔"), "{}", between(&page, "id=\"import-result\"", "</p>").unwrap_or(&page));
    // A department may not raise receivables.
    let (houqin, _, _) = bursar::demo::DEPARTMENT_USERS[0];
    let dept = login_operator(&base, houqin, bursar::demo::DEPARTMENT_PASSWORD).await;
    assert_eq!(dept.get(format!("{base}/admin/receivables")).send().await.unwrap().status(), 403);
    app.stop().await;
});

both_stores!(the_same_imports_at_once_raise_and_create_each_thing_once, |env: TestEnv| async move {
    let app = env.start_demo().await;
    let (student, _) = bursar::demo::first_student_login();
    let bills = format!("学号,项目编码,学年,金额\n{student},CET,2030-2031,30\n{student},PXF,2030-2031,100\n");
    let id = bursar_domain::payer::complete_resident_id("37030320080606678").unwrap();
    let roster = format!("学号,姓名,证件号码\n0020300001,并发甲,{id}\n");
    // A double click, or two clerks importing the same files at once.
    let mut tasks = Vec::new();
    for _ in 0..6 {
        let (engine, bills, roster) = (app.engine.clone(), bills.clone(), roster.clone());
        tasks.push(tokio::spawn(async move {
            let by = Principal::System(SystemJob::Cli);
            let none = |_: usize, _: usize| {};
            let b = engine.import_bills(&by, bills.as_bytes(), ImportMode::AllOrNothing, &none).await.unwrap();
            let r = engine
                .import_roster(
                    &by,
                    bursar_domain::payer::PayerKind::Staff,
                    roster.as_bytes(),
                    ImportMode::AllOrNothing,
                    &none,
                )
                .await
                .unwrap();
            (b.created, r.created)
        }));
    }
    let (mut bills_created, mut payers_created) = (0, 0);
    for t in tasks {
        let (b, p) = t.await.unwrap();
        bills_created += b;
        payers_created += p;
    }
    assert_eq!((bills_created, payers_created), (2, 1), "each raised and created exactly once");
    assert_eq!(scalar(&app.store, "SELECT COUNT(*) FROM receivables WHERE academic_year = '2030-2031'", &[]).await, 2);
    assert_eq!(scalar(&app.store, "SELECT COUNT(*) FROM payers WHERE identifier = '0020300001'", &[]).await, 1);
    assert_verified(&app.store).await;
    app.stop().await;
});
