//! Notifications and active queries: forged, mismatched, unknown and duplicate notifications
//! are refused or acknowledged without effect; a payment whose notification is lost is recovered
//! by asking the channel; the same bill paid twice is never lost nor double-counted.

use std::time::Duration;

use bursar_channels::wechatpay::protocol::{Payer, Transaction, TransactionAmount};
use bursar_domain::access::Principal;
use bursar_domain::fee::ReceivableState;
use bursar_domain::ledger::AccountRef;
use bursar_domain::payment::{EventOutcome, PayMethod, PaymentState};
use bursar_domain::Fen;
use bursar_store::payments as pay_store;
use bursar_store::receivables;

use crate::both_stores;
use crate::support::*;

pub(crate) struct Paying {
    pub payer_id: String,
    pub payment: pay_store::PaymentRow,
    pub receivable_id: String,
}

/// The first demo student starts paying the whole dorm fee by WeChat.
pub(crate) async fn start_paying(app: &bursar::app::Running) -> Paying {
    let (payer, by) = first_student(&app.store).await;
    let mut c = app.store.read().await.unwrap();
    let dorm =
        receivables::for_payer(&mut c, &payer.id).await.unwrap().into_iter().find(|r| r.item_code == "ZSF").unwrap();
    drop(c);
    let order = app.engine.create_order(&by, &[(dorm.id.clone(), dorm.outstanding())]).await.unwrap();
    let payment = app
        .engine
        .start_payment(&by, &order, PayMethod::WechatNative, &bursar_engine::PayContext::default())
        .await
        .unwrap();
    assert_eq!(payment.state, PaymentState::Paying);
    Paying { payer_id: payer.id, payment, receivable_id: dorm.id }
}

fn paid_txn(env: &TestEnv, out_trade_no: &str, amount: i64) -> Transaction {
    let text = std::fs::read_to_string(env.dir.join("sandbox/wechatpay/config.json")).unwrap();
    let cfg: serde_json::Value = serde_json::from_str(&text).unwrap();
    Transaction {
        appid: cfg["appid"].as_str().unwrap().into(),
        mchid: cfg["mchid"].as_str().unwrap().into(),
        out_trade_no: out_trade_no.into(),
        transaction_id: Some("4200000000202611220000000001".into()),
        trade_type: Some("NATIVE".into()),
        trade_state: "SUCCESS".into(),
        trade_state_desc: "支付成功".into(),
        bank_type: Some("OTHERS".into()),
        attach: None,
        success_time: Some("2026-11-22T10:00:00+08:00".into()),
        payer: Some(Payer { openid: "o1".into() }),
        amount: Some(TransactionAmount {
            total: Some(amount),
            payer_total: Some(amount),
            currency: Some("CNY".into()),
            payer_currency: Some("CNY".into()),
        }),
        promotion_detail: vec![],
    }
}

