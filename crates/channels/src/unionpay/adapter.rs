//! Bursar's UnionPay ACP client. Requests are signed with the merchant's signing key (`certId`
//! names its certificate); every answer and notification is accepted only if its
//! `signPubKeyCert` chains to the configured root and intermediate, is valid now, names UnionPay,
//! and its key verifies the signature.
//!
//! UnionPay finds an order by `orderId` *and* the `txnTime` it was sent with. Bursar's order and
//! refund numbers are UUIDv7, whose first 48 bits are the creation time in milliseconds: the
//! adapter uses that time (Beijing time, to the second) as `txnTime`, so it can always ask about
//! an order again without keeping any state of its own.

use std::collections::BTreeMap;
use std::io::Read;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use bursar_domain::payment::{ChannelOutcome, PayMethod};
use bursar_domain::refund::RefundOutcome;
use bursar_domain::time_fmt::{compact_datetime_cst, parse_compact_datetime_cst_ms};
use bursar_domain::Clock;
use serde::{Deserialize, Serialize};

use super::certs::{self, TrustChain};
use super::protocol::*;
use crate::crypto::RsaSigner;
use crate::{Channel, ChannelError, Notice, PayAction, PayRequest, PaymentNotice, RefundNotice, RefundRequest};

fn default_cn() -> String {
    certs::UNIONPAY_CN.to_string()
}

/// One UnionPay (or bank gateway) merchant account. Secrets are never printed by `Debug`.
#[derive(Clone, Deserialize, Serialize)]
pub struct UnionpayConfig {
    /// The gateway's base URL; the ACP paths are appended.
    pub gateway_url: String,
    pub mer_id: String,
    pub signing_key_pem: String,
    pub signing_cert_pem: String,
    pub root_cert_pem: String,
    pub middle_cert_pem: String,
    #[serde(default = "default_cn")]
    pub expected_cn: String,
}

impl std::fmt::Debug for UnionpayConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UnionpayConfig")
            .field("gateway_url", &self.gateway_url)
            .field("mer_id", &self.mer_id)
            .field("expected_cn", &self.expected_cn)
            .field("signing_key_pem", &"<redacted>")
            .finish()
    }
}

pub struct UnionpayAdapter {
    gateway_url: String,
    mer_id: String,
    cert_id: String,
    signer: RsaSigner,
    chain: TrustChain,
    http: reqwest::Client,
    clock: Arc<dyn Clock>,
}

const UNIONPAY_METHODS: [PayMethod; 2] = [PayMethod::UnionpayPc, PayMethod::UnionpayMobile];

/// `txnTime` of an order or refund number: the UUIDv7's millisecond timestamp, Beijing time.
pub fn txn_time_of(no: &str) -> Result<String, ChannelError> {
    let hex: String = no.chars().filter(|c| *c != '-').collect();
    let ok = hex.len() == 32 && hex.chars().all(|c| c.is_ascii_hexdigit()) && hex.as_bytes()[12] == b'7';
    if !ok {
        return Err(ChannelError::Config(format!("{no} is not a UUIDv7: its txnTime cannot be derived")));
    }
    let ms = i64::from_str_radix(&hex[..12], 16).map_err(|e| ChannelError::Config(e.to_string()))?;
    Ok(compact_datetime_cst(ms))
}

fn common(mer_id: &str, cert_id: &str, txn_type: &str, sub: &str, biz: &str) -> BTreeMap<String, String> {
    let mut p = BTreeMap::new();
    for (k, v) in [
        ("version", VERSION),
        ("encoding", "UTF-8"),
        ("signMethod", "01"),
        ("txnType", txn_type),
        ("txnSubType", sub),
        ("bizType", biz),
        ("accessType", "0"),
        ("merId", mer_id),
        ("certId", cert_id),
    ] {
        p.insert(k.to_string(), v.to_string());
    }
    p
}

