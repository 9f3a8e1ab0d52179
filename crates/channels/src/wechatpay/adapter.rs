//! Bursar's WeChat Pay v3 client: signs every request, verifies every response (including 204)
//! and every notification against the configured WeChat Pay public key, and refuses anything
//! unsigned, forged, stale or addressed to another merchant.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use axum::http::HeaderMap;
use bursar_domain::payment::ChannelOutcome;
use bursar_domain::time_fmt::{parse_rfc3339_ms, rfc3339_cst};
use bursar_domain::Clock;
use serde::Deserialize;

use super::protocol::*;
use crate::crypto::{aes256gcm_decrypt, random_alnum, RsaSigner, RsaVerifier};
use crate::CodeOutcome;
use crate::{
    url_encode, Channel, ChannelError, Notice, PayAction, PayRequest, PaymentNotice, RefundNotice, RefundRequest,
};
use bursar_domain::payment::PayMethod;
use bursar_domain::refund::RefundOutcome;

/// A merchant account's WeChat Pay settings. Secrets are never printed by `Debug`.
#[derive(Clone, Deserialize, serde::Serialize)]
pub struct WechatPayConfig {
    pub base_url: String,
    pub mchid: String,
    pub appid: String,
    pub merchant_serial_no: String,
    pub merchant_private_key_pem: String,
    pub platform_public_key_id: String,
    pub platform_public_key_pem: String,
    pub apiv3_key: String,
    /// The API v2 key (32 characters), for payment-code (付款码) collection at a counter.
    #[serde(default)]
    pub api_v2_key: Option<String>,
}

impl std::fmt::Debug for WechatPayConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WechatPayConfig")
            .field("base_url", &self.base_url)
            .field("mchid", &self.mchid)
            .field("appid", &self.appid)
            .field("merchant_serial_no", &self.merchant_serial_no)
            .field("platform_public_key_id", &self.platform_public_key_id)
            .field("merchant_private_key_pem", &"<redacted>")
            .field("apiv3_key", &"<redacted>")
            .field("api_v2_key", &self.api_v2_key.as_ref().map(|_| "<redacted>"))
            .finish()
    }
}

pub struct WechatPayAdapter {
    base_url: String,
    mchid: String,
    appid: String,
    merchant_serial_no: String,
    platform_public_key_id: String,
    signer: RsaSigner,
    verifier: RsaVerifier,
    apiv3_key: Vec<u8>,
    api_v2_key: Option<String>,
    http: reqwest::Client,
    clock: Arc<dyn Clock>,
}

impl WechatPayAdapter {
    pub fn new(cfg: &WechatPayConfig, clock: Arc<dyn Clock>) -> Result<WechatPayAdapter, ChannelError> {
        if cfg.apiv3_key.len() != 32 {
            return Err(ChannelError::Config("the APIv3 key must be 32 characters".into()));
        }
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .connect_timeout(Duration::from_secs(5))
            .build()
            .map_err(|e| ChannelError::Config(e.to_string()))?;
        Ok(WechatPayAdapter {
            base_url: cfg.base_url.trim_end_matches('/').to_string(),
            mchid: cfg.mchid.clone(),
            appid: cfg.appid.clone(),
            merchant_serial_no: cfg.merchant_serial_no.clone(),
            platform_public_key_id: cfg.platform_public_key_id.clone(),
            signer: RsaSigner::from_pkcs8_pem(&cfg.merchant_private_key_pem)?,
            verifier: RsaVerifier::from_spki_pem(&cfg.platform_public_key_pem)?,
            apiv3_key: cfg.apiv3_key.as_bytes().to_vec(),
            api_v2_key: cfg.api_v2_key.clone().filter(|k| !k.is_empty()),
            http,
            clock,
        })
    }

    pub fn mchid(&self) -> &str {
        &self.mchid
    }
    pub fn appid(&self) -> &str {
        &self.appid
    }

