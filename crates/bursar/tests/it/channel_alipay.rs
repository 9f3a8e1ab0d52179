//! Bursar's Alipay adapter against the Alipay simulator, over HTTP: every flow (precreate, page
//! and wap cashier, payment code with and without the payer's confirmation, query, close, cancel,
//! refund, refund query, notification, bill), and every forgery refused on both sides.

use std::collections::BTreeMap;
use std::sync::Arc;

use bursar_channels::alipay::protocol::{encode_form, parse_form};
use bursar_channels::alipay::AlipayAdapter;
use bursar_channels::{Channel, ChannelError, CodeOutcome, Notice, PayAction, PayRequest, RefundRequest};
use bursar_domain::payment::{ChannelOutcome, PayMethod};
use bursar_domain::refund::RefundOutcome;
use bursar_domain::{Clock, ManualClock, SystemClock};
use bursar_simulators::{AlipaySandbox, AlipaySimulator};

struct Sim {
    url: String,
    sandbox: AlipaySandbox,
    sim: AlipaySimulator,
}

async fn start_sim() -> Sim {
    let sandbox = AlipaySandbox::generate("测试大学").unwrap();
    let sim = AlipaySimulator::new(sandbox.clone(), Arc::new(SystemClock)).unwrap();
    let url = crate::support::serve_router(sim.router()).await;
    Sim { url, sandbox, sim }
}

fn adapter(s: &Sim, app: usize) -> AlipayAdapter {
    AlipayAdapter::new(&s.sandbox.merchant_config(app, &s.url).unwrap(), Arc::new(SystemClock)).unwrap()
}

fn req(method: PayMethod, no: &str) -> PayRequest<'_> {
    PayRequest {
        method,
        merchant_order_no: no,
        description: "测试大学-住宿费",
        amount_fen: 120_000,
        expires_at_ms: SystemClock.now_ms() + 600_000,
        notify_url: "http://127.0.0.1:9/notify/alipay",
        return_url: "http://127.0.0.1:9/portal/payments/p1",
        client_ip: "10.1.2.3",
        openid: None,
    }
}

fn app_id(s: &Sim, app: usize) -> String {
    s.sandbox.apps[app].app_id.clone()
}

#[tokio::test]
async fn qr_query_close_refund_and_bill() {
    let s = start_sim().await;
    let a = adapter(&s, 0);
    let no = "A0000000000000000000000000000001";
    let PayAction::Qr { code_url } = a.create(&req(PayMethod::AlipayQr, no)).await.unwrap() else {
        panic!("precreate gives a QR code")
    };
    assert!(code_url.starts_with("https://qr.alipay.com/"));
    // The same request again is the same trade.
    assert_eq!(a.create(&req(PayMethod::AlipayQr, no)).await.unwrap(), PayAction::Qr { code_url: code_url.clone() });
    assert_eq!(a.query(no).await.unwrap(), ChannelOutcome::Pending);
    assert_eq!(a.query("A-not-there").await.unwrap(), ChannelOutcome::NotFound);

    s.sim.confirm(&app_id(&s, 0), no, false).unwrap();
    let paid = a.query(no).await.unwrap();
    let ChannelOutcome::Paid { amount_fen, channel_txn_id, .. } = &paid else { panic!("paid: {paid:?}") };
    assert_eq!(*amount_fen, 120_000);
    // A paid trade cannot be closed: normalised for the engine.
    match a.close(no).await {
        Err(ChannelError::Refused { code, .. }) => assert_eq!(code, "ORDERPAID"),
        other => panic!("expected ORDERPAID, got {other:?}"),
    }
    // Close an unpaid one.
    let no2 = "A0000000000000000000000000000002";
    a.create(&req(PayMethod::AlipayQr, no2)).await.unwrap();
    a.close(no2).await.unwrap();
    assert_eq!(a.query(no2).await.unwrap(), ChannelOutcome::Closed);
    match a.close("A-not-there").await {
        Err(ChannelError::Refused { code, .. }) => assert_eq!(code, "ORDER_NOT_EXIST"),
        other => panic!("expected ORDER_NOT_EXIST, got {other:?}"),
    }

    // Partial refund, the same refund again (idempotent), a second one, then too much.
    let refund = |no_r: &'static str, fen: i64| RefundRequest {
        merchant_order_no: no,
        out_refund_no: no_r,
        refund_fen: fen,
        total_fen: 120_000,
        reason: "退宿",
        notify_url: "http://127.0.0.1:9/notify/alipay",
    };
    let r1 = a.refund(&refund("R1", 20_000)).await.unwrap();
    assert!(matches!(r1, RefundOutcome::Succeeded { amount_fen: 20_000, .. }), "{r1:?}");
    assert_eq!(a.refund(&refund("R1", 20_000)).await.unwrap(), r1);
    assert!(matches!(
        a.refund(&refund("R2", 30_000)).await.unwrap(),
        RefundOutcome::Succeeded { amount_fen: 30_000, .. }
    ));
    assert!(matches!(a.refund(&refund("R3", 80_000)).await, Err(ChannelError::Refused { .. })));
    assert_eq!(a.refund_query(no, "R3").await.unwrap(), RefundOutcome::NotFound);
    assert!(matches!(a.refund_query(no, "R2").await.unwrap(), RefundOutcome::Succeeded { amount_fen: 30_000, .. }));

    // Today's bill: the trade and both refunds, totals cross-checked by the parser.
    let today = bursar_domain::time_fmt::date_cst(SystemClock.now_ms());
    let bill = a.trade_bill(&today).await.unwrap();
    let trades: Vec<_> =
        bill.rows.iter().filter(|r| r.kind == bursar_channels::alipay::bill::BillKind::Trade).collect();
    assert_eq!(trades.len(), 1);
    assert_eq!(&trades[0].trade_no, channel_txn_id);
    assert_eq!(bill.refund_fen, -50_000);
    assert_eq!(bill.refund_count, 2);
    // The other app's bill does not contain this app's trades.
    assert!(adapter(&s, 1).trade_bill(&today).await.unwrap().rows.is_empty());
}

