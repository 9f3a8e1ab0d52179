//! The open API as an integrator uses it: signed requests, idempotent order creation, the hosted
//! cashier, signed webhooks, query, list with cursors, refunds, close, arrears, bulk receivables,
//! SSO handoff — and every bad request refused with one typed error, nothing created. The
//! webhook retry schedule is checked against an injected clock.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use bursar_domain::api::WebhookState;
use bursar_domain::Clock;
use bursar_engine::api::apps::NewAppInput;
use bursar_engine::api::webhooks::verify_signature;
use bursar_store::api as api_store;
use bursar_store::payments as pay_store;
use serde_json::{json, Value};

use crate::both_stores;
use crate::support::*;

/// A business system's client: signs every request the documented way.
#[derive(Clone)]
pub struct Api {
    pub base: String,
    pub app_id: String,
    pub secret: String,
    http: reqwest::Client,
}

impl Api {
    pub fn new(base: &str, app_id: &str, secret: &str) -> Api {
        Api { base: base.into(), app_id: app_id.into(), secret: secret.into(), http: reqwest::Client::new() }
    }

    pub fn sign(&self, method: &str, path: &str, ts: i64, nonce: &str, body: &[u8]) -> String {
        let msg = bursar_web::api::auth::signing_string(method, path, &ts.to_string(), nonce, body);
        let sig = bursar_engine::access::sso::hmac_hex(&self.secret, &msg);
        format!(
            "BURSAR-HMAC-SHA256 app_id=\"{}\",timestamp=\"{ts}\",nonce=\"{nonce}\",signature=\"{sig}\"",
            self.app_id
        )
    }

    pub async fn call(
        &self,
        method: &str,
        path: &str,
        body: Option<&Value>,
        idem: Option<&str>,
    ) -> (u16, Value, reqwest::header::HeaderMap) {
        let bytes = body.map(|b| b.to_string().into_bytes()).unwrap_or_default();
        let ts = chrono_now();
        let nonce = uuid::Uuid::new_v4().simple().to_string();
        let auth = self.sign(method, path, ts, &nonce, &bytes);
        self.raw(method, path, bytes, Some(auth), idem).await
    }

    pub async fn raw(
        &self,
        method: &str,
        path: &str,
        bytes: Vec<u8>,
        auth: Option<String>,
        idem: Option<&str>,
    ) -> (u16, Value, reqwest::header::HeaderMap) {
        let mut req = self.http.request(method.parse().unwrap(), format!("{}{path}", self.base)).body(bytes);
        req = req.header("Content-Type", "application/json");
        if let Some(a) = auth {
            req = req.header("Authorization", a);
        }
        if let Some(k) = idem {
            req = req.header("Idempotency-Key", k);
        }
        let r = req.send().await.unwrap();
        let status = r.status().as_u16();
        let headers = r.headers().clone();
        let text = r.text().await.unwrap();
        (status, serde_json::from_str(&text).unwrap_or(Value::String(text)), headers)
    }
}

fn chrono_now() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64
}

/// A webhook receiver: records (signature header, body); answers `status`.
#[derive(Clone, Default)]
pub struct Receiver {
    pub got: Arc<Mutex<Vec<(String, String)>>>,
    pub status: Arc<std::sync::atomic::AtomicU16>,
}

pub async fn start_receiver() -> (String, Receiver) {
    let rx = Receiver::default();
    rx.status.store(200, std::sync::atomic::Ordering::SeqCst);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/webhook", listener.local_addr().unwrap());
    let state = rx.clone();
    let router = axum::Router::new()
        .route(
            "/webhook",
            axum::routing::post(
                |axum::extract::State(rx): axum::extract::State<Receiver>,
                 headers: axum::http::HeaderMap,
                 body: String| async move {
                    let sig = headers.get("bursar-signature").and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
                    rx.got.lock().unwrap().push((sig, body));
                    axum::http::StatusCode::from_u16(rx.status.load(std::sync::atomic::Ordering::SeqCst)).unwrap()
                },
            ),
        )
        .with_state(state);
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    (url, rx)
}

pub async fn register(app: &bursar::app::Running, notify_url: &str, items: &[&str], allow: &str) -> Api {
    let items: Vec<String> = items.iter().map(|s| s.to_string()).collect();
    let finance = operator(&app.engine, bursar::demo::FINANCE_USER).await;
    let input = NewAppInput {
        name: "培训系统".into(),
        notify_url: notify_url.into(),
        return_url: "http://127.0.0.1:9/back".into(),
        ip_allowlist: allow.into(),
        fee_item_codes: items,
        rsa_public_key_pem: None,
    };
    let (row, secret) = app.engine.register_app(&finance, &input).await.unwrap();
    Api::new(&app.base_url, &row.app_id, &secret)
}

