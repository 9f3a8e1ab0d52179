//! WeChat Pay adapter ↔ simulator: the adapter's signatures are accepted, forged ones refused with
//! WeChat's own error; the simulator's signatures verify, and an adapter holding the wrong platform
//! key or a stale clock refuses them. Query and close behave as WeChat Pay documents.

use std::sync::Arc;

use bursar_channels::wechatpay::WechatPayAdapter;
use bursar_channels::{Channel, ChannelError, PayAction, PayRequest};
use bursar_domain::payment::ChannelOutcome;
use bursar_domain::payment::PayMethod;
use bursar_domain::{Clock, ManualClock, SystemClock};
use bursar_simulators::wechatpay::sandbox::Sandbox;
use bursar_simulators::WechatPaySimulator;

struct Sim {
    url: String,
    sandbox: Sandbox,
    sim: WechatPaySimulator,
}

async fn start_sim() -> Sim {
    let sandbox = Sandbox::generate("测试大学").unwrap();
    let sim = WechatPaySimulator::new(sandbox.clone(), Arc::new(SystemClock)).unwrap();
    let url = crate::support::serve_router(sim.router()).await;
    Sim { url, sandbox, sim }
}

fn req(no: &str) -> PayRequest<'_> {
    PayRequest {
        method: PayMethod::WechatNative,
        merchant_order_no: no,
        description: "测试大学-学费",
        amount_fen: 12_345,
        expires_at_ms: SystemClock.now_ms() + 600_000,
        notify_url: "http://127.0.0.1:9/notify/wechatpay",
        return_url: "http://127.0.0.1:9/portal/payments/x",
        client_ip: "10.1.2.3",
        openid: None,
    }
}

/// Starts a Native payment and returns its code URL.
async fn qr(adapter: &WechatPayAdapter, no: &str) -> String {
    match adapter.create(&req(no)).await.unwrap() {
        PayAction::Qr { code_url } => code_url,
        other => panic!("expected a QR code, got {other:?}"),
    }
}

#[tokio::test]
async fn native_query_close_against_the_simulator() {
    let s = start_sim().await;
    let adapter = WechatPayAdapter::new(&s.sandbox.merchant_config(&s.url), Arc::new(SystemClock)).unwrap();
    let no = "B0000000000000000000000000000001";
    let code_url = qr(&adapter, no).await;
    assert!(code_url.starts_with("weixin://wxpay/bizpayurl?pr="));
    // Same request again: the same code URL (idempotent at the channel).
    assert_eq!(qr(&adapter, no).await, code_url);
    assert_eq!(adapter.query(no).await.unwrap(), ChannelOutcome::Pending);
    assert_eq!(adapter.query("B0000000000000000000000000000404").await.unwrap(), ChannelOutcome::NotFound);
    // Close answers a signed 204, which the adapter verifies.
    adapter.close(no).await.unwrap();
    assert_eq!(adapter.query(no).await.unwrap(), ChannelOutcome::Closed);

    // A paid payment cannot be closed, and the query reports the payment.
    let no2 = "B0000000000000000000000000000002";
    let code2 = qr(&adapter, no2).await;
    s.sim.confirm_payment(&code2, false).unwrap();
    match adapter.close(no2).await {
        Err(ChannelError::Refused { code, .. }) => assert_eq!(code, "ORDERPAID"),
        other => panic!("expected ORDERPAID, got {other:?}"),
    }
    match adapter.query(no2).await.unwrap() {
        ChannelOutcome::Paid { amount_fen, channel_txn_id, .. } => {
            assert_eq!(amount_fen, 12_345);
            assert!(channel_txn_id.starts_with("4200"));
        }
        other => panic!("expected paid, got {other:?}"),
    }
}

