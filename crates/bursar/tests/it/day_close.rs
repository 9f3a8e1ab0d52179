//! The counter as a cashier works it: finding the payer by number or name, cash (one payment
//! however often the form is sent), a POS slip (its reference once only), a payment code, the
//! printed voucher; then the day close — a shortfall must be explained, the chief cashier
//! returns or confirms it (never the cashier), a confirmed day is only corrected by a new entry —
//! and the cash sits in the cashier's till in the ledger. On both stores.

use bursar_domain::till::{Counted, TillCloseState};
use bursar_domain::Fen;

use crate::both_stores;
use crate::support::*;

pub(crate) async fn counter_page(c: &reqwest::Client, base: &str, query: &str) -> String {
    c.get(format!("{base}/admin/counter?payer={query}")).send().await.unwrap().text().await.unwrap()
}

/// Posts the counter form for the line of `item`, the whole of it, with extra fields.
pub(crate) async fn take(
    c: &reqwest::Client,
    base: &str,
    page: &str,
    item: &str,
    extra: &[(&str, &str)],
) -> reqwest::Response {
    let row = page.split("<tr>").find(|r| r.contains(item)).unwrap_or_else(|| panic!("{item} on the page"));
    let rid = between(row, "name=\"sel\" value=\"", "\"").unwrap().to_string();
    let amount = between(row, &format!("name=\"amount_{rid}\" value=\""), "\"").unwrap().replace(',', "");
    let pid = between(page, "name=\"pid\" value=\"", "\"").unwrap().to_string();
    let mut form = vec![
        ("csrf".to_string(), csrf_of(page)),
        ("pid".to_string(), pid),
        ("ticket".to_string(), between(page, "name=\"ticket\" value=\"", "\"").unwrap().to_string()),
        ("sel".to_string(), rid.clone()),
        (format!("amount_{rid}"), amount),
    ];
    form.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    c.post(format!("{base}/admin/counter")).form(&form).send().await.unwrap()
}

async fn till_balance(store: &bursar_store::Store, cashier_id: &str) -> i64 {
    scalar(
        store,
        "SELECT CAST(COALESCE(SUM(po.amount_fen), 0) AS BIGINT) FROM postings po JOIN accounts a ON a.id = po.account_id
          WHERE a.kind = 'cash' AND a.dimension = $1",
        &[&bursar_domain::till::till_of(cashier_id)],
    )
    .await
}

