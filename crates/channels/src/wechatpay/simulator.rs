//! The WeChat Pay API v3 server side, for offline use and tests. It verifies merchant request
//! signatures exactly as WeChat Pay does (401 SIGN_ERROR otherwise), signs every response with
//! the platform key (including 204s), keeps its own transactions, serves a payer-facing "phone"
//! page to confirm or decline a QR payment, and delivers AES-256-GCM encrypted, signed
//! notifications on WeChat Pay's retry schedule.

// Handlers answer errors as ready-made signed responses, as WeChat Pay does.
#![allow(clippy::result_large_err)]

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{OriginalUri, Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Form, Router};
use bursar_domain::time_fmt::{parse_rfc3339_ms, rfc3339_cst};
use bursar_domain::{Clock, Fen};
use serde::Deserialize;

use super::protocol::*;
#[allow(unused_imports)]
use super::protocol::{Refund, RefundAmount, RefundRequestBody, RefundResource};
use super::sandbox::Sandbox;
use super::v2;
use crate::crypto::{aes256gcm_encrypt, random_alnum, RsaSigner, RsaVerifier};
use crate::faults::Faults;
use crate::{html_escape, qr_svg, ChannelError};
use std::collections::BTreeMap;

#[derive(Clone, Debug)]
struct SimTxn {
    appid: String,
    mchid: String,
    out_trade_no: String,
    description: String,
    amount_fen: i64,
    notify_url: String,
    attach: Option<String>,
    expires_at_ms: Option<i64>,
    trade_state: &'static str,
    transaction_id: Option<String>,
    success_time_ms: Option<i64>,
    pr: String,
    openid: String,
    /// NATIVE, JSAPI or H5.
    trade_type: &'static str,
}

impl SimTxn {
    fn to_wire(&self) -> Transaction {
        let paid = self.transaction_id.is_some();
        Transaction {
            appid: self.appid.clone(),
            mchid: self.mchid.clone(),
            out_trade_no: self.out_trade_no.clone(),
            transaction_id: self.transaction_id.clone(),
            trade_type: Some(self.trade_type.into()),
            trade_state: self.trade_state.to_string(),
            trade_state_desc: match self.trade_state {
                "SUCCESS" => "支付成功",
                "NOTPAY" => "未支付",
                "CLOSED" => "已关闭",
                "PAYERROR" => "支付失败",
                _ => "",
            }
            .to_string(),
            bank_type: paid.then(|| "OTHERS".to_string()),
            attach: self.attach.clone(),
            success_time: self.success_time_ms.map(rfc3339_cst),
            payer: paid.then(|| Payer { openid: self.openid.clone() }),
            amount: Some(TransactionAmount {
                total: Some(self.amount_fen),
                payer_total: paid.then_some(self.amount_fen),
                currency: Some("CNY".into()),
                payer_currency: Some("CNY".into()),
            }),
            promotion_detail: Vec::new(),
        }
    }
}

#[derive(Clone, Debug)]
struct SimRefund {
    refund_id: String,
    out_refund_no: String,
    out_trade_no: String,
    transaction_id: String,
    refund_fen: i64,
    total_fen: i64,
    status: &'static str,
    created_ms: i64,
    success_ms: Option<i64>,
    notify_url: Option<String>,
}

impl SimRefund {
    fn to_wire(&self) -> Refund {
        Refund {
            refund_id: self.refund_id.clone(),
            out_refund_no: self.out_refund_no.clone(),
            transaction_id: self.transaction_id.clone(),
            out_trade_no: self.out_trade_no.clone(),
            channel: Some("ORIGINAL".into()),
            user_received_account: Some("支付用户零钱".into()),
            success_time: self.success_ms.map(rfc3339_cst),
            create_time: rfc3339_cst(self.created_ms),
            status: self.status.to_string(),
            amount: RefundAmount {
                total: self.total_fen,
                refund: self.refund_fen,
                payer_total: Some(self.total_fen),
                payer_refund: Some(self.refund_fen),
                currency: Some("CNY".into()),
            },
        }
    }
}

#[derive(Default)]
struct Book {
    /// Bill files by download token.
    bills: HashMap<String, Vec<u8>>,
    refunds: HashMap<(String, String), SimRefund>,
    txns: HashMap<(String, String), SimTxn>,
    by_pr: HashMap<String, (String, String)>,
    by_tid: HashMap<String, (String, String)>,
    /// Payment codes shown on payers' phones: code → the payer must confirm (password).
    codes: HashMap<String, bool>,
    seq: u64,
}

struct Inner {
    sandbox: Sandbox,
    merchant_verifier: RsaVerifier,
    platform_signer: RsaSigner,
    book: Mutex<Book>,
    http: reqwest::Client,
    clock: Arc<dyn Clock>,
    /// Multiplies the notification retry delays (1.0 = WeChat Pay's real schedule).
    retry_scale: f64,
    /// How long a refund stays PROCESSING before the channel settles it.
    refund_delay_ms: std::sync::atomic::AtomicU64,
    /// Fault switches (`/_faults/wechatpay`).
    faults: Faults,
}

/// The simulator; `router()` is served on its own listener so request paths are exactly `/v3/…`.
#[derive(Clone)]
pub struct WechatPaySimulator {
    inner: Arc<Inner>,
}

type ApiResult = Result<Response, Response>;

impl WechatPaySimulator {
    pub fn new(sandbox: Sandbox, clock: Arc<dyn Clock>) -> Result<WechatPaySimulator, ChannelError> {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .build()
            .map_err(|e| ChannelError::Config(e.to_string()))?;
        Ok(WechatPaySimulator {
            inner: Arc::new(Inner {
                merchant_verifier: RsaVerifier::from_spki_pem(&sandbox.merchant_public_key_pem)?,
                platform_signer: RsaSigner::from_pkcs8_pem(&sandbox.platform_private_key_pem)?,
                sandbox,
                book: Mutex::new(Book::default()),
                http,
                clock,
                retry_scale: 1.0,
                refund_delay_ms: std::sync::atomic::AtomicU64::new(2_000),
                faults: Faults::default(),
            }),
        })
    }

    /// Scales notification retry delays (tests use a small factor).
    pub fn with_retry_scale(self, scale: f64) -> WechatPaySimulator {
        let inner = Arc::try_unwrap(self.inner).map(|mut i| {
            i.retry_scale = scale;
            Arc::new(i)
        });
        match inner {
            Ok(inner) => WechatPaySimulator { inner },
            Err(inner) => WechatPaySimulator { inner },
        }
    }

    pub fn router(&self) -> Router {
        Router::new()
            .route("/", get(|| async { Redirect::to("/phone") }))
            .route("/pay/micropay", post(micropay))
            .route("/pay/orderquery", post(orderquery))
            .route("/secapi/pay/reverse", post(reverse))
            .route("/phone/paycode", get(paycode_page).post(paycode_new))
            .route("/v3/pay/transactions/native", post(native))
            .route("/v3/pay/transactions/jsapi", post(jsapi))
            .route("/v3/pay/transactions/h5", post(h5))
            .route("/phone/jsapi", post(phone_jsapi))
            .route("/v3/pay/transactions/out-trade-no/{out_trade_no}", get(query_by_out_trade_no))
            .route("/v3/pay/transactions/id/{transaction_id}", get(query_by_id))
            .route("/v3/pay/transactions/out-trade-no/{out_trade_no}/close", post(close))
            .route("/v3/refund/domestic/refunds", post(create_refund))
            .route("/v3/refund/domestic/refunds/{out_refund_no}", get(query_refund))
            .route("/v3/bill/tradebill", get(trade_bill))
            .route("/v3/billdownload/file", get(download_bill))
            .route("/phone", get(phone_home))
            .route("/phone/pay", get(phone_pay_page).post(phone_pay_action))
            .layer(axum::middleware::from_fn_with_state(self.clone(), api_faults))
            .with_state(self.clone())
            .merge(crate::faults::router(self.inner.faults.clone(), "/_faults/wechatpay"))
    }

