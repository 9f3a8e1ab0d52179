//! The operators' second factor (动态口令): a six-digit code from an authenticator app (RFC 6238
//! TOTP, HMAC-SHA1, 30-second steps, as every authenticator app reads an `otpauth://` QR code).
//!
//! - Anyone may turn it on from 我的账号; the roles that move or approve money
//!   ([`bursar_domain::access::Role::approves_money`]) must, unless 系统设置 relaxes it with a reason (logged).
//! - A login of an operator who has it proves the password first, then waits as a *login
//!   challenge* (five minutes, five codes) for the code; only then does a session start.
//! - A code is good once: the last time step used is kept, and taking it is a compare-and-set.
//! - A lost phone: a system administrator resets it (never their own); the operator sets it up
//!   again at their next login. Every change is in the operation log.

use bursar_domain::access::{OperatorPrincipal, Permission, Principal};
use bursar_store::second_factor::{self as store, SecondFactor};
use bursar_store::sessions::{self as session_store, AuthMethod, SubjectKind};
use bursar_store::{payers, settings, Conn, Tx};
use std::net::IpAddr;

use crate::access::passwords::random_token;
use crate::access::sessions::{Login, Started};
use crate::engine::{log, require, Engine};
use crate::error::{not_found, refused, EngineError};

/// Seconds per time step.
pub const STEP_SECS: i64 = 30;
/// Digits of a code.
pub const DIGITS: usize = 6;
/// How long a login waits for its code.
pub const CHALLENGE_TTL_MS: i64 = 5 * 60 * 1000;
/// Wrong codes a login challenge takes before the password must be typed again.
pub const CHALLENGE_TRIES: i64 = 5;
/// The setting: whether roles that approve money must use a second factor ("1", the default).
const POLICY: &str = "login.second_factor_money_roles";
/// The name authenticator apps show above the code.
const ISSUER: &str = "Bursar";

/// The code of a secret at a time step (RFC 4226 dynamic truncation).
pub fn code_at(secret: &[u8], step: i64) -> String {
    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY, secret);
    let counter = u64::try_from(step).unwrap_or(0).to_be_bytes();
    let mac = ring::hmac::sign(&key, &counter);
    let h = mac.as_ref();
    let offset = usize::from(h[h.len() - 1] & 0x0f);
    let bin = u32::from_be_bytes([h[offset] & 0x7f, h[offset + 1], h[offset + 2], h[offset + 3]]);
    format!("{:06}", bin % 1_000_000)
}

/// The time step of a moment.
pub fn step_of(now_ms: i64) -> i64 {
    now_ms.div_euclid(1000 * STEP_SECS)
}

/// The step whose code `code` is, within one step of now either way (a phone's clock may be a
/// little off); `None` when it is none of them. Compared in constant time.
pub fn matching_step(secret: &[u8], code: &str, now_ms: i64) -> Option<i64> {
    let code: String = code.chars().filter(|c| !c.is_whitespace()).collect();
    if code.len() != DIGITS || !code.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let now = step_of(now_ms);
    let mut found = None;
    for step in [now - 1, now, now + 1] {
        if bursar_channels::crypto::ct_eq(code_at(secret, step).as_bytes(), code.as_bytes()) {
            found = Some(step);
        }
    }
    found
}

/// RFC 4648 base32 without padding (what authenticator apps take as the secret).
pub fn base32(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    let mut out = String::with_capacity(bytes.len().div_ceil(5) * 8);
    let (mut buffer, mut bits) = (0u32, 0u32);
    for &b in bytes {
        buffer = (buffer << 8) | u32::from(b);
        bits += 8;
        while bits >= 5 {
            bits -= 5;
            out.push(char::from(ALPHABET[((buffer >> bits) & 31) as usize]));
        }
    }
    if bits > 0 {
        out.push(char::from(ALPHABET[((buffer << (5 - bits)) & 31) as usize]));
    }
    out
}

/// The `otpauth://` address an authenticator app reads from the QR code.
pub fn otpauth_uri(account: &str, secret: &[u8]) -> String {
    // User names are letters, digits, `_` and `.`: nothing to escape but the colon.
    let account: String = account.chars().filter(|c| c.is_ascii_alphanumeric() || *c == '_' || *c == '.').collect();
    format!(
        "otpauth://totp/{ISSUER}%3A{account}?secret={}&issuer={ISSUER}&algorithm=SHA1&digits={DIGITS}&period={STEP_SECS}",
        base32(secret)
    )
}

