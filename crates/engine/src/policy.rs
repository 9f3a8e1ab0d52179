//! 系统设置 › 登录与密码, 支付: the numbers a school sets for itself, each within sane bounds and
//! logged when changed — how long operators' passwords must be and how often they are changed,
//! how long a login lasts, how long a payment stays open. Until set, the configuration's values.
//!
//! Money paths read them often, so the engine keeps a copy for a few seconds (by the store's
//! clock, so simulations stay deterministic); a change made here is seen at once.

use std::sync::{Arc, Mutex};

use bursar_domain::access::{Permission, Principal};
use bursar_store::{settings, Tx};

use crate::engine::{log, require, Engine};
use crate::error::{refused, EngineError};

/// How long the engine's copy is used before it is read again.
const CACHE_MS: i64 = 5_000;
const MINUTE_MS: i64 = 60_000;

/// One number a school sets: its setting's name, what it is called, its bounds and unit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Knob {
    /// Shortest operator password (characters).
    OperatorPasswordMin,
    /// Days an operator's password lasts before it must be changed (0: for ever).
    OperatorPasswordDays,
    /// Minutes a login lasts.
    SessionMinutes,
    /// Minutes a payment stays open at the channel.
    PaymentMinutes,
}

impl Knob {
    pub const ALL: &'static [Knob] =
        &[Knob::OperatorPasswordMin, Knob::OperatorPasswordDays, Knob::SessionMinutes, Knob::PaymentMinutes];

    pub fn as_str(self) -> &'static str {
        match self {
            Knob::OperatorPasswordMin => "operator_password_min",
            Knob::OperatorPasswordDays => "operator_password_days",
            Knob::SessionMinutes => "session_minutes",
            Knob::PaymentMinutes => "payment_minutes",
        }
    }

    fn setting(self) -> String {
        format!("policy.{}", self.as_str())
    }

    pub fn label_zh(self) -> &'static str {
        match self {
            Knob::OperatorPasswordMin => "操作员密码最短长度（位）",
            Knob::OperatorPasswordDays => "操作员密码有效期（天，0 为不限）",
            Knob::SessionMinutes => "登录有效时长（分钟）",
            Knob::PaymentMinutes => "订单支付有效期（分钟）",
        }
    }

    /// The allowed range.
    pub fn bounds(self) -> (i64, i64) {
        match self {
            Knob::OperatorPasswordMin => (8, 32),
            Knob::OperatorPasswordDays => (0, 365),
            Knob::SessionMinutes => (10, 720),
            // Channels close an unpaid order within two hours at most.
            Knob::PaymentMinutes => (5, 120),
        }
    }
}

/// The numbers in force.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Policy {
    pub operator_password_min: i64,
    pub operator_password_days: i64,
    pub session_ttl_ms: i64,
    pub payment_ttl_ms: i64,
}

impl Policy {
    /// A knob's value in its own unit.
    pub fn value(&self, k: Knob) -> i64 {
        match k {
            Knob::OperatorPasswordMin => self.operator_password_min,
            Knob::OperatorPasswordDays => self.operator_password_days,
            Knob::SessionMinutes => self.session_ttl_ms / MINUTE_MS,
            Knob::PaymentMinutes => self.payment_ttl_ms / MINUTE_MS,
        }
    }

    fn set(&mut self, k: Knob, v: i64) {
        match k {
            Knob::OperatorPasswordMin => self.operator_password_min = v,
            Knob::OperatorPasswordDays => self.operator_password_days = v,
            Knob::SessionMinutes => self.session_ttl_ms = v * MINUTE_MS,
            Knob::PaymentMinutes => self.payment_ttl_ms = v * MINUTE_MS,
        }
    }

    /// Whether an operator's password set at `changed_at_ms` is too old at `now_ms`.
    pub fn password_expired(&self, changed_at_ms: i64, now_ms: i64) -> bool {
        self.operator_password_days > 0 && now_ms - changed_at_ms > self.operator_password_days * 86_400_000
    }

