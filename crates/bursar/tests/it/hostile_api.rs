//! Idempotency keys under hostile conditions: a key reused on another order's path runs there
//! (never replays the first order's answer); a key left "in progress" by a crash is taken over
//! after its lease — answered from what the first run committed, or run again when it
//! committed nothing; a client that hangs up does not leave its key stuck.

use std::time::Duration;

use bursar_domain::payment::{ChannelOutcome, PayMethod};
use serde_json::{json, Value};

use crate::both_stores;
use crate::open_api::Api;
use crate::support::*;

fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(ring::digest::digest(&ring::digest::SHA256, bytes).as_ref())
}

async fn signed(api: &Api, method: &str, path: &str, body: &[u8], key: Option<&str>) -> (u16, Value, bool) {
    let ts = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64;
    let nonce = uuid::Uuid::new_v4().simple().to_string();
    let auth = api.sign(method, path, ts, &nonce, body);
    let (status, v, headers) = api.raw(method, path, body.to_vec(), Some(auth), key).await;
    (status, v, headers.get("idempotent-replayed").is_some())
}

/// A paid API order of an outside person for a training (PXF).
/// A paid business order of its own outside payer (one per order: a second training of the same
/// payer in the same year would be refused as already billed).
async fn paid_order(app: &bursar::app::Running, api: &Api, out_no: &str) -> String {
    let n: u32 = out_no.bytes().map(u32::from).sum();
    let phone = format!("1390013{:04}", n % 10_000);
    let body = json!({"out_order_no": out_no, "payer": {"name": "李外来", "phone": phone},
        "items": [{"fee_item_code": "PXF", "academic_year": "2026-2027", "amount_fen": 45000}]});
    let (status, o, _) = api.call("POST", "/api/v1/orders", Some(&body), None).await;
    assert_eq!(status, 201, "{o}");
    let order_id = o["id"].as_str().unwrap().to_string();
    let payer_id: String = {
        let mut conn = app.store.read().await.unwrap();
        sqlx::query_scalar("SELECT payer_id FROM orders WHERE id = $1")
            .bind(&order_id)
            .fetch_one(bursar_store::Conn::raw(&mut conn))
            .await
            .unwrap()
    };
    let by = bursar_domain::access::Principal::Payer(bursar_domain::access::PayerPrincipal {
        id: payer_id,
        kind: bursar_domain::payer::PayerKind::External,
        via_sso: false,
    });
    let p = app
        .engine
        .start_payment(&by, &order_id, PayMethod::WechatNative, &bursar_engine::PayContext::default())
        .await
        .unwrap();
    let paid = ChannelOutcome::Paid {
        channel_txn_id: format!("42000000{}", &p.merchant_order_no[..20]),
        amount_fen: p.amount_fen.get(),
        paid_at_ms: app.store.now_ms(),
    };
    app.engine
        .apply_outcome(&bursar_domain::access::Principal::Channel("wechatpay"), &p.merchant_order_no, &paid)
        .await
        .unwrap();
    order_id
}

