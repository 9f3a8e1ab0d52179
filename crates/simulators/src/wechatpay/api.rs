//! The merchant API v3 calls: prepay (Native, JSAPI, H5), query, close, refunds and bills.

use super::*;

pub(super) async fn native(
    State(sim): State<WechatPaySimulator>,
    m: Method,
    u: OriginalUri,
    h: HeaderMap,
    b: Bytes,
) -> ApiResult {
    prepay(&sim, "NATIVE", &m, &u, &h, &b)
}
pub(super) async fn jsapi(
    State(sim): State<WechatPaySimulator>,
    m: Method,
    u: OriginalUri,
    h: HeaderMap,
    b: Bytes,
) -> ApiResult {
    prepay(&sim, "JSAPI", &m, &u, &h, &b)
}
pub(super) async fn h5(
    State(sim): State<WechatPaySimulator>,
    m: Method,
    u: OriginalUri,
    h: HeaderMap,
    b: Bytes,
) -> ApiResult {
    prepay(&sim, "H5", &m, &u, &h, &b)
}

/// The answer to a prepay request for a transaction already on the book.
/// The H5 page lives on the simulator itself, addressed by the Host the client used.
pub(super) fn prepay_answer(sim: &WechatPaySimulator, trade_type: &str, pr: &str, host: &str) -> Response {
    match trade_type {
        "JSAPI" => sim.json(&JsapiResponse { prepay_id: pr.to_string() }),
        "H5" => sim.json(&H5Response { h5_url: format!("http://{host}/phone/pay?pr={pr}") }),
        _ => sim.json(&NativeResponse { code_url: format!("weixin://wxpay/bizpayurl?pr={pr}") }),
    }
}

/// Native, JSAPI and H5 prepay: the same checks, a different answer.
pub(super) fn prepay(
    sim: &WechatPaySimulator,
    trade_type: &'static str,
    method: &Method,
    uri: &OriginalUri,
    headers: &HeaderMap,
    body: &Bytes,
) -> ApiResult {
    let mchid = sim.authenticate(method, uri, headers, body)?;
    let host = headers.get("host").and_then(|h| h.to_str().ok()).unwrap_or("127.0.0.1").to_string();
    let req: PrepayRequest = serde_json::from_slice(body)
        .map_err(|e| sim.error(StatusCode::BAD_REQUEST, "PARAM_ERROR", &format!("参数错误：{e}")))?;
    let bad = |msg: &str| sim.error(StatusCode::BAD_REQUEST, "PARAM_ERROR", msg);
    if req.mchid != mchid {
        return Err(sim.error(StatusCode::BAD_REQUEST, "MCH_NOT_EXISTS", "请求中的商户号与签名商户号不一致"));
    }
    if req.appid != sim.inner.sandbox.appid {
        return Err(sim.error(StatusCode::BAD_REQUEST, "APPID_MCHID_NOT_MATCH", "AppID和mch_id不匹配"));
    }
    let otn_ok = (6..=32).contains(&req.out_trade_no.len())
        && req.out_trade_no.chars().all(|c| c.is_ascii_alphanumeric() || "_-|*".contains(c));
    if !otn_ok {
        return Err(bad("out_trade_no 应为6-32位数字、字母、_-|*"));
    }
    if req.amount.total <= 0 {
        return Err(bad("amount.total 必须大于0"));
    }
    if req.amount.currency.as_deref().is_some_and(|c| c != "CNY") {
        return Err(bad("currency 仅支持 CNY"));
    }
    if req.description.is_empty() || req.description.chars().count() > 127 {
        return Err(bad("description 长度应为1-127"));
    }
    if !(req.notify_url.starts_with("http://") || req.notify_url.starts_with("https://")) {
        return Err(bad("notify_url 格式错误"));
    }
    let openid = match trade_type {
        "JSAPI" => match &req.payer {
            Some(p) if !p.openid.is_empty() => p.openid.clone(),
            _ => return Err(bad("JSAPI 下单缺少 payer.openid")),
        },
        _ => format!("oSim{}", random_alnum(24)),
    };
    if trade_type == "H5" && req.scene_info.as_ref().is_none_or(|s| s.payer_client_ip.is_empty() || s.h5_info.is_none())
    {
        return Err(bad("H5 下单缺少 scene_info.payer_client_ip 或 scene_info.h5_info"));
    }
    let expires_at_ms = match &req.time_expire {
        Some(t) => Some(parse_rfc3339_ms(t).ok_or_else(|| bad("time_expire 格式错误"))?),
        None => None,
    };
    let key = (req.mchid.clone(), req.out_trade_no.clone());
    let mut book = sim.book();
    if let Some(existing) = book.txns.get(&key) {
        return match existing.trade_state {
            "SUCCESS" => Err(sim.error(StatusCode::BAD_REQUEST, "ORDERPAID", "该订单已支付")),
            "CLOSED" => Err(sim.error(StatusCode::BAD_REQUEST, "ORDER_CLOSED", "订单已关闭")),
            _ if existing.amount_fen != req.amount.total
                || existing.description != req.description
                || existing.trade_type != trade_type =>
            {
                Err(sim.error(StatusCode::BAD_REQUEST, "INVALID_REQUEST", "商户订单号重复，且参数与原订单不一致"))
            }
            _ => {
                let pr = existing.pr.clone();
                drop(book);
                Ok(prepay_answer(sim, trade_type, &pr, &host))
            }
        };
    }
    let pr = match trade_type {
        "NATIVE" => random_alnum(7),
        _ => format!("wx{}{}", sim.now_ms() / 1000, random_alnum(18)),
    };
    book.by_pr.insert(pr.clone(), key.clone());
    book.txns.insert(
        key,
        SimTxn {
            appid: req.appid,
            mchid: req.mchid,
            out_trade_no: req.out_trade_no,
            description: req.description,
            amount_fen: req.amount.total,
            notify_url: req.notify_url,
            attach: req.attach,
            expires_at_ms,
            trade_state: "NOTPAY",
            transaction_id: None,
            success_time_ms: None,
            pr: pr.clone(),
            openid,
            trade_type,
        },
    );
    drop(book);
    Ok(prepay_answer(sim, trade_type, &pr, &host))
}

