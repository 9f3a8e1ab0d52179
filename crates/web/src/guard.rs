//! Every route declares its guard, and the guard is enforced by a layer on that route: the router
//! is built only through [`Routes`], which records each route's guard (so a test can walk them
//! all) and wraps its handler in the guard. One middleware resolves the session cookie to the
//! principal once per request; the guard layer then checks the principal's kind and permission,
//! and the CSRF token of every state-changing request (one place for both).

use std::sync::Arc;

use axum::body::Body;
use axum::extract::{FromRequestParts, Request, State};
use axum::handler::Handler;
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, HeaderValue, Method};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::MethodRouter;
use axum::Router;
use bursar_domain::access::{Permission, Principal};
use bursar_engine::access::sessions::Session;

use crate::{AppState, WebError};

pub const SESSION_COOKIE: &str = "bursar_session";
pub const LOGIN_CSRF_COOKIE: &str = "bursar_login_csrf";
/// The largest form body read to find its CSRF token.
const MAX_FORM_BYTES: usize = 1024 * 1024;
/// The largest upload (multipart) body.
pub const MAX_UPLOAD_BYTES: usize = 11 * 1024 * 1024;

/// Who may reach a route.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Guard {
    /// Anyone: login and registration pages, assets, published projects, receipt checks. A
    /// state-changing request must echo the login form's CSRF cookie.
    Public,
    /// A logged-in payer who has changed any initial password.
    Payer,
    /// A logged-in payer who may still have to change an initial password (account, logout).
    PayerInitial,
    /// Any logged-in operator.
    Operator,
    /// An operator holding this permission.
    Permission(Permission),
    /// A business system's signed request (verified by the API's signature layer).
    App,
    /// A channel's notification (verified by the channel's adapter).
    Channel,
    /// A hosted-cashier link: the token in the path is the credential; forms echo the login
    /// CSRF cookie.
    CashierLink,
    /// A channel's gateway bringing the payer back (a cross-site POST): it changes nothing.
    GatewayReturn,
}

impl Guard {
    /// Whether anyone may reach the route without a session, a signature or a verified message.
    pub fn is_public(self) -> bool {
        matches!(self, Guard::Public | Guard::GatewayReturn)
    }
}

/// One declared route: a path, the methods it answers and the guard in front of them.
#[derive(Clone, Debug)]
pub struct Declared {
    pub path: &'static str,
    pub methods: Vec<Method>,
    pub guard: Guard,
}

/// A route's handlers by method, recording which methods it answers (so the declared list is
/// the router's own, not a second list kept by hand). Built with [`get`] and [`post`].
pub struct Methods {
    router: MethodRouter<AppState>,
    methods: Vec<Method>,
}

macro_rules! method_fns {
    ($($name:ident => $method:ident),* $(,)?) => {
        $(
            /// A route answering this method with `handler`.
            pub fn $name<H, T>(handler: H) -> Methods
            where
                H: Handler<T, AppState>,
                T: 'static,
            {
                Methods { router: axum::routing::$name(handler), methods: vec![Method::$method] }
            }
        )*
        impl Methods {
            $(
                /// This method too, with `handler`.
                pub fn $name<H, T>(mut self, handler: H) -> Methods
                where
                    H: Handler<T, AppState>,
                    T: 'static,
                {
                    self.router = self.router.$name(handler);
                    self.methods.push(Method::$method);
                    self
                }
            )*
        }
    };
}

method_fns!(get => GET, post => POST, put => PUT, patch => PATCH, delete => DELETE);

impl Methods {
    /// Raises the body limit for these handlers (uploads).
    pub fn body_limit(mut self, bytes: usize) -> Methods {
        self.router = self.router.layer(axum::extract::DefaultBodyLimit::max(bytes));
        self
    }
}

/// The router under construction, with every route's declared guard.
#[derive(Default)]
pub struct Routes {
    router: Router<AppState>,
    declared: Vec<Declared>,
}

impl Routes {
    pub fn new() -> Routes {
        Routes::default()
    }

    /// Adds every route of another set.
    pub fn merge(mut self, other: Routes) -> Routes {
        self.router = self.router.merge(other.router);
        self.declared.extend(other.declared);
        self
    }