    /// Sends a signed request; on 2xx verifies the response signature and returns the body.
    async fn call(
        &self,
        method: reqwest::Method,
        path_with_query: &str,
        body: Option<Vec<u8>>,
    ) -> Result<(u16, Vec<u8>), ChannelError> {
        let body_bytes = body.unwrap_or_default();
        let ts = (self.clock.now_ms() / 1000).to_string();
        let nonce = random_alnum(32);
        let message = request_message(method.as_str(), path_with_query, &ts, &nonce, &body_bytes);
        let signature = self.signer.sign_base64(&message)?;
        let auth = authorization_header(&AuthorizationParts {
            mchid: self.mchid.clone(),
            nonce_str: nonce,
            timestamp: ts,
            serial_no: self.merchant_serial_no.clone(),
            signature,
        });
        let mut req = self
            .http
            .request(method, format!("{}{}", self.base_url, path_with_query))
            .header("Authorization", auth)
            .header("Accept", "application/json")
            .header("User-Agent", concat!("Bursar/", env!("CARGO_PKG_VERSION")));
        if !body_bytes.is_empty() {
            req = req.header("Content-Type", "application/json").body(body_bytes);
        }
        let resp = req.send().await.map_err(|e| ChannelError::Unreachable(e.to_string()))?;
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let bytes = resp.bytes().await.map_err(|e| ChannelError::Unreachable(e.to_string()))?.to_vec();
        if (200..300).contains(&status) {
            self.verify_signed(&headers, &bytes)?;
            Ok((status, bytes))
        } else if status >= 500 {
            Err(ChannelError::Unreachable(format!("HTTP {status}: {}", String::from_utf8_lossy(&bytes))))
        } else {
            let err: ErrorBody = serde_json::from_slice(&bytes).unwrap_or(ErrorBody {
                code: format!("HTTP_{status}"),
                message: String::from_utf8_lossy(&bytes).into_owned(),
            });
            Err(ChannelError::Refused { code: err.code, message: err.message })
        }
    }

    /// Downloads and checks a day's trade bill (`bill_type` ALL, GZIP), returning it parsed.
    /// The bill request's answer is verified like every response; the file itself is unsigned,
    /// so its SHA1 is checked against the signed answer.
    pub async fn trade_bill(&self, bill_date: &str) -> Result<super::bill::TradeBill, ChannelError> {
        let path = format!("/v3/bill/tradebill?bill_date={bill_date}&bill_type=ALL&tar_type=GZIP");
        let (_, body) = self.call(reqwest::Method::GET, &path, None).await?;
        let answer: serde_json::Value =
            serde_json::from_slice(&body).map_err(|e| ChannelError::Protocol(e.to_string()))?;
        let url = answer["download_url"].as_str().ok_or_else(|| ChannelError::Protocol("no download_url".into()))?;
        let expected = answer["hash_value"].as_str().unwrap_or_default().to_ascii_lowercase();
        let download_path = url
            .find("/v3/billdownload/")
            .map(|i| &url[i..])
            .ok_or_else(|| ChannelError::Protocol(format!("odd download_url {url}")))?;
        let gz = self.download(download_path).await?;
        let mut csv = String::new();
        {
            use std::io::Read;
            flate2::read::GzDecoder::new(&gz[..])
                .read_to_string(&mut csv)
                .map_err(|e| ChannelError::Protocol(format!("bill is not gzip text: {e}")))?;
        }
        let actual =
            hex::encode(ring::digest::digest(&ring::digest::SHA1_FOR_LEGACY_USE_ONLY, csv.as_bytes()).as_ref());
        if !crate::crypto::ct_eq(actual.as_bytes(), expected.as_bytes()) {
            return Err(ChannelError::Verification("bill file does not match its SHA1".into()));
        }
        super::bill::parse(&csv)
    }

