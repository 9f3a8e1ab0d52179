//! 系统设置 › 登录、密码与支付时限 over HTTP, on both stores: a number out of its bounds is
//! refused and changes nothing; set, the shortest operator password, the password's age, the
//! login's length (the cookie's age) and the payment's time at the channel all follow; every
//! change is logged with before and after.

use crate::both_stores;
use crate::support::*;

async fn save(c: &reqwest::Client, base: &str, csrf: &str, form: &[(&str, &str)]) -> reqwest::Response {
    let mut f = vec![("csrf", csrf)];
    f.extend_from_slice(form);
    c.post(format!("{base}/admin/settings")).form(&f).send().await.unwrap()
}

both_stores!(the_school_sets_its_login_password_and_payment_times, |env: TestEnv| async move {
    let app = env.start_demo().await;
    let base = app.base_url.clone();
    let pw = bursar::demo::FINANCE_PASSWORD;
    let admin = login_operator(&base, bursar::demo::SYSADMIN_USER, pw).await;
    let page = admin.get(format!("{base}/admin/settings")).send().await.unwrap().text().await.unwrap();
    assert!(
        page.contains("name=\"policy.payment_minutes\"") && page.contains("value=\"15\""),
        "the configured 15 minutes"
    );
    let csrf = csrf_of(&page);

    // Out of bounds, or not a number: refused, nothing changed.
    let r = save(&admin, &base, &csrf, &[("policy.payment_minutes", "200"), ("policy.session_minutes", "30")]).await;
    assert_eq!(r.status(), 422);
    assert!(r.text().await.unwrap().contains("订单支付有效期（分钟）须为 5–120 之间的整数"));
    assert_eq!(save(&admin, &base, &csrf, &[("policy.session_minutes", "半小时")]).await.status(), 422);
    assert_eq!(scalar(&app.store, "SELECT COUNT(*) FROM operation_log WHERE action = 'settings.policy'", &[]).await, 0);

    let form = [
        ("policy.operator_password_min", "12"),
        ("policy.operator_password_days", "30"),
        ("policy.session_minutes", "30"),
        ("policy.payment_minutes", "10"),
    ];
    assert_eq!(save(&admin, &base, &csrf, &form).await.status(), 303);
    assert_eq!(scalar(&app.store, "SELECT COUNT(*) FROM operation_log WHERE action = 'settings.policy'", &[]).await, 4);
    assert_eq!(save(&admin, &base, &csrf, &form).await.status(), 303, "saved again as it is");
    assert_eq!(scalar(&app.store, "SELECT COUNT(*) FROM operation_log WHERE action = 'settings.policy'", &[]).await, 4);

    // A login lasts 30 minutes.
    let c = client();
    let login = c.get(format!("{base}/admin/login")).send().await.unwrap().text().await.unwrap();
    let r = c
        .post(format!("{base}/admin/login"))
        .form(&[("username", bursar::demo::CLERK_USER), ("password", pw), ("csrf", csrf_of(&login).as_str())])
        .send()
        .await
        .unwrap();
    let cookie = r.headers().get_all("set-cookie").iter().map(|v| v.to_str().unwrap().to_string()).collect::<Vec<_>>();
    assert!(cookie.iter().any(|v| v.starts_with("bursar_session=") && v.contains("Max-Age=1800")), "{cookie:?}");

    // Passwords: twelve characters now, and older than 30 days must be changed first.
    let account = c.get(format!("{base}/admin/account")).send().await.unwrap().text().await.unwrap();
    assert!(account.contains("至少 12 位"));
    let change = |new: &'static str| {
        let (c, base, csrf) = (c.clone(), base.clone(), csrf_of(&account));
        async move {
            c.post(format!("{base}/admin/account"))
                .form(&[
                    ("csrf", csrf.as_str()),
                    ("current_password", pw),
                    ("new_password", new),
                    ("new_password_again", new),
                ])
                .send()
                .await
                .unwrap()
        }
    };
    assert_eq!(change("Clerk@20271").await.status(), 422, "eleven characters");
    let clerk_id = operator(&app.engine, bursar::demo::CLERK_USER).await.actor().1;
    let old = app.store.now_ms() - 31 * 86_400_000;
    let mut c2 = app.store.read().await.unwrap();
    sqlx::query("UPDATE operators SET password_changed_at_ms = $1 WHERE id = $2")
        .bind(old)
        .bind(&clerk_id)
        .execute(bursar_store::Conn::raw(&mut c2))
        .await
        .unwrap();
    drop(c2);
    let r = c.get(format!("{base}/admin/payments")).send().await.unwrap();
    assert_eq!(location(&r), "/admin/account", "a password older than 30 days is changed first");
    let account = c.get(format!("{base}/admin/account")).send().await.unwrap().text().await.unwrap();
    assert!(account.contains("password-expired"));
    let r = change("Clerk@2027abc").await;
    assert_eq!(r.status(), 303);
    assert_eq!(c.get(format!("{base}/admin/payments")).send().await.unwrap().status(), 200, "changed: on to work");

    // A payment stays open 10 minutes at the channel.
    let (_, payer) = first_student(&app.store).await;
    let r = crate::channels_portal::receivable(&app.store, "住宿费").await;
    let order = app.engine.create_order(&payer, &[(r.id.clone(), r.outstanding())]).await.unwrap();
    let method = bursar_domain::payment::PayMethod::WechatNative;
    let p = app.engine.start_payment(&payer, &order, method, &bursar_engine::PayContext::default()).await.unwrap();
    let open_ms = scalar(
        &app.store,
        "SELECT expires_at_ms - created_at_ms FROM payments WHERE merchant_order_no = $1",
        &[&p.merchant_order_no],
    )
    .await;
    assert!((599_000..=600_000).contains(&open_ms), "open {open_ms} ms");
    assert_verified(&app.store).await;
});