both_stores!(a_cashiers_day_from_cash_to_a_confirmed_close, |env: TestEnv| async move {
    let app = env.start_demo().await;
    let base = app.base_url.clone();
    let pw = bursar::demo::FINANCE_PASSWORD;
    let cashier = login_operator(&base, bursar::demo::CASHIER_USER, pw).await;
    let (student, _) = first_student(&app.store).await;

    // Found by number, and by name (one or several to choose from).
    let page = counter_page(&cashier, &base, &student.identifier).await;
    assert!(page.contains(&student.name) && page.contains("住宿费"), "by number");
    let by_name = counter_page(&cashier, &base, &student.name).await;
    assert!(by_name.contains(&student.identifier), "by name");
    let nobody = counter_page(&cashier, &base, "没有这个人").await;
    assert!(nobody.contains("未找到缴费人"));

    // Cash for the dorm fee; the same form sent twice is one payment.
    let payments_before = scalar(&app.store, "SELECT COUNT(*) FROM payments", &[]).await;
    let cash = [("method", "offline_cash")];
    let r = take(&cashier, &base, &page, "住宿费", &cash).await;
    assert_eq!(r.status(), 303);
    let first = location(&r);
    let r = take(&cashier, &base, &page, "住宿费", &cash).await;
    assert_eq!(location(&r), first, "a second press of 收款 shows the same payment");
    assert_eq!(scalar(&app.store, "SELECT COUNT(*) FROM payments", &[]).await, payments_before + 1);
    let result = cashier.get(format!("{base}{first}")).send().await.unwrap().text().await.unwrap();
    assert!(result.contains("支付成功") && result.contains("打印缴费凭证"), "{result}");
    let voucher = cashier.get(format!("{base}{first}/voucher")).send().await.unwrap().text().await.unwrap();
    assert!(voucher.contains("壹仟贰佰元整") && voucher.contains("现金"), "the printed voucher");

    // A POS slip for the textbooks; its reference cannot be entered twice.
    let page = counter_page(&cashier, &base, &student.identifier).await;
    let r = take(&cashier, &base, &page, "教材费", &[("method", "offline_pos"), ("pos_ref", "ref-000077889900")]).await;
    assert_eq!(r.status(), 303);
    let page = counter_page(&cashier, &base, &student.identifier).await;
    let r = take(&cashier, &base, &page, "学费", &[("method", "offline_pos"), ("pos_ref", "REF-000077889900")]).await;
    assert_eq!(r.status(), 422);
    assert!(r.text().await.unwrap().contains("已经登记过"));
    // A payment code for the insurance, as before.
    let code = app.wechat_sim.as_ref().unwrap().new_payment_code(false);
    let r = take(&cashier, &base, &page, "学费", &[("method", "wechat_code"), ("auth_code", &code)]).await;
    assert_eq!(r.status(), 303);

    // The day at the till: what the system says, by method.
    let cashier_by = operator(&app.engine, bursar::demo::CASHIER_USER).await;
    let cashier_id = cashier_by.operator().unwrap().id.clone();
    let day = app.engine.my_day_at_till(&cashier_by, None).await.unwrap();
    assert_eq!(day.takings.payments, 3);
    assert_eq!(day.takings.cash, Fen(120_000));
    assert!(day.takings.pos.is_positive() && day.takings.codes.is_positive());
    assert_eq!(till_balance(&app.store, &cashier_id).await, 120_000, "the cash is in the cashier's till");

    // Collections finance imports from elsewhere are not in anybody's till.
    let fin_by = operator(&app.engine, bursar::demo::FINANCE_USER).await;
    let csv = format!(
        "来源参考号,学号/工号,收费项目代码,学年,金额,方式,收款时间\nCASH-ELSEWHERE-1,{},BXF,2026-2027,1.00,现金,2026-11-20 09:00:00\n",
        student.identifier
    );
    let report = app.engine.import_offline(&fin_by, "cash.csv", csv.as_bytes()).await.unwrap();
    assert_eq!(report.imported, 1, "{:?}", report.errors);
    let day20 = app.engine.my_day_at_till(&fin_by, Some("2026-11-20")).await.unwrap();
    assert_eq!((day20.takings.payments, day20.takings.cash), (0, Fen::ZERO));

    // A shortfall must be explained; then it waits for the chief cashier.
    let close = cashier.get(format!("{base}/admin/counter/close")).send().await.unwrap().text().await.unwrap();
    assert!(close.contains("¥1,200.00"));
    let pos = day.takings.pos.to_yuan_string();
    let form = |cash: &str, reason: &str| {
        vec![
            ("csrf", csrf_of(&close)),
            ("day", day.day.clone()),
            ("cash", cash.to_string()),
            ("pos", pos.clone()),
            ("reason", reason.to_string()),
        ]
    };
    let r = cashier.post(format!("{base}/admin/counter/close")).form(&form("1199.00", "")).send().await.unwrap();
    assert_eq!(r.status(), 422);
    assert!(r.text().await.unwrap().contains("短款"));
    let r = cashier
        .post(format!("{base}/admin/counter/close"))
        .form(&form("1199.00", "找零多给 1 元"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    let r = cashier.post(format!("{base}/admin/counter/close")).form(&form("1200.00", "")).send().await.unwrap();
    assert_eq!(r.status(), 422, "one close waits at a time");
    // While it waits, the counter takes nothing (what was counted stays the day's takings).
    let page = counter_page(&cashier, &base, &student.identifier).await;
    let r = take(&cashier, &base, &page, "学费", &[("method", "offline_cash")]).await;
    assert_eq!(r.status(), 422);
    assert!(r.text().await.unwrap().contains("等待确认期间不能收款"));
    // A POS slip's short voucher number is not its reference.
    let r = take(&cashier, &base, &page, "学费", &[("method", "offline_pos"), ("pos_ref", "000123")]).await;
    assert_eq!(r.status(), 422);

    // Only the chief cashier decides; a return says why; the cashier hands it over again.
    assert_eq!(cashier.get(format!("{base}/admin/day-closes")).send().await.unwrap().status(), 403);
    let chief = login_operator(&base, bursar::demo::CHIEF_CASHIER_USER, pw).await;
    let list = chief.get(format!("{base}/admin/day-closes")).send().await.unwrap().text().await.unwrap();
    assert!(list.contains("短款 ¥1.00") && list.contains("找零多给 1 元"), "{list}");
    let id = between(&list, "action=\"/admin/day-closes/", "\"").unwrap().to_string();
    let decide = |decision: &'static str, comment: &'static str| {
        let (chief, base, list, id) = (chief.clone(), base.clone(), list.clone(), id.clone());
        async move {
            chief
                .post(format!("{base}/admin/day-closes/{id}"))
                .form(&[("csrf", csrf_of(&list).as_str()), ("decision", decision), ("comment", comment)])
                .send()
                .await
                .unwrap()
        }
    };
    assert_eq!(decide("return", "").await.status(), 422, "a return says why");
    assert_eq!(decide("return", "请复点现金").await.status(), 303);
    let chief_by = operator(&app.engine, bursar::demo::CHIEF_CASHIER_USER).await;
    let again = app
        .engine
        .close_day(&cashier_by, &day.day, Counted { cash: Fen(120_000), pos: day.takings.pos }, "")
        .await
        .unwrap();
    // The chief and the finance administrator confirm at once: one decision holds.
    let admin_by = operator(&app.engine, bursar::demo::FINANCE_USER).await;
    let (a, b) = tokio::join!(
        app.engine.decide_day_close(&chief_by, &again, true, ""),
        app.engine.decide_day_close(&admin_by, &again, true, "")
    );
    assert!(a.is_ok() != b.is_ok(), "exactly one confirmation: {a:?} {b:?}");
    // The cashier cannot decide their own; a confirmed day is corrected only by a new entry.
    assert!(app.engine.decide_day_close(&cashier_by, &again, true, "").await.is_err());
    let counted = Counted { cash: Fen(120_000), pos: day.takings.pos };
    assert!(app.engine.close_day(&cashier_by, &day.day, counted, "").await.is_err(), "a correction says why");
    app.engine.close_day(&cashier_by, &day.day, counted, "补记：POS 签购单复核无误").await.unwrap();
    let closes = app.engine.my_day_at_till(&cashier_by, Some(&day.day)).await.unwrap().closes;
    let states: Vec<(i64, TillCloseState)> = closes.iter().map(|c| (c.seq, c.state)).collect();
    assert_eq!(
        states,
        vec![(3, TillCloseState::Submitted), (2, TillCloseState::Confirmed), (1, TillCloseState::Returned)]
    );
    assert!(app.engine.close_day(&cashier_by, "2999-01-01", counted, "x").await.is_err(), "not a day to come");

    // The reports see the cashier's methods.
    let mut t = bursar_engine::reports::ReportTable::new(100);
    let f = bursar_domain::report::ReportFilter::default();
    app.engine.run_report(&chief_by, bursar_domain::report::ReportKind::Cashiers, &f, &mut t).await.unwrap();
    let rows: Vec<String> =
        t.rows.iter().map(|r| r.iter().map(|c| c.display()).collect::<Vec<_>>().join("|")).collect();
    assert!(rows.iter().any(|r| r.contains("何收费员|现金|1|1200.00")), "{rows:?}");
    assert!(rows.iter().any(|r| r.contains("何收费员|POS")), "{rows:?}");
    assert_verified(&app.store).await;
});

both_stores!(racing_counter_forms_and_closes_take_and_close_once, |env: TestEnv| async move {
    let app = env.start_demo().await;
    let (student, _) = first_student(&app.store).await;
    let cashier = operator(&app.engine, bursar::demo::CASHIER_USER).await;
    let dorm = {
        let mut c = app.store.read().await.unwrap();
        bursar_store::receivables::for_payer(&mut c, &student.id)
            .await
            .unwrap()
            .into_iter()
            .find(|r| r.item_name == "住宿费")
            .unwrap()
    };
    let lines = vec![(dorm.id.clone(), dorm.outstanding())];
    let tender = bursar_engine::collection::counter::Tender::Cash;
    let before = scalar(&app.store, "SELECT COUNT(*) FROM payments", &[]).await;
    // The same cash form sent four times at once: one payment, every answer the same.
    let ticket = "0123456789abcdef0123456789abcdef";
    let (a, b, c, d) = tokio::join!(
        app.engine.collect_at_counter(&cashier, &student.id, &lines, &tender, ticket),
        app.engine.collect_at_counter(&cashier, &student.id, &lines, &tender, ticket),
        app.engine.collect_at_counter(&cashier, &student.id, &lines, &tender, ticket),
        app.engine.collect_at_counter(&cashier, &student.id, &lines, &tender, ticket),
    );
    let ids: Vec<String> = [a, b, c, d].into_iter().map(|r| r.unwrap().id).collect();
    assert!(ids.iter().all(|i| i == &ids[0]), "{ids:?}");
    assert_eq!(scalar(&app.store, "SELECT COUNT(*) FROM payments", &[]).await, before + 1);
    // Two hand-overs of the day at once: one close.
    let day = app.engine.my_day_at_till(&cashier, None).await.unwrap();
    let counted = Counted { cash: day.takings.cash, pos: day.takings.pos };
    let (a, b) = tokio::join!(
        app.engine.close_day(&cashier, &day.day, counted, ""),
        app.engine.close_day(&cashier, &day.day, counted, "")
    );
    assert!(a.is_ok() != b.is_ok(), "exactly one close: {a:?} {b:?}");
    let refused = a.err().or(b.err()).unwrap();
    assert!(
        matches!(refused, bursar_engine::EngineError::Rule(_)),
        "refused in words, not a database error: {refused:?}"
    );
    assert_eq!(app.engine.my_day_at_till(&cashier, None).await.unwrap().closes.len(), 1);
    assert_verified(&app.store).await;
});
