//! Bursar's UnionPay ACP adapter against the UnionPay simulator over HTTP: front consume form,
//! cashier, front return and back notification, query (with the txnTime derived from the
//! order number), refund and refund query, the reconciliation file; and everything forged,
//! mis-chained or misaddressed refused.

use std::sync::Arc;

use bursar_channels::alipay::protocol::{encode_form, parse_form};
use bursar_channels::unionpay::UnionpayAdapter;
use bursar_channels::{Channel, ChannelError, Notice, PayAction, PayRequest, RefundRequest};
use bursar_domain::payment::{ChannelOutcome, PayMethod};
use bursar_domain::refund::RefundOutcome;
use bursar_domain::{Clock, SystemClock};
use bursar_simulators::{UnionpaySandbox, UnionpaySimulator};

struct Sim {
    url: String,
    sandbox: UnionpaySandbox,
    sim: UnionpaySimulator,
}

async fn start_sim() -> Sim {
    let sandbox = UnionpaySandbox::generate("测试大学").unwrap();
    let sim = UnionpaySimulator::new(sandbox.clone(), Arc::new(SystemClock)).unwrap();
    let url = crate::support::serve_router(sim.router()).await;
    Sim { url, sandbox, sim }
}

fn adapter(s: &Sim) -> UnionpayAdapter {
    UnionpayAdapter::new(&s.sandbox.merchant_config(&s.url), Arc::new(SystemClock)).unwrap()
}

/// A fresh UUIDv7 number, as the engine makes them.
fn no() -> String {
    uuid::Uuid::now_v7().simple().to_string()
}

fn req(no: &str) -> PayRequest<'_> {
    PayRequest {
        method: PayMethod::UnionpayPc,
        merchant_order_no: no,
        description: "测试大学-学费",
        amount_fen: 480_000,
        expires_at_ms: SystemClock.now_ms() + 600_000,
        notify_url: "http://127.0.0.1:9/notify/unionpay",
        return_url: "http://127.0.0.1:9/portal/payments/p1",
        client_ip: "10.0.0.1",
        openid: None,
    }
}

/// Posts the consume form to the gateway, then confirms at the cashier; returns the front-return form fields.
async fn pay_through_cashier(s: &Sim, action: &str, fields: &[(String, String)]) -> Vec<(String, String)> {
    let http = reqwest::Client::new();
    let cashier = http.post(action).form(fields).send().await.unwrap();
    assert_eq!(cashier.status(), 200, "the gateway accepts the signed form");
    let page = cashier.text().await.unwrap();
    let token = crate::support::between(&page, "name=\"token\" value=\"", "\"").unwrap().to_string();
    let back = http
        .post(format!("{}/unionpay/pay", s.url))
        .form(&[("token", token.as_str()), ("action", "confirm")])
        .send()
        .await
        .unwrap();
    let html = back.text().await.unwrap();
    assert!(html.contains("id=\"front-return\"") && html.contains("http://127.0.0.1:9/portal/payments/p1"));
    html.split("<input type=\"hidden\" name=\"")
        .skip(1)
        .map(|chunk| {
            let name = chunk[..chunk.find('"').unwrap()].to_string();
            let value = crate::support::between(chunk, "value=\"", "\"")
                .unwrap()
                .replace("&#39;", "'")
                .replace("&quot;", "\"")
                .replace("&lt;", "<")
                .replace("&gt;", ">")
                .replace("&amp;", "&");
            (name, value)
        })
        .collect()
}

