//! The gateway (`gateway.do`): every OpenAPI method the adapter and the SDKs call, signed and
//! checked as Alipay does, and the daily bill download.

use super::*;

pub(super) fn fields(pairs: &[(&str, Value)]) -> Map<String, Value> {
    pairs.iter().map(|(k, v)| ((*k).to_string(), v.clone())).collect()
}

pub(super) fn amount_of(text: &str) -> Option<i64> {
    let f = Fen::parse_yuan(text).ok()?.get();
    let two_decimals = text.split_once('.').is_none_or(|(_, d)| d.len() <= 2);
    (f > 0 && f <= 10_000_000_000 && two_decimals).then_some(f)
}

pub(super) fn host_of(headers: &HeaderMap) -> String {
    headers.get("host").and_then(|h| h.to_str().ok()).unwrap_or("127.0.0.1").to_string()
}

pub(super) async fn gateway_get(
    State(sim): State<AlipaySimulator>,
    headers: HeaderMap,
    RawQuery(q): RawQuery,
) -> Response {
    let params = parse_form(q.as_deref().unwrap_or(""));
    gateway(sim, params, host_of(&headers)).await
}

/// Parameters may come in the query string, the form body, or both: merged.
pub(super) async fn gateway_post(
    State(sim): State<AlipaySimulator>,
    headers: HeaderMap,
    RawQuery(q): RawQuery,
    body: Bytes,
) -> Response {
    let mut params = parse_form(q.as_deref().unwrap_or(""));
    params.extend(parse_form(&String::from_utf8_lossy(&body)));
    gateway(sim, params, host_of(&headers)).await
}