/// What one code attempt came to.
enum Outcome {
    In { id: String, key: String },
    Wrong { tries: i64 },
    Gone,
}

/// A secret being set up, as the page shows it.
#[derive(Clone, Debug)]
pub struct Setup {
    /// Base32, grouped by four for typing by hand.
    pub secret: String,
    pub uri: String,
}

/// An operator's second factor as their account page and the operators list show it.
#[derive(Clone, Debug)]
pub struct Status {
    pub enabled: bool,
    pub enabled_at_ms: i64,
    /// Their roles must use one (and the policy says so).
    pub required: bool,
    /// A setup begun and not yet confirmed.
    pub setup: Option<Setup>,
}

fn decode(hex_secret: &str) -> Result<Vec<u8>, EngineError> {
    hex::decode(hex_secret).map_err(|_| EngineError::Invariant("stored second-factor secret is not hex".into()))
}

fn setup_of(username: &str, hex_secret: &str) -> Result<Setup, EngineError> {
    let secret = decode(hex_secret)?;
    let b32 = base32(&secret);
    let grouped = b32.as_bytes().chunks(4).map(|c| String::from_utf8_lossy(c).into_owned()).collect::<Vec<_>>();
    Ok(Setup { secret: grouped.join(" "), uri: otpauth_uri(username, &secret) })
}

/// Whether an operator whose roles approve money lacks the second factor the policy requires.
pub(crate) async fn missing(c: &mut impl Conn, operator_id: &str) -> Result<bool, EngineError> {
    if settings::get(c, POLICY).await?.is_some_and(|v| v == "0") {
        return Ok(false);
    }
    Ok(!store::get(c, operator_id).await?.enabled())
}

impl Engine {
    /// Whether roles that approve money must use a second factor (on unless relaxed).
    pub async fn second_factor_policy(&self) -> Result<bool, EngineError> {
        let mut c = self.store().read().await?;
        Ok(settings::get(&mut c, POLICY).await?.is_none_or(|v| v != "0"))
    }

    /// Turns the requirement on or off (系统参数设置); turning it off needs a reason.
    pub async fn set_second_factor_policy(&self, by: &Principal, on: bool, reason: &str) -> Result<(), EngineError> {
        let safeguard = crate::access::operators::Safeguard {
            setting: POLICY,
            action: "settings.second_factor",
            why: "不要求动态口令须填写原因（例如学校文件号）",
        };
        self.set_safeguard(by, &safeguard, on, reason).await
    }

    /// An operator's second factor, for their account page.
    pub async fn second_factor_status(&self, op: &OperatorPrincipal) -> Result<Status, EngineError> {
        let required = op.roles.iter().any(|r| r.approves_money()) && self.second_factor_policy().await?;
        let mut c = self.store().read().await?;
        let sf = store::get(&mut c, &op.id).await?;
        let setup = if sf.pending.is_empty() {
            None
        } else {
            let row = payers::operator(&mut c, &op.id).await?;
            Some(setup_of(&row.username, &sf.pending)?)
        };
        Ok(Status { enabled: sf.enabled(), enabled_at_ms: sf.enabled_at_ms, required, setup })
    }

    /// Ids of the operators with a second factor on (the operators list).
    pub async fn second_factor_enabled_ids(&self) -> Result<Vec<String>, EngineError> {
        let mut c = self.store().read().await?;
        Ok(store::enabled_ids(&mut c).await?)
    }

