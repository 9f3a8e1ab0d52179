//! The payer's side: the simulated phone that scans and confirms, and WeChat's in-app payment
//! sheet for JSAPI pages.

use super::*;

/// The fields `WeixinJSBridge.invoke('getBrandWCPayRequest', …)` receives.
#[derive(Deserialize)]
pub(super) struct JsapiSheet {
    #[serde(rename = "appId")]
    app_id: String,
    #[serde(rename = "timeStamp")]
    time_stamp: String,
    #[serde(rename = "nonceStr")]
    nonce_str: String,
    package: String,
    #[serde(rename = "signType")]
    sign_type: String,
    #[serde(rename = "paySign")]
    pay_sign: String,
}

/// Stands in for WeChat's in-app payment sheet: checks the page's `paySign` as WeChat does
/// (merchant key, appId, fresh timestamp, a known prepay_id) and then shows the payment page.
pub(super) async fn phone_jsapi(State(sim): State<WechatPaySimulator>, Form(f): Form<JsapiSheet>) -> Response {
    let refuse = |msg: &str| {
        (
            StatusCode::BAD_REQUEST,
            phone_page("支付验证签名失败", &format!("<div class=\"card\">{}</div>", html_escape(msg))),
        )
            .into_response()
    };
    if f.sign_type != "RSA" {
        return refuse("signType 必须为 RSA");
    }
    if f.app_id != sim.inner.sandbox.appid {
        return refuse("appId 与商户不匹配");
    }
    let fresh = f.time_stamp.parse::<i64>().is_ok_and(|t| bursar_domain::clock::within(t, sim.now_ms() / 1000, 300));
    if !fresh {
        return refuse("timeStamp 已过期");
    }
    let msg = jsapi_pay_message(&f.app_id, &f.time_stamp, &f.nonce_str, &f.package);
    if !sim.inner.merchant_verifier.verify_base64(&msg, &f.pay_sign) {
        return refuse("paySign 签名错误");
    }
    let Some(prepay_id) = f.package.strip_prefix("prepay_id=") else {
        return refuse("package 格式错误");
    };
    if prepay_id.is_empty() || !prepay_id.chars().all(|c| c.is_ascii_alphanumeric()) {
        return refuse("prepay_id 无效");
    }
    Redirect::to(&format!("/phone/pay?pr={prepay_id}")).into_response()
}

// ---- the payer's phone ----

pub(super) const PHONE_STYLE: &str = "body{font-family:system-ui,'PingFang SC','Microsoft YaHei',sans-serif;margin:0;background:#ededed;color:#111}\
main{max-width:420px;margin:0 auto;padding:16px}header{background:#07c160;color:#fff;padding:14px 16px;font-weight:600}\
.card{background:#fff;border-radius:8px;padding:16px;margin:12px 0}.amount{font-size:2em;font-weight:600;text-align:center}\
.muted{color:#666;font-size:.9em}button{font-size:1.05em;padding:12px;border-radius:6px;border:0;width:100%;margin-top:8px}\
.ok{background:#07c160;color:#fff}.no{background:#e5e5e5;color:#111}textarea{width:100%;box-sizing:border-box;font-size:1em}\
.qr{text-align:center}.qr svg{width:220px;height:220px}";

pub(super) fn phone_page(title: &str, body: &str) -> Html<String> {
    Html(format!(
        "<!doctype html><html lang=\"zh-CN\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">\
         <title>{t} · 微信支付（模拟器）</title><style>{PHONE_STYLE}</style></head><body><header>微信支付 · 模拟器</header><main>{body}</main></body></html>",
        t = html_escape(title)
    ))
}

pub(super) fn pr_from(text: &str) -> Option<String> {
    let t = text.trim();
    let pr = t.rsplit_once("pr=").map(|(_, p)| p).unwrap_or(t);
    let pr: String = pr.chars().take_while(|c| c.is_ascii_alphanumeric()).collect();
    (!pr.is_empty()).then_some(pr)
}

pub(super) async fn phone_home(State(sim): State<WechatPaySimulator>) -> Html<String> {
    let book = sim.book();
    let mut open: Vec<&SimTxn> =
        book.txns.values().filter(|t| matches!(t.trade_state, "NOTPAY" | "USERPAYING")).collect();
    open.sort_by(|a, b| b.out_trade_no.cmp(&a.out_trade_no));
    let items: String = open
        .iter()
        .take(20)
        .map(|t| {
            format!(
                "<li><a href=\"/phone/pay?pr={pr}\">{d}</a> ¥{a}</li>",
                pr = html_escape(&t.pr),
                d = html_escape(&t.description),
                a = Fen(t.amount_fen)
            )
        })
        .collect();
    drop(book);
    phone_page(
        "扫一扫",
        &format!(
            "<div class=\"card\"><form method=\"get\" action=\"/phone/pay\"><label for=\"code\">扫一扫：粘贴二维码内容（weixin://wxpay/bizpayurl?pr=…）</label>\
             <textarea id=\"code\" name=\"code_url\" rows=\"3\"></textarea><button class=\"ok\" type=\"submit\">识别</button></form></div>\
             <div class=\"card\"><div class=\"muted\">待支付订单</div><ul>{items}</ul></div>"
        ),
    )
}

