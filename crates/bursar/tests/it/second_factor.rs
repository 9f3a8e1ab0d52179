//! The second factor (动态口令) over HTTP, on both stores: with the policy on, an approver sets
//! it up before anything else; a login then waits for a code, each code is good once, five
//! wrong codes end the login; a system administrator resets a lost phone (with a reason, never
//! their own); relaxing the policy needs a reason; every step is in the operation log.

use bursar_engine::access::second_factor::{code_at, step_of};

use crate::both_stores;
use crate::support::*;

fn base32_decode(s: &str) -> Vec<u8> {
    const ALPHABET: &str = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    let (mut out, mut buffer, mut bits) = (Vec::new(), 0u32, 0u32);
    for ch in s.chars().filter(|c| !c.is_whitespace()) {
        let v = ALPHABET.find(ch).expect("base32") as u32;
        buffer = (buffer << 5) | v;
        bits += 5;
        if bits >= 8 {
            bits -= 8;
            out.push((buffer >> bits) as u8);
        }
    }
    out
}

fn now_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as i64
}

async fn post(c: &reqwest::Client, url: String, form: &[(&str, &str)]) -> reqwest::Response {
    c.post(url).form(form).send().await.unwrap()
}

/// Password step of a login: the client and where it was sent.
async fn password_step(base: &str, user: &str) -> (reqwest::Client, u16, String) {
    try_login_operator(base, user, bursar::demo::FINANCE_PASSWORD).await
}

async fn send_code(c: &reqwest::Client, base: &str, code: &str) -> (u16, String, String) {
    let page = c.get(format!("{base}/admin/login/code")).send().await.unwrap().text().await.unwrap();
    let r = post(c, format!("{base}/admin/login/code"), &[("code", code), ("csrf", csrf_of(&page).as_str())]).await;
    let (status, to) = (r.status().as_u16(), location(&r));
    (status, to, r.text().await.unwrap())
}

