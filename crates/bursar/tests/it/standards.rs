//! Fee standards (收费标准) and raising receivables by them: a standard is proposed by one person
//! and put in force by another; a new version retires the old one; raising shows its plan first
//! (who, how much, who is left out and why) and changes nothing until confirmed; confirmed
//! raises racing each other raise each receivable once; the finance view and the command line
//! do the same.

use std::process::Command;

use bursar_domain::access::{AccessError, Principal};
use bursar_domain::payer::{complete_resident_id, PayerKind};
use bursar_domain::roster::PayerStatus;
use bursar_domain::standards::Exclusion;
use bursar_domain::{Fen, SystemJob};
use bursar_engine::roster::ImportMode;
use bursar_engine::standards::{Group, RaiseRule, StandardSource};
use bursar_engine::EngineError;

use crate::both_stores;
use crate::support::*;

const BIN: &str = env!("CARGO_BIN_EXE_bursar");
const YEAR: &str = "2027-2028";

/// Five 2026 students of 计算机学院: two in 软件工程, one each in 计算机科学 and 网络工程, and a
/// 软件工程 graduate.
async fn import_class(app: &bursar::app::Running) {
    let rows = [
        ("2026990001", "甲软工", "软件工程", "在读", "37030320080101001"),
        ("2026990002", "乙软工", "软件工程", "在读", "37030320080101002"),
        ("2026990003", "丙计科", "计算机科学", "在读", "37030320080101003"),
        ("2026990004", "丁网工", "网络工程", "在读", "37030320080101004"),
        ("2026990005", "戊毕业", "软件工程", "毕业", "37030320080101005"),
    ];
    let mut csv = String::from("学号,姓名,证件号码,院系,专业,年级,学籍状态\n");
    for (number, name, major, status, id17) in rows {
        let id = complete_resident_id(id17).unwrap();
        csv.push_str(&format!("{number},{name},{id},计算机学院,{major},2026,{status}\n"));
    }
    let by = Principal::System(SystemJob::Cli);
    let none = |_: usize, _: usize| {};
    let r = app
        .engine
        .import_roster(&by, PayerKind::EnrolledStudent, csv.as_bytes(), ImportMode::AllOrNothing, &none)
        .await
        .unwrap();
    assert!(r.applied && r.problems.is_empty(), "{:?}", r.problems);
}

async fn department_id(app: &bursar::app::Running, name: &str) -> String {
    let by = Principal::System(SystemJob::Cli);
    let departments = app.engine.operator_view(&by).departments().await.unwrap();
    departments.into_iter().find(|(_, n)| n == name).unwrap().0
}

async fn tuition_id(app: &bursar::app::Running) -> String {
    let mut c = app.store.read().await.unwrap();
    bursar_store::receivables::fee_item_by_code(&mut c, "XF").await.unwrap().unwrap().id
}

fn rule(department_id: &str) -> RaiseRule {
    RaiseRule {
        fee_item_code: "XF".into(),
        academic_year: YEAR.into(),
        group: Group {
            kind: Some(PayerKind::EnrolledStudent),
            department_id: Some(department_id.into()),
            grade: Some("2026".into()),
            ..Group::default()
        },
    }
}

fn y(yuan: i64) -> Fen {
    Fen(yuan * 100)
}

async fn raised_count(app: &bursar::app::Running, item: &str) -> i64 {
    scalar(&app.store, "SELECT COUNT(*) FROM receivables WHERE fee_item_id = $1 AND academic_year = $2", &[item, YEAR])
        .await
}