impl UnionpayAdapter {
    pub fn new(cfg: &UnionpayConfig, clock: Arc<dyn Clock>) -> Result<UnionpayAdapter, ChannelError> {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .connect_timeout(Duration::from_secs(5))
            .build()
            .map_err(|e| ChannelError::Config(e.to_string()))?;
        Ok(UnionpayAdapter {
            gateway_url: cfg.gateway_url.trim_end_matches('/').to_string(),
            mer_id: cfg.mer_id.clone(),
            cert_id: certs::cert_id(&cfg.signing_cert_pem)?,
            signer: RsaSigner::from_pkcs8_pem(&cfg.signing_key_pem)?,
            chain: TrustChain::new(&cfg.root_cert_pem, &cfg.middle_cert_pem, &cfg.expected_cn)?,
            http,
            clock,
        })
    }

    fn sign(&self, p: &mut BTreeMap<String, String>) -> Result<(), ChannelError> {
        p.remove("signature");
        let sig = self.signer.sign_base64(digest_hex(p).as_bytes())?;
        p.insert("signature".into(), sig);
        Ok(())
    }

    /// Verifies an answer or notification: chain, validity, CN, signature, merchant.
    pub fn verify(&self, p: &BTreeMap<String, String>) -> Result<(), ChannelError> {
        let cert = p.get("signPubKeyCert").ok_or_else(|| ChannelError::Verification("no signPubKeyCert".into()))?;
        let sig = p.get("signature").ok_or_else(|| ChannelError::Verification("unsigned".into()))?;
        let key = self.chain.check(cert, self.clock.now_ms())?;
        if !certs::verify_rsa(&key, digest_hex(p).as_bytes(), sig) {
            return Err(ChannelError::Verification("the signature does not verify".into()));
        }
        if p.get("merId").is_some_and(|m| m != &self.mer_id) {
            return Err(ChannelError::Verification("addressed to another merchant".into()));
        }
        Ok(())
    }

    async fn post(
        &self,
        path: &str,
        mut p: BTreeMap<String, String>,
    ) -> Result<BTreeMap<String, String>, ChannelError> {
        self.sign(&mut p)?;
        let resp = self
            .http
            .post(format!("{}{path}", self.gateway_url))
            .header("Content-Type", "application/x-www-form-urlencoded;charset=UTF-8")
            .body(crate::alipay::protocol::encode_form(&p))
            .send()
            .await
            .map_err(|e| ChannelError::Unreachable(e.to_string()))?;
        if resp.status().is_server_error() {
            return Err(ChannelError::Unreachable(format!("HTTP {}", resp.status().as_u16())));
        }
        let text = resp.text().await.map_err(|e| ChannelError::Unreachable(e.to_string()))?;
        let answer = parse_answer(&text);
        self.verify(&answer)?;
        Ok(answer)
    }

    /// Asks about an order (consume or refund) by its number.
    async fn query_order(&self, no: &str) -> Result<BTreeMap<String, String>, ChannelError> {
        let mut p = common(&self.mer_id, &self.cert_id, TXN_QUERY, "00", "000000");
        p.insert("orderId".into(), no.to_string());
        p.insert("txnTime".into(), txn_time_of(no)?);
        let a = self.post(QUERY_PATH, p).await?;
        if a.get("orderId").is_some_and(|o| o != no) {
            return Err(ChannelError::Verification("the answer is for another order".into()));
        }
        Ok(a)
    }

    fn paid_of(&self, a: &BTreeMap<String, String>) -> Result<ChannelOutcome, ChannelError> {
        let get = |k: &str| a.get(k).map(String::as_str).unwrap_or("");
        Ok(ChannelOutcome::Paid {
            channel_txn_id: get("queryId").to_string(),
            amount_fen: get("txnAmt").parse().map_err(|_| ChannelError::Protocol("bad txnAmt".into()))?,
            paid_at_ms: parse_compact_datetime_cst_ms(get("txnTime")).unwrap_or_else(|| self.clock.now_ms()),
        })
    }

