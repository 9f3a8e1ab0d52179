//! Bursar's web layer: the payer portal (`/portal`), the finance view (`/admin`) and the channel
//! notification endpoints (`/notify/{channel}`). Errors map to HTTP in one place ([`WebError`]);
//! every route that shows or changes data requires a session of the right kind, every form
//! carries a CSRF token, and every response carries restrictive security headers.

mod account;
mod admin;
pub mod api;
mod apps;
pub mod auth;
pub mod captcha;
pub mod cashier;
mod channels;
mod counter;
mod error;
pub mod i18n;
mod imports;
mod notify;
mod portal;
mod projects;
mod refunds;
mod views;

use std::sync::Arc;

use axum::extract::State;
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::Router;
use bursar_engine::Engine;

pub use error::WebError;

/// What the web layer needs to know beyond the engine.
#[derive(Clone, Debug)]
pub struct WebConfig {
    pub school_name: String,
    /// The school's name on English pages (the Chinese name when none is configured).
    pub school_name_en: Option<String>,
    /// How initial passwords are set, for the login page's hint.
    pub initial_password: bursar_domain::payer::InitialPasswordRule,
    /// Set the `Secure` flag on cookies (true whenever Bursar is served over HTTPS).
    pub secure_cookies: bool,
    /// Keys the digest of ID numbers kept for look-up (never the number itself).
    pub id_digest_key: Vec<u8>,
    /// The channel simulators' base URL, when they run (demo): the payment page links to the
    /// simulated phone / cashier, and JSAPI payments open the simulated WeChat payment sheet.
    pub sim_base_url: Option<String>,
    /// Failed logins before an account is locked, and for how long.
    pub max_login_failures: i64,
    pub lockout_ms: i64,
}

impl WebConfig {
    /// The school's name in the request's language.
    pub fn school_name(&self) -> String {
        match (i18n::current(), &self.school_name_en) {
            (i18n::Lang::En, Some(en)) => en.clone(),
            _ => self.school_name.clone(),
        }
    }
}

#[derive(Clone)]
pub struct AppState {
    pub engine: Engine,
    pub config: Arc<WebConfig>,
}

pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/", get(|| async { Redirect::to("/portal") }))
        .route("/healthz", get(healthz))
        .route("/assets/app.css", get(|| async { asset("text/css; charset=utf-8", include_str!("../assets/app.css")) }))
        .route(
            "/assets/app.js",
            get(|| async { asset("text/javascript; charset=utf-8", include_str!("../assets/app.js")) }),
        )
        .merge(portal::routes())
        .merge(account::routes())
        .merge(admin::routes())
        .merge(projects::routes())
        .route("/lang/{code}", get(i18n::switch))
        .route("/notify/{channel}", post(notify::notify))
        .merge(api::routes())
        .merge(cashier::routes())
        .fallback(|| async { WebError::NotFound })
        .layer(middleware::from_fn(i18n::locale))
        .layer(middleware::from_fn(security_headers))
        .with_state(state)
}

fn asset(content_type: &'static str, body: &'static str) -> Response {
    ([(header::CONTENT_TYPE, content_type), (header::CACHE_CONTROL, "public, max-age=3600")], body).into_response()
}

async fn healthz(State(s): State<AppState>) -> Response {
    if s.engine.store().ping().await {
        (StatusCode::OK, "ok").into_response()
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "store unreachable").into_response()
    }
}

async fn security_headers(req: axum::extract::Request, next: Next) -> Response {
    let started = std::time::Instant::now();
    let mut resp = next.run(req).await;
    // How long Bursar took (handler, store, templates), for benchmarks and browser dev tools.
    let ms = started.elapsed().as_secs_f64() * 1000.0;
    if let Ok(v) = HeaderValue::from_str(&format!("app;dur={ms:.2}")) {
        resp.headers_mut().insert("server-timing", v);
    }
    let h = resp.headers_mut();
    // A page that posts to a channel's gateway sets its own policy (naming that gateway).
    if !h.contains_key(header::CONTENT_SECURITY_POLICY) {
        h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static("default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"),
    );
    }
    h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(header::REFERRER_POLICY, HeaderValue::from_static("same-origin"));
    if !h.contains_key(header::CACHE_CONTROL) {
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    resp
}
