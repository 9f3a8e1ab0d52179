//! The Alipay gateway's server side, for offline use and tests: `/gateway.do` verifies the app's
//! RSA2 signature (merging query-string and form parameters, as Alipay does), answers signed JSON
//! (`xxx_response` + `sign`, errors too), keeps its own trades and refunds, serves the payer's
//! cashier and scan pages and a payment-code generator, sends signed asynchronous notifications
//! until the merchant answers `success`, and writes daily bills from its records.

#![allow(clippy::result_large_err)]

mod gateway;
mod pages;
pub mod sandbox;

pub use self::sandbox::AlipaySandbox;
use gateway::*;
use pages::*;

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{Query, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::get;
use axum::{Form, Router};
use bursar_domain::time_fmt::{date_cst, datetime_cst, parse_datetime_cst_ms};
use bursar_domain::{Clock, Fen};
use serde::Deserialize;
use serde_json::{json, Map, Value};

use crate::faults::Faults;
use bursar_channels::alipay::bill::{AlipayBill, BillKind, BillRow};
use bursar_channels::alipay::protocol::*;
use bursar_channels::crypto::{random_alnum, RsaSigner, RsaVerifier};
use bursar_channels::{html_escape, qr_svg, ChannelError};

const WAIT: &str = "WAIT_BUYER_PAY";
const SUCCESS: &str = "TRADE_SUCCESS";
const CLOSED: &str = "TRADE_CLOSED";

#[derive(Clone, Debug)]
struct Trade {
    app_id: String,
    out_trade_no: String,
    trade_no: String,
    subject: String,
    total_fen: i64,
    status: &'static str,
    notify_url: String,
    return_url: String,
    created_ms: i64,
    paid_ms: Option<i64>,
    expires_ms: Option<i64>,
    token: String,
    refunded_fen: i64,
    buyer: String,
}

#[derive(Clone, Debug)]
struct SimRefund {
    out_request_no: String,
    amount_fen: i64,
    at_ms: i64,
}

#[derive(Default)]
struct Book {
    trades: HashMap<(String, String), Trade>,
    by_token: HashMap<String, (String, String)>,
    by_trade_no: HashMap<String, (String, String)>,
    refunds: HashMap<(String, String), Vec<SimRefund>>,
    /// Payment codes shown on the payer's phone: code → needs the payer's confirmation.
    codes: HashMap<String, bool>,
    bills: HashMap<String, Vec<u8>>,
    seq: u64,
}

struct Inner {
    sandbox: AlipaySandbox,
    app_verifiers: HashMap<String, RsaVerifier>,
    signer: RsaSigner,
    book: Mutex<Book>,
    http: reqwest::Client,
    clock: Arc<dyn Clock>,
    retry_scale: f64,
    faults: Faults,
}

#[derive(Clone)]
pub struct AlipaySimulator {
    inner: Arc<Inner>,
}

/// Alipay's notification retry schedule after the first attempt (8 attempts over ~25 h).
const RETRY_SCHEDULE_S: [u64; 7] = [4 * 60, 10 * 60, 10 * 60, 3600, 2 * 3600, 6 * 3600, 15 * 3600];

impl AlipaySimulator {
    pub fn new(sandbox: AlipaySandbox, clock: Arc<dyn Clock>) -> Result<AlipaySimulator, ChannelError> {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .build()
            .map_err(|e| ChannelError::Config(e.to_string()))?;
        let mut app_verifiers = HashMap::new();
        for app in &sandbox.apps {
            app_verifiers.insert(app.app_id.clone(), RsaVerifier::from_spki_pem(&app.app_public_key_pem)?);
        }
        Ok(AlipaySimulator {
            inner: Arc::new(Inner {
                signer: RsaSigner::from_pkcs8_pem(&sandbox.alipay_private_key_pem)?,
                sandbox,
                app_verifiers,
                book: Mutex::new(Book::default()),
                http,
                clock,
                retry_scale: 1.0,
                faults: Faults::default(),
            }),
        })
    }

    pub fn with_retry_scale(self, scale: f64) -> AlipaySimulator {
        match Arc::try_unwrap(self.inner) {
            Ok(mut inner) => {
                inner.retry_scale = scale;
                AlipaySimulator { inner: Arc::new(inner) }
            }
            Err(inner) => AlipaySimulator { inner },
        }
    }

    pub fn faults(&self) -> &Faults {
        &self.inner.faults
    }
    pub fn sandbox(&self) -> &AlipaySandbox {
        &self.inner.sandbox
    }

    pub fn router(&self) -> Router {
        Router::new()
            .route("/gateway.do", get(gateway_get).post(gateway_post))
            .route("/alipay/scan", get(scan_page))
            .route("/alipay/pay", get(pay_page).post(pay_action))
            .route("/alipay/paycode", get(paycode_page).post(paycode_new))
            .route("/alipay/bill", get(bill_download))
            .with_state(self.clone())
            .merge(crate::faults::router(self.inner.faults.clone(), "/_faults/alipay"))
    }

    fn book(&self) -> std::sync::MutexGuard<'_, Book> {
        match self.inner.book.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        }
    }
    fn now(&self) -> i64 {
        self.inner.clock.now_ms()
    }

    /// A payment code as the payer's Alipay app shows it: 18 digits starting 28. With
    /// `needs_confirm`, trade.pay answers 10003 until the payer confirms on the code page.
    pub fn new_payment_code(&self, needs_confirm: bool) -> String {
        use rand::Rng;
        let code = format!("28{:016}", rand::thread_rng().gen_range(0..10_000_000_000_000_000u64));
        self.book().codes.insert(code.clone(), needs_confirm);
        code
    }

    /// Pays a waiting trade as the payer would (by out_trade_no); `notify` sends its notification.
    pub fn confirm(&self, app_id: &str, out_trade_no: &str, notify: bool) -> Result<(), String> {
        let trade = {
            let mut book = self.book();
            let t = book.trades.get_mut(&(app_id.to_string(), out_trade_no.to_string())).ok_or("交易不存在")?;
            if t.status != WAIT {
                return Err(format!("交易状态为 {}", t.status));
            }
            if t.expires_ms.is_some_and(|e| e <= self.now()) {
                t.status = CLOSED;
                return Err("交易已超时关闭".into());
            }
            t.status = SUCCESS;
            t.paid_ms = Some(self.now());
            t.clone()
        };
        if notify {
            self.spawn_notify(&trade);
        }
        Ok(())
    }

    fn sign(&self, text: &str) -> String {
        self.inner.signer.sign_base64(text.as_bytes()).unwrap_or_default()
    }

    /// A signed JSON answer.
    fn answer(&self, key: &str, inner: &Value) -> Response {
        let text = inner.to_string();
        let sign = self.sign(&text);
        let body = response_body(key, &text, &sign);
        ([("content-type", "text/html;charset=utf-8")], body).into_response()
    }

    fn ok(&self, method: &str, mut fields: Map<String, Value>) -> Response {
        fields.insert("code".into(), json!(CODE_SUCCESS));
        fields.insert("msg".into(), json!("Success"));
        let mut ordered = Map::new();
        ordered.insert("code".into(), fields.remove("code").unwrap_or_default());
        ordered.insert("msg".into(), fields.remove("msg").unwrap_or_default());
        ordered.extend(fields);
        self.answer(&response_key(method), &Value::Object(ordered))
    }

    fn fail(&self, key: &str, code: &str, sub_code: &str, sub_msg: &str) -> Response {
        let msg = match code {
            CODE_INVALID => "Invalid Arguments",
            CODE_WAITING => "Waiting for user to pay",
            CODE_UNKNOWN => "Service Currently Unavailable",
            _ => "Business Failed",
        };
        self.answer(key, &json!({"code": code, "msg": msg, "sub_code": sub_code, "sub_msg": sub_msg}))
    }

    /// The notification's parameters, signed.
    fn notification(&self, t: &Trade, refund: Option<&SimRefund>) -> BTreeMap<String, String> {
        let delta = self.inner.faults.get().amount_delta_fen;
        let mut p = BTreeMap::new();
        let now = self.now();
        let mut put = |k: &str, v: String| {
            p.insert(k.to_string(), v);
        };
        put("notify_time", datetime_cst(now));
        put("notify_type", "trade_status_sync".into());
        put("notify_id", random_alnum(32));
        put("app_id", t.app_id.clone());
        put("charset", "utf-8".into());
        put("version", "1.0".into());
        put("sign_type", "RSA2".into());
        put("trade_no", t.trade_no.clone());
        put("out_trade_no", t.out_trade_no.clone());
        put("trade_status", t.status.into());
        put("total_amount", Fen(t.total_fen + delta).to_yuan_string());
        put("receipt_amount", Fen(t.total_fen + delta).to_yuan_string());
        put("buyer_pay_amount", Fen(t.total_fen + delta).to_yuan_string());
        put("subject", t.subject.clone());
        put("seller_id", self.inner.sandbox.seller_id.clone());
        put("buyer_logon_id", t.buyer.clone());
        put("gmt_create", datetime_cst(t.created_ms));
        if let Some(paid) = t.paid_ms {
            put("gmt_payment", datetime_cst(paid));
        }
        if let Some(r) = refund {
            put("out_biz_no", r.out_request_no.clone());
            put("refund_fee", Fen(t.refunded_fen).to_yuan_string());
            put("gmt_refund", datetime_cst(r.at_ms));
        }
        let sign = self.sign(&notify_sign_content(&p));
        p.insert("sign".into(), sign);
        p
    }

    /// The signed body of a trade's notification, as the simulator would deliver it (tests replay it).
    pub fn notification_body(&self, app_id: &str, out_trade_no: &str) -> Option<String> {
        let t = self.book().trades.get(&(app_id.to_string(), out_trade_no.to_string())).cloned()?;
        Some(encode_form(&self.notification(&t, None)))
    }

    fn spawn_notify(&self, t: &Trade) {
        self.spawn_delivery(t.clone(), None);
    }

    fn spawn_delivery(&self, t: Trade, refund: Option<SimRefund>) {
        if t.notify_url.is_empty() {
            return;
        }
        let faults = self.inner.faults.get();
        if faults.drop_notifications {
            return;
        }
        let copies = if faults.duplicate_notifications { 2 } else { 1 };
        for _ in 0..copies {
            let sim = self.clone();
            let (t, refund) = (t.clone(), refund.clone());
            let first = self.inner.faults.first_delivery_delay_ms();
            tokio::spawn(async move {
                tokio::time::sleep(Duration::from_millis(first)).await;
                let body = encode_form(&sim.notification(&t, refund.as_ref()));
                for (attempt, wait_s) in std::iter::once(0).chain(RETRY_SCHEDULE_S).enumerate() {
                    if attempt > 0 {
                        let ms = (wait_s as f64 * 1000.0 * sim.inner.retry_scale) as u64;
                        tokio::time::sleep(Duration::from_millis(ms)).await;
                    }
                    let sent = sim
                        .inner
                        .http
                        .post(&t.notify_url)
                        .header("Content-Type", "application/x-www-form-urlencoded;charset=utf-8")
                        .body(body.clone())
                        .send()
                        .await;
                    if let Ok(resp) = sent {
                        if resp.text().await.is_ok_and(|b| b.trim() == "success") {
                            return;
                        }
                    }
                }
            });
        }
    }

    /// Checks the common parameters and the app's signature. `Err` is the signed error answer.
    fn authenticate(&self, p: &BTreeMap<String, String>) -> Result<String, Response> {
        let get = |k: &str| p.get(k).map(String::as_str).unwrap_or("");
        let method = get("method").to_string();
        let invalid = |sub: &str, msg: &str| self.fail("error_response", CODE_INVALID, sub, msg);
        let Some(verifier) = self.inner.app_verifiers.get(get("app_id")) else {
            return Err(invalid("isv.invalid-app-id", "无效的AppID参数"));
        };
        if get("sign").is_empty() {
            return Err(invalid("isv.missing-signature", "缺少签名参数"));
        }
        if get("sign_type") != "RSA2" {
            return Err(invalid("isv.invalid-signature-type", "无效的签名类型"));
        }
        if !get("charset").is_empty() && !get("charset").eq_ignore_ascii_case("utf-8") {
            return Err(invalid("isv.invalid-charset", "字符集错误"));
        }
        match parse_datetime_cst_ms(get("timestamp")) {
            Some(t) if bursar_domain::clock::within(t, self.now(), 30 * 60 * 1000) => {}
            _ => return Err(invalid("isv.invalid-timestamp", "非法的时间戳参数")),
        }
        if !verifier.verify_base64(request_sign_content(p).as_bytes(), get("sign")) {
            return Err(invalid(
                "isv.invalid-signature",
                &format!(
                    "验签出错，建议检查签名字符串或签名私钥与应用公钥是否匹配，网关生成的验签字符串为：{}",
                    request_sign_content(p)
                ),
            ));
        }
        Ok(method)
    }
}