    /// Fault switch: from now on refunds end ABNORMAL (true) or SUCCESS (false).
    pub fn set_refunds_fail(&self, fail: bool) {
        self.inner.faults.update(|f| f.refunds_fail = fail);
    }

    pub fn faults(&self) -> &Faults {
        &self.inner.faults
    }

    /// A transaction as the API reports it (an injected amount fault applied).
    fn wire(&self, t: &SimTxn) -> Transaction {
        let mut w = t.to_wire();
        let delta = self.inner.faults.get().amount_delta_fen;
        if let Some(a) = w.amount.as_mut() {
            a.total = a.total.map(|x| x + delta);
            a.payer_total = a.payer_total.map(|x| x + delta);
        }
        w
    }

    /// How long refunds stay PROCESSING.
    pub fn set_refund_delay_ms(&self, ms: u64) {
        self.inner.refund_delay_ms.store(ms, std::sync::atomic::Ordering::SeqCst);
    }

    /// The current WeChat-side state of a payment (`SUCCESS`, `NOTPAY`, …), for tests.
    pub fn trade_state(&self, mchid: &str, out_trade_no: &str) -> Option<String> {
        self.book().txns.get(&(mchid.to_string(), out_trade_no.to_string())).map(|t| t.trade_state.to_string())
    }

    fn book(&self) -> std::sync::MutexGuard<'_, Book> {
        match self.inner.book.lock() {
            Ok(g) => g,
            Err(poisoned) => poisoned.into_inner(),
        }
    }

    fn now_ms(&self) -> i64 {
        self.inner.clock.now_ms()
    }

    /// Signs a response the way WeChat Pay does: TIMESTAMP\nNONCE\nBODY\n with the platform key.
    fn signed(&self, status: StatusCode, body: Vec<u8>) -> Response {
        let ts = (self.now_ms() / 1000).to_string();
        let nonce = random_alnum(32);
        let signature =
            self.inner.platform_signer.sign_base64(&response_message(&ts, &nonce, &body)).unwrap_or_default();
        let mut resp = (status, body).into_response();
        let h = resp.headers_mut();
        let mut put = |name: &'static str, value: &str| {
            if let Ok(v) = HeaderValue::from_str(value) {
                h.insert(name, v);
            }
        };
        put(HEADER_TIMESTAMP, &ts);
        put(HEADER_NONCE, &nonce);
        put(HEADER_SIGNATURE, &signature);
        put(HEADER_SERIAL, &self.inner.sandbox.platform_public_key_id);
        put(HEADER_SIGNATURE_TYPE, SIGNATURE_TYPE);
        put(HEADER_REQUEST_ID, &uuid::Uuid::new_v4().simple().to_string());
        if status != StatusCode::NO_CONTENT {
            put("content-type", "application/json; charset=utf-8");
        }
        resp
    }

    fn error(&self, status: StatusCode, code: &str, message: &str) -> Response {
        let body = serde_json::to_vec(&ErrorBody { code: code.into(), message: message.into() }).unwrap_or_default();
        self.signed(status, body)
    }

    fn json<T: serde::Serialize>(&self, value: &T) -> Response {
        match serde_json::to_vec(value) {
            Ok(b) => self.signed(StatusCode::OK, b),
            Err(_) => self.error(StatusCode::INTERNAL_SERVER_ERROR, "SYSTEM_ERROR", "系统错误"),
        }
    }

    /// Verifies the merchant's request signature; returns the authenticated mchid.
    fn authenticate(
        &self,
        method: &Method,
        uri: &OriginalUri,
        headers: &HeaderMap,
        body: &[u8],
    ) -> Result<String, Response> {
        let sign_error = |msg: &str| self.error(StatusCode::UNAUTHORIZED, "SIGN_ERROR", msg);
        let auth = headers
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .ok_or_else(|| sign_error("缺少 Authorization 头"))?;
        let parts = parse_authorization(auth).map_err(|e| sign_error(&format!("Authorization 格式错误：{e}")))?;
        let s = &self.inner.sandbox;
        if parts.mchid != s.mchid {
            return Err(sign_error("商户号不存在"));
        }
        if parts.serial_no != s.merchant_serial_no {
            return Err(sign_error("商户证书序列号有误"));
        }
        let ts: i64 = parts.timestamp.parse().map_err(|_| sign_error("时间戳格式错误"))?;
        if (self.now_ms() / 1000 - ts).abs() > MAX_CLOCK_SKEW_SECS {
            return Err(sign_error("请求已过期"));
        }
        let path = uri.0.path_and_query().map(|p| p.as_str()).unwrap_or("/");
        let message = request_message(method.as_str(), path, &parts.timestamp, &parts.nonce_str, body);
        if !self.inner.merchant_verifier.verify_base64(&message, &parts.signature) {
            return Err(sign_error("签名错误"));
        }
        Ok(parts.mchid)
    }

    /// The payer confirms a QR payment on the phone. With `notify` the merchant is notified (as
    /// WeChat Pay does); without, the notification is lost — a dropped payment (掉单) that only an
    /// active query recovers. Returns the merchant order number.
    pub fn confirm_payment(&self, pr_or_code_url: &str, notify: bool) -> Result<String, String> {
        let pr = pr_from(pr_or_code_url).ok_or("无法识别该二维码")?;
        let txn = self.confirm(&pr)?;
        let no = txn.out_trade_no.clone();
        if notify {
            self.spawn_notify(txn);
        }
        Ok(no)
    }

    /// The current WeChat-side transaction, as a query would return it (tests).
    pub fn transaction(&self, mchid: &str, out_trade_no: &str) -> Option<Transaction> {
        self.book().txns.get(&(mchid.to_string(), out_trade_no.to_string())).map(SimTxn::to_wire)
    }

    fn confirm(&self, pr: &str) -> Result<SimTxn, String> {
        let now = self.now_ms();
        let mut book = self.book();
        let key = book.by_pr.get(pr).cloned().ok_or("订单不存在")?;
        book.seq += 1;
        let seq = book.seq;
        let txn = book.txns.get_mut(&key).ok_or("订单不存在")?;
        match txn.trade_state {
            "NOTPAY" | "USERPAYING" => {}
            "SUCCESS" => return Err("该订单已支付".into()),
            _ => return Err("该订单已关闭".into()),
        }
        if txn.expires_at_ms.is_some_and(|e| now > e) {
            return Err("订单已过期".into());
        }
        txn.trade_state = "SUCCESS";
        txn.transaction_id =
            Some(format!("4200{}{:016}", bursar_domain::time_fmt::date_cst(now).replace('-', ""), seq));
        txn.success_time_ms = Some(now);
        let out = txn.clone();
        if let Some(tid) = out.transaction_id.clone() {
            book.by_tid.insert(tid, key);
        }
        Ok(out)
    }

    /// Builds the signed, encrypted TRANSACTION.SUCCESS notification body and headers.
    pub fn notification_for(&self, txn_wire: &Transaction) -> Result<(Vec<u8>, HeaderMap), ChannelError> {
        let plain = serde_json::to_vec(txn_wire).map_err(|e| ChannelError::Protocol(e.to_string()))?;
        self.envelope("TRANSACTION.SUCCESS", "transaction", "支付成功", &plain)
    }

    /// Builds the signed, encrypted REFUND.* notification of a refund.
    pub fn refund_notification_for(
        &self,
        mchid: &str,
        out_refund_no: &str,
    ) -> Result<(Vec<u8>, HeaderMap), ChannelError> {
        let r = self
            .book()
            .refunds
            .get(&(mchid.to_string(), out_refund_no.to_string()))
            .cloned()
            .ok_or_else(|| ChannelError::Protocol("no such refund".into()))?;
        let resource = RefundResource {
            mchid: mchid.to_string(),
            out_trade_no: r.out_trade_no.clone(),
            transaction_id: r.transaction_id.clone(),
            out_refund_no: r.out_refund_no.clone(),
            refund_id: r.refund_id.clone(),
            refund_status: r.status.to_string(),
            success_time: r.success_ms.map(rfc3339_cst),
            user_received_account: Some("支付用户零钱".into()),
            amount: r.to_wire().amount,
        };
        let plain = serde_json::to_vec(&resource).map_err(|e| ChannelError::Protocol(e.to_string()))?;
        let (event, summary) = match r.status {
            "SUCCESS" => ("REFUND.SUCCESS", "退款成功"),
            "CLOSED" => ("REFUND.CLOSED", "退款关闭"),
            _ => ("REFUND.ABNORMAL", "退款异常"),
        };
        self.envelope(event, "refund", summary, &plain)
    }

    fn envelope(
        &self,
        event_type: &str,
        original_type: &str,
        summary: &str,
        plain: &[u8],
    ) -> Result<(Vec<u8>, HeaderMap), ChannelError> {
        let nonce = random_alnum(12);
        let aad = original_type;
        let ciphertext =
            aes256gcm_encrypt(self.inner.sandbox.apiv3_key.as_bytes(), nonce.as_bytes(), aad.as_bytes(), plain)?;
        let note = Notification {
            id: uuid::Uuid::new_v4().to_string(),
            create_time: rfc3339_cst(self.now_ms()),
            event_type: event_type.into(),
            resource_type: "encrypt-resource".into(),
            summary: summary.into(),
            resource: EncryptedResource {
                original_type: original_type.into(),
                algorithm: "AEAD_AES_256_GCM".into(),
                ciphertext,
                associated_data: Some(aad.into()),
                nonce,
            },
        };
        let body = serde_json::to_vec(&note).map_err(|e| ChannelError::Protocol(e.to_string()))?;
        let resp = self.signed(StatusCode::OK, body.clone());
        let mut headers = resp.headers().clone();
        headers.insert("content-type", HeaderValue::from_static("application/json"));
        Ok((body, headers))
    }

    /// Delivers a notification on WeChat Pay's retry schedule until the merchant answers 2xx.
    fn spawn_delivery(
        &self,
        url: String,
        label: String,
        build: impl Fn(&WechatPaySimulator) -> Option<(Vec<u8>, HeaderMap)> + Send + Sync + 'static,
    ) {
        let faults = self.inner.faults.get();
        if faults.drop_notifications {
            return;
        }
        let build = Arc::new(build);
        for _ in 0..if faults.duplicate_notifications { 2 } else { 1 } {
            self.spawn_one_delivery(url.clone(), label.clone(), build.clone());
        }
    }

    fn spawn_one_delivery(
        &self,
        url: String,
        label: String,
        build: Arc<impl Fn(&WechatPaySimulator) -> Option<(Vec<u8>, HeaderMap)> + Send + Sync + 'static>,
    ) {
        let sim = self.clone();
        let first = self.inner.faults.first_delivery_delay_ms();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(first)).await;
            for (attempt, delay) in std::iter::once(0u64).chain(NOTIFY_RETRY_SECS).enumerate() {
                if delay > 0 {
                    tokio::time::sleep(Duration::from_secs_f64(delay as f64 * sim.inner.retry_scale)).await;
                }
                let Some((body, headers)) = build(&sim) else { return };
                match sim.inner.http.post(&url).headers(headers).body(body).send().await {
                    Ok(r) if r.status().is_success() => {
                        tracing::debug!(%label, attempt, "wechatpay simulator: notification acknowledged");
                        return;
                    }
                    Ok(r) => {
                        tracing::info!(%label, attempt, status = %r.status(), "wechatpay simulator: notification refused, will retry")
                    }
                    Err(e) => {
                        tracing::info!(%label, attempt, error = %e, "wechatpay simulator: notification failed, will retry")
                    }
                }
            }
        });
    }

    fn spawn_notify(&self, txn: SimTxn) {
        let wire = self.wire(&txn);
        self.spawn_delivery(txn.notify_url.clone(), txn.out_trade_no.clone(), move |sim| {
            sim.notification_for(&wire).ok()
        });
    }

    /// Settles a refund after the configured delay and notifies the merchant.
    fn spawn_refund_settlement(&self, mchid: String, out_refund_no: String) {
        let sim = self.clone();
        tokio::spawn(async move {
            let delay = sim.inner.refund_delay_ms.load(std::sync::atomic::Ordering::SeqCst);
            tokio::time::sleep(Duration::from_millis(delay)).await;
            let fail = sim.inner.faults.get().refunds_fail;
            let now = sim.now_ms();
            let notify_url = {
                let mut book = sim.book();
                let Some(r) = book.refunds.get_mut(&(mchid.clone(), out_refund_no.clone())) else { return };
                if r.status != "PROCESSING" {
                    return;
                }
                if fail {
                    r.status = "ABNORMAL";
                } else {
                    r.status = "SUCCESS";
                    r.success_ms = Some(now);
                }
                r.notify_url.clone()
            };
            if let Some(url) = notify_url {
                sim.spawn_delivery(url, out_refund_no.clone(), move |sim| {
                    sim.refund_notification_for(&mchid, &out_refund_no).ok()
                });
            }
        });
    }
}

