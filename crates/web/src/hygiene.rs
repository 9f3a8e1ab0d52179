//! Text hygiene, in one middleware for every route: NUL and other control characters are
//! refused in the query string, in form bodies and in JSON bodies (names and values), with a
//! 400 that names the field, before any handler or store sees them (PostgreSQL cannot store a
//! NUL in text; nothing else a person types needs one either). Line breaks and tabs are
//! allowed. Open-API bodies are checked as JSON whatever their content type says (the API reads
//! them as JSON). Channel notifications are signed bytes checked by their adapters and pass as
//! sent; multipart uploads are files, whose cells the table reader checks the same way.

use axum::body::{to_bytes, Body};
use axum::extract::Request;
use axum::http::{header, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde_json::Value;

use crate::WebError;

/// The largest form or JSON body this layer reads (routes set smaller limits of their own).
const MAX_TEXT_BODY: usize = 1024 * 1024;

/// Whether a character may appear in text a person or a system sends.
pub fn allowed(c: char) -> bool {
    !c.is_control() || matches!(c, '\n' | '\r' | '\t')
}

/// The first field (by name) whose name or value holds a refused character.
fn bad_pair<'a>(pairs: impl Iterator<Item = (std::borrow::Cow<'a, str>, std::borrow::Cow<'a, str>)>) -> Option<String> {
    pairs.into_iter().find(|(k, v)| !k.chars().all(allowed) || !v.chars().all(allowed)).map(|(k, _)| {
        let k: String = k.chars().filter(|c| allowed(*c)).take(40).collect();
        k
    })
}

fn bad_json(v: &Value, path: &str) -> Option<String> {
    match v {
        Value::String(s) if !s.chars().all(allowed) => Some(path.to_string()),
        Value::Array(items) => items.iter().enumerate().find_map(|(i, x)| bad_json(x, &format!("{path}[{i}]"))),
        Value::Object(map) => map.iter().find_map(|(k, x)| {
            let name: String = k.chars().filter(|c| allowed(*c)).take(40).collect();
            let p = if path.is_empty() { name } else { format!("{path}.{name}") };
            if k.chars().all(allowed) {
                bad_json(x, &p)
            } else {
                Some(p)
            }
        }),
        _ => None,
    }
}

fn refuse(path: &str, field: &str) -> Response {
    let message = if field.is_empty() {
        "输入内容含有不可见的控制字符（如 NUL），请删除后重试".to_string()
    } else {
        format!("字段 {field} 含有不可见的控制字符（如 NUL），请删除后重试")
    };
    if path.starts_with("/api/") {
        let body = serde_json::json!({"error": {"type": "invalid_request_error", "code": "control_character", "message": message, "param": field}});
        return (StatusCode::BAD_REQUEST, axum::Json(body)).into_response();
    }
    let mut resp = WebError::BadRequest(message).into_response();
    *resp.status_mut() = StatusCode::BAD_REQUEST;
    resp
}

pub async fn layer(req: Request, next: Next) -> Response {
    let path = req.uri().path().to_string();
    if path.starts_with("/notify/") {
        return next.run(req).await;
    }
    if let Some(q) = req.uri().query() {
        if let Some(field) = bad_pair(form_urlencoded::parse(q.as_bytes())) {
            return refuse(&path, &field);
        }
    }
    let kind = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(|v| v.split(';').next().unwrap_or("").trim().to_ascii_lowercase())
        .unwrap_or_default();
    let form = kind == "application/x-www-form-urlencoded";
    // The open API reads every body as JSON whatever its label says, so it is checked as JSON.
    let json = kind == "application/json" || kind.ends_with("+json") || path.starts_with("/api/");
    if !form && !json {
        return next.run(req).await;
    }
    let (parts, body) = req.into_parts();
    let Ok(bytes) = to_bytes(body, MAX_TEXT_BODY).await else {
        return (StatusCode::PAYLOAD_TOO_LARGE, "请求体过大").into_response();
    };
    let bad = if form {
        bad_pair(form_urlencoded::parse(&bytes))
    } else {
        // A body that is not JSON is left to the handler's own error; NUL escapes in JSON
        // (\u0000) are only seen once parsed.
        serde_json::from_slice::<Value>(&bytes).ok().and_then(|v| bad_json(&v, ""))
    };
    if let Some(field) = bad {
        return refuse(&path, &field);
    }
    next.run(Request::from_parts(parts, Body::from(bytes))).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_characters_are_found_by_field() {
        assert!(allowed('\n') && allowed('中') && !allowed('\0') && !allowed('\u{7f}') && !allowed('\u{1b}'));
        assert_eq!(bad_pair(form_urlencoded::parse(b"a=1&name=x%00y")), Some("name".into()));
        assert_eq!(bad_pair(form_urlencoded::parse(b"a=1&note=line%0Aline")), None);
        let v: Value = serde_json::from_str(r#"{"payer":{"name":"a\u0000"},"items":[{"x":"ok"}]}"#).unwrap();
        assert_eq!(bad_json(&v, ""), Some("payer.name".into()));
        let v: Value = serde_json::from_str(r#"{"items":[{"x":"ok"},{"y":"\u0001"}]}"#).unwrap();
        assert_eq!(bad_json(&v, ""), Some("items[1].y".into()));
        let v: Value = serde_json::from_str(r#"{"a\u0000":1}"#).unwrap();
        assert_eq!(bad_json(&v, ""), Some("a".into()));
    }
}