    /// A signed GET whose (file) response is not signed.
    async fn download(&self, path: &str) -> Result<Vec<u8>, ChannelError> {
        let ts = (self.clock.now_ms() / 1000).to_string();
        let nonce = random_alnum(32);
        let signature = self.signer.sign_base64(&request_message("GET", path, &ts, &nonce, b""))?;
        let auth = authorization_header(&AuthorizationParts {
            mchid: self.mchid.clone(),
            nonce_str: nonce,
            timestamp: ts,
            serial_no: self.merchant_serial_no.clone(),
            signature,
        });
        let resp = self
            .http
            .get(format!("{}{}", self.base_url, path))
            .header("Authorization", auth)
            .send()
            .await
            .map_err(|e| ChannelError::Unreachable(e.to_string()))?;
        let status = resp.status().as_u16();
        let bytes = resp.bytes().await.map_err(|e| ChannelError::Unreachable(e.to_string()))?.to_vec();
        if status != 200 {
            return Err(ChannelError::Refused {
                code: format!("HTTP_{status}"),
                message: String::from_utf8_lossy(&bytes).into_owned(),
            });
        }
        Ok(bytes)
    }

    /// Verifies the WeChat Pay signature headers over the exact body bytes.
    pub fn verify_signed(&self, headers: &HeaderMap, body: &[u8]) -> Result<(), ChannelError> {
        let h = |name: &str| headers.get(name).and_then(|v| v.to_str().ok()).map(str::to_string);
        let serial =
            h(HEADER_SERIAL).ok_or_else(|| ChannelError::Verification("unsigned: no Wechatpay-Serial".into()))?;
        let ts =
            h(HEADER_TIMESTAMP).ok_or_else(|| ChannelError::Verification("unsigned: no Wechatpay-Timestamp".into()))?;
        let nonce = h(HEADER_NONCE).ok_or_else(|| ChannelError::Verification("unsigned: no Wechatpay-Nonce".into()))?;
        let sig =
            h(HEADER_SIGNATURE).ok_or_else(|| ChannelError::Verification("unsigned: no Wechatpay-Signature".into()))?;
        if let Some(t) = h(HEADER_SIGNATURE_TYPE) {
            if t != SIGNATURE_TYPE {
                return Err(ChannelError::Verification(format!("unsupported signature type {t}")));
            }
        }
        if serial != self.platform_public_key_id {
            return Err(ChannelError::Verification(format!("signed with unknown key {serial}")));
        }
        let ts_secs: i64 = ts.parse().map_err(|_| ChannelError::Verification("bad timestamp".into()))?;
        let now = self.clock.now_ms() / 1000;
        if !bursar_domain::clock::within(ts_secs, now, MAX_CLOCK_SKEW_SECS) {
            return Err(ChannelError::Verification(format!(
                "timestamp {ts_secs} is out of the {MAX_CLOCK_SKEW_SECS}s window"
            )));
        }
        if !self.verifier.verify_base64(&response_message(&ts, &nonce, body), &sig) {
            return Err(ChannelError::Verification("bad signature".into()));
        }
        Ok(())
    }

