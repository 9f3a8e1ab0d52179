//! UnionPay's online gateway, server side, for offline use and tests: verifies the merchant's
//! signature (certId + SHA-256 digest signed with RSA), shows the payer a cashier for front
//! consume, posts the signed front return and back notification, answers queries and refunds
//! signed with its own certificate (sent as `signPubKeyCert`, chained to its test root), and
//! serves reconciliation files (zlib-compressed zip, Base64).

// Handlers answer errors as ready-made signed responses, as UnionPay does.
#![allow(clippy::result_large_err)]

pub mod sandbox;
pub use self::sandbox::UnionpaySandbox;

use std::collections::{BTreeMap, HashMap};
use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use axum::routing::post;
use axum::{Form, Router};
use bursar_domain::time_fmt::{compact_datetime_cst, parse_compact_datetime_cst_ms};
use bursar_domain::{Clock, Fen};
use serde::Deserialize;

use crate::faults::Faults;
use bursar_channels::alipay::protocol::{encode_form, parse_form};
use bursar_channels::crypto::{random_alnum, RsaSigner};
use bursar_channels::unionpay::adapter::{write_settlement, SettlementRow};
use bursar_channels::unionpay::certs;
use bursar_channels::unionpay::protocol::*;
use bursar_channels::{html_escape, ChannelError};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum TxnState {
    Waiting,
    Success,
    Failed,
}

#[derive(Clone, Debug)]
struct UpTxn {
    txn_type: &'static str,
    order_id: String,
    txn_time: String,
    amount_fen: i64,
    state: TxnState,
    query_id: String,
    orig_query_id: String,
    front_url: String,
    back_url: String,
    pay_timeout_ms: Option<i64>,
    desc: String,
    done_ms: Option<i64>,
    refunded_fen: i64,
}

#[derive(Default)]
struct Book {
    txns: HashMap<String, UpTxn>,
    by_query_id: HashMap<String, String>,
    tokens: HashMap<String, String>,
    seq: u64,
}

struct Inner {
    sandbox: UnionpaySandbox,
    merchant_key: Vec<u8>,
    merchant_cert_id: String,
    signer: RsaSigner,
    book: Mutex<Book>,
    http: reqwest::Client,
    clock: Arc<dyn Clock>,
    faults: Faults,
}

#[derive(Clone)]
pub struct UnionpaySimulator {
    inner: Arc<Inner>,
}

impl UnionpaySimulator {
    pub fn new(sandbox: UnionpaySandbox, clock: Arc<dyn Clock>) -> Result<UnionpaySimulator, ChannelError> {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .build()
            .map_err(|e| ChannelError::Config(e.to_string()))?;
        // The merchant's public key, from its certificate (as UnionPay registers it).
        let chain = certs::TrustChain::new(&sandbox.root.cert_pem, &sandbox.middle.cert_pem, &sandbox.merchant_name)?;
        let merchant_key = chain.check(&sandbox.merchant.cert_pem, clock.now_ms())?;
        Ok(UnionpaySimulator {
            inner: Arc::new(Inner {
                merchant_cert_id: certs::cert_id(&sandbox.merchant.cert_pem)?,
                signer: RsaSigner::from_pkcs8_pem(&sandbox.unionpay.key_pem)?,
                merchant_key,
                sandbox,
                book: Mutex::new(Book::default()),
                http,
                clock,
                faults: Faults::default(),
            }),
        })
    }

    pub fn faults(&self) -> &Faults {
        &self.inner.faults
    }

