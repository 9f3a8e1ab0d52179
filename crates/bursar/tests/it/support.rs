//! Test support: a fresh store per test on SQLite, and on PostgreSQL when
//! `BURSAR_TEST_POSTGRES_URL` is set (each test in its own schema); the whole platform started
//! in-process on ephemeral ports; small HTML helpers.

use std::path::PathBuf;
use std::time::Duration;

use bursar::app::{self, Injected, Running};
use bursar::config::Config;
use bursar_domain::access::{PayerPrincipal, Principal};
use bursar_domain::payer::PayerKind;
use bursar_domain::payment::PaymentState;
use bursar_engine::Engine;
use bursar_store::payers::{self, PayerRow};
use bursar_store::{Conn, Store};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Db {
    Sqlite,
    Postgres,
}

/// Defines `<name>_sqlite` and `<name>_postgres` tests from one async body taking a `TestEnv`.
#[macro_export]
macro_rules! both_stores {
    ($name:ident, $body:expr) => {
        mod $name {
            use super::*;
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                if let Some(env) = $crate::support::TestEnv::new($crate::support::Db::Sqlite).await {
                    ($body)(env).await;
                }
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                if let Some(env) = $crate::support::TestEnv::new($crate::support::Db::Postgres).await {
                    ($body)(env).await;
                }
            }
        }
    };
}

pub struct TestEnv {
    pub dir: PathBuf,
    pub url: String,
}

impl TestEnv {
    /// A fresh, empty database. `None` (test skipped) for PostgreSQL when no URL is configured,
    /// unless `BURSAR_REQUIRE_POSTGRES=1`, which makes that a failure (CI sets it).
    pub async fn new(db: Db) -> Option<TestEnv> {
        let dir = std::env::temp_dir().join(format!("bursar-it-{}", uuid::Uuid::now_v7().simple()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let url = match db {
            Db::Sqlite => format!("sqlite://{}?mode=rwc", dir.join("bursar.db").display()),
            Db::Postgres => {
                let Ok(base) = std::env::var("BURSAR_TEST_POSTGRES_URL") else {
                    if std::env::var("BURSAR_REQUIRE_POSTGRES").as_deref() == Ok("1") {
                        panic!("BURSAR_REQUIRE_POSTGRES=1 but BURSAR_TEST_POSTGRES_URL is not set");
                    }
                    eprintln!("skipped: set BURSAR_TEST_POSTGRES_URL to run this test on PostgreSQL");
                    return None;
                };
                let schema = format!("t_{}", uuid::Uuid::now_v7().simple());
                sqlx::any::install_default_drivers();
                let admin = sqlx::AnyPool::connect(&base).await.expect("connect to PostgreSQL");
                sqlx::query(&format!("CREATE SCHEMA {schema}")).execute(&admin).await.expect("create schema");
                admin.close().await;
                let sep = if base.contains('?') { '&' } else { '?' };
                format!("{base}{sep}options=-c%20search_path%3D{schema}")
            }
        };
        Some(TestEnv { dir, url })
    }

    pub fn config(&self) -> Config {
        Config {
            listen: "127.0.0.1:0".parse().expect("addr"),
            sim_listen: "127.0.0.1:0".parse().expect("addr"),
            data_dir: self.dir.clone(),
            database_url: Some(self.url.clone()),
            simulators: true,
            ..Config::default()
        }
    }

    /// The platform with simulators and the demo school, started in-process.
    pub async fn start_demo(&self) -> Running {
        self.start_demo_with(|_| {}).await
    }

    /// The same, with the configuration adjusted first.
    pub async fn start_demo_with(&self, adjust: impl FnOnce(&mut Config)) -> Running {
        let mut cfg = self.config();
        adjust(&mut cfg);
        let rule = cfg.initial_password_rule().expect("initial password rule");
        let inj = Injected {
            sim_retry_scale: 0.01,
            sweep_every: Duration::from_millis(200),
            query_delays_ms: Some(vec![300, 300, 500]),
            code_deadline_ms: Some(4_000),
            ..Injected::default()
        };
        let running = app::start(&cfg, inj).await.expect("start");
        bursar::demo::seed_if_empty_with(&running.engine, &rule).await.expect("seed");
        bursar::demo::enable_channels(&running.engine).await.expect("demo channels");
        bursar::demo::ensure_demo_projects(&running.engine).await.expect("demo projects");
        running
    }
}

impl Drop for TestEnv {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A browser-like client: keeps cookies, does not follow redirects (tests assert them).
pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(20))
        .build()
        .expect("client")
}

/// The text between `start` and the next `end` after it.
pub fn between<'a>(html: &'a str, start: &str, end: &str) -> Option<&'a str> {
    let i = html.find(start)? + start.len();
    let j = html[i..].find(end)? + i;
    Some(&html[i..j])
}

pub fn csrf_of(html: &str) -> String {
    between(html, "name=\"csrf\" value=\"", "\"").expect("page has a CSRF token").to_string()
}

/// A redirect's target, without its fragment (which browsers keep to themselves).
pub fn location(resp: &reqwest::Response) -> String {
    let raw = resp.headers().get("location").and_then(|v| v.to_str().ok()).unwrap_or_default();
    raw.split('#').next().unwrap_or_default().to_string()
}

