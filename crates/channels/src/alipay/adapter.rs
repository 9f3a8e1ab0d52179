//! Bursar's Alipay client: signs every request with the app key (RSA2), verifies every answer's
//! signature over the exact text Alipay signed, and refuses unsigned, forged, stale or
//! misaddressed notifications.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use bursar_domain::payment::{ChannelOutcome, PayMethod};
use bursar_domain::refund::RefundOutcome;
use bursar_domain::time_fmt::{datetime_cst, parse_datetime_cst_ms};
use bursar_domain::{Clock, Fen};
use serde::Deserialize;
use serde_json::{json, Value};

use super::protocol::*;
use crate::crypto::{RsaSigner, RsaVerifier};
use crate::{Channel, ChannelError, CodeOutcome, Notice, PayAction, PayRequest, PaymentNotice, RefundRequest};

/// One Alipay app's settings. Secrets are never printed by `Debug`.
#[derive(Clone, Deserialize, serde::Serialize)]
pub struct AlipayConfig {
    pub gateway_url: String,
    pub app_id: String,
    pub app_private_key_pem: String,
    pub alipay_public_key_pem: String,
    /// The merchant's Alipay user id; notifications for another seller are refused.
    #[serde(default)]
    pub seller_id: Option<String>,
}

impl std::fmt::Debug for AlipayConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AlipayConfig")
            .field("gateway_url", &self.gateway_url)
            .field("app_id", &self.app_id)
            .field("seller_id", &self.seller_id)
            .field("app_private_key_pem", &"<redacted>")
            .finish()
    }
}

pub struct AlipayAdapter {
    gateway_url: String,
    app_id: String,
    seller_id: Option<String>,
    signer: RsaSigner,
    verifier: RsaVerifier,
    http: reqwest::Client,
    clock: Arc<dyn Clock>,
}

const ALIPAY_METHODS: [PayMethod; 4] =
    [PayMethod::AlipayQr, PayMethod::AlipayPage, PayMethod::AlipayWap, PayMethod::AlipayCode];

/// The inner object of a verified answer.
struct Answer {
    code: String,
    sub_code: String,
    sub_msg: String,
    body: Value,
}

impl Answer {
    fn str(&self, key: &str) -> &str {
        self.body.get(key).and_then(Value::as_str).unwrap_or("")
    }
    fn refused(&self) -> ChannelError {
        let code = if self.sub_code.is_empty() { self.code.clone() } else { self.sub_code.clone() };
        ChannelError::Refused { code, message: self.sub_msg.clone() }
    }
}

fn yuan(fen: i64) -> String {
    Fen(fen).to_yuan_string()
}

fn fen_of(text: &str) -> Result<i64, ChannelError> {
    Fen::parse_yuan(text).map(Fen::get).map_err(|_| ChannelError::Protocol(format!("bad amount {text:?}")))
}

impl AlipayAdapter {
    pub fn new(cfg: &AlipayConfig, clock: Arc<dyn Clock>) -> Result<AlipayAdapter, ChannelError> {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .connect_timeout(Duration::from_secs(5))
            .build()
            .map_err(|e| ChannelError::Config(e.to_string()))?;
        Ok(AlipayAdapter {
            gateway_url: cfg.gateway_url.clone(),
            app_id: cfg.app_id.clone(),
            seller_id: cfg.seller_id.clone(),
            signer: RsaSigner::from_pkcs8_pem(&cfg.app_private_key_pem)?,
            verifier: RsaVerifier::from_spki_pem(&cfg.alipay_public_key_pem)?,
            http,
            clock,
        })
    }

    pub fn app_id(&self) -> &str {
        &self.app_id
    }

