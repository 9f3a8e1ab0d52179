//! What an attacker or a careless insider tried, each held: approving through an application
//! whose secret one holds, paying a stopped item or an expired business order through an order
//! made earlier, closing someone else's payment, landing an order in an unproven account,
//! signing in any payer through an application, a CSRF token in the address, and switching
//! four eyes off with an empty form.

use bursar_domain::access::{AccessError, ApprovalKind};
use bursar_domain::payment::{PayMethod, PaymentState};
use bursar_engine::api::apps::NewAppInput;
use bursar_engine::{EngineError, PayContext};
use bursar_store::{receivables, Conn};
use serde_json::json;

use crate::both_stores;
use crate::notifications::start_paying;
use crate::open_api::Api;
use crate::support::*;

/// Registers an application as `who`; returns its client.
async fn app_registered_by(app: &bursar::app::Running, who: &str, items: &[&str]) -> Api {
    let by = operator(&app.engine, who).await;
    let input = NewAppInput {
        name: "测试系统".into(),
        notify_url: "http://127.0.0.1:9/hook".into(),
        return_url: "http://127.0.0.1:9/back".into(),
        ip_allowlist: String::new(),
        fee_item_codes: items.iter().map(|s| s.to_string()).collect(),
        rsa_public_key_pem: None,
    };
    let (row, secret) = app.engine.register_app(&by, &input).await.unwrap();
    Api::new(&app.base_url, &row.app_id, &secret)
}

both_stores!(whoever_holds_an_apps_secret_cannot_approve_its_refunds, |env: TestEnv| async move {
    let app = env.start_demo().await;
    let api = app_registered_by(&app, bursar::demo::FINANCE_USER, &["CET"]).await;
    let (student, _) = bursar::demo::first_student_login();
    let body = json!({
        "out_order_no": "A-1",
        "payer": {"identifier": student},
        "items": [{"fee_item_code": "CET", "academic_year": "2026-2027", "amount_fen": 3000}],
    });
    let (status, order, _) = api.call("POST", "/api/v1/orders", Some(&body), None).await;
    assert_eq!(status, 201, "{order}");
    // The student pays it by card (the order is theirs).
    let (_, by) = first_student(&app.store).await;
    let order_id = order["id"].as_str().unwrap().to_string();
    app.engine.pay_with_card(&by, &order_id, |_| true).await.unwrap();
    // The school raised that exam fee, not the application: it may not cancel it.
    let (status, e, _) = api
        .call(
            "POST",
            &format!("/api/v1/orders/{order_id}/refunds"),
            Some(&json!({"amount_fen": 3000, "reason": "x"})),
            None,
        )
        .await;
    assert_eq!(status, 422, "an app refunds only what it charged: {e}");
    // An order that raised its own fee: the app asks for a refund of it…
    let outside = json!({
        "out_order_no": "A-2",
        "payer": {"name": "王外来", "phone": "13700000001"},
        "items": [{"fee_item_code": "CET", "academic_year": "2026-2027", "amount_fen": 3000}],
    });
    let (status, order, _) = api.call("POST", "/api/v1/orders", Some(&outside), None).await;
    assert_eq!(status, 201, "{order}");
    let order_id = order["id"].as_str().unwrap().to_string();
    // Paid at the counter with the payer's WeChat payment code.
    let counter = operator(&app.engine, bursar::demo::CASHIER_USER).await;
    let code = app.wechat_sim.as_ref().unwrap().new_payment_code(false);
    let paid =
        app.engine.collect_by_code(&counter, &order_id, PayMethod::WechatCode, &code, "127.0.0.1").await.unwrap();
    assert_eq!(paid.state, PaymentState::Succeeded);
    let (status, refund, _) = api
        .call(
            "POST",
            &format!("/api/v1/orders/{order_id}/refunds"),
            Some(&json!({"amount_fen": 3000, "reason": "退课"})),
            None,
        )
        .await;
    assert_eq!(status, 201, "{refund}");
    // …and the finance administrator who registered it (and saw its secret) cannot approve it.
    let admin = operator(&app.engine, bursar::demo::FINANCE_USER).await;
    let refund_id = refund["id"].as_str().unwrap();
    let own = app.engine.decide_refund(&admin, refund_id, true, "").await;
    assert!(matches!(own, Err(EngineError::Access(AccessError::OwnApplication))), "{own:?}");
    let approver = operator(&app.engine, bursar::demo::APPROVER_USER).await;
    app.engine.decide_refund(&approver, refund_id, true, "同意").await.unwrap();
    assert_verified(&app.store).await;
    app.stop().await;
});

