//! UnionPay online gateway, ACP 5.1.0 (CHANNELS.md §4): the signing rule (SHA-256 hex digest of
//! the sorted `k=v&…` string, then SHA256withRSA over that hex text), the answer format (`k=v&…`
//! with raw values) and the codes. Shared by the adapter and the simulator.

use std::collections::BTreeMap;

use ring::digest;

pub const VERSION: &str = "5.1.0";
pub const FRONT_PATH: &str = "/gateway/api/frontTransReq.do";
pub const BACK_PATH: &str = "/gateway/api/backTransReq.do";
pub const QUERY_PATH: &str = "/gateway/api/queryTrans.do";
pub const FILE_PATH: &str = "/gateway/api/fileTransRequest.do";

/// The transaction types Bursar uses.
pub const TXN_CONSUME: &str = "01";
pub const TXN_QUERY: &str = "00";
pub const TXN_REFUND: &str = "04";
pub const TXN_FILE: &str = "76";

/// Every parameter but `signature`, sorted, `k=v` joined by `&`, raw values.
pub fn sign_string(params: &BTreeMap<String, String>) -> String {
    params
        .iter()
        .filter(|(k, _)| k.as_str() != "signature")
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("&")
}

/// The text that is RSA-signed: the lowercase hex SHA-256 of the sign string.
pub fn digest_hex(params: &BTreeMap<String, String>) -> String {
    hex::encode(digest::digest(&digest::SHA256, sign_string(params).as_bytes()).as_ref())
}

/// Parses an answer body: `k=v&k=v`, values raw (never URL-encoded), split at the first `=`.
/// A value wrapped in `{…}` may contain `&` (UnionPay's convention for nested values).
pub fn parse_answer(text: &str) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let bytes = text.trim().as_bytes();
    let (mut start, mut depth) = (0usize, 0i32);
    let mut push = |part: &[u8]| {
        let s = String::from_utf8_lossy(part);
        if let Some((k, v)) = s.split_once('=') {
            if !k.is_empty() {
                out.insert(k.to_string(), v.to_string());
            }
        }
    };
    for (i, &b) in bytes.iter().enumerate() {
        match b {
            b'{' => depth += 1,
            b'}' => depth -= 1,
            b'&' if depth <= 0 => {
                push(&bytes[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    push(&bytes[start..]);
    out
}

/// Writes an answer body the way UnionPay does (raw values).
pub fn write_answer(params: &BTreeMap<String, String>) -> String {
    params.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join("&")
}

/// How a `respCode` (or `origRespCode`) reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RespClass {
    Success,
    /// 03, 04, 05: the outcome is not known yet; ask again later.
    Unknown,
    /// 34: no such transaction.
    NotFound,
    Failed,
}

pub fn classify(code: &str) -> RespClass {
    match code {
        "00" | "A6" => RespClass::Success,
        "03" | "04" | "05" => RespClass::Unknown,
        "34" => RespClass::NotFound,
        _ => RespClass::Failed,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digest_matches_the_documented_example() {
        let p: BTreeMap<String, String> = [
            ("version", "5.1.0"),
            ("encoding", "UTF-8"),
            ("txnType", "01"),
            ("txnSubType", "01"),
            ("bizType", "000201"),
            ("channelType", "07"),
            ("accessType", "0"),
            ("merId", "777290058110048"),
            ("orderId", "ORD20240101001"),
            ("txnTime", "20240101120000"),
            ("txnAmt", "100"),
            ("currencyCode", "156"),
            ("frontUrl", "http://127.0.0.1:8080/front"),
            ("backUrl", "http://127.0.0.1:8080/back"),
            ("signMethod", "01"),
            ("certId", "69629715588"),
            ("signature", "ignored"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        assert!(sign_string(&p).starts_with("accessType=0&backUrl=http://127.0.0.1:8080/back&bizType=000201"));
        assert_eq!(digest_hex(&p), "b5cb3340cb8456076f28f0cd095607112967a7ed6e66214e5d551c8e50fb059a");
    }

    #[test]
    fn answers_parse_with_pem_values_and_braces() {
        let text = "respCode=00&signPubKeyCert=-----BEGIN CERTIFICATE-----\r\nMIIB+/==\r\n-----END CERTIFICATE-----&reqReserved={a=1&b=2}&txnAmt=100";
        let p = parse_answer(text);
        assert_eq!(p["respCode"], "00");
        assert!(p["signPubKeyCert"].ends_with("-----END CERTIFICATE-----"));
        assert_eq!(p["reqReserved"], "{a=1&b=2}");
        assert_eq!(p["txnAmt"], "100");
        assert_eq!(parse_answer(&write_answer(&p)), p);
        assert_eq!(classify("05"), RespClass::Unknown);
    }
}
