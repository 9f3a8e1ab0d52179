//! The open API for business systems (`/api/v1`, JSON). Every request is signed:
//!
//! ```text
//! Authorization: BURSAR-HMAC-SHA256 app_id="…",timestamp="…",nonce="…",signature="…"
//! signature = hex(HMAC-SHA256(app secret, METHOD \n PATH?QUERY \n TIMESTAMP \n NONCE \n BODY))
//! ```
//!
//! (or `BURSAR-SHA256-RSA2048` with a Base64 RSA signature verified by the app's registered
//! public key). The timestamp must be within ±300 s and a nonce is accepted once. `POST`s take an
//! `Idempotency-Key`: the same request again gets the same response; a different body with the
//! same key is refused (409). Every error is one object:
//! `{"error": {"type", "code", "message", "param"}}` with the matching HTTP status.

use std::net::SocketAddr;

use axum::body::Bytes;
use axum::extract::{ConnectInfo, OriginalUri, Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use bursar_domain::Fen;
use bursar_engine::api::{ApiItem, ApiOrderInput, ApiPayer};
use bursar_engine::EngineError;
use bursar_store::api::{self as api_store, AppRow};
use bursar_store::{payers, receivables, StoreError};
use serde::Deserialize;
use serde_json::{json, Value};

use crate::AppState;

/// Requests larger than this are refused (413).
pub const MAX_BODY_BYTES: usize = 256 * 1024;
/// How far a request's timestamp may be from Bursar's clock.
pub const CLOCK_WINDOW_S: i64 = 300;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/openapi.json", get(openapi))
        .route("/api/v1/orders", post(create_order).get(list_orders))
        .route("/api/v1/orders/{id}", get(get_order))
        .route("/api/v1/orders/{id}/close", post(close_order))
        .route("/api/v1/orders/{id}/refunds", post(create_refund))
        .route("/api/v1/refunds/{id}", get(get_refund))
        .route("/api/v1/payers/{identifier}/arrears", get(arrears))
        .route("/api/v1/receivables/bulk", post(bulk_receivables))
        .route(
            "/api/{*rest}",
            axum::routing::any(|| async {
                ApiError::new(StatusCode::NOT_FOUND, "invalid_request_error", "not_found", "没有这个接口")
            }),
        )
}

/// The one error object.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    kind: &'static str,
    code: String,
    message: String,
    param: Option<String>,
}

impl ApiError {
    pub fn new(status: StatusCode, kind: &'static str, code: &str, message: impl Into<String>) -> ApiError {
        ApiError { status, kind, code: code.into(), message: message.into(), param: None }
    }
    fn auth(code: &str, message: &str) -> ApiError {
        ApiError::new(StatusCode::UNAUTHORIZED, "authentication_error", code, message)
    }
    fn invalid(code: &str, message: impl Into<String>, param: Option<&str>) -> ApiError {
        let mut e = ApiError::new(StatusCode::BAD_REQUEST, "invalid_request_error", code, message);
        e.param = param.map(str::to_string);
        e
    }
    fn body(&self) -> Value {
        json!({"error": {"type": self.kind, "code": self.code, "message": self.message, "param": self.param}})
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        if self.status.is_server_error() {
            tracing::error!(code = %self.code, message = %self.message, "API error");
        }
        (self.status, axum::Json(self.body())).into_response()
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound(what) => {
                ApiError::new(StatusCode::NOT_FOUND, "invalid_request_error", "not_found", what)
            }
            other => ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "api_error", "internal", other.to_string()),
        }
    }
}

impl From<EngineError> for ApiError {
    fn from(e: EngineError) -> Self {
        match e {
            EngineError::Param(p) => {
                let status = match p.code {
                    "duplicate_out_order_no" | "order_paid" => StatusCode::CONFLICT,
                    _ => StatusCode::UNPROCESSABLE_ENTITY,
                };
                let mut err = ApiError::new(status, "invalid_request_error", p.code, p.message);
                err.param = Some(p.param);
                err
            }
            EngineError::NotFound(what) => {
                ApiError::new(StatusCode::NOT_FOUND, "invalid_request_error", "not_found", what)
            }
            EngineError::Rule(r) => {
                ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid_request_error", "rule", r.to_string())
            }
            EngineError::OrderNotOpen(m) | EngineError::MethodUnavailable(m) => {
                ApiError::new(StatusCode::CONFLICT, "invalid_request_error", "order_state", m)
            }
            EngineError::Store(s) => s.into(),
            EngineError::Channel(c) => {
                ApiError::new(StatusCode::BAD_GATEWAY, "channel_error", "channel", c.to_string())
            }
            other => ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "api_error", "internal", other.to_string()),
        }
    }
}

