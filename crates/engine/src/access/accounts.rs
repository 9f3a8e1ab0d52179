//! A payer's own account (payer guide §1–2): password change (forced after an initial
//! password), phone, security questions set after confirming the password, "forgot password"
//! answered by those questions, outside people registering themselves. Every change is logged;
//! a password change or reset ends the person's other sessions.

use bursar_domain::access::{Permission, Principal, Scope};
use bursar_domain::payer::{is_valid_resident_id, mask_id_number, PayerKind};
use bursar_store::payers::{self, NewPayer, PayerRow, SecurityRow};
use bursar_store::sessions::{self as session_store, AuthMethod, SubjectKind};
use bursar_store::{StoreError, Tx};

use crate::access::passwords::{self, normalize_answer, password_ok, PASSWORD_RULE};
use crate::access::sessions::Started;
use crate::engine::{log, require, Engine};
use crate::error::{refused, EngineError};

/// The kinds of payer who log in with a password.
pub const PASSWORD_KINDS: [PayerKind; 4] =
    [PayerKind::EnrolledStudent, PayerKind::Staff, PayerKind::Registrant, PayerKind::External];

/// The login identifier stored for what the payer types (outside people log in by phone).
pub fn stored_identifier(kind: PayerKind, typed: &str) -> String {
    match kind {
        PayerKind::External => format!("M{}", typed.trim()),
        _ => typed.trim().to_string(),
    }
}

/// A login identifier as its owner types it (an outside person's phone, not the stored `M…`).
pub fn shown_identifier(kind: PayerKind, stored: &str) -> String {
    match stored.strip_prefix('M') {
        Some(phone) if kind == PayerKind::External => phone.to_string(),
        _ => stored.to_string(),
    }
}

/// Two security questions and their answers.
#[derive(Clone, Debug)]
pub struct Questions {
    pub question1: String,
    pub answer1: String,
    pub question2: String,
    pub answer2: String,
}

impl Questions {
    fn check(&self) -> Result<(), EngineError> {
        let fields = [&self.question1, &self.answer1, &self.question2, &self.answer2];
        if fields.iter().any(|v| v.trim().is_empty() || v.chars().count() > 60)
            || self.question1.trim() == self.question2.trim()
        {
            return Err(refused("请填写两个不同的问题及答案（各不超过 60 字）"));
        }
        Ok(())
    }
    async fn row(&self, payer_id: &str, now_ms: i64) -> Result<SecurityRow, EngineError> {
        Ok(SecurityRow {
            payer_id: payer_id.to_string(),
            question1: self.question1.trim().into(),
            answer1_hash: passwords::hash(&normalize_answer(&self.answer1)).await?,
            question2: self.question2.trim().into(),
            answer2_hash: passwords::hash(&normalize_answer(&self.answer2)).await?,
            updated_at_ms: now_ms,
        })
    }
}

/// What an outside person gives to register.
#[derive(Clone, Debug)]
pub struct Registration {
    pub name: String,
    pub phone: String,
    /// The one-time code sent to the phone (it proves the phone is theirs).
    pub sms_code: String,
    pub id_number: String,
    pub password: String,
    pub questions: Questions,
}

/// What a payer must prove, besides the initial password, to set their first own password.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum InitialProof {
    /// Not an initial password.
    None,
    /// The whole ID document number the school registered.
    IdNumber,
    /// The name (where the school registered no ID number).
    Name,
}

pub fn initial_proof(p: &PayerRow) -> InitialProof {
    if p.must_change_password == 0 || p.password_hash == "!" {
        InitialProof::None
    } else if !p.id_number_digest.is_empty() {
        InitialProof::IdNumber
    } else {
        InitialProof::Name
    }
}

fn own_id(by: &Principal) -> Result<String, EngineError> {
    match require(by, Permission::ManageOwnAccount)? {
        Scope::Payer(id) => Ok(id),
        _ => Err(EngineError::Access(bursar_domain::AccessError::Missing(Permission::ManageOwnAccount))),
    }
}