    /// Adds a route behind a guard (the guard wraps all its methods). A path may be declared
    /// more than once, with other methods and another guard.
    pub fn route(mut self, path: &'static str, guard: Guard, methods: Methods) -> Routes {
        let layered = methods.router.route_layer(middleware::from_fn_with_state(guard, enforce));
        self.router = self.router.route(path, layered);
        self.declared.push(Declared { path, methods: methods.methods, guard });
        self
    }

    pub fn declared(&self) -> &[Declared] {
        &self.declared
    }

    pub fn into_parts(self) -> (Router<AppState>, Vec<Declared>) {
        (self.router, self.declared)
    }
}

/// The logged-in person behind a request, resolved once by [`session_layer`].
#[derive(Clone, Debug)]
pub struct Current {
    pub session: Session,
    pub token: String,
}

impl Current {
    pub fn principal(&self) -> &Principal {
        &self.session.principal
    }
    pub fn csrf(&self) -> &str {
        &self.session.csrf
    }
}

pub fn cookie_value(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.to_string())
}

pub fn set_cookie(resp: &mut Response, name: &str, value: &str, max_age_secs: i64, secure: bool) {
    let secure = if secure { "; Secure" } else { "" };
    let cookie = format!("{name}={value}; Path=/; HttpOnly; SameSite=Lax; Max-Age={max_age_secs}{secure}");
    if let Ok(v) = HeaderValue::from_str(&cookie) {
        resp.headers_mut().append(header::SET_COOKIE, v);
    }
}

/// Resolves who is calling, once per request: a business system by its signed request (open
/// API paths), or the session cookie's principal.
pub async fn session_layer(State(s): State<AppState>, mut req: Request, next: Next) -> Response {
    if crate::api::auth::is_signed_path(req.uri().path()) {
        return match crate::api::auth::authenticate(&s, req).await {
            Ok((mut req, caller)) => {
                req.extensions_mut().insert(Arc::new(caller));
                next.run(req).await
            }
            Err(e) => e.into_response(),
        };
    }
    if let Some(token) = cookie_value(req.headers(), SESSION_COOKIE).filter(|t| t.len() == 64) {
        match s.engine.session(&token).await {
            Ok(Some(session)) => {
                req.extensions_mut().insert(Arc::new(Current { session, token }));
            }
            Ok(None) => {}
            Err(e) => return WebError::from(e).into_response(),
        }
    }
    next.run(req).await
}

fn is_safe(m: &Method) -> bool {
    matches!(*m, Method::GET | Method::HEAD | Method::OPTIONS)
}

fn login_path(req: &Request) -> &'static str {
    if req.uri().path().starts_with("/admin") {
        "/admin/login"
    } else {
        "/portal/login"
    }
}

async fn enforce(State(guard): State<Guard>, req: Request, next: Next) -> Response {
    match check(guard, req).await {
        Ok(req) => next.run(req).await,
        Err(resp) => resp,
    }
}

/// The guard's decision; the request (its body restored) when it passes.
async fn check(guard: Guard, req: Request) -> Result<Request, Response> {
    let current = req.extensions().get::<Arc<Current>>().cloned();
    let unsafe_method = !is_safe(req.method());
    // A state-changing request from another site is refused outright (browsers say so).
    let cross_site =
        req.headers().get("sec-fetch-site").and_then(|v| v.to_str().ok()).is_some_and(|v| v == "cross-site");
    let err = |e: WebError| e.into_response();
    let expected_csrf: Option<String> = match guard {
        Guard::Channel | Guard::GatewayReturn => return Ok(req),
        Guard::App => {
            return match req.extensions().get::<Arc<crate::api::auth::ApiCaller>>() {
                Some(_) => Ok(req),
                None => Err(crate::api::ApiError::unauthenticated().into_response()),
            };
        }
        Guard::Public | Guard::CashierLink => {
            if !unsafe_method {
                return Ok(req);
            }
            Some(cookie_value(req.headers(), LOGIN_CSRF_COOKIE).unwrap_or_default())
        }
        Guard::Payer | Guard::PayerInitial => {
            let Some(c) = current.as_ref().filter(|c| c.principal().payer().is_some()) else {
                return Err(login_required(&req, "/portal/login"));
            };
            if guard == Guard::Payer && c.session.must_change_password {
                return Err(Redirect::to("/portal/account/password").into_response());
            }
            unsafe_method.then(|| c.csrf().to_string())
        }
        Guard::Operator | Guard::Permission(_) => {
            let Some(c) = current.as_ref().filter(|c| c.principal().operator().is_some()) else {
                return Err(login_required(&req, login_path(&req)));
            };
            // A temporary password set by the system administrator is changed before anything else.
            let path = req.uri().path();
            let must_change = c.session.must_change_password || c.session.password_expired;
            if must_change && path != "/admin/account" && path != "/admin/logout" {
                return Err(Redirect::to("/admin/account").into_response());
            }
            // Roles that approve money set up their second factor (动态口令) first.
            let setup_paths = ["/admin/account/second-factor", "/admin/account", "/admin/logout"];
            if c.session.second_factor_missing && !setup_paths.contains(&path) {
                return Err(Redirect::to("/admin/account/second-factor").into_response());
            }
            if let Guard::Permission(p) = guard {
                if let Err(e) = c.principal().require(p) {
                    return Err(err(WebError::Forbidden(e.to_string())));
                }
            }
            unsafe_method.then(|| c.csrf().to_string())
        }
    };
    let Some(expected) = expected_csrf else { return Ok(req) };
    if cross_site {
        return Err(err(WebError::BadCsrf));
    }
    let (req, submitted) = csrf_of(req).await.map_err(err)?;
    let ok = !expected.is_empty()
        && submitted.as_deref().is_some_and(|s| bursar_channels::crypto::ct_eq(expected.as_bytes(), s.as_bytes()));
    if ok {
        Ok(req)
    } else {
        Err(err(WebError::BadCsrf))
    }
}

