//! Authenticating a business system's request, once, before its route's guard: the
//! `Authorization` header, the app (active), its IP allow-list, the clock window, the signature
//! (HMAC with a current secret, or RSA with its registered key) over exactly the bytes sent, and
//! a nonce never seen. The app's principal (its own fee items) goes with the request.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::body::{Body, Bytes};
use axum::extract::{ConnectInfo, FromRequest, Request};
use axum::http::{HeaderMap, StatusCode};
use bursar_domain::access::Principal;
use bursar_engine::rows::AppRow;

use super::{ApiError, CLOCK_WINDOW_S, MAX_BODY_BYTES};
use crate::AppState;

/// A business system whose request verified.
#[derive(Clone, Debug)]
pub struct ApiCaller {
    pub app: AppRow,
    pub principal: Principal,
}

/// Whether a path is the open API's and needs a signature (its OpenAPI document does not).
pub fn is_signed_path(path: &str) -> bool {
    path.starts_with("/api/") && path != "/api/v1/openapi.json"
}

/// Verifies the request; returns it (body restored) with its caller.
pub async fn authenticate(s: &AppState, req: Request) -> Result<(Request, ApiCaller), ApiError> {
    let (parts, body) = req.into_parts();
    let peer = parts
        .extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0)
        .unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], 0)));
    let too_large =
        || ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, "invalid_request_error", "body_too_large", "请求体超过 256 KB");
    let bytes = axum::body::to_bytes(body, MAX_BODY_BYTES + 1).await.map_err(|_| too_large())?;
    if bytes.len() > MAX_BODY_BYTES {
        return Err(too_large());
    }
    let path = parts.uri.path_and_query().map(|p| p.as_str()).unwrap_or("/").to_string();
    let caller = check(s, peer, parts.method.as_str(), &path, &parts.headers, &bytes).await?;
    Ok((Request::from_parts(parts, Body::from(bytes)), caller))
}

async fn check(
    s: &AppState,
    peer: SocketAddr,
    method: &str,
    path: &str,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<ApiCaller, ApiError> {
    let header = headers
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .ok_or_else(|| ApiError::auth("missing_signature", "缺少 Authorization 签名头"))?;
    let a = parse_authorization(header)
        .ok_or_else(|| ApiError::auth("malformed_authorization", "Authorization 格式错误"))?;
    let app =
        s.engine.app_by_app_id(&a.app_id).await?.ok_or_else(|| ApiError::auth("unknown_app", "应用不存在或已停用"))?;
    let allowed: Vec<&str> =
        app.ip_allowlist.split([',', ' ', '\n']).map(str::trim).filter(|x| !x.is_empty()).collect();
    if !allowed.is_empty() && !allowed.contains(&peer.ip().to_string().as_str()) {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "permission_error",
            "ip_not_allowed",
            "请求来源 IP 不在应用的白名单内",
        ));
    }
    let now_s = s.engine.store().now_ms() / 1000;
    let ts: i64 =
        a.timestamp.parse().map_err(|_| ApiError::auth("timestamp_out_of_range", "timestamp 须为 Unix 秒"))?;
    if !bursar_domain::clock::within(ts, now_s, CLOCK_WINDOW_S) {
        return Err(ApiError::auth("timestamp_out_of_range", "timestamp 与服务器时间相差超过 300 秒"));
    }
    if a.nonce.len() < 8
        || a.nonce.len() > 64
        || !a.nonce.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    {
        return Err(ApiError::auth("invalid_nonce", "nonce 须为 8–64 位字母数字"));
    }
    let message = signing_string(method, path, &a.timestamp, &a.nonce, body);
    let ok = match a.scheme.as_str() {
        "BURSAR-HMAC-SHA256" => {
            let secrets = s.engine.app_secrets(&app)?;
            let given = hex::decode(&a.signature).unwrap_or_default();
            secrets.iter().any(|secret| {
                let expected = hex::decode(hmac_hex(secret, &message)).unwrap_or_default();
                bursar_channels::crypto::ct_eq(&expected, &given)
            })
        }
        "BURSAR-SHA256-RSA2048" => {
            match app.rsa_public_key_pem.as_deref().map(bursar_channels::crypto::RsaVerifier::from_spki_pem) {
                Some(Ok(v)) => v.verify_base64(&message, &a.signature),
                _ => false,
            }
        }
        _ => return Err(ApiError::auth("malformed_authorization", "不支持的签名方式")),
    };
    if !ok {
        return Err(ApiError::auth("invalid_signature", "签名错误"));
    }
    if !s.engine.remember_nonce(&app, &a.nonce, (now_s - 2 * CLOCK_WINDOW_S) * 1000).await? {
        return Err(ApiError::auth("replayed_request", "该 nonce 已使用过（重放请求）"));
    }
    let principal = s.engine.app_principal(&app).await?;
    Ok(ApiCaller { app, principal })
}

/// One parsed `Authorization` header.
struct Auth {
    scheme: String,
    app_id: String,
    timestamp: String,
    nonce: String,
    signature: String,
}

fn parse_authorization(h: &str) -> Option<Auth> {
    let (scheme, rest) = h.trim().split_once(' ')?;
    let mut a = Auth {
        scheme: scheme.into(),
        app_id: String::new(),
        timestamp: String::new(),
        nonce: String::new(),
        signature: String::new(),
    };
    for part in rest.split(',') {
        let (k, v) = part.trim().split_once('=')?;
        let v = v.trim().trim_matches('"').to_string();
        match k.trim() {
            "app_id" => a.app_id = v,
            "timestamp" => a.timestamp = v,
            "nonce" => a.nonce = v,
            "signature" => a.signature = v,
            _ => return None,
        }
    }
    (!a.app_id.is_empty() && !a.timestamp.is_empty() && !a.nonce.is_empty() && !a.signature.is_empty()).then_some(a)
}

/// The string a request signature covers.
pub fn signing_string(method: &str, path_and_query: &str, timestamp: &str, nonce: &str, body: &[u8]) -> Vec<u8> {
    let mut m = format!("{method}\n{path_and_query}\n{timestamp}\n{nonce}\n").into_bytes();
    m.extend_from_slice(body);
    m
}

/// HMAC-SHA256 of a request, hex.
pub fn hmac_hex(secret: &str, message: &[u8]) -> String {
    bursar_engine::access::sso::hmac_hex(secret, message)
}

/// A request authenticated as an application (routes guarded by [`crate::guard::Guard::App`]):
/// who it is, and the exact body it signed. Take it last (it reads the body).
pub struct Signed {
    pub caller: Arc<ApiCaller>,
    pub headers: HeaderMap,
    pub body: Bytes,
    /// The method and path (an idempotency key is scoped to them).
    pub method: String,
    pub path: String,
}

impl FromRequest<AppState> for Signed {
    type Rejection = ApiError;

    async fn from_request(req: Request, _: &AppState) -> Result<Signed, ApiError> {
        let caller = req
            .extensions()
            .get::<Arc<ApiCaller>>()
            .cloned()
            .ok_or_else(|| ApiError::auth("missing_signature", "缺少 Authorization 签名头"))?;
        let (parts, body) = req.into_parts();
        let body = axum::body::to_bytes(body, MAX_BODY_BYTES).await.map_err(|_| {
            ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, "invalid_request_error", "body_too_large", "请求体超过 256 KB")
        })?;
        let (method, path) = (parts.method.as_str().to_string(), parts.uri.path().to_string());
        Ok(Signed { caller, headers: parts.headers, body, method, path })
    }
}
