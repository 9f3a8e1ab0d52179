//! Passwords (argon2id), sessions (random token in an HttpOnly cookie, stored as a digest),
//! CSRF tokens, login throttling, and the extractors that guard every route.

use argon2::password_hash::{rand_core::OsRng, PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, HeaderValue};
use axum::response::Response;
use bursar_store::sessions;

use crate::{AppState, WebError};

pub const SESSION_COOKIE: &str = "bursar_session";
pub const LOGIN_CSRF_COOKIE: &str = "bursar_login_csrf";
const SESSION_TTL_MS: i64 = 2 * 60 * 60 * 1000;

pub fn hash_password(password: &str) -> Result<String, WebError> {
    let salt = SaltString::generate(&mut OsRng);
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| WebError::Internal(format!("password hashing: {e}")))
}

pub fn verify_password(password: &str, hash: &str) -> bool {
    PasswordHash::new(hash).is_ok_and(|parsed| Argon2::default().verify_password(password.as_bytes(), &parsed).is_ok())
}

/// A hash to verify against when the account does not exist, so that a wrong user name and a
/// wrong password take the same time.
pub fn dummy_hash() -> &'static str {
    static DUMMY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    DUMMY.get_or_init(|| hash_password("not-a-real-password").unwrap_or_default())
}

pub fn random_token() -> String {
    use rand::RngCore;
    let mut b = [0u8; 32];
    rand::thread_rng().fill_bytes(&mut b);
    hex::encode(b)
}

/// HMAC-SHA256 of a normalised ID number under the site key: lets Bursar find a payer by ID
/// number (new-student login) without storing the number.
pub fn id_number_digest(key: &[u8], id_number: &str) -> String {
    let k = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, key);
    hex::encode(ring::hmac::sign(&k, bursar_domain::payer::normalize_id_number(id_number).as_bytes()).as_ref())
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

/// Compares a submitted CSRF token with the expected one in constant time.
pub fn check_csrf(expected: &str, submitted: Option<&str>) -> Result<(), WebError> {
    let submitted = submitted.unwrap_or("");
    if !expected.is_empty() && bursar_channels::crypto::ct_eq(expected.as_bytes(), submitted.as_bytes()) {
        Ok(())
    } else {
        Err(WebError::BadCsrf)
    }
}

/// Starts a session for a subject and sets its cookie on `resp`.
/// Starts a session for one subject; the browser's previous session, if any, ends (one payer
/// per browser session, and no session id survives a login).
pub async fn start_session(
    state: &AppState,
    request: &HeaderMap,
    resp: &mut Response,
    subject_kind: &str,
    subject_id: &str,
) -> Result<(), WebError> {
    let token = random_token();
    let csrf = random_token();
    let store = state.engine.store();
    let now = store.now_ms();
    let mut c = store.read().await?;
    sessions::delete_expired(&mut c, now).await?;
    if let Some(previous) = cookie_value(request, SESSION_COOKIE) {
        sessions::delete(&mut c, &previous).await?;
    }
    sessions::create(&mut c, &token, subject_kind, subject_id, &csrf, now, SESSION_TTL_MS).await?;
    set_cookie(resp, SESSION_COOKIE, &token, SESSION_TTL_MS / 1000, state.config.secure_cookies);
    set_cookie(resp, LOGIN_CSRF_COOKIE, "", 0, state.config.secure_cookies);
    Ok(())
}

pub async fn end_session(state: &AppState, headers: &HeaderMap, resp: &mut Response) -> Result<(), WebError> {
    if let Some(token) = cookie_value(headers, SESSION_COOKIE) {
        let mut c = state.engine.store().read().await?;
        sessions::delete(&mut c, &token).await?;
    }
    set_cookie(resp, SESSION_COOKIE, "", 0, state.config.secure_cookies);
    Ok(())
}

async fn session_of(
    state: &AppState,
    headers: &HeaderMap,
    kind: &str,
) -> Result<Option<sessions::SessionRow>, WebError> {
    let Some(token) = cookie_value(headers, SESSION_COOKIE) else {
        return Ok(None);
    };
    let store = state.engine.store();
    let mut c = store.read().await?;
    Ok(sessions::find(&mut c, &token, store.now_ms()).await?.filter(|s| s.subject_kind == kind))
}

/// A logged-in payer. Routes that take it are refused (redirected to login) without one.
pub struct PayerSession {
    pub payer_id: String,
    pub csrf: String,
}

impl FromRequestParts<AppState> for PayerSession {
    type Rejection = WebError;
    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let Some(s) = session_of(state, &parts.headers, "payer").await? else {
            return Err(WebError::LoginRequired { login_path: "/portal/login" });
        };
        // An initial password must be changed before anything else (its page and logout excepted).
        let path = parts.uri.path();
        if !path.starts_with("/portal/account") && path != "/portal/logout" {
            let mut c = state.engine.store().read().await?;
            let p = bursar_store::payers::payer(&mut c, &s.subject_id).await?;
            // Payers without a password (new students, by ID number and name) have none to change.
            if p.must_change_password != 0 && p.password_hash != "!" {
                return Err(WebError::LoginRequired { login_path: "/portal/account/password" });
            }
        }
        Ok(PayerSession { payer_id: s.subject_id, csrf: s.csrf_token })
    }
}

/// Any logged-in operator (finance or a charging department).
pub struct OperatorSession {
    pub operator: bursar_store::payers::OperatorRow,
    pub csrf: String,
}

