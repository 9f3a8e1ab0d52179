//! Logging in and out, and the principal behind a session.
//!
//! A session is a random token (only its digest is stored) with its own CSRF token, for one
//! subject: a payer or an operator. A login ends the browser's previous session; a password
//! change or reset ends the person's other sessions. Failed logins are counted per existing
//! account (after [`CAPTCHA_AFTER`] a captcha must be solved; a wrong one counts as a failure),
//! per source and across sources (see [`crate::access::limits`]); no account is ever locked,
//! so nobody can lock someone else out. Messages never say which part of a login was wrong.

use bursar_domain::access::{PayerPrincipal, Principal};
use bursar_domain::payer::PayerKind;
use bursar_store::payers;
use bursar_store::sessions::{self as session_store, AuthMethod, NewSession, SubjectKind};
use bursar_store::Tx;
use std::net::IpAddr;

use crate::access::limits::Verdict;

use crate::access::passwords::{self, random_token};
use crate::engine::{log, Engine};
use crate::error::EngineError;

/// Failed logins of a key after which a captcha is required.
/// The refusal when a captcha is required and was not answered right.
pub const CAPTCHA_REFUSAL: &str = "请输入正确的验证码";
pub const CAPTCHA_AFTER: i64 = 2;
/// Failed logins of an account after which one source may check it only a few times a minute.
pub const PACE_AFTER: i64 = 10;

/// A live session and who it belongs to.
#[derive(Clone, Debug)]
pub struct Session {
    pub principal: Principal,
    pub csrf: String,
    pub auth_method: AuthMethod,
    /// A payer logged in with an initial password, or an operator with a temporary one, which
    /// must be changed before anything else.
    pub must_change_password: bool,
    /// An operator's password is older than the school allows: changed before anything else.
    pub password_expired: bool,
    /// The subject's display name.
    pub name: String,
    /// An operator whose roles must use a second factor and who has none yet: they set it up
    /// before anything else.
    pub second_factor_missing: bool,
}

/// A session just started: its cookie token and CSRF token.
#[derive(Clone, Debug)]
pub struct Started {
    pub token: String,
    pub csrf: String,
    pub must_change_password: bool,
    /// How long it lasts (the cookie's age).
    pub ttl_ms: i64,
}

/// What a login attempt came to.
#[derive(Clone, Debug)]
pub enum Login {
    In(Started),
    /// The password was right and the operator has a second factor: the login waits for the
    /// code under this challenge token (see [`crate::access::second_factor`]).
    Code(String),
    /// Refused; the message is for the login page. `captcha`: the next attempt needs one.
    Refused {
        message: String,
        captcha: bool,
    },
}

/// A login to check: the throttle key, the account found (id and password hash) and whether a
/// required captcha was solved.
pub(crate) struct Attempt<'a> {
    pub key: &'a str,
    /// The network address the attempt came from.
    pub source: IpAddr,
    /// The account still has an initial password (never changed).
    pub initial: bool,
    pub subject: SubjectKind,
    pub account: Option<(String, String)>,
    pub password: &'a str,
    pub captcha_ok: bool,
    pub auth_method: AuthMethod,
    pub previous_token: Option<&'a str>,
    /// Why the account cannot be used (frozen, expired): told only to whoever proved it is theirs.
    pub blocked: Option<String>,
}

