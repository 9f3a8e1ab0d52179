//! Refunds with approval, over HTTP as departments and finance use them, and through the channel
//! simulator to a final state: reopened receivables, red-letter receipts, failed refunds retried
//! or paid by transfer, and every refusal (too much, not your fee, not your role, twice).

use std::time::Duration;

use bursar_domain::fee::ReceivableState;
use bursar_domain::payment::{ChannelKind, PaymentState};
use bursar_domain::receipt::ReceiptState;
use bursar_domain::refund::{RefundKind, RefundState};
use bursar_domain::Fen;
use bursar_store::{payments as pay_store, receipts, receivables, refunds as refund_store};

use crate::both_stores;
use crate::notifications::start_paying;
use crate::support::*;

async fn paid(app: &bursar::app::Running) -> crate::notifications::Paying {
    let p = start_paying(app).await;
    app.wechat_sim.as_ref().unwrap().confirm_payment(p.payment.code_url.as_deref().unwrap(), true).unwrap();
    let id = p.payment.id.clone();
    eventually("payment credited", Duration::from_secs(15), || {
        let store = app.store.clone();
        let id = id.clone();
        async move { payment_state(&store, &id).await == PaymentState::Succeeded }
    })
    .await;
    p
}

async fn refund_state(app: &bursar::app::Running, payment_id: &str) -> Vec<RefundState> {
    let mut c = app.store.read().await.unwrap();
    refund_store::of_payment(&mut c, payment_id).await.unwrap().into_iter().map(|r| r.state).collect()
}

async fn wait_refund(app: &bursar::app::Running, payment_id: &str, state: RefundState) {
    eventually(state.as_str(), Duration::from_secs(25), || {
        let id = payment_id.to_string();
        async move { refund_state(app, &id).await.last() == Some(&state) }
    })
    .await;
}