pub(super) async fn gateway(sim: AlipaySimulator, p: BTreeMap<String, String>, host: String) -> Response {
    let method = match sim.authenticate(&p) {
        Ok(m) => m,
        Err(answer) => return answer,
    };
    let biz: Map<String, Value> = match p.get("biz_content").map(|b| serde_json::from_str::<Value>(b)) {
        Some(Ok(Value::Object(m))) => m,
        None if method.is_empty() => Map::new(),
        _ => return sim.fail(&response_key(&method), CODE_INVALID, "isv.invalid-biz-content", "biz_content 格式错误"),
    };
    let faults = sim.inner.faults.get();
    let browser = matches!(method.as_str(), "alipay.trade.page.pay" | "alipay.trade.wap.pay");
    if !browser {
        sim.inner.faults.hold_api().await;
        if faults.api_errors {
            return sim.fail(&response_key(&method), CODE_UNKNOWN, "aop.ACQ.SYSTEM_ERROR", "系统繁忙");
        }
    }
    let s = |k: &str| biz.get(k).and_then(Value::as_str).unwrap_or("").to_string();
    let key = response_key(&method);
    let notify_url = p.get("notify_url").cloned().unwrap_or_default();
    let return_url = p.get("return_url").cloned().unwrap_or_default();
    let app_id = p.get("app_id").cloned().unwrap_or_default();
    match method.as_str() {
        "alipay.trade.precreate" | "alipay.trade.page.pay" | "alipay.trade.wap.pay" => {
            let (otn, subject) = (s("out_trade_no"), s("subject"));
            let Some(total) = amount_of(&s("total_amount")) else {
                return sim.fail(&key, CODE_INVALID, "isv.invalid-parameter", "total_amount 格式错误");
            };
            if otn.is_empty() || otn.len() > 64 || subject.is_empty() {
                return sim.fail(&key, CODE_INVALID, "isv.missing-parameter", "缺少 out_trade_no 或 subject");
            }
            let expires_ms = match s("time_expire") {
                t if t.is_empty() => None,
                t => match parse_datetime_cst_ms(&t) {
                    Some(ms) => Some(ms),
                    None => return sim.fail(&key, CODE_INVALID, "isv.invalid-parameter", "time_expire 格式错误"),
                },
            };
            let token = match open_trade(&sim, &app_id, &otn, &subject, total, &notify_url, &return_url, expires_ms) {
                Ok(t) => t,
                Err((sub, msg)) if browser => return cashier_error(&msg, sub),
                Err((sub, msg)) => return sim.fail(&key, CODE_FAILED, sub, &msg),
            };
            if browser {
                return Redirect::to(&format!("/alipay/pay?token={token}")).into_response();
            }
            sim.ok(
                &method,
                fields(&[
                    ("out_trade_no", json!(otn)),
                    ("qr_code", json!(format!("https://qr.alipay.com/bax{token}"))),
                ]),
            )
        }
        "alipay.trade.pay" => trade_pay(&sim, &key, &method, &app_id, &biz, &notify_url),
        "alipay.trade.query" => {
            let Some(t) = find_trade(&sim, &app_id, &s("out_trade_no"), &s("trade_no")) else {
                return sim.fail(&key, CODE_FAILED, "ACQ.TRADE_NOT_EXIST", "交易不存在");
            };
            let t = expire_if_due(&sim, t);
            let delta = faults.amount_delta_fen;
            let mut f = fields(&[
                ("buyer_logon_id", json!(t.buyer)),
                (
                    "buyer_pay_amount",
                    json!(Fen(if t.status == WAIT { 0 } else { t.total_fen + delta }).to_yuan_string()),
                ),
                ("out_trade_no", json!(t.out_trade_no)),
                ("total_amount", json!(Fen(t.total_fen + delta).to_yuan_string())),
                ("trade_no", json!(t.trade_no)),
                ("trade_status", json!(t.status)),
            ]);
            if let Some(paid) = t.paid_ms {
                f.insert("send_pay_date".into(), json!(datetime_cst(paid)));
            }
            sim.ok(&method, f)
        }
        "alipay.trade.close" => {
            let Some(t) = find_trade(&sim, &app_id, &s("out_trade_no"), &s("trade_no")) else {
                return sim.fail(&key, CODE_FAILED, "ACQ.TRADE_NOT_EXIST", "交易不存在");
            };
            if t.status != WAIT {
                return sim.fail(&key, CODE_FAILED, "ACQ.TRADE_STATUS_ERROR", "交易状态不合法");
            }
            set_status(&sim, &t, CLOSED);
            sim.ok(&method, fields(&[("out_trade_no", json!(t.out_trade_no)), ("trade_no", json!(t.trade_no))]))
        }
        "alipay.trade.cancel" => {
            let Some(t) = find_trade(&sim, &app_id, &s("out_trade_no"), &s("trade_no")) else {
                return sim.fail(&key, CODE_FAILED, "ACQ.TRADE_NOT_EXIST", "交易不存在");
            };
            let action = match t.status {
                WAIT => "close",
                SUCCESS if t.refunded_fen == 0 => "refund",
                _ => return sim.fail(&key, CODE_FAILED, "ACQ.TRADE_STATUS_ERROR", "交易状态不合法"),
            };
            set_status(&sim, &t, CLOSED);
            sim.ok(
                &method,
                fields(&[
                    ("action", json!(action)),
                    ("out_trade_no", json!(t.out_trade_no)),
                    ("retry_flag", json!("N")),
                    ("trade_no", json!(t.trade_no)),
                ]),
            )
        }
        "alipay.trade.refund" => refund(&sim, &key, &method, &app_id, &biz),
        "alipay.trade.fastpay.refund.query" => {
            let Some(t) = find_trade(&sim, &app_id, &s("out_trade_no"), &s("trade_no")) else {
                return sim.fail(&key, CODE_FAILED, "ACQ.TRADE_NOT_EXIST", "交易不存在");
            };
            let req_no = if s("out_request_no").is_empty() { t.out_trade_no.clone() } else { s("out_request_no") };
            let found = sim
                .book()
                .refunds
                .get(&(app_id.clone(), t.out_trade_no.clone()))
                .and_then(|v| v.iter().find(|r| r.out_request_no == req_no).cloned());
            let mut f = fields(&[("out_trade_no", json!(t.out_trade_no)), ("trade_no", json!(t.trade_no))]);
            if let Some(r) = found {
                f.insert("out_request_no".into(), json!(r.out_request_no));
                f.insert("refund_amount".into(), json!(Fen(r.amount_fen).to_yuan_string()));
                f.insert("total_amount".into(), json!(Fen(t.total_fen).to_yuan_string()));
                f.insert("refund_status".into(), json!("REFUND_SUCCESS"));
                f.insert("gmt_refund_pay".into(), json!(datetime_cst(r.at_ms)));
            }
            sim.ok(&method, f)
        }
        "alipay.data.dataservice.bill.downloadurl.query" => {
            let date = s("bill_date");
            if s("bill_type") != "trade" {
                return sim.fail(&key, CODE_INVALID, "isv.invalid-parameter", "bill_type 仅支持 trade");
            }
            let Some(day_ms) = bursar_domain::time_fmt::parse_date_cst_ms(&date) else {
                return sim.fail(&key, CODE_INVALID, "isv.invalid-parameter", "bill_date 格式错误");
            };
            if day_ms > sim.now() {
                return sim.fail(&key, CODE_FAILED, "isp.bill_not_exist", "账单不存在");
            }
            let zip = match make_bill(&sim, &app_id, &date, day_ms) {
                Ok(z) => z,
                Err(e) => return sim.fail(&key, CODE_UNKNOWN, "isp.unknow-error", &e.to_string()),
            };
            let token = random_alnum(24);
            sim.book().bills.insert(token.clone(), zip);
            sim.ok(&method, fields(&[("bill_download_url", json!(format!("http://{host}/alipay/bill?token={token}")))]))
        }
        _ => sim.fail("error_response", CODE_INVALID, "isv.invalid-method", "不存在的方法名"),
    }
}