type ApiResult = Result<Response, ApiError>;

fn json_response(status: StatusCode, v: &Value) -> Response {
    (status, axum::Json(v)).into_response()
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
    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, secret.as_bytes());
    hex::encode(ring::hmac::sign(&key, message).as_ref())
}

/// Authenticates a request: header, app, IP allow-list, clock window, signature, single-use nonce.
async fn authenticate(
    s: &AppState,
    peer: SocketAddr,
    method: &Method,
    uri: &OriginalUri,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<AppRow, ApiError> {
    let header = headers
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .ok_or_else(|| ApiError::auth("missing_signature", "缺少 Authorization 签名头"))?;
    let a = parse_authorization(header)
        .ok_or_else(|| ApiError::auth("malformed_authorization", "Authorization 格式错误"))?;
    let app = {
        let mut c = s.engine.store().read().await?;
        api_store::app_by_app_id(&mut c, &a.app_id).await?
    }
    .filter(|app| app.state == "active")
    .ok_or_else(|| ApiError::auth("unknown_app", "应用不存在或已停用"))?;
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
    if (ts - now_s).abs() > CLOCK_WINDOW_S {
        return Err(ApiError::auth("timestamp_out_of_range", "timestamp 与服务器时间相差超过 300 秒"));
    }
    if a.nonce.len() < 8
        || a.nonce.len() > 64
        || !a.nonce.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    {
        return Err(ApiError::auth("invalid_nonce", "nonce 须为 8–64 位字母数字"));
    }
    let path = uri.0.path_and_query().map(|p| p.as_str()).unwrap_or("/");
    let message = signing_string(method.as_str(), path, &a.timestamp, &a.nonce, body);
    let ok = match a.scheme.as_str() {
        "BURSAR-HMAC-SHA256" => {
            let secrets = s.engine.app_secrets(&s.engine.config().sealing, &app).map_err(ApiError::from)?;
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
    let fresh = {
        let mut c = s.engine.store().read().await?;
        if rand::random::<u8>() < 4 {
            api_store::prune_nonces(&mut c, (now_s - 2 * CLOCK_WINDOW_S) * 1000).await?;
        }
        api_store::remember_nonce(&mut c, &app.id, &a.nonce, now_s * 1000).await?
    };
    if !fresh {
        return Err(ApiError::auth("replayed_request", "该 nonce 已使用过（重放请求）"));
    }
    Ok(app)
}

/// A request authenticated as an application: who it is, and the exact body it signed. Take it
/// last (it reads the body).
pub struct Signed {
    pub app: AppRow,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl axum::extract::FromRequest<AppState> for Signed {
    type Rejection = ApiError;

    async fn from_request(req: axum::extract::Request, s: &AppState) -> Result<Signed, ApiError> {
        let (parts, body) = req.into_parts();
        let peer = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|c| c.0)
            .unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], 0)));
        let uri = parts.extensions.get::<OriginalUri>().cloned().unwrap_or_else(|| OriginalUri(parts.uri.clone()));
        let too_large = || {
            ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, "invalid_request_error", "body_too_large", "请求体超过 256 KB")
        };
        let body = axum::body::to_bytes(body, MAX_BODY_BYTES + 1).await.map_err(|_| too_large())?;
        if body.len() > MAX_BODY_BYTES {
            return Err(too_large());
        }
        let app = authenticate(s, peer, &parts.method, &uri, &parts.headers, &body).await?;
        Ok(Signed { app, headers: parts.headers, body })
    }
}