async fn native(State(sim): State<WechatPaySimulator>, m: Method, u: OriginalUri, h: HeaderMap, b: Bytes) -> ApiResult {
    prepay(&sim, "NATIVE", &m, &u, &h, &b)
}
async fn jsapi(State(sim): State<WechatPaySimulator>, m: Method, u: OriginalUri, h: HeaderMap, b: Bytes) -> ApiResult {
    prepay(&sim, "JSAPI", &m, &u, &h, &b)
}
async fn h5(State(sim): State<WechatPaySimulator>, m: Method, u: OriginalUri, h: HeaderMap, b: Bytes) -> ApiResult {
    prepay(&sim, "H5", &m, &u, &h, &b)
}

/// The answer to a prepay request for a transaction already on the book.
/// The H5 page lives on the simulator itself, addressed by the Host the client used.
fn prepay_answer(sim: &WechatPaySimulator, trade_type: &str, pr: &str, host: &str) -> Response {
    match trade_type {
        "JSAPI" => sim.json(&JsapiResponse { prepay_id: pr.to_string() }),
        "H5" => sim.json(&H5Response { h5_url: format!("http://{host}/phone/pay?pr={pr}") }),
        _ => sim.json(&NativeResponse { code_url: format!("weixin://wxpay/bizpayurl?pr={pr}") }),
    }
}