#[derive(Deserialize)]
pub(super) struct MchidQuery {
    mchid: Option<String>,
}

pub(super) async fn query_by_out_trade_no(
    State(sim): State<WechatPaySimulator>,
    Path(out_trade_no): Path<String>,
    Query(q): Query<MchidQuery>,
    method: Method,
    uri: OriginalUri,
    headers: HeaderMap,
) -> ApiResult {
    let mchid = sim.authenticate(&method, &uri, &headers, b"")?;
    if q.mchid.as_deref() != Some(mchid.as_str()) {
        return Err(sim.error(StatusCode::BAD_REQUEST, "PARAM_ERROR", "mchid 参数缺失或与签名商户号不一致"));
    }
    let found = sim.book().txns.get(&(mchid, out_trade_no)).cloned().map(|t| sim.wire(&t));
    match found {
        Some(t) => Ok(sim.json(&t)),
        None => Err(sim.error(StatusCode::NOT_FOUND, "ORDER_NOT_EXIST", "订单不存在")),
    }
}

pub(super) async fn query_by_id(
    State(sim): State<WechatPaySimulator>,
    Path(transaction_id): Path<String>,
    Query(q): Query<MchidQuery>,
    method: Method,
    uri: OriginalUri,
    headers: HeaderMap,
) -> ApiResult {
    let mchid = sim.authenticate(&method, &uri, &headers, b"")?;
    if q.mchid.as_deref() != Some(mchid.as_str()) {
        return Err(sim.error(StatusCode::BAD_REQUEST, "PARAM_ERROR", "mchid 参数缺失或与签名商户号不一致"));
    }
    let book = sim.book();
    let found = book
        .by_tid
        .get(&transaction_id)
        .and_then(|k| book.txns.get(k))
        .filter(|t| t.mchid == mchid)
        .cloned()
        .map(|t| sim.wire(&t));
    drop(book);
    match found {
        Some(t) => Ok(sim.json(&t)),
        None => Err(sim.error(StatusCode::NOT_FOUND, "ORDER_NOT_EXIST", "订单不存在")),
    }
}

