//! The controls a finance office relies on: four eyes on money (and the school relaxing it, on
//! the record), one logout for every operator, a password change ending the other sessions,
//! payers told plainly when an item has no channel left, an overpaid payment never passing for
//! a receipt — and a walk over every route checking that nothing but the public pages answers a
//! stranger.

use bursar_domain::access::{AccessError, ApprovalKind, Principal};
use bursar_domain::payment::ChannelKind;
use bursar_domain::refund::RefundKind;
use bursar_engine::EngineError;
use bursar_store::receivables;
use bursar_web::guard::Guard;
use reqwest::Method;

use crate::both_stores;
use crate::support::*;

both_stores!(four_eyes_hold_by_default_and_relaxing_them_is_on_the_record, |env: TestEnv| async move {
    let app = env.start_demo().await;
    let (payer, by) = first_student(&app.store).await;
    let textbook = {
        let mut c = app.store.read().await.unwrap();
        receivables::for_payer(&mut c, &payer.id).await.unwrap().into_iter().find(|r| r.item_code == "JCF").unwrap()
    };
    let order = app.engine.create_order(&by, &[(textbook.id.clone(), textbook.outstanding())]).await.unwrap();
    let paid = app.engine.pay_with_card(&by, &order, |_| true).await.unwrap();
    // The finance administrator holds both permissions, and still cannot approve their own request.
    let admin = operator(&app.engine, bursar::demo::FINANCE_USER).await;
    let refund =
        app.engine.request_refund(&admin, &paid.id, paid.amount_fen, RefundKind::FeeCancelled, "退订").await.unwrap();
    let own = app.engine.decide_refund(&admin, &refund, true, "").await;
    assert!(matches!(own, Err(EngineError::Access(AccessError::OwnRequest))), "{own:?}");
    // A clerk may not approve at all; the refusal names the permission.
    let clerk = operator(&app.engine, bursar::demo::CLERK_USER).await;
    let e = app.engine.decide_refund(&clerk, &refund, true, "").await.unwrap_err();
    assert!(e.to_string().contains("审批退款") || e.to_string().contains("refund.approve"), "{e}");
    // The school relaxes it for refunds (system administrator, op-logged); then it is allowed.
    let sysadmin = operator(&app.engine, bursar::demo::SYSADMIN_USER).await;
    assert!(
        app.engine.set_four_eyes(&admin, ApprovalKind::Refund, false, "试点").await.is_err(),
        "finance cannot relax it"
    );
    assert!(app.engine.set_four_eyes(&sysadmin, ApprovalKind::Refund, false, " ").await.is_err(), "relaxing says why");
    app.engine.set_four_eyes(&sysadmin, ApprovalKind::Refund, false, "校财〔2026〕12号：小额退款试点").await.unwrap();
    let (_, _, why) = app.engine.four_eyes_changed(ApprovalKind::Refund).await.unwrap().expect("on the record");
    assert!(why.contains("校财"), "the reason is kept: {why}");
    assert!(!app.engine.four_eyes(ApprovalKind::Refund).await.unwrap());
    let logged =
        scalar(&app.store, "SELECT COUNT(*) FROM operation_log WHERE action = 'settings.four_eyes'", &[]).await;
    assert_eq!(logged, 1);
    app.engine.decide_refund(&admin, &refund, true, "本人审批（已放宽）").await.unwrap();
    // Fee items keep theirs: an administrator's own application waits for someone else.
    let dept = {
        let mut c = app.store.read().await.unwrap();
        bursar_store::payers::departments(&mut c).await.unwrap()[0].0.clone()
    };
    let application = bursar_engine::collection::fee_items::FeeItemApplication {
        code: "TEST-1".into(),
        name: "测试收费".into(),
        department_id: dept,
        fee_type: bursar_domain::fee::FeeType::Other,
        window_start_ms: None,
        window_end_ms: None,
        partial_allowed: false,
        min_partial: bursar_domain::Fen::ZERO,
        note: "测试".into(),
        channels: Vec::new(),
        profile: bursar_domain::audience::Profile::usual_for(bursar_domain::fee::FeeType::Other),
    };
    let item = app.engine.apply_fee_item(&admin, &application).await.unwrap();
    let decision = bursar_engine::collection::fee_items::FeeItemDecision::Reject;
    let own = app.engine.decide_fee_item(&admin, &item, decision.clone(), "不需要").await;
    assert!(matches!(own, Err(EngineError::Access(AccessError::OwnRequest))), "{own:?}");
    let approver = operator(&app.engine, bursar::demo::APPROVER_USER).await;
    app.engine.decide_fee_item(&approver, &item, decision, "不需要").await.unwrap();
    assert_verified(&app.store).await;
    app.stop().await;
});