    /// Verifies and decrypts a notification — payment (`TRANSACTION.*`) or refund (`REFUND.*`).
    /// The caller still checks amounts against its own records.
    pub fn verify_notification(
        &self,
        headers: &HeaderMap,
        body: &[u8],
    ) -> Result<(Notification, Notice), ChannelError> {
        self.verify_signed(headers, body)?;
        let note: Notification = serde_json::from_slice(body)
            .map_err(|e| ChannelError::Protocol(format!("notification is not the v3 envelope: {e}")))?;
        if note.resource.algorithm != "AEAD_AES_256_GCM" {
            return Err(ChannelError::Protocol(format!("unsupported algorithm {}", note.resource.algorithm)));
        }
        let plain = aes256gcm_decrypt(
            &self.apiv3_key,
            note.resource.nonce.as_bytes(),
            note.resource.associated_data.as_deref().unwrap_or("").as_bytes(),
            &note.resource.ciphertext,
        )?;
        let notice = match note.resource.original_type.as_str() {
            "transaction" => {
                let txn: Transaction = serde_json::from_slice(&plain)
                    .map_err(|e| ChannelError::Protocol(format!("bad transaction resource: {e}")))?;
                let outcome = self.outcome_of(&txn)?;
                Notice::Payment(PaymentNotice { merchant_order_no: txn.out_trade_no, outcome })
            }
            "refund" => {
                let r: RefundResource = serde_json::from_slice(&plain)
                    .map_err(|e| ChannelError::Protocol(format!("bad refund resource: {e}")))?;
                if r.mchid != self.mchid {
                    return Err(ChannelError::Verification(format!(
                        "merchant mismatch: {} is not {}",
                        r.mchid, self.mchid
                    )));
                }
                let outcome = refund_outcome(&r.refund_status, &r.refund_id, r.amount.refund);
                Notice::Refund(RefundNotice { out_refund_no: r.out_refund_no, outcome })
            }
            other => return Err(ChannelError::Protocol(format!("unknown notification resource {other}"))),
        };
        Ok((note, notice))
    }

    /// Maps a transaction to an outcome after checking it is ours.
    pub fn outcome_of(&self, txn: &Transaction) -> Result<ChannelOutcome, ChannelError> {
        if txn.mchid != self.mchid {
            return Err(ChannelError::Verification(format!("merchant mismatch: {} is not {}", txn.mchid, self.mchid)));
        }
        if txn.appid != self.appid {
            return Err(ChannelError::Verification(format!("appid mismatch: {} is not {}", txn.appid, self.appid)));
        }
        Ok(match txn.trade_state.as_str() {
            // REFUND means it was paid and later (partly) refunded: it was still paid.
            "SUCCESS" | "REFUND" => {
                let channel_txn_id = txn
                    .transaction_id
                    .clone()
                    .filter(|s| !s.is_empty())
                    .ok_or_else(|| ChannelError::Protocol("paid transaction without transaction_id".into()))?;
                let amount_fen = txn
                    .amount
                    .as_ref()
                    .and_then(|a| a.total)
                    .ok_or_else(|| ChannelError::Protocol("paid transaction without amount".into()))?;
                let paid_at_ms =
                    txn.success_time.as_deref().and_then(parse_rfc3339_ms).unwrap_or_else(|| self.clock.now_ms());
                ChannelOutcome::Paid { channel_txn_id, amount_fen, paid_at_ms }
            }
            "NOTPAY" | "USERPAYING" => ChannelOutcome::Pending,
            "CLOSED" | "REVOKED" => ChannelOutcome::Closed,
            "PAYERROR" => ChannelOutcome::Failed { reason: txn.trade_state_desc.clone() },
            other => return Err(ChannelError::Protocol(format!("unknown trade_state {other}"))),
        })
    }
}

fn refund_outcome(status: &str, refund_id: &str, refund_fen: i64) -> RefundOutcome {
    match status {
        "SUCCESS" => RefundOutcome::Succeeded { channel_refund_id: refund_id.to_string(), amount_fen: refund_fen },
        "PROCESSING" => RefundOutcome::Processing { channel_refund_id: refund_id.to_string() },
        other => RefundOutcome::Failed { reason: format!("refund {other}") },
    }
}

/// The products this adapter starts: API v3's, plus the v2 payment code when a v2 key is set.
const WECHAT_METHODS: [PayMethod; 4] =
    [PayMethod::WechatNative, PayMethod::WechatJsapi, PayMethod::WechatH5, PayMethod::WechatCode];