    /// Begins setting up a second factor, after the current password (a session left open is
    /// not enough to tie the account to someone else's phone): a new secret for the app
    /// (replacing any setup not confirmed). Nothing changes for logins until a code from it is
    /// confirmed.
    pub async fn begin_second_factor(&self, by: &Principal, password: &str) -> Result<Setup, EngineError> {
        let Some(me) = by.operator() else { return Err(refused("只有操作员可以设置动态口令")) };
        let hash = {
            let mut c = self.store().read().await?;
            payers::operator(&mut c, &me.id).await?.password_hash
        };
        if !self.check_password(&me.id, password, &hash).await? {
            return Err(refused("当前密码不正确"));
        }
        let secret = {
            use rand::RngCore;
            let mut b = [0u8; 20];
            rand::thread_rng().fill_bytes(&mut b);
            hex::encode(b)
        };
        let (by, id, s) = (by.clone(), me.id.clone(), secret.clone());
        let username = self
            .store()
            .write(|tx: &mut Tx| {
                let (by, id, s) = (by.clone(), id.clone(), s.clone());
                Box::pin(async move {
                    let row = payers::operator(tx, &id).await.map_err(not_found("操作员"))?;
                    // One on already is never replaced from a session alone: turned off with a
                    // code first, or reset by an administrator.
                    if store::get(tx, &id).await?.enabled() {
                        return Err(refused("动态口令已开启；更换手机请先关闭（或请系统管理员重置）再重新设置"));
                    }
                    store::set_pending(tx, &id, &s).await?;
                    log(tx, &by, "operator.second_factor_setup", ("operator", &id), ("", ""), "").await?;
                    Ok::<_, EngineError>(row.username)
                })
            })
            .await?;
        setup_of(&username, &secret)
    }

    /// Confirms the setup with a code from the app: the second factor is on from now, the
    /// operator's other sessions end (this one, `keep_token`, proved the code).
    pub async fn confirm_second_factor(&self, by: &Principal, code: &str, keep_token: &str) -> Result<(), EngineError> {
        let Some(me) = by.operator() else { return Err(refused("只有操作员可以设置动态口令")) };
        let sf = {
            let mut c = self.store().read().await?;
            store::get(&mut c, &me.id).await?
        };
        if sf.pending.is_empty() {
            return Err(refused("请先点击「开始设置」，用手机扫描二维码"));
        }
        let Some(step) = matching_step(&decode(&sf.pending)?, code, self.store().now_ms()) else {
            return Err(refused("动态口令不正确：请输入验证器应用中显示的 6 位数字，并确认手机时间准确"));
        };
        let (by, id, pending, keep) = (by.clone(), me.id.clone(), sf.pending.clone(), keep_token.to_string());
        self.store()
            .write(|tx: &mut Tx| {
                let (by, id, pending, keep) = (by.clone(), id.clone(), pending.clone(), keep.clone());
                Box::pin(async move {
                    if !store::confirm(tx, &id, &pending, step).await? {
                        return Err(refused("设置已在别处重新开始，请刷新页面后重试"));
                    }
                    session_store::delete_others(tx, SubjectKind::Operator, &id, Some(&keep)).await?;
                    log(tx, &by, "operator.second_factor_on", ("operator", &id), ("off", "on"), "").await
                })
            })
            .await
    }

    /// An operator turns their own second factor off (with a current code); refused when their
    /// roles must use one.
    pub async fn turn_off_own_second_factor(&self, by: &Principal, code: &str) -> Result<(), EngineError> {
        let Some(me) = by.operator() else { return Err(refused("只有操作员可以设置动态口令")) };
        if self.second_factor_status(me).await?.required {
            return Err(refused("您的角色涉及资金审批，必须使用动态口令"));
        }
        let sf = {
            let mut c = self.store().read().await?;
            store::get(&mut c, &me.id).await?
        };
        if !sf.enabled() {
            return Ok(());
        }
        if !self.code_pace().hit(&me.id, self.store().now_ms()) {
            return Err(refused("动态口令尝试过于频繁，请一小时后再试"));
        }
        let Some(step) = matching_step(&decode(&sf.secret)?, code, self.store().now_ms()) else {
            return Err(refused("动态口令不正确"));
        };
        let (by, id, secret) = (by.clone(), me.id.clone(), sf.secret.clone());
        self.store()
            .write(|tx: &mut Tx| {
                let (by, id, secret) = (by.clone(), id.clone(), secret.clone());
                Box::pin(async move {
                    if !store::use_step(tx, &id, &secret, step).await? {
                        return Err(refused("这个动态口令已用过，请等待下一个"));
                    }
                    store::clear(tx, &id).await?;
                    log(tx, &by, "operator.second_factor_off", ("operator", &id), ("on", "off"), "by themselves").await
                })
            })
            .await
    }