both_stores!(a_standard_is_approved_by_another_person_and_raises_each_receivable_once, |env: TestEnv| async move {
    let app = env.start_demo().await;
    import_class(&app).await;
    let clerk = operator(&app.engine, bursar::demo::FINANCE_USER).await;
    let approver = operator(&app.engine, bursar::demo::APPROVER_USER).await;
    let (cs, item) = (department_id(&app, "计算机学院").await, tuition_id(&app).await);

    // No standard in force: nothing can be raised.
    let e = app.engine.plan_raise(&clerk, &rule(&cs)).await.unwrap_err();
    assert!(e.to_string().contains("没有现行的收费标准"), "{e}");

    // A table by major, proposed by the clerk: not in force until someone else approves it.
    let table = "院系,专业,年级,缴费人类别,金额\n计算机学院,软件工程,,,6800\n计算机学院,计算机科学,,在校生,5500.00\n";
    let v1 = app
        .engine
        .propose_standard(&clerk, &item, YEAR, StandardSource::Table(table.as_bytes().to_vec()), "物价批文 2027-1")
        .await
        .unwrap();
    let again = app.engine.propose_standard(&clerk, &item, YEAR, StandardSource::Uniform(Fen(1)), "").await;
    assert!(again.unwrap_err().to_string().contains("待审核"), "one waiting version at a time");
    let e = app.engine.decide_standard(&clerk, &v1, true, "").await.unwrap_err();
    assert!(matches!(e, EngineError::Access(AccessError::OwnRequest)), "{e:?}");
    assert!(app.engine.plan_raise(&clerk, &rule(&cs)).await.is_err(), "still not in force");
    app.engine.decide_standard(&approver, &v1, true, "同意").await.unwrap();

    // The plan: who, how much, who is left out and why; it changes nothing.
    let plan = app.engine.plan_raise(&clerk, &rule(&cs)).await.unwrap();
    assert_eq!((plan.matched, plan.to_raise, plan.total), (5, 3, y(6800 * 2 + 5500)));
    assert_eq!(plan.by_amount, vec![(y(6800), 2), (y(5500), 1)]);
    assert_eq!(plan.sample.iter().map(|p| p.name.as_str()).collect::<Vec<_>>(), ["甲软工", "乙软工", "丙计科"]);
    let why: Vec<(Exclusion, usize, String)> =
        plan.excluded.iter().map(|(e, n, who)| (*e, *n, who[0].name.clone())).collect();
    assert_eq!(
        why,
        vec![
            (Exclusion::NotActive(PayerStatus::Graduated), 1, "戊毕业".to_string()),
            (Exclusion::NoStandard, 1, "丁网工".to_string()),
        ]
    );
    assert_eq!(plan.created, None);
    assert_eq!(raised_count(&app, &item).await, 0, "a plan raises nothing");

    // Four confirmations at once: each receivable is raised once.
    let mut tasks = Vec::new();
    for _ in 0..4 {
        let (engine, by, r) = (app.engine.clone(), clerk.clone(), rule(&cs));
        tasks.push(tokio::spawn(async move { engine.raise_by_standard(&by, &r).await }));
    }
    let mut created = 0;
    for t in tasks {
        created += t.await.unwrap().unwrap().created.unwrap();
    }
    assert_eq!(created, 3);
    assert_eq!(raised_count(&app, &item).await, 3);
    let due: i64 = scalar(
        &app.store,
        "SELECT CAST(COALESCE(SUM(due_fen), 0) AS BIGINT) FROM receivables WHERE fee_item_id = $1 AND academic_year = $2",
        &[&item, YEAR],
    )
    .await;
    assert_eq!(due, (6800 * 2 + 5500) * 100);

    // Version 2 (one amount for everyone) replaces version 1; only the student with no
    // receivable yet is charged by it.
    let v2 = app.engine.propose_standard(&clerk, &item, YEAR, StandardSource::Uniform(y(7000)), "").await.unwrap();
    app.engine.decide_standard(&approver, &v2, true, "").await.unwrap();
    let versions = app.engine.standards_of(&clerk, &item).await.unwrap();
    let states: Vec<(i64, &str)> = versions.iter().map(|v| (v.row.version, v.row.state.as_str())).collect();
    assert_eq!(states, [(2, "approved"), (1, "superseded")]);
    let plan = app.engine.raise_by_standard(&clerk, &rule(&cs)).await.unwrap();
    assert_eq!((plan.to_raise, plan.created, plan.total), (1, Some(1), y(7000)));
    assert_eq!(plan.excluded.iter().find(|(e, ..)| *e == Exclusion::AlreadyRaised).map(|(_, n, _)| *n), Some(3));

    // Every step is in the operation log; the books balance.
    let logged = scalar(&app.store, "SELECT COUNT(*) FROM operation_log WHERE action LIKE 'fee_standard.%'", &[]).await;
    assert_eq!(logged, 4);
    let raises =
        scalar(&app.store, "SELECT COUNT(*) FROM operation_log WHERE action = 'receivable.raise_by_standard'", &[])
            .await;
    assert_eq!(raises, 5);
    assert_verified(&app.store).await;
    app.stop().await;
});