fn outside_payer() -> Value {
    let id = bursar_domain::payer::complete_resident_id("11010519491231002").unwrap();
    json!({"name": "王外来", "id_number": id})
}

fn order_body(no: &str) -> Value {
    json!({
        "out_order_no": no,
        "payer": outside_payer(),
        "items": [{"fee_item_code": "PXF", "academic_year": "2026-2027", "amount_fen": 88000}],
        "description": "职业技能培训报名",
        "metadata": {"class": "2026-秋-电工"}
    })
}

async fn events_of(rx: &Receiver, kind: &str) -> Vec<Value> {
    rx.got
        .lock()
        .unwrap()
        .iter()
        .filter_map(|(_, b)| serde_json::from_str::<Value>(b).ok())
        .filter(|v| v["type"] == kind)
        .collect()
}

async fn order_count(store: &bursar_store::Store) -> i64 {
    scalar(store, "SELECT COUNT(*) FROM orders", &[]).await
}

both_stores!(an_app_sells_a_training_the_payer_pays_at_the_cashier, |env: TestEnv| async move {
    let app = env.start_demo().await;
    let (hook, rx) = start_receiver().await;
    let api = register(&app, &hook, &["PXF", "CET"], "").await;

    // Create, idempotently.
    let body = order_body("T-2026-0001");
    let (status, order, _) = api.call("POST", "/api/v1/orders", Some(&body), Some("key-1")).await;
    assert_eq!(status, 201, "{order}");
    assert_eq!((order["status"].as_str(), order["amount_fen"].as_i64()), (Some("open"), Some(88000)));
    let before = order_count(&app.store).await;
    let (status, again, headers) = api.call("POST", "/api/v1/orders", Some(&body), Some("key-1")).await;
    assert_eq!((status, &again), (201, &order), "same key, same body: the same response");
    assert_eq!(headers.get("idempotent-replayed").map(|v| v.to_str().unwrap()), Some("true"));
    let (status, e, _) = api.call("POST", "/api/v1/orders", Some(&order_body("T-2026-0002")), Some("key-1")).await;
    assert_eq!((status, e["error"]["type"].as_str()), (409, Some("idempotency_error")));
    let (status, e, _) = api.call("POST", "/api/v1/orders", Some(&body), Some("key-2")).await;
    assert_eq!((status, e["error"]["code"].as_str()), (409, Some("duplicate_out_order_no")));
    assert_eq!(order_count(&app.store).await, before, "nothing more was created");

    // The hosted cashier: the payer chooses WeChat and pays in the simulator.
    let cashier_url = order["cashier_url"].as_str().unwrap().to_string();
    let browser = client();
    let page = browser.get(&cashier_url).send().await.unwrap().text().await.unwrap();
    assert!(page.contains("职业技能培训费") && page.contains("880.00") && page.contains("wechat_native"));
    let r = browser
        .post(&cashier_url)
        .form(&[("csrf", csrf_of(&page).as_str()), ("method", "wechat_native")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    let pay_path = location(&r);
    let pay_page = browser.get(format!("{}{pay_path}", app.base_url)).send().await.unwrap().text().await.unwrap();
    let code_url = between(&pay_page, "code_url=", "\"").map(|c| c.to_string());
    let payment = {
        let mut c = app.store.read().await.unwrap();
        pay_store::payment(&mut c, pay_path.rsplit('/').next().unwrap()).await.unwrap()
    };
    assert!(code_url.is_some(), "a QR with the simulator's phone link");
    app.wechat_sim.as_ref().unwrap().confirm_payment(payment.code_url.as_deref().unwrap(), true).unwrap();
    eventually("order.paid webhook", Duration::from_secs(15), || {
        let rx = rx.clone();
        async move { !events_of(&rx, "order.paid").await.is_empty() }
    })
    .await;
    // The webhook is signed; the app verifies it with its secret.
    let (sig, body) = rx.got.lock().unwrap().iter().find(|(_, b)| b.contains("order.paid")).cloned().unwrap();
    assert!(verify_signature(&api.secret, &sig, &body, chrono_now(), 300), "the webhook signature verifies");
    assert!(!verify_signature("sk_wrong", &sig, &body, chrono_now(), 300));
    let event: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(event["data"]["out_order_no"], "T-2026-0001");

    // Back to the app with a signed result.
    let done = browser.get(format!("{}{pay_path}", app.base_url)).send().await.unwrap().text().await.unwrap();
    let ret =
        crate::channels_portal::unescape(between(&done, "id=\"return-link\" data-autoreturn href=\"", "\"").unwrap());
    assert!(ret.starts_with("http://127.0.0.1:9/back?"));
    let q: Vec<(String, String)> = url_pairs(ret.split_once('?').unwrap().1);
    let sig = q.iter().find(|(k, _)| k == "signature").unwrap().1.clone();
    let signed: Vec<String> = q.iter().filter(|(k, _)| k != "signature").map(|(k, v)| format!("{k}={v}")).collect();
    assert_eq!(bursar_engine::access::sso::hmac_hex(&api.secret, signed.join("&").as_bytes()), sig);
    assert!(signed.contains(&"status=paid".to_string()));
    // The payer, who has no portal account, opens the voucher from the success page; another
    // link's token does not open it.
    let voucher_path = between(&done, "id=\"voucher-link\" href=\"", "\"").expect("a voucher link").to_string();
    let voucher = browser.get(format!("{}{voucher_path}", app.base_url)).send().await.unwrap();
    assert_eq!(voucher.status(), 200);
    let voucher = voucher.text().await.unwrap();
    assert!(
        voucher.contains("缴费凭证") && voucher.contains("人民币捌佰捌拾元整") && voucher.contains("职业技能培训费"),
        "{voucher}"
    );
    assert!(voucher.contains("http://127.0.0.1:9/back?"), "and the way back to the app");
    let forged = voucher_path.replacen("/cashier/", "/cashier/x", 1);
    assert_eq!(browser.get(format!("{}{forged}", app.base_url)).send().await.unwrap().status(), 404);

    // Query, list with a cursor.
    let id = order["id"].as_str().unwrap().to_string();
    let (status, got, _) = api.call("GET", &format!("/api/v1/orders/{id}"), None, None).await;
    assert_eq!((status, got["status"].as_str()), (200, Some("paid")));
    // The same training again in the same year is refused (one bill per payer, item and year:
    // an order resent never doubles it); the next year's is a new bill.
    let (status, e, _) = api.call("POST", "/api/v1/orders", Some(&order_body("T-2026-0003")), None).await;
    assert_eq!((status, e["error"]["code"].as_str()), (409, Some("already_billed")), "{e}");
    let mut next_year = order_body("T-2026-0003");
    next_year["items"][0]["academic_year"] = json!("2027-2028");
    let (status, second, _) = api.call("POST", "/api/v1/orders", Some(&next_year), None).await;
    assert_eq!(status, 201, "{second}");
    let (_, page1, _) = api.call("GET", "/api/v1/orders?limit=1", None, None).await;
    assert_eq!((page1["data"][0]["id"].clone(), page1["has_more"].clone()), (second["id"].clone(), json!(true)));
    let cursor = page1["next_cursor"].as_str().unwrap();
    let (_, page2, _) = api.call("GET", &format!("/api/v1/orders?limit=1&starting_after={cursor}"), None, None).await;
    assert_eq!((page2["data"][0]["id"].as_str(), page2["has_more"].clone()), (Some(id.as_str()), json!(false)));
    let (_, by_no, _) = api.call("GET", "/api/v1/orders?out_order_no=T-2026-0001", None, None).await;
    assert_eq!(by_no["data"][0]["id"].as_str(), Some(id.as_str()));

    // Refund: asked by the app, approved by finance, paid out by the channel, told by webhook.
    app.wechat_sim.as_ref().unwrap().set_refund_delay_ms(50);
    let (status, refund, _) = api
        .call(
            "POST",
            &format!("/api/v1/orders/{id}/refunds"),
            Some(&json!({"amount_fen": 20000, "reason": "学员退课"})),
            Some("r-1"),
        )
        .await;
    assert_eq!((status, refund["status"].as_str()), (201, Some("requested")), "{refund}");
    let (status, e, _) = api
        .call("POST", &format!("/api/v1/orders/{id}/refunds"), Some(&json!({"amount_fen": 90000, "reason": "x"})), None)
        .await;
    assert_eq!((status, e["error"]["type"].as_str()), (422, Some("invalid_request_error")), "more than paid");
    let approver = operator(&app.engine, bursar::demo::APPROVER_USER).await;
    app.engine.decide_refund(&approver, refund["id"].as_str().unwrap(), true, "").await.unwrap();
    eventually("refund.succeeded webhook", Duration::from_secs(20), || {
        let rx = rx.clone();
        async move { !events_of(&rx, "refund.succeeded").await.is_empty() }
    })
    .await;
    let (_, r, _) = api.call("GET", &format!("/api/v1/refunds/{}", refund["id"].as_str().unwrap()), None, None).await;
    assert_eq!(r["status"], "succeeded");

    // Close the unpaid second order: closed, its receivable waived, a webhook.
    let (status, closed, _) =
        api.call("POST", &format!("/api/v1/orders/{}/close", second["id"].as_str().unwrap()), None, None).await;
    assert_eq!((status, closed["status"].as_str()), (200, Some("closed")));
    let (status, e, _) = api.call("POST", &format!("/api/v1/orders/{id}/close"), None, None).await;
    assert_eq!((status, e["error"]["code"].as_str()), (409, Some("order_paid")));
    eventually("order.closed webhook", Duration::from_secs(15), || {
        let rx = rx.clone();
        async move { !events_of(&rx, "order.closed").await.is_empty() }
    })
    .await;

    // Arrears and bulk receivables for identified payers.
    let (student, _) = bursar::demo::first_student_login();
    let bulk = json!({"receivables": [
        {"ref": "B-1", "payer_identifier": student, "fee_item_code": "CET", "academic_year": "2027-2028", "amount_fen": 3000},
        {"ref": "B-2", "payer_identifier": "nobody", "fee_item_code": "CET", "academic_year": "2026-2027", "amount_fen": 3000},
        {"ref": "B-3", "payer_identifier": student, "fee_item_code": "XF", "academic_year": "2026-2027", "amount_fen": 3000}
    ]});
    let (status, res, _) = api.call("POST", "/api/v1/receivables/bulk", Some(&bulk), None).await;
    assert_eq!(status, 200);
    let states: Vec<&str> = res["data"].as_array().unwrap().iter().map(|d| d["status"].as_str().unwrap()).collect();
    assert_eq!(states, ["created", "error", "error"]);
    let (_, res, _) = api.call("POST", "/api/v1/receivables/bulk", Some(&bulk), None).await;
    assert_eq!(res["data"][0]["status"], "existing", "pushed once per ref");
    let (status, arrears, _) = api.call("GET", &format!("/api/v1/payers/{student}/arrears"), None, None).await;
    assert_eq!(status, 200);
    let codes: Vec<&str> =
        arrears["data"].as_array().unwrap().iter().map(|d| d["fee_item_code"].as_str().unwrap()).collect();
    assert!(codes.contains(&"CET") && !codes.contains(&"XF"), "only the app's own fee items: {codes:?}");
    assert_verified(&app.store).await;
    app.stop().await;
});

fn url_pairs(q: &str) -> Vec<(String, String)> {
    q.split('&')
        .filter_map(|p| p.split_once('='))
        .map(|(k, v)| (k.to_string(), bursar_channels::alipay::protocol::form_decode(v)))
        .collect()
}

both_stores!(bad_requests_get_one_typed_error_and_change_nothing, |env: TestEnv| async move {
    let app = env.start_demo().await;
    let (hook, _rx) = start_receiver().await;
    let api = register(&app, &hook, &["PXF"], "").await;
    let before = order_count(&app.store).await;
    let body = order_body("E-1");
    let bytes = body.to_string().into_bytes();
    let now = chrono_now();
    let check = |(status, v, _): (u16, Value, reqwest::header::HeaderMap), want_status: u16, want_code: &str| {
        assert_eq!(status, want_status, "{v}");
        assert_eq!(v["error"]["code"].as_str(), Some(want_code), "{v}");
        assert!(v["error"]["type"].is_string() && v["error"]["message"].is_string());
    };
    check(api.raw("POST", "/api/v1/orders", bytes.clone(), None, None).await, 401, "missing_signature");
    check(
        api.raw("POST", "/api/v1/orders", bytes.clone(), Some("BURSAR-HMAC-SHA256 nonsense".into()), None).await,
        401,
        "malformed_authorization",
    );
    let other = Api::new(&app.base_url, "app_nobody", &api.secret);
    check(other.call("POST", "/api/v1/orders", Some(&body), None).await, 401, "unknown_app");
    let forged = Api::new(&app.base_url, &api.app_id, "sk_wrong");
    check(forged.call("POST", "/api/v1/orders", Some(&body), None).await, 401, "invalid_signature");
    // Signed over another body.
    let auth = api.sign("POST", "/api/v1/orders", now, "nonce-tamper-1", b"{}");
    check(api.raw("POST", "/api/v1/orders", bytes.clone(), Some(auth), None).await, 401, "invalid_signature");
    // Stale, and replayed.
    let auth = api.sign("POST", "/api/v1/orders", now - 600, "nonce-stale-01", &bytes);
    check(api.raw("POST", "/api/v1/orders", bytes.clone(), Some(auth), None).await, 401, "timestamp_out_of_range");
    let auth = api.sign("GET", "/api/v1/orders", now, "nonce-replay-01", b"");
    assert_eq!(api.raw("GET", "/api/v1/orders", vec![], Some(auth.clone()), None).await.0, 200);
    check(api.raw("GET", "/api/v1/orders", vec![], Some(auth), None).await, 401, "replayed_request");
    // Malformed, unknown fields, oversize.
    check(api.call("POST", "/api/v1/orders", Some(&json!({"out_order_no": "E-2"})), None).await, 400, "invalid_json");
    let mut extra = body.clone();
    extra["surprise"] = json!(1);
    check(api.call("POST", "/api/v1/orders", Some(&extra), None).await, 400, "invalid_json");
    let mut big = body.clone();
    big["description"] = json!("x".repeat(300 * 1024));
    check(api.call("POST", "/api/v1/orders", Some(&big), None).await, 413, "body_too_large");
    // Unknown fee item, one not allowed for the app, bad amount, unknown payer, bad ID number.
    let mut b = body.clone();
    b["items"][0]["fee_item_code"] = json!("XF");
    check(api.call("POST", "/api/v1/orders", Some(&b), None).await, 422, "fee_item_not_allowed");
    b["items"][0]["fee_item_code"] = json!("NOPE");
    check(api.call("POST", "/api/v1/orders", Some(&b), None).await, 422, "fee_item_not_allowed");
    let mut b = body.clone();
    b["items"][0]["amount_fen"] = json!(0);
    check(api.call("POST", "/api/v1/orders", Some(&b), None).await, 422, "invalid_amount");
    let mut b = body.clone();
    b["payer"] = json!({"identifier": "no-such-student"});
    check(api.call("POST", "/api/v1/orders", Some(&b), None).await, 422, "unknown_payer");
    let mut b = body.clone();
    b["payer"] = json!({"name": "某人", "id_number": "110105194912310021"});
    check(api.call("POST", "/api/v1/orders", Some(&b), None).await, 422, "invalid_id_number");
    let mut b = body.clone();
    b["payer"] = json!({"identifier": "x", "name": "y"});
    check(api.call("POST", "/api/v1/orders", Some(&b), None).await, 400, "invalid_payer");
    check(api.call("GET", "/api/v1/orders/01a2nonexistent", None, None).await, 404, "not_found");
    check(api.call("GET", "/api/v1/nowhere", None, None).await, 404, "not_found");
    check(api.call("GET", "/api/v1/orders?limit=1000", None, None).await, 400, "invalid_limit");
    assert_eq!(order_count(&app.store).await, before, "nothing was created");

    // An IP allow-list that does not include this client.
    let fenced = register(&app, &hook, &["PXF"], "10.9.9.9").await;
    check(fenced.call("GET", "/api/v1/orders", None, None).await, 403, "ip_not_allowed");

    // Key rotation: the old secret keeps working during the overlap, the new one at once.
    let row = {
        let mut c = app.store.read().await.unwrap();
        api_store::app_by_app_id(&mut c, &api.app_id).await.unwrap().unwrap()
    };
    let finance = operator(&app.engine, bursar::demo::FINANCE_USER).await;
    let new_secret = app.engine.rotate_app_secret(&finance, &row.id, 3_600_000).await.unwrap();
    assert_eq!(api.call("GET", "/api/v1/orders", None, None).await.0, 200, "old secret during the overlap");
    assert_eq!(
        Api::new(&app.base_url, &api.app_id, &new_secret).call("GET", "/api/v1/orders", None, None).await.0,
        200
    );

    // An app registered with an RSA public key may sign with it instead.
    let (private_pem, public_pem) = bursar_channels::crypto::generate_rsa_pem().unwrap();
    let input = NewAppInput {
        name: "RSA 应用".into(),
        notify_url: hook.clone(),
        return_url: "http://127.0.0.1:9/back".into(),
        ip_allowlist: String::new(),
        fee_item_codes: vec!["PXF".to_string()],
        rsa_public_key_pem: Some(public_pem),
    };
    let (rsa_app, _) = app.engine.register_app(&finance, &input).await.unwrap();
    let signer = bursar_channels::crypto::RsaSigner::from_pkcs8_pem(&private_pem).unwrap();
    let rsa_auth = |nonce: &str, signer: &bursar_channels::crypto::RsaSigner| {
        let ts = chrono_now();
        let msg = bursar_web::api::auth::signing_string("GET", "/api/v1/orders", &ts.to_string(), nonce, b"");
        let sig = signer.sign_base64(&msg).unwrap();
        format!(
            "BURSAR-SHA256-RSA2048 app_id=\"{}\",timestamp=\"{ts}\",nonce=\"{nonce}\",signature=\"{sig}\"",
            rsa_app.app_id
        )
    };
    assert_eq!(api.raw("GET", "/api/v1/orders", vec![], Some(rsa_auth("rsa-nonce-0001", &signer)), None).await.0, 200);
    let (other_private, _) = bursar_channels::crypto::generate_rsa_pem().unwrap();
    let wrong = bursar_channels::crypto::RsaSigner::from_pkcs8_pem(&other_private).unwrap();
    check(
        api.raw("GET", "/api/v1/orders", vec![], Some(rsa_auth("rsa-nonce-0002", &wrong)), None).await,
        401,
        "invalid_signature",
    );

    // SSO handoff: signed, short-lived, single use — and only for a payer the app has dealt with.
    let (student, _) = bursar::demo::first_student_login();
    let stranger = bursar_web::cashier::SsoClaims {
        identifier: student.clone(),
        order_id: None,
        exp: chrono_now() + 120,
        nonce: "sso-nonce-0000".into(),
    };
    let token = bursar_web::cashier::sso_token(&new_secret, &stranger).unwrap();
    let r =
        client().get(format!("{}/cashier/sso?app_id={}&token={token}", app.base_url, api.app_id)).send().await.unwrap();
    assert_eq!(r.status(), 422, "not a payer of this app yet");
    let exam = json!({
        "out_order_no": "T-2026-PXF-9",
        "payer": {"identifier": student},
        "items": [{"fee_item_code": "PXF", "academic_year": "2026-2027", "amount_fen": 88000}],
        "description": "培训报名"
    });
    let (status, body, _) = api.call("POST", "/api/v1/orders", Some(&exam), None).await;
    assert_eq!(status, 201, "{body}");
    let claims = bursar_web::cashier::SsoClaims {
        identifier: student.clone(),
        order_id: None,
        exp: chrono_now() + 120,
        nonce: "sso-nonce-0001".into(),
    };
    let token = bursar_web::cashier::sso_token(&new_secret, &claims).unwrap();
    let browser = client();
    let r =
        browser.get(format!("{}/cashier/sso?app_id={}&token={token}", app.base_url, api.app_id)).send().await.unwrap();
    assert_eq!(r.status(), 303);
    assert_eq!(location(&r), "/portal/fees");
    assert_eq!(browser.get(format!("{}/portal/fees", app.base_url)).send().await.unwrap().status(), 200, "signed in");
    let again =
        client().get(format!("{}/cashier/sso?app_id={}&token={token}", app.base_url, api.app_id)).send().await.unwrap();
    assert_eq!(again.status(), 422, "single use");
    let expired = bursar_web::cashier::SsoClaims {
        identifier: student.clone(),
        order_id: None,
        exp: chrono_now() - 1,
        nonce: "sso-nonce-0002".into(),
    };
    let r = client()
        .get(format!(
            "{}/cashier/sso?app_id={}&token={}",
            app.base_url,
            api.app_id,
            bursar_web::cashier::sso_token(&new_secret, &expired).unwrap()
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 422, "expired");
    let forged = bursar_web::cashier::sso_token(
        "sk_wrong",
        &bursar_web::cashier::SsoClaims {
            identifier: student,
            order_id: None,
            exp: chrono_now() + 60,
            nonce: "sso-nonce-0003".into(),
        },
    )
    .unwrap();
    let r = client()
        .get(format!("{}/cashier/sso?app_id={}&token={forged}", app.base_url, api.app_id))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 422, "forged");
    app.stop().await;
});

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webhooks_retry_on_schedule_for_more_than_a_day() {
    let Some(env) = TestEnv::new(Db::Sqlite).await else { return };
    let clock = bursar_domain::ManualClock::new(chrono_now() * 1000);
    let cfg = env.config();
    let inj = bursar::app::Injected {
        clock: Arc::new(clock.clone()),
        sweep_every: Duration::from_millis(50),
        sim_retry_scale: 0.01,
        ..Default::default()
    };
    let app = bursar::app::start(&cfg, inj).await.unwrap();
    bursar::demo::seed_if_empty(&app.engine).await.unwrap();
    bursar::demo::enable_channels(&app.engine).await.unwrap();
    let (hook, rx) = start_receiver().await;
    rx.status.store(503, std::sync::atomic::Ordering::SeqCst);
    let api = register(&app, &hook, &["PXF"], "").await;
    let (status, order, _) = api.call("POST", "/api/v1/orders", Some(&order_body("W-1")), None).await;
    assert_eq!(status, 201, "{order}");
    api.call("POST", &format!("/api/v1/orders/{}/close", order["id"].as_str().unwrap()), None, None).await;
    let event_id = {
        let mut c = app.store.read().await.unwrap();
        let row = api_store::app_by_app_id(&mut c, &api.app_id).await.unwrap().unwrap();
        api_store::events_of_app(&mut c, &row.id, 5).await.unwrap()[0].id.clone()
    };
    let attempts = |n: usize| {
        let rx = rx.clone();
        async move { rx.got.lock().unwrap().len() >= n }
    };
    eventually("first attempt at once", Duration::from_secs(10), || attempts(1)).await;
    let started = clock.now_ms();
    for (i, wait_s) in bursar_engine::api::webhooks::RETRY_SCHEDULE_S.iter().enumerate() {
        // Not a moment before its time…
        clock.advance_ms(wait_s * 1000 - 1_000);
        tokio::time::sleep(Duration::from_millis(200)).await;
        assert_eq!(rx.got.lock().unwrap().len(), i + 1, "attempt {} waits its turn", i + 2);
        // …and then it comes.
        clock.advance_ms(1_000);
        eventually("the next attempt", Duration::from_secs(10), || attempts(i + 2)).await;
    }
    let span_h = (clock.now_ms() - started) / 3_600_000;
    assert!(span_h >= 24, "retried for {span_h} h");
    // No thirteenth attempt: the event is failed, shown to finance for redelivery.
    clock.advance_ms(48 * 3_600_000);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(rx.got.lock().unwrap().len(), 12);
    let e = {
        let mut c = app.store.read().await.unwrap();
        api_store::event(&mut c, &event_id).await.unwrap()
    };
    assert_eq!((e.state, e.attempts), (WebhookState::Failed, 12));
    // Finance redelivers once the endpoint is back.
    rx.status.store(200, std::sync::atomic::Ordering::SeqCst);
    let finance = operator(&app.engine, bursar::demo::FINANCE_USER).await;
    app.engine.redeliver_webhook(&finance, &event_id).await.unwrap();
    eventually("redelivered", Duration::from_secs(10), || {
        let store = app.store.clone();
        let id = event_id.clone();
        async move {
            let mut c = store.read().await.unwrap();
            api_store::event(&mut c, &id).await.unwrap().state == WebhookState::Delivered
        }
    })
    .await;
    // Every attempt carried the same event, signed.
    for (sig, body) in rx.got.lock().unwrap().iter() {
        assert!(body.contains(&event_id));
        assert!(sig.starts_with("t=") && sig.contains(",v1="));
    }
    app.stop().await;
}

both_stores!(finance_registers_apps_and_redelivers_webhooks, |env: TestEnv| async move {
    let app = env.start_demo().await;
    let base = app.base_url.clone();
    let (hook, rx) = start_receiver().await;
    let fin = login_operator(&base, bursar::demo::FINANCE_USER, bursar::demo::FINANCE_PASSWORD).await;
    let page = fin.get(format!("{base}/admin/apps")).send().await.unwrap().text().await.unwrap();
    let form = [
        ("csrf", csrf_of(&page)),
        ("name", "会议注册系统".to_string()),
        ("notify_url", hook.clone()),
        ("return_url", "http://127.0.0.1:9/back".to_string()),
        ("ip_allowlist", String::new()),
        ("item", "PXF".to_string()),
    ];
    let page = fin.post(format!("{base}/admin/apps")).form(&form).send().await.unwrap().text().await.unwrap();
    let app_id = between(&page, "id=\"new-app-id\">", "<").unwrap().to_string();
    let secret = between(&page, "id=\"new-secret\">", "<").unwrap().to_string();
    // The secret is shown once: not on the list afterwards.
    let list = fin.get(format!("{base}/admin/apps")).send().await.unwrap().text().await.unwrap();
    assert!(list.contains(&app_id) && !list.contains(&secret));
    // The app works with it; its events show on its page with every attempt, and can be redelivered.
    let api = Api::new(&base, &app_id, &secret);
    let (status, order, _) = api.call("POST", "/api/v1/orders", Some(&order_body("M-1")), None).await;
    assert_eq!(status, 201, "{order}");
    api.call("POST", &format!("/api/v1/orders/{}/close", order["id"].as_str().unwrap()), None, None).await;
    eventually("delivered", Duration::from_secs(10), || {
        let rx = rx.clone();
        async move { !rx.got.lock().unwrap().is_empty() }
    })
    .await;
    let row_id = between(&list, "<a href=\"/admin/apps/", "\"").unwrap().to_string();
    let detail = fin.get(format!("{base}/admin/apps/{row_id}")).send().await.unwrap().text().await.unwrap();
    assert!(detail.contains("order.closed") && detail.contains("HTTP 200"), "the delivery log");
    let cell = between(&detail, "<td data-label=\"事件\">", "</td>").unwrap();
    let event = between(cell, "data-copy=\"", "\"").unwrap().to_string();
    let r = fin
        .post(format!("{base}/admin/apps/{row_id}/events/{event}/redeliver"))
        .form(&[("csrf", csrf_of(&detail))])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    eventually("redelivered", Duration::from_secs(10), || {
        let rx = rx.clone();
        async move { rx.got.lock().unwrap().len() >= 2 }
    })
    .await;
    // Rotating the secret shows the new one once; the old keeps working during the overlap.
    let r = fin
        .post(format!("{base}/admin/apps/{row_id}/rotate"))
        .form(&[("csrf", csrf_of(&detail)), ("overlap_hours", "1".into())])
        .send()
        .await
        .unwrap();
    let page = r.text().await.unwrap();
    let new_secret = between(&page, "id=\"new-secret\">", "<").unwrap().to_string();
    assert_ne!(new_secret, secret);
    assert_eq!(api.call("GET", "/api/v1/orders", None, None).await.0, 200);
    assert_eq!(Api::new(&base, &app_id, &new_secret).call("GET", "/api/v1/orders", None, None).await.0, 200);
    // The app moved its endpoint: a bad address is refused, a good one takes the next delivery.
    let (hook2, rx2) = start_receiver().await;
    let urls = |notify: &str| {
        let (fin, base, row_id, csrf, notify) =
            (fin.clone(), base.clone(), row_id.clone(), csrf_of(&detail), notify.to_string());
        async move {
            let r = fin
                .post(format!("{base}/admin/apps/{row_id}/urls"))
                .form(&[
                    ("csrf", csrf.as_str()),
                    ("notify_url", notify.as_str()),
                    ("return_url", "https://app.example.edu.cn/back"),
                ])
                .send()
                .await
                .unwrap();
            (r.status().as_u16(), r.text().await.unwrap())
        }
    };
    for bad in ["ftp://x/y", "http:// spaced.example/x", "https://"] {
        let (status, page) = urls(bad).await;
        assert_eq!(status, 422, "{bad}");
        assert!(page.contains("必须是 http(s) 地址"));
    }
    let (status, page) = urls(&hook2).await;
    assert_eq!(status, 200);
    assert!(page.contains("地址已保存"));
    let r = fin
        .post(format!("{base}/admin/apps/{row_id}/events/{event}/redeliver"))
        .form(&[("csrf", csrf_of(&detail))])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    eventually("delivered to the new address", Duration::from_secs(10), || {
        let rx2 = rx2.clone();
        async move { !rx2.got.lock().unwrap().is_empty() }
    })
    .await;
    app.stop().await;
});

both_stores!(an_order_for_what_the_payer_already_owes_pays_it_and_never_doubles_it, |env: TestEnv| async move {
    let app = env.start_demo().await;
    let (hook, _rx) = start_receiver().await;
    let api = register(&app, &hook, &["CET"], "").await;
    // The first demo student owes ¥30 for CET in the portal.
    let (student, _) = first_student(&app.store).await;
    let due = || {
        let (store, id) = (app.store.clone(), student.id.clone());
        async move {
            scalar(
                &store,
                "SELECT r.due_fen FROM receivables r JOIN fee_items f ON f.id = r.fee_item_id
                  WHERE r.payer_id = $1 AND f.code = 'CET' AND r.academic_year = '2026-2027'",
                &[&id],
            )
            .await
        }
    };
    assert_eq!(due().await, 3000);
    let body = |no: &str, amount: i64| {
        json!({
            "out_order_no": no,
            "payer": {"identifier": student.identifier},
            "items": [{"fee_item_code": "CET", "academic_year": "2026-2027", "amount_fen": amount}],
            "description": "四六级报名",
        })
    };
    // The same ¥30: the order pays what is owed; the bill stays ¥30.
    let (status, order, _) = api.call("POST", "/api/v1/orders", Some(&body("CET-1", 3000)), None).await;
    assert_eq!(status, 201, "{order}");
    assert_eq!(due().await, 3000, "attached to the receivable the payer already has");
    // Resent under another number: the same, never ¥60.
    let (status, _, _) = api.call("POST", "/api/v1/orders", Some(&body("CET-2", 3000)), None).await;
    assert_eq!(status, 201);
    assert_eq!(due().await, 3000);
    // More than is owed: refused by name, nothing created.
    let before = order_count(&app.store).await;
    let (status, e, _) = api.call("POST", "/api/v1/orders", Some(&body("CET-3", 6000)), None).await;
    assert_eq!((status, e["error"]["code"].as_str()), (409, Some("already_billed")), "{e}");
    assert_eq!(e["error"]["param"].as_str(), Some("items[0].amount"));
    assert!(e["error"]["message"].as_str().unwrap().contains("尚欠 ¥30.00"), "{e}");
    assert_eq!(order_count(&app.store).await, before);
    assert_eq!(due().await, 3000);
    assert_verified(&app.store).await;
});