#[allow(clippy::too_many_arguments)]
pub(super) fn open_trade(
    sim: &AlipaySimulator,
    app_id: &str,
    otn: &str,
    subject: &str,
    total: i64,
    notify_url: &str,
    return_url: &str,
    expires_ms: Option<i64>,
) -> Result<String, (&'static str, String)> {
    let now = sim.now();
    let mut book = sim.book();
    let key = (app_id.to_string(), otn.to_string());
    if let Some(t) = book.trades.get(&key) {
        return match t.status {
            SUCCESS => Err(("ACQ.TRADE_HAS_SUCCESS", "交易已被支付".into())),
            CLOSED => Err(("ACQ.TRADE_HAS_CLOSE", "交易已经关闭".into())),
            _ if t.total_fen != total || t.subject != subject => {
                Err(("ACQ.CONTEXT_INCONSISTENT", "交易信息被篡改".into()))
            }
            _ => Ok(t.token.clone()),
        };
    }
    book.seq += 1;
    let trade_no = format!("{}2200{:010}", date_cst(now).replace('-', ""), book.seq);
    let token = random_alnum(20);
    book.by_token.insert(token.clone(), key.clone());
    book.by_trade_no.insert(trade_no.clone(), key.clone());
    book.trades.insert(
        key,
        Trade {
            app_id: app_id.to_string(),
            out_trade_no: otn.to_string(),
            trade_no,
            subject: subject.to_string(),
            total_fen: total,
            status: WAIT,
            notify_url: notify_url.to_string(),
            return_url: return_url.to_string(),
            created_ms: now,
            paid_ms: None,
            expires_ms,
            token: token.clone(),
            refunded_fen: 0,
            buyer: format!("{}***@sandbox.com", random_alnum(3).to_lowercase()),
        },
    );
    Ok(token)
}

pub(super) fn find_trade(sim: &AlipaySimulator, app_id: &str, otn: &str, trade_no: &str) -> Option<Trade> {
    let book = sim.book();
    let key =
        if !otn.is_empty() { (app_id.to_string(), otn.to_string()) } else { book.by_trade_no.get(trade_no)?.clone() };
    book.trades.get(&key).filter(|t| t.app_id == app_id).cloned()
}

/// An unpaid trade past its `time_expire` is closed, as Alipay does.
pub(super) fn expire_if_due(sim: &AlipaySimulator, t: Trade) -> Trade {
    if t.status == WAIT && t.expires_ms.is_some_and(|e| e <= sim.now()) {
        set_status(sim, &t, CLOSED);
        return Trade { status: CLOSED, ..t };
    }
    t
}

pub(super) fn set_status(sim: &AlipaySimulator, t: &Trade, status: &'static str) {
    if let Some(x) = sim.book().trades.get_mut(&(t.app_id.clone(), t.out_trade_no.clone())) {
        x.status = status;
    }
}