#[tokio::test]
async fn cashier_forms_payment_codes_and_reverse() {
    let s = start_sim().await;
    let a = adapter(&s, 0);
    let http = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();

    // page.pay / wap.pay: a signed form the browser posts; the gateway sends it to the cashier.
    for (method, no) in [
        (PayMethod::AlipayPage, "A0000000000000000000000000000010"),
        (PayMethod::AlipayWap, "A0000000000000000000000000000011"),
    ] {
        let PayAction::Form { action, fields } = a.create(&req(method, no)).await.unwrap() else { panic!("a form") };
        let resp = http.post(&action).form(&fields).send().await.unwrap();
        assert_eq!(resp.status(), 303, "the gateway accepts the signed form");
        let cashier = resp.headers()["location"].to_str().unwrap().to_string();
        assert!(cashier.starts_with("/alipay/pay?token="));
        let token = cashier.split_once("token=").unwrap().1.to_string();
        let page = http.get(format!("{}{cashier}", s.url)).send().await.unwrap().text().await.unwrap();
        assert!(page.contains("1,200.00") && page.contains("确认付款"));
        let back = http
            .post(format!("{}/alipay/pay", s.url))
            .form(&[("token", token.as_str()), ("action", "confirm")])
            .send()
            .await
            .unwrap();
        let ret = back.headers()["location"].to_str().unwrap().to_string();
        assert!(ret.starts_with("http://127.0.0.1:9/portal/payments/p1?"), "returns to the merchant: {ret}");
        assert!(ret.contains("sign="));
        assert!(matches!(a.query(no).await.unwrap(), ChannelOutcome::Paid { .. }));

        // A tampered form is refused by the gateway with Alipay's error.
        let mut forged = fields.clone();
        for f in forged.iter_mut().filter(|f| f.0 == "biz_content") {
            f.1 = f.1.replace("1200.00", "0.01");
        }
        let body = http.post(&action).form(&forged).send().await.unwrap().text().await.unwrap();
        assert!(body.contains("isv.invalid-signature"), "{body}");
    }

    // Payment code paid at once.
    let code = s.sim.new_payment_code(false);
    let no = "A0000000000000000000000000000020";
    match a.pay_with_code(&req(PayMethod::AlipayCode, no), &code).await.unwrap() {
        CodeOutcome::Final(ChannelOutcome::Paid { amount_fen, .. }) => assert_eq!(amount_fen, 120_000),
        other => panic!("paid at once: {other:?}"),
    }
    // A code used once is refused the second time.
    assert!(matches!(
        a.pay_with_code(&req(PayMethod::AlipayCode, "A0000000000000000000000000000021"), &code).await.unwrap(),
        CodeOutcome::Final(ChannelOutcome::Failed { .. })
    ));
    // A code needing the payer's confirmation: 10003 → waiting; then reversed.
    let code = s.sim.new_payment_code(true);
    let no = "A0000000000000000000000000000022";
    assert_eq!(a.pay_with_code(&req(PayMethod::AlipayCode, no), &code).await.unwrap(), CodeOutcome::Waiting);
    assert_eq!(a.query(no).await.unwrap(), ChannelOutcome::Pending);
    assert!(a.reverse(no).await.unwrap(), "cancelled");
    assert_eq!(a.query(no).await.unwrap(), ChannelOutcome::Closed);
    // Confirmed by the payer instead: paid.
    let code = s.sim.new_payment_code(true);
    let no = "A0000000000000000000000000000023";
    assert_eq!(a.pay_with_code(&req(PayMethod::AlipayCode, no), &code).await.unwrap(), CodeOutcome::Waiting);
    s.sim.confirm(&app_id(&s, 0), no, false).unwrap();
    assert!(matches!(a.query(no).await.unwrap(), ChannelOutcome::Paid { .. }));
}