impl WechatPayAdapter {
    /// Calls a v2 XML API, signing with HMAC-SHA256 and verifying the answer's signature.
    async fn call_v2(
        &self,
        path: &str,
        mut params: std::collections::BTreeMap<String, String>,
    ) -> Result<std::collections::BTreeMap<String, String>, ChannelError> {
        use super::v2;
        let key = self.api_v2_key.as_deref().ok_or_else(|| ChannelError::Config("no API v2 key configured".into()))?;
        params.insert("appid".into(), self.appid.clone());
        params.insert("mch_id".into(), self.mchid.clone());
        params.insert("nonce_str".into(), random_alnum(32));
        params.insert("sign_type".into(), "HMAC-SHA256".into());
        let signature = v2::sign(&params, key, v2::SignType::HmacSha256);
        params.insert("sign".into(), signature);
        let resp = self
            .http
            .post(format!("{}{path}", self.base_url))
            .header("Content-Type", "text/xml; charset=utf-8")
            .body(v2::to_xml(&params))
            .send()
            .await
            .map_err(|e| ChannelError::Unreachable(e.to_string()))?;
        if resp.status().is_server_error() {
            return Err(ChannelError::Unreachable(format!("HTTP {}", resp.status().as_u16())));
        }
        let text = resp.text().await.map_err(|e| ChannelError::Unreachable(e.to_string()))?;
        let answer = v2::parse_xml(&text).map_err(ChannelError::Protocol)?;
        let get = |k: &str| answer.get(k).map(String::as_str).unwrap_or("");
        if get("return_code") != "SUCCESS" {
            return Err(ChannelError::Refused { code: "FAIL".into(), message: get("return_msg").to_string() });
        }
        if !v2::verify(&answer, key, v2::SignType::HmacSha256) {
            return Err(ChannelError::Verification("v2 answer signature does not verify".into()));
        }
        if get("mch_id") != self.mchid || get("appid") != self.appid {
            return Err(ChannelError::Verification("v2 answer for another merchant".into()));
        }
        Ok(answer)
    }
}

impl WechatPayAdapter {
    /// The parameters the page hands to `WeixinJSBridge.invoke('getBrandWCPayRequest', …)`,
    /// signed with the merchant key (`paySign`, RSA over `appId\ntimeStamp\nnonceStr\npackage\n`).
    pub fn jsapi_params(&self, prepay_id: &str) -> Result<Vec<(String, String)>, ChannelError> {
        let ts = (self.clock.now_ms() / 1000).to_string();
        let nonce = random_alnum(32);
        let package = format!("prepay_id={prepay_id}");
        let pay_sign = self.signer.sign_base64(&jsapi_pay_message(&self.appid, &ts, &nonce, &package))?;
        Ok(vec![
            ("appId".into(), self.appid.clone()),
            ("timeStamp".into(), ts),
            ("nonceStr".into(), nonce),
            ("package".into(), package),
            ("signType".into(), "RSA".into()),
            ("paySign".into(), pay_sign),
        ])
    }
}