    /// Verifies a back notification (form POST) and says what it reports.
    pub fn verify_notification(&self, body: &[u8]) -> Result<Notice, ChannelError> {
        let text = std::str::from_utf8(body).map_err(|_| ChannelError::Verification("not UTF-8".into()))?;
        let p = crate::alipay::protocol::parse_form(text);
        self.verify(&p)?;
        let get = |k: &str| p.get(k).map(String::as_str).unwrap_or("");
        match get("txnType") {
            TXN_CONSUME => {
                let outcome = match classify(get("respCode")) {
                    RespClass::Success => self.paid_of(&p)?,
                    RespClass::Unknown => ChannelOutcome::Pending,
                    _ => ChannelOutcome::Failed { reason: format!("{} {}", get("respCode"), get("respMsg")) },
                };
                Ok(Notice::Payment(PaymentNotice { merchant_order_no: get("orderId").to_string(), outcome }))
            }
            TXN_REFUND => {
                let outcome = match classify(get("respCode")) {
                    RespClass::Success => RefundOutcome::Succeeded {
                        channel_refund_id: get("queryId").to_string(),
                        amount_fen: get("txnAmt").parse().map_err(|_| ChannelError::Protocol("bad txnAmt".into()))?,
                    },
                    RespClass::Unknown => RefundOutcome::Processing { channel_refund_id: get("queryId").to_string() },
                    _ => RefundOutcome::Failed { reason: format!("{} {}", get("respCode"), get("respMsg")) },
                };
                Ok(Notice::Refund(RefundNotice { out_refund_no: get("orderId").to_string(), outcome }))
            }
            other => Err(ChannelError::Protocol(format!("unexpected txnType {other}"))),
        }
    }

    /// Downloads and parses a day's reconciliation file (`settle_date` is MMDD).
    pub async fn settlement_file(&self, settle_date: &str) -> Result<Vec<SettlementRow>, ChannelError> {
        let mut p = common(&self.mer_id, &self.cert_id, TXN_FILE, "01", "000000");
        p.insert("settleDate".into(), settle_date.to_string());
        p.insert("fileType".into(), "00".into());
        p.insert("txnTime".into(), compact_datetime_cst(self.clock.now_ms()));
        let a = self.post(FILE_PATH, p).await?;
        let get = |k: &str| a.get(k).map(String::as_str).unwrap_or("");
        match get("respCode") {
            "00" => {}
            "98" => return Ok(Vec::new()),
            code => return Err(ChannelError::Refused { code: code.to_string(), message: get("respMsg").to_string() }),
        }
        use base64::Engine;
        let zipped = base64::engine::general_purpose::STANDARD
            .decode(get("fileContent"))
            .map_err(|_| ChannelError::Protocol("fileContent is not Base64".into()))?;
        let mut zip_bytes = Vec::new();
        flate2::read::ZlibDecoder::new(&zipped[..])
            .read_to_end(&mut zip_bytes)
            .map_err(|e| ChannelError::Protocol(format!("fileContent is not zlib: {e}")))?;
        let mut z = zip::ZipArchive::new(std::io::Cursor::new(zip_bytes))
            .map_err(|e| ChannelError::Protocol(format!("not a zip: {e}")))?;
        let mut text = String::new();
        z.by_index(0)
            .map_err(|e| ChannelError::Protocol(e.to_string()))?
            .read_to_string(&mut text)
            .map_err(|e| ChannelError::Protocol(e.to_string()))?;
        parse_settlement(&text)
    }
}

/// One line of the reconciliation file, in the layout Bursar's simulator defines (UnionPay's
/// own record layout is not published): `txnType|orderId|txnTime|queryId|txnAmt|origQryId|settleDate|respCode`,
/// after a `#` header line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SettlementRow {
    pub txn_type: String,
    pub order_id: String,
    pub txn_time: String,
    pub query_id: String,
    pub amount_fen: i64,
    pub orig_query_id: String,
    pub settle_date: String,
    pub resp_code: String,
}

pub const SETTLEMENT_HEADER: &str =
    "#交易类型|商户订单号|交易时间|查询流水号|交易金额(分)|原查询流水号|清算日期|应答码";