both_stores!(a_bad_standard_is_refused_whole, |env: TestEnv| async move {
    let app = env.start_demo().await;
    let clerk = operator(&app.engine, bursar::demo::FINANCE_USER).await;
    let item = tuition_id(&app).await;
    let bad = "院系,专业,金额\n不存在学院,,100\n计算机学院,软件工程,12.345\n计算机学院,软件工程,100\n";
    let e = app
        .engine
        .propose_standard(&clerk, &item, YEAR, StandardSource::Table(bad.as_bytes().to_vec()), "")
        .await
        .unwrap_err()
        .to_string();
    assert!(e.contains("第 2 行") && e.contains("不存在学院") && e.contains("第 3 行"), "{e}");
    let dup = "院系,专业,金额\n计算机学院,软件工程,100\n计算机学院,软件工程,200\n";
    let e = app
        .engine
        .propose_standard(&clerk, &item, YEAR, StandardSource::Table(dup.as_bytes().to_vec()), "")
        .await
        .unwrap_err()
        .to_string();
    assert!(e.contains("第 1 条与第 2 条"), "{e}");
    let e = app.engine.propose_standard(&clerk, &item, "2027-2029", StandardSource::Uniform(Fen(1)), "").await;
    assert!(e.is_err());
    assert_eq!(scalar(&app.store, "SELECT COUNT(*) FROM fee_standards", &[]).await, 0);
    // A department operator proposes only for its own department's items.
    let dept = operator(&app.engine, "houqin").await;
    let e = app.engine.propose_standard(&dept, &item, YEAR, StandardSource::Uniform(Fen(1)), "").await.unwrap_err();
    assert!(matches!(e, EngineError::NotFound(_)), "{e:?}");
    app.stop().await;
});