#[tokio::test]
async fn forged_requests_and_responses_are_refused() {
    let s = start_sim().await;
    // A client with another merchant key: the simulator answers 401 SIGN_ERROR.
    let other = Sandbox::generate("x").unwrap();
    let mut forged = s.sandbox.merchant_config(&s.url);
    forged.merchant_private_key_pem = other.merchant_private_key_pem.clone();
    let adapter = WechatPayAdapter::new(&forged, Arc::new(SystemClock)).unwrap();
    match adapter.create(&req("B0000000000000000000000000000003")).await {
        Err(ChannelError::Refused { code, .. }) => assert_eq!(code, "SIGN_ERROR"),
        other => panic!("expected SIGN_ERROR, got {other:?}"),
    }

    // An adapter expecting another platform key refuses the simulator's (genuine) responses.
    let mut wrong_platform = s.sandbox.merchant_config(&s.url);
    wrong_platform.platform_public_key_pem = other.platform_public_key_pem.clone();
    let adapter = WechatPayAdapter::new(&wrong_platform, Arc::new(SystemClock)).unwrap();
    assert!(matches!(
        adapter.create(&req("B0000000000000000000000000000004")).await,
        Err(ChannelError::Verification(_))
    ));

    // A client whose clock is 10 minutes off: the simulator refuses its request as expired…
    let skewed = ManualClock::new(SystemClock.now_ms() - 600_000);
    let adapter = WechatPayAdapter::new(&s.sandbox.merchant_config(&s.url), Arc::new(skewed)).unwrap();
    match adapter.query("B0000000000000000000000000000005").await {
        Err(ChannelError::Refused { code, .. }) => assert_eq!(code, "SIGN_ERROR"),
        other => panic!("expected a refused stale request, got {other:?}"),
    }
    // …and a notification older than 5 minutes is refused by the adapter.
    let adapter = WechatPayAdapter::new(
        &s.sandbox.merchant_config(&s.url),
        Arc::new(ManualClock::new(SystemClock.now_ms() + 600_000)),
    )
    .unwrap();
    let txn = bursar_channels::wechatpay::protocol::Transaction {
        appid: s.sandbox.appid.clone(),
        mchid: s.sandbox.mchid.clone(),
        out_trade_no: "B1".into(),
        transaction_id: Some("4200".into()),
        trade_type: None,
        trade_state: "SUCCESS".into(),
        trade_state_desc: String::new(),
        bank_type: None,
        attach: None,
        success_time: None,
        payer: None,
        amount: None,
        promotion_detail: vec![],
    };
    let (body, headers) = s.sim.notification_for(&txn).unwrap();
    match adapter.verify_notification(&headers, &body) {
        Err(ChannelError::Verification(m)) => assert!(m.contains("timestamp"), "{m}"),
        other => panic!("expected a stale notification to be refused, got {other:?}"),
    }
}

#[tokio::test]
async fn the_trade_bill_lists_payments_and_refunds_and_is_verified() {
    let s = start_sim().await;
    s.sim.set_refund_delay_ms(10);
    let adapter = WechatPayAdapter::new(&s.sandbox.merchant_config(&s.url), Arc::new(SystemClock)).unwrap();
    let today = bursar_domain::time_fmt::date_cst(SystemClock.now_ms());
    // No transactions yet: WeChat Pay's own error.
    match adapter.trade_bill(&today).await {
        Err(ChannelError::Refused { code, .. }) => assert_eq!(code, "NO_STATEMENT_EXIST"),
        other => panic!("expected NO_STATEMENT_EXIST, got {other:?}"),
    }
    let mut paid = Vec::new();
    for no in ["B0000000000000000000000000000011", "B0000000000000000000000000000012"] {
        let code = qr(&adapter, no).await;
        s.sim.confirm_payment(&code, false).unwrap();
        paid.push(no);
    }
    let refund = bursar_channels::RefundRequest {
        merchant_order_no: paid[0],
        out_refund_no: "R0000000000000000000000000000001",
        refund_fen: 2_345,
        total_fen: 12_345,
        reason: "测试",
        notify_url: "http://127.0.0.1:9/notify/wechatpay",
    };
    assert!(matches!(adapter.refund(&refund).await.unwrap(), bursar_domain::refund::RefundOutcome::Processing { .. }));
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    assert!(matches!(
        adapter.refund_query(refund.merchant_order_no, refund.out_refund_no).await.unwrap(),
        bursar_domain::refund::RefundOutcome::Succeeded { .. }
    ));

    let bill = adapter.trade_bill(&today).await.unwrap();
    let success: Vec<_> = bill.rows.iter().filter(|r| r.trade_state == "SUCCESS").collect();
    let refunds: Vec<_> = bill.rows.iter().filter(|r| r.trade_state == "REFUND").collect();
    assert_eq!(success.iter().map(|r| r.out_trade_no.as_str()).collect::<Vec<_>>(), paid);
    assert!(success.iter().all(|r| r.order_fen == 12_345 && r.fee_units == 12_345 * 6));
    assert_eq!(refunds.len(), 1);
    assert_eq!((refunds[0].out_refund_no.as_str(), refunds[0].refund_fen), ("R0000000000000000000000000000001", 2_345));
    assert_eq!(bill.summary.count, 3);
    assert_eq!(bill.summary.order_fen, 24_690);
}

