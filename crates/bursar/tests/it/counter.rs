//! The cashier's counter: payment codes of both wallets, paid at once, confirmed by the payer
//! after a wait, or never confirmed and reversed at the deadline — on both stores.

use std::time::Duration;

use bursar_domain::payment::PaymentState;
use bursar_store::payments as pay_store;

use crate::both_stores;
use crate::support::*;

/// Collects the whole of `item` by payment code; returns the result page's path.
async fn collect(fin: &reqwest::Client, base: &str, item: &str, method: &str, code: &str) -> String {
    let (student, _) = bursar::demo::first_student_login();
    let page = fin.get(format!("{base}/admin/counter?payer={student}")).send().await.unwrap().text().await.unwrap();
    assert!(page.contains(item), "the counter lists what the payer owes");
    let row = page.split("<tr>").find(|r| r.contains(item)).unwrap();
    let rid = between(row, "name=\"sel\" value=\"", "\"").unwrap().to_string();
    let amount = between(row, &format!("name=\"amount_{rid}\" value=\""), "\"").unwrap().replace(',', "");
    let r = fin
        .post(format!("{base}/admin/counter"))
        .form(&[
            ("csrf", csrf_of(&page).as_str()),
            ("payer", student.as_str()),
            ("sel", rid.as_str()),
            (&format!("amount_{rid}"), amount.as_str()),
            ("method", method),
            ("auth_code", code),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303, "collected");
    location(&r)
}

async fn state_of(store: &bursar_store::Store, path: &str) -> PaymentState {
    payment_state(store, path.rsplit('/').next().unwrap()).await
}

both_stores!(cashier_collects_by_payment_code, |env: TestEnv| async move {
    let app = env.start_demo().await;
    let base = app.base_url.clone();
    let fin = login_operator(&base, bursar::demo::FINANCE_USER, bursar::demo::FINANCE_PASSWORD).await;
    let wechat = app.wechat_sim.as_ref().unwrap();
    let alipay = app.alipay_sim.as_ref().unwrap();

    // WeChat, paid at once.
    let path = collect(&fin, &base, "住宿费", "wechat_code", &wechat.new_payment_code(false)).await;
    assert_eq!(state_of(&app.store, &path).await, PaymentState::Succeeded);
    let page = fin.get(format!("{base}{path}")).send().await.unwrap().text().await.unwrap();
    assert!(page.contains("支付成功") && page.contains("1,200.00"));

    // Alipay, the payer confirms on the phone while the counter waits.
    let path = collect(&fin, &base, "教材费", "alipay_code", &alipay.new_payment_code(true)).await;
    assert_eq!(state_of(&app.store, &path).await, PaymentState::Paying);
    let page = fin.get(format!("{base}{path}")).send().await.unwrap().text().await.unwrap();
    assert!(page.contains("data-poll"), "the counter page polls");
    let p = {
        let mut c = app.store.read().await.unwrap();
        pay_store::payment(&mut c, path.rsplit('/').next().unwrap()).await.unwrap()
    };
    alipay.confirm(&p.merchant_id, &p.merchant_order_no, false).unwrap();
    eventually("the waiting charge is credited", Duration::from_secs(15), || {
        let (store, path) = (app.store.clone(), path.clone());
        async move { state_of(&store, &path).await == PaymentState::Succeeded }
    })
    .await;

    // WeChat, never confirmed: reversed at the (shortened) deadline, nothing credited.
    let path = collect(&fin, &base, "英语四六级考试报名费", "wechat_code", &wechat.new_payment_code(true)).await;
    eventually("the unconfirmed charge is reversed", Duration::from_secs(20), || {
        let (store, path) = (app.store.clone(), path.clone());
        async move { state_of(&store, &path).await == PaymentState::Closed }
    })
    .await;
    let p = {
        let mut c = app.store.read().await.unwrap();
        pay_store::payment(&mut c, path.rsplit('/').next().unwrap()).await.unwrap()
    };
    assert_eq!(wechat.trade_state(&p.merchant_id, &p.merchant_order_no).as_deref(), Some("REVOKED"));

    // A code that is not a payment code: refused with a reason, nothing recorded.
    let (student, _) = bursar::demo::first_student_login();
    let page = fin.get(format!("{base}/admin/counter?payer={student}")).send().await.unwrap().text().await.unwrap();
    let row = page.split("<tr>").find(|r| r.contains("英语四六级考试报名费")).unwrap();
    let rid = between(row, "name=\"sel\" value=\"", "\"").unwrap().to_string();
    let r = fin
        .post(format!("{base}/admin/counter"))
        .form(&[
            ("csrf", csrf_of(&page).as_str()),
            ("payer", student.as_str()),
            ("sel", rid.as_str()),
            (&format!("amount_{rid}"), "30.00"),
            ("method", "wechat_code"),
            ("auth_code", "abc"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 422);
    assert_verified(&app.store).await;
    app.stop().await;
});
