//! Alipay OpenAPI (classic `gateway.do`) wire rules shared by the adapter and the simulator:
//! which parameters are signed and how, where a response's signed text is, and the formats of
//! times and amounts. See CHANNELS.md §3.

use std::collections::BTreeMap;

/// The request's string to sign: every non-empty parameter except `sign` (`sign_type`
/// included), sorted by name, `k=v` joined with `&`, raw (not URL-encoded) values.
pub fn request_sign_content(params: &BTreeMap<String, String>) -> String {
    join_sorted(params, &["sign"])
}

/// A notification's (or a return's) string to verify: `sign` and `sign_type` dropped.
pub fn notify_sign_content(params: &BTreeMap<String, String>) -> String {
    join_sorted(params, &["sign", "sign_type"])
}

fn join_sorted(params: &BTreeMap<String, String>, skip: &[&str]) -> String {
    params
        .iter()
        .filter(|(k, v)| !v.is_empty() && !skip.contains(&k.as_str()))
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("&")
}

/// `alipay.trade.precreate` → `alipay_trade_precreate_response`.
pub fn response_key(method: &str) -> String {
    format!("{}_response", method.replace('.', "_"))
}

/// Finds the exact raw text of the JSON value under `key` in a response body (the signature
/// covers these bytes as sent; never re-serialise). Strings are skipped correctly, so braces
/// inside values do not confuse it.
pub fn signed_text<'a>(raw: &'a str, key: &str) -> Option<&'a str> {
    let quoted = format!("\"{key}\"");
    let at = raw.find(&quoted)? + quoted.len();
    let rest = &raw[at..];
    let colon = rest.find(':')?;
    let value_start = at + colon + 1 + (rest[colon + 1..].len() - rest[colon + 1..].trim_start().len());
    let bytes = raw.as_bytes();
    if bytes.get(value_start) != Some(&b'{') {
        return None;
    }
    let (mut depth, mut in_str, mut escaped) = (0i32, false, false);
    for (i, &b) in bytes.iter().enumerate().skip(value_start) {
        if in_str {
            match (escaped, b) {
                (true, _) => escaped = false,
                (false, b'\\') => escaped = true,
                (false, b'"') => in_str = false,
                _ => {}
            }
            continue;
        }
        match b {
            b'"' => in_str = true,
            b'{' => depth += 1,
            b'}' => {
                depth -= 1;
                if depth == 0 {
                    return raw.get(value_start..=i);
                }
            }
            _ => {}
        }
    }
    None
}

/// A signed response body: the inner object's exact text, then `"sign"` after it.
pub fn response_body(key: &str, inner_json: &str, sign: &str) -> String {
    format!("{{\"{key}\":{inner_json},\"sign\":\"{sign}\"}}")
}

/// Parses a form / query string (`application/x-www-form-urlencoded`, UTF-8) into parameters.
pub fn parse_form(text: &str) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for pair in text.split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        out.insert(form_decode(k), form_decode(v));
    }
    out
}

/// Decodes one `x-www-form-urlencoded` component (`+` is a space).
pub fn form_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => {
                match u8::from_str_radix(std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap_or("zz"), 16) {
                    Ok(v) => {
                        out.push(v);
                        i += 2;
                    }
                    Err(_) => out.push(b'%'),
                }
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Encodes parameters as a form body / query string.
pub fn encode_form(params: &BTreeMap<String, String>) -> String {
    params
        .iter()
        .map(|(k, v)| format!("{}={}", crate::url_encode(k), crate::url_encode(v)))
        .collect::<Vec<_>>()
        .join("&")
}

/// Alipay's success code.
pub const CODE_SUCCESS: &str = "10000";
/// Waiting for the payer (payment code needing confirmation).
pub const CODE_WAITING: &str = "10003";
/// Unknown outcome: query.
pub const CODE_UNKNOWN: &str = "20000";
/// Business failure (see `sub_code`).
pub const CODE_FAILED: &str = "40004";
/// Invalid arguments (including a bad signature).
pub const CODE_INVALID: &str = "40002";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sign_content_matches_the_documented_example() {
        let mut p = BTreeMap::new();
        p.insert("app_id".into(), "2021000000000001".into());
        p.insert("method".into(), "alipay.trade.precreate".into());
        p.insert("charset".into(), "utf-8".into());
        p.insert("sign_type".into(), "RSA2".into());
        p.insert("timestamp".into(), "2024-01-01 12:00:00".into());
        p.insert("version".into(), "1.0".into());
        p.insert("biz_content".into(), r#"{"out_trade_no":"A1","total_amount":"0.01","subject":"t"}"#.into());
        p.insert("sign".into(), "xxx".into());
        p.insert("notify_url".into(), String::new());
        assert_eq!(
            request_sign_content(&p),
            r#"app_id=2021000000000001&biz_content={"out_trade_no":"A1","total_amount":"0.01","subject":"t"}&charset=utf-8&method=alipay.trade.precreate&sign_type=RSA2&timestamp=2024-01-01 12:00:00&version=1.0"#
        );
        assert!(!notify_sign_content(&p).contains("sign_type"));
    }

    #[test]
    fn signed_text_is_the_exact_inner_object() {
        let raw = r#"{"alipay_trade_query_response":{"code":"10000","msg":"Success","subject":"a}b{\"c"} ,"sign":"S"}"#;
        assert_eq!(
            signed_text(raw, "alipay_trade_query_response"),
            Some(r#"{"code":"10000","msg":"Success","subject":"a}b{\"c"}"#)
        );
        assert_eq!(signed_text(raw, "error_response"), None);
        assert_eq!(signed_text(r#"{"k": {"a":1}}"#, "k"), Some(r#"{"a":1}"#));
    }

    #[test]
    fn forms_round_trip() {
        let mut p = BTreeMap::new();
        p.insert("biz_content".into(), r#"{"subject":"学费 & 住宿费+1"}"#.into());
        p.insert("timestamp".into(), "2024-01-01 12:00:00".into());
        assert_eq!(parse_form(&encode_form(&p)), p);
        assert_eq!(form_decode("a+b%20c%E5%AD%A6"), "a b c学");
    }
}