    /// The common parameters plus `biz_content`, signed.
    fn signed_params(
        &self,
        method: &str,
        biz: &Value,
        extra: &[(&str, &str)],
    ) -> Result<BTreeMap<String, String>, ChannelError> {
        let mut p = BTreeMap::new();
        p.insert("app_id".to_string(), self.app_id.clone());
        p.insert("method".to_string(), method.to_string());
        p.insert("format".to_string(), "JSON".to_string());
        p.insert("charset".to_string(), "utf-8".to_string());
        p.insert("sign_type".to_string(), "RSA2".to_string());
        p.insert("timestamp".to_string(), datetime_cst(self.clock.now_ms()));
        p.insert("version".to_string(), "1.0".to_string());
        p.insert("biz_content".to_string(), biz.to_string());
        for (k, v) in extra {
            if !v.is_empty() {
                p.insert((*k).to_string(), (*v).to_string());
            }
        }
        let sign = self.signer.sign_base64(request_sign_content(&p).as_bytes())?;
        p.insert("sign".to_string(), sign);
        Ok(p)
    }

    /// Calls a server-side method and returns its verified inner object.
    async fn call(&self, method: &str, biz: Value) -> Result<Answer, ChannelError> {
        let params = self.signed_params(method, &biz, &[])?;
        self.post_params(method, &params).await
    }

    /// Verifies a response body: the signature over the exact inner text, then parses it.
    fn verify_answer(&self, raw: &str, method: &str) -> Result<Answer, ChannelError> {
        let key = response_key(method);
        let (inner, _is_error) = match signed_text(raw, &key) {
            Some(t) => (t, false),
            None => match signed_text(raw, "error_response") {
                Some(t) => (t, true),
                None => return Err(ChannelError::Protocol(format!("no {key} in the answer"))),
            },
        };
        let whole: Value = serde_json::from_str(raw).map_err(|e| ChannelError::Protocol(format!("bad JSON: {e}")))?;
        let sign = whole.get("sign").and_then(Value::as_str).unwrap_or("");
        if sign.is_empty() {
            return Err(ChannelError::Verification("the answer is not signed".into()));
        }
        if !self.verifier.verify_base64(inner.as_bytes(), sign) {
            return Err(ChannelError::Verification("the answer's signature does not verify".into()));
        }
        let body: Value = serde_json::from_str(inner).map_err(|e| ChannelError::Protocol(e.to_string()))?;
        let s = |k: &str| body.get(k).and_then(Value::as_str).unwrap_or("").to_string();
        Ok(Answer { code: s("code"), sub_code: s("sub_code"), sub_msg: s("sub_msg"), body })
    }

    fn trade_outcome(&self, a: &Answer, merchant_order_no: &str) -> Result<ChannelOutcome, ChannelError> {
        if a.str("out_trade_no") != merchant_order_no {
            return Err(ChannelError::Verification("the answer is for another order".into()));
        }
        Ok(match a.str("trade_status") {
            "WAIT_BUYER_PAY" => ChannelOutcome::Pending,
            "TRADE_CLOSED" => ChannelOutcome::Closed,
            "TRADE_SUCCESS" | "TRADE_FINISHED" => ChannelOutcome::Paid {
                channel_txn_id: a.str("trade_no").to_string(),
                amount_fen: fen_of(a.str("total_amount"))?,
                paid_at_ms: parse_datetime_cst_ms(a.str("send_pay_date")).unwrap_or_else(|| self.clock.now_ms()),
            },
            other => return Err(ChannelError::Protocol(format!("unknown trade_status {other}"))),
        })
    }

    /// The signed parameters of a page.pay / wap.pay, which the payer's browser posts to the
    /// gateway (Alipay's cashier takes it from there).
    fn cashier_form(&self, req: &PayRequest<'_>, method: &str, product: &str) -> Result<PayAction, ChannelError> {
        let biz = json!({
            "out_trade_no": req.merchant_order_no,
            "total_amount": yuan(req.amount_fen),
            "subject": req.description.chars().take(256).collect::<String>(),
            "product_code": product,
            "time_expire": datetime_cst(req.expires_at_ms),
        });
        let params =
            self.signed_params(method, &biz, &[("notify_url", req.notify_url), ("return_url", req.return_url)])?;
        Ok(PayAction::Form {
            action: format!("{}?charset=utf-8", self.gateway_url),
            fields: params.into_iter().collect(),
        })
    }