both_stores!(idempotency_keys_are_scoped_leased_and_survive_hang_ups, |env: TestEnv| async move {
    let app = env.start_demo().await;
    let api = crate::open_api::register(&app, "http://127.0.0.1:9/hook", &["CET", "PXF"], "").await;

    // One key, one body, two orders' refund paths: each order gets its own refund.
    let a = paid_order(&app, &api, "IDEM-A").await;
    let b = paid_order(&app, &api, "IDEM-B").await;
    let body = br#"{"amount_fen":1000,"reason":"cancelled"}"#;
    let (s1, r1, _) = signed(&api, "POST", &format!("/api/v1/orders/{a}/refunds"), body, Some("R-1")).await;
    assert_eq!((s1, r1["order_id"].as_str()), (201, Some(a.as_str())), "{r1}");
    let (s2, r2, replayed) = signed(&api, "POST", &format!("/api/v1/orders/{b}/refunds"), body, Some("R-1")).await;
    assert_eq!((s2, r2["order_id"].as_str(), replayed), (201, Some(b.as_str()), false), "{r2}");
    assert_ne!(r1["id"], r2["id"]);
    // The same path again: replayed, no third refund.
    let (s3, r3, replayed) = signed(&api, "POST", &format!("/api/v1/orders/{a}/refunds"), body, Some("R-1")).await;
    assert_eq!((s3, &r3["id"], replayed), (201, &r1["id"], true));
    assert_eq!(scalar(&app.store, "SELECT COUNT(*) FROM refunds", &[]).await, 2);

    // A crash after the order committed but before the answer was stored: the key is left
    // "in progress" with its effect recorded (what the order command writes in its commit).
    let (student, _) = bursar::demo::first_student_login();
    let order_body = json!({"out_order_no": "IDEM-C", "payer": {"identifier": student},
        "items": [{"fee_item_code": "CET", "academic_year": "2026-2027", "amount_fen": 3000}]})
    .to_string()
    .into_bytes();
    let (status, c, _) = signed(&api, "POST", "/api/v1/orders", &order_body, None).await;
    assert_eq!(status, 201);
    let app_row = scalar(&app.store, "SELECT COUNT(*) FROM api_apps", &[]).await;
    assert!(app_row >= 1);
    let app_id: String = {
        let mut conn = app.store.read().await.unwrap();
        sqlx::query_scalar("SELECT id FROM api_apps WHERE app_id = $1")
            .bind(&api.app_id)
            .fetch_one(bursar_store::Conn::raw(&mut conn))
            .await
            .unwrap()
    };
    let stale = app.store.now_ms() - 61_000;
    {
        let mut conn = app.store.read().await.unwrap();
        sqlx::query(
            "INSERT INTO api_idempotency (app_id, idem_key, request_hash, status, response, created_at_ms, effect_kind, effect_id)
             VALUES ($1, $2, $3, 0, '', $4, 'order', $5)",
        )
        .bind(&app_id)
        .bind("POST /api/v1/orders\nK-CRASH")
        .bind(sha256_hex(&order_body))
        .bind(stale)
        .bind(c["id"].as_str().unwrap())
        .execute(bursar_store::Conn::raw(&mut conn))
        .await
        .unwrap();
    }
    let (status, replay, replayed) = signed(&api, "POST", "/api/v1/orders", &order_body, Some("K-CRASH")).await;
    assert_eq!((status, &replay["id"], replayed), (201, &c["id"], true), "answered from the committed order: {replay}");

    // A crash before anything committed: within the lease, 409 in progress; after it, run again.
    let fresh_body = json!({"out_order_no": "IDEM-D", "payer": {"identifier": student},
        "items": [{"fee_item_code": "CET", "academic_year": "2026-2027", "amount_fen": 3000}]})
    .to_string()
    .into_bytes();
    {
        let mut conn = app.store.read().await.unwrap();
        sqlx::query(
            "INSERT INTO api_idempotency (app_id, idem_key, request_hash, status, response, created_at_ms) VALUES ($1, $2, $3, 0, '', $4)",
        )
        .bind(&app_id)
        .bind("POST /api/v1/orders\nK-LOST")
        .bind(sha256_hex(&fresh_body))
        .bind(app.store.now_ms())
        .execute(bursar_store::Conn::raw(&mut conn))
        .await
        .unwrap();
    }
    let (status, e, _) = signed(&api, "POST", "/api/v1/orders", &fresh_body, Some("K-LOST")).await;
    assert_eq!((status, e["error"]["code"].as_str()), (409, Some("in_progress")));
    {
        let mut conn = app.store.read().await.unwrap();
        sqlx::query("UPDATE api_idempotency SET created_at_ms = $1 WHERE idem_key = $2")
            .bind(stale)
            .bind("POST /api/v1/orders\nK-LOST")
            .execute(bursar_store::Conn::raw(&mut conn))
            .await
            .unwrap();
    }
    let (status, d, replayed) = signed(&api, "POST", "/api/v1/orders", &fresh_body, Some("K-LOST")).await;
    assert_eq!((status, replayed), (201, false), "{d}");
    let (status, again, replayed) = signed(&api, "POST", "/api/v1/orders", &fresh_body, Some("K-LOST")).await;
    assert_eq!((status, &again["id"], replayed), (201, &d["id"], true));

    // A client that hangs up at once: its request still finishes, and the retry gets its answer.
    for n in 0..10 {
        let hang_body = json!({"out_order_no": format!("IDEM-H{n}"), "payer": {"identifier": student},
            "items": [{"fee_item_code": "CET", "academic_year": "2026-2027", "amount_fen": 3000}]})
        .to_string()
        .into_bytes();
        let key = format!("K-HANG-{n}");
        let _ = tokio::time::timeout(
            Duration::from_millis(3),
            signed(&api, "POST", "/api/v1/orders", &hang_body, Some(&key)),
        )
        .await;
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        loop {
            let (status, v, _) = signed(&api, "POST", "/api/v1/orders", &hang_body, Some(&key)).await;
            if status == 201 {
                break;
            }
            assert_eq!((status, v["error"]["code"].as_str()), (409, Some("in_progress")), "{v}");
            assert!(tokio::time::Instant::now() < deadline, "the key stayed in progress");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        assert_eq!(
            scalar(&app.store, "SELECT COUNT(*) FROM api_orders WHERE out_order_no = $1", &[&format!("IDEM-H{n}")])
                .await,
            1
        );
    }
    assert_eq!(
        scalar(&app.store, "SELECT COUNT(*) FROM api_idempotency WHERE status = 0", &[]).await,
        0,
        "no key left in progress"
    );
    assert_verified(&app.store).await;
    app.stop().await;
});