    /// A system administrator resets another operator's second factor (a lost or new phone):
    /// their sessions end, and they set it up again at their next login when their roles need it.
    pub async fn reset_operator_second_factor(
        &self,
        by: &Principal,
        id: &str,
        reason: &str,
    ) -> Result<(), EngineError> {
        require(by, Permission::ManageOperators)?;
        if by.operator().is_some_and(|o| o.id == id) {
            return Err(refused("不能重置自己的动态口令，请由另一位系统管理员办理"));
        }
        let reason = reason.trim().to_string();
        if reason.is_empty() || reason.chars().count() > 200 {
            return Err(refused("请填写重置原因（不超过 200 字），例如“手机丢失，本人到场核实”"));
        }
        let (by, id) = (by.clone(), id.to_string());
        self.store()
            .write(|tx: &mut Tx| {
                let (by, id, reason) = (by.clone(), id.clone(), reason.clone());
                Box::pin(async move {
                    payers::operator(tx, &id).await.map_err(not_found("操作员"))?;
                    if !store::clear(tx, &id).await? {
                        return Err(refused("该操作员没有开启动态口令"));
                    }
                    session_store::delete_others(tx, SubjectKind::Operator, &id, None).await?;
                    log(tx, &by, "operator.second_factor_reset", ("operator", &id), ("on", "off"), &reason).await
                })
            })
            .await
    }

    /// After the password: an operator with a second factor gets a login challenge instead of
    /// a session. `None` when they have none (the session may start).
    pub(crate) async fn challenge_if_needed(&self, operator_id: &str) -> Result<Option<String>, EngineError> {
        let enabled = {
            let mut c = self.store().read().await?;
            store::get(&mut c, operator_id).await?.enabled()
        };
        if !enabled {
            return Ok(None);
        }
        let token = random_token();
        let (id, t) = (operator_id.to_string(), token.clone());
        self.store()
            .write(|tx: &mut Tx| {
                let (id, t) = (id.clone(), t.clone());
                Box::pin(
                    async move { Ok::<_, EngineError>(store::create_challenge(tx, &t, &id, CHALLENGE_TTL_MS).await?) },
                )
            })
            .await?;
        Ok(Some(token))
    }

    /// Whether a login challenge is live (the code page shows its form, or sends the person back
    /// to the password).
    pub async fn login_challenge_live(&self, token: &str) -> Result<bool, EngineError> {
        let mut c = self.store().read().await?;
        Ok(store::challenge(&mut c, token, self.store().now_ms()).await?.is_some())
    }

