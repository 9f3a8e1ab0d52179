//! Bursar's web layer, split by audience: the payer portal (`portal/`), the finance view
//! (`admin/`), the open API and channel notifications (`api/`), and the hosted cashier
//! (`cashier/`), each with its own templates. Handlers parse, call the engine, render; they
//! never touch the store. Every route is declared with its [`guard::Guard`], enforced by a layer
//! on that route (principal kind, permission, CSRF); errors map to HTTP in one place
//! ([`WebError`]); every response carries restrictive security headers.

pub mod admin;
pub mod api;
pub mod captcha;
pub mod cashier;
mod charts;
mod error;
mod fields;
pub mod guard;
pub(crate) mod hygiene;
pub mod i18n;
pub mod notices;
pub mod portal;
pub mod school;
mod views;

use std::sync::Arc;

use axum::extract::State;
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::any;
use axum::Router;
use bursar_engine::Engine;
use guard::{get, post};

pub use error::WebError;
use guard::{Guard, Routes};

/// What the web layer needs to know beyond the engine.
#[derive(Clone, Debug)]
pub struct WebConfig {
    pub school_name: String,
    /// The school's name on English pages (the Chinese name when none is configured).
    pub school_name_en: Option<String>,
    /// How initial passwords are set, for the login page's hint.
    pub initial_password: bursar_domain::payer::InitialPasswordRule,
    /// Set the `Secure` flag on cookies and send HSTS (true whenever Bursar is served over HTTPS).
    pub secure_cookies: bool,
    /// Reverse proxies whose `X-Forwarded-For` names the client (see [`guard::Source`]).
    pub trusted_proxies: Vec<std::net::IpAddr>,
    /// Keys the captcha tokens and the simulated openid.
    pub id_digest_key: Vec<u8>,
    /// The channel simulators' base URL, when they run (demo): the payment page links to the
    /// simulated phone / cashier, and JSAPI payments open the simulated WeChat payment sheet.
    pub sim_base_url: Option<String>,
    /// The school's names, logo and seal as 系统设置 last said (see [`school`]).
    pub profile: school::SharedProfile,
}

impl WebConfig {
    /// The school's name in the request's language: as set in 系统设置, else as configured. A
    /// school that renamed itself in Chinese and gave no English name reads in Chinese.
    pub fn school_name(&self) -> String {
        let p = school::current(&self.profile);
        let zh = p.name_zh.clone().unwrap_or_else(|| self.school_name.clone());
        match i18n::current() {
            i18n::Lang::En => match (p.name_en, p.name_zh) {
                (Some(en), _) => en,
                (None, Some(_)) => zh,
                (None, None) => self.school_name_en.clone().unwrap_or(zh),
            },
            _ => zh,
        }
    }

    /// The school's Chinese name (settings pages, whatever the language).
    pub fn school_name_zh(&self) -> String {
        school::current(&self.profile).name_zh.unwrap_or_else(|| self.school_name.clone())
    }

    /// Where pages find the logo and the seal (the seal as a `data:` address; empty when not set).
    pub fn image_url(&self, kind: bursar_engine::school_profile::ImageKind) -> String {
        match kind {
            bursar_engine::school_profile::ImageKind::Logo => school::logo_url(&school::current(&self.profile)),
            bursar_engine::school_profile::ImageKind::Seal => school::seal_data(&self.profile),
        }
    }
}

#[derive(Clone)]
pub struct AppState {
    pub engine: Engine,
    pub config: Arc<WebConfig>,
}

/// Every route of the platform with its guard (the router is built from this list only).
pub fn routes() -> Routes {
    Routes::new()
        .route("/", Guard::Public, get(|| async { Redirect::to("/portal") }))
        .route("/healthz", Guard::Public, get(healthz))
        .route("/favicon.ico", Guard::Public, get(|| async { StatusCode::NO_CONTENT }))
        .route(
            "/assets/app.css",
            Guard::Public,
            get(|| async { asset("text/css; charset=utf-8", include_str!("../assets/app.css")) }),
        )
        .route(
            "/assets/app.js",
            Guard::Public,
            get(|| async { asset("text/javascript; charset=utf-8", include_str!("../assets/app.js")) }),
        )
        .route("/lang/{code}", Guard::Public, get(i18n::switch))
        .route("/notify/{channel}", Guard::Channel, post(api::notify::notify).body_limit(api::notify::MAX_NOTICE_BYTES))
        .merge(portal::routes())
        .merge(admin::routes())
        .merge(api::routes())
        .merge(cashier::routes())
        .merge(school::routes())
}

pub fn router(state: AppState) -> Router {
    let (router, _) = routes().into_parts();
    router
        .fallback(any(|| async { WebError::NotFound }))
        .layer(middleware::from_fn_with_state(state.clone(), guard::session_layer))
        .layer(middleware::from_fn_with_state(state.clone(), school::layer))
        .layer(middleware::from_fn(hygiene::layer))
        .layer(middleware::from_fn(i18n::locale))
        .layer(middleware::from_fn_with_state(state.clone(), security_headers))
        // Outermost: the whole request (its language scope included) runs as its own task.
        .layer(middleware::from_fn(run_to_completion))
        .with_state(state)
}

/// A request that changes something runs to its end even when the client hangs up: the work
/// (and its idempotency record) is a task of its own, which a dropped connection does not
/// cancel half-way.
async fn run_to_completion(req: axum::extract::Request, next: Next) -> Response {
    if req.method() == axum::http::Method::GET || req.method() == axum::http::Method::HEAD {
        return next.run(req).await;
    }
    match tokio::spawn(next.run(req)).await {
        Ok(resp) => resp,
        Err(e) => {
            tracing::error!(error = %e, "a request's task failed");
            WebError::Internal("request task failed".into()).into_response()
        }
    }
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

async fn security_headers(State(s): State<AppState>, req: axum::extract::Request, next: Next) -> Response {
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
    if s.config.secure_cookies {
        // Served over HTTPS: browsers must never fall back to plain HTTP.
        h.insert(header::STRICT_TRANSPORT_SECURITY, HeaderValue::from_static("max-age=31536000; includeSubDomains"));
    }
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(header::REFERRER_POLICY, HeaderValue::from_static("same-origin"));
    if !h.contains_key(header::CACHE_CONTROL) {
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    resp
}