fn code_req(no: &str) -> PayRequest<'_> {
    PayRequest { method: PayMethod::WechatCode, ..req(no) }
}

#[tokio::test]
async fn payment_codes_v2_micropay_query_and_reverse() {
    use bursar_channels::CodeOutcome;
    let s = start_sim().await;
    let adapter = WechatPayAdapter::new(&s.sandbox.merchant_config(&s.url), Arc::new(SystemClock)).unwrap();
    assert!(adapter.methods().contains(&PayMethod::WechatCode));

    // Paid at once (small amount, no password).
    let code = s.sim.new_payment_code(false);
    let no = "C0000000000000000000000000000001";
    match adapter.pay_with_code(&code_req(no), &code).await.unwrap() {
        CodeOutcome::Final(ChannelOutcome::Paid { amount_fen, .. }) => assert_eq!(amount_fen, 12_345),
        other => panic!("paid at once: {other:?}"),
    }
    // The v3 query and refund APIs see the same trade.
    assert!(matches!(adapter.query(no).await.unwrap(), ChannelOutcome::Paid { .. }));
    // The same code again is refused; so is a code WeChat never issued.
    assert!(matches!(
        adapter.pay_with_code(&code_req("C0000000000000000000000000000002"), &code).await.unwrap(),
        CodeOutcome::Final(ChannelOutcome::Failed { .. })
    ));
    // Needs the payer's password: waiting, then reversed.
    let code = s.sim.new_payment_code(true);
    let no = "C0000000000000000000000000000003";
    assert_eq!(adapter.pay_with_code(&code_req(no), &code).await.unwrap(), CodeOutcome::Waiting);
    assert_eq!(adapter.query(no).await.unwrap(), ChannelOutcome::Pending);
    assert!(adapter.reverse(no).await.unwrap());
    assert_eq!(adapter.query(no).await.unwrap(), ChannelOutcome::Closed);

    // A client with the wrong API v2 key: WeChat's "签名错误" and nothing charged.
    let mut wrong = s.sandbox.merchant_config(&s.url);
    wrong.api_v2_key = Some("0".repeat(32));
    let forger = WechatPayAdapter::new(&wrong, Arc::new(SystemClock)).unwrap();
    let code = s.sim.new_payment_code(false);
    match forger.pay_with_code(&code_req("C0000000000000000000000000000004"), &code).await {
        Err(ChannelError::Refused { message, .. }) => assert!(message.contains("签名错误"), "{message}"),
        other => panic!("expected a signature error, got {other:?}"),
    }
    assert_eq!(adapter.query("C0000000000000000000000000000004").await.unwrap(), ChannelOutcome::NotFound);
    // Without a v2 key the adapter does not offer payment codes.
    let mut no_v2 = s.sandbox.merchant_config(&s.url);
    no_v2.api_v2_key = None;
    assert!(!WechatPayAdapter::new(&no_v2, Arc::new(SystemClock)).unwrap().methods().contains(&PayMethod::WechatCode));
}
