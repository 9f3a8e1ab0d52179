//! The Alipay gateway's server side, for offline use and tests: `/gateway.do` verifies the app's
//! RSA2 signature (merging query-string and form parameters, as Alipay does), answers signed JSON
//! (`xxx_response` + `sign`, errors too), keeps its own trades and refunds, serves the payer's
//! cashier and scan pages and a payment-code generator, sends signed asynchronous notifications
//! until the merchant answers `success`, and writes daily bills from its records.

#![allow(clippy::result_large_err)]

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

use super::bill::{AlipayBill, BillKind, BillRow};
use super::protocol::*;
use super::sandbox::AlipaySandbox;
use crate::crypto::{random_alnum, RsaSigner, RsaVerifier};
use crate::faults::Faults;
use crate::{html_escape, qr_svg, ChannelError};

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
            Some(t) if (t - self.now()).abs() <= 30 * 60 * 1000 => {}
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

fn fields(pairs: &[(&str, Value)]) -> Map<String, Value> {
    pairs.iter().map(|(k, v)| ((*k).to_string(), v.clone())).collect()
}

fn amount_of(text: &str) -> Option<i64> {
    let f = Fen::parse_yuan(text).ok()?.get();
    let two_decimals = text.split_once('.').is_none_or(|(_, d)| d.len() <= 2);
    (f > 0 && f <= 10_000_000_000 && two_decimals).then_some(f)
}

fn host_of(headers: &HeaderMap) -> String {
    headers.get("host").and_then(|h| h.to_str().ok()).unwrap_or("127.0.0.1").to_string()
}

async fn gateway_get(State(sim): State<AlipaySimulator>, headers: HeaderMap, RawQuery(q): RawQuery) -> Response {
    let params = parse_form(q.as_deref().unwrap_or(""));
    gateway(sim, params, host_of(&headers)).await
}

/// Parameters may come in the query string, the form body, or both: merged.
async fn gateway_post(
    State(sim): State<AlipaySimulator>,
    headers: HeaderMap,
    RawQuery(q): RawQuery,
    body: Bytes,
) -> Response {
    let mut params = parse_form(q.as_deref().unwrap_or(""));
    params.extend(parse_form(&String::from_utf8_lossy(&body)));
    gateway(sim, params, host_of(&headers)).await
}

