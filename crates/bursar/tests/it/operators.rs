//! 操作员管理 as the system administrator does it, over HTTP: a new operator with a temporary
//! password they must change first, roles and departments, an account disabled (with a reason)
//! and enabled, a password reset; nobody can lock the school out — on both stores.

use bursar_domain::access::Role;
use bursar_engine::access::operators::NewOperator;

use crate::both_stores;
use crate::support::*;

fn temp_of(page: &str) -> String {
    between(page, "<code class=\"temp-password\">", "</code>").expect("a temporary password is shown").to_string()
}

both_stores!(the_system_administrator_manages_operators, |env: TestEnv| async move {
    let app = env.start_demo().await;
    let base = app.base_url.clone();
    let admin = login_operator(&base, bursar::demo::SYSADMIN_USER, bursar::demo::FINANCE_PASSWORD).await;
    let page = admin.get(format!("{base}/admin/operators")).send().await.unwrap().text().await.unwrap();
    assert!(page.contains("何收费员") && page.contains("收费员"));
    let csrf = csrf_of(&page);

    // A new cashier, with a temporary password shown once.
    let r = admin
        .post(format!("{base}/admin/operators"))
        .form(&[("csrf", csrf.as_str()), ("username", "cashier2"), ("name", "财务处 新收费员"), ("role", "cashier")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let temp = temp_of(&r.text().await.unwrap());
    let r = admin
        .post(format!("{base}/admin/operators"))
        .form(&[("csrf", csrf.as_str()), ("username", "cashier2"), ("name", "重名"), ("role", "cashier")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 422, "the user name is taken");

    // They must change it before anything else.
    let (c, status, _) = try_login_operator(&base, "cashier2", &temp).await;
    assert_eq!(status, 303);
    let r = c.get(format!("{base}/admin/counter")).send().await.unwrap();
    assert_eq!(location(&r), "/admin/account", "a temporary password is changed first");
    let account = c.get(format!("{base}/admin/account")).send().await.unwrap().text().await.unwrap();
    let change = |current: String, new: &'static str, again: &'static str| {
        let (c, base, csrf) = (c.clone(), base.clone(), csrf_of(&account));
        async move {
            c.post(format!("{base}/admin/account"))
                .form(&[
                    ("csrf", csrf.as_str()),
                    ("current_password", current.as_str()),
                    ("new_password", new),
                    ("new_password_again", again),
                ])
                .send()
                .await
                .unwrap()
        }
    };
    assert_eq!(change("wrong".into(), "Cashier@2027", "Cashier@2027").await.status(), 422);
    assert_eq!(change(temp.clone(), "Cashier@2027", "Cashier@2028").await.status(), 422);
    let r = change(temp.clone(), "Cashier@2027", "Cashier@2027").await;
    assert_eq!(r.status(), 303);
    assert_eq!(location(&r), "/admin/counter", "a cashier's home is the counter");
    assert_eq!(c.get(format!("{base}/admin/counter")).send().await.unwrap().status(), 200);

    // Roles: a department's operator needs a department; a change ends their sessions.
    let id = operator(&app.engine, "cashier2").await.operator().unwrap().id.clone();
    let r = admin
        .post(format!("{base}/admin/operators/{id}/roles"))
        .form(&[("csrf", csrf.as_str()), ("role", "department_operator")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 422);
    let depts = app.engine.department_choices(&operator(&app.engine, bursar::demo::SYSADMIN_USER).await).await.unwrap();
    let r = admin
        .post(format!("{base}/admin/operators/{id}/roles"))
        .form(&[("csrf", csrf.as_str()), ("role", "department_operator"), ("department", depts[0].0.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_ne!(c.get(format!("{base}/admin/counter")).send().await.unwrap().status(), 200, "logged out");

    // Disabled with a reason: no login; enabled again: login.
    let state = |active: &'static str, reason: &'static str| {
        let (admin, base, csrf, id) = (admin.clone(), base.clone(), csrf.clone(), id.clone());
        async move {
            admin
                .post(format!("{base}/admin/operators/{id}/state"))
                .form(&[("csrf", csrf.as_str()), ("active", active), ("reason", reason)])
                .send()
                .await
                .unwrap()
                .status()
        }
    };
    assert_eq!(state("0", "").await, 422, "a reason is needed");
    assert_eq!(state("0", "调离财务处").await, 200);
    assert_ne!(try_login_operator(&base, "cashier2", "Cashier@2027").await.1, 303, "a disabled account cannot log in");
    assert_eq!(state("1", "").await, 200);
    assert_eq!(try_login_operator(&base, "cashier2", "Cashier@2027").await.1, 303);

    // A reset: the old password stops working, the new one is temporary.
    let r = admin
        .post(format!("{base}/admin/operators/{id}/password"))
        .form(&[("csrf", csrf.as_str())])
        .send()
        .await
        .unwrap();
    let temp = temp_of(&r.text().await.unwrap());
    assert_ne!(try_login_operator(&base, "cashier2", "Cashier@2027").await.1, 303);
    let (c, status, _) = try_login_operator(&base, "cashier2", &temp).await;
    assert_eq!(status, 303);
    assert_eq!(location(&c.get(format!("{base}/admin/operators")).send().await.unwrap()), "/admin/account");

    // Nobody locks the school out; nobody else manages operators.
    let me = operator(&app.engine, bursar::demo::SYSADMIN_USER).await;
    let my_id = me.operator().unwrap().id.clone();
    assert!(app.engine.set_operator_active(&me, &my_id, false, "x").await.is_err());
    assert!(app.engine.set_operator_roles(&me, &my_id, &[Role::Auditor], &[]).await.is_err());
    let fin = login_operator(&base, bursar::demo::FINANCE_USER, bursar::demo::FINANCE_PASSWORD).await;
    assert_eq!(fin.get(format!("{base}/admin/operators")).send().await.unwrap().status(), 403);
    // Two administrators disabling each other at once: one of them stays.
    let other = NewOperator {
        username: "sysadmin2".into(),
        name: "信息中心 值班管理员".into(),
        password: "Admin@20261".into(),
        roles: vec![Role::SystemAdmin],
        departments: vec![],
    };
    let other_id = app.engine.create_operator(&me, &other).await.unwrap();
    let other_by = operator(&app.engine, "sysadmin2").await;
    let (a, b) = tokio::join!(
        app.engine.set_operator_active(&me, &other_id, false, "交接"),
        app.engine.set_operator_active(&other_by, &my_id, false, "交接")
    );
    assert!(a.is_ok() != b.is_ok(), "exactly one is disabled: {a:?} {b:?}");
    let active = scalar(
        &app.store,
        "SELECT COUNT(*) FROM operators o JOIN operator_roles r ON r.operator_id = o.id WHERE r.role = 'system_admin' AND o.state = 'active'",
        &[],
    )
    .await;
    assert_eq!(active, 1);
    let log = scalar(&app.store, "SELECT COUNT(*) FROM operation_log WHERE action LIKE 'operator.%'", &[]).await;
    assert!(log >= 8, "every change is logged ({log})");
});
