//! Hostile logins: guessing one account never locks its owner out (a captcha is asked for
//! instead, a solved one is spent, and a script solving them is paced from its network only);
//! a network that fails a lot is asked for a captcha, never turned away (a NAT hides many
//! people), and refusals that checked nothing count for nothing; unknown names leave no rows;
//! spraying a fixed initial password is slowed per network, and an account so entered cannot
//! be taken (its first password change needs the whole ID number).

use crate::both_stores;
use crate::support::*;

/// A login from `source` (told through `X-Forwarded-For`, which Bursar believes from its
/// loopback proxy), optionally with a captcha answer.
async fn login_from(
    c: &reqwest::Client,
    base: &str,
    source: &str,
    user: &str,
    password: &str,
    captcha: Option<&str>,
) -> (u16, String, String) {
    let page = c
        .get(format!("{base}/portal/login"))
        .header("x-forwarded-for", source)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let csrf = csrf_of(&page);
    let mut form = vec![("identifier", user.to_string()), ("password", password.to_string()), ("csrf", csrf.clone())];
    if let Some(token) = captcha {
        form.push(("captcha_token", token.to_string()));
        form.push(("captcha", "AB2C".to_string()));
    }
    let r = c.post(format!("{base}/portal/login")).header("x-forwarded-for", source).form(&form).send().await.unwrap();
    let status = r.status().as_u16();
    let to = location(&r);
    (status, to, r.text().await.unwrap_or_default())
}

/// A solved captcha for the browser `c` (tests hold the server's key, as an operator would).
async fn solved_captcha(c: &reqwest::Client, base: &str, dir: &std::path::Path, now_s: i64) -> String {
    // The login CSRF cookie binds the captcha to this browser: read it from a page.
    let page = c.get(format!("{base}/portal/login")).send().await.unwrap().text().await.unwrap();
    let binding = csrf_of(&page);
    let key = bursar::app::read_id_digest_key(dir).unwrap();
    bursar_web::captcha::token_for(&key, "AB2C", now_s, &binding)
}

both_stores!(guessing_never_locks_the_owner_out_and_a_solved_captcha_is_spent, |env: TestEnv| async move {
    let app = env.start_demo().await;
    let base = app.base_url.clone();
    let (user, password) = bursar::demo::first_student_login();
    let attacker = client();
    for _ in 0..8 {
        let (s, _, page) = login_from(&attacker, &base, "198.51.100.7", &user, "000000", None).await;
        assert_eq!(s, 401);
        assert!(!page.contains("锁定"), "never a lock");
    }
    // The owner, from their own network: asked for a captcha (the account saw failures), and
    // in with it.
    let owner = client();
    let (s, _, page) = login_from(&owner, &base, "203.0.113.20", &user, &password, None).await;
    assert_eq!(s, 401);
    assert!(page.contains("验证码") && page.contains("<path"), "a captcha drawn as paths");
    assert!(!page.contains("<text"), "no text node spells the code");
    let now_s = app.store.now_ms() / 1000;
    // A solved captcha with a wrong password: spent, so it does not help the right one after.
    let token = solved_captcha(&owner, &base, &env.dir, now_s).await;
    let (s, _, _) = login_from(&owner, &base, "203.0.113.20", &user, "wrong-again", Some(&token)).await;
    assert_eq!(s, 401);
    let (s, _, page) = login_from(&owner, &base, "203.0.113.20", &user, &password, Some(&token)).await;
    assert_eq!(s, 401, "a captcha token is used once");
    assert!(page.contains("验证码"));
    // A captcha solved for one browser does not work in another.
    let stolen = solved_captcha(&owner, &base, &env.dir, now_s).await;
    let (s, _, _) = login_from(&client(), &base, "203.0.113.21", &user, &password, Some(&stolen)).await;
    assert_eq!(s, 401, "bound to the browser it was shown in");
    // The owner, with a fresh one: in.
    let token = solved_captcha(&owner, &base, &env.dir, now_s).await;
    let (s, to, _) = login_from(&owner, &base, "203.0.113.20", &user, &password, Some(&token)).await;
    assert_eq!((s, to.as_str()), (303, "/portal/fees"), "the owner logs in");
    app.stop().await;
});