async fn gateway(sim: AlipaySimulator, p: BTreeMap<String, String>, host: String) -> Response {
    let method = match sim.authenticate(&p) {
        Ok(m) => m,
        Err(answer) => return answer,
    };
    let biz: Map<String, Value> = match p.get("biz_content").map(|b| serde_json::from_str::<Value>(b)) {
        Some(Ok(Value::Object(m))) => m,
        None if method.is_empty() => Map::new(),
        _ => return sim.fail(&response_key(&method), CODE_INVALID, "isv.invalid-biz-content", "biz_content 格式错误"),
    };
    let faults = sim.inner.faults.get();
    let browser = matches!(method.as_str(), "alipay.trade.page.pay" | "alipay.trade.wap.pay");
    if !browser {
        sim.inner.faults.hold_api().await;
        if faults.api_errors {
            return sim.fail(&response_key(&method), CODE_UNKNOWN, "aop.ACQ.SYSTEM_ERROR", "系统繁忙");
        }
    }
    let s = |k: &str| biz.get(k).and_then(Value::as_str).unwrap_or("").to_string();
    let key = response_key(&method);
    let notify_url = p.get("notify_url").cloned().unwrap_or_default();
    let return_url = p.get("return_url").cloned().unwrap_or_default();
    let app_id = p.get("app_id").cloned().unwrap_or_default();
    match method.as_str() {
        "alipay.trade.precreate" | "alipay.trade.page.pay" | "alipay.trade.wap.pay" => {
            let (otn, subject) = (s("out_trade_no"), s("subject"));
            let Some(total) = amount_of(&s("total_amount")) else {
                return sim.fail(&key, CODE_INVALID, "isv.invalid-parameter", "total_amount 格式错误");
            };
            if otn.is_empty() || otn.len() > 64 || subject.is_empty() {
                return sim.fail(&key, CODE_INVALID, "isv.missing-parameter", "缺少 out_trade_no 或 subject");
            }
            let expires_ms = match s("time_expire") {
                t if t.is_empty() => None,
                t => match parse_datetime_cst_ms(&t) {
                    Some(ms) => Some(ms),
                    None => return sim.fail(&key, CODE_INVALID, "isv.invalid-parameter", "time_expire 格式错误"),
                },
            };
            let token = match open_trade(&sim, &app_id, &otn, &subject, total, &notify_url, &return_url, expires_ms) {
                Ok(t) => t,
                Err((sub, msg)) if browser => return cashier_error(&msg, sub),
                Err((sub, msg)) => return sim.fail(&key, CODE_FAILED, sub, &msg),
            };
            if browser {
                return Redirect::to(&format!("/alipay/pay?token={token}")).into_response();
            }
            sim.ok(
                &method,
                fields(&[
                    ("out_trade_no", json!(otn)),
                    ("qr_code", json!(format!("https://qr.alipay.com/bax{token}"))),
                ]),
            )
        }
        "alipay.trade.pay" => trade_pay(&sim, &key, &method, &app_id, &biz, &notify_url),
        "alipay.trade.query" => {
            let Some(t) = find_trade(&sim, &app_id, &s("out_trade_no"), &s("trade_no")) else {
                return sim.fail(&key, CODE_FAILED, "ACQ.TRADE_NOT_EXIST", "交易不存在");
            };
            let t = expire_if_due(&sim, t);
            let delta = faults.amount_delta_fen;
            let mut f = fields(&[
                ("buyer_logon_id", json!(t.buyer)),
                (
                    "buyer_pay_amount",
                    json!(Fen(if t.status == WAIT { 0 } else { t.total_fen + delta }).to_yuan_string()),
                ),
                ("out_trade_no", json!(t.out_trade_no)),
                ("total_amount", json!(Fen(t.total_fen + delta).to_yuan_string())),
                ("trade_no", json!(t.trade_no)),
                ("trade_status", json!(t.status)),
            ]);
            if let Some(paid) = t.paid_ms {
                f.insert("send_pay_date".into(), json!(datetime_cst(paid)));
            }
            sim.ok(&method, f)
        }
        "alipay.trade.close" => {
            let Some(t) = find_trade(&sim, &app_id, &s("out_trade_no"), &s("trade_no")) else {
                return sim.fail(&key, CODE_FAILED, "ACQ.TRADE_NOT_EXIST", "交易不存在");
            };
            if t.status != WAIT {
                return sim.fail(&key, CODE_FAILED, "ACQ.TRADE_STATUS_ERROR", "交易状态不合法");
            }
            set_status(&sim, &t, CLOSED);
            sim.ok(&method, fields(&[("out_trade_no", json!(t.out_trade_no)), ("trade_no", json!(t.trade_no))]))
        }
        "alipay.trade.cancel" => {
            let Some(t) = find_trade(&sim, &app_id, &s("out_trade_no"), &s("trade_no")) else {
                return sim.fail(&key, CODE_FAILED, "ACQ.TRADE_NOT_EXIST", "交易不存在");
            };
            let action = match t.status {
                WAIT => "close",
                SUCCESS if t.refunded_fen == 0 => "refund",
                _ => return sim.fail(&key, CODE_FAILED, "ACQ.TRADE_STATUS_ERROR", "交易状态不合法"),
            };
            set_status(&sim, &t, CLOSED);
            sim.ok(
                &method,
                fields(&[
                    ("action", json!(action)),
                    ("out_trade_no", json!(t.out_trade_no)),
                    ("retry_flag", json!("N")),
                    ("trade_no", json!(t.trade_no)),
                ]),
            )
        }
        "alipay.trade.refund" => refund(&sim, &key, &method, &app_id, &biz),
        "alipay.trade.fastpay.refund.query" => {
            let Some(t) = find_trade(&sim, &app_id, &s("out_trade_no"), &s("trade_no")) else {
                return sim.fail(&key, CODE_FAILED, "ACQ.TRADE_NOT_EXIST", "交易不存在");
            };
            let req_no = if s("out_request_no").is_empty() { t.out_trade_no.clone() } else { s("out_request_no") };
            let found = sim
                .book()
                .refunds
                .get(&(app_id.clone(), t.out_trade_no.clone()))
                .and_then(|v| v.iter().find(|r| r.out_request_no == req_no).cloned());
            let mut f = fields(&[("out_trade_no", json!(t.out_trade_no)), ("trade_no", json!(t.trade_no))]);
            if let Some(r) = found {
                f.insert("out_request_no".into(), json!(r.out_request_no));
                f.insert("refund_amount".into(), json!(Fen(r.amount_fen).to_yuan_string()));
                f.insert("total_amount".into(), json!(Fen(t.total_fen).to_yuan_string()));
                f.insert("refund_status".into(), json!("REFUND_SUCCESS"));
                f.insert("gmt_refund_pay".into(), json!(datetime_cst(r.at_ms)));
            }
            sim.ok(&method, f)
        }
        "alipay.data.dataservice.bill.downloadurl.query" => {
            let date = s("bill_date");
            if s("bill_type") != "trade" {
                return sim.fail(&key, CODE_INVALID, "isv.invalid-parameter", "bill_type 仅支持 trade");
            }
            let Some(day_ms) = bursar_domain::time_fmt::parse_date_cst_ms(&date) else {
                return sim.fail(&key, CODE_INVALID, "isv.invalid-parameter", "bill_date 格式错误");
            };
            if day_ms > sim.now() {
                return sim.fail(&key, CODE_FAILED, "isp.bill_not_exist", "账单不存在");
            }
            let zip = match make_bill(&sim, &app_id, &date, day_ms) {
                Ok(z) => z,
                Err(e) => return sim.fail(&key, CODE_UNKNOWN, "isp.unknow-error", &e.to_string()),
            };
            let token = random_alnum(24);
            sim.book().bills.insert(token.clone(), zip);
            sim.ok(&method, fields(&[("bill_download_url", json!(format!("http://{host}/alipay/bill?token={token}")))]))
        }
        _ => sim.fail("error_response", CODE_INVALID, "isv.invalid-method", "不存在的方法名"),
    }
}

