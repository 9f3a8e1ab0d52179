//! Finance manages a payer's account from the record: freezing ends the payer's sessions and
//! refuses their logins (saying why only to whoever knows the password), unfreezing restores
//! them; an end date stops the account after it; a password reset gives a temporary password
//! that works once and must be changed. Departments cannot do any of it.

use bursar_domain::access::AccessError;
use bursar_engine::EngineError;

use crate::both_stores;
use crate::support::*;

/// Tries the portal login; the answer's status and page (or redirect target).
async fn try_login(base: &str, user: &str, password: &str) -> (u16, String) {
    let c = client();
    let page = c.get(format!("{base}/portal/login")).send().await.unwrap().text().await.unwrap();
    let r = c
        .post(format!("{base}/portal/login"))
        .form(&[("identifier", user), ("password", password), ("csrf", csrf_of(&page).as_str())])
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    if status == 303 {
        return (status, location(&r));
    }
    (status, r.text().await.unwrap())
}

both_stores!(freezing_validity_and_password_reset_hold_at_the_door, |env: TestEnv| async move {
    let app = env.start_demo().await;
    let base = app.base_url.clone();
    let (payer, _) = first_student(&app.store).await;
    let (user, password) = bursar::demo::first_student_login();
    let fin = operator(&app.engine, bursar::demo::FINANCE_USER).await;

    // Frozen: the open session ends at once; the right password hears why, a wrong one does not.
    let student = login_student(&base).await;
    assert_eq!(student.get(format!("{base}/portal/fees")).send().await.unwrap().status(), 200);
    assert!(app.engine.set_payer_frozen(&fin, &payer.id, Some(" ")).await.is_err(), "a reason is needed");
    app.engine.set_payer_frozen(&fin, &payer.id, Some("账户疑似被他人使用")).await.unwrap();
    let r = student.get(format!("{base}/portal/fees")).send().await.unwrap();
    assert_eq!(r.status(), 303, "the session ended");
    let (status, page) = try_login(&base, &user, &password).await;
    assert!(status != 303 && page.contains("账户已冻结"), "{status} {page}");
    let (_, page) = try_login(&base, &user, "wrong-password-1").await;
    assert!(!page.contains("冻结"), "a guess learns nothing");
    assert!(app.engine.set_payer_frozen(&fin, &payer.id, Some("again")).await.is_err(), "frozen once");
    app.engine.set_payer_frozen(&fin, &payer.id, None).await.unwrap();
    assert_eq!(try_login(&base, &user, &password).await, (303, "/portal/fees".to_string()));

    // An end date in the past stops the account; clearing it restores it.
    let now = app.store.now_ms();
    app.engine.set_payer_valid_until(&fin, &payer.id, Some(now - 1)).await.unwrap();
    let (status, page) = try_login(&base, &user, &password).await;
    assert!(status != 303 && page.contains("已过有效期"), "{status}");
    app.engine.set_payer_valid_until(&fin, &payer.id, Some(now + 86_400_000)).await.unwrap();
    assert_eq!(try_login(&base, &user, &password).await.0, 303);
    app.engine.set_payer_valid_until(&fin, &payer.id, None).await.unwrap();

    // A department cannot; the log has every step.
    let dept = operator(&app.engine, "houqin").await;
    let e = app.engine.set_payer_frozen(&dept, &payer.id, Some("x")).await.unwrap_err();
    assert!(matches!(e, EngineError::Access(AccessError::Missing(_))), "{e:?}");
    let logged = scalar(
        &app.store,
        "SELECT COUNT(*) FROM operation_log WHERE action IN ('payer.freeze', 'payer.unfreeze', 'payer.validity')",
        &[],
    )
    .await;
    assert_eq!(logged, 5);

    // A reset through the record: the temporary password is shown once; the old one stops
    // working; the temporary one logs in and must be changed.
    let web = login_operator(&base, bursar::demo::FINANCE_USER, bursar::demo::FINANCE_PASSWORD).await;
    let record = web.get(format!("{base}/admin/payers/{}", payer.id)).send().await.unwrap().text().await.unwrap();
    assert!(record.contains("账户管理") && record.contains("重置密码"));
    let r = web
        .post(format!("{base}/admin/payers/{}/password-reset", payer.id))
        .form(&[("csrf", csrf_of(&record))])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let page = r.text().await.unwrap();
    let temporary = between(&page, "临时密码：", "（").expect("the temporary password is shown").to_string();
    assert_eq!(temporary.len(), 10);
    assert_ne!(try_login(&base, &user, &password).await.0, 303, "the old password is gone");
    let (status, to) = try_login(&base, &user, &temporary).await;
    assert_eq!(status, 303);
    assert!(to.contains("/portal/account"), "must change it first: {to}");
    let shown_again = web.get(format!("{base}/admin/payers/{}", payer.id)).send().await.unwrap().text().await.unwrap();
    assert!(!shown_again.contains(&temporary), "shown once");
    let resets =
        scalar(&app.store, "SELECT COUNT(*) FROM operation_log WHERE action = 'payer.password_reset'", &[]).await;
    assert_eq!(resets, 1);
    app.stop().await;
});