both_stores!(an_order_made_earlier_cannot_pay_a_stopped_item_or_an_expired_order, |env: TestEnv| async move {
    let app = env.start_demo().await;
    let (payer, by) = first_student(&app.store).await;
    let textbook = {
        let mut c = app.store.read().await.unwrap();
        receivables::for_payer(&mut c, &payer.id).await.unwrap().into_iter().find(|r| r.item_code == "JCF").unwrap()
    };
    let order = app.engine.create_order(&by, &[(textbook.id.clone(), textbook.outstanding())]).await.unwrap();
    // Finance stops the item after the order was made.
    let approver = operator(&app.engine, bursar::demo::APPROVER_USER).await;
    app.engine.set_fee_item_open(&approver, &textbook.fee_item_id, false).await.unwrap();
    let e = app.engine.start_payment(&by, &order, PayMethod::WechatNative, &PayContext::default()).await.unwrap_err();
    assert!(e.to_string().contains("已停止收费"), "{e}");
    let e = app.engine.pay_with_card(&by, &order, |_| true).await.unwrap_err();
    assert!(e.to_string().contains("已停止收费"), "{e}");
    assert_eq!(scalar(&app.store, "SELECT COUNT(*) FROM payments WHERE order_id = $1", &[order.as_str()]).await, 0);

    // A business system's order past its expiry is not paid through the portal either.
    let api = app_registered_by(&app, bursar::demo::FINANCE_USER, &["CET"]).await;
    let (student, _) = bursar::demo::first_student_login();
    let body = json!({
        "out_order_no": "E-1",
        "payer": {"identifier": student},
        "items": [{"fee_item_code": "CET", "academic_year": "2026-2027", "amount_fen": 3000}],
    });
    let (status, o, _) = api.call("POST", "/api/v1/orders", Some(&body), None).await;
    assert_eq!(status, 201, "{o}");
    let order_id = o["id"].as_str().unwrap().to_string();
    {
        // Its time runs out (as if an hour had passed).
        let mut c = app.store.read().await.unwrap();
        sqlx::query("UPDATE api_orders SET expires_at_ms = 0 WHERE order_id = $1")
            .bind(&order_id)
            .execute(c.raw())
            .await
            .unwrap();
    }
    let e =
        app.engine.start_payment(&by, &order_id, PayMethod::WechatNative, &PayContext::default()).await.unwrap_err();
    assert!(matches!(e, EngineError::OrderNotOpen(_)), "{e:?}");
    app.stop().await;
});

both_stores!(nobody_closes_someone_elses_payment, |env: TestEnv| async move {
    let app = env.start_demo().await;
    let victim = start_paying(&app).await;
    let (other_login, _) = bursar::demo::student_logins(3).remove(2);
    let (_, attacker) = payer(&app.store, bursar_domain::payer::PayerKind::EnrolledStudent, &other_login).await;
    let e = app.engine.pay_with_card(&attacker, &victim.payment.order_id, |_| true).await.unwrap_err();
    assert!(matches!(e, EngineError::NotFound(_)), "{e:?}");
    assert_eq!(
        payment_state(&app.store, &victim.payment.id).await,
        PaymentState::Paying,
        "the victim's payment goes on"
    );
    app.stop().await;
});

