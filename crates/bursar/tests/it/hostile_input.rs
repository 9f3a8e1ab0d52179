//! Hostile input through the public doors: forged notifications cannot fill the disk or push
//! real alerts away (refusals are counted per hour, many of them raise one exception finance
//! resolves with a comment); a message verified by one merchant account cannot credit another
//! account's payment; NUL and control characters are refused with a clear 400 everywhere,
//! on both stores, changing nothing.

use bursar_domain::payment::{ChannelOutcome, PaymentState};
use bursar_engine::EngineError;
use serde_json::json;

use crate::both_stores;
use crate::notifications::start_paying;
use crate::support::*;

both_stores!(forged_notifications_are_counted_bounded_and_raise_one_exception, |env: TestEnv| async move {
    let app = env.start_demo().await;
    let base = app.base_url.clone();
    let c = client();
    let events_before = scalar(&app.store, "SELECT COUNT(*) FROM channel_events", &[]).await;
    // A body over the notification limit is not even read.
    let huge = format!("sign_type={}&sign=x", "A".repeat(2 * 1024 * 1024));
    let r = c
        .post(format!("{base}/notify/alipay"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(huge)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 413);
    // Sixty forged Alipay notifications of 60 KB each, every one with different text.
    for n in 0..60 {
        let body = format!("notify_type=trade_status_sync&sign_type=RSA2{n}{}&sign=forged", "x".repeat(60 * 1024));
        let r = c
            .post(format!("{base}/notify/alipay"))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "Alipay is always answered 200");
        assert_eq!(r.text().await.unwrap(), "fail");
    }
    // One row for the hour, with a count and a short sample; nothing in the channel's trail.
    let rows = scalar(&app.store, "SELECT COUNT(*) FROM refused_inputs WHERE source = 'notify:alipay'", &[]).await;
    let total = scalar(
        &app.store,
        "SELECT CAST(COALESCE(SUM(occurrences), 0) AS BIGINT) FROM refused_inputs WHERE source = 'notify:alipay'",
        &[],
    )
    .await;
    let longest = scalar(&app.store, "SELECT COALESCE(MAX(length(sample)), 0) FROM refused_inputs", &[]).await;
    assert!(rows <= 2, "at most one bucket per class and hour: {rows}");
    assert_eq!(total, 60);
    assert!(longest <= 120, "{longest}");
    assert_eq!(scalar(&app.store, "SELECT COUNT(*) FROM channel_events", &[]).await, events_before);
    // Many forgeries in an hour: one exception for finance, counted.
    assert_eq!(
        scalar(&app.store, "SELECT COUNT(*) FROM exceptions WHERE kind = 'signature_failures' AND state = 'open'", &[])
            .await,
        1
    );

    // Finance sees it on the dashboard and resolves it with a comment (logged).
    let fin = login_operator(&base, bursar::demo::FINANCE_USER, bursar::demo::FINANCE_PASSWORD).await;
    let home = fin.get(format!("{base}/admin")).send().await.unwrap().text().await.unwrap();
    assert!(home.contains("条异常待处理"), "the dashboard says so");
    let page = fin.get(format!("{base}/admin/exceptions")).send().await.unwrap().text().await.unwrap();
    assert!(page.contains("大量验签失败的通知") && page.contains("支付宝通知地址"), "{page}");
    let action = between(&page, "action=\"/admin/exceptions/", "/resolve\"").unwrap().to_string();
    let r = fin
        .post(format!("{base}/admin/exceptions/{action}/resolve"))
        .form(&[("csrf", csrf_of(&page)), ("resolution", String::new())])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 422, "a resolution needs words");
    let r = fin
        .post(format!("{base}/admin/exceptions/{action}/resolve"))
        .form(&[("csrf", csrf_of(&page)), ("resolution", "已核实为外部扫描，已在防火墙屏蔽来源".to_string())])
        .send()
        .await
        .unwrap();
    assert_eq!(location(&r), "/admin/exceptions?done=1");
    assert_eq!(scalar(&app.store, "SELECT COUNT(*) FROM exceptions WHERE state = 'open'", &[]).await, 0);
    assert_eq!(
        scalar(&app.store, "SELECT COUNT(*) FROM operation_log WHERE action = 'exception.resolve'", &[]).await,
        1
    );
    // A department operator sees no exceptions page.
    let (houqin, _, _) = bursar::demo::DEPARTMENT_USERS[0];
    let dept = login_operator(&base, houqin, bursar::demo::DEPARTMENT_PASSWORD).await;
    assert_eq!(dept.get(format!("{base}/admin/exceptions")).send().await.unwrap().status(), 403);
    assert_verified(&app.store).await;
    app.stop().await;
});

