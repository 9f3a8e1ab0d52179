//! The engine: the one way to change anything. Every command takes the [`Principal`] asking,
//! checks its permission through [`Principal::require`] (the one place access is decided), runs
//! in one transaction through [`Store::write`], and writes its operation-log entry in that same
//! transaction.

use std::sync::Arc;

use bursar_domain::access::{check_four_eyes, ApprovalKind, Permission, Principal, Scope};
use bursar_store::oplog::{self, Change};
use bursar_store::{Conn, Store, Tx};

use crate::error::EngineError;
use crate::merchants::Registry;

/// How long a payment may wait for the payer, and how the engine asks the channel about it.
#[derive(Clone, Debug)]
pub struct EngineConfig {
    /// Shown on the payer's channel page (e.g. the school's name).
    pub merchant_display_name: String,
    /// Bursar's public base URL; notifications come to `{base}/notify/{channel}`.
    pub public_base_url: String,
    /// How long a QR payment stays payable.
    pub payment_ttl_ms: i64,
    /// Active-query delays after a payment starts; the last one repeats until it expires. Chosen
    /// so that a payment whose notification was dropped is credited within 30 s of being paid.
    pub query_delays_ms: Vec<i64>,
    /// Refund overpayments (late or duplicate payments) automatically, without waiting for finance.
    pub auto_refund_overpayments: bool,
    /// How long a payment-code charge may wait for the payer before it is reversed.
    pub code_deadline_ms: i64,
    /// Opens the secrets Bursar keeps (merchant keys, API app secrets).
    pub sealing: bursar_channels::crypto::SealingKey,
    /// Keys the digest of ID numbers kept for look-up (never the number itself).
    pub id_digest_key: Vec<u8>,
    /// How passwords are set for payers who have none yet.
    pub initial_password: bursar_domain::payer::InitialPasswordRule,
    /// Login limits per source and across sources (accounts are never locked).
    pub login_limits: crate::access::limits::LoginLimits,
    /// How long a login session lasts.
    pub session_ttl_ms: i64,
}

impl Default for EngineConfig {
    fn default() -> Self {
        EngineConfig {
            merchant_display_name: "Bursar".into(),
            public_base_url: "http://127.0.0.1:8080".into(),
            payment_ttl_ms: 15 * 60 * 1000,
            query_delays_ms: vec![5_000, 10_000, 15_000, 30_000],
            auto_refund_overpayments: false,
            code_deadline_ms: crate::collection::codes::CODE_DEADLINE_MS,
            // Replaced by the master key wherever secrets are kept (`bursar::app`).
            sealing: bursar_channels::crypto::SealingKey::from_material(b"bursar default sealing key"),
            id_digest_key: b"bursar default id digest key (replaced at start)".to_vec(),
            initial_password: bursar_domain::payer::InitialPasswordRule::IdLastSix,
            login_limits: crate::access::limits::LoginLimits::default(),
            session_ttl_ms: 2 * 60 * 60 * 1000,
        }
    }
}

#[derive(Clone)]
pub struct Engine {
    store: Store,
    merchants: Registry,
    config: Arc<EngineConfig>,
    limits: Arc<crate::access::limits::SourceLimits>,
    once: Arc<crate::access::limits::OnceTokens>,
    sms: Arc<std::sync::OnceLock<Arc<dyn bursar_channels::sms::SmsGateway>>>,
    code_senders: Arc<crate::access::limits::WindowCounter>,
    forgot_attempts: Arc<crate::access::limits::WindowCounter>,
    guess_pace: Arc<crate::access::limits::WindowCounter>,
    policy: crate::policy::Cached,
    code_pace: Arc<crate::access::limits::WindowCounter>,
}

