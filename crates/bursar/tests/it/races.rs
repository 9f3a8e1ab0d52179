//! Every check-then-act on money, fired in parallel on both stores: refund requests against
//! what is left to refund, their approvals, overpayment refunds against the payer's credit,
//! campus-card payments against the wallet, and payments of one order against its one live
//! slot. Exactly the allowed number wins, the rest are refused with a reason (never a 500),
//! and `verify` is clean afterwards. (Project seats race in projects.rs.)

use std::time::Duration;

use bursar_domain::ledger::AccountRef;
use bursar_domain::payment::{PayMethod, PaymentState};
use bursar_domain::refund::{RefundKind, RefundState};
use bursar_domain::Fen;
use bursar_engine::{EngineError, PayContext};
use bursar_store::{receivables, refunds as refund_store};

use crate::both_stores;
use crate::support::*;

const PARALLEL: usize = 8;

/// Runs `PARALLEL` copies of `f` at once; returns their results.
async fn race<T, F, Fut>(f: F) -> Vec<Result<T, EngineError>>
where
    T: Send + 'static,
    F: Fn(usize) -> Fut,
    Fut: std::future::Future<Output = Result<T, EngineError>> + Send + 'static,
{
    let handles: Vec<_> = (0..PARALLEL).map(|i| tokio::spawn(f(i))).collect();
    let mut out = Vec::new();
    for h in handles {
        out.push(h.await.expect("task"));
    }
    out
}

/// Every refusal must be a rule the person can read, not a database error.
fn assert_refusals_are_rules<T: std::fmt::Debug>(results: &[Result<T, EngineError>]) {
    for r in results.iter().filter_map(|r| r.as_ref().err()) {
        assert!(
            matches!(r, EngineError::Rule(_) | EngineError::OrderNotOpen(_) | EngineError::InsufficientBalance { .. }),
            "a refusal with a reason, not {r:?}"
        );
    }
}

/// The first student's card balance brought to at least `at_least` (loaded by the school).
async fn card_with(app: &bursar::app::Running, payer_id: &str, at_least: Fen) -> String {
    let card = app.engine.card_of(payer_id).await.unwrap().expect("the first student has a card");
    let balance = app.engine.card_balance(&card.card_no).await.unwrap();
    if balance < at_least {
        let clerk = operator(&app.engine, bursar::demo::CLERK_USER).await;
        let top_up = Fen(at_least.get() - balance.get());
        let from = AccountRef::new(bursar_domain::ledger::AccountKind::Bank, "school");
        app.engine.load_card(&clerk, &card.card_no, top_up, from, "race-top-up").await.unwrap();
    }
    card.card_no
}

both_stores!(parallel_refund_requests_and_approvals_refund_once, |env: TestEnv| async move {
    let app = env.start_demo().await;
    let (payer, by) = first_student(&app.store).await;
    let textbook = {
        let mut c = app.store.read().await.unwrap();
        receivables::for_payer(&mut c, &payer.id).await.unwrap().into_iter().find(|r| r.item_code == "JCF").unwrap()
    };
    card_with(&app, &payer.id, textbook.outstanding()).await;
    let order = app.engine.create_order(&by, &[(textbook.id.clone(), textbook.outstanding())]).await.unwrap();
    let paid = app.engine.pay_with_card(&by, &order, |_| true).await.unwrap();
    assert_eq!(paid.state, PaymentState::Succeeded);

    // Eight clerks' clicks asking for the whole amount back at once: one request.
    let clerk = operator(&app.engine, bursar::demo::CLERK_USER).await;
    let results = race(|_| {
        let (engine, clerk, id) = (app.engine.clone(), clerk.clone(), paid.id.clone());
        async move { engine.request_refund(&clerk, &id, paid.amount_fen, RefundKind::FeeCancelled, "退订").await }
    })
    .await;
    assert_refusals_are_rules(&results);
    let requested: Vec<String> = results.into_iter().filter_map(Result::ok).collect();
    assert_eq!(requested.len(), 1, "one refund of the whole amount");
    assert_verified(&app.store).await;

    // Eight approvals of it at once: approved once.
    let approver = operator(&app.engine, bursar::demo::APPROVER_USER).await;
    let results = race(|_| {
        let (engine, approver, id) = (app.engine.clone(), approver.clone(), requested[0].clone());
        async move { engine.decide_refund(&approver, &id, true, "同意").await }
    })
    .await;
    assert_refusals_are_rules(&results);
    assert_eq!(results.iter().filter(|r| r.is_ok()).count(), 1, "approved once");
    eventually("the refund is paid back to the card", Duration::from_secs(20), || {
        let (store, id) = (app.store.clone(), paid.id.clone());
        async move {
            let mut c = store.read().await.unwrap();
            refund_store::of_payment(&mut c, &id).await.unwrap().iter().map(|r| r.state).collect::<Vec<_>>()
                == vec![RefundState::Succeeded]
        }
    })
    .await;
    assert_verified(&app.store).await;
    app.stop().await;
});