fn login_required(req: &Request, path: &'static str) -> Response {
    // Back to the page asked for after logging in (the portal's own pages only).
    let here = req.uri().path();
    let target = if path == "/portal/login" && here.starts_with("/portal/") && here != "/portal/fees" {
        // A request path is already percent-encoded and holds no `?`, `#` or `&`.
        format!("{path}?next={here}")
    } else {
        path.to_string()
    };
    if is_safe(req.method()) {
        Redirect::to(&target).into_response()
    } else {
        WebError::LoginRequired { login_path: target }.into_response()
    }
}

/// The CSRF token a request carries: `csrf` in the query string (uploads only), or the `csrf`
/// field of a form body (read, then put back for the handler).
async fn csrf_of(req: Request) -> Result<(Request, Option<String>), WebError> {
    let content_type = req.headers().get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
    let multipart = content_type.starts_with("multipart/form-data");
    // In the address only for uploads (their form names it there); a token in a URL is one
    // that ends up in logs and Referer headers, so nothing else accepts it.
    let from_query = req
        .uri()
        .query()
        .filter(|_| multipart)
        .and_then(|q| form_urlencoded::parse(q.as_bytes()).find(|(k, _)| k == "csrf").map(|(_, v)| v.into_owned()));
    if from_query.is_some() {
        return Ok((req, from_query));
    }
    if !multipart && !content_type.starts_with("application/x-www-form-urlencoded") {
        return Ok((req, None));
    }
    let (parts, body) = req.into_parts();
    let limit = if multipart { MAX_UPLOAD_BYTES } else { MAX_FORM_BYTES };
    let too_large = || WebError::BadRequest(format!("提交的内容过大（不超过 {} MB）", limit / (1024 * 1024)));
    let bytes = axum::body::to_bytes(body, limit).await.map_err(|_| too_large())?;
    let token = if multipart {
        multipart_field(&content_type, bytes.clone(), "csrf").await
    } else {
        form_urlencoded::parse(&bytes).find(|(k, _)| k == "csrf").map(|(_, v)| v.into_owned())
    };
    Ok((Request::from_parts(parts, Body::from(bytes)), token))
}

/// The text of one field of a multipart body (its other parts are skipped).
async fn multipart_field(content_type: &str, bytes: axum::body::Bytes, name: &str) -> Option<String> {
    use axum::extract::FromRequest;
    let req = Request::builder().header(header::CONTENT_TYPE, content_type).body(Body::from(bytes)).ok()?;
    let mut form = axum::extract::Multipart::from_request(req, &()).await.ok()?;
    while let Ok(Some(field)) = form.next_field().await {
        if field.name() == Some(name) {
            return field.text().await.ok();
        }
    }
    None
}

/// The logged-in payer (routes guarded by [`Guard::Payer`] or [`Guard::PayerInitial`]).
pub struct PayerCtx(pub Arc<Current>);