both_stores!(every_operator_logs_out_and_a_password_change_ends_other_sessions, |env: TestEnv| async move {
    let app = env.start_demo().await;
    let base = app.base_url.clone();
    // A department operator logs out like finance does; the session is gone.
    let (houqin, _, _) = bursar::demo::DEPARTMENT_USERS[0];
    let dept = login_operator(&base, houqin, bursar::demo::DEPARTMENT_PASSWORD).await;
    let home = dept.get(format!("{base}/admin")).send().await.unwrap();
    assert_eq!(home.status(), 200);
    let home = home.text().await.unwrap();
    let r = dept.post(format!("{base}/admin/logout")).form(&[("csrf", csrf_of(&home).as_str())]).send().await.unwrap();
    assert_eq!(location(&r), "/admin/login");
    assert_eq!(location(&dept.get(format!("{base}/admin")).send().await.unwrap()), "/admin/login");

    // A payer signed in on two browsers changes the password on one: the other is signed out.
    let one = login_student(&base).await;
    let two = login_student(&base).await;
    let page = one.get(format!("{base}/portal/account")).send().await.unwrap().text().await.unwrap();
    let (_, old) = bursar::demo::first_student_login();
    let r = one
        .post(format!("{base}/portal/account/password"))
        .form(&[
            ("csrf", csrf_of(&page).as_str()),
            ("current", old.as_str()),
            ("new", "Changed2026"),
            ("confirm", "Changed2026"),
        ])
        .send()
        .await
        .unwrap();
    assert!(r.status().is_redirection() || r.status() == 200, "{}", r.status());
    assert_eq!(one.get(format!("{base}/portal/fees")).send().await.unwrap().status(), 200, "this browser stays in");
    let other = two.get(format!("{base}/portal/fees")).send().await.unwrap();
    assert_eq!(location(&other), "/portal/login", "the other browser is signed out");
    let logged = scalar(&app.store, "SELECT COUNT(*) FROM operation_log WHERE action = 'payer.password'", &[]).await;
    assert_eq!(logged, 1, "the change is on the record");
    app.stop().await;
});

both_stores!(an_item_without_channels_says_so_plainly, |env: TestEnv| async move {
    let app = env.start_demo().await;
    let base = app.base_url.clone();
    let admin = operator(&app.engine, bursar::demo::FINANCE_USER).await;
    let item = {
        let mut c = app.store.read().await.unwrap();
        receivables::fee_items(&mut c).await.unwrap().into_iter().find(|i| i.code == "JCF").unwrap().id
    };
    let changes: Vec<(String, ChannelKind, Option<String>)> =
        ChannelKind::ALL.iter().map(|&ch| (item.clone(), ch, None)).collect();
    app.engine.set_routes(&admin, &changes).await.unwrap();
    let c = login_student(&base).await;
    let order = crate::channels_portal::order_for(&c, &base, &app.store, &["教材费"]).await;
    let page = c.get(format!("{base}{order}")).send().await.unwrap().text().await.unwrap();
    assert!(page.contains("暂无可用的支付方式，请联系收费部门"), "told plainly");
    assert!(!page.contains("收款账户不同"), "not a message about different accounts");
    app.stop().await;
});

both_stores!(an_overpaid_payment_gets_a_voucher_that_says_so, |env: TestEnv| async move {
    let app = env.start_demo().await;
    let base = app.base_url.clone();
    let (a, b) = crate::refunds::paid_twice(&app).await;
    let over = crate::refunds::the_overpaid_one(&app, &a, &b).await;
    let c = login_student(&base).await;
    let voucher = c.get(format!("{base}/portal/payments/{over}/voucher")).send().await.unwrap().text().await.unwrap();
    assert!(voucher.contains("多缴款，待退还"), "the voucher says the money waits to be refunded");
    let table = between(&voucher, "<tbody>", "</tbody>").unwrap();
    assert!(!table.contains("住宿费"), "and lists no fee it did not pay: {table}");
    let verify_url = between(&voucher, "验证本凭证真伪：<br><a href=\"", "\"").unwrap().to_string();
    let public = client().get(&verify_url).send().await.unwrap().text().await.unwrap();
    assert!(public.contains("多缴款，待退还") && !public.contains("真实有效"), "and so does the public check");
    app.stop().await;
});