#[tokio::test]
async fn consume_query_refund_and_settlement_file() {
    let s = start_sim().await;
    let a = adapter(&s);
    let order = no();
    let PayAction::Form { action, fields } = a.create(&req(&order)).await.unwrap() else { panic!("a form") };
    assert!(action.ends_with("/gateway/api/frontTransReq.do"));
    assert_eq!(a.query(&order).await.unwrap(), ChannelOutcome::NotFound, "not yet at the gateway");

    let front = pay_through_cashier(&s, &action, &fields).await;
    // The front return is signed like everything else, and the adapter verifies it.
    let body = encode_form(&front.into_iter().collect());
    match a.verify_notification(body.as_bytes()).unwrap() {
        Notice::Payment(n) => assert!(matches!(n.outcome, ChannelOutcome::Paid { amount_fen: 480_000, .. })),
        other => panic!("{other:?}"),
    }
    let paid = a.query(&order).await.unwrap();
    let ChannelOutcome::Paid { channel_txn_id, .. } = &paid else { panic!("paid: {paid:?}") };
    match a.close(&order).await {
        Err(ChannelError::Refused { code, .. }) => assert_eq!(code, "ORDERPAID"),
        other => panic!("{other:?}"),
    }

    // Refunds: partial, idempotent on its number, never more than was paid.
    let r1 = no();
    let refund = |n: &str, fen: i64| RefundRequest {
        merchant_order_no: &order,
        out_refund_no: Box::leak(n.to_string().into_boxed_str()),
        refund_fen: fen,
        total_fen: 480_000,
        reason: "退学",
        notify_url: "http://127.0.0.1:9/notify/unionpay",
    };
    let done = a.refund(&refund(&r1, 100_000)).await.unwrap();
    assert!(matches!(done, RefundOutcome::Succeeded { amount_fen: 100_000, .. }), "{done:?}");
    assert_eq!(a.refund(&refund(&r1, 100_000)).await.unwrap(), done, "the same refund number is the same refund");
    assert!(matches!(a.refund(&refund(&no(), 400_000)).await, Err(ChannelError::Refused { .. })));
    assert_eq!(a.refund_query(&order, &no()).await.unwrap(), RefundOutcome::NotFound);

    // Today's reconciliation file lists the consume and the refund.
    let today = bursar_domain::time_fmt::compact_datetime_cst(SystemClock.now_ms());
    let rows = a.settlement_file(&today[4..8]).await.unwrap();
    assert!(rows.iter().any(|r| r.txn_type == "01" && &r.query_id == channel_txn_id && r.amount_fen == 480_000));
    assert!(rows.iter().any(|r| r.txn_type == "04" && r.orig_query_id == *channel_txn_id && r.amount_fen == 100_000));
    assert!(a.settlement_file("0101").await.unwrap().is_empty() || today[4..8] == *"0101");
}

#[tokio::test]
async fn forgeries_and_foreign_certificates_are_refused() {
    let s = start_sim().await;
    let a = adapter(&s);
    let order = no();
    let PayAction::Form { action, fields } = a.create(&req(&order)).await.unwrap() else { panic!() };
    // A tampered form: the gateway refuses it (11 验证签名失败) and creates nothing.
    let mut forged = fields.clone();
    for f in forged.iter_mut().filter(|f| f.0 == "txnAmt") {
        f.1 = "1".into();
    }
    let r = reqwest::Client::new().post(&action).form(&forged).send().await.unwrap();
    assert_eq!(r.status(), 400);
    assert!(r.text().await.unwrap().contains("11"));
    assert_eq!(a.query(&order).await.unwrap(), ChannelOutcome::NotFound);

    pay_through_cashier(&s, &action, &fields).await;
    let body = s.sim.notification_body(&order).unwrap();
    assert!(a.verify_notification(body.as_bytes()).is_ok());
    // Tampered amount: the signature no longer verifies.
    let mut p = parse_form(&body);
    p.insert("txnAmt".into(), "1".into());
    assert!(matches!(a.verify_notification(encode_form(&p).as_bytes()), Err(ChannelError::Verification(_))));
    // Signed by another PKI's "UnionPay": its certificate does not chain to the configured root.
    let other = UnionpaySandbox::generate("x").unwrap();
    let mut p = parse_form(&body);
    p.insert("signPubKeyCert".into(), other.unionpay.cert_pem.clone());
    assert!(a.verify_notification(encode_form(&p).as_bytes()).is_err());
    // The merchant's own certificate (chains, but is not UnionPay's CN) cannot sign for UnionPay.
    let mut p = parse_form(&body);
    p.insert("signPubKeyCert".into(), s.sandbox.merchant.cert_pem.clone());
    assert!(a.verify_notification(encode_form(&p).as_bytes()).is_err());
    // An adapter of another merchant refuses it.
    let mut cfg = s.sandbox.merchant_config(&s.url);
    cfg.mer_id = "777290099999999".into();
    let foreign = UnionpayAdapter::new(&cfg, Arc::new(SystemClock)).unwrap();
    assert!(foreign.verify_notification(body.as_bytes()).is_err());
    // A merchant signing with another key: the gateway answers 11 on the back channel.
    let mut forger = s.sandbox.merchant_config(&s.url);
    forger.signing_key_pem = other.merchant.key_pem.clone();
    let forger = UnionpayAdapter::new(&forger, Arc::new(SystemClock)).unwrap();
    match forger.query(&order).await {
        Err(ChannelError::Refused { code, .. }) => assert_eq!(code, "11"),
        other => panic!("expected 11, got {other:?}"),
    }
    // An order number that is not a UUIDv7 has no derivable txnTime.
    assert!(matches!(a.query("ORDER-NOT-UUID").await, Err(ChannelError::Config(_))));
}