impl FromRequestParts<AppState> for PayerCtx {
    type Rejection = WebError;
    async fn from_request_parts(parts: &mut Parts, _: &AppState) -> Result<Self, Self::Rejection> {
        parts
            .extensions
            .get::<Arc<Current>>()
            .filter(|c| c.principal().payer().is_some())
            .cloned()
            .map(PayerCtx)
            .ok_or(WebError::LoginRequired { login_path: "/portal/login".into() })
    }
}

/// The logged-in operator (routes guarded by [`Guard::Operator`] or [`Guard::Permission`]).
pub struct OperatorCtx(pub Arc<Current>);

impl FromRequestParts<AppState> for OperatorCtx {
    type Rejection = WebError;
    async fn from_request_parts(parts: &mut Parts, _: &AppState) -> Result<Self, Self::Rejection> {
        parts
            .extensions
            .get::<Arc<Current>>()
            .filter(|c| c.principal().operator().is_some())
            .cloned()
            .map(OperatorCtx)
            .ok_or(WebError::LoginRequired { login_path: "/admin/login".into() })
    }
}

/// Whoever is logged in, if anyone (public pages that greet a logged-in payer).
pub struct MaybeCurrent(pub Option<Arc<Current>>);

impl FromRequestParts<AppState> for MaybeCurrent {
    type Rejection = WebError;
    async fn from_request_parts(parts: &mut Parts, _: &AppState) -> Result<Self, Self::Rejection> {
        Ok(MaybeCurrent(parts.extensions.get::<Arc<Current>>().cloned()))
    }
}

/// The network address a request came from: the peer, or — when the peer is one of the
/// configured reverse proxies — the last address that proxy put in `X-Forwarded-For` (the one
/// it saw; anything before it the client could have written itself).
pub struct Source(pub std::net::IpAddr);

impl FromRequestParts<AppState> for Source {
    type Rejection = WebError;
    async fn from_request_parts(parts: &mut Parts, s: &AppState) -> Result<Self, Self::Rejection> {
        let peer = parts
            .extensions
            .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
            .map(|c| c.0.ip())
            .unwrap_or(std::net::IpAddr::from([127, 0, 0, 1]));
        if !s.config.trusted_proxies.contains(&peer) {
            return Ok(Source(peer));
        }
        let forwarded = parts
            .headers
            .get_all("x-forwarded-for")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .filter_map(|a| a.trim().parse::<std::net::IpAddr>().ok())
            .next_back();
        Ok(Source(forwarded.unwrap_or(peer)))
    }
}

/// The CSRF token for a login form: a random value in a short-lived cookie, echoed by the form.
pub fn login_csrf(headers: &HeaderMap) -> (String, bool) {
    match cookie_value(headers, LOGIN_CSRF_COOKIE).filter(|v| v.len() == 64) {
        Some(v) => (v, false),
        None => (bursar_engine::access::passwords::random_token(), true),
    }
}

/// Sets the login-form CSRF cookie on a page that needs a fresh one.
pub fn with_login_csrf(mut resp: Response, csrf: &str, fresh: bool, secure: bool) -> Response {
    if fresh {
        set_cookie(&mut resp, LOGIN_CSRF_COOKIE, csrf, 3600, secure);
    }
    resp
}

/// Sets the cookie of a session just started (and clears the login form's CSRF cookie).
pub fn start_cookie(resp: &mut Response, s: &AppState, started: &bursar_engine::access::sessions::Started) {
    let ttl_s = started.ttl_ms / 1000;
    set_cookie(resp, SESSION_COOKIE, &started.token, ttl_s, s.config.secure_cookies);
    set_cookie(resp, LOGIN_CSRF_COOKIE, "", 0, s.config.secure_cookies);
}

/// Clears the session cookie.
pub fn end_cookie(resp: &mut Response, s: &AppState) {
    set_cookie(resp, SESSION_COOKIE, "", 0, s.config.secure_cookies);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cookies_parse() {
        let mut h = HeaderMap::new();
        h.insert(header::COOKIE, HeaderValue::from_static("a=1; bursar_session=abc; c=3"));
        assert_eq!(cookie_value(&h, SESSION_COOKIE).as_deref(), Some("abc"));
        assert_eq!(cookie_value(&h, "zz"), None);
    }
}
