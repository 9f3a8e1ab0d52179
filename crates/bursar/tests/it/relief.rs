//! Reductions and deferrals in bulk (批量减免缓缴): a file is checked row by row as single requests
//! are (bad rows named, nothing asked for unless the good rows are chosen), filed as one batch,
//! decided whole by another person — each request exactly as it would be alone — and a batch with
//! one request no longer valid is decided not at all.

use bursar_domain::access::AccessError;
use bursar_domain::Fen;
use bursar_engine::roster::ImportMode;
use bursar_engine::EngineError;
use bursar_store::receivables::{self, ReceivableView};
use bursar_store::Conn as _;

use crate::both_stores;
use crate::support::*;

/// Three enrolled students' dorm fee (ZSF) receivables, by number.
async fn dorm_fees(app: &bursar::app::Running) -> Vec<(String, ReceivableView)> {
    let mut c = app.store.read().await.unwrap();
    let numbers: Vec<(String, String)> = sqlx::query_as(
        "SELECT p.identifier, p.id FROM payers p JOIN receivables r ON r.payer_id = p.id JOIN fee_items f ON f.id = r.fee_item_id
          WHERE p.kind = 'enrolled_student' AND f.code = 'ZSF' AND r.state = 'open' ORDER BY p.identifier LIMIT 3",
    )
    .fetch_all(c.raw())
    .await
    .unwrap();
    let mut out = Vec::new();
    for (number, id) in numbers {
        let r = receivables::for_payer(&mut c, &id).await.unwrap().into_iter().find(|r| r.item_code == "ZSF").unwrap();
        out.push((number, r));
    }
    assert_eq!(out.len(), 3, "the demo has students owing the dorm fee");
    out
}

fn day_in(app: &bursar::app::Running, days: i64) -> String {
    bursar_domain::time_fmt::date_cst(app.store.now_ms() + days * 86_400_000)
}

both_stores!(bulk_relief_is_checked_filed_as_one_batch_and_decided_whole, |env: TestEnv| async move {
    let app = env.start_demo().await;
    let clerk = operator(&app.engine, bursar::demo::FINANCE_USER).await;
    let approver = operator(&app.engine, bursar::demo::APPROVER_USER).await;
    let rows = dorm_fees(&app).await;
    let (a, b, c) = (&rows[0], &rows[1], &rows[2]);
    let year = &a.1.academic_year;
    let (soon, too_late) = (day_in(&app, 60), day_in(&app, 900));
    let over = Fen(a.1.outstanding().get() + 100);
    let file = format!(
        "学号,项目编码,学年,类型,减免金额,缓缴至,原因\n\
         {a},ZSF,{year},减免,300.00,,困难认定（文件 2026-31）\n\
         {b},ZSF,{year},绿色通道,,{soon},新生绿色通道\n\
         {c},ZSF,{year},助学贷款,,{soon2},贷款合同 GJ-001\n\
         9999999999,ZSF,{year},减免,1,,无此人\n\
         {c},ZSF,{year},减免,{over},,超过欠费\n\
         {a},ZSF,{year},打折,,,类型不对\n\
         {b},ZSF,{year},减免,10,,\n\
         {a},XF,{year},困难缓缴,,{too_late},太晚\n",
        a = a.0,
        b = b.0,
        c = c.0,
        soon2 = soon.replace('-', "/"),
        over = over,
    );
    let none = |_: usize, _: usize| {};
    // Any bad row: nothing is asked for, and every problem is named by its row.
    let r = app.engine.import_relief(&clerk, file.as_bytes(), ImportMode::AllOrNothing, &none).await.unwrap();
    assert!(!r.applied);
    let lines: Vec<usize> = r.problems.iter().map(|p| p.line).collect();
    assert_eq!(lines, [5, 6, 7, 8, 9], "{:?}", r.problems);
    assert!(r.problems[1].reason.contains("超过"), "{:?}", r.problems[1]);
    assert!(r.problems[4].column == "缓缴至", "{:?}", r.problems[4]);
    assert_eq!(scalar(&app.store, "SELECT COUNT(*) FROM waivers", &[]).await, 0);
    assert_eq!(scalar(&app.store, "SELECT COUNT(*) FROM deferrals", &[]).await, 0);

    // The good rows, as one batch.
    let r = app.engine.import_relief(&clerk, file.as_bytes(), ImportMode::ValidRows, &none).await.unwrap();
    assert!(r.applied);
    assert_eq!((r.waivers, r.waived, r.deferrals), (1, Fen(30_000), 2));
    let batch = r.batch_id.clone().unwrap();
    let listed = app.engine.relief_batches(&approver).await.unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!((listed[0].waivers, listed[0].deferrals, listed[0].waiting), (1, 2, 3));
    let (lines, total) = app.engine.relief_batch_lines(&approver, &batch, 2).await.unwrap();
    assert_eq!((lines.len(), total), (2, 3), "a page of the batch, and how many there are in all");
    // While they wait, the same receivables cannot be asked for again, and one file asks for
    // one thing per receivable.
    let again = format!(
        "学号,项目编码,学年,类型,减免金额,缓缴至,原因\n{a},ZSF,{year},减免,1,,再次\n{c},ZSF,{year},减免,,,全免\n{c},ZSF,{year},困难缓缴,,{soon},又缓缴\n",
        a = a.0,
        c = c.0,
    );
    let r = app.engine.import_relief(&clerk, again.as_bytes(), ImportMode::AllOrNothing, &none).await.unwrap();
    let found: Vec<(usize, &str)> = r.problems.iter().map(|p| (p.line, p.reason.as_str())).collect();
    assert_eq!(found.len(), 3, "{found:?}");
    assert!(found[0].1.contains("待审批的减免") && found[1].1.contains("待审批的缓缴"), "{found:?}");
    assert!(found[2].1.contains("重复"), "{found:?}");
    // Nothing changes until another person approves.
    assert_eq!(dorm_fees(&app).await[0].1.outstanding(), a.1.outstanding());
    let e = app.engine.decide_relief_batch(&clerk, &batch, true, "").await.unwrap_err();
    assert!(matches!(e, EngineError::Access(AccessError::OwnRequest)), "{e:?}");
    assert!(
        app.engine.decide_relief_batch(&approver, &batch, false, " ").await.is_err(),
        "a rejection needs its reason"
    );
    assert_eq!(app.engine.decide_relief_batch(&approver, &batch, true, "同意").await.unwrap(), 3);
    let after = dorm_fees(&app).await;
    assert_eq!(after[0].1.outstanding(), Fen(a.1.outstanding().get() - 30_000));
    assert!(after[1].1.deferred_until_ms.is_some() && after[2].1.deferred_until_ms.is_some());
    assert!(app.engine.decide_relief_batch(&approver, &batch, true, "").await.is_err(), "decided once");
    assert_eq!(scalar(&app.store, "SELECT COUNT(*) FROM journal_entries WHERE kind = 'waiver'", &[]).await, 1);
    assert_verified(&app.store).await;

    // A batch whose request no longer holds (the same money waived meanwhile) is decided not at
    // all: every request still waits.
    let owed = after[0].1.outstanding();
    let file = format!(
        "学号,项目编码,学年,类型,减免金额,原因\n{},ZSF,{year},减免,,全免\n{},ZSF,{year},减免,5,少量\n",
        a.0, b.0
    );
    let r = app.engine.import_relief(&clerk, file.as_bytes(), ImportMode::AllOrNothing, &none).await.unwrap();
    let batch = r.batch_id.unwrap();
    let single = app.engine.request_waiver(&clerk, &after[0].1.id, Some(owed), "单笔全免").await.unwrap();
    app.engine.decide_waiver(&approver, &single, true, "同意").await.unwrap();
    let e = app.engine.decide_relief_batch(&approver, &batch, true, "").await.unwrap_err();
    assert!(matches!(e, EngineError::Rule(_)), "{e:?}");
    let waiting =
        app.engine.relief_batches(&approver).await.unwrap().into_iter().find(|x| x.batch_id == batch).unwrap();
    assert_eq!(waiting.waiting, 2, "nothing of the batch was decided");
    app.engine.decide_relief_batch(&approver, &batch, false, "其间已单笔全免，请重新申请").await.unwrap();
    assert_verified(&app.store).await;
    app.stop().await;
});