async fn post_notification(app: &bursar::app::Running, body: Vec<u8>, headers: reqwest::header::HeaderMap) -> u16 {
    client()
        .post(format!("{}/notify/wechatpay", app.base_url))
        .headers(headers)
        .body(body)
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

async fn state_of(app: &bursar::app::Running, payment_id: &str) -> PaymentState {
    payment_state(&app.store, payment_id).await
}

async fn last_event(app: &bursar::app::Running) -> pay_store::ChannelEventRow {
    let mut c = app.store.read().await.unwrap();
    pay_store::channel_events(&mut c, 1).await.unwrap().remove(0)
}

both_stores!(bad_notifications_are_refused_logged_and_change_nothing, |env: TestEnv| async move {
    let app = env.start_demo().await;
    let sim = app.wechat_sim.clone().unwrap();
    let p = start_paying(&app).await;
    let no = p.payment.merchant_order_no.clone();
    let amount = p.payment.amount_fen.get();

    // A body altered after signing.
    let (mut body, headers) = sim.notification_for(&paid_txn(&env, &no, amount)).unwrap();
    let n = body.len();
    body[n - 3] ^= 1;
    assert_eq!(post_notification(&app, body, headers).await, 401);
    // Not from the channel: counted (bounded), never put in the channel's event trail.
    let refused = |class: &'static str| {
        let store = app.store.clone();
        async move {
            scalar(&store, "SELECT CAST(COALESCE(SUM(occurrences), 0) AS BIGINT) FROM refused_inputs WHERE source = 'notify:wechatpay' AND class = $1", &[class]).await
        }
    };
    assert_eq!(refused("signature").await, 1);
    assert_eq!(scalar(&app.store, "SELECT COUNT(*) FROM channel_events WHERE outcome = 'refused'", &[]).await, 0);

    // Unsigned.
    let (body, _) = sim.notification_for(&paid_txn(&env, &no, amount)).unwrap();
    assert_eq!(post_notification(&app, body, Default::default()).await, 401);

    // Correctly signed by the channel, but for a different amount than the payment.
    let (body, headers) = sim.notification_for(&paid_txn(&env, &no, amount + 1)).unwrap();
    assert_eq!(post_notification(&app, body, headers).await, 400);
    let e = last_event(&app).await;
    assert!(e.outcome == EventOutcome::Refused && e.reason.contains("金额") && e.reason.contains("不符"), "{e:?}");
    // Finance sees it as an exception to look into.
    let open = |kind: &'static str| {
        let store = app.store.clone();
        async move { scalar(&store, "SELECT COUNT(*) FROM exceptions WHERE state = 'open' AND kind = $1", &[kind]).await }
    };
    assert_eq!(open("amount_mismatch").await, 1);

    // For an order Bursar never made.
    let (body, headers) = sim.notification_for(&paid_txn(&env, "00000000000000000000000000000000", amount)).unwrap();
    assert_eq!(post_notification(&app, body, headers).await, 400);
    assert!(last_event(&app).await.reason.contains("不存在"));
    assert_eq!(open("unknown_payment").await, 1);
    // The channel retries: counted on the same exception.
    let (body, headers) = sim.notification_for(&paid_txn(&env, "00000000000000000000000000000000", amount)).unwrap();
    assert_eq!(post_notification(&app, body, headers).await, 400);
    assert_eq!(open("unknown_payment").await, 1);
    assert_eq!(
        scalar(&app.store, "SELECT MAX(occurrences) FROM exceptions WHERE kind = 'unknown_payment'", &[]).await,
        2
    );

    // Addressed to another merchant.
    let mut other = paid_txn(&env, &no, amount);
    other.mchid = "1900000000".into();
    let (body, headers) = sim.notification_for(&other).unwrap();
    assert_eq!(post_notification(&app, body, headers).await, 401);
    assert_eq!(refused("signature").await + refused("format").await + refused("unusable").await, 3);

    // Nothing changed.
    assert_eq!(state_of(&app, &p.payment.id).await, PaymentState::Paying);
    let mut c = app.store.read().await.unwrap();
    assert_eq!(receivables::receivable(&mut c, &p.receivable_id).await.unwrap().paid_fen, Fen::ZERO);
    drop(c);

    // The genuine notification is accepted once; its duplicate is acknowledged without effect.
    let genuine = paid_txn(&env, &no, amount);
    let (body, headers) = sim.notification_for(&genuine).unwrap();
    assert_eq!(post_notification(&app, body, headers).await, 200);
    assert_eq!(state_of(&app, &p.payment.id).await, PaymentState::Succeeded);
    let (body, headers) = sim.notification_for(&genuine).unwrap();
    assert_eq!(post_notification(&app, body, headers).await, 200);
    assert_eq!(last_event(&app).await.outcome, EventOutcome::Duplicate);
    // A different channel transaction for an already credited payment is refused.
    let mut forged_second = genuine.clone();
    forged_second.transaction_id = Some("4200000000202611229999999999".into());
    let (body, headers) = sim.notification_for(&forged_second).unwrap();
    assert_eq!(post_notification(&app, body, headers).await, 400);
    assert_eq!(open("transaction_mismatch").await, 1);

    let mut c = app.store.read().await.unwrap();
    assert_eq!(receivables::receivable(&mut c, &p.receivable_id).await.unwrap().paid_fen, Fen(amount));
    drop(c);
    assert_verified(&app.store).await;
    app.stop().await;
});