#[allow(clippy::too_many_arguments)]
fn open_trade(
    sim: &AlipaySimulator,
    app_id: &str,
    otn: &str,
    subject: &str,
    total: i64,
    notify_url: &str,
    return_url: &str,
    expires_ms: Option<i64>,
) -> Result<String, (&'static str, String)> {
    let now = sim.now();
    let mut book = sim.book();
    let key = (app_id.to_string(), otn.to_string());
    if let Some(t) = book.trades.get(&key) {
        return match t.status {
            SUCCESS => Err(("ACQ.TRADE_HAS_SUCCESS", "交易已被支付".into())),
            CLOSED => Err(("ACQ.TRADE_HAS_CLOSE", "交易已经关闭".into())),
            _ if t.total_fen != total || t.subject != subject => {
                Err(("ACQ.CONTEXT_INCONSISTENT", "交易信息被篡改".into()))
            }
            _ => Ok(t.token.clone()),
        };
    }
    book.seq += 1;
    let trade_no = format!("{}2200{:010}", date_cst(now).replace('-', ""), book.seq);
    let token = random_alnum(20);
    book.by_token.insert(token.clone(), key.clone());
    book.by_trade_no.insert(trade_no.clone(), key.clone());
    book.trades.insert(
        key,
        Trade {
            app_id: app_id.to_string(),
            out_trade_no: otn.to_string(),
            trade_no,
            subject: subject.to_string(),
            total_fen: total,
            status: WAIT,
            notify_url: notify_url.to_string(),
            return_url: return_url.to_string(),
            created_ms: now,
            paid_ms: None,
            expires_ms,
            token: token.clone(),
            refunded_fen: 0,
            buyer: format!("{}***@sandbox.com", random_alnum(3).to_lowercase()),
        },
    );
    Ok(token)
}