/// The public pages, by path (a new one must be added here on purpose).
const PUBLIC: &[&str] = &[
    "/",
    "/healthz",
    "/favicon.ico",
    "/assets/app.css",
    "/assets/app.js",
    "/lang/{code}",
    "/portal/login",
    "/portal/login/new-student",
    "/portal/register",
    "/portal/register/code",
    "/portal/forgot",
    "/portal/projects",
    "/portal/projects/{id}",
    "/receipts/verify/{code}",
    "/admin/login",
    "/admin/login/code",
    "/school/logo",
    "/api/v1/openapi.json",
    "/cashier/sso",
];

both_stores!(every_route_is_guarded_and_strangers_get_only_the_public_pages, |env: TestEnv| async move {
    let app = env.start_demo().await;
    let base = app.base_url.clone();
    let anon = client();
    let payer = login_student(&base).await;
    let (houqin, _, _) = bursar::demo::DEPARTMENT_USERS[0];
    let dept = login_operator(&base, houqin, bursar::demo::DEPARTMENT_PASSWORD).await;
    let Principal::Operator(dept_op) = operator(&app.engine, houqin).await else { panic!("an operator") };
    let routes = bursar_web::routes();
    let declared = routes.declared();
    assert!(declared.len() > 60, "the whole router is walked ({} routes)", declared.len());
    let send = |c: &reqwest::Client, m: &Method, url: &str| {
        let r = c.request(m.clone(), url);
        if *m == Method::GET {
            r
        } else {
            r.form(&[("x", "1")])
        }
    };
    let to_login = |r: &reqwest::Response| r.status() == 303 && location(r).contains("/login");
    let mut public_seen = Vec::new();
    let mut all_methods: std::collections::BTreeMap<&str, Vec<Method>> = Default::default();
    for d in declared {
        all_methods.entry(d.path).or_default().extend(d.methods.iter().cloned());
        // Path parameters become a value that names nothing.
        let path: String =
            d.path.split('/').map(|seg| if seg.starts_with('{') { "zz" } else { seg }).collect::<Vec<_>>().join("/");
        let url = format!("{base}{path}");
        for m in &d.methods {
            let r = send(&anon, m, &url).send().await.unwrap();
            let st = r.status().as_u16();
            let what = format!("{m} {} by a stranger: {st} {}", d.path, location(&r));
            assert_ne!(st, 405, "{what}: the declared method is not routed");
            match d.guard {
                Guard::Public => {
                    public_seen.push(d.path);
                    assert!(PUBLIC.contains(&d.path), "{} is public but not in the list of public pages", d.path);
                    if *m != Method::GET {
                        assert!(matches!(st, 403 | 404 | 422), "{what}: a form without its token changes nothing");
                    }
                }
                Guard::Payer | Guard::PayerInitial | Guard::Operator | Guard::Permission(_) => {
                    assert!(to_login(&r), "{what}: sent to log in")
                }
                Guard::App => assert_eq!(st, 401, "{what}"),
                // Signed by the channel, or the link's own token: a stranger with neither gets
                // nothing done.
                Guard::Channel | Guard::CashierLink => assert!(matches!(st, 400 | 401 | 403 | 404), "{what}"),
                // The gateway's return only sends the browser on, to a page that is guarded.
                Guard::GatewayReturn => assert!(st == 303 || st == 404, "{what}"),
            }
            // A payer is no operator, and a department has only its own permissions.
            if matches!(d.guard, Guard::Operator | Guard::Permission(_)) {
                let r = send(&payer, m, &url).send().await.unwrap();
                assert!(to_login(&r) || r.status() == 403, "{m} {}: a payer got {}", d.path, r.status());
            }
            if let Guard::Permission(perm) = d.guard {
                if !dept_op.roles.iter().any(|role| role.permissions().contains(&perm)) {
                    let r = send(&dept, m, &url).send().await.unwrap();
                    assert_eq!(r.status(), 403, "{m} {}: a department without {perm:?}", d.path);
                }
            }
        }
    }
    // Whatever is not declared is not routed: the declarations are the router.
    for (path, methods) in all_methods {
        let url = format!(
            "{base}{}",
            path.split('/').map(|s| if s.starts_with('{') { "zz" } else { s }).collect::<Vec<_>>().join("/")
        );
        for m in [Method::GET, Method::POST, Method::PUT, Method::DELETE] {
            if !methods.contains(&m) && !path.starts_with("/api/") {
                let st = send(&anon, &m, &url).send().await.unwrap().status();
                assert!(st == 405 || st == 404, "{m} {path} is not declared but answered {st}");
            }
        }
    }
    for p in PUBLIC {
        assert!(public_seen.contains(p), "{p} is listed as public but no such route");
    }
    app.stop().await;
});