impl Engine {
    /// The session a cookie token names, with its principal; `None` when unknown, expired, or
    /// its subject is gone or disabled.
    pub async fn session(&self, token: &str) -> Result<Option<Session>, EngineError> {
        let now = self.store().now_ms();
        // Before a connection is held: a refresh of the policy takes one of its own.
        let policy = self.current_policy().await?;
        let mut c = self.store().read().await?;
        let Some(s) = session_store::find(&mut c, token, now).await? else { return Ok(None) };
        Ok(match s.subject_kind {
            SubjectKind::Payer => match payers::payer(&mut c, &s.subject_id).await {
                Ok(p) if p.blocked(now).is_some() => None,
                Ok(p) => Some(Session {
                    principal: Principal::Payer(PayerPrincipal {
                        id: p.id.clone(),
                        kind: p.kind,
                        via_sso: s.auth_method == AuthMethod::Sso,
                    }),
                    csrf: s.csrf_token,
                    auth_method: s.auth_method,
                    must_change_password: p.must_change_password != 0 && p.password_hash != "!",
                    name: p.name,
                    second_factor_missing: false,
                    password_expired: false,
                }),
                Err(bursar_store::StoreError::NotFound(_)) => None,
                Err(e) => return Err(e.into()),
            },
            SubjectKind::Operator => match payers::operator_principal(&mut c, &s.subject_id).await? {
                Some(op) => {
                    let (must_change_password, changed_at) =
                        bursar_store::operators::password_state(&mut c, &op.id).await?;
                    Some(Session {
                        password_expired: policy.password_expired(changed_at, now),
                        must_change_password,
                        second_factor_missing: op.roles.iter().any(|r| r.approves_money())
                            && crate::access::second_factor::missing(&mut c, &op.id).await?,
                        name: op.name.clone(),
                        principal: Principal::Operator(op),
                        csrf: s.csrf_token,
                        auth_method: s.auth_method,
                    })
                }
                None => None,
            },
        })
    }

    /// Checks a password against what is stored: an argon2id hash, or an import's keyed
    /// initial-password marker.
    pub(crate) async fn check_password(
        &self,
        subject_id: &str,
        password: &str,
        hash: &str,
    ) -> Result<bool, EngineError> {
        if passwords::is_initial_marker(hash) {
            let expected = passwords::initial_marker(&self.config().id_digest_key, subject_id, password);
            return Ok(bursar_channels::crypto::ct_eq(expected.as_bytes(), hash.as_bytes()));
        }
        passwords::verify(password, hash).await
    }

    /// Whether a login from `source` needs a captcha before anything is typed (the source or
    /// the platform sees many failures), so the login page can show one at once.
    pub fn login_needs_captcha(&self, source: IpAddr) -> bool {
        let now = self.store().now_ms();
        self.login_limits().verdict(source, now) != Verdict::Allowed
    }

    /// Checks a login and, when it succeeds, starts the session (ending the browser's previous
    /// one) and logs it; when it fails, counts the failure against the source and, for an
    /// existing account, against the account (no row for names that do not exist).
    pub(crate) async fn attempt_login(&self, a: Attempt<'_>) -> Result<Login, EngineError> {
        let now = self.store().now_ms();
        let limits = self.login_limits();
        let source_captcha = limits.verdict(a.source, now) == Verdict::Captcha;
        let account_failures = match &a.account {
            Some(_) => {
                let mut c = self.store().read().await?;
                session_store::failures(&mut c, a.key).await?
            }
            None => 0,
        };
        // Refused before the password is even checked (no work for whoever floods us); a
        // refusal that checked nothing does not count against the source (it costs nothing to
        // send, and would let one person behind a NAT raise everyone's bar there).
        if (source_captcha || account_failures >= CAPTCHA_AFTER) && !a.captcha_ok {
            return self.count_failure(&a, CAPTCHA_REFUSAL, false).await;
        }
        // One account guessed from one source, even with solved captchas: a few checks a minute
        // from that source (the owner elsewhere is untouched).
        if account_failures >= PACE_AFTER && !self.guess_pace().hit(&format!("{}|{}", a.key, a.source), now) {
            let message = "尝试过于频繁，请一分钟后再试".to_string();
            return Ok(Login::Refused { message, captcha: true });
        }
        let verified = match (&a.account, a.auth_method) {
            (Some((id, hash)), AuthMethod::Password) => self.check_password(id, a.password, hash).await?,
            (None, AuthMethod::Password) => {
                // The same work as a real check, so timing tells nothing.
                passwords::verify(a.password, passwords::dummy_hash()).await?;
                false
            }
            (Some(_), _) => true, // checked by the caller (ID number and name)
            (None, _) => false,
        };
        let initial = verified && a.initial;
        if initial && !a.captcha_ok && limits.initial_needs_captcha(a.source, now) {
            return self.count_failure(&a, CAPTCHA_REFUSAL, false).await;
        }
        let Some((subject_id, _)) = a.account.as_ref().filter(|_| verified) else {
            let message = match a.auth_method {
                AuthMethod::IdAndName => "证件号码或姓名不正确",
                _ => "用户名或密码错误",
            };
            return self.count_failure(&a, message, true).await;
        };
        if let Some(message) = a.blocked.clone() {
            return Ok(Login::Refused { message, captcha: false });
        }
        if initial {
            limits.initial_login(a.source, now);
        }
        if a.subject == SubjectKind::Operator {
            if let Some(challenge) = self.challenge_if_needed(subject_id).await? {
                return Ok(Login::Code(challenge));
            }
        }
        let key = a.key.to_string();
        let previous = a.previous_token.map(str::to_string);
        let started = self.start_session(a.subject, subject_id, a.auth_method, previous.as_deref(), Some(&key)).await?;
        Ok(Login::In(started))
    }