impl Engine {
    /// The payer's own record.
    pub async fn own_payer(&self, by: &Principal) -> Result<PayerRow, EngineError> {
        let id = own_id(by)?;
        let mut c = self.store().read().await?;
        Ok(payers::payer(&mut c, &id).await?)
    }

    /// Confirms the payer's current password (account changes ask for it).
    async fn confirm_password(&self, by: &Principal, current: &str) -> Result<PayerRow, EngineError> {
        let p = self.own_payer(by).await?;
        if !self.check_password(&p.id, current, &p.password_hash).await? {
            return Err(refused("当前密码不正确"));
        }
        Ok(p)
    }

    /// Changes the payer's password after confirming the current one; every other session of
    /// theirs ends. `keep_token`: the session making the change, which stays.
    ///
    /// The first change of an initial password (fixed, or from the ID number) also needs
    /// `proof`: a fact the school holds that the initial password does not give away — the
    /// whole ID number, or the name where the school holds no ID number. Someone who only
    /// guessed an initial password cannot take the account.
    pub async fn change_password(
        &self,
        by: &Principal,
        current: &str,
        new: &str,
        proof: &str,
        keep_token: &str,
    ) -> Result<(), EngineError> {
        let p = self.confirm_password(by, current).await?;
        match initial_proof(&p) {
            InitialProof::None => {}
            InitialProof::IdNumber => {
                let digest = passwords::id_number_digest(&self.config().id_digest_key, proof.trim());
                if proof.trim().is_empty() || digest != p.id_number_digest {
                    return Err(refused("证件号码与学校登记的不一致，请核对后重试；如有疑问请联系财务处"));
                }
            }
            InitialProof::Name => {
                if proof.trim().is_empty() || proof.trim() != p.name.trim() {
                    return Err(refused("姓名与学校登记的不一致，请核对后重试"));
                }
            }
        }
        if !password_ok(new) || new == current {
            return Err(refused(PASSWORD_RULE));
        }
        let hash = passwords::hash(new).await?;
        let (by, keep) = (by.clone(), keep_token.to_string());
        self.store()
            .write(|tx: &mut Tx| {
                let (by, id, hash, keep) = (by.clone(), p.id.clone(), hash.clone(), keep.clone());
                Box::pin(async move {
                    payers::set_payer_password(tx, &id, &hash, false).await?;
                    let ended = session_store::delete_others(tx, SubjectKind::Payer, &id, Some(&keep)).await?;
                    let detail = format!("other sessions ended: {ended}");
                    log(tx, &by, "payer.password", ("payer", &id), ("", ""), &detail).await
                })
            })
            .await
    }

    /// Changes the payer's phone. A session handed over by a business system (SSO) must confirm
    /// the password first.
    pub async fn change_phone(&self, by: &Principal, phone: &str, current: Option<&str>) -> Result<(), EngineError> {
        let phone = phone.trim().to_string();
        if phone.len() != 11 || !phone.bytes().all(|b| b.is_ascii_digit()) {
            return Err(refused("手机号须为 11 位数字"));
        }
        let p = match (by.payer().is_some_and(|p| p.via_sso), current) {
            (true, Some(pw)) => self.confirm_password(by, pw).await?,
            (true, None) => return Err(refused("请输入当前密码以确认修改")),
            (false, _) => self.own_payer(by).await?,
        };
        let by = by.clone();
        self.store()
            .write(|tx: &mut Tx| {
                let (by, id, phone) = (by.clone(), p.id.clone(), phone.clone());
                Box::pin(async move {
                    payers::set_phone(tx, &id, &phone).await?;
                    let masked = bursar_domain::payer::mask_phone(&phone);
                    log(tx, &by, "payer.phone", ("payer", &id), ("", ""), &masked).await
                })
            })
            .await
    }

