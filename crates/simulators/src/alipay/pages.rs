//! The payer's side: the cashier pages (page.pay, wap.pay), the scanner for QR codes, and a
//! page that makes payment codes.

use super::*;

pub(super) const STYLE: &str = "body{font-family:system-ui,'Noto Sans CJK SC',sans-serif;margin:0;background:#f5f5f5;color:#111}\
header{background:#1677ff;color:#fff;padding:14px 16px;font-size:1.1em}main{padding:16px;max-width:480px;margin:auto}\
.card{background:#fff;border-radius:8px;padding:16px;margin-bottom:12px}.amount{font-size:2em;font-weight:600;text-align:center;margin:12px 0}\
.muted{color:#555;font-size:.9em}button{font-size:1.05em;padding:12px;border-radius:6px;border:0;width:100%;margin-top:8px}\
.ok{background:#1677ff;color:#fff}.no{background:#e5e5e5;color:#111}textarea,input{width:100%;box-sizing:border-box;font-size:1em;padding:8px}\
.code{font-family:monospace;font-size:1.4em;letter-spacing:2px;text-align:center}.qr{text-align:center}.qr svg{width:200px;height:200px}";

pub(super) fn page(title: &str, body: &str) -> Html<String> {
    Html(format!(
        "<!doctype html><html lang=\"zh-CN\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">\
         <title>{t} · 支付宝（模拟器）</title><style>{STYLE}</style></head><body><header>支付宝 · 模拟器</header><main>{body}</main></body></html>",
        t = html_escape(title)
    ))
}

pub(super) fn cashier_error(msg: &str, code: &str) -> Response {
    (
        StatusCode::BAD_REQUEST,
        page(
            "错误",
            &format!(
                "<div class=\"card\"><p>{}</p><p class=\"muted\">{}</p></div>",
                html_escape(msg),
                html_escape(code)
            ),
        ),
    )
        .into_response()
}

pub(super) fn token_from(text: &str) -> String {
    let t = text.trim();
    let t = t.rsplit_once("bax").map(|(_, r)| r).or_else(|| t.rsplit_once("token=").map(|(_, r)| r)).unwrap_or(t);
    t.chars().take_while(|c| c.is_ascii_alphanumeric()).collect()
}

pub(super) async fn scan_page(State(sim): State<AlipaySimulator>) -> Html<String> {
    let book = sim.book();
    let mut open: Vec<&Trade> = book.trades.values().filter(|t| t.status == WAIT).collect();
    open.sort_by_key(|t| std::cmp::Reverse(t.created_ms));
    let items: String = open
        .iter()
        .take(20)
        .map(|t| {
            format!(
                "<li><a href=\"/alipay/pay?token={}\">{}</a> ¥{}</li>",
                html_escape(&t.token),
                html_escape(&t.subject),
                Fen(t.total_fen)
            )
        })
        .collect();
    drop(book);
    page(
        "扫一扫",
        &format!(
            "<div class=\"card\"><form method=\"get\" action=\"/alipay/pay\"><label for=\"qr\">扫一扫：粘贴二维码内容（https://qr.alipay.com/…）</label>\
             <textarea id=\"qr\" name=\"qr\" rows=\"3\"></textarea><button class=\"ok\" type=\"submit\">识别</button></form></div>\
             <div class=\"card\"><div class=\"muted\">待支付交易</div><ul>{items}</ul></div>"
        ),
    )
}

#[derive(Deserialize)]
pub(super) struct PayQuery {
    token: Option<String>,
    qr: Option<String>,
}

pub(super) async fn pay_page(State(sim): State<AlipaySimulator>, Query(q): Query<PayQuery>) -> Response {
    let token = token_from(q.token.as_deref().or(q.qr.as_deref()).unwrap_or(""));
    let found = {
        let book = sim.book();
        book.by_token.get(&token).and_then(|k| book.trades.get(k)).cloned()
    };
    let Some(t) = found else {
        return (StatusCode::NOT_FOUND, page("交易不存在", "<div class=\"card\">交易不存在。</div>")).into_response();
    };
    let t = expire_if_due(&sim, t);
    let status = match t.status {
        WAIT => format!(
            "<form method=\"post\" action=\"/alipay/pay\"><input type=\"hidden\" name=\"token\" value=\"{tok}\">\
             <button class=\"ok\" name=\"action\" value=\"confirm\" type=\"submit\">确认付款</button>\
             <button class=\"no\" name=\"action\" value=\"decline\" type=\"submit\">取消</button></form>",
            tok = html_escape(&t.token)
        ),
        SUCCESS => "<p><strong>付款成功</strong></p>".into(),
        _ => "<p>交易已关闭</p>".into(),
    };
    let qr = format!("https://qr.alipay.com/bax{}", t.token);
    page(
        "付款",
        &format!(
            "<div class=\"card\"><div class=\"muted\">收款方</div><div>{m}</div><div class=\"muted\">{s}</div>\
             <div class=\"amount\">¥{a}</div>{status}</div><div class=\"card qr\">{svg}</div>",
            m = html_escape(&sim.inner.sandbox.merchant_name),
            s = html_escape(&t.subject),
            a = Fen(t.total_fen),
            svg = qr_svg(&qr),
        ),
    )
    .into_response()
}