pub fn parse_settlement(text: &str) -> Result<Vec<SettlementRow>, ChannelError> {
    let mut rows = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim_end_matches('\r');
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let f: Vec<&str> = line.split('|').collect();
        if f.len() != 8 {
            return Err(ChannelError::Protocol(format!("settlement line {}: {} fields", n + 1, f.len())));
        }
        rows.push(SettlementRow {
            txn_type: f[0].into(),
            order_id: f[1].into(),
            txn_time: f[2].into(),
            query_id: f[3].into(),
            amount_fen: f[4]
                .parse()
                .map_err(|_| ChannelError::Protocol(format!("settlement line {}: amount", n + 1)))?,
            orig_query_id: f[5].into(),
            settle_date: f[6].into(),
            resp_code: f[7].into(),
        });
    }
    Ok(rows)
}

pub fn write_settlement(rows: &[SettlementRow]) -> String {
    let mut out = String::from(SETTLEMENT_HEADER);
    out.push_str("\r\n");
    for r in rows {
        out.push_str(&format!(
            "{}|{}|{}|{}|{}|{}|{}|{}\r\n",
            r.txn_type, r.order_id, r.txn_time, r.query_id, r.amount_fen, r.orig_query_id, r.settle_date, r.resp_code
        ));
    }
    out
}

