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

pub mod auth;
pub mod notify;

use crate::guard::{get, post};
use axum::extract::{Path, Query, State};
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use bursar_domain::Fen;
use bursar_engine::api::{ApiItem, ApiOrderInput, ApiPayer};
use bursar_engine::queries::app::{AppView, IdemClaim, Idempotency};
use bursar_engine::rows::{ApiOrderRow, RefundRow};
use bursar_engine::EngineError;
use serde::Deserialize;
use serde_json::{json, Value};

use crate::guard::{Guard, Routes};
use crate::AppState;
use auth::Signed;

/// Requests larger than this are refused (413).
pub const MAX_BODY_BYTES: usize = 256 * 1024;
/// How far a request's timestamp may be from Bursar's clock.
pub const CLOCK_WINDOW_S: i64 = 300;

pub fn routes() -> Routes {
    let g = Guard::App;
    Routes::new()
        .route("/api/v1/openapi.json", Guard::Public, get(openapi))
        .route("/api/v1/orders", g, post(create_order).get(list_orders))
        .route("/api/v1/orders/{id}", g, get(get_order))
        .route("/api/v1/orders/{id}/close", g, post(close_order))
        .route("/api/v1/orders/{id}/refunds", g, post(create_refund))
        .route("/api/v1/refunds/{id}", g, get(get_refund))
        .route("/api/v1/payers/{identifier}/arrears", g, get(arrears))
        .route("/api/v1/receivables/bulk", g, post(bulk_receivables))
        .route(
            "/api/{*rest}",
            g,
            // Every method explicitly: a guard layer cannot wrap `any` (it is a fallback).
            get(no_such_endpoint)
                .post(no_such_endpoint)
                .put(no_such_endpoint)
                .patch(no_such_endpoint)
                .delete(no_such_endpoint),
        )
}

