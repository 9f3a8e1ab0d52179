//! The simulators' fault switches, flipped at run time over HTTP while the platform runs, and
//! what the engine does about each: a payment the channel never notifies is recovered by asking;
//! notifications sent twice credit once; an amount that differs from the payment is refused and
//! recorded, and credited correctly once the channel reports the truth; refunds that fail at
//! the channel go to finance's transfer path.

use std::time::Duration;

use bursar_domain::payment::PaymentState;

use crate::both_stores;
use crate::notifications::start_paying;
use crate::support::*;

async fn set_faults(sim: &str, channel: &str, body: serde_json::Value) {
    let r = reqwest::Client::new().post(format!("{sim}/_faults/{channel}")).json(&body).send().await.unwrap();
    assert_eq!(r.status(), 200, "fault switch accepted");
}

async fn events(store: &bursar_store::Store, outcome: &str) -> i64 {
    scalar(store, "SELECT COUNT(*) FROM channel_events WHERE outcome = $1", &[outcome]).await
}

both_stores!(faults_switched_at_run_time_lose_nothing, |env: TestEnv| async move {
    let app = env.start_demo().await;
    let sim = app.sim_base_url.clone().unwrap();
    let wechat = app.wechat_sim.as_ref().unwrap();

    // Paid at the channel, never notified: the active query credits it.
    set_faults(&sim, "wechatpay", serde_json::json!({"drop_notifications": true})).await;
    let p = start_paying(&app).await;
    wechat.confirm_payment(p.payment.code_url.as_deref().unwrap(), true).unwrap();
    eventually("recovered by asking the channel", Duration::from_secs(15), || {
        let (store, id) = (app.store.clone(), p.payment.id.clone());
        async move { payment_state(&store, &id).await == PaymentState::Succeeded }
    })
    .await;

    // The channel reports another amount: refused and recorded, nothing credited…
    set_faults(&sim, "wechatpay", serde_json::json!({"amount_delta_fen": 1, "duplicate_notifications": true})).await;
    let (payer, by) = first_student(&app.store).await;
    let textbook = {
        let mut c = app.store.read().await.unwrap();
        bursar_store::receivables::for_payer(&mut c, &payer.id)
            .await
            .unwrap()
            .into_iter()
            .find(|r| r.item_code == "JCF")
            .unwrap()
    };
    let order = app.engine.create_order(&by, &[(textbook.id.clone(), textbook.outstanding())]).await.unwrap();
    let pay = app
        .engine
        .start_payment(
            &by,
            &order,
            bursar_domain::payment::PayMethod::WechatNative,
            &bursar_engine::PayContext::default(),
        )
        .await
        .unwrap();
    wechat.confirm_payment(pay.code_url.as_deref().unwrap(), true).unwrap();
    eventually("the mismatched amount is refused and recorded", Duration::from_secs(15), || {
        let store = app.store.clone();
        async move { events(&store, "refused").await >= 1 }
    })
    .await;
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    assert_eq!(payment_state(&app.store, &pay.id).await, PaymentState::Paying, "a differing amount is never credited");

    // …until the channel reports the truth: credited once, even with doubled notifications.
    set_faults(&sim, "wechatpay", serde_json::json!({"duplicate_notifications": true})).await;
    eventually("credited once the amounts agree", Duration::from_secs(15), || {
        let (store, id) = (app.store.clone(), pay.id.clone());
        async move { payment_state(&store, &id).await == PaymentState::Succeeded }
    })
    .await;
    set_faults(&sim, "wechatpay", serde_json::json!({})).await;
    assert_verified(&app.store).await;
    app.stop().await;
});

both_stores!(paid_info_shows_every_channel_and_says_what_was_recovered, |env: TestEnv| async move {
    let app = env.start_demo().await;
    let sim = app.sim_base_url.clone().unwrap();
    let base = app.base_url.clone();
    // A payment the page never heard about: recovered by asking the channel.
    set_faults(&sim, "wechatpay", serde_json::json!({"drop_notifications": true})).await;
    let p = start_paying(&app).await;
    app.wechat_sim.as_ref().unwrap().confirm_payment(p.payment.code_url.as_deref().unwrap(), true).unwrap();
    eventually("recovered", Duration::from_secs(15), || {
        let (store, id) = (app.store.clone(), p.payment.id.clone());
        async move { payment_state(&store, &id).await == PaymentState::Succeeded }
    })
    .await;
    // And a cash payment imported from the cash desk.
    let (student, _) = bursar::demo::first_student_login();
    let finance = operator(&app.engine, bursar::demo::FINANCE_USER).await;
    let csv = format!("来源参考号,学号/工号,收费项目代码,学年,金额,方式,收款时间\nCASH-P-1,{student},JCF,2026-2027,100.00,现金,2026-11-20 09:30:00\n");
    assert_eq!(app.engine.import_offline(&finance, "c.csv", csv.as_bytes()).await.unwrap().imported, 1);
    let c = login_student(&base).await;
    let page = c.get(format!("{base}/portal/paid")).send().await.unwrap().text().await.unwrap();
    assert!(page.contains("id=\"recovered\"") && page.contains("有 1 笔支付"), "says what was recovered");
    for want in ["学费", "其他费用", "住宿费", "教材费", "微信支付", "现金", "1,200.00", "100.00"] {
        assert!(page.contains(want), "paid info shows {want}");
    }
    app.stop().await;
});