/// Native, JSAPI and H5 prepay: the same checks, a different answer.
fn prepay(
    sim: &WechatPaySimulator,
    trade_type: &'static str,
    method: &Method,
    uri: &OriginalUri,
    headers: &HeaderMap,
    body: &Bytes,
) -> ApiResult {
    let mchid = sim.authenticate(method, uri, headers, body)?;
    let host = headers.get("host").and_then(|h| h.to_str().ok()).unwrap_or("127.0.0.1").to_string();
    let req: PrepayRequest = serde_json::from_slice(body)
        .map_err(|e| sim.error(StatusCode::BAD_REQUEST, "PARAM_ERROR", &format!("参数错误：{e}")))?;
    let bad = |msg: &str| sim.error(StatusCode::BAD_REQUEST, "PARAM_ERROR", msg);
    if req.mchid != mchid {
        return Err(sim.error(StatusCode::BAD_REQUEST, "MCH_NOT_EXISTS", "请求中的商户号与签名商户号不一致"));
    }
    if req.appid != sim.inner.sandbox.appid {
        return Err(sim.error(StatusCode::BAD_REQUEST, "APPID_MCHID_NOT_MATCH", "AppID和mch_id不匹配"));
    }
    let otn_ok = (6..=32).contains(&req.out_trade_no.len())
        && req.out_trade_no.chars().all(|c| c.is_ascii_alphanumeric() || "_-|*".contains(c));
    if !otn_ok {
        return Err(bad("out_trade_no 应为6-32位数字、字母、_-|*"));
    }
    if req.amount.total <= 0 {
        return Err(bad("amount.total 必须大于0"));
    }
    if req.amount.currency.as_deref().is_some_and(|c| c != "CNY") {
        return Err(bad("currency 仅支持 CNY"));
    }
    if req.description.is_empty() || req.description.chars().count() > 127 {
        return Err(bad("description 长度应为1-127"));
    }
    if !(req.notify_url.starts_with("http://") || req.notify_url.starts_with("https://")) {
        return Err(bad("notify_url 格式错误"));
    }
    let openid = match trade_type {
        "JSAPI" => match &req.payer {
            Some(p) if !p.openid.is_empty() => p.openid.clone(),
            _ => return Err(bad("JSAPI 下单缺少 payer.openid")),
        },
        _ => format!("oSim{}", random_alnum(24)),
    };
    if trade_type == "H5" && req.scene_info.as_ref().is_none_or(|s| s.payer_client_ip.is_empty() || s.h5_info.is_none())
    {
        return Err(bad("H5 下单缺少 scene_info.payer_client_ip 或 scene_info.h5_info"));
    }
    let expires_at_ms = match &req.time_expire {
        Some(t) => Some(parse_rfc3339_ms(t).ok_or_else(|| bad("time_expire 格式错误"))?),
        None => None,
    };
    let key = (req.mchid.clone(), req.out_trade_no.clone());
    let mut book = sim.book();
    if let Some(existing) = book.txns.get(&key) {
        return match existing.trade_state {
            "SUCCESS" => Err(sim.error(StatusCode::BAD_REQUEST, "ORDERPAID", "该订单已支付")),
            "CLOSED" => Err(sim.error(StatusCode::BAD_REQUEST, "ORDER_CLOSED", "订单已关闭")),
            _ if existing.amount_fen != req.amount.total
                || existing.description != req.description
                || existing.trade_type != trade_type =>
            {
                Err(sim.error(StatusCode::BAD_REQUEST, "INVALID_REQUEST", "商户订单号重复，且参数与原订单不一致"))
            }
            _ => {
                let pr = existing.pr.clone();
                drop(book);
                Ok(prepay_answer(sim, trade_type, &pr, &host))
            }
        };
    }
    let pr = match trade_type {
        "NATIVE" => random_alnum(7),
        _ => format!("wx{}{}", sim.now_ms() / 1000, random_alnum(18)),
    };
    book.by_pr.insert(pr.clone(), key.clone());
    book.txns.insert(
        key,
        SimTxn {
            appid: req.appid,
            mchid: req.mchid,
            out_trade_no: req.out_trade_no,
            description: req.description,
            amount_fen: req.amount.total,
            notify_url: req.notify_url,
            attach: req.attach,
            expires_at_ms,
            trade_state: "NOTPAY",
            transaction_id: None,
            success_time_ms: None,
            pr: pr.clone(),
            openid,
            trade_type,
        },
    );
    drop(book);
    Ok(prepay_answer(sim, trade_type, &pr, &host))
}

/// The fields `WeixinJSBridge.invoke('getBrandWCPayRequest', …)` receives.
#[derive(Deserialize)]
struct JsapiSheet {
    #[serde(rename = "appId")]
    app_id: String,
    #[serde(rename = "timeStamp")]
    time_stamp: String,
    #[serde(rename = "nonceStr")]
    nonce_str: String,
    package: String,
    #[serde(rename = "signType")]
    sign_type: String,
    #[serde(rename = "paySign")]
    pay_sign: String,
}

/// Stands in for WeChat's in-app payment sheet: checks the page's `paySign` as WeChat does
/// (merchant key, appId, fresh timestamp, a known prepay_id) and then shows the payment page.
async fn phone_jsapi(State(sim): State<WechatPaySimulator>, Form(f): Form<JsapiSheet>) -> Response {
    let refuse = |msg: &str| {
        (
            StatusCode::BAD_REQUEST,
            phone_page("支付验证签名失败", &format!("<div class=\"card\">{}</div>", html_escape(msg))),
        )
            .into_response()
    };
    if f.sign_type != "RSA" {
        return refuse("signType 必须为 RSA");
    }
    if f.app_id != sim.inner.sandbox.appid {
        return refuse("appId 与商户不匹配");
    }
    let fresh = f.time_stamp.parse::<i64>().is_ok_and(|t| (t - sim.now_ms() / 1000).abs() <= 300);
    if !fresh {
        return refuse("timeStamp 已过期");
    }
    let msg = jsapi_pay_message(&f.app_id, &f.time_stamp, &f.nonce_str, &f.package);
    if !sim.inner.merchant_verifier.verify_base64(&msg, &f.pay_sign) {
        return refuse("paySign 签名错误");
    }
    let Some(prepay_id) = f.package.strip_prefix("prepay_id=") else {
        return refuse("package 格式错误");
    };
    if prepay_id.is_empty() || !prepay_id.chars().all(|c| c.is_ascii_alphanumeric()) {
        return refuse("prepay_id 无效");
    }
    Redirect::to(&format!("/phone/pay?pr={prepay_id}")).into_response()
}

#[derive(Deserialize)]
struct MchidQuery {
    mchid: Option<String>,
}

async fn query_by_out_trade_no(
    State(sim): State<WechatPaySimulator>,
    Path(out_trade_no): Path<String>,
    Query(q): Query<MchidQuery>,
    method: Method,
    uri: OriginalUri,
    headers: HeaderMap,
) -> ApiResult {
    let mchid = sim.authenticate(&method, &uri, &headers, b"")?;
    if q.mchid.as_deref() != Some(mchid.as_str()) {
        return Err(sim.error(StatusCode::BAD_REQUEST, "PARAM_ERROR", "mchid 参数缺失或与签名商户号不一致"));
    }
    let found = sim.book().txns.get(&(mchid, out_trade_no)).cloned().map(|t| sim.wire(&t));
    match found {
        Some(t) => Ok(sim.json(&t)),
        None => Err(sim.error(StatusCode::NOT_FOUND, "ORDER_NOT_EXIST", "订单不存在")),
    }
}

async fn query_by_id(
    State(sim): State<WechatPaySimulator>,
    Path(transaction_id): Path<String>,
    Query(q): Query<MchidQuery>,
    method: Method,
    uri: OriginalUri,
    headers: HeaderMap,
) -> ApiResult {
    let mchid = sim.authenticate(&method, &uri, &headers, b"")?;
    if q.mchid.as_deref() != Some(mchid.as_str()) {
        return Err(sim.error(StatusCode::BAD_REQUEST, "PARAM_ERROR", "mchid 参数缺失或与签名商户号不一致"));
    }
    let book = sim.book();
    let found = book
        .by_tid
        .get(&transaction_id)
        .and_then(|k| book.txns.get(k))
        .filter(|t| t.mchid == mchid)
        .cloned()
        .map(|t| sim.wire(&t));
    drop(book);
    match found {
        Some(t) => Ok(sim.json(&t)),
        None => Err(sim.error(StatusCode::NOT_FOUND, "ORDER_NOT_EXIST", "订单不存在")),
    }
}