    /// Verifies an asynchronous notification (form POST): app id, signature over the sorted
    /// parameters without `sign`/`sign_type`, seller; returns what it says.
    pub fn verify_notification(&self, body: &[u8]) -> Result<Notice, ChannelError> {
        let text =
            std::str::from_utf8(body).map_err(|_| ChannelError::Verification("notification is not UTF-8".into()))?;
        let p = parse_form(text);
        let get = |k: &str| p.get(k).map(String::as_str).unwrap_or("");
        if get("sign").is_empty() {
            return Err(ChannelError::Verification("unsigned notification".into()));
        }
        if get("sign_type") != "RSA2" {
            return Err(ChannelError::Verification(format!("unexpected sign_type {:?}", get("sign_type"))));
        }
        if !self.verifier.verify_base64(notify_sign_content(&p).as_bytes(), get("sign")) {
            return Err(ChannelError::Verification("notification signature does not verify".into()));
        }
        if get("app_id") != self.app_id {
            return Err(ChannelError::Verification(format!("notification for another app {}", get("app_id"))));
        }
        if let (Some(mine), seller) = (&self.seller_id, get("seller_id")) {
            if !seller.is_empty() && seller != mine {
                return Err(ChannelError::Verification("notification for another seller".into()));
            }
        }
        let no = get("out_trade_no").to_string();
        // A refund also notifies (with `out_biz_no` and the trade's cumulative `refund_fee`);
        // it reports the trade's status like any other, and the refund itself is confirmed by
        // the refund answer and refund query, never by this cumulative figure.
        let outcome = match get("trade_status") {
            "TRADE_SUCCESS" | "TRADE_FINISHED" => ChannelOutcome::Paid {
                channel_txn_id: get("trade_no").to_string(),
                amount_fen: fen_of(get("total_amount"))?,
                paid_at_ms: parse_datetime_cst_ms(get("gmt_payment")).unwrap_or_else(|| self.clock.now_ms()),
            },
            "TRADE_CLOSED" => ChannelOutcome::Closed,
            "WAIT_BUYER_PAY" => ChannelOutcome::Pending,
            other => return Err(ChannelError::Protocol(format!("unknown trade_status {other}"))),
        };
        Ok(Notice::Payment(PaymentNotice { merchant_order_no: no, outcome }))
    }

    /// The day's trade bill: asks for its download URL, fetches the zip and parses it.
    pub async fn trade_bill(&self, bill_date: &str) -> Result<super::bill::AlipayBill, ChannelError> {
        let a = self
            .call(
                "alipay.data.dataservice.bill.downloadurl.query",
                json!({"bill_type": "trade", "bill_date": bill_date}),
            )
            .await?;
        if a.code != CODE_SUCCESS {
            return Err(a.refused());
        }
        let url = a.str("bill_download_url").to_string();
        let resp = self.http.get(&url).send().await.map_err(|e| ChannelError::Unreachable(e.to_string()))?;
        if !resp.status().is_success() {
            return Err(ChannelError::Refused { code: format!("HTTP_{}", resp.status().as_u16()), message: url });
        }
        let bytes = resp.bytes().await.map_err(|e| ChannelError::Unreachable(e.to_string()))?;
        super::bill::AlipayBill::from_zip(&bytes)
    }
}

fn refund_of(a: &Answer, out_refund_no: &str, expected_fen: Option<i64>) -> Result<RefundOutcome, ChannelError> {
    let refunded = a.str("refund_amount");
    if refunded.is_empty() {
        return Ok(RefundOutcome::NotFound);
    }
    if a.str("out_request_no") != out_refund_no {
        return Err(ChannelError::Verification("refund answer is for another request".into()));
    }
    let amount_fen = fen_of(refunded)?;
    if expected_fen.is_some_and(|e| e != amount_fen) {
        return Err(ChannelError::Verification("refund answer's amount differs".into()));
    }
    Ok(match a.str("refund_status") {
        "" | "REFUND_SUCCESS" => {
            RefundOutcome::Succeeded { channel_refund_id: format!("{}:{out_refund_no}", a.str("trade_no")), amount_fen }
        }
        other => RefundOutcome::Failed { reason: format!("refund_status {other}") },
    })
}