    /// The second step of a login: the code for a live challenge. Each attempt takes one of
    /// the challenge's five tries in the same transaction that checks the code, so racing
    /// requests get no more; an operator gets ten attempts an hour whatever the challenges; a
    /// wrong code counts against the account (its later password logins need a captcha) and
    /// the source, and is logged (the password was right: someone may know it). A right one,
    /// used once, starts the session.
    pub async fn login_operator_code(
        &self,
        challenge_token: &str,
        code: &str,
        previous_token: Option<&str>,
        source: IpAddr,
    ) -> Result<Login, EngineError> {
        let now = self.store().now_ms();
        let gone =
            || Login::Refused { message: "登录已超时，请重新输入用户名和密码".into(), captcha: false };
        let operator_id = {
            let mut c = self.store().read().await?;
            match store::challenge(&mut c, challenge_token, now).await? {
                Some(ch) => ch.operator_id,
                None => return Ok(gone()),
            }
        };
        if !self.code_pace().hit(&operator_id, now) {
            let message = "动态口令尝试过于频繁，请稍后再试；如非本人操作，请立即修改密码并联系系统管理员".into();
            return Ok(Login::Refused { message, captcha: false });
        }
        let (token, code) = (challenge_token.to_string(), code.to_string());
        let outcome = self
            .store()
            .write(|tx: &mut Tx| {
                let (token, code) = (token.clone(), code.clone());
                Box::pin(async move {
                    let Some((id, tries)) = store::take_try(tx, &token, CHALLENGE_TRIES).await? else {
                        return Ok::<_, EngineError>(Outcome::Gone);
                    };
                    let Some(op) = payers::operator_principal(tx, &id).await? else { return Ok(Outcome::Gone) };
                    let sf: SecondFactor = store::get(tx, &id).await?;
                    let step = if sf.enabled() { matching_step(&decode(&sf.secret)?, &code, tx.now_ms) } else { None };
                    let key = format!("operator:{}", payers::operator(tx, &id).await?.username);
                    if let Some(step) = step {
                        if store::use_step(tx, &id, &sf.secret, step).await? {
                            store::end_challenge(tx, &token).await?;
                            return Ok(Outcome::In { id, key });
                        }
                    }
                    if tries >= CHALLENGE_TRIES {
                        store::end_challenge(tx, &token).await?;
                    }
                    bursar_store::sessions::record_failure(tx, &key, tx.now_ms).await?;
                    let by = Principal::Operator(op);
                    log(tx, &by, "session.second_factor_failed", ("operator", &id), ("", ""), &format!("try {tries}"))
                        .await?;
                    Ok(Outcome::Wrong { tries })
                })
            })
            .await?;
        match outcome {
            Outcome::In { id, key } => {
                let started: Started = self
                    .start_session(SubjectKind::Operator, &id, AuthMethod::Password, previous_token, Some(&key))
                    .await?;
                Ok(Login::In(started))
            }
            Outcome::Gone => Ok(gone()),
            Outcome::Wrong { tries } => {
                self.login_limits().failed(source, now);
                Ok(if tries < CHALLENGE_TRIES {
                    Login::Refused {
                        message: format!(
                            "动态口令不正确或已用过（还可再试 {} 次）。请输入验证器应用中当前显示的 6 位数字。",
                            CHALLENGE_TRIES - tries
                        ),
                        captcha: false,
                    }
                } else {
                    Login::Refused {
                        message: "动态口令错误次数过多，请重新输入用户名和密码".into(), captcha: false
                    }
                })
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 6238 appendix B, SHA-1 (the eight-digit values' last six digits).
    #[test]
    fn rfc6238_vectors() {
        let secret = b"12345678901234567890";
        for (t, want) in [
            (59_i64, "287082"),
            (1_111_111_109, "081804"),
            (1_111_111_111, "050471"),
            (1_234_567_890, "005924"),
            (2_000_000_000, "279037"),
            (20_000_000_000, "353130"),
        ] {
            assert_eq!(code_at(secret, t / STEP_SECS), want, "t = {t}");
        }
    }

    #[test]
    fn codes_match_within_one_step_only() {
        let secret = b"12345678901234567890";
        let now_ms = 1_111_111_109_000;
        let now = step_of(now_ms);
        assert_eq!(matching_step(secret, &code_at(secret, now), now_ms), Some(now));
        assert_eq!(matching_step(secret, &code_at(secret, now - 1), now_ms), Some(now - 1));
        assert_eq!(matching_step(secret, &code_at(secret, now + 1), now_ms), Some(now + 1));
        assert_eq!(matching_step(secret, &code_at(secret, now - 2), now_ms), None);
        let spaced = format!("{} {}", &code_at(secret, now)[..3], &code_at(secret, now)[3..]);
        assert_eq!(matching_step(secret, &spaced, now_ms), Some(now), "spaces as apps show them are fine");
        for bad in ["", "12345", "1234567", "abcdef", "２８７０８２"] {
            assert_eq!(matching_step(secret, bad, now_ms), None, "{bad:?}");
        }
    }

    /// RFC 4648 section 10.
    #[test]
    fn base32_vectors() {
        for (input, want) in [
            ("", ""),
            ("f", "MY"),
            ("fo", "MZXQ"),
            ("foo", "MZXW6"),
            ("foob", "MZXW6YQ"),
            ("fooba", "MZXW6YTB"),
            ("foobar", "MZXW6YTBOI"),
        ] {
            assert_eq!(base32(input.as_bytes()), want);
        }
        let uri = otpauth_uri("approver", b"12345678901234567890");
        assert_eq!(
            uri,
            "otpauth://totp/Bursar%3Aapprover?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ&issuer=Bursar&algorithm=SHA1&digits=6&period=30"
        );
    }
}