    async fn count_failure(&self, a: &Attempt<'_>, message: &str, checked: bool) -> Result<Login, EngineError> {
        let now = self.store().now_ms();
        if checked {
            self.login_limits().failed(a.source, now);
        }
        let mut failures = 0;
        if a.account.is_some() {
            let k = a.key.to_string();
            failures = self
                .store()
                .write(|tx: &mut Tx| {
                    let k = k.clone();
                    Box::pin(async move {
                        let now = tx.now_ms;
                        session_store::record_failure(tx, &k, now).await
                    })
                })
                .await?;
        }
        tracing::info!(failures, source = %a.source, "failed login");
        let captcha = failures >= CAPTCHA_AFTER || self.login_needs_captcha(a.source);
        Ok(Login::Refused { message: message.to_string(), captcha })
    }

    /// Starts a session for a subject who proved who they are, in one transaction with the
    /// operation-log line: the browser's previous session ends, the login key's failures clear.
    pub(crate) async fn start_session(
        &self,
        subject: SubjectKind,
        subject_id: &str,
        auth_method: AuthMethod,
        previous_token: Option<&str>,
        clear_key: Option<&str>,
    ) -> Result<Started, EngineError> {
        let token = random_token();
        let csrf = random_token();
        let ttl_ms = self.current_policy().await?.session_ttl_ms;
        let (subject_id, previous, clear_key) =
            (subject_id.to_string(), previous_token.map(str::to_string), clear_key.map(str::to_string));
        let (t, cs) = (token.clone(), csrf.clone());
        let must_change = self
            .store()
            .write(|tx: &mut Tx| {
                let (subject_id, previous, clear_key, t, cs) =
                    (subject_id.clone(), previous.clone(), clear_key.clone(), t.clone(), cs.clone());
                Box::pin(async move {
                    let now = tx.now_ms;
                    session_store::delete_expired(tx, now).await?;
                    if let Some(p) = &previous {
                        session_store::delete(tx, p).await?;
                    }
                    if let Some(k) = &clear_key {
                        session_store::clear_failures(tx, k).await?;
                    }
                    let s = NewSession {
                        token: &t,
                        subject_kind: subject,
                        subject_id: &subject_id,
                        csrf_token: &cs,
                        auth_method,
                        ttl_ms,
                    };
                    session_store::create(tx, &s).await?;
                    let (by, must_change) = match subject {
                        SubjectKind::Payer => {
                            let p = payers::payer(tx, &subject_id).await?;
                            if let Some(why) = p.blocked(tx.now_ms) {
                                return Err(EngineError::Login(why));
                            }
                            let by = Principal::Payer(PayerPrincipal {
                                id: p.id.clone(),
                                kind: p.kind,
                                via_sso: auth_method == AuthMethod::Sso,
                            });
                            (by, p.must_change_password != 0 && p.password_hash != "!")
                        }
                        SubjectKind::Operator => {
                            let op = payers::operator_principal(tx, &subject_id)
                                .await?
                                .ok_or_else(|| EngineError::Login("该操作员账号已停用".into()))?;
                            let must = bursar_store::operators::must_change_password(tx, &op.id).await?;
                            (Principal::Operator(op), must)
                        }
                    };
                    let entity = (subject.as_str(), subject_id.as_str());
                    log(tx, &by, "session.login", entity, ("", ""), auth_method.as_str()).await?;
                    Ok::<_, EngineError>(must_change)
                })
            })
            .await?;
        Ok(Started { token, csrf, must_change_password: must_change, ttl_ms })
    }