async fn no_such_endpoint() -> ApiError {
    ApiError::new(StatusCode::NOT_FOUND, "invalid_request_error", "not_found", "没有这个接口")
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
    pub(crate) fn unauthenticated() -> ApiError {
        ApiError::auth("missing_signature", "缺少 Authorization 签名头")
    }
    pub(crate) fn auth(code: &str, message: &str) -> ApiError {
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

impl From<EngineError> for ApiError {
    fn from(e: EngineError) -> Self {
        match e {
            EngineError::Param(p) => {
                let status = match p.code {
                    "duplicate_out_order_no" | "order_paid" | "already_billed" => StatusCode::CONFLICT,
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
            EngineError::Access(a) => {
                ApiError::new(StatusCode::FORBIDDEN, "permission_error", "forbidden", a.to_string())
            }
            EngineError::Store(bursar_engine::StoreError::NotFound(what)) => {
                ApiError::new(StatusCode::NOT_FOUND, "invalid_request_error", "not_found", what)
            }
            EngineError::Channel(c) => {
                tracing::warn!(error = %c, "channel error behind an API request");
                ApiError::new(StatusCode::BAD_GATEWAY, "channel_error", "channel", "支付渠道暂时不可用，请稍后重试")
            }
            other => {
                // Logged with its detail; the application sees no internal text.
                tracing::error!(error = %other, "API request failed");
                ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "api_error", "internal", "系统繁忙，请稍后重试")
            }
        }
    }
}

type ApiResult = Result<Response, ApiError>;

fn json_response(status: StatusCode, v: &Value) -> Response {
    (status, axum::Json(v)).into_response()
}

/// Runs a `POST` under its `Idempotency-Key`, scoped to the application, the method and the
/// path: the same key and body again returns the stored response; the same key with another
/// body is refused; a duplicate while the first runs is told so (409 `in_progress`) until the
/// first's lease runs out; after that a retry answers from what the first committed (recorded
/// in its own transaction) or runs again when it committed nothing.
async fn idempotent<F, Fut>(view: &AppView<'_>, signed: &Signed, run: F) -> ApiResult
where
    F: FnOnce(Option<IdemClaim>) -> Fut,
    Fut: std::future::Future<Output = Result<(StatusCode, Value), ApiError>>,
{
    let Some(key) = signed.headers.get("idempotency-key").and_then(|v| v.to_str().ok()).map(str::to_string) else {
        let (status, v) = run(None).await?;
        return Ok(json_response(status, &v));
    };
    if key.is_empty() || key.len() > 255 {
        return Err(ApiError::invalid(
            "invalid_idempotency_key",
            "Idempotency-Key 须为 1–255 个字符",
            Some("Idempotency-Key"),
        ));
    }
    let scoped = format!("{} {}\n{key}", signed.method, signed.path);
    let hash = hex::encode(ring::digest::digest(&ring::digest::SHA256, &signed.body).as_ref());
    let (status, v) = match view.idempotency_begin(&scoped, &hash).await? {
        Idempotency::Run(claim) => match run(Some(claim)).await {
            Ok(x) => x,
            Err(e) => (e.status, e.body()),
        },
        Idempotency::Effect { kind, id, .. } => {
            let (status, v) = effect_response(view, &kind, &id).await?;
            view.idempotency_finish(&scoped, i64::from(status.as_u16()), &v.to_string()).await?;
            let mut resp = json_response(status, &v);
            resp.headers_mut().insert("idempotent-replayed", HeaderValue::from_static("true"));
            return Ok(resp);
        }
        Idempotency::Reused => {
            return Err(ApiError::new(
                StatusCode::CONFLICT,
                "idempotency_error",
                "key_reused",
                "该 Idempotency-Key 已用于另一个请求",
            ))
        }
        Idempotency::InProgress => {
            return Err(ApiError::new(
                StatusCode::CONFLICT,
                "idempotency_error",
                "in_progress",
                "同一 Idempotency-Key 的请求正在处理，请稍后重试",
            ))
        }
        Idempotency::Replay(status, response) => {
            let status =
                u16::try_from(status).ok().and_then(|s| StatusCode::from_u16(s).ok()).unwrap_or(StatusCode::OK);
            let v: Value = serde_json::from_str(&response).unwrap_or(Value::Null);
            let mut resp = json_response(status, &v);
            resp.headers_mut().insert("idempotent-replayed", HeaderValue::from_static("true"));
            return Ok(resp);
        }
    };
    view.idempotency_finish(&scoped, i64::from(status.as_u16()), &v.to_string()).await?;
    Ok(json_response(status, &v))
}

/// The answer a request would have given, rebuilt from the effect it committed.
async fn effect_response(view: &AppView<'_>, kind: &str, id: &str) -> Result<(StatusCode, Value), ApiError> {
    let gone = || ApiError::new(StatusCode::NOT_FOUND, "invalid_request_error", "not_found", "该请求的结果已不存在");
    match kind {
        "order" => {
            let row = view.order(id).await?.ok_or_else(gone)?;
            Ok((StatusCode::CREATED, view.order_json(&row, false).await?))
        }
        _ => {
            let (r, order) = view.refund(id).await?.ok_or_else(gone)?;
            Ok((StatusCode::CREATED, refund_json(&r, &order)))
        }
    }
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
    let key = &s.engine.config().id_digest_key;
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
            let id_digest = id_number.as_deref().map(|i| bursar_engine::access::passwords::id_number_digest(key, i));
            Ok(ApiPayer::Outside { name, id_number, phone: p.phone, id_digest })
        }
        _ => Err(ApiError::invalid(
            "invalid_payer",
            "payer 须为 {identifier}（校内缴费人）或 {name, id_number|phone}（校外人员）之一",
            Some("payer"),
        )),
    }
}

async fn create_order(State(s): State<AppState>, signed: Signed) -> ApiResult {
    let by = signed.caller.principal.clone();
    let view = s.engine.app_view(&by)?;
    let (s, view, signed) = (&s, &view, &signed);
    idempotent(view, signed, |claim| async move {
        let input: OrderIn = parse_json(&signed.body)?;
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
            payer: api_payer(s, input.payer)?,
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
        let row = s.engine.api_create_order(&by, &order, claim.as_ref()).await?;
        Ok((StatusCode::CREATED, view.order_json(&row, false).await?))
    })
    .await
}

async fn own_order(view: &AppView<'_>, id: &str) -> Result<ApiOrderRow, ApiError> {
    view.order(id).await?.ok_or_else(|| {
        ApiError::new(StatusCode::NOT_FOUND, "invalid_request_error", "not_found", format!("订单 {id} 不存在"))
    })
}

async fn get_order(State(s): State<AppState>, Path(id): Path<String>, signed: Signed) -> ApiResult {
    let view = s.engine.app_view(&signed.caller.principal)?;
    let row = own_order(&view, &id).await?;
    // The channel is the truth: ask it about a payment still waiting before answering.
    Ok(json_response(StatusCode::OK, &view.order_json(&row, true).await?))
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
    signed: Signed,
) -> ApiResult {
    let Query(q) = q.map_err(|e| ApiError::invalid("invalid_query", e.body_text(), None))?;
    let limit = q.limit.unwrap_or(20);
    if !(1..=100).contains(&limit) {
        return Err(ApiError::invalid("invalid_limit", "limit 须在 1–100 之间", Some("limit")));
    }
    let view = s.engine.app_view(&signed.caller.principal)?;
    if let Some(no) = q.out_order_no {
        let mut data = Vec::new();
        if let Some(row) = view.order_by_out_no(&no).await? {
            data.push(view.order_json(&row, false).await?);
        }
        return Ok(json_response(
            StatusCode::OK,
            &json!({"object": "list", "data": data, "has_more": false, "next_cursor": null}),
        ));
    }
    let mut rows = view.orders_page(q.starting_after.as_deref(), limit + 1).await?;
    let has_more = i64::try_from(rows.len()).unwrap_or(i64::MAX) > limit;
    rows.truncate(usize::try_from(limit).unwrap_or(20));
    let mut data = Vec::new();
    for r in &rows {
        data.push(view.order_json(r, false).await?);
    }
    let next = if has_more { rows.last().map(|r| r.order_id.clone()) } else { None };
    Ok(json_response(
        StatusCode::OK,
        &json!({"object": "list", "data": data, "has_more": has_more, "next_cursor": next}),
    ))
}

async fn close_order(State(s): State<AppState>, Path(id): Path<String>, signed: Signed) -> ApiResult {
    let by = signed.caller.principal.clone();
    let view = s.engine.app_view(&by)?;
    let (s, view, signed) = (&s, &view, &signed);
    idempotent(view, signed, |_claim| async move {
        let row = own_order(view, &id).await?;
        s.engine.api_close_order(&by, &row.order_id).await?;
        Ok((StatusCode::OK, view.order_json(&row, false).await?))
    })
    .await
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RefundIn {
    amount_fen: i64,
    reason: String,
}

async fn create_refund(State(s): State<AppState>, Path(id): Path<String>, signed: Signed) -> ApiResult {
    let by = signed.caller.principal.clone();
    let view = s.engine.app_view(&by)?;
    let (s, view, signed) = (&s, &view, &signed);
    idempotent(view, signed, |claim| async move {
        let input: RefundIn = parse_json(&signed.body)?;
        if input.amount_fen <= 0 {
            return Err(ApiError::invalid("invalid_amount", "amount_fen 须为正整数", Some("amount_fen")));
        }
        let row = own_order(view, &id).await?;
        let refund_id = s
            .engine
            .api_request_refund(&by, &row.order_id, Fen(input.amount_fen), &input.reason, claim.as_ref())
            .await?;
        let (r, order) = view.refund(&refund_id).await?.ok_or_else(|| {
            ApiError::new(
                StatusCode::NOT_FOUND,
                "invalid_request_error",
                "not_found",
                format!("退款 {refund_id} 不存在"),
            )
        })?;
        Ok((StatusCode::CREATED, refund_json(&r, &order)))
    })
    .await
}

fn refund_json(r: &RefundRow, order: &ApiOrderRow) -> Value {
    let mut v = bursar_engine::api::refund_value(r);
    v["order_id"] = json!(order.order_id);
    v["out_order_no"] = json!(order.out_order_no);
    v
}

async fn get_refund(State(s): State<AppState>, Path(id): Path<String>, signed: Signed) -> ApiResult {
    let view = s.engine.app_view(&signed.caller.principal)?;
    let (r, order) = view.refund(&id).await?.ok_or_else(|| {
        ApiError::new(StatusCode::NOT_FOUND, "invalid_request_error", "not_found", format!("退款 {id} 不存在"))
    })?;
    Ok(json_response(StatusCode::OK, &refund_json(&r, &order)))
}

async fn arrears(State(s): State<AppState>, Path(identifier): Path<String>, signed: Signed) -> ApiResult {
    let view = s.engine.app_view(&signed.caller.principal)?;
    let list = view.arrears(&identifier).await?.ok_or_else(|| {
        let mut e = ApiError::new(
            StatusCode::NOT_FOUND,
            "invalid_request_error",
            "unknown_payer",
            format!("缴费人 {identifier} 不存在"),
        );
        e.param = Some("identifier".into());
        e
    })?;
    let data: Vec<Value> = list
        .into_iter()
        .map(|r| {
            json!({"object": "receivable", "id": r.id, "fee_item_code": r.item_code, "fee_item": r.item_name,
                   "academic_year": r.academic_year, "due_fen": r.due_fen, "paid_fen": r.paid_fen,
                   "outstanding_fen": r.outstanding(),
                   "collecting": r.status == bursar_domain::fee::FeeItemStatus::Collecting})
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

async fn bulk_receivables(State(s): State<AppState>, signed: Signed) -> ApiResult {
    let by = signed.caller.principal.clone();
    let view = s.engine.app_view(&by)?;
    let (s, view, signed) = (&s, &view, &signed);
    idempotent(view, signed, |_claim| async move {
        let input: BulkIn = parse_json(&signed.body)?;
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
                .api_push_receivable(&by, &it.reference, &it.payer_identifier, &it.fee_item_code, &it.academic_year, Fen(it.amount_fen))
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
        include_str!("../../../../docs/openapi.json"),
    )
        .into_response()
}
