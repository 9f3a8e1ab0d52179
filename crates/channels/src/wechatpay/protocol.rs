//! WeChat Pay API v3 wire types and signing rules. Signatures always cover the exact bytes sent.

use serde::{Deserialize, Serialize};

pub const SIGNATURE_TYPE: &str = "WECHATPAY2-SHA256-RSA2048";
pub const AUTH_SCHEME: &str = "WECHATPAY2-SHA256-RSA2048";
pub const HEADER_TIMESTAMP: &str = "wechatpay-timestamp";
pub const HEADER_NONCE: &str = "wechatpay-nonce";
pub const HEADER_SIGNATURE: &str = "wechatpay-signature";
pub const HEADER_SERIAL: &str = "wechatpay-serial";
pub const HEADER_SIGNATURE_TYPE: &str = "wechatpay-signature-type";
pub const HEADER_REQUEST_ID: &str = "request-id";
/// Clients and servers reject signed messages whose timestamp is further off than this.
pub const MAX_CLOCK_SKEW_SECS: i64 = 300;
/// WeChat's retry schedule for an unacknowledged notification (~24 h).
pub const NOTIFY_RETRY_SECS: [u64; 15] =
    [15, 15, 30, 180, 600, 1200, 1800, 1800, 1800, 3600, 10800, 10800, 10800, 21600, 21600];

/// `METHOD\nPATH_WITH_QUERY\nTIMESTAMP\nNONCE\nBODY\n`
pub fn request_message(method: &str, path_with_query: &str, timestamp: &str, nonce: &str, body: &[u8]) -> Vec<u8> {
    let mut m = format!("{method}\n{path_with_query}\n{timestamp}\n{nonce}\n").into_bytes();
    m.extend_from_slice(body);
    m.push(b'\n');
    m
}

