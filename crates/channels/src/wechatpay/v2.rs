//! WeChat Pay v2 (XML) — the payment-code (付款码) API a cashier uses (CHANNELS.md §2):
//! `micropay`, `orderquery`, `reverse`. Flat XML bodies signed with the API v2 key, MD5 or
//! HMAC-SHA256, upper-case hex. Shared by the adapter and the simulator.

use std::collections::BTreeMap;

use md5::{Digest, Md5};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SignType {
    Md5,
    HmacSha256,
}

impl SignType {
    /// From the request's `sign_type` (absent means MD5).
    pub fn parse(s: Option<&str>) -> Option<SignType> {
        match s {
            None | Some("") | Some("MD5") => Some(SignType::Md5),
            Some("HMAC-SHA256") => Some(SignType::HmacSha256),
            _ => None,
        }
    }
}

/// `k=v&…&key=KEY` over every non-empty parameter but `sign`, sorted by name.
pub fn sign_string(params: &BTreeMap<String, String>, key: &str) -> String {
    let mut s: String = params
        .iter()
        .filter(|(k, v)| !v.is_empty() && k.as_str() != "sign")
        .map(|(k, v)| format!("{k}={v}&"))
        .collect();
    s.push_str("key=");
    s.push_str(key);
    s
}

pub fn sign(params: &BTreeMap<String, String>, key: &str, kind: SignType) -> String {
    let text = sign_string(params, key);
    match kind {
        SignType::Md5 => hex::encode_upper(Md5::digest(text.as_bytes())),
        SignType::HmacSha256 => {
            let k = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, key.as_bytes());
            hex::encode_upper(ring::hmac::sign(&k, text.as_bytes()).as_ref())
        }
    }
}

/// Checks `sign` in constant time.
pub fn verify(params: &BTreeMap<String, String>, key: &str, kind: SignType) -> bool {
    let Some(given) = params.get("sign") else { return false };
    crate::crypto::ct_eq(sign(params, key, kind).as_bytes(), given.to_ascii_uppercase().as_bytes())
}

/// A flat `<xml>` body; values in CDATA unless they are plain digits.
pub fn to_xml(params: &BTreeMap<String, String>) -> String {
    let mut out = String::from("<xml>");
    for (k, v) in params {
        if !v.is_empty() && v.chars().all(|c| c.is_ascii_digit()) {
            out.push_str(&format!("<{k}>{v}</{k}>"));
        } else {
            out.push_str(&format!("<{k}><![CDATA[{}]]></{k}>", v.replace("]]>", "]]]]><![CDATA[>")));
        }
    }
    out.push_str("</xml>");
    out
}

/// Parses a flat `<xml>` body (element text or CDATA, the five XML entities). Refuses nesting,
/// DOCTYPEs and anything else.
pub fn parse_xml(text: &str) -> Result<BTreeMap<String, String>, String> {
    let t = text.trim().trim_start_matches('\u{feff}');
    let t = match t.strip_prefix("<?xml") {
        Some(rest) => rest.split_once("?>").map(|(_, r)| r.trim_start()).ok_or("bad XML declaration")?,
        None => t,
    };
    let inner = t.strip_prefix("<xml>").and_then(|r| r.trim_end().strip_suffix("</xml>")).ok_or("not an <xml> body")?;
    let mut out = BTreeMap::new();
    let mut rest = inner.trim_start();
    while !rest.is_empty() {
        let open_end = rest.find('>').ok_or("unterminated tag")?;
        let name = rest.get(1..open_end).ok_or("bad tag")?;
        if !rest.starts_with('<') || name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            return Err(format!("unexpected content near {:?}", rest.chars().take(20).collect::<String>()));
        }
        let close = format!("</{name}>");
        let body_start = open_end + 1;
        let body_len = rest[body_start..].find(&close).ok_or_else(|| format!("<{name}> is not closed"))?;
        let raw = &rest[body_start..body_start + body_len];
        let value = if let Some(c) = raw.strip_prefix("<![CDATA[") {
            c.strip_suffix("]]>").ok_or("unterminated CDATA")?.replace("]]]]><![CDATA[>", "]]>")
        } else {
            if raw.contains('<') {
                return Err(format!("<{name}> is not flat"));
            }
            raw.replace("&lt;", "<")
                .replace("&gt;", ">")
                .replace("&quot;", "\"")
                .replace("&apos;", "'")
                .replace("&amp;", "&")
        };
        out.insert(name.to_string(), value);
        rest = rest[body_start + body_len + close.len()..].trim_start();
    }
    Ok(out)
}

/// A payment code as the payer's WeChat shows it: 18 digits starting 10–15.
pub fn is_wechat_auth_code(code: &str) -> bool {
    code.len() == 18
        && code.chars().all(|c| c.is_ascii_digit())
        && code.get(..2).and_then(|p| p.parse::<u8>().ok()).is_some_and(|p| (10..=15).contains(&p))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn example() -> BTreeMap<String, String> {
        [
            ("appid", "wx2421b1c4370ec43b"),
            ("auth_code", "134567890123456789"),
            ("body", "test"),
            ("mch_id", "10000100"),
            ("nonce_str", "ibuaiVcKdpRxkhJA"),
            ("out_trade_no", "M1"),
            ("spbill_create_ip", "127.0.0.1"),
            ("total_fee", "1"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
    }

    #[test]
    fn signatures_match_the_documented_vectors() {
        let key = "abcdefghijklmnopqrstuvwxyz012345";
        assert_eq!(sign(&example(), key, SignType::Md5), "C2C47A08060FADEBE0260523E7F2DD19");
        assert_eq!(
            sign(&example(), key, SignType::HmacSha256),
            "D0A69CEC4C22BC74AFF4FB61040A38B4D5A49E50338D4343AFFC40FACC9D673B"
        );
        let mut p = example();
        p.insert("sign".into(), "c2c47a08060fadebe0260523e7f2dd19".into());
        assert!(verify(&p, key, SignType::Md5));
        p.insert("total_fee".into(), "2".into());
        assert!(!verify(&p, key, SignType::Md5));
    }

    #[test]
    fn xml_round_trips_and_refuses_nesting() {
        let mut p = example();
        p.insert("body".into(), "学费 <&> ]]> end".into());
        assert_eq!(parse_xml(&to_xml(&p)).unwrap(), p);
        let wechatpy = "<xml>\n<appid><![CDATA[wx1]]></appid>\n<total_fee>1</total_fee>\n</xml>";
        assert_eq!(parse_xml(wechatpy).unwrap().get("total_fee").map(String::as_str), Some("1"));
        assert!(parse_xml("<xml><a><b>1</b></a></xml>").is_err());
        assert!(parse_xml("<!DOCTYPE x [<!ENTITY e SYSTEM \"file:///etc/passwd\">]><xml><a>&e;</a></xml>").is_err());
        assert!(is_wechat_auth_code("134567890123456789"));
        assert!(!is_wechat_auth_code("284567890123456789"));
    }
}