both_stores!(a_lost_notification_is_recovered_by_active_query, |env: TestEnv| async move {
    let app = env.start_demo().await;
    let sim = app.wechat_sim.clone().unwrap();
    let p = start_paying(&app).await;
    // The payer pays, but the channel's notification never arrives.
    sim.confirm_payment(p.payment.code_url.as_deref().unwrap(), false).unwrap();
    let started = std::time::Instant::now();
    eventually("the sweeper credits the dropped payment", Duration::from_secs(15), || {
        let app = &app;
        let id = p.payment.id.clone();
        async move { state_of(app, &id).await == PaymentState::Succeeded }
    })
    .await;
    eprintln!("dropped payment recovered after {} ms", started.elapsed().as_millis());
    let mut c = app.store.read().await.unwrap();
    assert_eq!(receivables::receivable(&mut c, &p.receivable_id).await.unwrap().state, ReceivableState::Settled);
    // The operation log, written in the crediting transaction, says who credited it.
    let log = bursar_store::oplog::for_entity(&mut c, "payment", &p.payment.id).await.unwrap();
    let credit = log.iter().find(|r| r.action == "payment.succeeded").expect("logged");
    assert_eq!(
        (credit.actor_kind.as_str(), credit.actor_id.as_str(), credit.before_state.as_str()),
        ("system", "active_query", "paying")
    );
    assert!(credit.detail.contains("receipt=JF"), "{}", credit.detail);
    drop(c);
    assert_verified(&app.store).await;
    app.stop().await;
});

both_stores!(the_same_bill_paid_twice_goes_to_payer_credit, |env: TestEnv| async move {
    let app = env.start_demo().await;
    let sim = app.wechat_sim.clone().unwrap();
    // Two browser tabs: two orders for the same dorm fee, both paid.
    let a = start_paying(&app).await;
    let b = start_paying(&app).await;
    assert_ne!(a.payment.merchant_order_no, b.payment.merchant_order_no);
    sim.confirm_payment(a.payment.code_url.as_deref().unwrap(), true).unwrap();
    sim.confirm_payment(b.payment.code_url.as_deref().unwrap(), true).unwrap();
    for id in [&a.payment.id, &b.payment.id] {
        eventually("both payments credited", Duration::from_secs(15), || {
            let app = &app;
            let id = id.clone();
            async move { state_of(app, &id).await == PaymentState::Succeeded }
        })
        .await;
    }
    let mut c = app.store.read().await.unwrap();
    let dorm = receivables::receivable(&mut c, &a.receivable_id).await.unwrap();
    assert_eq!(dorm.paid_fen, dorm.due_fen, "paid once");
    let credit = bursar_store::ledger::balance(&mut c, &AccountRef::payer_credit(&a.payer_id)).await.unwrap();
    assert_eq!(credit, Fen(-dorm.due_fen.get()), "the second payment is the payer's credit, not lost");
    drop(c);
    assert_verified(&app.store).await;
    app.stop().await;
});

both_stores!(racing_notifications_and_queries_credit_exactly_once, |env: TestEnv| async move {
    let app = env.start_demo().await;
    let p = start_paying(&app).await;
    let outcome = bursar_domain::payment::ChannelOutcome::Paid {
        channel_txn_id: "4200000000202611220000000042".into(),
        amount_fen: p.payment.amount_fen.get(),
        paid_at_ms: app.store.now_ms(),
    };
    // Sixteen deliveries of the same result at once (notification retries racing active queries).
    let mut handles = Vec::new();
    for _ in 0..16 {
        let engine = app.engine.clone();
        let no = p.payment.merchant_order_no.clone();
        let outcome = outcome.clone();
        handles.push(tokio::spawn(async move {
            engine.apply_outcome(&Principal::Channel("wechatpay"), &no, &outcome).await
        }));
    }
    let mut credited = 0;
    let mut duplicates = 0;
    for h in handles {
        match h.await.unwrap().unwrap() {
            bursar_engine::ApplyResult::Credited { .. } => credited += 1,
            bursar_engine::ApplyResult::Duplicate => duplicates += 1,
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!((credited, duplicates), (1, 15));
    let mut c = app.store.read().await.unwrap();
    assert_eq!(receivables::receivable(&mut c, &p.receivable_id).await.unwrap().paid_fen, p.payment.amount_fen);
    drop(c);
    assert_verified(&app.store).await;
    app.stop().await;
});