both_stores!(a_message_verified_by_another_merchant_account_credits_nothing, |env: TestEnv| async move {
    let app = env.start_demo().await;
    let p = start_paying(&app).await;
    let by = bursar_domain::access::Principal::Channel("wechatpay");
    let paid = ChannelOutcome::Paid {
        channel_txn_id: "4200000000202612010000000001".into(),
        amount_fen: p.payment.amount_fen.get(),
        paid_at_ms: app.store.now_ms(),
    };
    let e = app.engine.apply_notice(&by, "1900000999", &p.payment.merchant_order_no, &paid).await.unwrap_err();
    assert!(matches!(e, EngineError::AccountMismatch { .. }), "{e:?}");
    app.engine.raise_for(&e).await;
    assert_eq!(payment_state(&app.store, &p.payment.id).await, PaymentState::Paying);
    assert_eq!(
        scalar(
            &app.store,
            "SELECT COUNT(*) FROM exceptions WHERE kind = 'account_mismatch' AND subject = $1",
            &[&p.payment.merchant_order_no]
        )
        .await,
        1
    );
    // The payment's own account is accepted.
    let own = p.payment.merchant_id.clone();
    app.engine.apply_notice(&by, &own, &p.payment.merchant_order_no, &paid).await.unwrap();
    assert_eq!(payment_state(&app.store, &p.payment.id).await, PaymentState::Succeeded);
    assert_verified(&app.store).await;
    app.stop().await;
});

both_stores!(control_characters_are_refused_everywhere_with_a_clear_400, |env: TestEnv| async move {
    let app = env.start_demo().await;
    let base = app.base_url.clone();
    let api = crate::open_api::register(&app, "http://127.0.0.1:9/hook", &["PXF"], "").await;
    let orders_before = scalar(&app.store, "SELECT COUNT(*) FROM orders", &[]).await;
    let payers_before = scalar(&app.store, "SELECT COUNT(*) FROM payers", &[]).await;

    // The open API: a NUL in a nested text field.
    let body = json!({
        "out_order_no": "N-1",
        "payer": {"name": "李\u{0}外来", "phone": "13900139000"},
        "items": [{"fee_item_code": "PXF", "academic_year": "2026-2027", "amount_fen": 100}],
    });
    let (status, v, _) = api.call("POST", "/api/v1/orders", Some(&body), None).await;
    assert_eq!(status, 400, "{v}");
    assert_eq!(v["error"]["code"], "control_character");
    assert_eq!(v["error"]["param"], "payer.name");
    // An escape character in the order number too.
    let body = json!({"out_order_no": "N-\u{1b}[2J", "payer": {"name": "李外来", "phone": "13900139000"},
        "items": [{"fee_item_code": "PXF", "academic_year": "2026-2027", "amount_fen": 100}]});
    let (status, v, _) = api.call("POST", "/api/v1/orders", Some(&body), None).await;
    assert_eq!((status, v["error"]["param"].as_str()), (400, Some("out_order_no")), "{v}");

    // The API reads every body as JSON, whatever its label: so is it checked.
    let text_body = json!({"out_order_no": "N-2", "payer": {"name": "外人\u{0}\u{7}", "phone": "13900139000"},
        "items": [{"fee_item_code": "PXF", "academic_year": "2026-2027", "amount_fen": 100}]})
    .to_string();
    let ts = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64;
    let nonce = uuid::Uuid::new_v4().simple().to_string();
    for content_type in [Some("text/plain"), None] {
        let mut req = reqwest::Client::new()
            .post(format!("{base}/api/v1/orders"))
            .header("Authorization", api.sign("POST", "/api/v1/orders", ts, &nonce, text_body.as_bytes()))
            .body(text_body.clone());
        if let Some(t) = content_type {
            req = req.header("content-type", t);
        }
        let r = req.send().await.unwrap();
        assert_eq!(r.status(), 400, "{content_type:?}");
    }

    // The login and registration forms, and a query string.
    let c = client();
    let page = c.get(format!("{base}/portal/login")).send().await.unwrap().text().await.unwrap();
    let r = c
        .post(format!("{base}/portal/login"))
        .form(&[("identifier", "2023\u{0}010001"), ("password", "x"), ("csrf", &csrf_of(&page))])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let text = r.text().await.unwrap();
    assert!(text.contains("控制字符") && !text.contains("database") && !text.contains("sqlx"), "{text}");
    let page = c.get(format!("{base}/portal/register")).send().await.unwrap().text().await.unwrap();
    let r = c
        .post(format!("{base}/portal/register"))
        .form(&[
            ("csrf", csrf_of(&page).as_str()),
            ("name", "王\u{0}五"),
            ("phone", "13800000001"),
            ("password", "Outside2026"),
            ("confirm", "Outside2026"),
            ("question1", "a"),
            ("answer1", "b"),
            ("question2", "c"),
            ("answer2", "d"),
            ("accept", "1"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let r = c.get(format!("{base}/portal/projects?q=%00")).send().await.unwrap();
    assert_eq!(r.status(), 400);
    // Line breaks in text are fine (a note typed on two lines).
    let r = c.get(format!("{base}/portal/projects?q=a%0Ab")).send().await.unwrap();
    assert_ne!(r.status(), 400);

    assert_eq!(scalar(&app.store, "SELECT COUNT(*) FROM orders", &[]).await, orders_before);
    assert_eq!(scalar(&app.store, "SELECT COUNT(*) FROM payers", &[]).await, payers_before);
    assert_eq!(client().get(format!("{base}/healthz")).send().await.unwrap().status(), 200);
    assert_verified(&app.store).await;
    app.stop().await;
});
