//! The whole slice over HTTP, as a payer and a finance operator would drive it:
//! login → choose items → WeChat Pay → simulator confirm → notification → receivable paid →
//! verify clean. Plus every amount rule refusing with a clear message and changing nothing.

use std::time::Duration;

use bursar_domain::fee::ReceivableState;
use bursar_domain::Fen;
use bursar_store::receivables;

use crate::both_stores;
use crate::support::*;

/// The student's receivables, by fee item name, for one year.
async fn receivable_by_name(store: &bursar_store::Store, year: &str, name: &str) -> receivables::ReceivableView {
    let (payer, _) = first_student(store).await;
    let mut c = store.read().await.unwrap();
    receivables::for_payer(&mut c, &payer.id)
        .await
        .unwrap()
        .into_iter()
        .find(|r| r.academic_year == year && r.item_name == name)
        .unwrap_or_else(|| panic!("demo student has {name} {year}"))
}

async fn count(store: &bursar_store::Store, table: &str) -> i64 {
    scalar(store, &format!("SELECT COUNT(*) FROM {table}"), &[]).await
}

both_stores!(payer_pays_tuition_with_wechat_end_to_end, |env: TestEnv| async move {
    let app = env.start_demo().await;
    let base = app.base_url.clone();
    let sim_base = app.sim_base_url.clone().expect("simulator running");
    let c = login_student(&base).await;

    // Current fees list the arrears with window, status, type and amount.
    let fees = c.get(format!("{base}/portal/fees")).send().await.unwrap().text().await.unwrap();
    for label in ["当前费用", "学费", "住宿费", "收费起始", "收费终止", "收费状态", "收费类型", "2026-2027"]
    {
        assert!(fees.contains(label), "fees page shows {label}");
    }

    // Choose the year and items: part of the tuition (allowed, ≥ minimum) and the whole dorm fee.
    let tuition = receivable_by_name(&app.store, "2026-2027", "学费").await;
    let dorm = receivable_by_name(&app.store, "2026-2027", "住宿费").await;
    let pay_page = c.get(format!("{base}/portal/pay?year=2026-2027")).send().await.unwrap().text().await.unwrap();
    assert!(pay_page.contains(&format!("amount_{}", tuition.id)));
    let csrf = csrf_of(&pay_page);
    let resp = c
        .post(format!("{base}/portal/orders"))
        .form(&[
            ("csrf", csrf.as_str()),
            ("year", "2026-2027"),
            ("sel", tuition.id.as_str()),
            (&format!("amount_{}", tuition.id), "2,000.00"),
            ("sel", dorm.id.as_str()),
            (&format!("amount_{}", dorm.id), "1200"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 303, "order created");
    let order_path = location(&resp);
    assert!(order_path.starts_with("/portal/orders/"));

    // Confirm page shows the lines and the total; pay with WeChat.
    let order_page = c.get(format!("{base}{order_path}")).send().await.unwrap().text().await.unwrap();
    assert!(order_page.contains("3,200.00"), "total of 2,000 + 1,200");
    assert!(order_page.contains("微信支付"));
    let resp = c
        .post(format!("{base}{order_path}/pay"))
        .form(&[("csrf", csrf_of(&order_page).as_str()), ("method", "wechat_native")])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 303);
    let payment_path = location(&resp);
    let payment_page = c.get(format!("{base}{payment_path}")).send().await.unwrap().text().await.unwrap();
    assert!(payment_page.contains("<svg"), "QR code shown");
    assert!(payment_page.contains("data-poll"), "page polls for the result");
    let phone_link =
        between(&payment_page, "id=\"sim-phone\" href=\"", "\"").expect("simulator phone link").replace("&amp;", "&");
    assert!(phone_link.starts_with(&sim_base));

    // Reloading the payment never makes a second payment at the channel.
    let again = c
        .post(format!("{base}{order_path}/pay"))
        .form(&[("csrf", csrf_of(&order_page).as_str()), ("method", "wechat_native")])
        .send()
        .await
        .unwrap();
    assert_eq!(location(&again), payment_path, "the waiting payment is reused");

    // The payer scans and confirms on the simulator's phone page.
    let phone = client();
    let page = phone.get(&phone_link).send().await.unwrap().text().await.unwrap();
    assert!(page.contains("3,200.00") && page.contains("确认支付"));
    let pr = between(&page, "name=\"pr\" value=\"", "\"").unwrap().to_string();
    let confirmed = phone
        .post(format!("{sim_base}/phone/pay"))
        .form(&[("pr", pr.as_str()), ("action", "confirm")])
        .send()
        .await
        .unwrap();
    assert_eq!(confirmed.status(), 200);

    // The notification arrives; the page's status moves to succeeded.
    let status_url = format!("{base}{payment_path}/status");
    eventually("payment succeeded", Duration::from_secs(15), || {
        let c = c.clone();
        let url = status_url.clone();
        async move {
            let v: serde_json::Value = c.get(&url).send().await.unwrap().json().await.unwrap();
            v["state"] == "succeeded"
        }
    })
    .await;
    let success = c.get(format!("{base}{payment_path}")).send().await.unwrap().text().await.unwrap();
    assert!(success.contains("支付成功"));

    // Receivables are paid by exactly what was chosen.
    assert_eq!(receivable_by_name(&app.store, "2026-2027", "学费").await.paid_fen, Fen(200_000));
    let dorm_after = receivable_by_name(&app.store, "2026-2027", "住宿费").await;
    assert_eq!(dorm_after.paid_fen, Fen(120_000));
    assert_eq!(dorm_after.state, ReceivableState::Settled);

    // The voucher shows what was paid; records list it.
    let voucher = c.get(format!("{base}{payment_path}/voucher")).send().await.unwrap();
    assert_eq!(voucher.status(), 200);
    let voucher = voucher.text().await.unwrap();
    assert!(voucher.contains("缴费凭证") && voucher.contains("3,200.00") && voucher.contains("住宿费"));
    assert!(voucher.contains("JF20"), "the receipt has its number");
    // The amount in capitals, the receiving unit (the school until one is set), the college.
    assert!(voucher.contains("人民币叁仟贰佰元整"), "{voucher}");
    assert!(voucher.contains("收款单位") && voucher.contains("山东理工大学"));
    assert!(voucher.contains("计算机学院"));
    let sysadmin = operator(&app.engine, bursar::demo::SYSADMIN_USER).await;
    assert!(app.engine.set_receiving_unit(&sysadmin, &"长".repeat(61)).await.is_err());
    let clerk = operator(&app.engine, bursar::demo::FINANCE_USER).await;
    assert!(app.engine.set_receiving_unit(&clerk, "x").await.is_err(), "settings are the administrator's");
    app.engine.set_receiving_unit(&sysadmin, "山东理工大学计划财务处").await.unwrap();
    let voucher = c.get(format!("{base}{payment_path}/voucher")).send().await.unwrap().text().await.unwrap();
    assert!(voucher.contains("山东理工大学计划财务处"));
    let verify_url = between(&voucher, "验证本凭证真伪：<br><a href=\"", "\"").expect("verification link").to_string();
    // Anyone holding the receipt can check it, and learns no more than needed.
    let public = client().get(&verify_url).send().await.unwrap();
    assert_eq!(public.status(), 200);
    let public = public.text().await.unwrap();
    assert!(public.contains("真实有效") && public.contains("3,200.00"));
    let (student, _) = bursar::demo::first_student_login();
    assert!(!public.contains(&student), "the student number is masked");
    assert!(public.contains(&bursar_domain::payer::mask_identifier(&student)));
    let forged = client().get(format!("{base}/receipts/verify/0000000000000000")).send().await.unwrap();
    assert_eq!(forged.status(), 404);
    let records = c.get(format!("{base}/portal/records")).send().await.unwrap().text().await.unwrap();
    assert!(records.contains("支付成功"));

    // A duplicate notification from the channel (its retry) changes nothing.
    let sim = app.wechat_sim.as_ref().unwrap();
    let no = merchant_order_no_on(&success);
    let mchid = sim_mchid(&env);
    let txn = sim.transaction(&mchid, &no).expect("simulator knows the payment");
    let (body, headers) = sim.notification_for(&txn).unwrap();
    let entries_before = count(&app.store, "journal_entries").await;
    let resp = client().post(format!("{base}/notify/wechatpay")).headers(headers).body(body).send().await.unwrap();
    assert_eq!(resp.status(), 200, "duplicates are acknowledged");
    assert_eq!(count(&app.store, "journal_entries").await, entries_before, "no second credit");
    assert_eq!(receivable_by_name(&app.store, "2026-2027", "学费").await.paid_fen, Fen(200_000));

    // Finance sees the collection.
    let fin = client();
    let login = fin.get(format!("{base}/admin/login")).send().await.unwrap().text().await.unwrap();
    let resp = fin
        .post(format!("{base}/admin/login"))
        .form(&[
            ("username", bursar::demo::FINANCE_USER),
            ("password", bursar::demo::FINANCE_PASSWORD),
            ("csrf", csrf_of(&login).as_str()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 303);
    let dash = fin.get(format!("{base}/admin")).send().await.unwrap().text().await.unwrap();
    let today = between(&dash, "今日收款", "</li>").unwrap_or_default();
    assert!(dash.contains("收费监控") && today.contains("1 笔"), "dashboard counts the payment: {today}");
    assert!(dash.contains("3,200.00"), "collected total");
    let payments =
        fin.get(format!("{base}/admin/payments?state=succeeded")).send().await.unwrap().text().await.unwrap();
    assert!(payments.contains(&no));
    // A payer session cannot open the finance view.
    let denied = c.get(format!("{base}/admin")).send().await.unwrap();
    assert_eq!(denied.status(), 303);
    assert_eq!(location(&denied), "/admin/login");

    assert_verified(&app.store).await;
    app.stop().await;
});

fn sim_mchid(env: &TestEnv) -> String {
    let text = std::fs::read_to_string(env.dir.join("sandbox/wechatpay/config.json")).unwrap();
    let v: serde_json::Value = serde_json::from_str(&text).unwrap();
    v["mchid"].as_str().unwrap().to_string()
}

both_stores!(amount_rules_refuse_with_a_reason_and_change_nothing, |env: TestEnv| async move {
    let app = env.start_demo().await;
    let base = app.base_url.clone();
    let c = login_student(&base).await;
    let tuition = receivable_by_name(&app.store, "2026-2027", "学费").await;
    let dorm = receivable_by_name(&app.store, "2026-2027", "住宿费").await;
    let orders_before = count(&app.store, "orders").await;
    let csrf = csrf_of(&c.get(format!("{base}/portal/pay")).send().await.unwrap().text().await.unwrap());

    let attempt = |rid: String, amount: &'static str| {
        let c = c.clone();
        let csrf = csrf.clone();
        let base = base.clone();
        async move {
            let resp = c
                .post(format!("{base}/portal/orders"))
                .form(&[("csrf", csrf.as_str()), ("sel", rid.as_str()), (&format!("amount_{rid}"), amount)])
                .send()
                .await
                .unwrap();
            (resp.status().as_u16(), resp.text().await.unwrap())
        }
    };
    let (s, body) = attempt(tuition.id.clone(), "999.99").await;
    assert_eq!(s, 422);
    assert!(
        body.contains("低于最小支付金额"),
        "below minimum: {}",
        between(&body, "role=\"alert\">", "<").unwrap_or("")
    );
    let (s, body) = attempt(tuition.id.clone(), "999999").await;
    assert_eq!(s, 422);
    assert!(body.contains("超过欠费金额"));
    let (s, body) = attempt(dorm.id.clone(), "100").await;
    assert_eq!(s, 422);
    assert!(body.contains("不允许拆分支付"));
    let (s, body) = attempt(tuition.id.clone(), "12.345").await;
    assert_eq!(s, 422);
    assert!(body.contains("金额格式不正确"));

    // Items that cannot be paid now say why, and are refused if posted anyway.
    let (payer, _) = first_student(&app.store).await;
    let mut conn = app.store.read().await.unwrap();
    let all = receivables::for_payer(&mut conn, &payer.id).await.unwrap();
    drop(conn);
    for (code, message) in [("NCRE", "已过收费期限"), ("BXF", "尚未开始收费")] {
        if let Some(r) = all.iter().find(|r| r.item_code == code) {
            let fees = c.get(format!("{base}/portal/fees")).send().await.unwrap().text().await.unwrap();
            assert!(fees.contains(message), "fees page explains {code}");
            let amount = Box::leak(r.outstanding().to_yuan_string().into_boxed_str());
            let (s, body) = attempt(r.id.clone(), amount).await;
            assert_eq!(s, 422, "{code}");
            assert!(body.contains(message), "{code}: {message}");
        }
    }
    // A stopped item: stop tuition and try again.
    let finance = operator(&app.engine, bursar::demo::FINANCE_USER).await;
    app.engine.set_fee_item_open(&finance, &tuition.fee_item_id, false).await.unwrap();
    let (s, body) = attempt(tuition.id.clone(), "2000").await;
    assert_eq!(s, 422);
    assert!(body.contains("已停止收费"));

    // Someone else's receivable is simply not found.
    let mut conn = app.store.read().await.unwrap();
    let other: String = sqlx::query_scalar("SELECT id FROM receivables WHERE payer_id <> $1 LIMIT 1")
        .bind(&payer.id)
        .fetch_one(bursar_store::Conn::raw(&mut conn))
        .await
        .unwrap();
    drop(conn);
    let (s, _) = attempt(other, "1").await;
    assert_eq!(s, 404);

    // A missing CSRF token is refused.
    let resp = c
        .post(format!("{base}/portal/orders"))
        .form(&[("sel", dorm.id.as_str()), (&format!("amount_{}", dorm.id), "1200")])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 403);

    assert_eq!(count(&app.store, "orders").await, orders_before, "nothing was created");
    assert_verified(&app.store).await;
    app.stop().await;
});