    pub fn router(&self) -> Router {
        Router::new()
            .route(FRONT_PATH, post(front))
            .route(BACK_PATH, post(back))
            .route(QUERY_PATH, post(query))
            .route(FILE_PATH, post(file))
            .route("/unionpay/pay", post(pay_action))
            .with_state(self.clone())
            .merge(crate::faults::router(self.inner.faults.clone(), "/_faults/unionpay"))
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

    /// Signs a message as UnionPay does: its certificate in `signPubKeyCert`, then the signature.
    fn signed(&self, mut p: BTreeMap<String, String>) -> BTreeMap<String, String> {
        p.insert("signMethod".into(), "01".into());
        p.insert("signPubKeyCert".into(), self.inner.sandbox.unionpay.cert_pem.replace('\n', "\r\n"));
        p.remove("signature");
        let sig = self.inner.signer.sign_base64(digest_hex(&p).as_bytes()).unwrap_or_default();
        p.insert("signature".into(), sig);
        p
    }

    fn answer(&self, p: BTreeMap<String, String>) -> Response {
        ([("content-type", "text/plain;charset=UTF-8")], write_answer(&self.signed(p))).into_response()
    }

    fn reply(&self, req: &BTreeMap<String, String>, code: &str, msg: &str, extra: &[(&str, String)]) -> Response {
        let mut p = BTreeMap::new();
        for k in
            ["version", "encoding", "txnType", "txnSubType", "bizType", "accessType", "merId", "orderId", "txnTime"]
        {
            if let Some(v) = req.get(k) {
                p.insert(k.to_string(), v.clone());
            }
        }
        p.insert("respCode".into(), code.into());
        p.insert("respMsg".into(), msg.into());
        for (k, v) in extra {
            p.insert((*k).to_string(), v.clone());
        }
        self.answer(p)
    }

    /// Checks a merchant request: format, merchant, certificate id and signature; `Err` is
    /// UnionPay's (respCode, respMsg).
    fn check(&self, p: &BTreeMap<String, String>) -> Result<(), (&'static str, &'static str)> {
        if p.get("version").map(String::as_str) != Some(VERSION)
            || p.get("signMethod").map(String::as_str) != Some("01")
        {
            return Err(("30", "报文格式错误（version/signMethod）"));
        }
        if p.get("merId") != Some(&self.inner.sandbox.mer_id) {
            return Err(("30", "商户号不存在"));
        }
        if p.get("certId") != Some(&self.inner.merchant_cert_id) {
            return Err(("11", "验证签名失败（证书ID不匹配）"));
        }
        let sig = p.get("signature").map(String::as_str).unwrap_or("");
        if !certs::verify_rsa(&self.inner.merchant_key, digest_hex(p).as_bytes(), sig) {
            return Err(("11", "验证签名失败"));
        }
        Ok(())
    }

    /// [`check`](Self::check) answered the way back-end APIs answer.
    fn authenticate(&self, p: &BTreeMap<String, String>) -> Result<(), Response> {
        self.check(p).map_err(|(code, msg)| self.reply(p, code, msg, &[]))
    }

    fn next_query_id(&self, book: &mut Book) -> String {
        book.seq += 1;
        format!("{}{:07}", compact_datetime_cst(self.now()), book.seq)
    }

    /// The fields of a consume's notifications (front return and back notification), signed.
    fn notification(&self, t: &UpTxn) -> BTreeMap<String, String> {
        let delta = self.inner.faults.get().amount_delta_fen;
        let mut p = BTreeMap::new();
        let (code, msg) = match t.state {
            TxnState::Success => ("00", "成功[0000000]"),
            TxnState::Failed => ("01", "交易失败"),
            TxnState::Waiting => ("05", "交易处理中"),
        };
        for (k, v) in [
            ("version", VERSION.to_string()),
            ("encoding", "UTF-8".to_string()),
            ("txnType", t.txn_type.to_string()),
            ("txnSubType", if t.txn_type == TXN_CONSUME { "01" } else { "00" }.to_string()),
            ("bizType", "000201".to_string()),
            ("accessType", "0".to_string()),
            ("merId", self.inner.sandbox.mer_id.clone()),
            ("orderId", t.order_id.clone()),
            ("txnTime", t.txn_time.clone()),
            ("txnAmt", (t.amount_fen + delta).to_string()),
            ("currencyCode", "156".to_string()),
            ("queryId", t.query_id.clone()),
            ("respCode", code.to_string()),
            ("respMsg", msg.to_string()),
            ("settleAmt", (t.amount_fen + delta).to_string()),
            ("settleCurrencyCode", "156".to_string()),
            ("settleDate", t.done_ms.map(|ms| compact_datetime_cst(ms)[4..8].to_string()).unwrap_or_default()),
            ("traceNo", format!("{:06}", t.query_id.len() * 7919 % 1_000_000)),
            ("traceTime", t.done_ms.map(|ms| compact_datetime_cst(ms)[4..].to_string()).unwrap_or_default()),
        ] {
            p.insert(k.to_string(), v);
        }
        if !t.orig_query_id.is_empty() {
            p.insert("origQryId".into(), t.orig_query_id.clone());
        }
        self.signed(p)
    }

    /// The signed back notification body of an order (tests replay it).
    pub fn notification_body(&self, order_id: &str) -> Option<String> {
        let t = self.book().txns.get(order_id).cloned()?;
        Some(encode_form(&self.notification(&t)))
    }

    fn spawn_notify(&self, t: &UpTxn) {
        let faults = self.inner.faults.get();
        if t.back_url.is_empty() || faults.drop_notifications {
            return;
        }
        for _ in 0..if faults.duplicate_notifications { 2 } else { 1 } {
            let sim = self.clone();
            let t = t.clone();
            let first = self.inner.faults.first_delivery_delay_ms();
            tokio::spawn(async move {
                tokio::time::sleep(Duration::from_millis(first)).await;
                let body = encode_form(&sim.notification(&t));
                // UnionPay retries a back notification a few times over minutes until it gets 200.
                for wait_s in [0u64, 1, 2, 4, 5, 10, 30, 60] {
                    tokio::time::sleep(Duration::from_secs(wait_s)).await;
                    let sent = sim
                        .inner
                        .http
                        .post(&t.back_url)
                        .header("Content-Type", "application/x-www-form-urlencoded;charset=UTF-8")
                        .body(body.clone())
                        .send()
                        .await;
                    if sent.is_ok_and(|r| r.status().is_success()) {
                        return;
                    }
                }
            });
        }
    }

    /// Pays a waiting consume as the payer would (tests).
    pub fn confirm(&self, order_id: &str, notify: bool) -> Result<(), String> {
        let t = self.settle(order_id)?;
        if notify {
            self.spawn_notify(&t);
        }
        Ok(())
    }

    fn settle(&self, order_id: &str) -> Result<UpTxn, String> {
        let now = self.now();
        let mut book = self.book();
        let query_id = self.next_query_id(&mut book);
        let t = book.txns.get_mut(order_id).ok_or("交易不存在")?;
        if t.state != TxnState::Waiting {
            return Err("交易已完成".into());
        }
        if t.pay_timeout_ms.is_some_and(|e| e <= now) {
            t.state = TxnState::Failed;
            return Err("交易已超时".into());
        }
        t.state = TxnState::Success;
        t.query_id = query_id.clone();
        t.done_ms = Some(now);
        let out = t.clone();
        book.by_query_id.insert(query_id, order_id.to_string());
        Ok(out)
    }
}

fn form_params(body: &Bytes) -> BTreeMap<String, String> {
    parse_form(&String::from_utf8_lossy(body))
}

const STYLE: &str = "body{font-family:system-ui,'Noto Sans CJK SC',sans-serif;margin:0;background:#f2f2f2;color:#111}\
header{background:#d7000f;color:#fff;padding:14px 16px;font-size:1.1em}main{padding:16px;max-width:480px;margin:auto}\
.card{background:#fff;border-radius:8px;padding:16px;margin-bottom:12px}.amount{font-size:2em;font-weight:600;text-align:center}\
button{font-size:1.05em;padding:12px;border-radius:6px;border:0;width:100%;margin-top:8px}.ok{background:#d7000f;color:#fff}\
.no{background:#e5e5e5}input{width:100%;box-sizing:border-box;font-size:1em;padding:8px}.muted{color:#555;font-size:.9em}";

fn page(title: &str, body: &str) -> Html<String> {
    Html(format!(
        "<!doctype html><html lang=\"zh-CN\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">\
         <title>{t} · 银联在线支付（模拟器）</title><style>{STYLE}</style></head><body><header>银联在线支付 · 模拟器</header><main>{body}</main></body></html>",
        t = html_escape(title)
    ))
}

/// Front consume: the payer's browser posts the merchant's signed form here.
async fn front(State(sim): State<UnionpaySimulator>, body: Bytes) -> Response {
    let p = form_params(&body);
    if let Err((code, msg)) = sim.check(&p) {
        let body = format!("<div class=\"card\"><p>交易失败</p><p class=\"muted\">{code} {msg}</p></div>");
        return (StatusCode::BAD_REQUEST, page("交易失败", &body)).into_response();
    }
    let get = |k: &str| p.get(k).cloned().unwrap_or_default();
    let bad = |msg: &str| {
        (StatusCode::BAD_REQUEST, page("交易失败", &format!("<div class=\"card\">{}</div>", html_escape(msg))))
            .into_response()
    };
    if get("txnType") != TXN_CONSUME || get("bizType") != "000201" || get("currencyCode") != "156" {
        return bad("交易类型错误");
    }
    let order_id = get("orderId");
    if !(8..=32).contains(&order_id.len()) || !order_id.chars().all(|c| c.is_ascii_alphanumeric()) {
        return bad("orderId 格式错误（8-32位字母数字）");
    }
    let Some(amount) = get("txnAmt").parse::<i64>().ok().filter(|a| *a > 0) else { return bad("txnAmt 错误") };
    if parse_compact_datetime_cst_ms(&get("txnTime")).is_none() {
        return bad("txnTime 格式错误");
    }
    let pay_timeout_ms = match get("payTimeout") {
        t if t.is_empty() => None,
        t => match parse_compact_datetime_cst_ms(&t) {
            Some(ms) => Some(ms),
            None => return bad("payTimeout 格式错误"),
        },
    };
    let token = random_alnum(20);
    {
        let mut book = sim.book();
        if let Some(t) = book.txns.get(&order_id) {
            if t.state != TxnState::Waiting || t.amount_fen != amount || t.txn_time != get("txnTime") {
                return bad("重复交易");
            }
        } else {
            book.txns.insert(
                order_id.clone(),
                UpTxn {
                    txn_type: TXN_CONSUME,
                    order_id: order_id.clone(),
                    txn_time: get("txnTime"),
                    amount_fen: amount,
                    state: TxnState::Waiting,
                    query_id: String::new(),
                    orig_query_id: String::new(),
                    front_url: get("frontUrl"),
                    back_url: get("backUrl"),
                    pay_timeout_ms,
                    desc: get("orderDesc"),
                    done_ms: None,
                    refunded_fen: 0,
                },
            );
        }
        book.tokens.insert(token.clone(), order_id.clone());
    }
    page(
        "银联在线支付",
        &format!(
            "<div class=\"card\"><div class=\"muted\">商户</div><div>{m}</div><div class=\"muted\">{d}</div><div class=\"amount\">¥{a}</div>\
             <form method=\"post\" action=\"/unionpay/pay\"><input type=\"hidden\" name=\"token\" value=\"{t}\">\
             <label for=\"card\">银行卡号（模拟，任意）</label><input id=\"card\" name=\"card\" value=\"6221558812340000\" inputmode=\"numeric\">\
             <button class=\"ok\" name=\"action\" value=\"confirm\" type=\"submit\">确认付款</button>\
             <button class=\"no\" name=\"action\" value=\"decline\" type=\"submit\">取消</button></form></div>",
            m = html_escape(&sim.inner.sandbox.merchant_name),
            d = html_escape(&get("orderDesc")),
            a = Fen(amount),
            t = html_escape(&token),
        ),
    )
    .into_response()
}

#[derive(Deserialize)]
struct Choice {
    token: String,
    action: String,
}

/// The payer's choice at the cashier; a payment goes back to the merchant's `frontUrl` as an
/// auto-posted signed form (and to its `backUrl` server to server).
async fn pay_action(State(sim): State<UnionpaySimulator>, Form(f): Form<Choice>) -> Response {
    let Some(order_id) = sim.book().tokens.get(&f.token).cloned() else {
        return (StatusCode::NOT_FOUND, page("交易不存在", "<div class=\"card\">交易不存在</div>")).into_response();
    };
    let t = match f.action.as_str() {
        "confirm" => match sim.settle(&order_id) {
            Ok(t) => {
                sim.spawn_notify(&t);
                t
            }
            Err(e) => {
                return (
                    StatusCode::CONFLICT,
                    page("无法付款", &format!("<div class=\"card\">{}</div>", html_escape(&e))),
                )
                    .into_response()
            }
        },
        _ => match sim.book().txns.get(&order_id).cloned() {
            Some(t) => t,
            None => return (StatusCode::NOT_FOUND, page("交易不存在", "")).into_response(),
        },
    };
    if t.front_url.is_empty() {
        return page("完成", "<div class=\"card\">完成</div>").into_response();
    }
    let fields: String = sim
        .notification(&t)
        .iter()
        .map(|(k, v)| format!("<input type=\"hidden\" name=\"{}\" value=\"{}\">", html_escape(k), html_escape(v)))
        .collect();
    page(
        "返回商户",
        &format!(
            "<div class=\"card\"><p>{}</p><form method=\"post\" action=\"{}\" id=\"front-return\">{fields}<button class=\"ok\" type=\"submit\">返回商户</button></form></div>\
             <script>document.getElementById('front-return').submit()</script>",
            if t.state == TxnState::Success { "付款成功" } else { "已取消" },
            html_escape(&t.front_url),
        ),
    )
    .into_response()
}

async fn back(State(sim): State<UnionpaySimulator>, body: Bytes) -> Response {
    let p = form_params(&body);
    if let Err(r) = sim.authenticate(&p) {
        return r;
    }
    sim.inner.faults.hold_api().await;
    let f = sim.inner.faults.get();
    if f.api_errors {
        return sim.reply(&p, "03", "交易通讯超时，请发起查询交易", &[]);
    }
    let get = |k: &str| p.get(k).cloned().unwrap_or_default();
    if get("txnType") != TXN_REFUND {
        return sim.reply(&p, "12", "交易类型不支持", &[]);
    }
    let Some(amount) = get("txnAmt").parse::<i64>().ok().filter(|a| *a > 0) else {
        return sim.reply(&p, "30", "txnAmt 错误", &[]);
    };
    let order_id = get("orderId");
    let now = sim.now();
    let mut book = sim.book();
    if book.txns.contains_key(&order_id) {
        drop(book);
        return sim.reply(&p, "12", "重复交易", &[]);
    }
    let Some(orig_order) = book.by_query_id.get(&get("origQryId")).cloned() else {
        drop(book);
        return sim.reply(&p, "34", "原交易不存在", &[]);
    };
    let Some(orig) = book.txns.get(&orig_order).cloned() else {
        drop(book);
        return sim.reply(&p, "34", "原交易不存在", &[]);
    };
    if orig.state != TxnState::Success || orig.txn_type != TXN_CONSUME {
        drop(book);
        return sim.reply(&p, "12", "原交易状态不正确", &[]);
    }
    if orig.refunded_fen + amount > orig.amount_fen {
        drop(book);
        return sim.reply(&p, "12", "退货金额超限", &[]);
    }
    let query_id = sim.next_query_id(&mut book);
    let state = if f.refunds_fail { TxnState::Failed } else { TxnState::Success };
    if state == TxnState::Success {
        if let Some(o) = book.txns.get_mut(&orig_order) {
            o.refunded_fen += amount;
        }
    }
    let refund = UpTxn {
        txn_type: TXN_REFUND,
        order_id: order_id.clone(),
        txn_time: get("txnTime"),
        amount_fen: amount,
        state,
        query_id: query_id.clone(),
        orig_query_id: get("origQryId"),
        front_url: String::new(),
        back_url: get("backUrl"),
        pay_timeout_ms: None,
        desc: orig.desc.clone(),
        done_ms: Some(now),
        refunded_fen: 0,
    };
    book.txns.insert(order_id.clone(), refund.clone());
    book.by_query_id.insert(query_id.clone(), order_id);
    drop(book);
    sim.spawn_notify(&refund);
    sim.reply(&p, "00", "成功[0000000]", &[("queryId", query_id)])
}

async fn query(State(sim): State<UnionpaySimulator>, body: Bytes) -> Response {
    let p = form_params(&body);
    if let Err(r) = sim.authenticate(&p) {
        return r;
    }
    sim.inner.faults.hold_api().await;
    if sim.inner.faults.get().api_errors {
        return sim.reply(&p, "03", "交易通讯超时", &[]);
    }
    let order_id = p.get("orderId").cloned().unwrap_or_default();
    let txn_time = p.get("txnTime").cloned().unwrap_or_default();
    let Some(mut t) = sim.book().txns.get(&order_id).cloned() else {
        return sim.reply(&p, "34", "查无此交易", &[]);
    };
    if t.txn_time != txn_time {
        return sim.reply(&p, "34", "查无此交易（txnTime 不符）", &[]);
    }
    if t.state == TxnState::Waiting && t.pay_timeout_ms.is_some_and(|e| e <= sim.now()) {
        t.state = TxnState::Failed;
        if let Some(x) = sim.book().txns.get_mut(&order_id) {
            x.state = TxnState::Failed;
        }
    }
    let delta = sim.inner.faults.get().amount_delta_fen;
    let (orig, msg) = match t.state {
        TxnState::Success => ("00", "成功[0000000]"),
        TxnState::Waiting => ("05", "交易处理中"),
        TxnState::Failed => ("01", "交易失败（已超时或已取消）"),
    };
    let mut extra = vec![
        ("origRespCode", orig.to_string()),
        ("origRespMsg", msg.to_string()),
        ("txnAmt", (t.amount_fen + delta).to_string()),
        ("currencyCode", "156".to_string()),
    ];
    if !t.query_id.is_empty() {
        extra.push(("queryId", t.query_id.clone()));
        extra.push(("settleAmt", (t.amount_fen + delta).to_string()));
        extra.push(("settleDate", t.done_ms.map(|ms| compact_datetime_cst(ms)[4..8].to_string()).unwrap_or_default()));
    }
    if !t.orig_query_id.is_empty() {
        extra.push(("origQryId", t.orig_query_id.clone()));
    }
    sim.reply(&p, "00", "成功[0000000]", &extra)
}

/// The reconciliation file of a settlement day (MMDD): every consume and refund completed that
/// day, in the layout of [`SettlementRow`], zipped, zlib-compressed, Base64.
async fn file(State(sim): State<UnionpaySimulator>, body: Bytes) -> Response {
    let p = form_params(&body);
    if let Err(r) = sim.authenticate(&p) {
        return r;
    }
    let settle = p.get("settleDate").cloned().unwrap_or_default();
    if settle.len() != 4 || p.get("txnType").map(String::as_str) != Some(TXN_FILE) {
        return sim.reply(&p, "30", "settleDate 或 txnType 错误", &[]);
    }
    let mut rows: Vec<SettlementRow> = sim
        .book()
        .txns
        .values()
        .filter(|t| {
            t.state == TxnState::Success && t.done_ms.is_some_and(|ms| compact_datetime_cst(ms)[4..8] == settle)
        })
        .map(|t| SettlementRow {
            txn_type: t.txn_type.to_string(),
            order_id: t.order_id.clone(),
            txn_time: t.txn_time.clone(),
            query_id: t.query_id.clone(),
            amount_fen: t.amount_fen,
            orig_query_id: t.orig_query_id.clone(),
            settle_date: settle.clone(),
            resp_code: "00".into(),
        })
        .collect();
    if rows.is_empty() {
        return sim.reply(&p, "98", "文件不存在", &[]);
    }
    rows.sort_by(|a, b| a.query_id.cmp(&b.query_id));
    let name = format!("INN{}{settle}88ZM_{}", &compact_datetime_cst(sim.now())[2..4], sim.inner.sandbox.mer_id);
    let zipped = (|| -> std::io::Result<Vec<u8>> {
        let mut buf = std::io::Cursor::new(Vec::new());
        {
            let mut z = zip::ZipWriter::new(&mut buf);
            z.start_file(name.clone(), zip::write::SimpleFileOptions::default()).map_err(std::io::Error::other)?;
            z.write_all(write_settlement(&rows).as_bytes())?;
            z.finish().map_err(std::io::Error::other)?;
        }
        let mut enc = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
        enc.write_all(&buf.into_inner())?;
        enc.finish()
    })();
    match zipped {
        Ok(bytes) => {
            use base64::Engine;
            let content = base64::engine::general_purpose::STANDARD.encode(bytes);
            sim.reply(
                &p,
                "00",
                "成功[0000000]",
                &[("fileName", format!("{name}.zip")), ("fileContent", content), ("settleDate", settle)],
            )
        }
        Err(e) => sim.reply(&p, "03", &format!("文件生成失败：{e}"), &[]),
    }
}