pub(super) fn trade_pay(
    sim: &AlipaySimulator,
    key: &str,
    method: &str,
    app_id: &str,
    biz: &Map<String, Value>,
    notify_url: &str,
) -> Response {
    let s = |k: &str| biz.get(k).and_then(Value::as_str).unwrap_or("").to_string();
    let code = s("auth_code");
    let format_ok = (16..=24).contains(&code.len())
        && code.chars().all(|c| c.is_ascii_digit())
        && code.get(..2).and_then(|p| p.parse::<u8>().ok()).is_some_and(|p| (25..=30).contains(&p));
    if s("scene") != "bar_code" {
        return sim.fail(key, CODE_INVALID, "isv.invalid-parameter", "scene 仅支持 bar_code");
    }
    let needs_confirm = match sim.book().codes.remove(&code) {
        Some(n) if format_ok => n,
        _ => {
            return sim.fail(
                key,
                CODE_FAILED,
                "ACQ.PAYMENT_AUTH_CODE_INVALID",
                "支付失败，获取顾客账户信息失败，请顾客刷新付款码后重新收款",
            )
        }
    };
    let Some(total) = amount_of(&s("total_amount")) else {
        return sim.fail(key, CODE_INVALID, "isv.invalid-parameter", "total_amount 格式错误");
    };
    if let Err((sub, msg)) = open_trade(sim, app_id, &s("out_trade_no"), &s("subject"), total, notify_url, "", None) {
        return sim.fail(key, CODE_FAILED, sub, &msg);
    }
    if needs_confirm {
        let t = find_trade(sim, app_id, &s("out_trade_no"), "");
        let trade_no = t.map(|t| t.trade_no).unwrap_or_default();
        return sim.answer(
            key,
            &json!({"code": CODE_WAITING, "msg": "Waiting for user to pay", "out_trade_no": s("out_trade_no"), "trade_no": trade_no}),
        );
    }
    if let Err(e) = sim.confirm(app_id, &s("out_trade_no"), true) {
        return sim.fail(key, CODE_FAILED, "ACQ.TRADE_STATUS_ERROR", &e);
    }
    let Some(t) = find_trade(sim, app_id, &s("out_trade_no"), "") else {
        return sim.fail(key, CODE_UNKNOWN, "ACQ.SYSTEM_ERROR", "系统错误");
    };
    sim.ok(
        method,
        fields(&[
            ("buyer_logon_id", json!(t.buyer)),
            ("gmt_payment", json!(datetime_cst(t.paid_ms.unwrap_or(t.created_ms)))),
            ("out_trade_no", json!(t.out_trade_no)),
            ("receipt_amount", json!(Fen(t.total_fen).to_yuan_string())),
            ("total_amount", json!(Fen(t.total_fen).to_yuan_string())),
            ("trade_no", json!(t.trade_no)),
        ]),
    )
}