#[derive(Deserialize)]
pub(super) struct PayChoice {
    token: String,
    action: String,
}

/// The synchronous return to the merchant's `return_url`, signed like a notification.
pub(super) fn return_url_for(sim: &AlipaySimulator, t: &Trade) -> Option<String> {
    if t.return_url.is_empty() {
        return None;
    }
    let mut p = BTreeMap::new();
    p.insert("app_id".to_string(), t.app_id.clone());
    p.insert("charset".to_string(), "utf-8".to_string());
    p.insert("method".to_string(), "alipay.trade.page.pay.return".to_string());
    p.insert("out_trade_no".to_string(), t.out_trade_no.clone());
    p.insert("seller_id".to_string(), sim.inner.sandbox.seller_id.clone());
    p.insert("sign_type".to_string(), "RSA2".to_string());
    p.insert("timestamp".to_string(), datetime_cst(sim.now()));
    p.insert("total_amount".to_string(), Fen(t.total_fen).to_yuan_string());
    p.insert("trade_no".to_string(), t.trade_no.clone());
    p.insert("version".to_string(), "1.0".to_string());
    let sign = sim.sign(&notify_sign_content(&p));
    p.insert("sign".to_string(), sign);
    let sep = if t.return_url.contains('?') { '&' } else { '?' };
    Some(format!("{}{sep}{}", t.return_url, encode_form(&p)))
}

pub(super) async fn pay_action(State(sim): State<AlipaySimulator>, Form(f): Form<PayChoice>) -> Response {
    let found = {
        let book = sim.book();
        book.by_token.get(&token_from(&f.token)).and_then(|k| book.trades.get(k)).cloned()
    };
    let Some(t) = found else {
        return (StatusCode::NOT_FOUND, page("交易不存在", "<div class=\"card\">交易不存在。</div>")).into_response();
    };
    match f.action.as_str() {
        "confirm" => match sim.confirm(&t.app_id, &t.out_trade_no, true) {
            Ok(()) => {
                let paid = Trade { status: SUCCESS, ..t };
                if let Some(url) = return_url_for(&sim, &paid) {
                    return Redirect::to(&url).into_response();
                }
                page(
                    "付款成功",
                    &format!("<div class=\"card\"><div class=\"amount\">¥{}</div><p style=\"text-align:center\"><strong>付款成功</strong></p></div>", Fen(paid.total_fen)),
                )
                .into_response()
            }
            Err(msg) => {
                (StatusCode::CONFLICT, page("无法付款", &format!("<div class=\"card\">{}</div>", html_escape(&msg))))
                    .into_response()
            }
        },
        "decline" if !t.return_url.is_empty() => Redirect::to(&t.return_url).into_response(),
        "decline" => page("已取消", "<div class=\"card\">已取消付款。</div>").into_response(),
        _ => (StatusCode::BAD_REQUEST, page("无效操作", "<div class=\"card\">无效操作。</div>")).into_response(),
    }
}

pub(super) async fn paycode_page(State(sim): State<AlipaySimulator>) -> Html<String> {
    let waiting: String = {
        let book = sim.book();
        let mut w: Vec<&Trade> = book.trades.values().filter(|t| t.status == WAIT).collect();
        w.sort_by_key(|t| std::cmp::Reverse(t.created_ms));
        w.iter()
            .take(10)
            .map(|t| {
                format!(
                    "<li><a href=\"/alipay/pay?token={}\">{}</a> ¥{}</li>",
                    html_escape(&t.token),
                    html_escape(&t.subject),
                    Fen(t.total_fen)
                )
            })
            .collect()
    };
    page(
        "付款码",
        &format!(
            "<div class=\"card\"><p>生成付款码，交给收银员扫描（模拟）。</p><form method=\"post\" action=\"/alipay/paycode\">\
             <label><input type=\"checkbox\" name=\"confirm\" value=\"1\" style=\"width:auto\"> 需要在手机上确认（大额）</label>\
             <button class=\"ok\" type=\"submit\">生成付款码</button></form></div><div class=\"card\"><div class=\"muted\">待确认</div><ul>{waiting}</ul></div>"
        ),
    )
}

#[derive(Deserialize)]
pub(super) struct NewCode {
    #[serde(default)]
    confirm: Option<String>,
}

pub(super) async fn paycode_new(State(sim): State<AlipaySimulator>, Form(f): Form<NewCode>) -> Response {
    let code = sim.new_payment_code(f.confirm.is_some());
    page(
        "付款码",
        &format!(
            "<div class=\"card\"><div class=\"muted\">付款码（约 1 分钟内有效）</div><div class=\"code\" id=\"paycode\">{c}</div><div class=\"qr\">{svg}</div></div>",
            c = html_escape(&code),
            svg = qr_svg(&code)
        ),
    )
    .into_response()
}