    /// Sets the payer's security questions after confirming the password.
    pub async fn set_security_questions(
        &self,
        by: &Principal,
        current: &str,
        q: &Questions,
    ) -> Result<(), EngineError> {
        let p = self.confirm_password(by, current).await.map_err(|_| refused("当前密码不正确，密保问题未修改"))?;
        q.check()?;
        let row = q.row(&p.id, self.store().now_ms()).await?;
        let by = by.clone();
        self.store()
            .write(|tx: &mut Tx| {
                let (by, row) = (by.clone(), row.clone());
                Box::pin(async move {
                    payers::set_security(tx, &row).await?;
                    log(tx, &by, "payer.security", ("payer", &row.payer_id), ("", ""), "").await
                })
            })
            .await
    }

    /// The security questions of an account, for "forgot password" (`None`: no such account or
    /// no questions — the caller says the same either way).
    pub async fn security_questions(
        &self,
        kind: PayerKind,
        identifier: &str,
    ) -> Result<Option<(String, String)>, EngineError> {
        let mut c = self.store().read().await?;
        let Some(p) = payers::payer_by_login(&mut c, kind, identifier).await? else { return Ok(None) };
        Ok(payers::security(&mut c, &p.id).await?.map(|s| (s.question1, s.question2)))
    }

    /// Resets a forgotten password with the answers to the security questions (wrong answers
    /// pause resets of that account for a while); every session of the payer ends.
    pub async fn reset_forgotten_password(
        &self,
        kind: PayerKind,
        identifier: &str,
        answers: (&str, &str),
        new: &str,
        source: std::net::IpAddr,
    ) -> Result<Result<(), String>, EngineError> {
        let (payer, security) = {
            let mut c = self.store().read().await?;
            let p = payers::payer_by_login(&mut c, kind, identifier).await?;
            let q = match &p {
                Some(p) => payers::security(&mut c, &p.id).await?,
                None => None,
            };
            (p, q)
        };
        let (Some(payer), Some(sec)) = (payer, security) else {
            return Ok(Err("该账号不存在或未设置密保问题，请携带证件到财务处重置密码".into()));
        };
        // Wrong answers are counted per account: after five within a quarter of an hour, resets
        // by questions pause for that account (logging in with the password is untouched). The
        // pause and the network's budget are checked before any answer is (no work for a flood).
        let key = format!("forgot:{}:{identifier}", kind.as_str());
        let now = self.store().now_ms();
        let (failures, last_ms) = {
            let mut c = self.store().read().await?;
            session_store::failure_state(&mut c, &key).await?
        };
        if failures >= FORGOT_MAX_FAILURES && now - last_ms < FORGOT_PAUSE_MS {
            let minutes = ((last_ms + FORGOT_PAUSE_MS - now) / 60_000).max(1);
            return Ok(Err(format!("密保答案错误次数过多，请 {minutes} 分钟后再试，或携带证件到财务处重置密码")));
        }
        if !self.forgot_attempts().hit(&source.to_string(), now) {
            return Ok(Err("此网络找回密码的尝试过于频繁，请稍后再试".into()));
        }
        let ok = passwords::verify(&normalize_answer(answers.0), &sec.answer1_hash).await?
            && passwords::verify(&normalize_answer(answers.1), &sec.answer2_hash).await?;
        if !ok {
            let k = key.clone();
            self.store()
                .write(|tx: &mut Tx| {
                    let k = k.clone();
                    Box::pin(async move {
                        let now = tx.now_ms;
                        if failures >= FORGOT_MAX_FAILURES {
                            session_store::clear_failures(tx, &k).await?;
                        }
                        session_store::record_failure(tx, &k, now).await
                    })
                })
                .await?;
            return Ok(Err("密保答案不正确".into()));
        }
        if !password_ok(new) {
            return Ok(Err(PASSWORD_RULE.into()));
        }
        let hash = passwords::hash(new).await?;
        let by = Principal::Payer(bursar_domain::access::PayerPrincipal { id: payer.id.clone(), kind, via_sso: false });
        self.store()
            .write(|tx: &mut Tx| {
                let (by, id, hash, key) = (by.clone(), payer.id.clone(), hash.clone(), key.clone());
                Box::pin(async move {
                    payers::set_payer_password(tx, &id, &hash, false).await?;
                    session_store::clear_failures(tx, &key).await?;
                    let ended = session_store::delete_others(tx, SubjectKind::Payer, &id, None).await?;
                    let detail = format!("reset by security questions; sessions ended: {ended}");
                    log(tx, &by, "payer.password_reset", ("payer", &id), ("", ""), &detail).await
                })
            })
            .await?;
        Ok(Ok(()))
    }