#[tokio::test]
async fn notifications_are_verified_and_forgeries_refused() {
    let s = start_sim().await;
    let a = adapter(&s, 0);
    let no = "A0000000000000000000000000000030";
    a.create(&req(PayMethod::AlipayQr, no)).await.unwrap();
    s.sim.confirm(&app_id(&s, 0), no, false).unwrap();
    let body = s.sim.notification_body(&app_id(&s, 0), no).unwrap();
    match a.verify_notification(body.as_bytes()).unwrap() {
        Notice::Payment(n) => {
            assert_eq!(n.merchant_order_no, no);
            assert!(matches!(n.outcome, ChannelOutcome::Paid { amount_fen: 120_000, .. }));
        }
        other => panic!("a payment notice: {other:?}"),
    }
    // Tampered amount, removed signature, wrong sign_type: refused.
    let mut p: BTreeMap<String, String> = parse_form(&body);
    p.insert("total_amount".into(), "0.01".into());
    assert!(matches!(a.verify_notification(encode_form(&p).as_bytes()), Err(ChannelError::Verification(_))));
    let mut p = parse_form(&body);
    p.remove("sign");
    assert!(a.verify_notification(encode_form(&p).as_bytes()).is_err());
    let mut p = parse_form(&body);
    p.insert("sign_type".into(), "RSA".into());
    assert!(a.verify_notification(encode_form(&p).as_bytes()).is_err());
    // Genuinely signed, but for the other app: the first app's adapter refuses it.
    assert!(adapter(&s, 1).verify_notification(body.as_bytes()).is_err());
    // Signed by someone else's key.
    let other = AlipaySandbox::generate("x").unwrap();
    let mut cfg = s.sandbox.merchant_config(0, &s.url).unwrap();
    cfg.alipay_public_key_pem = other.alipay_public_key_pem.clone();
    let suspicious = AlipayAdapter::new(&cfg, Arc::new(SystemClock)).unwrap();
    assert!(suspicious.verify_notification(body.as_bytes()).is_err());
    // …and that adapter also refuses the simulator's genuine answers.
    assert!(matches!(suspicious.query(no).await, Err(ChannelError::Verification(_))));

    // A client signing with another app key, or with a stale timestamp: the gateway refuses.
    let mut forged = s.sandbox.merchant_config(0, &s.url).unwrap();
    forged.app_private_key_pem = other.apps[0].app_private_key_pem.clone();
    let forger = AlipayAdapter::new(&forged, Arc::new(SystemClock)).unwrap();
    match forger.query(no).await {
        Err(ChannelError::Refused { code, .. }) => assert_eq!(code, "isv.invalid-signature"),
        other => panic!("expected isv.invalid-signature, got {other:?}"),
    }
    let stale = AlipayAdapter::new(
        &s.sandbox.merchant_config(0, &s.url).unwrap(),
        Arc::new(ManualClock::new(SystemClock.now_ms() - 3_600_000)),
    )
    .unwrap();
    match stale.query(no).await {
        Err(ChannelError::Refused { code, .. }) => assert_eq!(code, "isv.invalid-timestamp"),
        other => panic!("expected isv.invalid-timestamp, got {other:?}"),
    }
}

#[tokio::test]
async fn faults_switch_at_run_time() {
    let s = start_sim().await;
    let a = adapter(&s, 0);
    let http = reqwest::Client::new();
    let set = |body: serde_json::Value| {
        let http = http.clone();
        let url = format!("{}/_faults/alipay", s.url);
        async move { http.post(url).json(&body).send().await.unwrap() }
    };
    assert_eq!(set(serde_json::json!({"api_errors": true})).await.status(), 200);
    assert!(matches!(a.query("A1").await, Err(ChannelError::Unreachable(_))), "system error = outcome unknown");
    assert_eq!(set(serde_json::json!({"refunds_fail": true, "amount_delta_fen": 1})).await.status(), 200);
    let no = "A0000000000000000000000000000040";
    a.create(&req(PayMethod::AlipayQr, no)).await.unwrap();
    s.sim.confirm(&app_id(&s, 0), no, false).unwrap();
    assert!(
        matches!(a.query(no).await.unwrap(), ChannelOutcome::Paid { amount_fen: 120_001, .. }),
        "reports another amount"
    );
    let r = RefundRequest {
        merchant_order_no: no,
        out_refund_no: "RF1",
        refund_fen: 100,
        total_fen: 120_000,
        reason: "x",
        notify_url: "http://127.0.0.1:9/notify/alipay",
    };
    assert!(matches!(a.refund(&r).await, Err(ChannelError::Refused { .. })));
    // Unknown switches are refused, the old ones kept.
    assert_eq!(set(serde_json::json!({"nonsense": 1})).await.status(), 400);
    assert!(s.sim.faults().get().refunds_fail);
}
