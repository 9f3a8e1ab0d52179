//! Logins: a generic error for any wrong input, a captcha (never a lock) after repeated
//! failures, sessions required on every portal and finance route.

use crate::both_stores;
use crate::support::*;

async fn try_login(c: &reqwest::Client, base: &str, user: &str, password: &str) -> (u16, String) {
    let page = c.get(format!("{base}/portal/login")).send().await.unwrap().text().await.unwrap();
    let resp = c
        .post(format!("{base}/portal/login"))
        .form(&[("identifier", user), ("password", password), ("csrf", csrf_of(&page).as_str())])
        .send()
        .await
        .unwrap();
    let status = resp.status().as_u16();
    (status, resp.text().await.unwrap())
}

both_stores!(wrong_passwords_are_generic_and_ask_for_a_captcha, |env: TestEnv| async move {
    let app = env.start_demo().await;
    let base = app.base_url.clone();
    let (user, password) = bursar::demo::first_student_login();
    let c = client();

    // Unknown user and wrong password read the same.
    let (s1, unknown) = try_login(&c, &base, "9999999999", "whatever").await;
    let (s2, wrong) = try_login(&c, &base, &user, "000000").await;
    assert_eq!((s1, s2), (401, 401));
    assert!(unknown.contains("用户名或密码错误") && wrong.contains("用户名或密码错误"));

    for _ in 0..4 {
        try_login(&c, &base, &user, "000000").await;
    }
    let (s, page) = try_login(&c, &base, &user, &password).await;
    assert_eq!(s, 401, "the right password alone is not enough after failures");
    assert!(page.contains("验证码") && !page.contains("锁定"), "asks for a captcha; never locks");

    // Another account is unaffected.
    let c2 = client();
    let page = c2.get(format!("{base}/portal/login")).send().await.unwrap().text().await.unwrap();
    let resp = c2
        .post(format!("{base}/portal/login"))
        .form(&[("identifier", "2023010001x"), ("password", "x"), ("csrf", csrf_of(&page).as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 401);
    app.stop().await;
});

both_stores!(routes_need_the_right_session_and_forms_need_csrf, |env: TestEnv| async move {
    let app = env.start_demo().await;
    let base = app.base_url.clone();
    let anon = client();
    for path in ["/portal/fees", "/portal/pay", "/portal/records", "/portal/payments/x", "/portal/orders/x"] {
        let r = anon.get(format!("{base}{path}")).send().await.unwrap();
        assert_eq!(r.status(), 303, "{path}");
        // Back to the page after logging in (the fees page is where a login lands anyway).
        let want =
            if path == "/portal/fees" { "/portal/login".to_string() } else { format!("/portal/login?next={path}") };
        assert_eq!(location(&r), want, "{path}");
    }
    for path in ["/admin", "/admin/payments"] {
        let r = anon.get(format!("{base}{path}")).send().await.unwrap();
        assert_eq!(location(&r), "/admin/login", "{path}");
    }
    // A login form posted without its CSRF cookie/token is refused.
    let r = anon
        .post(format!("{base}/portal/login"))
        .form(&[("identifier", "a"), ("password", "b"), ("csrf", "forged")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    // Security headers are on every response.
    let r = anon.get(format!("{base}/portal/login")).send().await.unwrap();
    assert!(r.headers().get("content-security-policy").is_some());
    assert_eq!(r.headers().get("x-frame-options").unwrap(), "DENY");
    let cookie = r.headers().get("set-cookie").unwrap().to_str().unwrap().to_string();
    assert!(cookie.contains("HttpOnly") && cookie.contains("SameSite=Lax"));

    // Logout ends the session.
    let c = login_student(&base).await;
    let fees = c.get(format!("{base}/portal/fees")).send().await.unwrap().text().await.unwrap();
    let r = c.post(format!("{base}/portal/logout")).form(&[("csrf", csrf_of(&fees).as_str())]).send().await.unwrap();
    assert_eq!(location(&r), "/portal/login");
    let r = c.get(format!("{base}/portal/fees")).send().await.unwrap();
    assert_eq!(location(&r), "/portal/login");
    let health = anon.get(format!("{base}/healthz")).send().await.unwrap();
    assert_eq!(health.status(), 200);
    app.stop().await;
});

both_stores!(a_login_ends_the_browsers_previous_session, |env: TestEnv| async move {
    let app = env.start_demo().await;
    let base = app.base_url.clone();
    let raw = client_without_cookies();
    let session_of = |r: &reqwest::Response| -> String {
        r.headers()
            .get_all("set-cookie")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .find_map(|v| {
                v.strip_prefix("bursar_session=").map(|rest| rest.split(';').next().unwrap_or("").to_string())
            })
            .expect("a session cookie")
    };
    let login = |cookie: String| {
        let (raw, base) = (raw.clone(), base.clone());
        async move {
            let page = raw.get(format!("{base}/portal/login")).send().await.unwrap();
            let csrf_cookie = page
                .headers()
                .get_all("set-cookie")
                .iter()
                .filter_map(|v| v.to_str().ok())
                .find_map(|v| {
                    v.strip_prefix("bursar_login_csrf=").map(|r| r.split(';').next().unwrap_or("").to_string())
                })
                .unwrap();
            let csrf = csrf_of(&page.text().await.unwrap());
            let (user, password) = bursar::demo::first_student_login();
            raw.post(format!("{base}/portal/login"))
                .header("cookie", format!("bursar_login_csrf={csrf_cookie}; bursar_session={cookie}"))
                .form(&[("csrf", csrf.as_str()), ("identifier", user.as_str()), ("password", password.as_str())])
                .send()
                .await
                .unwrap()
        }
    };
    let first = session_of(&login("none".into()).await);
    let second = session_of(&login(first.clone()).await);
    assert_ne!(first, second);
    let with = |token: String| {
        let (raw, base) = (raw.clone(), base.clone());
        async move {
            raw.get(format!("{base}/portal/fees"))
                .header("cookie", format!("bursar_session={token}"))
                .send()
                .await
                .unwrap()
        }
    };
    assert_eq!(with(second).await.status(), 200, "the new session works");
    assert_eq!(location(&with(first).await), "/portal/login", "the previous one ended");
});

fn client_without_cookies() -> reqwest::Client {
    reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap()
}
