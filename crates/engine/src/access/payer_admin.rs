//! What finance does to a payer's account (管理缴费人): freeze it with a reason and unfreeze it,
//! give it an end date (graduates, outside people), and reset a forgotten password to a
//! temporary one told to the person (changed, with proof of the ID number, at the next login).
//! Freezing and resetting end the payer's sessions; every step is logged in its transaction.

use bursar_domain::access::{Permission, Principal, Scope};
use bursar_store::payers::{self, PayerRow};
use bursar_store::sessions::{self as session_store, SubjectKind};
use bursar_store::{Conn, Tx};

use crate::access::passwords;
use crate::engine::{log, require, Engine};
use crate::error::{refused, EngineError};

/// Letters and digits a person reads aloud without confusion (no 0/O, 1/l/I).
const TEMP_ALPHABET: &[u8] = b"abcdefghjkmnpqrstuvwxyz23456789";

/// A temporary password: ten characters with letters and digits.
pub(crate) fn temporary_password() -> String {
    use rand::Rng;
    let mut rng = rand::thread_rng();
    loop {
        let p: String = (0..10).map(|_| TEMP_ALPHABET[rng.gen_range(0..TEMP_ALPHABET.len())] as char).collect();
        if passwords::password_ok(&p) {
            return p;
        }
    }
}

async fn payer_in_scope(c: &mut impl Conn, scope: &Scope, id: &str) -> Result<PayerRow, EngineError> {
    let p = payers::payer(c, id).await.map_err(|_| EngineError::NotFound(format!("缴费人 {id}")))?;
    let covered = match scope {
        Scope::All => true,
        Scope::Departments(_) => p.department_id.as_deref().is_some_and(|d| scope.covers_department(d)),
        Scope::Payer(_) | Scope::FeeItems(_) => false,
    };
    if !covered {
        return Err(EngineError::NotFound(format!("缴费人 {id}")));
    }
    Ok(p)
}

impl Engine {
    /// Freezes (`Some(reason)`) or unfreezes (`None`) a payer's account. Freezing ends their
    /// sessions at once.
    pub async fn set_payer_frozen(
        &self,
        by: &Principal,
        payer_id: &str,
        reason: Option<&str>,
    ) -> Result<(), EngineError> {
        let scope = require(by, Permission::ManagePayers)?;
        let reason = reason.map(|r| r.trim().to_string());
        if reason.as_ref().is_some_and(|r| r.is_empty() || r.chars().count() > 200) {
            return Err(refused("请填写冻结原因（不超过 200 字）"));
        }
        let (by, id) = (by.clone(), payer_id.to_string());
        self.store()
            .write(|tx: &mut Tx| {
                let (by, id, reason, scope) = (by.clone(), id.clone(), reason.clone(), scope.clone());
                Box::pin(async move {
                    payer_in_scope(tx, &scope, &id).await?;
                    let now = tx.now_ms;
                    let changed = payers::set_frozen(tx, &id, reason.as_deref().map(|r| (now, r))).await?;
                    match (&reason, changed) {
                        (Some(_), false) => return Err(refused("该账户已冻结")),
                        (None, false) => return Err(refused("该账户未冻结")),
                        _ => {}
                    }
                    let (action, after, detail) = match &reason {
                        Some(r) => {
                            let ended = session_store::delete_others(tx, SubjectKind::Payer, &id, None).await?;
                            ("payer.freeze", "frozen", format!("reason={r} sessions ended: {ended}"))
                        }
                        None => ("payer.unfreeze", "active", String::new()),
                    };
                    log(tx, &by, action, ("payer", &id), ("", after), &detail).await
                })
            })
            .await
    }

    /// Sets the last day a payer's account can be used (`None`: no end). A date already past
    /// ends the account's sessions.
    pub async fn set_payer_valid_until(
        &self,
        by: &Principal,
        payer_id: &str,
        until_ms: Option<i64>,
    ) -> Result<(), EngineError> {
        let scope = require(by, Permission::ManagePayers)?;
        let (by, id) = (by.clone(), payer_id.to_string());
        self.store()
            .write(|tx: &mut Tx| {
                let (by, id, scope) = (by.clone(), id.clone(), scope.clone());
                Box::pin(async move {
                    payer_in_scope(tx, &scope, &id).await?;
                    payers::set_valid_until(tx, &id, until_ms).await?;
                    let mut detail = match until_ms {
                        Some(u) => format!("valid_until={}", bursar_domain::time_fmt::date_cst(u - 1)),
                        None => "valid_until=none".to_string(),
                    };
                    if until_ms.is_some_and(|u| u <= tx.now_ms) {
                        let ended = session_store::delete_others(tx, SubjectKind::Payer, &id, None).await?;
                        detail.push_str(&format!(" sessions ended: {ended}"));
                    }
                    log(tx, &by, "payer.validity", ("payer", &id), ("", ""), &detail).await
                })
            })
            .await
    }

    /// Resets a payer's password to a temporary one, returned once to tell the person; it must
    /// be changed (with proof of the ID number) at the next login. Ends their sessions.
    pub async fn reset_payer_password(&self, by: &Principal, payer_id: &str) -> Result<String, EngineError> {
        let scope = require(by, Permission::ManagePayers)?;
        {
            let mut c = self.store().read().await?;
            let p = payer_in_scope(&mut c, &scope, payer_id).await?;
            if p.password_hash == "!" {
                return Err(refused("该缴费人以证件号码和姓名登录，没有密码可重置"));
            }
        }
        let temporary = temporary_password();
        let hash = passwords::hash(&temporary).await?;
        let (by, id) = (by.clone(), payer_id.to_string());
        self.store()
            .write(|tx: &mut Tx| {
                let (by, id, hash) = (by.clone(), id.clone(), hash.clone());
                Box::pin(async move {
                    payers::set_payer_password(tx, &id, &hash, true).await?;
                    let ended = session_store::delete_others(tx, SubjectKind::Payer, &id, None).await?;
                    let detail = format!("temporary password set; sessions ended: {ended}");
                    log(tx, &by, "payer.password_reset", ("payer", &id), ("", ""), &detail).await
                })
            })
            .await?;
        Ok(temporary)
    }
}