    /// Ends a session (logout), logged.
    pub async fn end_session(&self, token: &str) -> Result<(), EngineError> {
        let Some(session) = self.session(token).await? else { return Ok(()) };
        let token = token.to_string();
        self.store()
            .write(|tx: &mut Tx| {
                let (token, by) = (token.clone(), session.principal.clone());
                Box::pin(async move {
                    session_store::delete(tx, &token).await?;
                    let (kind, id) = by.actor();
                    log(tx, &by, "session.logout", (kind.as_str(), &id), ("", ""), "").await
                })
            })
            .await
    }

    /// A payer logs in with a login identifier and password.
    pub async fn login_payer(
        &self,
        kind: PayerKind,
        identifier: &str,
        password: &str,
        captcha_ok: bool,
        previous_token: Option<&str>,
        source: IpAddr,
    ) -> Result<Login, EngineError> {
        let key = format!("payer:{}:{identifier}", kind.as_str());
        let now = self.store().now_ms();
        let (account, initial, blocked) = {
            let mut c = self.store().read().await?;
            match payers::payer_by_login(&mut c, kind, identifier).await? {
                Some(p) => {
                    let initial = p.must_change_password != 0 && p.password_hash != "!";
                    let blocked = p.blocked(now);
                    (Some((p.id, p.password_hash)), initial, blocked)
                }
                None => (None, false, None),
            }
        };
        self.attempt_login(Attempt {
            key: &key,
            source,
            initial,
            subject: SubjectKind::Payer,
            account,
            password,
            captcha_ok,
            auth_method: AuthMethod::Password,
            previous_token,
            blocked,
        })
        .await
    }

    /// A new student (新生) logs in with their ID document number and name, as admissions gave
    /// them (they have no password yet).
    pub async fn login_new_student(
        &self,
        id_number: &str,
        name: &str,
        captcha_ok: bool,
        previous_token: Option<&str>,
        source: IpAddr,
    ) -> Result<Login, EngineError> {
        let digest = passwords::id_number_digest(&self.config().id_digest_key, id_number);
        let payer = {
            let mut c = self.store().read().await?;
            payers::payer_by_id_digest(&mut c, PayerKind::NewStudent, &digest).await?
        };
        let payer = payer.filter(|p| p.name == name.trim());
        let blocked = payer.as_ref().and_then(|p| p.blocked(self.store().now_ms()));
        let account = payer.map(|p| (p.id, String::new()));
        let key = format!("payer:new_student:{digest}");
        self.attempt_login(Attempt {
            key: &key,
            source,
            initial: false,
            subject: SubjectKind::Payer,
            account,
            password: "",
            captcha_ok,
            auth_method: AuthMethod::IdAndName,
            previous_token,
            blocked,
        })
        .await
    }

    /// An operator logs in.
    pub async fn login_operator(
        &self,
        username: &str,
        password: &str,
        captcha_ok: bool,
        previous_token: Option<&str>,
        source: IpAddr,
    ) -> Result<Login, EngineError> {
        let key = format!("operator:{}", username.trim());
        let account = {
            let mut c = self.store().read().await?;
            match payers::operator_by_username(&mut c, username.trim()).await? {
                Some(op) if op.state == payers::OperatorState::Active => Some((op.id, op.password_hash)),
                _ => None,
            }
        };
        self.attempt_login(Attempt {
            key: &key,
            source,
            initial: false,
            subject: SubjectKind::Operator,
            account,
            password,
            captcha_ok,
            auth_method: AuthMethod::Password,
            previous_token,
            blocked: None,
        })
        .await
    }
}