pub(super) fn refund(
    sim: &AlipaySimulator,
    key: &str,
    method: &str,
    app_id: &str,
    biz: &Map<String, Value>,
) -> Response {
    let s = |k: &str| biz.get(k).and_then(Value::as_str).unwrap_or("").to_string();
    let Some(t) = find_trade(sim, app_id, &s("out_trade_no"), &s("trade_no")) else {
        return sim.fail(key, CODE_FAILED, "ACQ.TRADE_NOT_EXIST", "交易不存在");
    };
    let Some(amount) = amount_of(&s("refund_amount")) else {
        return sim.fail(key, CODE_INVALID, "isv.invalid-parameter", "refund_amount 格式错误");
    };
    let req_no = if s("out_request_no").is_empty() { t.out_trade_no.clone() } else { s("out_request_no") };
    let rkey = (app_id.to_string(), t.out_trade_no.clone());
    let now = sim.now();
    let done = |sim: &AlipaySimulator, refunded: i64, fund_change: &str| {
        sim.ok(
            method,
            fields(&[
                ("buyer_logon_id", json!(t.buyer)),
                ("fund_change", json!(fund_change)),
                ("gmt_refund_pay", json!(datetime_cst(now))),
                ("out_trade_no", json!(t.out_trade_no)),
                ("refund_fee", json!(Fen(refunded).to_yuan_string())),
                ("trade_no", json!(t.trade_no)),
            ]),
        )
    };
    let existing = sim.book().refunds.get(&rkey).and_then(|v| v.iter().find(|r| r.out_request_no == req_no).cloned());
    if let Some(r) = existing {
        if r.amount_fen != amount {
            return sim.fail(key, CODE_FAILED, "ACQ.REQUEST_AMOUNT_EXCEED", "同一退款请求号的金额不一致");
        }
        return done(sim, t.refunded_fen, "N");
    }
    if t.status != SUCCESS {
        return sim.fail(key, CODE_FAILED, "ACQ.TRADE_STATUS_ERROR", "交易状态不合法");
    }
    if sim.inner.faults.get().refunds_fail {
        return sim.fail(key, CODE_FAILED, "ACQ.SELLER_BALANCE_NOT_ENOUGH", "卖家余额不足");
    }
    if t.refunded_fen + amount > t.total_fen {
        return sim.fail(key, CODE_FAILED, "ACQ.REFUND_AMT_NOT_EQUAL_TOTAL", "退款金额超限");
    }
    let r = SimRefund { out_request_no: req_no, amount_fen: amount, at_ms: now };
    let updated = {
        let mut book = sim.book();
        book.refunds.entry(rkey.clone()).or_default().push(r.clone());
        let Some(x) = book.trades.get_mut(&rkey) else {
            return sim.fail(key, CODE_UNKNOWN, "ACQ.SYSTEM_ERROR", "系统错误");
        };
        x.refunded_fen += amount;
        if x.refunded_fen == x.total_fen {
            x.status = CLOSED;
        }
        x.clone()
    };
    sim.spawn_delivery(updated.clone(), Some(r));
    done(sim, updated.refunded_fen, "Y")
}

pub(super) fn make_bill(sim: &AlipaySimulator, app_id: &str, date: &str, day_ms: i64) -> Result<Vec<u8>, ChannelError> {
    let end = day_ms + 86_400_000;
    let book = sim.book();
    let mut rows = Vec::new();
    let mut trades: Vec<&Trade> = book
        .trades
        .values()
        .filter(|t| t.app_id == app_id && t.paid_ms.is_some_and(|p| p >= day_ms && p < end))
        .collect();
    trades.sort_by_key(|t| (t.paid_ms, t.trade_no.clone()));
    for t in trades {
        rows.push(BillRow {
            trade_no: t.trade_no.clone(),
            out_trade_no: t.out_trade_no.clone(),
            kind: BillKind::Trade,
            subject: t.subject.clone(),
            created: datetime_cst(t.created_ms),
            finished: datetime_cst(t.paid_ms.unwrap_or(t.created_ms)),
            buyer: t.buyer.clone(),
            order_fen: t.total_fen,
            received_fen: t.total_fen,
            refund_request_no: String::new(),
            fee_fen: -((t.total_fen * 6 + 500) / 1000),
        });
    }
    for ((app, otn), refunds) in &book.refunds {
        let Some(t) = book.trades.get(&(app.clone(), otn.clone())).filter(|_| app == app_id) else { continue };
        for r in refunds.iter().filter(|r| r.at_ms >= day_ms && r.at_ms < end) {
            rows.push(BillRow {
                trade_no: t.trade_no.clone(),
                out_trade_no: t.out_trade_no.clone(),
                kind: BillKind::Refund,
                subject: t.subject.clone(),
                created: datetime_cst(t.created_ms),
                finished: datetime_cst(r.at_ms),
                buyer: t.buyer.clone(),
                order_fen: -r.amount_fen,
                received_fen: -r.amount_fen,
                refund_request_no: r.out_request_no.clone(),
                fee_fen: (r.amount_fen * 6 + 500) / 1000,
            });
        }
    }
    drop(book);
    let bill = AlipayBill::new(&format!("{}0156", sim.inner.sandbox.seller_id), rows);
    bill.to_zip(date, &datetime_cst(sim.now()))
}

pub(super) async fn bill_download(
    State(sim): State<AlipaySimulator>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let token = q.get("token").cloned().unwrap_or_default();
    match sim.book().bills.get(&token).cloned() {
        Some(zip) => ([("content-type", "application/zip")], zip).into_response(),
        None => (StatusCode::NOT_FOUND, "bill not found").into_response(),
    }
}
