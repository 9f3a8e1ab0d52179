//! The portal offers exactly the channels each fee item accepts, in the flow that suits the
//! payer's device, and every channel pays end to end on both stores: Alipay QR (desktop) and
//! wap.pay (phone), WeChat JSAPI (inside WeChat) and H5 (phone browser), and the campus card
//! (password, balance, lock). Combined items collected into different accounts are refused.

use std::time::Duration;

use bursar_domain::payment::PaymentState;
use bursar_domain::refund::RefundState;
use bursar_store::{payments as pay_store, receivables};

use crate::both_stores;
use crate::support::*;

const IPHONE: &str = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) Mobile/15E148";
const WECHAT: &str = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) Mobile/15E148 MicroMessenger/8.0.50";

async fn payer_id(store: &bursar_store::Store) -> String {
    first_student(store).await.0.id
}

pub(crate) async fn receivable(store: &bursar_store::Store, name: &str) -> receivables::ReceivableView {
    let pid = payer_id(store).await;
    let mut c = store.read().await.unwrap();
    receivables::for_payer(&mut c, &pid)
        .await
        .unwrap()
        .into_iter()
        .find(|r| r.academic_year == "2026-2027" && r.item_name == name)
        .unwrap_or_else(|| panic!("demo student has {name}"))
}

/// Creates an order for the whole outstanding amount of the named items; returns its path.
pub(crate) async fn order_for(c: &reqwest::Client, base: &str, store: &bursar_store::Store, names: &[&str]) -> String {
    let page = c.get(format!("{base}/portal/pay?year=2026-2027")).send().await.unwrap().text().await.unwrap();
    let csrf = csrf_of(&page);
    let mut form: Vec<(String, String)> = vec![("csrf".into(), csrf), ("year".into(), "2026-2027".into())];
    for n in names {
        let r = receivable(store, n).await;
        form.push(("sel".into(), r.id.clone()));
        form.push((format!("amount_{}", r.id), bursar_domain::Fen(r.outstanding().get()).to_yuan_string()));
    }
    let resp = c.post(format!("{base}/portal/orders")).form(&form).send().await.unwrap();
    assert_eq!(resp.status(), 303, "order for {names:?}");
    location(&resp)
}

async fn choose(c: &reqwest::Client, base: &str, order: &str, ua: &str, fields: &[(&str, &str)]) -> reqwest::Response {
    let page = c.get(format!("{base}{order}")).header("User-Agent", ua).send().await.unwrap().text().await.unwrap();
    let csrf = csrf_of(&page);
    let mut form = vec![("csrf", csrf.as_str())];
    form.extend_from_slice(fields);
    c.post(format!("{base}{order}/pay")).header("User-Agent", ua).form(&form).send().await.unwrap()
}

async fn wait_succeeded(store: &bursar_store::Store, payment_path: &str) {
    let id = payment_path.rsplit('/').next().unwrap().to_string();
    eventually("payment succeeded", Duration::from_secs(15), || {
        let id = id.clone();
        let store = store.clone();
        async move { payment_state(&store, &id).await == PaymentState::Succeeded }
    })
    .await;
}

