//! The WeChat Pay API v3 server side, for offline use and tests. It verifies merchant request
//! signatures exactly as WeChat Pay does (401 SIGN_ERROR otherwise), signs every response with
//! the platform key (including 204s), keeps its own transactions, serves a payer-facing "phone"
//! page to confirm or decline a QR payment, and delivers AES-256-GCM encrypted, signed
//! notifications on WeChat Pay's retry schedule.

// Handlers answer errors as ready-made signed responses, as WeChat Pay does.
#![allow(clippy::result_large_err)]

mod api;
mod paycode;
mod phone;
pub mod sandbox;

use api::*;
use paycode::*;
use phone::*;

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

use self::sandbox::Sandbox;
use crate::faults::Faults;
use bursar_channels::crypto::{aes256gcm_encrypt, random_alnum, RsaSigner, RsaVerifier};
use bursar_channels::wechatpay::protocol::*;
#[allow(unused_imports)]
use bursar_channels::wechatpay::protocol::{Refund, RefundAmount, RefundRequestBody, RefundResource};
use bursar_channels::wechatpay::v2;
use bursar_channels::{html_escape, qr_svg, ChannelError};
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
        if !bursar_domain::clock::within(ts, self.now_ms() / 1000, MAX_CLOCK_SKEW_SECS) {
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