both_stores!(money_roles_log_in_with_a_second_factor, |env: TestEnv| async move {
    let app = env.start_demo().await;
    let base = app.base_url.clone();
    let admin = login_operator(&base, bursar::demo::SYSADMIN_USER, bursar::demo::FINANCE_PASSWORD).await;

    // The policy: relaxing needs a reason; the demo school relaxed it, the administrator turns it on.
    let settings = admin.get(format!("{base}/admin/settings")).send().await.unwrap().text().await.unwrap();
    assert!(settings.contains("second-factor-relaxed"), "the demo shows the requirement relaxed");
    let csrf = csrf_of(&settings);
    let r = post(&admin, format!("{base}/admin/settings"), &[("csrf", &csrf), ("second_factor", "0")]).await;
    assert_eq!(r.status(), 303, "saving the page as it is needs no reason");
    let r = post(&admin, format!("{base}/admin/settings"), &[("csrf", &csrf), ("second_factor", "1")]).await;
    assert_eq!(r.status(), 303);
    let r = post(&admin, format!("{base}/admin/settings"), &[("csrf", &csrf), ("second_factor", "0")]).await;
    assert_eq!(r.status(), 422, "relaxing it again needs a reason");
    assert!(r.text().await.unwrap().contains("须填写修改原因"));

    // An approver logs in with the password and must set it up before anything else.
    let (approver, status, _) = password_step(&base, bursar::demo::APPROVER_USER).await;
    assert_eq!(status, 303);
    let r = approver.get(format!("{base}/admin/refunds")).send().await.unwrap();
    assert_eq!(location(&r), "/admin/account/second-factor");
    let page = approver.get(format!("{base}/admin/account/second-factor")).send().await.unwrap().text().await.unwrap();
    assert!(page.contains("须先开启动态口令"));
    let csrf = csrf_of(&page);
    let url = format!("{base}/admin/account/second-factor");
    let r = post(&approver, url.clone(), &[("csrf", &csrf), ("action", "begin"), ("password", "wrong")]).await;
    assert_eq!(r.status(), 422, "setting it up needs the current password");
    let begin = [("csrf", csrf.as_str()), ("action", "begin"), ("password", bursar::demo::FINANCE_PASSWORD)];
    let page = post(&approver, url.clone(), &begin).await.text().await.unwrap();
    let shown = between(&page, "<code id=\"second-factor-secret\">", "</code>").expect("the secret is shown");
    let secret = base32_decode(shown);
    assert_eq!(secret.len(), 20, "a 160-bit secret, as RFC 4226 recommends");
    assert!(page.contains("<svg"), "a QR code to scan");
    let step = step_of(now_ms());
    let wrong = (0..1_000_000)
        .map(|n| format!("{n:06}"))
        .find(|c| (step - 1..=step + 2).all(|s| code_at(&secret, s) != *c))
        .unwrap();
    let r = post(&approver, url.clone(), &[("csrf", &csrf), ("action", "confirm"), ("code", &wrong)]).await;
    assert_eq!(r.status(), 422, "a wrong code turns nothing on");
    let first = code_at(&secret, step);
    let r = post(&approver, url.clone(), &[("csrf", &csrf), ("action", "confirm"), ("code", &first)]).await;
    assert_eq!(r.status(), 303, "confirmed: on to the work");
    assert_eq!(approver.get(format!("{base}/admin/refunds")).send().await.unwrap().status(), 200);
    let r = post(&approver, url.clone(), &[("csrf", &csrf), ("action", "off"), ("code", &first)]).await;
    assert_eq!(r.status(), 422, "an approver cannot turn it off");
    let r = post(&approver, url.clone(), &begin).await;
    assert_eq!(r.status(), 422, "nor replace it from a session");

    // The next login waits for a code; the code already used is refused, the next one works.
    let (c, status, to) = password_step(&base, bursar::demo::APPROVER_USER).await;
    assert_eq!((status, to.as_str()), (303, "/admin/login/code"));
    assert_eq!(
        location(&c.get(format!("{base}/admin/refunds")).send().await.unwrap()),
        "/admin/login",
        "no session yet"
    );
    let (status, _, body) = send_code(&c, &base, &first).await;
    assert_eq!(status, 401, "a code is good once");
    assert!(body.contains("已用过"));
    let next = code_at(&secret, step_of(now_ms()).max(step) + 1);
    let (status, to, _) = send_code(&c, &base, &next).await;
    assert_eq!(status, 303, "the next code logs in");
    assert_ne!(to, "/admin/login");
    assert_eq!(c.get(format!("{base}/admin/refunds")).send().await.unwrap().status(), 200);

    // A lost phone: the administrator resets it with a reason; the approver's sessions end and
    // they set it up again.
    let approver_id = operator(&app.engine, bursar::demo::APPROVER_USER).await.actor().1;
    let detail = admin.get(format!("{base}/admin/operators/{approver_id}")).send().await.unwrap().text().await.unwrap();
    assert!(detail.contains("已开启"));
    let csrf = csrf_of(&detail);
    let reset = format!("{base}/admin/operators/{approver_id}/second-factor");
    assert_eq!(
        post(&admin, reset.clone(), &[("csrf", &csrf), ("reason", "")]).await.status(),
        422,
        "a reason is needed"
    );
    let r = post(&admin, reset.clone(), &[("csrf", &csrf), ("reason", "手机丢失，本人到场核实")]).await;
    assert_eq!(r.status(), 200);
    assert!(r.text().await.unwrap().contains("未开启（角色涉及资金"));
    assert_eq!(location(&c.get(format!("{base}/admin/refunds")).send().await.unwrap()), "/admin/login");
    let (again, status, to) = password_step(&base, bursar::demo::APPROVER_USER).await;
    assert_eq!(status, 303);
    assert_ne!(to, "/admin/login/code", "no code asked: there is none");
    assert_eq!(
        location(&again.get(format!("{base}/admin/refunds")).send().await.unwrap()),
        "/admin/account/second-factor"
    );
    // Set up again on the new phone.
    let page = again.get(format!("{base}/admin/account/second-factor")).send().await.unwrap().text().await.unwrap();
    let csrf2 = csrf_of(&page);
    let begin2 = [("csrf", csrf2.as_str()), ("action", "begin"), ("password", bursar::demo::FINANCE_PASSWORD)];
    let page = post(&again, url.clone(), &begin2).await.text().await.unwrap();
    let secret = base32_decode(between(&page, "<code id=\"second-factor-secret\">", "</code>").unwrap());
    let code = code_at(&secret, step_of(now_ms()));
    let r = post(&again, url.clone(), &[("csrf", &csrf2), ("action", "confirm"), ("code", &code)]).await;
    assert_eq!(r.status(), 303);
    let step = step_of(now_ms());
    let wrong = (0..1_000_000)
        .map(|n| format!("{n:06}"))
        .find(|c| (step - 1..=step + 2).all(|s| code_at(&secret, s) != *c))
        .unwrap();

    // Five wrong codes end the login: the password again.
    let (c, status, to) = password_step(&base, bursar::demo::APPROVER_USER).await;
    assert_eq!((status, to.as_str()), (303, "/admin/login/code"));
    for n in 1..=5 {
        let (status, _, body) = send_code(&c, &base, &wrong).await;
        assert_eq!(status, 401);
        if n < 5 {
            assert!(body.contains(&format!("还可再试 {} 次", 5 - n)), "try {n}");
        } else {
            assert!(body.contains("错误次数过多"));
        }
    }
    assert_eq!(location(&c.get(format!("{base}/admin/login/code")).send().await.unwrap()), "/admin/login");
    assert_eq!(scalar(&app.store, "SELECT COUNT(*) FROM login_challenges", &[]).await, 0, "nothing left waiting");

    // The wrong codes count against the account: its next password login needs a captcha.
    let (_, status, _) = password_step(&base, bursar::demo::APPROVER_USER).await;
    assert_eq!(status, 401, "after wrong codes the password alone is not enough");

    let admin_id = operator(&app.engine, bursar::demo::SYSADMIN_USER).await.actor().1;
    let own = format!("{base}/admin/operators/{admin_id}/second-factor");
    assert_eq!(post(&admin, own, &[("csrf", &csrf), ("reason", "试")]).await.status(), 422, "never their own");

    // Codes sent all at once for one login take no more than its five tries.
    let (chief, _, _) = password_step(&base, bursar::demo::CHIEF_CASHIER_USER).await;
    let page = chief.get(format!("{base}/admin/account/second-factor")).send().await.unwrap().text().await.unwrap();
    let csrf3 = csrf_of(&page);
    let begin3 = [("csrf", csrf3.as_str()), ("action", "begin"), ("password", bursar::demo::FINANCE_PASSWORD)];
    let page = post(&chief, url.clone(), &begin3).await.text().await.unwrap();
    let secret3 = base32_decode(between(&page, "<code id=\"second-factor-secret\">", "</code>").unwrap());
    let code3 = code_at(&secret3, step_of(now_ms()));
    assert_eq!(
        post(&chief, url.clone(), &[("csrf", &csrf3), ("action", "confirm"), ("code", &code3)]).await.status(),
        303
    );
    let step = step_of(now_ms());
    let wrong3 = (0..1_000_000)
        .map(|n| format!("{n:06}"))
        .find(|c| (step - 1..=step + 2).all(|s| code_at(&secret3, s) != *c))
        .unwrap();
    let (c3, status, to) = password_step(&base, bursar::demo::CHIEF_CASHIER_USER).await;
    assert_eq!((status, to.as_str()), (303, "/admin/login/code"));
    let page = c3.get(format!("{base}/admin/login/code")).send().await.unwrap().text().await.unwrap();
    let csrf_code = csrf_of(&page);
    let tries = (0..8).map(|_| {
        let (c3, base, wrong3, csrf_code) = (c3.clone(), base.clone(), wrong3.clone(), csrf_code.clone());
        tokio::spawn(async move {
            post(&c3, format!("{base}/admin/login/code"), &[("code", wrong3.as_str()), ("csrf", csrf_code.as_str())])
                .await
                .status()
        })
    });
    for t in tries.collect::<Vec<_>>() {
        assert_eq!(t.await.unwrap(), 401);
    }
    let chief_id = operator(&app.engine, bursar::demo::CHIEF_CASHIER_USER).await.actor().1;
    let failed = scalar(
        &app.store,
        "SELECT COUNT(*) FROM operation_log WHERE action = 'session.second_factor_failed' AND entity_id = $1",
        &[&chief_id],
    )
    .await;
    assert_eq!(failed, 5, "eight codes at once, five tries taken and logged");

    // Every step is in the operation log.
    // (the demo seed relaxed the policy, the administrator turned it on; set up twice; one reset)
    for (action, n) in [
        ("settings.second_factor", 2),
        ("operator.second_factor_setup", 3),
        ("operator.second_factor_on", 3),
        ("operator.second_factor_reset", 1),
    ] {
        assert_eq!(
            scalar(&app.store, "SELECT COUNT(*) FROM operation_log WHERE action = $1", &[action]).await,
            n,
            "{action}"
        );
    }
    assert_verified(&app.store).await;
});