async fn close(
    State(sim): State<WechatPaySimulator>,
    Path(out_trade_no): Path<String>,
    method: Method,
    uri: OriginalUri,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult {
    let mchid = sim.authenticate(&method, &uri, &headers, &body)?;
    let req: CloseRequest = serde_json::from_slice(&body)
        .map_err(|e| sim.error(StatusCode::BAD_REQUEST, "PARAM_ERROR", &format!("参数错误：{e}")))?;
    if req.mchid != mchid {
        return Err(sim.error(StatusCode::BAD_REQUEST, "MCH_NOT_EXISTS", "请求中的商户号与签名商户号不一致"));
    }
    let mut book = sim.book();
    let Some(txn) = book.txns.get_mut(&(mchid, out_trade_no)) else {
        drop(book);
        return Err(sim.error(StatusCode::NOT_FOUND, "ORDER_NOT_EXIST", "订单不存在"));
    };
    if txn.trade_state == "SUCCESS" {
        drop(book);
        return Err(sim.error(StatusCode::BAD_REQUEST, "ORDERPAID", "该订单已支付"));
    }
    txn.trade_state = "CLOSED";
    drop(book);
    Ok(sim.signed(StatusCode::NO_CONTENT, Vec::new()))
}

// ---- the payer's phone ----

const PHONE_STYLE: &str = "body{font-family:system-ui,'PingFang SC','Microsoft YaHei',sans-serif;margin:0;background:#ededed;color:#111}\
main{max-width:420px;margin:0 auto;padding:16px}header{background:#07c160;color:#fff;padding:14px 16px;font-weight:600}\
.card{background:#fff;border-radius:8px;padding:16px;margin:12px 0}.amount{font-size:2em;font-weight:600;text-align:center}\
.muted{color:#666;font-size:.9em}button{font-size:1.05em;padding:12px;border-radius:6px;border:0;width:100%;margin-top:8px}\
.ok{background:#07c160;color:#fff}.no{background:#e5e5e5;color:#111}textarea{width:100%;box-sizing:border-box;font-size:1em}\
.qr{text-align:center}.qr svg{width:220px;height:220px}";

fn phone_page(title: &str, body: &str) -> Html<String> {
    Html(format!(
        "<!doctype html><html lang=\"zh-CN\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">\
         <title>{t} · 微信支付（模拟器）</title><style>{PHONE_STYLE}</style></head><body><header>微信支付 · 模拟器</header><main>{body}</main></body></html>",
        t = html_escape(title)
    ))
}

fn pr_from(text: &str) -> Option<String> {
    let t = text.trim();
    let pr = t.rsplit_once("pr=").map(|(_, p)| p).unwrap_or(t);
    let pr: String = pr.chars().take_while(|c| c.is_ascii_alphanumeric()).collect();
    (!pr.is_empty()).then_some(pr)
}

async fn phone_home(State(sim): State<WechatPaySimulator>) -> Html<String> {
    let book = sim.book();
    let mut open: Vec<&SimTxn> =
        book.txns.values().filter(|t| matches!(t.trade_state, "NOTPAY" | "USERPAYING")).collect();
    open.sort_by(|a, b| b.out_trade_no.cmp(&a.out_trade_no));
    let items: String = open
        .iter()
        .take(20)
        .map(|t| {
            format!(
                "<li><a href=\"/phone/pay?pr={pr}\">{d}</a> ¥{a}</li>",
                pr = html_escape(&t.pr),
                d = html_escape(&t.description),
                a = Fen(t.amount_fen)
            )
        })
        .collect();
    drop(book);
    phone_page(
        "扫一扫",
        &format!(
            "<div class=\"card\"><form method=\"get\" action=\"/phone/pay\"><label for=\"code\">扫一扫：粘贴二维码内容（weixin://wxpay/bizpayurl?pr=…）</label>\
             <textarea id=\"code\" name=\"code_url\" rows=\"3\"></textarea><button class=\"ok\" type=\"submit\">识别</button></form></div>\
             <div class=\"card\"><div class=\"muted\">待支付订单</div><ul>{items}</ul></div>"
        ),
    )
}

#[derive(Deserialize)]
struct PayQuery {
    pr: Option<String>,
    code_url: Option<String>,
    /// H5: where WeChat returns the browser after paying (appended by the merchant).
    redirect_url: Option<String>,
}

async fn phone_pay_page(State(sim): State<WechatPaySimulator>, Query(q): Query<PayQuery>) -> Response {
    let Some(pr) = q.pr.as_deref().and_then(pr_from).or_else(|| q.code_url.as_deref().and_then(pr_from)) else {
        return (StatusCode::BAD_REQUEST, phone_page("无效二维码", "<div class=\"card\">无法识别该二维码。</div>"))
            .into_response();
    };
    let book = sim.book();
    let Some(txn) = book.by_pr.get(&pr).and_then(|k| book.txns.get(k)).cloned() else {
        drop(book);
        return (StatusCode::NOT_FOUND, phone_page("订单不存在", "<div class=\"card\">订单不存在。</div>"))
            .into_response();
    };
    drop(book);
    let code_url = format!("weixin://wxpay/bizpayurl?pr={pr}");
    let status = match txn.trade_state {
        "NOTPAY" | "USERPAYING" => format!(
            "<form method=\"post\" action=\"/phone/pay\"><input type=\"hidden\" name=\"pr\" value=\"{p}\">\
             <input type=\"hidden\" name=\"redirect_url\" value=\"{r}\">\
             <button class=\"ok\" name=\"action\" value=\"confirm\" type=\"submit\">确认支付</button>\
             <button class=\"no\" name=\"action\" value=\"decline\" type=\"submit\">取消</button></form>",
            p = html_escape(&pr),
            r = html_escape(q.redirect_url.as_deref().unwrap_or(""))
        ),
        "SUCCESS" => "<p><strong>支付成功</strong></p>".to_string(),
        _ => "<p>订单已关闭</p>".to_string(),
    };
    phone_page(
        "付款",
        &format!(
            "<div class=\"card\"><div class=\"muted\">收款方</div><div>{m}</div><div class=\"muted\">{d}</div>\
             <div class=\"amount\">¥{a}</div>{status}</div><div class=\"card qr\"><div class=\"muted\">二维码内容</div>{qr}<div class=\"muted\">{c}</div></div>",
            m = html_escape(&sim.inner.sandbox.merchant_name),
            d = html_escape(&txn.description),
            a = Fen(txn.amount_fen),
            qr = qr_svg(&code_url),
            c = html_escape(&code_url)
        ),
    )
    .into_response()
}

#[derive(Deserialize)]
struct PhoneChoice {
    pr: String,
    action: String,
    #[serde(default)]
    redirect_url: String,
}

async fn phone_pay_action(State(sim): State<WechatPaySimulator>, Form(f): Form<PhoneChoice>) -> Response {
    match f.action.as_str() {
        "confirm" => match sim.confirm(&f.pr) {
            Ok(txn) => {
                let amount = Fen(txn.amount_fen);
                sim.spawn_notify(txn);
                if f.redirect_url.starts_with("http://") || f.redirect_url.starts_with("https://") {
                    return Redirect::to(&f.redirect_url).into_response();
                }
                phone_page(
                    "支付成功",
                    &format!("<div class=\"card\"><div class=\"amount\">¥{amount}</div><p style=\"text-align:center\"><strong>支付成功</strong></p></div>"),
                )
                .into_response()
            }
            Err(msg) => (
                StatusCode::CONFLICT,
                phone_page("无法支付", &format!("<div class=\"card\">{}</div>", html_escape(&msg))),
            )
                .into_response(),
        },
        // As on a real phone, declining leaves the order unpaid (NOTPAY) until it expires or is closed.
        "decline" if f.redirect_url.starts_with("http://") || f.redirect_url.starts_with("https://") => {
            Redirect::to(&f.redirect_url).into_response()
        }
        "decline" => phone_page("已取消", "<div class=\"card\">已取消支付。</div>").into_response(),
        _ => (StatusCode::BAD_REQUEST, phone_page("无效操作", "<div class=\"card\">无效操作。</div>")).into_response(),
    }
}

async fn create_refund(
    State(sim): State<WechatPaySimulator>,
    method: Method,
    uri: OriginalUri,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult {
    let mchid = sim.authenticate(&method, &uri, &headers, &body)?;
    let req: RefundRequestBody = serde_json::from_slice(&body)
        .map_err(|e| sim.error(StatusCode::BAD_REQUEST, "PARAM_ERROR", &format!("参数错误：{e}")))?;
    let bad = |code: &str, msg: &str| sim.error(StatusCode::BAD_REQUEST, code, msg);
    if req.amount.refund <= 0 || req.amount.currency != "CNY" {
        return Err(bad("PARAM_ERROR", "退款金额或币种错误"));
    }
    if !(1..=64).contains(&req.out_refund_no.len()) {
        return Err(bad("PARAM_ERROR", "out_refund_no 长度错误"));
    }
    let now = sim.now_ms();
    let key = (mchid.clone(), req.out_refund_no.clone());
    let mut book = sim.book();
    if let Some(existing) = book.refunds.get(&key) {
        let same = existing.refund_fen == req.amount.refund
            && req.out_trade_no.as_deref().is_none_or(|o| o == existing.out_trade_no);
        let wire = existing.to_wire();
        drop(book);
        return if same {
            Ok(sim.json(&wire))
        } else {
            Err(bad("INVALID_REQUEST", "退款单号重复，且参数与原退款不一致"))
        };
    }
    let txn_key = match (&req.out_trade_no, &req.transaction_id) {
        (Some(otn), _) => Some((mchid.clone(), otn.clone())),
        (None, Some(tid)) => book.by_tid.get(tid).cloned(),
        (None, None) => return Err(bad("PARAM_ERROR", "transaction_id 与 out_trade_no 必填其一")),
    };
    let Some(txn) = txn_key.and_then(|k| book.txns.get(&k)).cloned() else {
        drop(book);
        return Err(sim.error(StatusCode::NOT_FOUND, "RESOURCE_NOT_EXISTS", "订单不存在"));
    };
    if !matches!(txn.trade_state, "SUCCESS" | "REFUND") {
        return Err(bad("INVALID_REQUEST", "订单未支付，不能退款"));
    }
    if req.amount.total != txn.amount_fen {
        return Err(bad("INVALID_REQUEST", "订单金额与原订单不一致"));
    }
    let refunded: i64 = book
        .refunds
        .values()
        .filter(|r| r.out_trade_no == txn.out_trade_no && matches!(r.status, "SUCCESS" | "PROCESSING"))
        .map(|r| r.refund_fen)
        .sum();
    if refunded + req.amount.refund > txn.amount_fen {
        return Err(bad("INVALID_REQUEST", "退款金额超过订单可退金额"));
    }
    book.seq += 1;
    let refund = SimRefund {
        refund_id: format!("5030{:024}", book.seq),
        out_refund_no: req.out_refund_no.clone(),
        out_trade_no: txn.out_trade_no.clone(),
        transaction_id: txn.transaction_id.clone().unwrap_or_default(),
        refund_fen: req.amount.refund,
        total_fen: txn.amount_fen,
        status: "PROCESSING",
        created_ms: now,
        success_ms: None,
        notify_url: req.notify_url.clone(),
    };
    if let Some(t) = book.txns.get_mut(&(mchid.clone(), txn.out_trade_no.clone())) {
        t.trade_state = "REFUND";
    }
    book.refunds.insert(key, refund.clone());
    drop(book);
    sim.spawn_refund_settlement(mchid, req.out_refund_no);
    Ok(sim.json(&refund.to_wire()))
}

async fn query_refund(
    State(sim): State<WechatPaySimulator>,
    Path(out_refund_no): Path<String>,
    method: Method,
    uri: OriginalUri,
    headers: HeaderMap,
) -> ApiResult {
    let mchid = sim.authenticate(&method, &uri, &headers, b"")?;
    let found = sim.book().refunds.get(&(mchid, out_refund_no)).map(SimRefund::to_wire);
    match found {
        Some(r) => Ok(sim.json(&r)),
        None => Err(sim.error(StatusCode::NOT_FOUND, "RESOURCE_NOT_EXISTS", "退款单不存在")),
    }
}

#[derive(Deserialize)]
struct BillQuery {
    bill_date: Option<String>,
    bill_type: Option<String>,
    tar_type: Option<String>,
    token: Option<String>,
}

/// `GET /v3/bill/tradebill`: builds the day's bill from the simulator's own records (success
/// times in Beijing time) and answers where to download it. Unlike WeChat Pay, which publishes a
/// day's bill the next morning, the simulator also serves the current day (tests and demos).
async fn trade_bill(
    State(sim): State<WechatPaySimulator>,
    Query(q): Query<BillQuery>,
    method: Method,
    uri: OriginalUri,
    headers: HeaderMap,
) -> ApiResult {
    let mchid = sim.authenticate(&method, &uri, &headers, b"")?;
    let bad = |msg: &str| sim.error(StatusCode::BAD_REQUEST, "PARAM_ERROR", msg);
    let date = q.bill_date.clone().unwrap_or_default();
    if bursar_domain::time_fmt::parse_date_cst_ms(&date).is_none() || date.len() != 10 {
        return Err(bad("bill_date 格式应为 YYYY-MM-DD"));
    }
    let bill_type = q.bill_type.clone().unwrap_or_else(|| "ALL".into());
    if !matches!(bill_type.as_str(), "ALL" | "SUCCESS" | "REFUND") {
        return Err(bad("bill_type 取值 ALL|SUCCESS|REFUND"));
    }
    let gzip = match q.tar_type.as_deref() {
        None => false,
        Some("GZIP") => true,
        Some(_) => return Err(bad("tar_type 仅支持 GZIP")),
    };
    let day = |ms: i64| bursar_domain::time_fmt::date_cst(ms);
    let mut book = sim.book();
    let mut rows = Vec::new();
    if bill_type != "REFUND" {
        let mut txns: Vec<&SimTxn> = book
            .txns
            .values()
            .filter(|t| t.mchid == mchid && t.success_time_ms.is_some_and(|ms| day(ms) == date))
            .collect();
        txns.sort_by_key(|t| (t.success_time_ms, t.out_trade_no.clone()));
        for t in txns {
            rows.push(super::bill::BillRow {
                time: bursar_domain::time_fmt::datetime_cst(t.success_time_ms.unwrap_or_default()),
                appid: t.appid.clone(),
                mchid: t.mchid.clone(),
                transaction_id: t.transaction_id.clone().unwrap_or_default(),
                out_trade_no: t.out_trade_no.clone(),
                trade_type: "NATIVE".into(),
                trade_state: "SUCCESS".into(),
                settlement_fen: t.amount_fen,
                refund_id: String::new(),
                out_refund_no: String::new(),
                refund_fen: 0,
                refund_status: String::new(),
                description: t.description.clone(),
                fee_units: t.amount_fen * 6,
                order_fen: t.amount_fen,
                requested_refund_fen: 0,
            });
        }
    }
    if bill_type != "SUCCESS" {
        let mut refunds: Vec<&SimRefund> = book
            .refunds
            .iter()
            .filter(|((m, _), r)| {
                *m == mchid && r.status == "SUCCESS" && r.success_ms.is_some_and(|ms| day(ms) == date)
            })
            .map(|(_, r)| r)
            .collect();
        refunds.sort_by_key(|r| (r.success_ms, r.out_refund_no.clone()));
        for r in refunds {
            let t = book.txns.get(&(mchid.clone(), r.out_trade_no.clone()));
            rows.push(super::bill::BillRow {
                time: bursar_domain::time_fmt::datetime_cst(r.success_ms.unwrap_or_default()),
                appid: t.map(|t| t.appid.clone()).unwrap_or_default(),
                mchid: mchid.clone(),
                transaction_id: r.transaction_id.clone(),
                out_trade_no: r.out_trade_no.clone(),
                trade_type: "NATIVE".into(),
                trade_state: "REFUND".into(),
                settlement_fen: 0,
                refund_id: r.refund_id.clone(),
                out_refund_no: r.out_refund_no.clone(),
                refund_fen: r.refund_fen,
                refund_status: "SUCCESS".into(),
                description: t.map(|t| t.description.clone()).unwrap_or_default(),
                fee_units: -r.refund_fen * 6,
                order_fen: 0,
                requested_refund_fen: r.refund_fen,
            });
        }
    }
    if rows.is_empty() {
        drop(book);
        return Err(sim.error(StatusCode::BAD_REQUEST, "NO_STATEMENT_EXIST", "该日期无交易，账单不存在"));
    }
    let csv = super::bill::render(&rows, bill_type != "SUCCESS");
    // hash_value is the SHA1 of the original (uncompressed) bill.
    let hash = hex::encode(ring::digest::digest(&ring::digest::SHA1_FOR_LEGACY_USE_ONLY, csv.as_bytes()).as_ref());
    let file = if gzip {
        use std::io::Write;
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        if enc.write_all(csv.as_bytes()).is_err() {
            drop(book);
            return Err(sim.error(StatusCode::INTERNAL_SERVER_ERROR, "SYSTEM_ERROR", "系统错误"));
        }
        enc.finish().unwrap_or_default()
    } else {
        csv.into_bytes()
    };
    let token = random_alnum(32);
    book.bills.insert(token.clone(), file);
    drop(book);
    let host = headers.get("host").and_then(|h| h.to_str().ok()).unwrap_or("127.0.0.1");
    Ok(sim.json(&serde_json::json!({
        "hash_type": "SHA1",
        "hash_value": hash,
        "download_url": format!("http://{host}/v3/billdownload/file?token={token}"),
    })))
}

/// `GET /v3/billdownload/file?token=…`: the bill file; authenticated like every request, but the
/// response (a file) is not signed.
async fn download_bill(
    State(sim): State<WechatPaySimulator>,
    Query(q): Query<BillQuery>,
    method: Method,
    uri: OriginalUri,
    headers: HeaderMap,
) -> ApiResult {
    sim.authenticate(&method, &uri, &headers, b"")?;
    let file = q.token.as_deref().and_then(|t| sim.book().bills.get(t).cloned());
    match file {
        Some(bytes) => Ok(([("content-type", "application/octet-stream")], bytes).into_response()),
        None => Err(sim.error(StatusCode::NOT_FOUND, "RESOURCE_NOT_EXISTS", "账单文件不存在或已过期")),
    }
}

// ---- API v2: payment codes (付款码) -------------------------------------------------------

/// WeChat revokes a payment-code order the payer has not confirmed within this long.
const USERPAYING_LIMIT_MS: i64 = 45_000;

impl WechatPaySimulator {
    /// A payment code as the payer's WeChat shows it (18 digits, prefix 10–15). With
    /// `needs_password` the charge waits (USERPAYING) until the payer confirms on the phone page.
    pub fn new_payment_code(&self, needs_password: bool) -> String {
        use rand::Rng;
        let code = format!("13{:016}", rand::thread_rng().gen_range(0..10_000_000_000_000_000u64));
        self.book().codes.insert(code.clone(), needs_password);
        code
    }

    /// A signed v2 answer (`sign_type` as the request's).
    fn v2_answer(&self, mut fields: BTreeMap<String, String>, kind: v2::SignType) -> Response {
        fields.insert("return_code".into(), "SUCCESS".into());
        fields.insert("return_msg".into(), "OK".into());
        fields.insert("appid".into(), self.inner.sandbox.appid.clone());
        fields.insert("mch_id".into(), self.inner.sandbox.mchid.clone());
        fields.insert("nonce_str".into(), random_alnum(16));
        let sig = v2::sign(&fields, &self.inner.sandbox.api_v2_key, kind);
        fields.insert("sign".into(), sig);
        ([("content-type", "text/xml; charset=utf-8")], v2::to_xml(&fields)).into_response()
    }

    fn v2_fail(&self, fields: BTreeMap<String, String>, kind: v2::SignType, code: &str, msg: &str) -> Response {
        let mut f = fields;
        f.insert("result_code".into(), "FAIL".into());
        f.insert("err_code".into(), code.into());
        f.insert("err_code_des".into(), msg.into());
        self.v2_answer(f, kind)
    }

    /// Parses and authenticates a v2 request: XML, appid/mch_id, signature with the v2 key.
    fn v2_request(&self, body: &[u8]) -> Result<(BTreeMap<String, String>, v2::SignType), Response> {
        let comm_fail = |msg: &str| {
            let mut f = BTreeMap::new();
            f.insert("return_code".to_string(), "FAIL".to_string());
            f.insert("return_msg".to_string(), msg.to_string());
            ([("content-type", "text/xml; charset=utf-8")], v2::to_xml(&f)).into_response()
        };
        let text = std::str::from_utf8(body).map_err(|_| comm_fail("XML格式错误"))?;
        let p = v2::parse_xml(text).map_err(|_| comm_fail("XML格式错误"))?;
        let kind =
            v2::SignType::parse(p.get("sign_type").map(String::as_str)).ok_or_else(|| comm_fail("签名类型错误"))?;
        if p.get("mch_id") != Some(&self.inner.sandbox.mchid) || p.get("appid") != Some(&self.inner.sandbox.appid) {
            return Err(comm_fail("appid和mch_id不匹配"));
        }
        if !v2::verify(&p, &self.inner.sandbox.api_v2_key, kind) {
            return Err(comm_fail("签名错误"));
        }
        Ok((p, kind))
    }

    /// Revokes a payment-code order still waiting past WeChat's limit.
    fn expire_userpaying(&self, key: &(String, String)) {
        let now = self.now_ms();
        if let Some(t) = self.book().txns.get_mut(key) {
            let started = t.expires_at_ms.unwrap_or(now) - USERPAYING_LIMIT_MS;
            if t.trade_state == "USERPAYING" && now - started > USERPAYING_LIMIT_MS {
                t.trade_state = "REVOKED";
            }
        }
    }

    fn v2_trade_fields(&self, t: &SimTxn) -> BTreeMap<String, String> {
        let mut f = BTreeMap::new();
        let delta = self.inner.faults.get().amount_delta_fen;
        f.insert("out_trade_no".to_string(), t.out_trade_no.clone());
        f.insert("trade_type".to_string(), "MICROPAY".to_string());
        f.insert("openid".to_string(), t.openid.clone());
        f.insert("total_fee".to_string(), (t.amount_fen + delta).to_string());
        if let Some(tid) = &t.transaction_id {
            f.insert("transaction_id".to_string(), tid.clone());
            f.insert("cash_fee".to_string(), (t.amount_fen + delta).to_string());
            f.insert("bank_type".to_string(), "OTHERS".to_string());
            f.insert("fee_type".to_string(), "CNY".to_string());
        }
        if let Some(ms) = t.success_time_ms {
            f.insert("time_end".to_string(), bursar_domain::time_fmt::compact_datetime_cst(ms));
        }
        f
    }
}

async fn micropay(State(sim): State<WechatPaySimulator>, body: Bytes) -> Response {
    let (p, kind) = match sim.v2_request(&body) {
        Ok(x) => x,
        Err(r) => return r,
    };
    let get = |k: &str| p.get(k).cloned().unwrap_or_default();
    sim.inner.faults.hold_api().await;
    if sim.inner.faults.get().api_errors {
        return sim.v2_fail(BTreeMap::new(), kind, "SYSTEMERROR", "系统超时");
    }
    let total: i64 = match get("total_fee").parse() {
        Ok(t) if t > 0 => t,
        _ => return sim.v2_fail(BTreeMap::new(), kind, "PARAM_ERROR", "total_fee 错误"),
    };
    let (otn, code) = (get("out_trade_no"), get("auth_code"));
    if otn.is_empty() || otn.len() > 32 || get("body").is_empty() || get("spbill_create_ip").is_empty() {
        return sim.v2_fail(BTreeMap::new(), kind, "PARAM_ERROR", "缺少参数");
    }
    let key = (sim.inner.sandbox.mchid.clone(), otn.clone());
    if let Some(existing) = sim.book().txns.get(&key).cloned() {
        return match existing.trade_state {
            "SUCCESS" => sim.v2_answer(
                {
                    let mut f = sim.v2_trade_fields(&existing);
                    f.insert("result_code".into(), "SUCCESS".into());
                    f
                },
                kind,
            ),
            _ => sim.v2_fail(BTreeMap::new(), kind, "OUT_TRADE_NO_USED", "商户订单号重复"),
        };
    }
    let needs_password = match sim.book().codes.remove(&code) {
        Some(n) if v2::is_wechat_auth_code(&code) => n,
        _ => return sim.v2_fail(BTreeMap::new(), kind, "AUTH_CODE_INVALID", "付款码无效，请重新扫码"),
    };
    let now = sim.now_ms();
    let pr = format!("mp{}", random_alnum(16));
    let txn = SimTxn {
        appid: sim.inner.sandbox.appid.clone(),
        mchid: sim.inner.sandbox.mchid.clone(),
        out_trade_no: otn.clone(),
        description: get("body"),
        amount_fen: total,
        notify_url: String::new(),
        attach: None,
        // Used as "started + 45 s" for the USERPAYING limit.
        expires_at_ms: Some(now + USERPAYING_LIMIT_MS),
        trade_state: "USERPAYING",
        transaction_id: None,
        success_time_ms: None,
        pr: pr.clone(),
        openid: format!("oSim{}", random_alnum(24)),
        trade_type: "MICROPAY",
    };
    {
        let mut book = sim.book();
        book.by_pr.insert(pr.clone(), key.clone());
        book.txns.insert(key.clone(), txn);
    }
    if needs_password {
        return sim.v2_fail(BTreeMap::new(), kind, "USERPAYING", "需要用户输入支付密码");
    }
    match sim.confirm(&pr) {
        Ok(t) => {
            let mut f = sim.v2_trade_fields(&t);
            f.insert("result_code".into(), "SUCCESS".into());
            sim.v2_answer(f, kind)
        }
        Err(e) => sim.v2_fail(BTreeMap::new(), kind, "SYSTEMERROR", &e),
    }
}

async fn orderquery(State(sim): State<WechatPaySimulator>, body: Bytes) -> Response {
    let (p, kind) = match sim.v2_request(&body) {
        Ok(x) => x,
        Err(r) => return r,
    };
    let key = match (p.get("out_trade_no"), p.get("transaction_id")) {
        (Some(no), _) if !no.is_empty() => Some((sim.inner.sandbox.mchid.clone(), no.clone())),
        (_, Some(tid)) => sim.book().by_tid.get(tid).cloned(),
        _ => None,
    };
    let Some(key) = key else {
        return sim.v2_fail(BTreeMap::new(), kind, "ORDERNOTEXIST", "此交易订单号不存在");
    };
    sim.expire_userpaying(&key);
    let Some(t) = sim.book().txns.get(&key).cloned() else {
        return sim.v2_fail(BTreeMap::new(), kind, "ORDERNOTEXIST", "此交易订单号不存在");
    };
    let mut f = sim.v2_trade_fields(&t);
    f.insert("result_code".into(), "SUCCESS".into());
    f.insert("trade_state".into(), t.trade_state.into());
    sim.v2_answer(f, kind)
}

async fn reverse(State(sim): State<WechatPaySimulator>, body: Bytes) -> Response {
    let (p, kind) = match sim.v2_request(&body) {
        Ok(x) => x,
        Err(r) => return r,
    };
    let key = (sim.inner.sandbox.mchid.clone(), p.get("out_trade_no").cloned().unwrap_or_default());
    let mut book = sim.book();
    let Some(t) = book.txns.get_mut(&key) else {
        drop(book);
        return sim.v2_fail(BTreeMap::new(), kind, "ORDERNOTEXIST", "订单不存在");
    };
    // Unpaid: revoked. Paid: the money goes back to the payer and the order is revoked too.
    t.trade_state = "REVOKED";
    drop(book);
    let mut f = BTreeMap::new();
    f.insert("result_code".into(), "SUCCESS".into());
    f.insert("recall".into(), "N".into());
    sim.v2_answer(f, kind)
}

async fn paycode_page() -> Html<String> {
    phone_page(
        "付款码",
        "<div class=\"card\"><p>生成付款码，出示给收银员扫描（模拟）。</p><form method=\"post\" action=\"/phone/paycode\">\
         <label><input type=\"checkbox\" name=\"password\" value=\"1\" style=\"width:auto\"> 需要输入支付密码</label>\
         <button class=\"ok\" type=\"submit\">生成付款码</button></form></div>",
    )
}

#[derive(Deserialize)]
struct NewCode {
    #[serde(default)]
    password: Option<String>,
}

async fn paycode_new(State(sim): State<WechatPaySimulator>, Form(f): Form<NewCode>) -> Html<String> {
    let code = sim.new_payment_code(f.password.is_some());
    phone_page(
        "付款码",
        &format!(
            "<div class=\"card\"><div class=\"muted\">付款码（约 1 分钟内有效）</div><div class=\"amount\" id=\"paycode\">{}</div>\
             <div class=\"qr\">{}</div><p><a href=\"/phone\">待支付订单（输入密码）</a></p></div>",
            html_escape(&code),
            qr_svg(&code)
        ),
    )
}

/// Applies the API fault switches to `/v3/…` calls: hold the answer, or answer WeChat Pay's
/// system error (an unknown outcome for the client).
async fn api_faults(
    State(sim): State<WechatPaySimulator>,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    if req.uri().path().starts_with("/v3/") {
        sim.inner.faults.hold_api().await;
        if sim.inner.faults.get().api_errors {
            return sim.error(StatusCode::INTERNAL_SERVER_ERROR, "SYSTEM_ERROR", "系统错误");
        }
    }
    next.run(req).await
}