/// Decodes the HTML entities a template writes into attribute values.
pub(crate) fn unescape(v: &str) -> String {
    let mut out = String::new();
    let mut rest = v;
    while let Some(i) = rest.find('&') {
        out.push_str(&rest[..i]);
        let after = &rest[i..];
        let end = after.find(';').unwrap_or(0);
        let ent = &after[1..end.max(1)];
        let decoded = match ent {
            "amp" => Some('&'),
            "lt" => Some('<'),
            "gt" => Some('>'),
            "quot" => Some('"'),
            _ if ent.starts_with("#x") => u32::from_str_radix(&ent[2..], 16).ok().and_then(char::from_u32),
            _ if ent.starts_with('#') => ent[1..].parse().ok().and_then(char::from_u32),
            _ => None,
        };
        match decoded {
            Some(ch) if end > 0 => {
                out.push(ch);
                rest = &after[end + 1..];
            }
            _ => {
                out.push('&');
                rest = &after[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

fn no_redirects() -> reqwest::Client {
    reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap()
}

/// The hidden fields of the form with `id`.
fn form_fields(html: &str, id: &str) -> (String, Vec<(String, String)>) {
    let start = html.find(&format!("id=\"{id}\"")).unwrap_or_else(|| panic!("form {id}"));
    let form_start = html[..start].rfind("<form").unwrap();
    let form = &html[form_start..form_start + html[form_start..].find("</form>").unwrap()];
    let action = between(form, "action=\"", "\"").unwrap().replace("&amp;", "&");
    let mut fields = Vec::new();
    let mut rest = form;
    while let Some(i) = rest.find("<input type=\"hidden\" name=\"") {
        rest = &rest[i + 27..];
        let name = rest[..rest.find('"').unwrap()].to_string();
        let value = between(rest, "value=\"", "\"").unwrap();
        let value = unescape(value);
        fields.push((name, value));
    }
    (action, fields)
}

both_stores!(alipay_qr_on_desktop_and_wap_on_a_phone, |env: TestEnv| async move {
    let app = env.start_demo().await;
    let base = app.base_url.clone();
    let sim = app.sim_base_url.clone().unwrap();
    let c = login_student(&base).await;

    // Desktop: the dorm fee offers WeChat, Alipay and the campus card (with its balance).
    let order = order_for(&c, &base, &app.store, &["住宿费"]).await;
    let page = c.get(format!("{base}{order}")).send().await.unwrap().text().await.unwrap();
    for m in ["value=\"wechat_native\"", "value=\"alipay_qr\"", "value=\"campus_card\"", "余额 ¥1,000.00"] {
        assert!(page.contains(m), "order page offers {m}");
    }
    let resp = choose(&c, &base, &order, "Mozilla/5.0 (X11; Linux x86_64)", &[("method", "alipay_qr")]).await;
    assert_eq!(resp.status(), 303);
    let payment = location(&resp);
    let page = c.get(format!("{base}{payment}")).send().await.unwrap().text().await.unwrap();
    assert!(page.contains("<svg") && page.contains("支付宝"), "an Alipay QR code");
    assert!(page.contains(&format!("{sim}/alipay/pay?qr=")), "a link to the simulated phone");
    let p = {
        let mut s = app.store.read().await.unwrap();
        pay_store::payment(&mut s, payment.rsplit('/').next().unwrap()).await.unwrap()
    };
    assert_eq!((p.channel.as_str(), p.method.as_str()), ("alipay", "alipay_qr"));
    app.alipay_sim.as_ref().unwrap().confirm(&p.merchant_id, &p.merchant_order_no, true).unwrap();
    wait_succeeded(&app.store, &payment).await;

    // A phone: the textbook fee through wap.pay — a signed form to the gateway, the cashier, back.
    let order = order_for(&c, &base, &app.store, &["教材费"]).await;
    let resp = choose(&c, &base, &order, IPHONE, &[("method", "alipay_wap")]).await;
    assert_eq!(resp.status(), 303);
    let payment = location(&resp);
    let resp = c.get(format!("{base}{payment}")).header("User-Agent", IPHONE).send().await.unwrap();
    let csp = resp.headers()["content-security-policy"].to_str().unwrap().to_string();
    assert!(csp.contains(&format!("form-action 'self' {sim}")), "the page may post to the gateway only: {csp}");
    let page = resp.text().await.unwrap();
    let (action, fields) = form_fields(&page, "pay-form");
    assert!(action.starts_with(&format!("{sim}/gateway.do")));
    let browser = no_redirects();
    let r = browser.post(&action).form(&fields).send().await.unwrap();
    let status = r.status();
    let r = if status == 303 { r } else { panic!("the gateway refused the form: {}", r.text().await.unwrap()) };
    let cashier = format!("{sim}{}", r.headers()["location"].to_str().unwrap());
    let token = cashier.split_once("token=").unwrap().1.to_string();
    let r = browser
        .post(format!("{sim}/alipay/pay"))
        .form(&[("token", token.as_str()), ("action", "confirm")])
        .send()
        .await
        .unwrap();
    let back = r.headers()["location"].to_str().unwrap().to_string();
    assert!(back.starts_with(&format!("{base}{payment}?")), "returns to the payment page: {back}");
    wait_succeeded(&app.store, &payment).await;
    assert_verified(&app.store).await;
    app.stop().await;
});

both_stores!(wechat_jsapi_inside_wechat_and_h5_on_a_phone, |env: TestEnv| async move {
    let app = env.start_demo().await;
    let base = app.base_url.clone();
    let sim = app.sim_base_url.clone().unwrap();
    let c = login_student(&base).await;
    let browser = no_redirects();

    // Inside WeChat: JSAPI, no Alipay (blocked there).
    let order = order_for(&c, &base, &app.store, &["住宿费"]).await;
    let page = c.get(format!("{base}{order}")).header("User-Agent", WECHAT).send().await.unwrap().text().await.unwrap();
    assert!(page.contains("value=\"wechat_jsapi\"") && !page.contains("alipay"), "WeChat only inside WeChat");
    let resp = choose(&c, &base, &order, WECHAT, &[("method", "wechat_jsapi")]).await;
    let payment = location(&resp);
    let page =
        c.get(format!("{base}{payment}")).header("User-Agent", WECHAT).send().await.unwrap().text().await.unwrap();
    let (action, fields) = form_fields(&page, "jsapi-form");
    assert_eq!(action, format!("{sim}/phone/jsapi"));
    for k in ["appId", "timeStamp", "nonceStr", "package", "signType", "paySign"] {
        assert!(fields.iter().any(|(n, _)| n == k), "JSAPI parameter {k}");
    }
    // A tampered sheet is refused by the (simulated) WeChat; the genuine one opens the payment.
    let mut forged = fields.clone();
    for f in forged.iter_mut().filter(|f| f.0 == "nonceStr") {
        f.1.push('x');
    }
    assert_eq!(browser.post(&action).form(&forged).send().await.unwrap().status(), 400);
    let r = browser.post(&action).form(&fields).send().await.unwrap();
    assert_eq!(r.status(), 303);
    let pr = r.headers()["location"].to_str().unwrap().split_once("pr=").unwrap().1.to_string();
    let r = browser
        .post(format!("{sim}/phone/pay"))
        .form(&[("pr", pr.as_str()), ("action", "confirm")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    wait_succeeded(&app.store, &payment).await;

    // A phone browser: H5 jumps to WeChat and comes back.
    let order = order_for(&c, &base, &app.store, &["教材费"]).await;
    let resp = choose(&c, &base, &order, IPHONE, &[("method", "wechat_h5")]).await;
    let payment = location(&resp);
    let page =
        c.get(format!("{base}{payment}")).header("User-Agent", IPHONE).send().await.unwrap().text().await.unwrap();
    let h5 = unescape(between(&page, "id=\"pay-go\" data-autogo href=\"", "\"").unwrap());
    assert!(h5.starts_with(&format!("{sim}/phone/pay?pr=")) && h5.contains("redirect_url="), "{h5}");
    let sim_page = browser.get(&h5).send().await.unwrap().text().await.unwrap();
    let pr = between(&sim_page, "name=\"pr\" value=\"", "\"").unwrap().to_string();
    let redirect = unescape(between(&sim_page, "name=\"redirect_url\" value=\"", "\"").unwrap());
    let r = browser
        .post(format!("{sim}/phone/pay"))
        .form(&[("pr", pr.as_str()), ("action", "confirm"), ("redirect_url", redirect.as_str())])
        .send()
        .await
        .unwrap();
    let r = if r.status() == 303 { r } else { panic!("H5 confirm: {} {}", r.status(), r.text().await.unwrap()) };
    assert_eq!(r.headers()["location"].to_str().unwrap(), format!("{base}{payment}"));
    wait_succeeded(&app.store, &payment).await;
    assert_verified(&app.store).await;
    app.stop().await;
});

both_stores!(campus_card_pays_from_its_wallet, |env: TestEnv| async move {
    let app = env.start_demo().await;
    let base = app.base_url.clone();
    let c = login_student(&base).await;
    let pid = payer_id(&app.store).await;
    let card = app.engine.card_of(&pid).await.unwrap().expect("the first demo student holds a card");
    assert_eq!(app.engine.card_balance(&card.card_no).await.unwrap().get(), 100_000);

    // Tuition does not accept the card; the dorm fee does.
    let order = order_for(&c, &base, &app.store, &["学费"]).await;
    let page = c.get(format!("{base}{order}")).send().await.unwrap().text().await.unwrap();
    assert!(!page.contains("campus_card"), "tuition is not paid by card");
    let r =
        choose(&c, &base, &order, "x", &[("method", "campus_card"), ("card_password", bursar::demo::CARD_PASSWORD)])
            .await;
    assert_eq!(r.status(), 422);

    // More than the balance: refused, nothing recorded.
    let order = order_for(&c, &base, &app.store, &["职业技能培训费"]).await;
    let r =
        choose(&c, &base, &order, "x", &[("method", "campus_card"), ("card_password", bursar::demo::CARD_PASSWORD)])
            .await;
    assert_eq!(r.status(), 422);
    let text = r.text().await.unwrap();
    assert!(text.contains("余额不足"), "{}", between(&text, "role=\"alert\">", "<").unwrap_or("no alert"));

    // A wrong password is counted and changes nothing; the right one pays at once.
    let order = order_for(&c, &base, &app.store, &["教材费"]).await;
    let r = choose(&c, &base, &order, "x", &[("method", "campus_card"), ("card_password", "000000")]).await;
    assert_eq!(r.status(), 422);
    assert!(r.text().await.unwrap().contains("密码错误"));
    {
        let mut s = app.store.read().await.unwrap();
        let order_id = order.rsplit('/').next().unwrap();
        assert!(pay_store::payments_of_order(&mut s, order_id).await.unwrap().is_empty());
    }
    let textbook = receivable(&app.store, "教材费").await;
    let due = textbook.outstanding().get();
    let r =
        choose(&c, &base, &order, "x", &[("method", "campus_card"), ("card_password", bursar::demo::CARD_PASSWORD)])
            .await;
    assert_eq!(r.status(), 303);
    let payment = location(&r);
    let page = c.get(format!("{base}{payment}")).send().await.unwrap().text().await.unwrap();
    assert!(page.contains("支付成功"));
    assert_eq!(app.engine.card_balance(&card.card_no).await.unwrap().get(), 100_000 - due);
    assert_eq!(receivable(&app.store, "教材费").await.outstanding().get(), 0);

    // Five wrong passwords lock the card.
    let order = order_for(&c, &base, &app.store, &["住宿费"]).await;
    for _ in 0..5 {
        let r = choose(&c, &base, &order, "x", &[("method", "campus_card"), ("card_password", "111111")]).await;
        assert_eq!(r.status(), 422);
    }
    let r =
        choose(&c, &base, &order, "x", &[("method", "campus_card"), ("card_password", bursar::demo::CARD_PASSWORD)])
            .await;
    assert_eq!(r.status(), 422);
    assert!(r.text().await.unwrap().contains("锁定"));
    assert_verified(&app.store).await;
    app.stop().await;
});

both_stores!(items_collected_into_different_accounts_are_paid_separately, |env: TestEnv| async move {
    let app = env.start_demo().await;
    let base = app.base_url.clone();
    let c = login_student(&base).await;
    // Tuition goes to one Alipay app, textbooks to the other: Alipay is not offered for both.
    let order = order_for(&c, &base, &app.store, &["学费", "教材费"]).await;
    let page = c.get(format!("{base}{order}")).send().await.unwrap().text().await.unwrap();
    assert!(page.contains("value=\"wechat_native\""), "one WeChat merchant takes both");
    assert!(!page.contains("value=\"alipay_qr\""), "two Alipay apps: not offered");
    let r = choose(&c, &base, &order, "x", &[("method", "alipay_qr")]).await;
    assert_eq!(r.status(), 422);
    assert!(r.text().await.unwrap().contains("分开支付"));
    let mut s = app.store.read().await.unwrap();
    assert!(pay_store::payments_of_order(&mut s, order.rsplit('/').next().unwrap()).await.unwrap().is_empty());
    drop(s);
    app.stop().await;
});

both_stores!(unionpay_gateway_through_the_portal, |env: TestEnv| async move {
    let app = env.start_demo().await;
    let base = app.base_url.clone();
    let sim = app.sim_base_url.clone().unwrap();
    let c = login_student(&base).await;
    let browser = no_redirects();
    let order = order_for(&c, &base, &app.store, &["住宿费"]).await;
    let page = c.get(format!("{base}{order}")).send().await.unwrap().text().await.unwrap();
    assert!(page.contains("value=\"unionpay_pc\""), "the dorm fee accepts online banking");
    let resp = choose(&c, &base, &order, "Mozilla/5.0 (X11; Linux x86_64)", &[("method", "unionpay_pc")]).await;
    let payment = location(&resp);
    let page = c.get(format!("{base}{payment}")).send().await.unwrap().text().await.unwrap();
    let (action, fields) = form_fields(&page, "pay-form");
    assert_eq!(action, format!("{sim}/gateway/api/frontTransReq.do"));
    assert!(fields.iter().any(|(k, v)| k == "channelType" && v == "07"));
    let cashier = browser.post(&action).form(&fields).send().await.unwrap().text().await.unwrap();
    let token = between(&cashier, "name=\"token\" value=\"", "\"").unwrap().to_string();
    let ret = browser
        .post(format!("{sim}/unionpay/pay"))
        .form(&[("token", token.as_str()), ("action", "confirm")])
        .send()
        .await
        .unwrap();
    let html = ret.text().await.unwrap();
    let (front, front_fields) = form_fields(&html, "front-return");
    assert_eq!(front, format!("{base}{payment}"));
    // The gateway's front return is a cross-site POST without the session: answered by a redirect.
    let r = browser.post(&front).form(&front_fields).send().await.unwrap();
    assert_eq!(r.status(), 303);
    wait_succeeded(&app.store, &payment).await;
    assert_verified(&app.store).await;
    app.stop().await;
});

both_stores!(alipay_and_unionpay_payments_refund_through_the_engine, |env: TestEnv| async move {
    let app = env.start_demo().await;
    let clerk = operator(&app.engine, bursar::demo::CLERK_USER).await;
    let approver = operator(&app.engine, bursar::demo::APPROVER_USER).await;
    let (_, payer) = first_student(&app.store).await;
    for (item, method) in [
        ("住宿费", bursar_domain::payment::PayMethod::AlipayQr),
        ("学费", bursar_domain::payment::PayMethod::UnionpayPc),
    ] {
        let r = receivable(&app.store, item).await;
        let order = app.engine.create_order(&payer, &[(r.id.clone(), r.outstanding())]).await.unwrap();
        let p = app.engine.start_payment(&payer, &order, method, &bursar_engine::PayContext::default()).await.unwrap();
        match method {
            bursar_domain::payment::PayMethod::AlipayQr => {
                app.alipay_sim.as_ref().unwrap().confirm(&p.merchant_id, &p.merchant_order_no, true).unwrap()
            }
            _ => {
                // The payer posts the signed form to the gateway and pays at its cashier.
                let Some(bursar_channels::PayAction::Form { action, fields }) = bursar_engine::pay_action_of(&p) else {
                    panic!("a form")
                };
                let page =
                    reqwest::Client::new().post(&action).form(&fields).send().await.unwrap().text().await.unwrap();
                assert!(page.contains("确认付款"));
                app.unionpay_sim.as_ref().unwrap().confirm(&p.merchant_order_no, true).unwrap();
            }
        }
        wait_succeeded(&app.store, &format!("/x/{}", p.id)).await;
        let refund = app
            .engine
            .request_refund(
                &clerk,
                &p.id,
                bursar_domain::Fen(10_000),
                bursar_domain::refund::RefundKind::PaidInError,
                "多缴",
            )
            .await
            .unwrap();
        app.engine.decide_refund(&approver, &refund, true, "同意").await.unwrap();
        eventually("the channel pays the refund out", Duration::from_secs(20), || {
            let (store, id) = (app.store.clone(), p.id.clone());
            async move {
                let mut c = store.read().await.unwrap();
                bursar_store::refunds::of_payment(&mut c, &id)
                    .await
                    .unwrap()
                    .iter()
                    .any(|r| r.state == RefundState::Succeeded)
            }
        })
        .await;
    }
    assert_verified(&app.store).await;
    app.stop().await;
});

both_stores!(an_unfinished_business_order_is_reused_with_all_its_payments, |env: TestEnv| async move {
    let app = env.start_demo().await;
    let base = app.base_url.clone();
    let c = login_student(&base).await;
    let first = order_for(&c, &base, &app.store, &["住宿费"]).await;
    // Start paying, give up, choose the same item again: the same order, with its attempt.
    let r = choose(&c, &base, &first, "x", &[("method", "wechat_native")]).await;
    assert_eq!(r.status(), 303);
    let again = order_for(&c, &base, &app.store, &["住宿费"]).await;
    assert_eq!(again, first, "the unfinished order is reused");
    let page = c.get(format!("{base}{again}")).send().await.unwrap().text().await.unwrap();
    assert!(page.contains("该订单的支付记录") && page.contains("微信支付"), "its detail shows the earlier attempt");
    // Different items make a different order.
    let other = order_for(&c, &base, &app.store, &["住宿费", "教材费"]).await;
    assert_ne!(other, first);
    app.stop().await;
});
