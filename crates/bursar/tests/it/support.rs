//! Test support: a fresh store per test on SQLite, and on PostgreSQL when
//! `BURSAR_TEST_POSTGRES_URL` is set (each test in its own schema); the whole platform started
//! in-process on ephemeral ports; small HTML helpers.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use bursar::app::{self, Injected, Running};
use bursar::config::Config;
use bursar_domain::{SystemClock, UuidV7Ids};
use bursar_store::Store;

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

    pub async fn store(&self) -> Store {
        Store::open(&self.url, Arc::new(SystemClock), Arc::new(UuidV7Ids)).await.expect("open store")
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
        let store = app::open_store(&cfg, Arc::new(SystemClock), Arc::new(UuidV7Ids)).await.expect("store");
        let key = app::read_id_digest_key(&cfg.data_dir).expect("key");
        let rule = cfg.initial_password_rule().expect("initial password rule");
        bursar::demo::seed_if_empty_with(&store, &key, &rule).await.expect("seed");
        let inj = Injected {
            sim_retry_scale: 0.01,
            sweep_every: Duration::from_millis(200),
            query_delays_ms: Some(vec![300, 300, 500]),
            code_deadline_ms: Some(4_000),
            ..Injected::default()
        };
        let running = app::start_with_store(&cfg, inj, store).await.expect("start");
        bursar::demo::enable_channels(&running.store).await.expect("demo channels");
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
    let mut c = store.read().await.expect("conn");
    let report = bursar_store::verify::run(&mut c).await.expect("verify");
    assert!(report.is_clean(), "ledger invariants broken:\n{}", report.render());
}

/// Logs an operator (finance or department) in; returns the client.
pub async fn login_operator(base: &str, user: &str, password: &str) -> reqwest::Client {
    let c = client();
    let page = c.get(format!("{base}/admin/login")).send().await.unwrap().text().await.unwrap();
    let r = c
        .post(format!("{base}/admin/login"))
        .form(&[("username", user), ("password", password), ("csrf", csrf_of(&page).as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303, "{user} logs in");
    c
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