both_stores!(a_department_asks_in_bulk_only_for_its_own_items, |env: TestEnv| async move {
    let app = env.start_demo().await;
    let houqin = operator(&app.engine, "houqin").await;
    let rows = dorm_fees(&app).await;
    let (a, year) = (&rows[0].0, &rows[0].1.academic_year);
    let mut c = app.store.read().await.unwrap();
    let tuition: Option<String> = sqlx::query_scalar(
        "SELECT p.identifier FROM receivables r JOIN payers p ON p.id = r.payer_id JOIN fee_items f ON f.id = r.fee_item_id
          WHERE f.code = 'XF' AND r.academic_year = $1 LIMIT 1",
    )
    .bind(year)
    .fetch_optional(c.raw())
    .await
    .unwrap();
    drop(c);
    let mut file = format!("学号,项目编码,学年,类型,减免金额,原因\n{a},ZSF,{year},减免,100,后勤困难补助\n");
    if let Some(t) = &tuition {
        file.push_str(&format!("{t},XF,{year},减免,100,越权\n"));
    }
    let none = |_: usize, _: usize| {};
    let r = app.engine.import_relief(&houqin, file.as_bytes(), ImportMode::AllOrNothing, &none).await.unwrap();
    if tuition.is_some() {
        assert!(!r.applied);
        assert_eq!(r.problems.len(), 1, "{:?}", r.problems);
        assert_eq!(r.problems[0].line, 3);
    }
    let r = app.engine.import_relief(&houqin, file.as_bytes(), ImportMode::ValidRows, &none).await.unwrap();
    assert!(r.applied && r.waivers == 1, "{r:?}");
    // A department cannot decide batches, but follows its own; another department cannot.
    let batch = r.batch_id.clone().unwrap();
    let e = app.engine.decide_relief_batch(&houqin, &batch, true, "").await.unwrap_err();
    assert!(matches!(e, EngineError::Access(_)), "{e:?}");
    let mine = app.engine.relief_batches(&houqin).await.unwrap();
    assert_eq!(mine.iter().map(|b| b.batch_id.as_str()).collect::<Vec<_>>(), [batch.as_str()]);
    assert_eq!(app.engine.relief_batch_lines(&houqin, &batch, 10).await.unwrap().1, 1);
    let jiaowu = operator(&app.engine, "jiaowu").await;
    assert!(app.engine.relief_batches(&jiaowu).await.unwrap().is_empty());
    let e = app.engine.relief_batch_lines(&jiaowu, &batch, 10).await.unwrap_err();
    assert!(matches!(e, EngineError::NotFound(_)), "{e:?}");
    let web = login_operator(&app.base_url, "houqin", bursar::demo::DEPARTMENT_PASSWORD).await;
    let page = web.get(format!("{}/admin/relief", app.base_url)).send().await.unwrap().text().await.unwrap();
    assert!(page.contains("我提交的批次") && page.contains(&format!("/admin/relief/{batch}")), "{page}");
    let r = web.get(format!("{}/admin/relief/{batch}", app.base_url)).send().await.unwrap();
    assert_eq!(r.status(), 200);
    app.stop().await;
});