    /// Whether a new operator password is long and mixed enough; the refusal says what is asked.
    pub fn check_operator_password(&self, p: &str) -> Result<(), EngineError> {
        let n = i64::try_from(p.chars().count()).unwrap_or(i64::MAX);
        if n < self.operator_password_min || !crate::access::passwords::password_ok(p) {
            return Err(refused(format!("密码至少 {} 位，须同时包含字母和数字", self.operator_password_min)));
        }
        Ok(())
    }
}

/// The engine's copy: the policy and when it was read (store clock).
pub(crate) type Cached = Arc<Mutex<Option<(Policy, i64)>>>;

impl Engine {
    fn configured_policy(&self) -> Policy {
        Policy {
            operator_password_min: 8,
            operator_password_days: 0,
            session_ttl_ms: self.config().session_ttl_ms,
            payment_ttl_ms: self.config().payment_ttl_ms,
        }
    }

    /// The policy as stored now.
    pub async fn policy(&self) -> Result<Policy, EngineError> {
        let mut p = self.configured_policy();
        let mut c = self.store().read().await?;
        for &k in Knob::ALL {
            if let Some(v) = settings::get(&mut c, &k.setting()).await?.and_then(|v| v.parse::<i64>().ok()) {
                let (lo, hi) = k.bounds();
                p.set(k, v.clamp(lo, hi));
            }
        }
        let now = self.store().now_ms();
        *self.policy_cache().lock().unwrap_or_else(|e| e.into_inner()) = Some((p, now));
        Ok(p)
    }

    /// The policy, from the engine's copy when it is fresh.
    pub async fn current_policy(&self) -> Result<Policy, EngineError> {
        let now = self.store().now_ms();
        let cached = *self.policy_cache().lock().unwrap_or_else(|e| e.into_inner());
        match cached {
            Some((p, at)) if now - at < CACHE_MS && now >= at => Ok(p),
            _ => self.policy().await,
        }
    }

    /// Sets the numbers (each within its bounds); every one changed is logged with before and after.
    pub async fn set_policy(&self, by: &Principal, values: &[(Knob, i64)]) -> Result<(), EngineError> {
        require(by, Permission::ManageSettings)?;
        for &(k, v) in values {
            let (lo, hi) = k.bounds();
            if !(lo..=hi).contains(&v) {
                return Err(refused(format!("{}须在 {lo}–{hi} 之间", k.label_zh())));
            }
        }
        let current = self.policy().await?;
        let (by, values) = (by.clone(), values.to_vec());
        self.store()
            .write(|tx: &mut Tx| {
                let (by, values) = (by.clone(), values.clone());
                Box::pin(async move {
                    for (k, v) in values {
                        let before = current.value(k);
                        if before == v {
                            continue;
                        }
                        settings::set(tx, &k.setting(), &v.to_string()).await?;
                        let entity = ("setting", k.setting());
                        log(
                            tx,
                            &by,
                            "settings.policy",
                            (entity.0, &entity.1),
                            (&before.to_string(), &v.to_string()),
                            "",
                        )
                        .await?;
                    }
                    Ok::<_, EngineError>(())
                })
            })
            .await?;
        self.policy().await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_expire_only_when_the_school_says() {
        let mut p =
            Policy { operator_password_min: 8, operator_password_days: 0, session_ttl_ms: 0, payment_ttl_ms: 0 };
        assert!(!p.password_expired(0, 10_000 * 86_400_000), "0 days: for ever");
        p.operator_password_days = 90;
        assert!(!p.password_expired(0, 90 * 86_400_000));
        assert!(p.password_expired(0, 90 * 86_400_000 + 1));
        p.operator_password_min = 12;
        assert!(p.check_operator_password("abcdefgh1234").is_ok());
        assert!(p.check_operator_password("abcdefgh123").is_err(), "11 characters");
        assert!(p.check_operator_password("abcdefghijklm").is_err(), "no digit");
    }
}