impl Engine {
    pub fn new(store: Store, config: EngineConfig) -> Engine {
        let merchants = Registry::new(config.sealing.clone(), store.clock());
        let limits = Arc::new(crate::access::limits::SourceLimits::new(config.login_limits));
        Engine {
            store,
            merchants,
            config: Arc::new(config),
            limits,
            once: Arc::default(),
            sms: Arc::default(),
            // SMS codes asked from one network: 10 an hour.
            code_senders: Arc::new(crate::access::limits::WindowCounter::new(3_600_000, 10)),
            // Answers to security questions checked for one network: 30 an hour.
            forgot_attempts: Arc::new(crate::access::limits::WindowCounter::new(3_600_000, 30)),
            // Checks of one much-failed account from one source: 6 a minute.
            guess_pace: Arc::new(crate::access::limits::WindowCounter::new(60_000, 6)),
            policy: Arc::default(),
            // Second-factor codes tried for one operator: 10 an hour.
            code_pace: Arc::new(crate::access::limits::WindowCounter::new(3_600_000, 10)),
        }
    }

    pub fn store(&self) -> &Store {
        &self.store
    }
    pub fn config(&self) -> &EngineConfig {
        &self.config
    }
    pub fn merchants(&self) -> &Registry {
        &self.merchants
    }
    pub fn login_limits(&self) -> &crate::access::limits::SourceLimits {
        &self.limits
    }
    pub(crate) fn sms_slot(&self) -> &std::sync::OnceLock<Arc<dyn bursar_channels::sms::SmsGateway>> {
        &self.sms
    }
    pub(crate) fn code_senders(&self) -> &crate::access::limits::WindowCounter {
        &self.code_senders
    }
    pub(crate) fn forgot_attempts(&self) -> &crate::access::limits::WindowCounter {
        &self.forgot_attempts
    }
    pub(crate) fn guess_pace(&self) -> &crate::access::limits::WindowCounter {
        &self.guess_pace
    }
    pub(crate) fn code_pace(&self) -> &crate::access::limits::WindowCounter {
        &self.code_pace
    }
    pub(crate) fn policy_cache(&self) -> &crate::policy::Cached {
        &self.policy
    }
    /// Tokens that may be used once (captcha answers).
    pub fn once_tokens(&self) -> &crate::access::limits::OnceTokens {
        &self.once
    }
}

/// Appends one change by `by` to the operation log, in the caller's transaction.
pub(crate) async fn log(
    tx: &mut Tx,
    by: &Principal,
    action: &str,
    (entity, entity_id): (&str, &str),
    (before, after): (&str, &str),
    detail: &str,
) -> Result<(), EngineError> {
    let change = Change { action, entity, entity_id, before, after, detail };
    oplog::append(tx, by, &change).await?;
    Ok(())
}

/// The permission's scope for `by`, or the refusal naming it.
pub(crate) fn require(by: &Principal, permission: Permission) -> Result<Scope, EngineError> {
    Ok(by.require(permission)?)
}

/// Whether four-eyes control holds for a kind of approval (on unless the school relaxed it).
pub(crate) async fn four_eyes_enforced(c: &mut impl Conn, kind: ApprovalKind) -> Result<bool, EngineError> {
    Ok(bursar_store::settings::get(c, &kind.setting_name()).await?.as_deref() != Some("0"))
}

/// Refuses a decision by whoever asked for it (unless relaxed for this kind).
pub(crate) async fn check_decider(
    tx: &mut Tx,
    kind: ApprovalKind,
    requested_by: &str,
    by: &Principal,
) -> Result<(), EngineError> {
    let enforced = four_eyes_enforced(tx, kind).await?;
    check_four_eyes(requested_by, by, enforced)?;
    // A business system's request: whoever holds (or held) its secret could have made it.
    if let Some(app) = requested_by.strip_prefix("app:").filter(|_| enforced) {
        let custodians =
            bursar_store::oplog::actors_of(tx, "api_app", app, &["api_app.register", "api_app.rotate_secret"]).await?;
        if custodians.contains(&by.actor_ref()) {
            return Err(bursar_domain::AccessError::OwnApplication.into());
        }
    }
    Ok(())
}