pub(super) async fn close(
    State(sim): State<WechatPaySimulator>,
    Path(out_trade_no): Path<String>,
    method: Method,
    uri: OriginalUri,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult {
    let mchid = sim.authenticate(&method, &uri, &headers, &body)?;
    let req: CloseRequest = serde_json::from_slice(&body)
        .map_err(|e| sim.error(StatusCode::BAD_REQUEST, "PARAM_ERROR", &format!("参数错误：{e}")))?;
    if req.mchid != mchid {
        return Err(sim.error(StatusCode::BAD_REQUEST, "MCH_NOT_EXISTS", "请求中的商户号与签名商户号不一致"));
    }
    let mut book = sim.book();
    let Some(txn) = book.txns.get_mut(&(mchid, out_trade_no)) else {
        drop(book);
        return Err(sim.error(StatusCode::NOT_FOUND, "ORDER_NOT_EXIST", "订单不存在"));
    };
    if txn.trade_state == "SUCCESS" {
        drop(book);
        return Err(sim.error(StatusCode::BAD_REQUEST, "ORDERPAID", "该订单已支付"));
    }
    txn.trade_state = "CLOSED";
    drop(book);
    Ok(sim.signed(StatusCode::NO_CONTENT, Vec::new()))
}

pub(super) async fn create_refund(
    State(sim): State<WechatPaySimulator>,
    method: Method,
    uri: OriginalUri,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult {
    let mchid = sim.authenticate(&method, &uri, &headers, &body)?;
    let req: RefundRequestBody = serde_json::from_slice(&body)
        .map_err(|e| sim.error(StatusCode::BAD_REQUEST, "PARAM_ERROR", &format!("参数错误：{e}")))?;
    let bad = |code: &str, msg: &str| sim.error(StatusCode::BAD_REQUEST, code, msg);
    if req.amount.refund <= 0 || req.amount.currency != "CNY" {
        return Err(bad("PARAM_ERROR", "退款金额或币种错误"));
    }
    if !(1..=64).contains(&req.out_refund_no.len()) {
        return Err(bad("PARAM_ERROR", "out_refund_no 长度错误"));
    }
    let now = sim.now_ms();
    let key = (mchid.clone(), req.out_refund_no.clone());
    let mut book = sim.book();
    if let Some(existing) = book.refunds.get(&key) {
        let same = existing.refund_fen == req.amount.refund
            && req.out_trade_no.as_deref().is_none_or(|o| o == existing.out_trade_no);
        let wire = existing.to_wire();
        drop(book);
        return if same {
            Ok(sim.json(&wire))
        } else {
            Err(bad("INVALID_REQUEST", "退款单号重复，且参数与原退款不一致"))
        };
    }
    let txn_key = match (&req.out_trade_no, &req.transaction_id) {
        (Some(otn), _) => Some((mchid.clone(), otn.clone())),
        (None, Some(tid)) => book.by_tid.get(tid).cloned(),
        (None, None) => return Err(bad("PARAM_ERROR", "transaction_id 与 out_trade_no 必填其一")),
    };
    let Some(txn) = txn_key.and_then(|k| book.txns.get(&k)).cloned() else {
        drop(book);
        return Err(sim.error(StatusCode::NOT_FOUND, "RESOURCE_NOT_EXISTS", "订单不存在"));
    };
    if !matches!(txn.trade_state, "SUCCESS" | "REFUND") {
        return Err(bad("INVALID_REQUEST", "订单未支付，不能退款"));
    }
    if req.amount.total != txn.amount_fen {
        return Err(bad("INVALID_REQUEST", "订单金额与原订单不一致"));
    }
    let refunded: i64 = book
        .refunds
        .values()
        .filter(|r| r.out_trade_no == txn.out_trade_no && matches!(r.status, "SUCCESS" | "PROCESSING"))
        .map(|r| r.refund_fen)
        .sum();
    if refunded + req.amount.refund > txn.amount_fen {
        return Err(bad("INVALID_REQUEST", "退款金额超过订单可退金额"));
    }
    book.seq += 1;
    let refund = SimRefund {
        refund_id: format!("5030{:024}", book.seq),
        out_refund_no: req.out_refund_no.clone(),
        out_trade_no: txn.out_trade_no.clone(),
        transaction_id: txn.transaction_id.clone().unwrap_or_default(),
        refund_fen: req.amount.refund,
        total_fen: txn.amount_fen,
        status: "PROCESSING",
        created_ms: now,
        success_ms: None,
        notify_url: req.notify_url.clone(),
    };
    if let Some(t) = book.txns.get_mut(&(mchid.clone(), txn.out_trade_no.clone())) {
        t.trade_state = "REFUND";
    }
    book.refunds.insert(key, refund.clone());
    drop(book);
    sim.spawn_refund_settlement(mchid, req.out_refund_no);
    Ok(sim.json(&refund.to_wire()))
}

pub(super) async fn query_refund(
    State(sim): State<WechatPaySimulator>,
    Path(out_refund_no): Path<String>,
    method: Method,
    uri: OriginalUri,
    headers: HeaderMap,
) -> ApiResult {
    let mchid = sim.authenticate(&method, &uri, &headers, b"")?;
    let found = sim.book().refunds.get(&(mchid, out_refund_no)).map(SimRefund::to_wire);
    match found {
        Some(r) => Ok(sim.json(&r)),
        None => Err(sim.error(StatusCode::NOT_FOUND, "RESOURCE_NOT_EXISTS", "退款单不存在")),
    }
}

#[derive(Deserialize)]
pub(super) struct BillQuery {
    bill_date: Option<String>,
    bill_type: Option<String>,
    tar_type: Option<String>,
    token: Option<String>,
}

/// `GET /v3/bill/tradebill`: builds the day's bill from the simulator's own records (success
/// times in Beijing time) and answers where to download it. Unlike WeChat Pay, which publishes a
/// day's bill the next morning, the simulator also serves the current day (tests and demos).
pub(super) async fn trade_bill(
    State(sim): State<WechatPaySimulator>,
    Query(q): Query<BillQuery>,
    method: Method,
    uri: OriginalUri,
    headers: HeaderMap,
) -> ApiResult {
    let mchid = sim.authenticate(&method, &uri, &headers, b"")?;
    let bad = |msg: &str| sim.error(StatusCode::BAD_REQUEST, "PARAM_ERROR", msg);
    let date = q.bill_date.clone().unwrap_or_default();
    if bursar_domain::time_fmt::parse_date_cst_ms(&date).is_none() || date.len() != 10 {
        return Err(bad("bill_date 格式应为 YYYY-MM-DD"));
    }
    let bill_type = q.bill_type.clone().unwrap_or_else(|| "ALL".into());
    if !matches!(bill_type.as_str(), "ALL" | "SUCCESS" | "REFUND") {
        return Err(bad("bill_type 取值 ALL|SUCCESS|REFUND"));
    }
    let gzip = match q.tar_type.as_deref() {
        None => false,
        Some("GZIP") => true,
        Some(_) => return Err(bad("tar_type 仅支持 GZIP")),
    };
    let day = |ms: i64| bursar_domain::time_fmt::date_cst(ms);
    let mut book = sim.book();
    let mut rows = Vec::new();
    if bill_type != "REFUND" {
        let mut txns: Vec<&SimTxn> = book
            .txns
            .values()
            .filter(|t| t.mchid == mchid && t.success_time_ms.is_some_and(|ms| day(ms) == date))
            .collect();
        txns.sort_by_key(|t| (t.success_time_ms, t.out_trade_no.clone()));
        for t in txns {
            rows.push(bursar_channels::wechatpay::bill::BillRow {
                time: bursar_domain::time_fmt::datetime_cst(t.success_time_ms.unwrap_or_default()),
                appid: t.appid.clone(),
                mchid: t.mchid.clone(),
                transaction_id: t.transaction_id.clone().unwrap_or_default(),
                out_trade_no: t.out_trade_no.clone(),
                trade_type: "NATIVE".into(),
                trade_state: "SUCCESS".into(),
                settlement_fen: t.amount_fen,
                refund_id: String::new(),
                out_refund_no: String::new(),
                refund_fen: 0,
                refund_status: String::new(),
                description: t.description.clone(),
                fee_units: t.amount_fen * 6,
                order_fen: t.amount_fen,
                requested_refund_fen: 0,
            });
        }
    }
    if bill_type != "SUCCESS" {
        let mut refunds: Vec<&SimRefund> = book
            .refunds
            .iter()
            .filter(|((m, _), r)| {
                *m == mchid && r.status == "SUCCESS" && r.success_ms.is_some_and(|ms| day(ms) == date)
            })
            .map(|(_, r)| r)
            .collect();
        refunds.sort_by_key(|r| (r.success_ms, r.out_refund_no.clone()));
        for r in refunds {
            let t = book.txns.get(&(mchid.clone(), r.out_trade_no.clone()));
            rows.push(bursar_channels::wechatpay::bill::BillRow {
                time: bursar_domain::time_fmt::datetime_cst(r.success_ms.unwrap_or_default()),
                appid: t.map(|t| t.appid.clone()).unwrap_or_default(),
                mchid: mchid.clone(),
                transaction_id: r.transaction_id.clone(),
                out_trade_no: r.out_trade_no.clone(),
                trade_type: "NATIVE".into(),
                trade_state: "REFUND".into(),
                settlement_fen: 0,
                refund_id: r.refund_id.clone(),
                out_refund_no: r.out_refund_no.clone(),
                refund_fen: r.refund_fen,
                refund_status: "SUCCESS".into(),
                description: t.map(|t| t.description.clone()).unwrap_or_default(),
                fee_units: -r.refund_fen * 6,
                order_fen: 0,
                requested_refund_fen: r.refund_fen,
            });
        }
    }
    if rows.is_empty() {
        drop(book);
        return Err(sim.error(StatusCode::BAD_REQUEST, "NO_STATEMENT_EXIST", "该日期无交易，账单不存在"));
    }
    let csv = bursar_channels::wechatpay::bill::render(&rows, bill_type != "SUCCESS");
    // hash_value is the SHA1 of the original (uncompressed) bill.
    let hash = hex::encode(ring::digest::digest(&ring::digest::SHA1_FOR_LEGACY_USE_ONLY, csv.as_bytes()).as_ref());
    let file = if gzip {
        use std::io::Write;
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        if enc.write_all(csv.as_bytes()).is_err() {
            drop(book);
            return Err(sim.error(StatusCode::INTERNAL_SERVER_ERROR, "SYSTEM_ERROR", "系统错误"));
        }
        enc.finish().unwrap_or_default()
    } else {
        csv.into_bytes()
    };
    let token = random_alnum(32);
    book.bills.insert(token.clone(), file);
    drop(book);
    let host = headers.get("host").and_then(|h| h.to_str().ok()).unwrap_or("127.0.0.1");
    Ok(sim.json(&serde_json::json!({
        "hash_type": "SHA1",
        "hash_value": hash,
        "download_url": format!("http://{host}/v3/billdownload/file?token={token}"),
    })))
}

/// `GET /v3/billdownload/file?token=…`: the bill file; authenticated like every request, but the
/// response (a file) is not signed.
pub(super) async fn download_bill(
    State(sim): State<WechatPaySimulator>,
    Query(q): Query<BillQuery>,
    method: Method,
    uri: OriginalUri,
    headers: HeaderMap,
) -> ApiResult {
    sim.authenticate(&method, &uri, &headers, b"")?;
    let file = q.token.as_deref().and_then(|t| sim.book().bills.get(t).cloned());
    match file {
        Some(bytes) => Ok(([("content-type", "application/octet-stream")], bytes).into_response()),
        None => Err(sim.error(StatusCode::NOT_FOUND, "RESOURCE_NOT_EXISTS", "账单文件不存在或已过期")),
    }
}