#[derive(Deserialize)]
pub(super) struct PayQuery {
    pr: Option<String>,
    code_url: Option<String>,
    /// H5: where WeChat returns the browser after paying (appended by the merchant).
    redirect_url: Option<String>,
}

pub(super) async fn phone_pay_page(State(sim): State<WechatPaySimulator>, Query(q): Query<PayQuery>) -> Response {
    let Some(pr) = q.pr.as_deref().and_then(pr_from).or_else(|| q.code_url.as_deref().and_then(pr_from)) else {
        return (StatusCode::BAD_REQUEST, phone_page("无效二维码", "<div class=\"card\">无法识别该二维码。</div>"))
            .into_response();
    };
    let book = sim.book();
    let Some(txn) = book.by_pr.get(&pr).and_then(|k| book.txns.get(k)).cloned() else {
        drop(book);
        return (StatusCode::NOT_FOUND, phone_page("订单不存在", "<div class=\"card\">订单不存在。</div>"))
            .into_response();
    };
    drop(book);
    let code_url = format!("weixin://wxpay/bizpayurl?pr={pr}");
    let status = match txn.trade_state {
        "NOTPAY" | "USERPAYING" => format!(
            "<form method=\"post\" action=\"/phone/pay\"><input type=\"hidden\" name=\"pr\" value=\"{p}\">\
             <input type=\"hidden\" name=\"redirect_url\" value=\"{r}\">\
             <button class=\"ok\" name=\"action\" value=\"confirm\" type=\"submit\">确认支付</button>\
             <button class=\"no\" name=\"action\" value=\"decline\" type=\"submit\">取消</button></form>",
            p = html_escape(&pr),
            r = html_escape(q.redirect_url.as_deref().unwrap_or(""))
        ),
        "SUCCESS" => "<p><strong>支付成功</strong></p>".to_string(),
        _ => "<p>订单已关闭</p>".to_string(),
    };
    phone_page(
        "付款",
        &format!(
            "<div class=\"card\"><div class=\"muted\">收款方</div><div>{m}</div><div class=\"muted\">{d}</div>\
             <div class=\"amount\">¥{a}</div>{status}</div><div class=\"card qr\"><div class=\"muted\">二维码内容</div>{qr}<div class=\"muted\">{c}</div></div>",
            m = html_escape(&sim.inner.sandbox.merchant_name),
            d = html_escape(&txn.description),
            a = Fen(txn.amount_fen),
            qr = qr_svg(&code_url),
            c = html_escape(&code_url)
        ),
    )
    .into_response()
}

#[derive(Deserialize)]
pub(super) struct PhoneChoice {
    pr: String,
    action: String,
    #[serde(default)]
    redirect_url: String,
}

pub(super) async fn phone_pay_action(State(sim): State<WechatPaySimulator>, Form(f): Form<PhoneChoice>) -> Response {
    match f.action.as_str() {
        "confirm" => match sim.confirm(&f.pr) {
            Ok(txn) => {
                let amount = Fen(txn.amount_fen);
                sim.spawn_notify(txn);
                if f.redirect_url.starts_with("http://") || f.redirect_url.starts_with("https://") {
                    return Redirect::to(&f.redirect_url).into_response();
                }
                phone_page(
                    "支付成功",
                    &format!("<div class=\"card\"><div class=\"amount\">¥{amount}</div><p style=\"text-align:center\"><strong>支付成功</strong></p></div>"),
                )
                .into_response()
            }
            Err(msg) => (
                StatusCode::CONFLICT,
                phone_page("无法支付", &format!("<div class=\"card\">{}</div>", html_escape(&msg))),
            )
                .into_response(),
        },
        // As on a real phone, declining leaves the order unpaid (NOTPAY) until it expires or is closed.
        "decline" if f.redirect_url.starts_with("http://") || f.redirect_url.starts_with("https://") => {
            Redirect::to(&f.redirect_url).into_response()
        }
        "decline" => phone_page("已取消", "<div class=\"card\">已取消支付。</div>").into_response(),
        _ => (StatusCode::BAD_REQUEST, phone_page("无效操作", "<div class=\"card\">无效操作。</div>")).into_response(),
    }
}