/// `TIMESTAMP\nNONCE\nBODY\n` (responses and notifications).
pub fn response_message(timestamp: &str, nonce: &str, body: &[u8]) -> Vec<u8> {
    let mut m = format!("{timestamp}\n{nonce}\n").into_bytes();
    m.extend_from_slice(body);
    m.push(b'\n');
    m
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuthorizationParts {
    pub mchid: String,
    pub nonce_str: String,
    pub timestamp: String,
    pub serial_no: String,
    pub signature: String,
}

pub fn authorization_header(p: &AuthorizationParts) -> String {
    format!(
        "{AUTH_SCHEME} mchid=\"{}\",nonce_str=\"{}\",signature=\"{}\",timestamp=\"{}\",serial_no=\"{}\"",
        p.mchid, p.nonce_str, p.signature, p.timestamp, p.serial_no
    )
}

/// Parses an Authorization header; SDKs order the fields differently, so any order is accepted.
pub fn parse_authorization(header: &str) -> Result<AuthorizationParts, String> {
    let rest = header
        .trim()
        .strip_prefix(AUTH_SCHEME)
        .ok_or_else(|| format!("authorization scheme must be {AUTH_SCHEME}"))?
        .trim();
    let (mut mchid, mut nonce, mut ts, mut serial, mut sig) = (None, None, None, None, None);
    for part in rest.split(',') {
        let (k, v) = part.trim().split_once('=').ok_or_else(|| "malformed authorization field".to_string())?;
        let v = v.trim().trim_matches('"').to_string();
        match k.trim() {
            "mchid" => mchid = Some(v),
            "nonce_str" => nonce = Some(v),
            "timestamp" => ts = Some(v),
            "serial_no" => serial = Some(v),
            "signature" => sig = Some(v),
            _ => {}
        }
    }
    let need = |o: Option<String>, name: &str| {
        o.filter(|s| !s.is_empty()).ok_or_else(|| format!("authorization lacks {name}"))
    };
    Ok(AuthorizationParts {
        mchid: need(mchid, "mchid")?,
        nonce_str: need(nonce, "nonce_str")?,
        timestamp: need(ts, "timestamp")?,
        serial_no: need(serial, "serial_no")?,
        signature: need(sig, "signature")?,
    })
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct Amount {
    pub total: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub currency: Option<String>,
}

/// The body of a Native, JSAPI or H5 prepay request (JSAPI adds `payer`, H5 adds `scene_info`).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct PrepayRequest {
    pub appid: String,
    pub mchid: String,
    pub description: String,
    pub out_trade_no: String,
    pub notify_url: String,
    pub amount: Amount,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time_expire: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attach: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payer: Option<Payer>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scene_info: Option<SceneInfo>,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct SceneInfo {
    pub payer_client_ip: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub h5_info: Option<H5Info>,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct H5Info {
    #[serde(rename = "type")]
    pub kind: String,
}

/// What a prepay request answers, by product.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct NativeResponse {
    pub code_url: String,
}
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct JsapiResponse {
    pub prepay_id: String,
}
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct H5Response {
    pub h5_url: String,
}

/// The message a JSAPI payment sheet's `paySign` covers: `appId\ntimeStamp\nnonceStr\npackage\n`.
pub fn jsapi_pay_message(app_id: &str, time_stamp: &str, nonce_str: &str, package: &str) -> Vec<u8> {
    format!("{app_id}\n{time_stamp}\n{nonce_str}\n{package}\n").into_bytes()
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct CloseRequest {
    pub mchid: String,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct Payer {
    pub openid: String,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct TransactionAmount {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub total: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payer_total: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub currency: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payer_currency: Option<String>,
}

/// The payment resource of query responses and decrypted notifications.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct Transaction {
    pub appid: String,
    pub mchid: String,
    pub out_trade_no: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transaction_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trade_type: Option<String>,
    pub trade_state: String,
    pub trade_state_desc: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bank_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attach: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub success_time: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payer: Option<Payer>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub amount: Option<TransactionAmount>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub promotion_detail: Vec<serde_json::Value>,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct RefundAmountRequest {
    pub refund: i64,
    pub total: i64,
    pub currency: String,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct RefundRequestBody {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transaction_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub out_trade_no: Option<String>,
    pub out_refund_no: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notify_url: Option<String>,
    pub amount: RefundAmountRequest,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct RefundAmount {
    pub total: i64,
    pub refund: i64,
    #[serde(default)]
    pub payer_total: Option<i64>,
    #[serde(default)]
    pub payer_refund: Option<i64>,
    #[serde(default)]
    pub currency: Option<String>,
}

/// The refund object of refund responses and queries.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct Refund {
    pub refund_id: String,
    pub out_refund_no: String,
    pub transaction_id: String,
    pub out_trade_no: String,
    #[serde(default)]
    pub channel: Option<String>,
    #[serde(default)]
    pub user_received_account: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub success_time: Option<String>,
    pub create_time: String,
    /// SUCCESS | CLOSED | PROCESSING | ABNORMAL
    pub status: String,
    pub amount: RefundAmount,
}

/// The refund resource of decrypted REFUND.* notifications.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct RefundResource {
    pub mchid: String,
    pub out_trade_no: String,
    pub transaction_id: String,
    pub out_refund_no: String,
    pub refund_id: String,
    pub refund_status: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub success_time: Option<String>,
    #[serde(default)]
    pub user_received_account: Option<String>,
    pub amount: RefundAmount,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct EncryptedResource {
    pub original_type: String,
    pub algorithm: String,
    pub ciphertext: String,
    #[serde(default)]
    pub associated_data: Option<String>,
    pub nonce: String,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct Notification {
    pub id: String,
    pub create_time: String,
    pub event_type: String,
    pub resource_type: String,
    #[serde(default)]
    pub summary: String,
    pub resource: EncryptedResource,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct ErrorBody {
    pub code: String,
    pub message: String,
}

/// The merchant's answer to a notification.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct NotifyAck {
    pub code: String,
    pub message: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_are_newline_terminated_lines() {
        assert_eq!(
            request_message("GET", "/v3/x?mchid=1", "1700000000", "abc", b""),
            b"GET\n/v3/x?mchid=1\n1700000000\nabc\n\n".to_vec()
        );
        assert_eq!(response_message("1", "n", b"{}"), b"1\nn\n{}\n".to_vec());
    }

    #[test]
    fn authorization_parses_in_any_order() {
        let h = "WECHATPAY2-SHA256-RSA2048 serial_no=\"S\",timestamp=\"1\", signature=\"c2ln\",mchid=\"19\",nonce_str=\"N\"";
        let p = parse_authorization(h).unwrap();
        assert_eq!(p.mchid, "19");
        assert_eq!(p.signature, "c2ln");
        assert_eq!(parse_authorization(&authorization_header(&p)).unwrap(), p);
        assert!(parse_authorization("Bearer x").is_err());
        assert!(parse_authorization("WECHATPAY2-SHA256-RSA2048 mchid=\"1\"").is_err());
    }
}