/// Runs a `POST` under its `Idempotency-Key`: the same key and body again returns the stored
/// response; the same key with another body is refused; concurrent duplicates wait their turn.
async fn idempotent<F, Fut>(s: &AppState, app: &AppRow, headers: &HeaderMap, body: &[u8], run: F) -> ApiResult
where
    F: FnOnce() -> Fut,
    Fut: std::future::Future<Output = Result<(StatusCode, Value), ApiError>>,
{
    let Some(key) = headers.get("idempotency-key").and_then(|v| v.to_str().ok()).map(str::to_string) else {
        let (status, v) = run().await?;
        return Ok(json_response(status, &v));
    };
    if key.is_empty() || key.len() > 255 {
        return Err(ApiError::invalid(
            "invalid_idempotency_key",
            "Idempotency-Key 须为 1–255 个字符",
            Some("Idempotency-Key"),
        ));
    }
    let hash = hex::encode(ring::digest::digest(&ring::digest::SHA256, body).as_ref());
    let now = s.engine.store().now_ms();
    {
        let mut c = s.engine.store().read().await?;
        if !api_store::store_idempotent(&mut c, &app.id, &key, &hash, 0, "", now).await? {
            let row = api_store::idempotent(&mut c, &app.id, &key)
                .await?
                .ok_or_else(|| ApiError::from(StoreError::NotFound("idempotency key".into())))?;
            if row.request_hash != hash {
                return Err(ApiError::new(
                    StatusCode::CONFLICT,
                    "idempotency_error",
                    "key_reused",
                    "该 Idempotency-Key 已用于另一个请求",
                ));
            }
            if row.status == 0 {
                return Err(ApiError::new(
                    StatusCode::CONFLICT,
                    "idempotency_error",
                    "in_progress",
                    "同一 Idempotency-Key 的请求正在处理",
                ));
            }
            let status = StatusCode::from_u16(u16::try_from(row.status).unwrap_or(500)).unwrap_or(StatusCode::OK);
            let v: Value = serde_json::from_str(&row.response).unwrap_or(Value::Null);
            let mut resp = json_response(status, &v);
            resp.headers_mut().insert("idempotent-replayed", HeaderValue::from_static("true"));
            return Ok(resp);
        }
    }
    let result = run().await;
    let (status, v) = match result {
        Ok(x) => x,
        Err(e) => (e.status, e.body()),
    };
    let mut c = s.engine.store().read().await?;
    if status.is_server_error() {
        api_store::forget_idempotent(&mut c, &app.id, &key).await?;
    } else {
        api_store::finish_idempotent(&mut c, &app.id, &key, i64::from(status.as_u16()), &v.to_string()).await?;
    }
    Ok(json_response(status, &v))
}