fn find_trade(sim: &AlipaySimulator, app_id: &str, otn: &str, trade_no: &str) -> Option<Trade> {
    let book = sim.book();
    let key =
        if !otn.is_empty() { (app_id.to_string(), otn.to_string()) } else { book.by_trade_no.get(trade_no)?.clone() };
    book.trades.get(&key).filter(|t| t.app_id == app_id).cloned()
}

/// An unpaid trade past its `time_expire` is closed, as Alipay does.
fn expire_if_due(sim: &AlipaySimulator, t: Trade) -> Trade {
    if t.status == WAIT && t.expires_ms.is_some_and(|e| e <= sim.now()) {
        set_status(sim, &t, CLOSED);
        return Trade { status: CLOSED, ..t };
    }
    t
}

fn set_status(sim: &AlipaySimulator, t: &Trade, status: &'static str) {
    if let Some(x) = sim.book().trades.get_mut(&(t.app_id.clone(), t.out_trade_no.clone())) {
        x.status = status;
    }
}

fn trade_pay(
    sim: &AlipaySimulator,
    key: &str,
    method: &str,
    app_id: &str,
    biz: &Map<String, Value>,
    notify_url: &str,
) -> Response {
    let s = |k: &str| biz.get(k).and_then(Value::as_str).unwrap_or("").to_string();
    let code = s("auth_code");
    let format_ok = (16..=24).contains(&code.len())
        && code.chars().all(|c| c.is_ascii_digit())
        && code.get(..2).and_then(|p| p.parse::<u8>().ok()).is_some_and(|p| (25..=30).contains(&p));
    if s("scene") != "bar_code" {
        return sim.fail(key, CODE_INVALID, "isv.invalid-parameter", "scene 仅支持 bar_code");
    }
    let needs_confirm = match sim.book().codes.remove(&code) {
        Some(n) if format_ok => n,
        _ => {
            return sim.fail(
                key,
                CODE_FAILED,
                "ACQ.PAYMENT_AUTH_CODE_INVALID",
                "支付失败，获取顾客账户信息失败，请顾客刷新付款码后重新收款",
            )
        }
    };
    let Some(total) = amount_of(&s("total_amount")) else {
        return sim.fail(key, CODE_INVALID, "isv.invalid-parameter", "total_amount 格式错误");
    };
    if let Err((sub, msg)) = open_trade(sim, app_id, &s("out_trade_no"), &s("subject"), total, notify_url, "", None) {
        return sim.fail(key, CODE_FAILED, sub, &msg);
    }
    if needs_confirm {
        let t = find_trade(sim, app_id, &s("out_trade_no"), "");
        let trade_no = t.map(|t| t.trade_no).unwrap_or_default();
        return sim.answer(
            key,
            &json!({"code": CODE_WAITING, "msg": "Waiting for user to pay", "out_trade_no": s("out_trade_no"), "trade_no": trade_no}),
        );
    }
    if let Err(e) = sim.confirm(app_id, &s("out_trade_no"), true) {
        return sim.fail(key, CODE_FAILED, "ACQ.TRADE_STATUS_ERROR", &e);
    }
    let Some(t) = find_trade(sim, app_id, &s("out_trade_no"), "") else {
        return sim.fail(key, CODE_UNKNOWN, "ACQ.SYSTEM_ERROR", "系统错误");
    };
    sim.ok(
        method,
        fields(&[
            ("buyer_logon_id", json!(t.buyer)),
            ("gmt_payment", json!(datetime_cst(t.paid_ms.unwrap_or(t.created_ms)))),
            ("out_trade_no", json!(t.out_trade_no)),
            ("receipt_amount", json!(Fen(t.total_fen).to_yuan_string())),
            ("total_amount", json!(Fen(t.total_fen).to_yuan_string())),
            ("trade_no", json!(t.trade_no)),
        ]),
    )
}