both_stores!(parallel_overpayment_refunds_draw_on_the_credit_once, |env: TestEnv| async move {
    let app = env.start_demo().await;
    // The dorm fee paid twice: the later payment's money is the payer's credit.
    let (a, b) = crate::refunds::paid_twice(&app).await;
    let over = crate::refunds::the_overpaid_one(&app, &a, &b).await;
    let clerk = operator(&app.engine, bursar::demo::CLERK_USER).await;
    let results = race(|_| {
        let (engine, clerk, id) = (app.engine.clone(), clerk.clone(), over.clone());
        async move { engine.request_refund(&clerk, &id, Fen(120_000), RefundKind::Overpayment, "重复缴费").await }
    })
    .await;
    assert_refusals_are_rules(&results);
    assert_eq!(results.iter().filter(|r| r.is_ok()).count(), 1, "the credit is refunded once");
    assert_verified(&app.store).await;
    app.stop().await;
});

both_stores!(parallel_card_payments_never_overdraw_the_wallet, |env: TestEnv| async move {
    let app = env.start_demo().await;
    let (payer, by) = first_student(&app.store).await;
    let dorm = {
        let mut c = app.store.read().await.unwrap();
        receivables::for_payer(&mut c, &payer.id).await.unwrap().into_iter().find(|r| r.item_code == "ZSF").unwrap()
    };
    // Enough for the dorm fee once, not twice.
    let card_no = card_with(&app, &payer.id, dorm.outstanding()).await;
    let balance = app.engine.card_balance(&card_no).await.unwrap();
    assert!(balance.get() < 2 * dorm.outstanding().get(), "the test needs a balance short of two payments");
    // Eight tabs, each with its own order for the dorm fee, all paid by card at once.
    let mut orders = Vec::new();
    for _ in 0..PARALLEL {
        orders.push(app.engine.create_order(&by, &[(dorm.id.clone(), dorm.outstanding())]).await.unwrap());
    }
    let results = race(|i| {
        let (engine, by, order) = (app.engine.clone(), by.clone(), orders[i].clone());
        async move { engine.pay_with_card(&by, &order, |_| true).await }
    })
    .await;
    assert_refusals_are_rules(&results);
    assert_eq!(results.iter().filter(|r| r.is_ok()).count(), 1, "paid once");
    let after = app.engine.card_balance(&card_no).await.unwrap();
    assert_eq!(after, Fen(balance.get() - dorm.outstanding().get()), "the wallet paid exactly once");
    assert!(after.get() >= 0);
    assert_verified(&app.store).await;
    app.stop().await;
});

both_stores!(parallel_payments_of_one_order_take_its_one_live_slot, |env: TestEnv| async move {
    let app = env.start_demo().await;
    let (payer, by) = first_student(&app.store).await;
    let dorm = {
        let mut c = app.store.read().await.unwrap();
        receivables::for_payer(&mut c, &payer.id).await.unwrap().into_iter().find(|r| r.item_code == "ZSF").unwrap()
    };
    let order = app.engine.create_order(&by, &[(dorm.id.clone(), dorm.outstanding())]).await.unwrap();
    // WeChat and Alipay started at once from several tabs: whatever wins, at most one payment of
    // the order is live at any moment, and every other one was closed at its channel first.
    let results = race(|i| {
        let (engine, by, order) = (app.engine.clone(), by.clone(), order.clone());
        let method = if i % 2 == 0 { PayMethod::WechatNative } else { PayMethod::AlipayQr };
        async move { engine.start_payment(&by, &order, method, &PayContext::default()).await }
    })
    .await;
    assert_refusals_are_rules(&results);
    assert!(results.iter().any(|r| r.is_ok()), "one of them started");
    let live = scalar(
        &app.store,
        "SELECT COUNT(*) FROM payments WHERE order_id = $1 AND state IN ('created', 'paying')",
        &[order.as_str()],
    )
    .await;
    assert_eq!(live, 1, "one live payment");
    // The payer then pays the live one; the order is paid once.
    let live_payment = {
        let mut c = app.store.read().await.unwrap();
        bursar_store::payments::live_payment_of_order(&mut c, &order).await.unwrap().expect("live")
    };
    match live_payment.method {
        PayMethod::WechatNative => {
            app.wechat_sim.as_ref().unwrap().confirm_payment(live_payment.code_url.as_deref().unwrap(), true).unwrap();
        }
        _ => app
            .alipay_sim
            .as_ref()
            .unwrap()
            .confirm(&live_payment.merchant_id, &live_payment.merchant_order_no, true)
            .map(|_| ())
            .unwrap(),
    }
    eventually("the live payment is credited", Duration::from_secs(15), || {
        let (store, id) = (app.store.clone(), live_payment.id.clone());
        async move { payment_state(&store, &id).await == PaymentState::Succeeded }
    })
    .await;
    let succeeded = scalar(
        &app.store,
        "SELECT COUNT(*) FROM payments WHERE order_id = $1 AND state = 'succeeded'",
        &[order.as_str()],
    )
    .await;
    assert_eq!(succeeded, 1);
    // Every other payment of the order was closed, WeChat's at WeChat too.
    let mut c = app.store.read().await.unwrap();
    for p in bursar_store::payments::payments_of_order(&mut c, &order).await.unwrap() {
        if p.id == live_payment.id {
            continue;
        }
        assert_eq!(p.state, PaymentState::Closed, "{p:?}");
        if p.method == PayMethod::WechatNative {
            let at_channel = app.wechat_sim.as_ref().unwrap().trade_state(&p.merchant_id, &p.merchant_order_no);
            assert_eq!(at_channel.as_deref(), Some("CLOSED"), "closed at WeChat Pay as well");
        }
    }
    drop(c);
    assert_verified(&app.store).await;
    app.stop().await;
});