#[async_trait]
impl Channel for AlipayAdapter {
    fn channel(&self) -> &'static str {
        "alipay"
    }
    fn merchant_id(&self) -> &str {
        &self.app_id
    }
    fn methods(&self) -> &[PayMethod] {
        &ALIPAY_METHODS
    }
    fn verify_notice(&self, _headers: &axum::http::HeaderMap, body: &[u8]) -> Result<Notice, ChannelError> {
        self.verify_notification(body)
    }

    async fn create(&self, req: &PayRequest<'_>) -> Result<PayAction, ChannelError> {
        match req.method {
            PayMethod::AlipayQr => {
                let biz = json!({
                    "out_trade_no": req.merchant_order_no,
                    "total_amount": yuan(req.amount_fen),
                    "subject": req.description.chars().take(256).collect::<String>(),
                    "time_expire": datetime_cst(req.expires_at_ms),
                });
                let params = self.signed_params("alipay.trade.precreate", &biz, &[("notify_url", req.notify_url)])?;
                let a = self.post_params("alipay.trade.precreate", &params).await?;
                if a.code != CODE_SUCCESS {
                    return Err(a.refused());
                }
                if a.str("out_trade_no") != req.merchant_order_no || a.str("qr_code").is_empty() {
                    return Err(ChannelError::Verification("precreate answer does not match the order".into()));
                }
                Ok(PayAction::Qr { code_url: a.str("qr_code").to_string() })
            }
            PayMethod::AlipayPage => self.cashier_form(req, "alipay.trade.page.pay", "FAST_INSTANT_TRADE_PAY"),
            PayMethod::AlipayWap => self.cashier_form(req, "alipay.trade.wap.pay", "QUICK_WAP_PAY"),
            other => Err(ChannelError::Config(format!("Alipay cannot start {}", other.as_str()))),
        }
    }

    async fn pay_with_code(&self, req: &PayRequest<'_>, auth_code: &str) -> Result<CodeOutcome, ChannelError> {
        let biz = json!({
            "out_trade_no": req.merchant_order_no,
            "scene": "bar_code",
            "auth_code": auth_code,
            "total_amount": yuan(req.amount_fen),
            "subject": req.description.chars().take(256).collect::<String>(),
        });
        let params = self.signed_params("alipay.trade.pay", &biz, &[("notify_url", req.notify_url)])?;
        let a = self.post_params("alipay.trade.pay", &params).await?;
        match a.code.as_str() {
            CODE_SUCCESS => {
                if a.str("out_trade_no") != req.merchant_order_no {
                    return Err(ChannelError::Verification("the answer is for another order".into()));
                }
                Ok(CodeOutcome::Final(ChannelOutcome::Paid {
                    channel_txn_id: a.str("trade_no").to_string(),
                    amount_fen: fen_of(a.str("total_amount"))?,
                    paid_at_ms: parse_datetime_cst_ms(a.str("gmt_payment")).unwrap_or_else(|| self.clock.now_ms()),
                }))
            }
            CODE_WAITING | CODE_UNKNOWN => Ok(CodeOutcome::Waiting),
            _ => Ok(CodeOutcome::Final(ChannelOutcome::Failed { reason: format!("{}: {}", a.sub_code, a.sub_msg) })),
        }
    }

    async fn reverse(&self, merchant_order_no: &str) -> Result<bool, ChannelError> {
        let a = self.call("alipay.trade.cancel", json!({"out_trade_no": merchant_order_no})).await?;
        match a.code.as_str() {
            CODE_SUCCESS => Ok(a.str("retry_flag") != "Y"),
            _ if a.str("retry_flag") == "Y" || a.code == CODE_UNKNOWN => Ok(false),
            _ => Err(a.refused()),
        }
    }

    async fn query(&self, merchant_order_no: &str) -> Result<ChannelOutcome, ChannelError> {
        let a = self.call("alipay.trade.query", json!({"out_trade_no": merchant_order_no})).await?;
        if a.code == CODE_SUCCESS {
            return self.trade_outcome(&a, merchant_order_no);
        }
        match a.sub_code.as_str() {
            "ACQ.TRADE_NOT_EXIST" => Ok(ChannelOutcome::NotFound),
            _ if a.code == CODE_UNKNOWN => Err(ChannelError::Unreachable(a.sub_msg.clone())),
            _ => Err(a.refused()),
        }
    }

    /// Closes an unpaid trade; codes normalised for the engine (`ORDER_NOT_EXIST`, `ORDERPAID`).
    async fn close(&self, merchant_order_no: &str) -> Result<(), ChannelError> {
        let a = self.call("alipay.trade.close", json!({"out_trade_no": merchant_order_no})).await?;
        if a.code == CODE_SUCCESS {
            return Ok(());
        }
        Err(match a.sub_code.as_str() {
            "ACQ.TRADE_NOT_EXIST" => {
                ChannelError::Refused { code: "ORDER_NOT_EXIST".into(), message: a.sub_msg.clone() }
            }
            "ACQ.TRADE_STATUS_ERROR" => ChannelError::Refused { code: "ORDERPAID".into(), message: a.sub_msg.clone() },
            _ if a.code == CODE_UNKNOWN => ChannelError::Unreachable(a.sub_msg.clone()),
            _ => a.refused(),
        })
    }

    async fn refund(&self, req: &RefundRequest<'_>) -> Result<RefundOutcome, ChannelError> {
        let biz = json!({
            "out_trade_no": req.merchant_order_no,
            "refund_amount": yuan(req.refund_fen),
            "out_request_no": req.out_refund_no,
            "refund_reason": req.reason.chars().take(256).collect::<String>(),
        });
        let a = self.call("alipay.trade.refund", biz).await?;
        match a.code.as_str() {
            // The synchronous answer carries the trade's cumulative refund; ask for this request.
            CODE_SUCCESS => match self.refund_query(req.merchant_order_no, req.out_refund_no).await? {
                RefundOutcome::NotFound => Ok(RefundOutcome::Processing { channel_refund_id: String::new() }),
                o => Ok(o),
            },
            CODE_UNKNOWN => Err(ChannelError::Unreachable(a.sub_msg.clone())),
            _ => Err(a.refused()),
        }
    }

    async fn refund_query(&self, merchant_order_no: &str, out_refund_no: &str) -> Result<RefundOutcome, ChannelError> {
        let a = self
            .call(
                "alipay.trade.fastpay.refund.query",
                json!({"out_trade_no": merchant_order_no, "out_request_no": out_refund_no}),
            )
            .await?;
        if a.code != CODE_SUCCESS {
            return match a.sub_code.as_str() {
                "ACQ.TRADE_NOT_EXIST" => Ok(RefundOutcome::NotFound),
                _ => Err(a.refused()),
            };
        }
        refund_of(&a, out_refund_no, None)
    }
}

impl AlipayAdapter {
    async fn post_params(&self, method: &str, params: &BTreeMap<String, String>) -> Result<Answer, ChannelError> {
        let resp = self
            .http
            .post(format!("{}?charset=utf-8", self.gateway_url))
            .header("Content-Type", "application/x-www-form-urlencoded;charset=utf-8")
            .body(encode_form(params))
            .send()
            .await
            .map_err(|e| ChannelError::Unreachable(e.to_string()))?;
        let status = resp.status().as_u16();
        let raw = resp.text().await.map_err(|e| ChannelError::Unreachable(e.to_string()))?;
        if status >= 500 {
            return Err(ChannelError::Unreachable(format!("HTTP {status}")));
        }
        self.verify_answer(&raw, method)
    }
}