fn refund(sim: &AlipaySimulator, key: &str, method: &str, app_id: &str, biz: &Map<String, Value>) -> Response {
    let s = |k: &str| biz.get(k).and_then(Value::as_str).unwrap_or("").to_string();
    let Some(t) = find_trade(sim, app_id, &s("out_trade_no"), &s("trade_no")) else {
        return sim.fail(key, CODE_FAILED, "ACQ.TRADE_NOT_EXIST", "交易不存在");
    };
    let Some(amount) = amount_of(&s("refund_amount")) else {
        return sim.fail(key, CODE_INVALID, "isv.invalid-parameter", "refund_amount 格式错误");
    };
    let req_no = if s("out_request_no").is_empty() { t.out_trade_no.clone() } else { s("out_request_no") };
    let rkey = (app_id.to_string(), t.out_trade_no.clone());
    let now = sim.now();
    let done = |sim: &AlipaySimulator, refunded: i64, fund_change: &str| {
        sim.ok(
            method,
            fields(&[
                ("buyer_logon_id", json!(t.buyer)),
                ("fund_change", json!(fund_change)),
                ("gmt_refund_pay", json!(datetime_cst(now))),
                ("out_trade_no", json!(t.out_trade_no)),
                ("refund_fee", json!(Fen(refunded).to_yuan_string())),
                ("trade_no", json!(t.trade_no)),
            ]),
        )
    };
    let existing = sim.book().refunds.get(&rkey).and_then(|v| v.iter().find(|r| r.out_request_no == req_no).cloned());
    if let Some(r) = existing {
        if r.amount_fen != amount {
            return sim.fail(key, CODE_FAILED, "ACQ.REQUEST_AMOUNT_EXCEED", "同一退款请求号的金额不一致");
        }
        return done(sim, t.refunded_fen, "N");
    }
    if t.status != SUCCESS {
        return sim.fail(key, CODE_FAILED, "ACQ.TRADE_STATUS_ERROR", "交易状态不合法");
    }
    if sim.inner.faults.get().refunds_fail {
        return sim.fail(key, CODE_FAILED, "ACQ.SELLER_BALANCE_NOT_ENOUGH", "卖家余额不足");
    }
    if t.refunded_fen + amount > t.total_fen {
        return sim.fail(key, CODE_FAILED, "ACQ.REFUND_AMT_NOT_EQUAL_TOTAL", "退款金额超限");
    }
    let r = SimRefund { out_request_no: req_no, amount_fen: amount, at_ms: now };
    let updated = {
        let mut book = sim.book();
        book.refunds.entry(rkey.clone()).or_default().push(r.clone());
        let Some(x) = book.trades.get_mut(&rkey) else {
            return sim.fail(key, CODE_UNKNOWN, "ACQ.SYSTEM_ERROR", "系统错误");
        };
        x.refunded_fen += amount;
        if x.refunded_fen == x.total_fen {
            x.status = CLOSED;
        }
        x.clone()
    };
    sim.spawn_delivery(updated.clone(), Some(r));
    done(sim, updated.refunded_fen, "Y")
}