both_stores!(a_failing_network_is_asked_for_a_captcha_and_unknown_names_leave_no_rows, |env: TestEnv| async move {
    let app = env.start_demo().await;
    let base = app.base_url.clone();
    let rows_before = scalar(&app.store, "SELECT COUNT(*) FROM login_throttle", &[]).await;
    let c = client();
    // Ten unknown names from one network: no captcha yet, no row for any of them.
    for n in 0..10 {
        let (s, _, page) = login_from(&c, &base, "198.51.100.9", &format!("99990{n:05}"), "x", None).await;
        assert_eq!(s, 401);
        assert!(page.contains("用户名或密码错误"));
    }
    assert_eq!(
        scalar(&app.store, "SELECT COUNT(*) FROM login_throttle", &[]).await,
        rows_before,
        "no row per unknown name"
    );
    // Now that network is asked for a captcha at once, even for a real account with its password.
    let (user, password) = bursar::demo::first_student_login();
    let (s, _, page) = login_from(&c, &base, "198.51.100.9", &user, &password, None).await;
    assert_eq!(s, 401);
    assert!(page.contains("验证码"));
    let page = client()
        .get(format!("{base}/portal/login"))
        .header("x-forwarded-for", "198.51.100.9")
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains("name=\"captcha_token\""), "the login page shows the captcha at once");
    // Another network logs in as usual.
    let (s, to, _) = login_from(&client(), &base, "203.0.113.30", &user, &password, None).await;
    assert_eq!((s, to.as_str()), (303, "/portal/fees"));
    // Captcha-less refusals cost nothing and count for nothing: 300 more from another network
    // behind the same NAT do not raise the bar for the people there.
    for _ in 0..300 {
        login_from(&c, &base, "198.51.100.10", &user, "x", None).await;
    }
    let page = client()
        .get(format!("{base}/portal/login"))
        .header("x-forwarded-for", "198.51.100.10")
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(!page.contains("name=\"captcha_token\""), "that network is not asked for a captcha");
    app.stop().await;
});

both_stores!(one_account_guessed_from_one_network_with_solved_captchas_is_paced, |env: TestEnv| async move {
    let app = env.start_demo().await;
    let base = app.base_url.clone();
    let (user, password) = bursar::demo::first_student_login();
    let attacker = client();
    let now_s = app.store.now_ms() / 1000;
    let mut paced = false;
    for _ in 0..20 {
        let token = solved_captcha(&attacker, &base, &env.dir, now_s).await;
        let (s, _, page) = login_from(&attacker, &base, "198.51.100.40", &user, "000000", Some(&token)).await;
        assert_eq!(s, 401);
        if page.contains("尝试过于频繁") {
            paced = true;
            break;
        }
    }
    assert!(paced, "a script with solved captchas is slowed to a few tries a minute");
    // The owner, elsewhere, is not: a captcha and in.
    let owner = client();
    let token = solved_captcha(&owner, &base, &env.dir, now_s).await;
    let (s, to, _) = login_from(&owner, &base, "203.0.113.44", &user, &password, Some(&token)).await;
    assert_eq!((s, to.as_str()), (303, "/portal/fees"));
    app.stop().await;
});

both_stores!(spraying_a_fixed_initial_password_is_slowed_and_cannot_take_accounts, |env: TestEnv| async move {
    let app = env.start_demo_with(|cfg| cfg.initial_password = "000000".into()).await;
    let base = app.base_url.clone();
    // The school imported its students with the fixed initial password, to be changed first.
    let mut c = app.store.read().await.unwrap();
    sqlx::query("UPDATE payers SET must_change_password = 1 WHERE kind = 'enrolled_student'")
        .execute(bursar_store::Conn::raw(&mut c))
        .await
        .unwrap();
    drop(c);
    let people = bursar::demo::student_identities(5);
    let mut sessions = Vec::new();
    for (i, (number, _, _)) in people.iter().enumerate() {
        let attacker = client();
        let (s, to, _) = login_from(&attacker, &base, "198.51.100.50", number, "000000", None).await;
        if i < 3 {
            assert_eq!((s, to.as_str()), (303, "/portal/account/password"), "login {i}");
            sessions.push(attacker);
        } else {
            assert_eq!(s, 401, "login {i}: the fourth initial-password login from one network needs a captcha");
        }
    }
    // In, but the account cannot be taken: the first change needs the whole ID number.
    let attacker = &sessions[0];
    let page = attacker.get(format!("{base}/portal/account/password")).send().await.unwrap().text().await.unwrap();
    assert!(page.contains("证件号码（核实身份）"));
    let csrf = csrf_of(&page);
    let change = |proof: &str| {
        vec![
            ("csrf", csrf.clone()),
            ("current", "000000".to_string()),
            ("proof", proof.to_string()),
            ("new", "Taken2026x".to_string()),
            ("confirm", "Taken2026x".to_string()),
        ]
    };
    let r = attacker.post(format!("{base}/portal/account/password")).form(&change("")).send().await.unwrap();
    assert_eq!(r.status(), 422);
    let r = attacker
        .post(format!("{base}/portal/account/password"))
        .form(&change("370303200501011234"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 422);
    assert!(r.text().await.unwrap().contains("证件号码与学校登记的不一致"));
    // Nothing else is open to such a session.
    let r = attacker.get(format!("{base}/portal/fees")).send().await.unwrap();
    assert_eq!(location(&r), "/portal/account/password");
    // The student, knowing their ID number, sets their password.
    let (number, id_number, _) = &people[0];
    let r = attacker.post(format!("{base}/portal/account/password")).form(&change(id_number)).send().await.unwrap();
    assert_eq!(location(&r), "/portal/account?saved=password");
    let (s, to, _) = login_from(&client(), &base, "203.0.113.60", number, "Taken2026x", None).await;
    assert_eq!((s, to.as_str()), (303, "/portal/fees"));
    app.stop().await;
});