fn parse_json<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    if body.len() > MAX_BODY_BYTES {
        return Err(ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "invalid_request_error",
            "body_too_large",
            "请求体超过 256 KB",
        ));
    }
    serde_json::from_slice(body).map_err(|e| {
        let msg = e.to_string();
        let param = msg.split('`').nth(1).map(str::to_string);
        let mut err = ApiError::invalid("invalid_json", format!("请求体不是有效的 JSON 或字段有误：{msg}"), None);
        err.param = param;
        err
    })
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PayerIn {
    identifier: Option<String>,
    name: Option<String>,
    id_number: Option<String>,
    phone: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ItemIn {
    fee_item_code: String,
    academic_year: String,
    amount_fen: i64,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct OrderIn {
    out_order_no: String,
    payer: PayerIn,
    items: Vec<ItemIn>,
    #[serde(default)]
    description: String,
    return_url: Option<String>,
    expires_in: Option<i64>,
    metadata: Option<Value>,
}

/// `YYYY-YYYY` exactly (the schema's pattern); that the years follow each other is checked later.
fn year_ok(y: &str) -> bool {
    y.len() == 9 && y.bytes().enumerate().all(|(i, b)| if i == 4 { b == b'-' } else { b.is_ascii_digit() })
}

fn api_payer(s: &AppState, p: PayerIn) -> Result<ApiPayer, ApiError> {
    if let Some(phone) = &p.phone {
        if phone.len() != 11 || !phone.bytes().all(|b| b.is_ascii_digit()) {
            return Err(ApiError::invalid("invalid_phone", "手机号须为 11 位数字", Some("payer.phone")));
        }
    }
    match (p.identifier, p.name) {
        (Some(identifier), None) if p.id_number.is_none() && p.phone.is_none() => {
            Ok(ApiPayer::Identified { identifier })
        }
        (None, Some(name)) => {
            let id_number = p.id_number.map(|i| bursar_domain::payer::normalize_id_number(&i));
            let id_digest = id_number.as_deref().map(|i| crate::auth::id_number_digest(&s.config.id_digest_key, i));
            Ok(ApiPayer::Outside { name, id_number, phone: p.phone, id_digest })
        }
        _ => Err(ApiError::invalid(
            "invalid_payer",
            "payer 须为 {identifier}（校内缴费人）或 {name, id_number|phone}（校外人员）之一",
            Some("payer"),
        )),
    }
}

async fn create_order(State(s): State<AppState>, Signed { app, headers, body }: Signed) -> ApiResult {
    idempotent(&s, &app, &headers, &body, || async {
        let input: OrderIn = parse_json(&body)?;
        if let Some(u) = &input.return_url {
            if !(u.starts_with("http://") || u.starts_with("https://")) || u.len() > 512 {
                return Err(ApiError::invalid("invalid_url", "return_url 须为 http(s) 地址", Some("return_url")));
            }
        }
        if input.description.chars().count() > 128 {
            return Err(ApiError::invalid("invalid_description", "description 不超过 128 字", Some("description")));
        }
        let metadata = input.metadata.unwrap_or(Value::Object(Default::default()));
        if !metadata.is_object() || metadata.to_string().len() > 4096 {
            return Err(ApiError::invalid("invalid_metadata", "metadata 须为不超过 4 KB 的对象", Some("metadata")));
        }
        if let Some(i) = input.items.iter().position(|i| !year_ok(&i.academic_year)) {
            return Err(ApiError::invalid(
                "invalid_academic_year",
                "学年格式应为 2026-2027",
                Some(&format!("items[{i}].academic_year")),
            ));
        }
        let order = ApiOrderInput {
            out_order_no: input.out_order_no,
            payer: api_payer(&s, input.payer)?,
            items: input
                .items
                .into_iter()
                .map(|i| ApiItem {
                    fee_item_code: i.fee_item_code,
                    academic_year: i.academic_year,
                    amount: Fen(i.amount_fen),
                })
                .collect(),
            description: input.description,
            return_url: input.return_url,
            expires_in_secs: input.expires_in.unwrap_or(2 * 3600),
            metadata: metadata.to_string(),
        };
        let row = s.engine.api_create_order(&app, &order).await?;
        let mut c = s.engine.store().read().await?;
        let v = bursar_engine::api::order_json(&mut c, &row, &s.engine.config().public_base_url).await?;
        Ok((StatusCode::CREATED, v))
    })
    .await
}

async fn own_order(s: &AppState, app: &AppRow, id: &str) -> Result<api_store::ApiOrderRow, ApiError> {
    let mut c = s.engine.store().read().await?;
    api_store::order_of(&mut c, id).await?.filter(|o| o.app_id == app.id).ok_or_else(|| {
        ApiError::new(StatusCode::NOT_FOUND, "invalid_request_error", "not_found", format!("订单 {id} 不存在"))
    })
}

async fn get_order(State(s): State<AppState>, Path(id): Path<String>, Signed { app, .. }: Signed) -> ApiResult {
    let row = own_order(&s, &app, &id).await?;
    // The channel is the truth: ask it about a payment still waiting before answering.
    refresh_waiting(&s, &row.order_id).await;
    let mut c = s.engine.store().read().await?;
    Ok(json_response(
        StatusCode::OK,
        &bursar_engine::api::order_json(&mut c, &row, &s.engine.config().public_base_url).await?,
    ))
}

async fn refresh_waiting(s: &AppState, order_id: &str) {
    let payments = match s.engine.store().read().await {
        Ok(mut c) => bursar_store::payments::payments_of_order(&mut c, order_id).await.unwrap_or_default(),
        Err(_) => Vec::new(),
    };
    for p in payments.iter().filter(|p| p.state == "paying") {
        if let Err(e) = s.engine.refresh_payment(&p.id).await {
            tracing::info!(payment = %p.id, error = %e, "refresh before answering failed");
        }
    }
}

#[derive(Deserialize)]
struct ListQuery {
    limit: Option<i64>,
    starting_after: Option<String>,
    out_order_no: Option<String>,
}

async fn list_orders(
    State(s): State<AppState>,
    q: Result<Query<ListQuery>, axum::extract::rejection::QueryRejection>,
    Signed { app, .. }: Signed,
) -> ApiResult {
    let Query(q) = q.map_err(|e| ApiError::invalid("invalid_query", e.body_text(), None))?;
    let limit = q.limit.unwrap_or(20);
    if !(1..=100).contains(&limit) {
        return Err(ApiError::invalid("invalid_limit", "limit 须在 1–100 之间", Some("limit")));
    }
    let mut c = s.engine.store().read().await?;
    let base = s.engine.config().public_base_url.clone();
    if let Some(no) = q.out_order_no {
        let found = api_store::order_by_out_no(&mut c, &app.id, &no).await?;
        let mut data = Vec::new();
        if let Some(row) = found {
            data.push(bursar_engine::api::order_json(&mut c, &row, &base).await?);
        }
        return Ok(json_response(
            StatusCode::OK,
            &json!({"object": "list", "data": data, "has_more": false, "next_cursor": null}),
        ));
    }
    let mut rows = api_store::orders_page(&mut c, &app.id, q.starting_after.as_deref(), limit + 1).await?;
    let has_more = rows.len() as i64 > limit;
    rows.truncate(usize::try_from(limit).unwrap_or(20));
    let mut data = Vec::new();
    for r in &rows {
        data.push(bursar_engine::api::order_json(&mut c, r, &base).await?);
    }
    let next = if has_more { rows.last().map(|r| r.order_id.clone()) } else { None };
    Ok(json_response(
        StatusCode::OK,
        &json!({"object": "list", "data": data, "has_more": has_more, "next_cursor": next}),
    ))
}

async fn close_order(
    State(s): State<AppState>,
    Path(id): Path<String>,
    Signed { app, headers, body }: Signed,
) -> ApiResult {
    idempotent(&s, &app, &headers, &body, || async {
        let row = own_order(&s, &app, &id).await?;
        s.engine.api_close_order(&app, &row.order_id).await?;
        let mut c = s.engine.store().read().await?;
        Ok((StatusCode::OK, bursar_engine::api::order_json(&mut c, &row, &s.engine.config().public_base_url).await?))
    })
    .await
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RefundIn {
    amount_fen: i64,
    reason: String,
}

async fn create_refund(
    State(s): State<AppState>,
    Path(id): Path<String>,
    Signed { app, headers, body }: Signed,
) -> ApiResult {
    idempotent(&s, &app, &headers, &body, || async {
        let input: RefundIn = parse_json(&body)?;
        if input.amount_fen <= 0 {
            return Err(ApiError::invalid("invalid_amount", "amount_fen 须为正整数", Some("amount_fen")));
        }
        let row = own_order(&s, &app, &id).await?;
        let refund_id = s.engine.api_request_refund(&app, &row.order_id, Fen(input.amount_fen), &input.reason).await?;
        let mut c = s.engine.store().read().await?;
        let r = bursar_store::refunds::refund(&mut c, &refund_id).await?;
        Ok((StatusCode::CREATED, refund_json(&r, &row)))
    })
    .await
}

fn refund_json(r: &bursar_store::refunds::RefundRow, order: &api_store::ApiOrderRow) -> Value {
    let mut v = bursar_engine::api::refund_value(r);
    v["order_id"] = json!(order.order_id);
    v["out_order_no"] = json!(order.out_order_no);
    v
}

async fn get_refund(State(s): State<AppState>, Path(id): Path<String>, Signed { app, .. }: Signed) -> ApiResult {
    let not_found =
        || ApiError::new(StatusCode::NOT_FOUND, "invalid_request_error", "not_found", format!("退款 {id} 不存在"));
    let mut c = s.engine.store().read().await?;
    let r = bursar_store::refunds::refund(&mut c, &id).await.map_err(|_| not_found())?;
    let p = bursar_store::payments::payment(&mut c, &r.payment_id).await?;
    let order = api_store::order_of(&mut c, &p.order_id).await?.filter(|o| o.app_id == app.id).ok_or_else(not_found)?;
    Ok(json_response(StatusCode::OK, &refund_json(&r, &order)))
}

async fn arrears(State(s): State<AppState>, Path(identifier): Path<String>, Signed { app, .. }: Signed) -> ApiResult {
    let mut c = s.engine.store().read().await?;
    let payer = payers::payer_by_identifier(&mut c, &identifier).await?.ok_or_else(|| {
        let mut e = ApiError::new(
            StatusCode::NOT_FOUND,
            "invalid_request_error",
            "unknown_payer",
            format!("缴费人 {identifier} 不存在"),
        );
        e.param = Some("identifier".into());
        e
    })?;
    let allowed = api_store::allowed_items(&mut c, &app.id).await?;
    let data: Vec<Value> = receivables::for_payer(&mut c, &payer.id)
        .await?
        .into_iter()
        .filter(|r| allowed.contains(&r.fee_item_id) && r.outstanding().get() > 0)
        .map(|r| {
            json!({"object": "receivable", "id": r.id, "fee_item_code": r.item_code, "fee_item": r.item_name,
                   "academic_year": r.academic_year, "due_fen": r.due_fen, "paid_fen": r.paid_fen,
                   "outstanding_fen": r.outstanding().get(), "collecting": r.status == "collecting"})
        })
        .collect();
    Ok(json_response(StatusCode::OK, &json!({"object": "list", "data": data, "has_more": false, "next_cursor": null})))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct BulkItem {
    #[serde(rename = "ref")]
    reference: String,
    payer_identifier: String,
    fee_item_code: String,
    academic_year: String,
    amount_fen: i64,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct BulkIn {
    receivables: Vec<BulkItem>,
}

async fn bulk_receivables(State(s): State<AppState>, Signed { app, headers, body }: Signed) -> ApiResult {
    idempotent(&s, &app, &headers, &body, || async {
        let input: BulkIn = parse_json(&body)?;
        if input.receivables.is_empty() || input.receivables.len() > 500 {
            return Err(ApiError::invalid("invalid_batch", "receivables 须为 1–500 条", Some("receivables")));
        }
        // What the schema itself forbids refuses the whole request; business rules (unknown
        // payer, item not allowed, already raised) are reported per item below.
        for (i, it) in input.receivables.iter().enumerate() {
            let n = it.reference.chars().count();
            if n == 0 || n > 64 {
                return Err(ApiError::invalid("invalid_ref", "ref 须为 1–64 个字符", Some(&format!("receivables[{i}].ref"))));
            }
            if it.amount_fen < 1 || it.amount_fen > 10_000_000_000 {
                return Err(ApiError::invalid("invalid_amount", "amount_fen 须在 1 到 10000000000 之间", Some(&format!("receivables[{i}].amount_fen"))));
            }
            if !year_ok(&it.academic_year) {
                return Err(ApiError::invalid("invalid_academic_year", "学年格式应为 2026-2027", Some(&format!("receivables[{i}].academic_year"))));
            }
        }
        let mut data = Vec::new();
        for (i, it) in input.receivables.iter().enumerate() {
            let result = s
                .engine
                .api_push_receivable(&app, &it.reference, &it.payer_identifier, &it.fee_item_code, &it.academic_year, Fen(it.amount_fen))
                .await;
            data.push(match result {
                Ok((rid, created)) => json!({"ref": it.reference, "status": if created { "created" } else { "existing" }, "receivable_id": rid}),
                Err(e) => {
                    let mut err = ApiError::from(e);
                    err.param = Some(format!("receivables[{i}].{}", err.param.clone().unwrap_or_default()));
                    json!({"ref": it.reference, "status": "error", "error": err.body()["error"].clone()})
                }
            });
        }
        Ok((StatusCode::OK, json!({"object": "list", "data": data, "has_more": false, "next_cursor": null})))
    })
    .await
}

/// The OpenAPI 3 document (checked in as `docs/openapi.json`).
async fn openapi() -> Response {
    (
        [
            (axum::http::header::CONTENT_TYPE, "application/json"),
            (axum::http::header::CACHE_CONTROL, "public, max-age=300"),
        ],
        include_str!("../../../docs/openapi.json"),
    )
        .into_response()
}