both_stores!(two_approvals_of_one_batch_at_once_decide_it_once, |env: TestEnv| async move {
    let app = env.start_demo().await;
    let clerk = operator(&app.engine, bursar::demo::FINANCE_USER).await;
    let approver = operator(&app.engine, bursar::demo::APPROVER_USER).await;
    let rows = dorm_fees(&app).await;
    let year = &rows[0].1.academic_year;
    let file = format!(
        "学号,项目编码,学年,类型,减免金额,原因\n{},ZSF,{year},减免,100,甲\n{},ZSF,{year},减免,200,乙\n",
        rows[0].0, rows[1].0
    );
    let none = |_: usize, _: usize| {};
    let r = app.engine.import_relief(&clerk, file.as_bytes(), ImportMode::AllOrNothing, &none).await.unwrap();
    let batch = r.batch_id.unwrap();
    let mut tasks = Vec::new();
    for _ in 0..4 {
        let (engine, by, batch) = (app.engine.clone(), approver.clone(), batch.clone());
        tasks.push(tokio::spawn(async move { engine.decide_relief_batch(&by, &batch, true, "同意").await }));
    }
    let mut decided = 0;
    for t in tasks {
        if let Ok(n) = t.await.unwrap() {
            assert_eq!(n, 2);
            decided += 1;
        }
    }
    assert_eq!(decided, 1, "exactly one approval decides the batch");
    assert_eq!(scalar(&app.store, "SELECT COUNT(*) FROM journal_entries WHERE kind = 'waiver'", &[]).await, 2);
    let after = dorm_fees(&app).await;
    assert_eq!(after[0].1.outstanding(), Fen(rows[0].1.outstanding().get() - 10_000));
    assert_eq!(after[1].1.outstanding(), Fen(rows[1].1.outstanding().get() - 20_000));
    assert_verified(&app.store).await;
    app.stop().await;
});

both_stores!(a_reduction_down_to_an_amount_in_bulk_and_on_the_record, |env: TestEnv| async move {
    use bursar_domain::fee::Reduction;
    let app = env.start_demo().await;
    let clerk = operator(&app.engine, bursar::demo::FINANCE_USER).await;
    let rows = dorm_fees(&app).await;
    let (a, b) = (&rows[0], &rows[1]);
    let year = &a.1.academic_year;
    let owed = a.1.outstanding();
    let file = format!(
        "学号,项目编码,学年,类型,减免金额,减至金额,缓缴至,原因\n\
         {a},ZSF,{year},减免,,100.00,,孤残学生减至 100 元\n\
         {b},ZSF,{year},减免,,{owed_yuan},,没有减少\n\
         {b},ZSF,{year},减免,10,20,,两项都填\n",
        a = a.0,
        b = b.0,
        owed_yuan = b.1.outstanding().to_yuan_string(),
    );
    let none = |_: usize, _: usize| {};
    let r = app.engine.import_relief(&clerk, file.as_bytes(), ImportMode::AllOrNothing, &none).await.unwrap();
    let found: Vec<(usize, &str)> = r.problems.iter().map(|p| (p.line, p.column)).collect();
    assert_eq!(found, [(3, "减至金额"), (4, "减免金额")], "{:?}", r.problems);
    let r = app.engine.import_relief(&clerk, file.as_bytes(), ImportMode::ValidRows, &none).await.unwrap();
    assert_eq!((r.waivers, r.waived), (1, Fen(owed.get() - 10_000)), "down to ¥100: the rest is waived");
    // On the record: down to ¥500 files a request for what is above it.
    let id = app.engine.request_reduction(&clerk, &b.1.id, Reduction::To(Fen(50_000)), "减至 500 元").await.unwrap();
    let asked = scalar(&app.store, "SELECT amount_fen FROM waivers WHERE id = $1", &[&id]).await;
    assert_eq!(asked, b.1.outstanding().get() - 50_000);
    app.stop().await;
});