    /// An outside person registers (payer kind 校外人员, logging in by phone) and is logged in.
    pub async fn register_external(
        &self,
        r: &Registration,
        previous_token: Option<&str>,
    ) -> Result<Started, EngineError> {
        let (name, phone, id_number) =
            (r.name.trim().to_string(), r.phone.trim().to_string(), r.id_number.trim().to_uppercase());
        if name.is_empty() || name.chars().count() > 30 {
            return Err(field("name", "请填写姓名"));
        }
        if !crate::access::phone::is_mobile(&phone) {
            return Err(field("phone", "手机号须为 11 位数字"));
        }
        if !id_number.is_empty() && !is_valid_resident_id(&id_number) {
            return Err(field("id_number", "身份证号码无效"));
        }
        if !password_ok(&r.password) {
            return Err(field("password", "密码至少 8 位，须同时包含字母和数字"));
        }
        r.questions.check().map_err(|_| field("question1", "请设置两个不同的密保问题及答案"))?;
        // Last, once everything else is right: the phone is proven (a wrong code counts).
        self.verify_phone_code(&phone, &r.sms_code).await?;
        let identifier = stored_identifier(PayerKind::External, &phone);
        let password_hash = passwords::hash(&r.password).await?;
        let now = self.store().now_ms();
        let digest = if id_number.is_empty() {
            String::new()
        } else {
            passwords::id_number_digest(&self.config().id_digest_key, &id_number)
        };
        let questions = r.questions.row("", now).await?;
        let masked = if id_number.is_empty() { String::new() } else { mask_id_number(&id_number) };
        let id = self
            .store()
            .write(|tx: &mut Tx| {
                let (identifier, name, phone, digest, masked, password_hash, questions) = (
                    identifier.clone(),
                    name.clone(),
                    phone.clone(),
                    digest.clone(),
                    masked.clone(),
                    password_hash.clone(),
                    questions.clone(),
                );
                Box::pin(async move {
                    let id = tx.new_id();
                    let now = tx.now_ms;
                    let p = NewPayer {
                        kind: PayerKind::External,
                        identifier: &identifier,
                        name: &name,
                        id_number_masked: &masked,
                        id_number_digest: &digest,
                        phone: &phone,
                        department_id: None,
                        class_name: "",
                        password_hash: &password_hash,
                    };
                    payers::insert_payer(tx, &id, &p, now).await.map_err(|e| match e {
                        StoreError::Duplicate(_) => field("phone", "该手机号已注册，请直接登录或找回密码"),
                        other => other.into(),
                    })?;
                    payers::set_payer_password(tx, &id, &password_hash, false).await?;
                    payers::set_phone_verified(tx, &id, now).await?;
                    payers::set_security(tx, &SecurityRow { payer_id: id.clone(), ..questions }).await?;
                    let by = Principal::Payer(bursar_domain::access::PayerPrincipal {
                        id: id.clone(),
                        kind: PayerKind::External,
                        via_sso: false,
                    });
                    log(tx, &by, "payer.register", ("payer", &id), ("", "active"), "self-registration").await?;
                    Ok::<_, EngineError>(id)
                })
            })
            .await?;
        self.start_session(SubjectKind::Payer, &id, AuthMethod::Password, previous_token, None).await
    }
}

/// Wrong security answers of one account after which resets by questions pause, and for how long.
const FORGOT_MAX_FAILURES: i64 = 5;
const FORGOT_PAUSE_MS: i64 = 15 * 60_000;

/// A registration refused because of one form field (named as the form names it).
fn field(name: &'static str, message: &str) -> EngineError {
    EngineError::Param(crate::api::ParamError { code: "invalid_field", param: name.into(), message: message.into() })
}