#[async_trait]
impl Channel for UnionpayAdapter {
    fn channel(&self) -> &'static str {
        "unionpay"
    }
    fn merchant_id(&self) -> &str {
        &self.mer_id
    }
    fn methods(&self) -> &[PayMethod] {
        &UNIONPAY_METHODS
    }

    /// The signed consume form the payer's browser posts to the gateway.
    async fn create(&self, req: &PayRequest<'_>) -> Result<PayAction, ChannelError> {
        let channel_type = match req.method {
            PayMethod::UnionpayPc => "07",
            PayMethod::UnionpayMobile => "08",
            other => return Err(ChannelError::Config(format!("UnionPay cannot start {}", other.as_str()))),
        };
        let mut p = common(&self.mer_id, &self.cert_id, TXN_CONSUME, "01", "000201");
        p.insert("channelType".into(), channel_type.into());
        p.insert("orderId".into(), req.merchant_order_no.to_string());
        p.insert("txnTime".into(), txn_time_of(req.merchant_order_no)?);
        p.insert("txnAmt".into(), req.amount_fen.to_string());
        p.insert("currencyCode".into(), "156".into());
        p.insert("frontUrl".into(), req.return_url.to_string());
        p.insert("backUrl".into(), req.notify_url.to_string());
        p.insert("payTimeout".into(), compact_datetime_cst(req.expires_at_ms));
        p.insert("orderDesc".into(), req.description.chars().take(32).collect());
        self.sign(&mut p)?;
        Ok(PayAction::Form { action: format!("{}{FRONT_PATH}", self.gateway_url), fields: p.into_iter().collect() })
    }

    async fn query(&self, merchant_order_no: &str) -> Result<ChannelOutcome, ChannelError> {
        let a = self.query_order(merchant_order_no).await?;
        let get = |k: &str| a.get(k).map(String::as_str).unwrap_or("");
        match classify(get("respCode")) {
            RespClass::Success => match classify(get("origRespCode")) {
                RespClass::Success => self.paid_of(&a),
                RespClass::Unknown => Ok(ChannelOutcome::Pending),
                RespClass::NotFound => Ok(ChannelOutcome::NotFound),
                RespClass::Failed => {
                    Ok(ChannelOutcome::Failed { reason: format!("{} {}", get("origRespCode"), get("origRespMsg")) })
                }
            },
            RespClass::NotFound => Ok(ChannelOutcome::NotFound),
            RespClass::Unknown => Err(ChannelError::Unreachable(get("respMsg").to_string())),
            RespClass::Failed => {
                Err(ChannelError::Refused { code: get("respCode").to_string(), message: get("respMsg").to_string() })
            }
        }
    }

    /// UnionPay has no close: an unpaid front order lapses at its `payTimeout`. Closing asks
    /// first, so a paid order is reported (as `ORDERPAID`) rather than forgotten.
    fn closes_unpaid(&self) -> bool {
        false
    }

    async fn close(&self, merchant_order_no: &str) -> Result<(), ChannelError> {
        match self.query(merchant_order_no).await? {
            ChannelOutcome::Paid { .. } => {
                Err(ChannelError::Refused { code: "ORDERPAID".into(), message: "the order is paid".into() })
            }
            _ => Ok(()),
        }
    }

    async fn refund(&self, req: &RefundRequest<'_>) -> Result<RefundOutcome, ChannelError> {
        // Idempotent: a refund UnionPay already has is reported, never sent twice.
        match self.refund_query(req.merchant_order_no, req.out_refund_no).await? {
            RefundOutcome::NotFound => {}
            known => return Ok(known),
        }
        let orig = match self.query(req.merchant_order_no).await? {
            ChannelOutcome::Paid { channel_txn_id, .. } => channel_txn_id,
            other => {
                return Err(ChannelError::Refused {
                    code: "NOT_PAID".into(),
                    message: format!("the order is {other:?}"),
                })
            }
        };
        let mut p = common(&self.mer_id, &self.cert_id, TXN_REFUND, "00", "000201");
        p.insert("channelType".into(), "07".into());
        p.insert("orderId".into(), req.out_refund_no.to_string());
        p.insert("txnTime".into(), txn_time_of(req.out_refund_no)?);
        p.insert("txnAmt".into(), req.refund_fen.to_string());
        p.insert("currencyCode".into(), "156".into());
        p.insert("origQryId".into(), orig);
        p.insert("backUrl".into(), req.notify_url.to_string());
        let a = self.post(BACK_PATH, p).await?;
        let get = |k: &str| a.get(k).map(String::as_str).unwrap_or("");
        match classify(get("respCode")) {
            RespClass::Success => match self.refund_query(req.merchant_order_no, req.out_refund_no).await? {
                RefundOutcome::NotFound => {
                    Ok(RefundOutcome::Processing { channel_refund_id: get("queryId").to_string() })
                }
                o => Ok(o),
            },
            RespClass::Unknown => Err(ChannelError::Unreachable(get("respMsg").to_string())),
            _ => Err(ChannelError::Refused { code: get("respCode").to_string(), message: get("respMsg").to_string() }),
        }
    }

    async fn refund_query(&self, _merchant_order_no: &str, out_refund_no: &str) -> Result<RefundOutcome, ChannelError> {
        let a = self.query_order(out_refund_no).await?;
        let get = |k: &str| a.get(k).map(String::as_str).unwrap_or("");
        match (classify(get("respCode")), classify(get("origRespCode"))) {
            (RespClass::NotFound, _) => Ok(RefundOutcome::NotFound),
            (RespClass::Success, RespClass::Success) => Ok(RefundOutcome::Succeeded {
                channel_refund_id: get("queryId").to_string(),
                amount_fen: get("txnAmt").parse().map_err(|_| ChannelError::Protocol("bad txnAmt".into()))?,
            }),
            (RespClass::Success, RespClass::Unknown) => {
                Ok(RefundOutcome::Processing { channel_refund_id: get("queryId").to_string() })
            }
            (RespClass::Success, _) => {
                Ok(RefundOutcome::Failed { reason: format!("{} {}", get("origRespCode"), get("origRespMsg")) })
            }
            (RespClass::Unknown, _) => Err(ChannelError::Unreachable(get("respMsg").to_string())),
            (RespClass::Failed, _) => {
                Err(ChannelError::Refused { code: get("respCode").to_string(), message: get("respMsg").to_string() })
            }
        }
    }

    fn verify_notice(&self, _headers: &axum::http::HeaderMap, body: &[u8]) -> Result<Notice, ChannelError> {
        self.verify_notification(body)
    }
}
