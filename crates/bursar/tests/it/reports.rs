//! Reports (统计报表) over a day with an online payment, a cashier's payment code and an imported
//! cash collection: each report's figures agree with the ledger, the filters narrow them, the
//! xlsx reads back with its title, filters, header and totals, the command line makes the same
//! file — on both stores.

use std::process::Command;
use std::time::Duration;

use bursar_domain::payment::PaymentState;
use bursar_domain::report::{Cell, ReportFilter, ReportKind};
use bursar_engine::reports::ReportTable;
use calamine::{Data, Reader};

use crate::both_stores;
use crate::support::*;

const BIN: &str = env!("CARGO_BIN_EXE_bursar");

/// What the ledger says payments credited (to receivables and to payers' credit).
async fn ledger_collected(store: &bursar_store::Store) -> i64 {
    scalar(
        store,
        "SELECT CAST(COALESCE(SUM(-po.amount_fen), 0) AS BIGINT) FROM postings po
           JOIN journal_entries je ON je.id = po.entry_id JOIN accounts a ON a.id = po.account_id
          WHERE je.kind = 'payment_succeeded' AND a.kind IN ('receivable', 'payer_credit')",
        &[],
    )
    .await
}

/// What the ledger says payers still owe.
async fn ledger_owed(store: &bursar_store::Store) -> i64 {
    scalar(
        store,
        "SELECT CAST(COALESCE(SUM(po.amount_fen), 0) AS BIGINT) FROM postings po
           JOIN accounts a ON a.id = po.account_id WHERE a.kind = 'receivable'",
        &[],
    )
    .await
}

async fn table(app: &bursar::app::Running, kind: ReportKind, f: &ReportFilter) -> ReportTable {
    let by = operator(&app.engine, bursar::demo::LEADER_USER).await;
    let mut t = ReportTable::new(10_000);
    app.engine.run_report(&by, kind, f, &mut t).await.unwrap();
    t
}

fn money_total(t: &ReportTable, column: &str) -> i64 {
    let head = t.head.as_ref().unwrap();
    let i = head.columns.iter().position(|c| c.label == column).unwrap();
    match &t.totals.as_ref().unwrap()[i] {
        Cell::Money(f) => f.get(),
        other => panic!("{column} total is {other:?}"),
    }
}

fn count_total(t: &ReportTable, column: &str) -> i64 {
    let head = t.head.as_ref().unwrap();
    let i = head.columns.iter().position(|c| c.label == column).unwrap();
    match &t.totals.as_ref().unwrap()[i] {
        Cell::Count(n) => *n,
        other => panic!("{column} total is {other:?}"),
    }
}

fn texts(row: &[Cell]) -> Vec<String> {
    row.iter().map(Cell::display).collect()
}

/// A cashier takes the payer's whole 教材费 by a WeChat payment code.
async fn cashier_collects(app: &bursar::app::Running) {
    let base = &app.base_url;
    let cashier = login_operator(base, bursar::demo::CASHIER_USER, bursar::demo::FINANCE_PASSWORD).await;
    let (student, _) = bursar::demo::first_student_login();
    let page = crate::day_close::counter_page(&cashier, base, &student).await;
    let code = app.wechat_sim.as_ref().unwrap().new_payment_code(false);
    let paid_by_code = [("method", "wechat_code"), ("auth_code", code.as_str())];
    let r = crate::day_close::take(&cashier, base, &page, "教材费", &paid_by_code).await;
    assert_eq!(r.status(), 303);
    let id = location(&r).rsplit('/').next().unwrap().to_string();
    assert_eq!(payment_state(&app.store, &id).await, PaymentState::Succeeded);
}

fn sheet(bytes: &[u8]) -> calamine::Range<Data> {
    let mut book: calamine::Xlsx<_> = calamine::open_workbook_from_rs(std::io::Cursor::new(bytes.to_vec())).unwrap();
    book.worksheet_range_at(0).unwrap().unwrap()
}

fn cell_text(r: &calamine::Range<Data>, row: usize, col: usize) -> String {
    r.get((row, col)).map(|d| d.to_string()).unwrap_or_default()
}

/// The totals row's value in the column headed `label`, in fen.
fn sheet_total_fen(r: &calamine::Range<Data>, label: &str) -> i64 {
    let header = bursar_engine::reports::xlsx::HEADER_ROW as usize;
    let col = (0..r.width()).find(|c| cell_text(r, header, *c) == label).unwrap();
    let last = r.height() - 1;
    assert_eq!(cell_text(r, last, 0), "合计", "the last row is the totals");
    match r.get((last, col)) {
        Some(Data::Float(v)) => (v * 100.0).round() as i64,
        other => panic!("total of {label}: {other:?}"),
    }
}