#[async_trait]
impl Channel for WechatPayAdapter {
    fn channel(&self) -> &'static str {
        "wechatpay"
    }
    fn merchant_id(&self) -> &str {
        &self.mchid
    }
    fn methods(&self) -> &[PayMethod] {
        if self.api_v2_key.is_some() {
            &WECHAT_METHODS
        } else {
            &WECHAT_METHODS[..3]
        }
    }

    async fn pay_with_code(&self, req: &PayRequest<'_>, auth_code: &str) -> Result<CodeOutcome, ChannelError> {
        let mut p = std::collections::BTreeMap::new();
        p.insert("body".to_string(), req.description.chars().take(40).collect());
        p.insert("out_trade_no".to_string(), req.merchant_order_no.to_string());
        p.insert("total_fee".to_string(), req.amount_fen.to_string());
        p.insert("spbill_create_ip".to_string(), req.client_ip.to_string());
        p.insert("auth_code".to_string(), auth_code.to_string());
        let a = self.call_v2("/pay/micropay", p).await?;
        let get = |k: &str| a.get(k).map(String::as_str).unwrap_or("");
        if get("result_code") == "SUCCESS" {
            if get("out_trade_no") != req.merchant_order_no {
                return Err(ChannelError::Verification("micropay answer for another order".into()));
            }
            let amount_fen = get("total_fee").parse().map_err(|_| ChannelError::Protocol("bad total_fee".into()))?;
            let paid_at_ms = bursar_domain::time_fmt::parse_compact_datetime_cst_ms(get("time_end"))
                .unwrap_or_else(|| self.clock.now_ms());
            return Ok(CodeOutcome::Final(ChannelOutcome::Paid {
                channel_txn_id: get("transaction_id").to_string(),
                amount_fen,
                paid_at_ms,
            }));
        }
        Ok(match get("err_code") {
            // The payer must enter a password, or WeChat is unsure: poll, then reverse.
            "USERPAYING" | "SYSTEMERROR" | "BANKERROR" => CodeOutcome::Waiting,
            code => CodeOutcome::Final(ChannelOutcome::Failed { reason: format!("{code}: {}", get("err_code_des")) }),
        })
    }

    async fn reverse(&self, merchant_order_no: &str) -> Result<bool, ChannelError> {
        let mut p = std::collections::BTreeMap::new();
        p.insert("out_trade_no".to_string(), merchant_order_no.to_string());
        let a = self.call_v2("/secapi/pay/reverse", p).await?;
        let get = |k: &str| a.get(k).map(String::as_str).unwrap_or("");
        if get("recall") == "Y" {
            return Ok(false); // WeChat asks to call reverse again
        }
        if get("result_code") == "SUCCESS" {
            Ok(true)
        } else {
            Err(ChannelError::Refused { code: get("err_code").to_string(), message: get("err_code_des").to_string() })
        }
    }
    fn verify_notice(&self, headers: &HeaderMap, body: &[u8]) -> Result<Notice, ChannelError> {
        self.verify_notification(headers, body).map(|(_, n)| n)
    }

    async fn create(&self, req: &PayRequest<'_>) -> Result<PayAction, ChannelError> {
        let (path, payer, scene_info) = match req.method {
            PayMethod::WechatNative => ("/v3/pay/transactions/native", None, None),
            PayMethod::WechatJsapi => {
                let openid = req.openid.filter(|o| !o.is_empty()).ok_or_else(|| {
                    ChannelError::Config("JSAPI needs the payer's openid (open the page inside WeChat)".into())
                })?;
                ("/v3/pay/transactions/jsapi", Some(Payer { openid: openid.to_string() }), None)
            }
            PayMethod::WechatH5 => {
                let scene = SceneInfo {
                    payer_client_ip: req.client_ip.to_string(),
                    h5_info: Some(H5Info { kind: "Wap".into() }),
                };
                ("/v3/pay/transactions/h5", None, Some(scene))
            }
            other => return Err(ChannelError::Config(format!("WeChat Pay v3 cannot start {}", other.as_str()))),
        };
        let body = PrepayRequest {
            appid: self.appid.clone(),
            mchid: self.mchid.clone(),
            description: req.description.chars().take(127).collect(),
            out_trade_no: req.merchant_order_no.to_string(),
            notify_url: req.notify_url.to_string(),
            amount: Amount { total: req.amount_fen, currency: Some("CNY".into()) },
            time_expire: Some(rfc3339_cst(req.expires_at_ms)),
            attach: None,
            payer,
            scene_info,
        };
        let bytes = serde_json::to_vec(&body).map_err(|e| ChannelError::Protocol(e.to_string()))?;
        let (_, resp) = self.call(reqwest::Method::POST, path, Some(bytes)).await?;
        let bad = |e: serde_json::Error| ChannelError::Protocol(format!("bad prepay response: {e}"));
        match req.method {
            PayMethod::WechatJsapi => {
                let r: JsapiResponse = serde_json::from_slice(&resp).map_err(bad)?;
                Ok(PayAction::Jsapi { params: self.jsapi_params(&r.prepay_id)? })
            }
            PayMethod::WechatH5 => {
                let r: H5Response = serde_json::from_slice(&resp).map_err(bad)?;
                let sep = if r.h5_url.contains('?') { '&' } else { '?' };
                let back: String = url_encode(req.return_url);
                Ok(PayAction::Redirect { url: format!("{}{sep}redirect_url={back}", r.h5_url) })
            }
            _ => {
                let r: NativeResponse = serde_json::from_slice(&resp).map_err(bad)?;
                Ok(PayAction::Qr { code_url: r.code_url })
            }
        }
    }

    async fn query(&self, merchant_order_no: &str) -> Result<ChannelOutcome, ChannelError> {
        let path = format!("/v3/pay/transactions/out-trade-no/{merchant_order_no}?mchid={}", self.mchid);
        match self.call(reqwest::Method::GET, &path, None).await {
            Ok((_, bytes)) => {
                let txn: Transaction = serde_json::from_slice(&bytes)
                    .map_err(|e| ChannelError::Protocol(format!("bad query response: {e}")))?;
                if txn.out_trade_no != merchant_order_no {
                    return Err(ChannelError::Verification("query answered for another order".into()));
                }
                self.outcome_of(&txn)
            }
            Err(ChannelError::Refused { code, .. }) if code == "ORDER_NOT_EXIST" => Ok(ChannelOutcome::NotFound),
            Err(e) => Err(e),
        }
    }

    async fn close(&self, merchant_order_no: &str) -> Result<(), ChannelError> {
        let path = format!("/v3/pay/transactions/out-trade-no/{merchant_order_no}/close");
        let body = serde_json::to_vec(&CloseRequest { mchid: self.mchid.clone() })
            .map_err(|e| ChannelError::Protocol(e.to_string()))?;
        self.call(reqwest::Method::POST, &path, Some(body)).await.map(|_| ())
    }

    async fn refund(&self, req: &RefundRequest<'_>) -> Result<RefundOutcome, ChannelError> {
        let body = RefundRequestBody {
            transaction_id: None,
            out_trade_no: Some(req.merchant_order_no.to_string()),
            out_refund_no: req.out_refund_no.to_string(),
            reason: Some(req.reason.chars().take(80).collect()),
            notify_url: Some(req.notify_url.to_string()),
            amount: RefundAmountRequest { refund: req.refund_fen, total: req.total_fen, currency: "CNY".into() },
        };
        let bytes = serde_json::to_vec(&body).map_err(|e| ChannelError::Protocol(e.to_string()))?;
        let (_, resp) = self.call(reqwest::Method::POST, "/v3/refund/domestic/refunds", Some(bytes)).await?;
        let r: Refund =
            serde_json::from_slice(&resp).map_err(|e| ChannelError::Protocol(format!("bad refund response: {e}")))?;
        if r.out_refund_no != req.out_refund_no || r.amount.refund != req.refund_fen {
            return Err(ChannelError::Verification("refund response does not match the request".into()));
        }
        Ok(refund_outcome(&r.status, &r.refund_id, r.amount.refund))
    }

    async fn refund_query(&self, _merchant_order_no: &str, out_refund_no: &str) -> Result<RefundOutcome, ChannelError> {
        match self.call(reqwest::Method::GET, &format!("/v3/refund/domestic/refunds/{out_refund_no}"), None).await {
            Ok((_, bytes)) => {
                let r: Refund = serde_json::from_slice(&bytes)
                    .map_err(|e| ChannelError::Protocol(format!("bad refund query: {e}")))?;
                if r.out_refund_no != out_refund_no {
                    return Err(ChannelError::Verification("query answered for another refund".into()));
                }
                Ok(refund_outcome(&r.status, &r.refund_id, r.amount.refund))
            }
            Err(ChannelError::Refused { code, .. }) if code == "RESOURCE_NOT_EXISTS" => Ok(RefundOutcome::NotFound),
            Err(e) => Err(e),
        }
    }
}