impl FromRequestParts<AppState> for OperatorSession {
    type Rejection = WebError;
    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let Some(s) = session_of(state, &parts.headers, "operator").await? else {
            return Err(WebError::LoginRequired { login_path: "/admin/login" });
        };
        let mut c = state.engine.store().read().await?;
        let operator = bursar_store::payers::operator(&mut c, &s.subject_id).await?;
        Ok(OperatorSession { operator, csrf: s.csrf_token })
    }
}

/// A logged-in finance operator.
pub struct FinanceSession {
    pub operator_id: String,
    pub name: String,
    pub csrf: String,
}

impl FromRequestParts<AppState> for FinanceSession {
    type Rejection = WebError;
    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let Some(s) = session_of(state, &parts.headers, "operator").await? else {
            return Err(WebError::LoginRequired { login_path: "/admin/login" });
        };
        let mut c = state.engine.store().read().await?;
        let op = bursar_store::payers::operator(&mut c, &s.subject_id).await?;
        if op.role != "finance" {
            return Err(WebError::Forbidden);
        }
        Ok(FinanceSession { operator_id: op.id, name: op.name, csrf: s.csrf_token })
    }
}

/// The CSRF token for a login form: a random value in a short-lived cookie, echoed by the form.
pub fn login_csrf(headers: &HeaderMap) -> (String, bool) {
    match cookie_value(headers, LOGIN_CSRF_COOKIE).filter(|v| v.len() == 64) {
        Some(v) => (v, false),
        None => (random_token(), true),
    }
}

/// Why a login was refused, for the login page to show (always generic about which part was wrong).
pub struct LoginRefused {
    pub message: String,
    /// The login form's CSRF token, to render the form again.
    pub csrf: String,
}

/// The whole password login: the form's double-submit CSRF token, the password checked against
/// the account's hash (or a dummy hash when there is no such account, so timing tells nothing),
/// throttling. `Ok(Ok(subject id))` on success; `Ok(Err(refused))` to show the form again.
pub async fn password_login(
    state: &AppState,
    headers: &HeaderMap,
    form_csrf: &str,
    throttle_key: &str,
    account: Option<(String, String)>,
    password: &str,
) -> Result<Result<String, LoginRefused>, WebError> {
    let expected = cookie_value(headers, LOGIN_CSRF_COOKIE).unwrap_or_default();
    check_csrf(&expected, Some(form_csrf))?;
    let hash = account.as_ref().map(|(_, h)| h.clone()).unwrap_or_else(|| dummy_hash().to_string());
    let password = password.to_string();
    let verified = tokio::task::spawn_blocking(move || verify_password(&password, &hash))
        .await
        .map_err(|e| WebError::Internal(e.to_string()))?;
    let ok = verified && account.is_some();
    match throttled_check(state, throttle_key, ok).await {
        Ok(()) => account.map(|(id, _)| Ok(id)).ok_or(WebError::Forbidden),
        Err(WebError::BadRequest(message)) => Ok(Err(LoginRefused { message, csrf: expected })),
        Err(e) => Err(e),
    }
}

/// Outcome of a password check with throttling: after too many failures the key is locked and
/// even the right password is refused until the lock ends. Messages never say which part was wrong.
pub async fn throttled_check(state: &AppState, key: &str, password_ok: bool) -> Result<(), WebError> {
    let store = state.engine.store();
    let now = store.now_ms();
    let mut c = store.read().await?;
    if let Some(until) = sessions::locked_until(&mut c, key, now).await? {
        let minutes = ((until - now) / 60_000).max(1);
        return Err(WebError::BadRequest(format!("登录失败次数过多，账号已锁定，请 {minutes} 分钟后再试")));
    }
    if password_ok {
        sessions::clear_failures(&mut c, key).await?;
        return Ok(());
    }
    let failures =
        sessions::record_failure(&mut c, key, now, state.config.max_login_failures, state.config.lockout_ms).await?;
    tracing::info!(key = %mask_key(key), failures, "failed login");
    if failures >= state.config.max_login_failures {
        return Err(WebError::BadRequest("登录失败次数过多，账号已锁定，请稍后再试".into()));
    }
    Err(WebError::BadRequest("用户名或密码错误".into()))
}

fn mask_key(key: &str) -> String {
    let n = key.chars().count();
    key.chars()
        .enumerate()
        .map(|(i, c)| {
            if i + 3 >= n {
                c
            } else if c == ':' {
                ':'
            } else if i < 8 {
                c
            } else {
                '*'
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn argon2id_hashes_verify() {
        let h = hash_password("011234").unwrap();
        assert!(h.starts_with("$argon2id$"));
        assert!(verify_password("011234", &h));
        assert!(!verify_password("011235", &h));
        assert!(!verify_password("011234", "garbage"));
    }

    #[test]
    fn cookies_parse() {
        let mut h = HeaderMap::new();
        h.insert(header::COOKIE, HeaderValue::from_static("a=1; bursar_session=abc; c=3"));
        assert_eq!(cookie_value(&h, SESSION_COOKIE).as_deref(), Some("abc"));
        assert_eq!(cookie_value(&h, "zz"), None);
    }

    #[test]
    fn csrf_must_match() {
        assert!(check_csrf("abc", Some("abc")).is_ok());
        assert!(check_csrf("abc", Some("abd")).is_err());
        assert!(check_csrf("abc", None).is_err());
        assert!(check_csrf("", Some("")).is_err());
    }

    #[test]
    fn id_digest_is_keyed_and_normalised() {
        let a = id_number_digest(b"k1", "37030219990101123x");
        assert_eq!(a, id_number_digest(b"k1", " 37030219990101123X"));
        assert_ne!(a, id_number_digest(b"k2", "37030219990101123X"));
    }
}