fn make_bill(sim: &AlipaySimulator, app_id: &str, date: &str, day_ms: i64) -> Result<Vec<u8>, ChannelError> {
    let end = day_ms + 86_400_000;
    let book = sim.book();
    let mut rows = Vec::new();
    let mut trades: Vec<&Trade> = book
        .trades
        .values()
        .filter(|t| t.app_id == app_id && t.paid_ms.is_some_and(|p| p >= day_ms && p < end))
        .collect();
    trades.sort_by_key(|t| (t.paid_ms, t.trade_no.clone()));
    for t in trades {
        rows.push(BillRow {
            trade_no: t.trade_no.clone(),
            out_trade_no: t.out_trade_no.clone(),
            kind: BillKind::Trade,
            subject: t.subject.clone(),
            created: datetime_cst(t.created_ms),
            finished: datetime_cst(t.paid_ms.unwrap_or(t.created_ms)),
            buyer: t.buyer.clone(),
            order_fen: t.total_fen,
            received_fen: t.total_fen,
            refund_request_no: String::new(),
            fee_fen: -((t.total_fen * 6 + 500) / 1000),
        });
    }
    for ((app, otn), refunds) in &book.refunds {
        let Some(t) = book.trades.get(&(app.clone(), otn.clone())).filter(|_| app == app_id) else { continue };
        for r in refunds.iter().filter(|r| r.at_ms >= day_ms && r.at_ms < end) {
            rows.push(BillRow {
                trade_no: t.trade_no.clone(),
                out_trade_no: t.out_trade_no.clone(),
                kind: BillKind::Refund,
                subject: t.subject.clone(),
                created: datetime_cst(t.created_ms),
                finished: datetime_cst(r.at_ms),
                buyer: t.buyer.clone(),
                order_fen: -r.amount_fen,
                received_fen: -r.amount_fen,
                refund_request_no: r.out_request_no.clone(),
                fee_fen: (r.amount_fen * 6 + 500) / 1000,
            });
        }
    }
    drop(book);
    let bill = AlipayBill::new(&format!("{}0156", sim.inner.sandbox.seller_id), rows);
    bill.to_zip(date, &datetime_cst(sim.now()))
}

async fn bill_download(State(sim): State<AlipaySimulator>, Query(q): Query<HashMap<String, String>>) -> Response {
    let token = q.get("token").cloned().unwrap_or_default();
    match sim.book().bills.get(&token).cloned() {
        Some(zip) => ([("content-type", "application/zip")], zip).into_response(),
        None => (StatusCode::NOT_FOUND, "bill not found").into_response(),
    }
}

// ---- payer-facing pages -------------------------------------------------------------------

const STYLE: &str = "body{font-family:system-ui,'Noto Sans CJK SC',sans-serif;margin:0;background:#f5f5f5;color:#111}\
header{background:#1677ff;color:#fff;padding:14px 16px;font-size:1.1em}main{padding:16px;max-width:480px;margin:auto}\
.card{background:#fff;border-radius:8px;padding:16px;margin-bottom:12px}.amount{font-size:2em;font-weight:600;text-align:center;margin:12px 0}\
.muted{color:#555;font-size:.9em}button{font-size:1.05em;padding:12px;border-radius:6px;border:0;width:100%;margin-top:8px}\
.ok{background:#1677ff;color:#fff}.no{background:#e5e5e5;color:#111}textarea,input{width:100%;box-sizing:border-box;font-size:1em;padding:8px}\
.code{font-family:monospace;font-size:1.4em;letter-spacing:2px;text-align:center}.qr{text-align:center}.qr svg{width:200px;height:200px}";

fn page(title: &str, body: &str) -> Html<String> {
    Html(format!(
        "<!doctype html><html lang=\"zh-CN\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">\
         <title>{t} · 支付宝（模拟器）</title><style>{STYLE}</style></head><body><header>支付宝 · 模拟器</header><main>{body}</main></body></html>",
        t = html_escape(title)
    ))
}

fn cashier_error(msg: &str, code: &str) -> Response {
    (
        StatusCode::BAD_REQUEST,
        page(
            "错误",
            &format!(
                "<div class=\"card\"><p>{}</p><p class=\"muted\">{}</p></div>",
                html_escape(msg),
                html_escape(code)
            ),
        ),
    )
        .into_response()
}

fn token_from(text: &str) -> String {
    let t = text.trim();
    let t = t.rsplit_once("bax").map(|(_, r)| r).or_else(|| t.rsplit_once("token=").map(|(_, r)| r)).unwrap_or(t);
    t.chars().take_while(|c| c.is_ascii_alphanumeric()).collect()
}