both_stores!(the_finance_view_and_the_command_line_raise_by_the_standard, |env: TestEnv| async move {
    let app = env.start_demo().await;
    import_class(&app).await;
    let base = app.base_url.clone();
    let (cs, item) = (department_id(&app, "计算机学院").await, tuition_id(&app).await);

    // The clerk proposes one amount on the item's 收费标准 page; the approver approves it there.
    let clerk = login_operator(&base, bursar::demo::FINANCE_USER, bursar::demo::FINANCE_PASSWORD).await;
    let page = clerk.get(format!("{base}/admin/fee-items/{item}/standards")).send().await.unwrap();
    assert_eq!(page.status(), 200);
    let html = page.text().await.unwrap();
    assert!(html.contains("尚未制定收费标准"));
    let form = reqwest::multipart::Form::new()
        .text("csrf", csrf_of(&html))
        .text("year", YEAR)
        .text("amount", "6000")
        .text("note", "统一标准");
    let r = clerk.post(format!("{base}/admin/fee-items/{item}/standards")).multipart(form).send().await.unwrap();
    assert!(r.status().is_redirection(), "{}", r.status());
    let approver = login_operator(&base, bursar::demo::APPROVER_USER, bursar::demo::FINANCE_PASSWORD).await;
    let html =
        approver.get(format!("{base}/admin/fee-items/{item}/standards")).send().await.unwrap().text().await.unwrap();
    let action = between(&html, "action=\"/admin/fee-items/", "/decide\"").unwrap().to_string();
    let r = approver
        .post(format!("{base}/admin/fee-items/{action}/decide"))
        .form(&[("csrf", csrf_of(&html).as_str()), ("decision", "approve"), ("comment", "")])
        .send()
        .await
        .unwrap();
    assert!(r.status().is_redirection(), "{}", r.status());

    // The preview changes nothing; the confirmation raises.
    let html = clerk.get(format!("{base}/admin/receivables/raise")).send().await.unwrap().text().await.unwrap();
    let csrf = csrf_of(&html);
    let fields = |action: &'static str| {
        vec![
            ("csrf", csrf.clone()),
            ("item", "XF".to_string()),
            ("year", YEAR.to_string()),
            ("kind", "enrolled_student".to_string()),
            ("department", cs.clone()),
            ("major", String::new()),
            ("grade", "2026".to_string()),
            ("class_name", String::new()),
            ("action", action.to_string()),
        ]
    };
    let r = clerk.post(format!("{base}/admin/receivables/raise")).form(&fields("preview")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let html = r.text().await.unwrap();
    assert!(html.contains("预览（尚未生成）") && html.contains("确认生成 4 笔应收"), "{html}");
    assert!(html.contains("学籍/在职状态为“毕业”") && html.contains("戊毕业"));
    assert_eq!(raised_count(&app, &item).await, 0);
    let r = clerk.post(format!("{base}/admin/receivables/raise")).form(&fields("commit")).send().await.unwrap();
    let html = r.text().await.unwrap();
    assert!(html.contains("已为 4 人生成"), "{html}");
    assert_eq!(raised_count(&app, &item).await, 4);

    // The command line: the same plan (nothing left to raise), and a refusal with exit code 2.
    let run = |args: &[&str]| {
        Command::new(BIN)
            .args(["receivables", "raise"])
            .args(args)
            .arg("--data-dir")
            .arg(&env.dir)
            .env("BURSAR_DATABASE_URL", &env.url)
            .output()
            .unwrap()
    };
    let out = run(&["--item", "XF", "--year", YEAR, "--college", "计算机学院", "--grade", "2026", "--commit"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{text}{}", String::from_utf8_lossy(&out.stderr));
    assert!(text.contains("raised: 0 receivables") && text.contains("left out: 4"), "{text}");
    let out = run(&["--item", "XF", "--year", "2030-2031"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("没有现行的收费标准"));
    assert_verified(&app.store).await;
    app.stop().await;
});

both_stores!(the_downloaded_template_is_a_standard_down_to_the_class, |env: TestEnv| async move {
    let app = env.start_demo().await;
    let base = app.base_url.clone();
    // Three 2026 students of 计算机学院: two 软件工程 in different classes, one 计算机科学.
    let mut csv = String::from("学号,姓名,证件号码,院系,专业,年级,班级,学籍状态\n");
    for (number, name, major, class, id17) in [
        ("2026980001", "甲", "软件工程", "软工2601", "37030320080201001"),
        ("2026980002", "乙", "软件工程", "软工2602", "37030320080201002"),
        ("2026980003", "丙", "计算机科学", "计科2601", "37030320080201003"),
    ] {
        let id = complete_resident_id(id17).unwrap();
        csv.push_str(&format!("{number},{name},{id},计算机学院,{major},2026,{class},在读\n"));
    }
    let by = Principal::System(SystemJob::Cli);
    let none = |_: usize, _: usize| {};
    let r = app
        .engine
        .import_roster(&by, PayerKind::EnrolledStudent, csv.as_bytes(), ImportMode::AllOrNothing, &none)
        .await
        .unwrap();
    assert!(r.applied, "{:?}", r.problems);

    // The template finance downloads, proposed as it is, is a standard of its three lines.
    let web = login_operator(&base, bursar::demo::FINANCE_USER, bursar::demo::FINANCE_PASSWORD).await;
    let template = web.get(format!("{base}/admin/standards-template.xlsx")).send().await.unwrap();
    assert_eq!(template.status(), 200);
    let bytes = template.bytes().await.unwrap().to_vec();
    let clerk = operator(&app.engine, bursar::demo::FINANCE_USER).await;
    let approver = operator(&app.engine, bursar::demo::APPROVER_USER).await;
    let item = tuition_id(&app).await;
    let standard =
        app.engine.propose_standard(&clerk, &item, YEAR, StandardSource::Table(bytes), "模板").await.unwrap();
    app.engine.decide_standard(&approver, &standard, true, "").await.unwrap();
    let views = app.engine.standards_of(&clerk, &item).await.unwrap();
    let classes: Vec<&str> = views[0].lines.iter().map(|l| l.class_name.as_str()).collect();
    assert_eq!(classes, ["", "", "软工2601"]);

    // The class line is the most specific: 7,200 for 软工2601, 6,800 for the other 软件工程
    // class, 5,000 for everyone else.
    let rule = RaiseRule {
        fee_item_code: "XF".into(),
        academic_year: YEAR.into(),
        group: Group {
            kind: Some(PayerKind::EnrolledStudent),
            department_id: Some(department_id(&app, "计算机学院").await),
            grade: Some("2026".into()),
            ..Group::default()
        },
    };
    let plan = app.engine.plan_raise(&clerk, &rule).await.unwrap();
    let amount_of = |number: &str| plan.sample.iter().find(|p| p.identifier == number).map(|p| p.amount);
    assert_eq!(amount_of("2026980001"), Some(y(7200)));
    assert_eq!(amount_of("2026980002"), Some(y(6800)));
    assert_eq!(amount_of("2026980003"), Some(y(5000)));
    app.stop().await;
});