both_stores!(reports_agree_with_the_ledger, |env: TestEnv| async move {
    let app = env.start_demo().await;
    let base = app.base_url.clone();
    // 1. The payer pays the dorm fee online.
    let p = crate::notifications::start_paying(&app).await;
    app.wechat_sim.as_ref().unwrap().confirm_payment(p.payment.code_url.as_deref().unwrap(), true).unwrap();
    let id = p.payment.id.clone();
    eventually("paid online", Duration::from_secs(15), || {
        let (store, id) = (app.store.clone(), id.clone());
        async move { payment_state(&store, &id).await == PaymentState::Succeeded }
    })
    .await;
    // 2. A cashier takes 教材费 at the counter.
    cashier_collects(&app).await;
    // 3. Finance imports a cash collection of part of the tuition.
    let fin = login_operator(&base, bursar::demo::FINANCE_USER, bursar::demo::FINANCE_PASSWORD).await;
    let (student, _) = bursar::demo::first_student_login();
    let csv = format!(
        "来源参考号,学号/工号,收费项目代码,学年,金额,方式,收款时间,收款点/账户\n\
         CASH-R-1,{student},XF,2026-2027,1000.00,现金,2026-11-20 09:30:00,财务处一号窗口\n"
    );
    let (status, page) = crate::offline_and_config::upload(&fin, &base, "cash.csv", csv.into_bytes()).await;
    assert_eq!(status, 200, "{page}");

    let collected = ledger_collected(&app.store).await;
    let paid_sum =
        scalar(&app.store, "SELECT CAST(SUM(amount_fen) AS BIGINT) FROM payments WHERE state = 'succeeded'", &[]).await;
    assert_eq!(collected, paid_sum, "the ledger credited what the payments took");
    assert!(collected > 100_000, "three payments, over ¥1,000: {collected}");
    let all = ReportFilter::default();

    // Every collection report adds up to what the ledger says was collected.
    for kind in [ReportKind::Daily, ReportKind::Detail, ReportKind::Departments, ReportKind::Items] {
        let column = if kind == ReportKind::Items { "期间收款（元）" } else { "金额（元）" };
        assert_eq!(money_total(&table(&app, kind, &all).await, column), collected, "{kind:?}");
    }
    let channels = table(&app, ReportKind::Channels, &all).await;
    assert_eq!(money_total(&channels, "收款金额（元）"), collected);
    assert_eq!(count_total(&channels, "收款笔数"), 3);
    let rows: Vec<Vec<String>> = channels.rows.iter().map(|r| texts(r)).collect();
    assert!(rows.iter().any(|r| r[0] == "微信支付" && r[1] == "2"), "{rows:?}");
    assert!(rows.iter().any(|r| r[0] == "线下缴费" && r[1] == "1" && r[2] == "1000.00"), "{rows:?}");
    let detail = table(&app, ReportKind::Detail, &all).await;
    assert_eq!(detail.row_count, 3, "one line per payment and item");

    // 收费员收费情况: what the cashier took at the counter (a payment code); the online payment
    // is nobody's, and the cash finance imported was taken elsewhere.
    let cashiers = table(&app, ReportKind::Cashiers, &all).await;
    let rows: Vec<Vec<String>> = cashiers.rows.iter().map(|r| texts(r)).collect();
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert!(rows[0][1].contains("付款码") && rows[0][2] == "1", "{rows:?}");
    assert!(money_total(&cashiers, "金额（元）") < collected);

    // Filters narrow: one channel, one department, a period before anything was paid.
    let wechat = ReportFilter { channel: Some(bursar_domain::payment::ChannelKind::Wechatpay), ..Default::default() };
    assert_eq!(money_total(&table(&app, ReportKind::Detail, &wechat).await, "金额（元）"), collected - 100_000);
    let by = operator(&app.engine, bursar::demo::LEADER_USER).await;
    let q = bursar_engine::reports::ReportQuery { department: "后勤管理处".into(), ..Default::default() };
    let houqin = app.engine.report_filter(&by, &q).await.unwrap();
    let dorm = table(&app, ReportKind::Departments, &houqin).await;
    assert_eq!(dorm.rows.len(), 1);
    assert_eq!(texts(&dorm.rows[0])[0], "后勤管理处");
    assert_eq!(money_total(&dorm, "金额（元）"), p.payment.amount_fen.get());
    let q = bursar_engine::reports::ReportQuery {
        from: "2020-01-01".into(),
        to: "2020-01-31".into(),
        ..Default::default()
    };
    let old = app.engine.report_filter(&by, &q).await.unwrap();
    assert_eq!(table(&app, ReportKind::Detail, &old).await.row_count, 0);
    for bad in [("2026-02-30", ""), ("2026-11-30", "2026-11-01")] {
        let q = bursar_engine::reports::ReportQuery { from: bad.0.into(), to: bad.1.into(), ..Default::default() };
        assert!(app.engine.report_filter(&by, &q).await.is_err(), "{bad:?} refused");
    }

    // How things stand: what the arrears list owes is what the ledger's receivables hold.
    let owed = ledger_owed(&app.store).await;
    let arrears = table(&app, ReportKind::Arrears, &all).await;
    assert_eq!(money_total(&arrears, "欠费（元）"), owed);
    let classes = table(&app, ReportKind::Classes, &all).await;
    assert_eq!(money_total(&classes, "未收（元）"), owed);
    assert_eq!(money_total(&classes, "已收（元）"), collected, "nothing was overpaid or refunded");
    let payers_owing = scalar(&app.store, "SELECT COUNT(DISTINCT payer_id) FROM receivables", &[]).await;
    assert_eq!(count_total(&classes, "人数"), payers_owing);
    assert_eq!(count_total(&classes, "部分缴纳"), 1, "the student who paid three items of more");

    // The dashboard: today's figure is the two payments of today (the cash was of 20 November);
    // a department's reader sees its own fee items and no money across departments.
    let d = app.engine.dashboard(&by).await.unwrap();
    let wide = d.wide.expect("a leader sees the whole school");
    assert_eq!(wide.today.count, 2);
    assert_eq!(wide.today.amount.get(), collected - 100_000);
    assert_eq!(wide.days.last().unwrap().total, wide.today);
    assert_eq!(d.items.iter().map(|i| i.paid_fen.get()).sum::<i64>(), collected);
    let (houqin_user, _, _) = bursar::demo::DEPARTMENT_USERS[0];
    let dept_by = operator(&app.engine, houqin_user).await;
    let d = app.engine.dashboard(&dept_by).await.unwrap();
    assert!(d.wide.is_none());
    assert!(
        !d.items.is_empty() && d.items.iter().all(|i| i.code == "ZSF" || i.department_id == d.items[0].department_id)
    );
    assert_eq!(d.departments.len(), 1);

    // The finance view: the list, a report page with its totals, its xlsx read back.
    let leader = login_operator(&base, bursar::demo::LEADER_USER, bursar::demo::FINANCE_PASSWORD).await;
    let list = leader.get(format!("{base}/admin/reports")).send().await.unwrap().text().await.unwrap();
    assert!(list.contains("收费日报") && list.contains("欠费统计"));
    // (The page's period is this month unless given; the cash was collected on 20 November.)
    let wide = "from=2020-01-01&to=2099-12-31";
    let page = leader.get(format!("{base}/admin/reports/daily?{wide}")).send().await.unwrap().text().await.unwrap();
    let yuan = format!("¥{}", bursar_domain::Fen(collected));
    assert!(page.contains(&yuan), "the page's totals show {yuan}");
    let r = leader.get(format!("{base}/admin/reports/daily/xlsx?{wide}")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let s = sheet(&r.bytes().await.unwrap());
    assert!(cell_text(&s, 0, 0).ends_with("收费日报"));
    assert!(cell_text(&s, 1, 0).contains("期间："));
    assert_eq!(cell_text(&s, 2, 0), "日期");
    assert_eq!(sheet_total_fen(&s, "金额（元）"), collected);
    // A bad filter: the page says why, the file is refused.
    let page =
        leader.get(format!("{base}/admin/reports/detail?from=2026-11-31")).send().await.unwrap().text().await.unwrap();
    assert!(page.contains("不是日期"));
    let r = leader.get(format!("{base}/admin/reports/detail/xlsx?item=NOPE")).send().await.unwrap();
    assert_eq!(r.status(), 422, "refused with the reason");
    assert_eq!(leader.get(format!("{base}/admin/reports/nope")).send().await.unwrap().status(), 404);
    // Departments and cashiers do not read reports.
    let (houqin, _, _) = bursar::demo::DEPARTMENT_USERS[0];
    let dept = login_operator(&base, houqin, bursar::demo::DEPARTMENT_PASSWORD).await;
    assert_eq!(dept.get(format!("{base}/admin/reports/daily")).send().await.unwrap().status(), 403);

    // The command line makes the same report.
    let file = env.dir.join("channels.xlsx");
    let out = Command::new(BIN)
        .args(["report", "channels", "--data-dir"])
        .arg(&env.dir)
        .arg("--xlsx")
        .arg(&file)
        .env("BURSAR_DATABASE_URL", &env.url)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let s = sheet(&std::fs::read(&file).unwrap());
    assert_eq!(sheet_total_fen(&s, "收款金额（元）"), collected);
    let out = Command::new(BIN)
        .args(["report", "arrears", "--college", "没有的学院", "--data-dir"])
        .arg(&env.dir)
        .env("BURSAR_DATABASE_URL", &env.url)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "refused");
    assert!(String::from_utf8_lossy(&out.stderr).contains("没有这个院系"));
    assert_verified(&app.store).await;
});