async fn scan_page(State(sim): State<AlipaySimulator>) -> Html<String> {
    let book = sim.book();
    let mut open: Vec<&Trade> = book.trades.values().filter(|t| t.status == WAIT).collect();
    open.sort_by_key(|t| std::cmp::Reverse(t.created_ms));
    let items: String = open
        .iter()
        .take(20)
        .map(|t| {
            format!(
                "<li><a href=\"/alipay/pay?token={}\">{}</a> ¥{}</li>",
                html_escape(&t.token),
                html_escape(&t.subject),
                Fen(t.total_fen)
            )
        })
        .collect();
    drop(book);
    page(
        "扫一扫",
        &format!(
            "<div class=\"card\"><form method=\"get\" action=\"/alipay/pay\"><label for=\"qr\">扫一扫：粘贴二维码内容（https://qr.alipay.com/…）</label>\
             <textarea id=\"qr\" name=\"qr\" rows=\"3\"></textarea><button class=\"ok\" type=\"submit\">识别</button></form></div>\
             <div class=\"card\"><div class=\"muted\">待支付交易</div><ul>{items}</ul></div>"
        ),
    )
}

#[derive(Deserialize)]
struct PayQuery {
    token: Option<String>,
    qr: Option<String>,
}

async fn pay_page(State(sim): State<AlipaySimulator>, Query(q): Query<PayQuery>) -> Response {
    let token = token_from(q.token.as_deref().or(q.qr.as_deref()).unwrap_or(""));
    let found = {
        let book = sim.book();
        book.by_token.get(&token).and_then(|k| book.trades.get(k)).cloned()
    };
    let Some(t) = found else {
        return (StatusCode::NOT_FOUND, page("交易不存在", "<div class=\"card\">交易不存在。</div>")).into_response();
    };
    let t = expire_if_due(&sim, t);
    let status = match t.status {
        WAIT => format!(
            "<form method=\"post\" action=\"/alipay/pay\"><input type=\"hidden\" name=\"token\" value=\"{tok}\">\
             <button class=\"ok\" name=\"action\" value=\"confirm\" type=\"submit\">确认付款</button>\
             <button class=\"no\" name=\"action\" value=\"decline\" type=\"submit\">取消</button></form>",
            tok = html_escape(&t.token)
        ),
        SUCCESS => "<p><strong>付款成功</strong></p>".into(),
        _ => "<p>交易已关闭</p>".into(),
    };
    let qr = format!("https://qr.alipay.com/bax{}", t.token);
    page(
        "付款",
        &format!(
            "<div class=\"card\"><div class=\"muted\">收款方</div><div>{m}</div><div class=\"muted\">{s}</div>\
             <div class=\"amount\">¥{a}</div>{status}</div><div class=\"card qr\">{svg}</div>",
            m = html_escape(&sim.inner.sandbox.merchant_name),
            s = html_escape(&t.subject),
            a = Fen(t.total_fen),
            svg = qr_svg(&qr),
        ),
    )
    .into_response()
}

#[derive(Deserialize)]
struct PayChoice {
    token: String,
    action: String,
}

/// The synchronous return to the merchant's `return_url`, signed like a notification.
fn return_url_for(sim: &AlipaySimulator, t: &Trade) -> Option<String> {
    if t.return_url.is_empty() {
        return None;
    }
    let mut p = BTreeMap::new();
    p.insert("app_id".to_string(), t.app_id.clone());
    p.insert("charset".to_string(), "utf-8".to_string());
    p.insert("method".to_string(), "alipay.trade.page.pay.return".to_string());
    p.insert("out_trade_no".to_string(), t.out_trade_no.clone());
    p.insert("seller_id".to_string(), sim.inner.sandbox.seller_id.clone());
    p.insert("sign_type".to_string(), "RSA2".to_string());
    p.insert("timestamp".to_string(), datetime_cst(sim.now()));
    p.insert("total_amount".to_string(), Fen(t.total_fen).to_yuan_string());
    p.insert("trade_no".to_string(), t.trade_no.clone());
    p.insert("version".to_string(), "1.0".to_string());
    let sign = sim.sign(&notify_sign_content(&p));
    p.insert("sign".to_string(), sign);
    let sep = if t.return_url.contains('?') { '&' } else { '?' };
    Some(format!("{}{sep}{}", t.return_url, encode_form(&p)))
}