both_stores!(the_auditor_reads_everything_and_changes_nothing, |env: TestEnv| async move {
    let app = env.start_demo().await;
    let base = app.base_url.clone();
    let auditor = login_operator(&base, bursar::demo::AUDITOR_USER, bursar::demo::FINANCE_PASSWORD).await;
    // Every list a finance office keeps, read-only: no form that changes anything.
    for (path, heading) in [
        ("/admin", "收费监控"),
        ("/admin/payments", "支付流水"),
        ("/admin/refunds", "退款"),
        ("/admin/fee-items", "收费项目"),
        ("/admin/projects", "项目报名"),
        ("/admin/overpayments", "多缴款"),
        ("/admin/oplog", "操作日志"),
    ] {
        let r = auditor.get(format!("{base}{path}")).send().await.unwrap();
        assert_eq!(r.status(), 200, "{path}");
        let page = r.text().await.unwrap();
        assert!(page.contains(heading), "{path} shows {heading}");
        let forms = page.matches("method=\"post\"").count();
        assert_eq!(forms, 1, "{path}: only the logout form");
    }
    // The operation log: who did what, in plain words, filtered, exported.
    let page = auditor.get(format!("{base}/admin/oplog?entity=fee_item")).send().await.unwrap().text().await.unwrap();
    assert!(page.contains("审核通过") && page.contains("财务处 林审核"), "the demo's approvals, by name");
    // (The action filter's choices carry codes as their values, never as text.)
    let shown = page.replace("value=\"fee_item.approve\"", "");
    assert!(!shown.contains("fee_item.approve"), "no internal codes on screen");
    let x = auditor.get(format!("{base}/admin/oplog.xlsx?entity=fee_item")).send().await.unwrap();
    assert_eq!(x.status(), 200);
    let bytes = x.bytes().await.unwrap();
    let mut book: calamine::Xlsx<_> = calamine::open_workbook_from_rs(std::io::Cursor::new(bytes.to_vec())).unwrap();
    use calamine::Reader;
    let sheet = book.worksheet_range_at(0).unwrap().unwrap();
    let rows: Vec<Vec<String>> = sheet.rows().map(|r| r.iter().map(|c| c.to_string()).collect()).collect();
    assert_eq!(rows[0][2], "操作人");
    assert!(rows.iter().skip(1).all(|r| r[4] == "收费项目"), "filtered to fee items");
    assert!(rows.len() > 3);
    // By action; and the chain checked on demand.
    let x = auditor.get(format!("{base}/admin/oplog.xlsx?action=fee_item.approve")).send().await.unwrap();
    let bytes = x.bytes().await.unwrap();
    let mut book: calamine::Xlsx<_> = calamine::open_workbook_from_rs(std::io::Cursor::new(bytes.to_vec())).unwrap();
    let sheet = book.worksheet_range_at(0).unwrap().unwrap();
    let rows: Vec<Vec<String>> = sheet.rows().map(|r| r.iter().map(|c| c.to_string()).collect()).collect();
    assert!(rows.len() > 1 && rows.iter().skip(1).all(|r| r[3] == "审核通过"), "{rows:?}");
    let page = auditor.get(format!("{base}/admin/oplog?verify=1")).send().await.unwrap().text().await.unwrap();
    assert!(page.contains("日志链校验通过"), "the chain holds");
    // A leader sees collection, and nothing else.
    let leader = login_operator(&base, bursar::demo::LEADER_USER, bursar::demo::FINANCE_PASSWORD).await;
    let home = leader.get(format!("{base}/admin")).send().await.unwrap();
    assert_eq!(home.status(), 200);
    assert!(home.text().await.unwrap().contains("收费监控"));
    assert_eq!(leader.get(format!("{base}/admin/oplog")).send().await.unwrap().status(), 403);
    app.stop().await;
});