both_stores!(an_api_order_never_lands_in_an_account_under_another_name, |env: TestEnv| async move {
    let app = env.start_demo().await;
    let base = app.base_url.clone();
    // Someone tries to register with a phone number that is not theirs: without the code
    // texted to that phone, refused.
    let c = client();
    let form = |csrf: String, code: &str| {
        vec![
            ("csrf", csrf),
            ("name", "冒名".to_string()),
            ("phone", "13900000002".to_string()),
            ("sms_code", code.to_string()),
            ("password", "Squat2026".to_string()),
            ("confirm", "Squat2026".to_string()),
            ("question1", "出生城市".to_string()),
            ("answer1", "济南".to_string()),
            ("question2", "小学名称".to_string()),
            ("answer2", "实验小学".to_string()),
            ("accept", "1".to_string()),
        ]
    };
    let page = c.get(format!("{base}/portal/register")).send().await.unwrap().text().await.unwrap();
    let r = c.post(format!("{base}/portal/register")).form(&form(csrf_of(&page), "123456")).send().await.unwrap();
    assert_eq!(r.status(), 422);
    assert!(r.text().await.unwrap().contains("请先获取短信验证码"));
    // An account registered before phones were proven (or whose phone changed since) has an
    // unproven phone: it matches no order.
    let code = sms_code(&app, &c, "13900000002").await;
    let r = c.post(format!("{base}/portal/register")).form(&form(csrf_of(&page), &code)).send().await.unwrap();
    assert_eq!(r.status(), 303);
    {
        let mut conn = app.store.read().await.unwrap();
        sqlx::query("UPDATE payers SET phone_verified_at_ms = NULL WHERE identifier = 'M13900000002'")
            .execute(conn.raw())
            .await
            .unwrap();
    }
    // An application bills the real owner of that number: a new account of their own.
    let api = app_registered_by(&app, bursar::demo::FINANCE_USER, &["CET"]).await;
    for (no, name) in [("S-1", "王受害"), ("S-2", "冒名")] {
        let body = json!({
            "out_order_no": no,
            "payer": {"name": name, "phone": "13900000002"},
            "items": [{"fee_item_code": "CET", "academic_year": "2026-2027", "amount_fen": 3000}],
        });
        let (status, o, _) = api.call("POST", "/api/v1/orders", Some(&body), None).await;
        assert_eq!(status, 201, "{o}");
    }
    let mine = c.get(format!("{base}/portal/fees")).send().await.unwrap().text().await.unwrap();
    assert!(!mine.contains("英语四六级"), "nothing landed in the unproven account");
    app.stop().await;
});

both_stores!(forms_take_their_token_from_the_body_and_four_eyes_never_switch_off_silently, |env: TestEnv| async move {
    let app = env.start_demo().await;
    let base = app.base_url.clone();
    // A token in the address is refused outside uploads.
    let c = login_student(&base).await;
    let fees = c.get(format!("{base}/portal/fees")).send().await.unwrap().text().await.unwrap();
    let r = c
        .post(format!("{base}/portal/logout?csrf={}", csrf_of(&fees)))
        .header("content-type", "application/x-www-form-urlencoded")
        .body("")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    assert_eq!(c.get(format!("{base}/portal/fees")).send().await.unwrap().status(), 200, "still signed in");
    // The system administrator's empty form changes nothing; relaxing needs a reason.
    let admin = login_operator(&base, bursar::demo::SYSADMIN_USER, bursar::demo::FINANCE_PASSWORD).await;
    let page = admin.get(format!("{base}/admin/settings")).send().await.unwrap().text().await.unwrap();
    let r =
        admin.post(format!("{base}/admin/settings")).form(&[("csrf", csrf_of(&page).as_str())]).send().await.unwrap();
    assert_eq!(r.status(), 303);
    for k in ApprovalKind::ALL {
        assert!(app.engine.four_eyes(*k).await.unwrap(), "{k:?} still on");
    }
    let r = admin
        .post(format!("{base}/admin/settings"))
        .form(&[("csrf", csrf_of(&page).as_str()), ("four_eyes.refund", "0")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 422, "relaxing without a reason is refused");
    assert!(app.engine.four_eyes(ApprovalKind::Refund).await.unwrap());
    app.stop().await;
});