both_stores!(a_department_requests_finance_approves_the_channel_refunds, |env: TestEnv| async move {
    let app = env.start_demo().await;
    let base = app.base_url.clone();
    app.wechat_sim.as_ref().unwrap().set_refund_delay_ms(50);
    let p = paid(&app).await;
    let no = p.payment.merchant_order_no.clone();
    let (houqin, _, _) = bursar::demo::DEPARTMENT_USERS[0];
    let (jiaowu, _, _) = bursar::demo::DEPARTMENT_USERS[1];

    // The dorm office (后勤管理处) owns the dorm fee.
    let dept = login_operator(&base, houqin, bursar::demo::DEPARTMENT_PASSWORD).await;
    let page = dept.get(format!("{base}/admin/refunds/new?no={no}")).send().await.unwrap().text().await.unwrap();
    assert!(page.contains("1,200.00"), "finds the payment");
    let csrf = csrf_of(&page);
    let ask = |amount: &'static str, kind: &'static str, client: reqwest::Client, csrf: String| {
        let base = base.clone();
        let no = no.clone();
        let pid = p.payment.id.clone();
        async move {
            let r = client
                .post(format!("{base}/admin/refunds"))
                .form(&[
                    ("csrf", csrf.as_str()),
                    ("no", no.as_str()),
                    ("payment_id", pid.as_str()),
                    ("amount", amount),
                    ("kind", kind),
                    ("reason", "重复缴费"),
                ])
                .send()
                .await
                .unwrap();
            (r.status().as_u16(), r.text().await.unwrap())
        }
    };
    let (s, body) = ask("1500", "paid_in_error", dept.clone(), csrf.clone()).await;
    assert_eq!(s, 422);
    assert!(body.contains("超过可退金额"), "more than was paid is refused");
    let (s, body) = ask("1200", "overpayment", dept.clone(), csrf.clone()).await;
    assert_eq!(s, 422);
    assert!(body.contains("财务处"), "overpayments are finance's");
    let (s, _) = ask("1200", "paid_in_error", dept.clone(), csrf.clone()).await;
    assert_eq!(s, 303, "requested");
    assert_eq!(refund_state(&app, &p.payment.id).await, vec![RefundState::Requested]);

    // Another department may not refund the dorm office's fee, nor can a department approve.
    let other = login_operator(&base, jiaowu, bursar::demo::DEPARTMENT_PASSWORD).await;
    let other_csrf =
        csrf_of(&other.get(format!("{base}/admin/refunds/new")).send().await.unwrap().text().await.unwrap());
    let (s, _) = ask("100", "paid_in_error", other.clone(), other_csrf).await;
    assert_eq!(s, 404);
    let refund_id = {
        let mut c = app.store.read().await.unwrap();
        refund_store::of_payment(&mut c, &p.payment.id).await.unwrap()[0].id.clone()
    };
    let r = dept
        .post(format!("{base}/admin/refunds/{refund_id}/decide"))
        .form(&[("csrf", csrf.as_str()), ("decision", "approve")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403, "a department cannot approve");
    // Nor can the payer reach any of it.
    let payer = login_student(&base).await;
    assert_eq!(location(&payer.get(format!("{base}/admin/refunds")).send().await.unwrap()), "/admin/login");

    // Finance approves once; the second approval is refused.
    let fin = login_operator(&base, bursar::demo::FINANCE_USER, bursar::demo::FINANCE_PASSWORD).await;
    let list = fin.get(format!("{base}/admin/refunds")).send().await.unwrap().text().await.unwrap();
    assert!(list.contains("重复缴费") && list.contains("待审批"));
    let fcsrf = csrf_of(&list);
    let r = fin
        .post(format!("{base}/admin/refunds/{refund_id}/decide"))
        .form(&[("csrf", fcsrf.as_str()), ("decision", "approve")])
        .send()
        .await
        .unwrap();
    assert_eq!(location(&r), "/admin/refunds");
    let r = fin
        .post(format!("{base}/admin/refunds/{refund_id}/decide"))
        .form(&[("csrf", fcsrf.as_str()), ("decision", "approve")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 422, "approving twice is refused");
    assert!(r.text().await.unwrap().contains("不能重复审批"), "and says why");

    // The channel pays it out; the receivable reopens; the receipt is red-lettered.
    wait_refund(&app, &p.payment.id, RefundState::Succeeded).await;
    let mut c = app.store.read().await.unwrap();
    let dorm = receivables::receivable(&mut c, &p.receivable_id).await.unwrap();
    assert_eq!((dorm.paid_fen, dorm.state), (Fen::ZERO, ReceivableState::Open));
    assert_eq!(receipts::for_payment(&mut c, &p.payment.id).await.unwrap().unwrap().state, ReceiptState::Refunded);
    drop(c);
    let list = fin.get(format!("{base}/admin/refunds")).send().await.unwrap().text().await.unwrap();
    assert!(list.contains("退款成功"));
    // The payer sees the refund in the transaction records.
    let records = payer.get(format!("{base}/portal/records")).send().await.unwrap().text().await.unwrap();
    assert!(records.contains("退款 ¥1,200.00（退款成功）"), "the payer sees the refund");
    // The payer's voucher is red-lettered, and so is the public verification.
    let voucher = payer
        .get(format!("{base}/portal/payments/{}/voucher", p.payment.id))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(voucher.contains("class=\"stamp\"") && voucher.contains("已退款（红冲）"), "red-letter voucher");
    let verify_url = between(&voucher, "验证本凭证真伪：<br><a href=\"", "\"").unwrap().to_string();
    let public = client().get(&verify_url).send().await.unwrap().text().await.unwrap();
    assert!(public.contains("已退款（红冲）") && !public.contains("真实有效"));
    assert_verified(&app.store).await;
    app.stop().await;
});

both_stores!(failed_refunds_are_retried_or_paid_by_transfer, |env: TestEnv| async move {
    let app = env.start_demo().await;
    let sim = app.wechat_sim.clone().unwrap();
    sim.set_refund_delay_ms(50);
    let p = paid(&app).await;
    let finance = operator(&app.engine, bursar::demo::CLERK_USER).await;
    let approver = operator(&app.engine, bursar::demo::APPROVER_USER).await;

    // A rejected refund changes nothing; a rejection needs its reason.
    let rejected = app
        .engine
        .request_refund(&finance, &p.payment.id, Fen(10_000), RefundKind::FeeCancelled, "退宿")
        .await
        .unwrap();
    assert!(app.engine.decide_refund(&approver, &rejected, false, " ").await.is_err(), "a rejection says why");
    app.engine.decide_refund(&approver, &rejected, false, "未办理退宿手续").await.unwrap();
    assert!(app.engine.decide_refund(&approver, &rejected, true, "").await.is_err(), "a rejection is final");

    // The channel fails the refund: the money stays in transit until finance acts.
    sim.set_refunds_fail(true);
    let first = app
        .engine
        .request_refund(&finance, &p.payment.id, Fen(50_000), RefundKind::FeeCancelled, "退宿")
        .await
        .unwrap();
    app.engine.decide_refund(&approver, &first, true, "").await.unwrap();
    wait_refund(&app, &p.payment.id, RefundState::Failed).await;
    assert_verified(&app.store).await;
    sim.set_refunds_fail(false);
    app.engine.retry_refund(&finance, &first).await.unwrap();
    wait_refund(&app, &p.payment.id, RefundState::Succeeded).await;

    // Another one fails and is paid by bank transfer instead.
    sim.set_refunds_fail(true);
    let second = app
        .engine
        .request_refund(&finance, &p.payment.id, Fen(20_000), RefundKind::FeeCancelled, "退宿")
        .await
        .unwrap();
    app.engine.decide_refund(&approver, &second, true, "").await.unwrap();
    wait_refund(&app, &p.payment.id, RefundState::Failed).await;
    assert!(app.engine.manual_refund(&finance, &second, "").await.is_err(), "a transfer needs its bank reference");
    app.engine.manual_refund(&finance, &second, "ABC20261122001").await.unwrap();
    assert!(app.engine.retry_refund(&finance, &second).await.is_err(), "a transferred refund is final");

    // Nothing more than what is left can be refunded: 1,200 − 500 − 200 = 500.
    let too_much =
        app.engine.request_refund(&finance, &p.payment.id, Fen(50_001), RefundKind::FeeCancelled, "退宿").await;
    assert!(too_much.is_err());
    let mut c = app.store.read().await.unwrap();
    let dorm = receivables::receivable(&mut c, &p.receivable_id).await.unwrap();
    assert_eq!(
        (dorm.due_fen, dorm.paid_fen),
        (Fen(120_000 - 70_000), Fen(120_000 - 70_000)),
        "the cancelled part left both due and paid"
    );
    assert_eq!(
        receipts::for_payment(&mut c, &p.payment.id).await.unwrap().unwrap().state,
        ReceiptState::PartiallyRefunded
    );
    let states: Vec<RefundState> =
        refund_store::of_payment(&mut c, &p.payment.id).await.unwrap().into_iter().map(|r| r.state).collect();
    assert_eq!(states, vec![RefundState::Rejected, RefundState::Succeeded, RefundState::Manual]);
    drop(c);
    assert_verified(&app.store).await;
    app.stop().await;
});

/// Pays the dorm fee twice (two tabs) and returns the second payment, whose money went to the
/// payer's credit.
pub(crate) async fn paid_twice(
    app: &bursar::app::Running,
) -> (crate::notifications::Paying, crate::notifications::Paying) {
    let a = start_paying(app).await;
    let b = start_paying(app).await;
    let sim = app.wechat_sim.as_ref().unwrap();
    sim.confirm_payment(a.payment.code_url.as_deref().unwrap(), true).unwrap();
    sim.confirm_payment(b.payment.code_url.as_deref().unwrap(), true).unwrap();
    for id in [a.payment.id.clone(), b.payment.id.clone()] {
        eventually("both credited", Duration::from_secs(15), || {
            let store = app.store.clone();
            let id = id.clone();
            async move { payment_state(&store, &id).await == PaymentState::Succeeded }
        })
        .await;
    }
    (a, b)
}

/// Of two payments of the same bill, the one whose money found nothing owed (all of it went to
/// the payer's credit).
pub(crate) async fn the_overpaid_one(
    app: &bursar::app::Running,
    a: &crate::notifications::Paying,
    b: &crate::notifications::Paying,
) -> String {
    let mut c = app.store.read().await.unwrap();
    let mut over = Vec::new();
    for p in [&a.payment.id, &b.payment.id] {
        let allocations = refund_store::payment_allocations(&mut c, p).await.unwrap();
        if allocations.iter().all(|x| x.target == bursar_domain::refund::RefundTarget::PayerCredit) {
            over.push(p.clone());
        }
    }
    assert_eq!(over.len(), 1, "one of the two payments went to the payer's credit");
    over.remove(0)
}

async fn payer_credit(app: &bursar::app::Running, payer_id: &str) -> i64 {
    let mut c = app.store.read().await.unwrap();
    -bursar_store::ledger::balance(&mut c, &bursar_domain::ledger::AccountRef::payer_credit(payer_id))
        .await
        .unwrap()
        .get()
}

both_stores!(finance_refunds_an_overpayment_from_its_queue, |env: TestEnv| async move {
    let app = env.start_demo().await;
    let base = app.base_url.clone();
    app.wechat_sim.as_ref().unwrap().set_refund_delay_ms(50);
    let (a, _) = paid_twice(&app).await;
    assert_eq!(payer_credit(&app, &a.payer_id).await, 120_000);

    let fin = login_operator(&base, bursar::demo::FINANCE_USER, bursar::demo::FINANCE_PASSWORD).await;
    let queue = fin.get(format!("{base}/admin/overpayments")).send().await.unwrap().text().await.unwrap();
    assert!(queue.contains("申请退还") && queue.contains("1,200.00"), "the duplicate payment waits in the queue");
    let payment_id = between(&queue, "name=\"payment_id\" value=\"", "\"").unwrap().to_string();
    let r = fin
        .post(format!("{base}/admin/overpayments"))
        .form(&[("csrf", csrf_of(&queue).as_str()), ("payment_id", payment_id.as_str()), ("amount", "1200.00")])
        .send()
        .await
        .unwrap();
    assert_eq!(location(&r), "/admin/refunds");
    // Four eyes: the one who asked cannot approve; another finance officer does.
    let list = fin.get(format!("{base}/admin/refunds")).send().await.unwrap().text().await.unwrap();
    assert!(!list.contains("/decide\""), "no approve button on one's own request");
    let approver = login_operator(&base, bursar::demo::APPROVER_USER, bursar::demo::FINANCE_PASSWORD).await;
    let list = approver.get(format!("{base}/admin/refunds")).send().await.unwrap().text().await.unwrap();
    let refund_id = between(&list, "action=\"/admin/refunds/", "/decide\"").unwrap().to_string();
    let r = fin
        .post(format!("{base}/admin/refunds/{refund_id}/decide"))
        .form(&[("csrf", csrf_of(&queue).as_str()), ("decision", "approve")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 422, "approving one's own request is refused");
    assert!(r.text().await.unwrap().contains("不能审批自己提交的申请"), "and says why");
    let r = approver
        .post(format!("{base}/admin/refunds/{refund_id}/decide"))
        .form(&[("csrf", csrf_of(&list).as_str()), ("decision", "approve")])
        .send()
        .await
        .unwrap();
    assert_eq!(location(&r), "/admin/refunds");
    wait_refund(&app, &payment_id, RefundState::Succeeded).await;
    assert_eq!(payer_credit(&app, &a.payer_id).await, 0, "the credit went back to the payer");
    let queue = fin.get(format!("{base}/admin/overpayments")).send().await.unwrap().text().await.unwrap();
    assert!(queue.contains("已处理"));
    assert_verified(&app.store).await;
    app.stop().await;
});

both_stores!(overpayments_can_be_refunded_automatically, |env: TestEnv| async move {
    let app = env.start_demo_with(|cfg| cfg.auto_refund_overpayments = true).await;
    app.wechat_sim.as_ref().unwrap().set_refund_delay_ms(50);
    let (a, b) = paid_twice(&app).await;
    // Whichever payment landed second carries the overpayment; it is refunded with no one asking
    // (in its own transaction, just after the credit).
    eventually("an automatic refund", Duration::from_secs(10), || async {
        let mut refunds = Vec::new();
        for p in [&a, &b] {
            refunds.extend(refund_state(&app, &p.payment.id).await);
        }
        !refunds.is_empty()
    })
    .await;
    eventually("automatic refund paid out", Duration::from_secs(25), || async {
        let mut states = Vec::new();
        for p in [&a, &b] {
            states.extend(refund_state(&app, &p.payment.id).await);
        }
        states == vec![RefundState::Succeeded] // exactly one refund, paid out
    })
    .await;
    assert_eq!(payer_credit(&app, &a.payer_id).await, 0);
    let auto = scalar(
        &app.store,
        "SELECT COUNT(*) FROM operation_log WHERE entity = 'refund' AND actor_kind = 'system' AND actor_id = $1",
        &["auto_refund"],
    )
    .await;
    assert!(auto >= 1, "the automatic refund is logged as the system's");
    assert_verified(&app.store).await;
    app.stop().await;
});

both_stores!(card_refunds_return_to_the_wallet_and_offline_ones_go_by_transfer, |env: TestEnv| async move {
    let app = env.start_demo().await;
    let finance = operator(&app.engine, bursar::demo::CLERK_USER).await;
    let approver = operator(&app.engine, bursar::demo::APPROVER_USER).await;
    let (student, _) = bursar::demo::first_student_login();
    let (payer, by) = first_student(&app.store).await;
    let card = app.engine.card_of(&payer.id).await.unwrap().unwrap();
    let textbook = {
        let mut c = app.store.read().await.unwrap();
        bursar_store::receivables::for_payer(&mut c, &payer.id)
            .await
            .unwrap()
            .into_iter()
            .find(|r| r.item_code == "JCF")
            .unwrap()
    };
    // Pay the textbooks by card, then refund part of it: straight back into the wallet.
    let order = app.engine.create_order(&by, &[(textbook.id.clone(), textbook.outstanding())]).await.unwrap();
    let pay = app.engine.pay_with_card(&by, &order, |_| true).await.unwrap();
    let after_pay = app.engine.card_balance(&card.card_no).await.unwrap().get();
    let r =
        app.engine.request_refund(&finance, &pay.id, Fen(5_000), RefundKind::FeeCancelled, "教材退订").await.unwrap();
    app.engine.decide_refund(&approver, &r, true, "").await.unwrap();
    wait_refund(&app, &pay.id, RefundState::Succeeded).await;
    assert_eq!(app.engine.card_balance(&card.card_no).await.unwrap().get(), after_pay + 5_000);

    // An imported cash payment: the channel cannot pay it back, so it fails to finance's transfer path.
    let csv = format!(
        "来源参考号,学号/工号,收费项目代码,学年,金额,方式,收款时间\nCASH-R-1,{student},ZSF,2026-2027,1200.00,现金,2026-11-20 09:30:00\n"
    );
    let report = app.engine.import_offline(&finance, "cash.csv", csv.as_bytes()).await.unwrap();
    assert_eq!(report.imported, 1, "{report:?}");
    let cash = {
        let mut c = app.store.read().await.unwrap();
        pay_store::payment_by_channel_txn(&mut c, ChannelKind::Offline, "CASH-R-1").await.unwrap().unwrap()
    };
    let r = app.engine.request_refund(&finance, &cash.id, Fen(20_000), RefundKind::FeeCancelled, "退宿").await.unwrap();
    app.engine.decide_refund(&approver, &r, true, "").await.unwrap();
    wait_refund(&app, &cash.id, RefundState::Failed).await;
    app.engine.manual_refund(&finance, &r, "BANK-TR-0001").await.unwrap();
    wait_refund(&app, &cash.id, RefundState::Manual).await;
    assert_verified(&app.store).await;
    app.stop().await;
});

both_stores!(a_department_finds_its_payments_and_asks_a_refund_from_one, |env: TestEnv| async move {
    let app = env.start_demo().await;
    let base = app.base_url.clone();
    let p = paid(&app).await;
    let no = p.payment.merchant_order_no.clone();
    let (student, _) = first_student(&app.store).await;
    let (houqin, _, _) = bursar::demo::DEPARTMENT_USERS[0];
    let (jiaowu, _, _) = bursar::demo::DEPARTMENT_USERS[1];
    let dept = login_operator(&base, houqin, bursar::demo::DEPARTMENT_PASSWORD).await;
    let get = |c: reqwest::Client, path: String| {
        let base = base.clone();
        async move { c.get(format!("{base}{path}")).send().await.unwrap().text().await.unwrap() }
    };
    // By the payer's number or name: the dorm payment, with the way to ask for its refund.
    for who in [student.identifier.clone(), student.name.clone()] {
        let page = get(dept.clone(), format!("/admin/payments?payer={who}")).await;
        assert!(page.contains(&no), "found by {who}");
        assert!(page.contains(&format!("/admin/refunds/new?no={no}")), "a refund is asked from the payment");
    }
    let ask = get(dept.clone(), format!("/admin/refunds/new?no={no}")).await;
    assert!(ask.contains("1,200.00"), "the payment, ready to ask");
    // Another item, or a day before: not there. Another department never sees it.
    let items = get(dept.clone(), "/admin/payments".into()).await;
    assert!(items.contains("住宿费"), "the item filter offers the department's items");
    let page = get(dept.clone(), "/admin/payments?from=2020-01-01&to=2020-01-31".into()).await;
    assert!(!page.contains(&no));
    let page = get(dept.clone(), "/admin/payments?from=2020-13-01".into()).await;
    assert!(page.contains("开始日期不是日期"));
    let other = login_operator(&base, jiaowu, bursar::demo::DEPARTMENT_PASSWORD).await;
    let page = get(other.clone(), format!("/admin/payments?payer={}", student.identifier)).await;
    assert!(!page.contains(&no), "not the dorm office's payments");
    let page = get(other, format!("/admin/refunds/new?no={no}")).await;
    assert!(page.contains("不属于本部门"), "a payment outside its departments says so");
});