async fn pay_action(State(sim): State<AlipaySimulator>, Form(f): Form<PayChoice>) -> Response {
    let found = {
        let book = sim.book();
        book.by_token.get(&token_from(&f.token)).and_then(|k| book.trades.get(k)).cloned()
    };
    let Some(t) = found else {
        return (StatusCode::NOT_FOUND, page("交易不存在", "<div class=\"card\">交易不存在。</div>")).into_response();
    };
    match f.action.as_str() {
        "confirm" => match sim.confirm(&t.app_id, &t.out_trade_no, true) {
            Ok(()) => {
                let paid = Trade { status: SUCCESS, ..t };
                if let Some(url) = return_url_for(&sim, &paid) {
                    return Redirect::to(&url).into_response();
                }
                page(
                    "付款成功",
                    &format!("<div class=\"card\"><div class=\"amount\">¥{}</div><p style=\"text-align:center\"><strong>付款成功</strong></p></div>", Fen(paid.total_fen)),
                )
                .into_response()
            }
            Err(msg) => {
                (StatusCode::CONFLICT, page("无法付款", &format!("<div class=\"card\">{}</div>", html_escape(&msg))))
                    .into_response()
            }
        },
        "decline" if !t.return_url.is_empty() => Redirect::to(&t.return_url).into_response(),
        "decline" => page("已取消", "<div class=\"card\">已取消付款。</div>").into_response(),
        _ => (StatusCode::BAD_REQUEST, page("无效操作", "<div class=\"card\">无效操作。</div>")).into_response(),
    }
}

async fn paycode_page(State(sim): State<AlipaySimulator>) -> Html<String> {
    let waiting: String = {
        let book = sim.book();
        let mut w: Vec<&Trade> = book.trades.values().filter(|t| t.status == WAIT).collect();
        w.sort_by_key(|t| std::cmp::Reverse(t.created_ms));
        w.iter()
            .take(10)
            .map(|t| {
                format!(
                    "<li><a href=\"/alipay/pay?token={}\">{}</a> ¥{}</li>",
                    html_escape(&t.token),
                    html_escape(&t.subject),
                    Fen(t.total_fen)
                )
            })
            .collect()
    };
    page(
        "付款码",
        &format!(
            "<div class=\"card\"><p>生成付款码，交给收银员扫描（模拟）。</p><form method=\"post\" action=\"/alipay/paycode\">\
             <label><input type=\"checkbox\" name=\"confirm\" value=\"1\" style=\"width:auto\"> 需要在手机上确认（大额）</label>\
             <button class=\"ok\" type=\"submit\">生成付款码</button></form></div><div class=\"card\"><div class=\"muted\">待确认</div><ul>{waiting}</ul></div>"
        ),
    )
}

#[derive(Deserialize)]
struct NewCode {
    #[serde(default)]
    confirm: Option<String>,
}

async fn paycode_new(State(sim): State<AlipaySimulator>, Form(f): Form<NewCode>) -> Response {
    let code = sim.new_payment_code(f.confirm.is_some());
    page(
        "付款码",
        &format!(
            "<div class=\"card\"><div class=\"muted\">付款码（约 1 分钟内有效）</div><div class=\"code\" id=\"paycode\">{c}</div><div class=\"qr\">{svg}</div></div>",
            c = html_escape(&code),
            svg = qr_svg(&code)
        ),
    )
    .into_response()
}