/// Logs in as the first demo student; returns the client.
pub async fn login_student(base: &str) -> reqwest::Client {
    let c = client();
    let page = c.get(format!("{base}/portal/login")).send().await.expect("login page").text().await.expect("text");
    let (user, password) = bursar::demo::first_student_login();
    let resp = c
        .post(format!("{base}/portal/login"))
        .form(&[("identifier", user.as_str()), ("password", password.as_str()), ("csrf", csrf_of(&page).as_str())])
        .send()
        .await
        .expect("login");
    assert_eq!(resp.status(), 303, "login redirects");
    assert_eq!(location(&resp), "/portal/fees");
    c
}

/// Waits until `check` holds or the time is up.
pub async fn eventually<F, Fut>(what: &str, within: Duration, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + within;
    loop {
        if check().await {
            return;
        }
        assert!(tokio::time::Instant::now() < deadline, "timed out waiting for: {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

pub async fn assert_verified(store: &Store) {
    let report = bursar_store::verify::run(store).await.expect("verify");
    assert!(report.is_clean(), "ledger invariants broken:\n{}", report.render());
}

/// Logs an operator (finance or department) in; returns the client.
pub async fn login_operator(base: &str, user: &str, password: &str) -> reqwest::Client {
    let (c, status, _) = try_login_operator(base, user, password).await;
    assert_eq!(status, 303, "{user} logs in");
    c
}

/// Posts an operator's login form: the client, the status and where it sent them.
pub async fn try_login_operator(base: &str, user: &str, password: &str) -> (reqwest::Client, u16, String) {
    let c = client();
    let page = c.get(format!("{base}/admin/login")).send().await.unwrap().text().await.unwrap();
    let r = c
        .post(format!("{base}/admin/login"))
        .form(&[("username", user), ("password", password), ("csrf", csrf_of(&page).as_str())])
        .send()
        .await
        .unwrap();
    let (status, to) = (r.status().as_u16(), location(&r));
    (c, status, to)
}

/// Serves a router (a channel simulator) on an ephemeral port; returns its base URL.
pub async fn serve_router(router: axum::Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    tokio::spawn(async move {
        axum::serve(listener, router).await.expect("serve");
    });
    url
}

/// A payer, by kind and login identifier, and the principal they act as.
pub async fn payer(store: &Store, kind: PayerKind, identifier: &str) -> (PayerRow, Principal) {
    let mut c = store.read().await.expect("conn");
    let row = payers::payer_by_login(&mut c, kind, identifier).await.expect("payer").expect("the payer exists");
    let by = Principal::Payer(PayerPrincipal { id: row.id.clone(), kind: row.kind, via_sso: false });
    (row, by)
}

/// The first demo student and the principal they act as.
pub async fn first_student(store: &Store) -> (PayerRow, Principal) {
    payer(store, PayerKind::EnrolledStudent, &bursar::demo::first_student_login().0).await
}

/// A finance or department operator's principal, by user name.
pub async fn operator(engine: &Engine, username: &str) -> Principal {
    engine.operator_principal(username).await.expect("operator").expect("the operator exists")
}

/// A payment's state.
pub async fn payment_state(store: &Store, id: &str) -> PaymentState {
    let mut c = store.read().await.expect("conn");
    bursar_store::payments::payment(&mut c, id).await.expect("payment").state
}

/// One number from the database (a count, a sum).
pub async fn scalar(store: &Store, sql: &str, binds: &[&str]) -> i64 {
    let mut c = store.read().await.expect("conn");
    let mut q = sqlx::query_scalar::<_, i64>(sql);
    for b in binds {
        q = q.bind(*b);
    }
    q.fetch_one(c.raw()).await.expect("scalar")
}

/// The merchant order number a payment page shows (in full in the identifier's title).
pub fn merchant_order_no_on(page: &str) -> String {
    let at = page.find("商户订单号").expect("the page shows the merchant order number");
    between(&page[at..], "title=\"", "\"").expect("the identifier's full value").to_string()
}

/// Asks for a registration code for `phone` in browser `c` (as the 获取验证码 button does) and
/// reads it from the SMS simulator, as the person would read their phone.
pub async fn sms_code(app: &Running, c: &reqwest::Client, phone: &str) -> String {
    let base = &app.base_url;
    let page = c.get(format!("{base}/portal/register")).send().await.expect("page").text().await.expect("text");
    let empty = String::new();
    let r = c
        .post(format!("{base}/portal/register/code"))
        .form(&[
            ("csrf", csrf_of(&page)),
            ("name", "x".to_string()),
            ("phone", phone.to_string()),
            ("password", empty.clone()),
            ("confirm", empty.clone()),
            ("question1", empty.clone()),
            ("answer1", empty.clone()),
            ("question2", empty.clone()),
            ("answer2", empty),
        ])
        .send()
        .await
        .expect("code");
    assert_eq!(r.status(), 200, "a code is sent");
    assert!(r.text().await.expect("text").contains("验证码已发送至"));
    app.sms_sim.as_ref().expect("the SMS simulator runs").last_code(phone).expect("a code was texted")
}
