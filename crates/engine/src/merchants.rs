//! Merchant accounts: the channel accounts the school collects into, and the adapters that speak
//! to them. Each account's configuration is split into plain settings (base URL, app id, public
//! keys) and secrets (private keys, API keys); the secrets are sealed with AES-256-GCM under the
//! master key (bound to the account by the additional data, so a sealed blob copied to another
//! account does not open) and only opened in memory to build the adapter.
//!
//! Adapters are built when first needed and rebuilt when their account changes, so an account
//! registered by `bursar merchant add` (another process) or on the finance page is used without
//! a restart.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use bursar_channels::crypto::SealingKey;
use bursar_channels::internal::{CampusCardChannel, OfflineChannel};
use bursar_channels::Channel;
use bursar_domain::access::{Permission, Principal};
use bursar_domain::payment::{ChannelKind, MerchantState};
use bursar_domain::Clock;
use bursar_store::merchants::{self as merchant_store, MerchantAccountRow, NewMerchantAccount};
use bursar_store::{Store, Tx};
use serde_json::{Map, Value};

use crate::engine::{log, require, Engine};
use crate::error::{refused, EngineError};

/// The secret fields of each channel's configuration.
pub fn secret_fields(channel: ChannelKind) -> &'static [&'static str] {
    match channel {
        ChannelKind::Wechatpay => &["merchant_private_key_pem", "apiv3_key", "api_v2_key"],
        ChannelKind::Alipay => &["app_private_key_pem"],
        ChannelKind::Unionpay => &["signing_key_pem"],
        ChannelKind::CampusCard | ChannelKind::Offline => &[],
    }
}

/// The field naming the merchant account in each channel's configuration.
fn merchant_no_field(channel: ChannelKind) -> &'static str {
    match channel {
        ChannelKind::Wechatpay => "mchid",
        ChannelKind::Alipay => "app_id",
        ChannelKind::Unionpay => "mer_id",
        ChannelKind::CampusCard | ChannelKind::Offline => "merchant_no",
    }
}

fn aad(channel: ChannelKind, merchant_no: &str) -> Vec<u8> {
    format!("bursar merchant secrets v1|{}|{merchant_no}", channel.as_str()).into_bytes()
}

/// Builds the adapter a full configuration describes, refusing one that cannot work.
pub fn build_adapter(
    channel: ChannelKind,
    config: Value,
    clock: Arc<dyn Clock>,
) -> Result<Arc<dyn Channel>, EngineError> {
    let bad = |e: serde_json::Error| refused(format!("{} 配置无效：{e}", channel.label_zh()));
    Ok(match channel {
        ChannelKind::Wechatpay => {
            let cfg: bursar_channels::wechatpay::WechatPayConfig = serde_json::from_value(config).map_err(bad)?;
            Arc::new(bursar_channels::wechatpay::WechatPayAdapter::new(&cfg, clock)?)
        }
        ChannelKind::Alipay => {
            let cfg: bursar_channels::alipay::AlipayConfig = serde_json::from_value(config).map_err(bad)?;
            Arc::new(bursar_channels::alipay::AlipayAdapter::new(&cfg, clock)?)
        }
        ChannelKind::Unionpay => {
            let cfg: bursar_channels::unionpay::UnionpayConfig = serde_json::from_value(config).map_err(bad)?;
            Arc::new(bursar_channels::unionpay::UnionpayAdapter::new(&cfg, clock)?)
        }
        other => return Err(refused(format!("{} 没有商户配置", other.label_zh()))),
    })
}

struct Cached {
    updated_at_ms: i64,
    adapter: Arc<dyn Channel>,
    /// Installed by a test or the simulation: never replaced from the store.
    pinned: bool,
}

/// Built adapters by (channel, merchant number).
type Adapters = HashMap<(ChannelKind, String), Cached>;

/// The adapters of the school's merchant accounts, by (channel, merchant number).
#[derive(Clone)]
pub struct Registry {
    sealing: SealingKey,
    clock: Arc<dyn Clock>,
    cache: Arc<RwLock<Adapters>>,
}

impl Registry {
    pub(crate) fn new(sealing: SealingKey, clock: Arc<dyn Clock>) -> Registry {
        Registry { sealing, clock, cache: Arc::new(RwLock::new(HashMap::new())) }
    }

    /// Installs an adapter built elsewhere (the deterministic simulation's channel, tests).
    pub fn install(&self, adapter: Arc<dyn Channel>) -> Result<(), EngineError> {
        let channel = ChannelKind::parse(adapter.channel())
            .ok_or_else(|| EngineError::Invariant(format!("unknown channel {}", adapter.channel())))?;
        let key = (channel, adapter.merchant_id().to_string());
        self.write()?.insert(key, Cached { updated_at_ms: i64::MAX, adapter, pinned: true });
        Ok(())
    }

    fn write(&self) -> Result<std::sync::RwLockWriteGuard<'_, Adapters>, EngineError> {
        self.cache.write().map_err(|_| EngineError::Invariant("merchant registry lock poisoned".into()))
    }

    fn read(&self) -> Result<std::sync::RwLockReadGuard<'_, Adapters>, EngineError> {
        self.cache.read().map_err(|_| EngineError::Invariant("merchant registry lock poisoned".into()))
    }

    /// The full configuration of an account (settings with its secrets opened), in memory.
    fn full_config(&self, row: &MerchantAccountRow) -> Result<Value, EngineError> {
        let mut settings: Map<String, Value> = serde_json::from_str(&row.settings)
            .map_err(|e| EngineError::Invariant(format!("merchant {} settings: {e}", row.merchant_no)))?;
        let opened = self.sealing.unseal(&aad(row.channel, &row.merchant_no), &row.sealed_secrets)?;
        let secrets: Map<String, Value> = serde_json::from_slice(&opened)
            .map_err(|e| EngineError::Invariant(format!("merchant {} secrets: {e}", row.merchant_no)))?;
        settings.extend(secrets);
        Ok(Value::Object(settings))
    }

    /// Builds (or rebuilds) and caches the adapter of one account row.
    fn load(&self, row: &MerchantAccountRow) -> Result<Arc<dyn Channel>, EngineError> {
        let adapter = build_adapter(row.channel, self.full_config(row)?, self.clock.clone())?;
        let key = (row.channel, row.merchant_no.clone());
        let mut cache = self.write()?;
        if let Some(c) = cache.get(&key).filter(|c| c.pinned) {
            return Ok(c.adapter.clone());
        }
        cache.insert(key, Cached { updated_at_ms: row.updated_at_ms, adapter: adapter.clone(), pinned: false });
        Ok(adapter)
    }

    /// The adapter of one merchant account; built from the store on first use. `None` when the
    /// account is unknown or disabled.
    pub async fn adapter(
        &self,
        store: &Store,
        channel: ChannelKind,
        merchant_no: &str,
    ) -> Result<Option<Arc<dyn Channel>>, EngineError> {
        match channel {
            ChannelKind::CampusCard => return Ok(Some(Arc::new(CampusCardChannel))),
            ChannelKind::Offline => return Ok(Some(Arc::new(OfflineChannel))),
            _ => {}
        }
        if let Some(c) = self.read()?.get(&(channel, merchant_no.to_string())) {
            return Ok(Some(c.adapter.clone()));
        }
        let mut c = store.read().await?;
        let Some(row) = merchant_store::by_channel_and_no(&mut c, channel, merchant_no).await? else {
            return Ok(None);
        };
        if row.state != MerchantState::Active {
            return Ok(None);
        }
        self.load(&row).map(Some)
    }

    /// Every usable adapter of a channel (a notification is offered to each until one verifies
    /// it), refreshed from the store: new accounts are built, changed ones rebuilt.
    pub async fn adapters_of(&self, store: &Store, channel: ChannelKind) -> Result<Vec<Arc<dyn Channel>>, EngineError> {
        let rows = {
            let mut c = store.read().await?;
            merchant_store::all(&mut c).await?
        };
        for row in rows.iter().filter(|r| r.channel == channel && r.state == MerchantState::Active) {
            let fresh = self
                .read()?
                .get(&(channel, row.merchant_no.clone()))
                .is_some_and(|c| c.pinned || c.updated_at_ms == row.updated_at_ms);
            if !fresh {
                if let Err(e) = self.load(row) {
                    tracing::error!(channel = channel.as_str(), merchant = %row.merchant_no, error = %e, "merchant account not usable");
                }
            }
        }
        Ok(self.read()?.iter().filter(|((c, _), _)| *c == channel).map(|(_, v)| v.adapter.clone()).collect())
    }

    /// Builds every active account's adapter now (at start), reporting the ones that cannot be
    /// built (their fee items then do not offer that channel).
    pub async fn load_all(&self, store: &Store) -> Result<usize, EngineError> {
        let mut n = 0;
        for channel in [ChannelKind::Wechatpay, ChannelKind::Alipay, ChannelKind::Unionpay] {
            n += self.adapters_of(store, channel).await?.len();
        }
        Ok(n)
    }
}

impl Engine {
    /// Registers (or updates: key rotation) a merchant account from a channel's full
    /// configuration. The adapter is built first, so a configuration that cannot work is
    /// refused with the reason; the secrets are sealed before they are stored. Returns the
    /// account id. Takes effect at once, in this and every other running instance.
    pub async fn register_merchant(
        &self,
        by: &Principal,
        channel: ChannelKind,
        name: &str,
        config: &Value,
    ) -> Result<String, EngineError> {
        require(by, Permission::ManageChannels)?;
        let Value::Object(all) = config else { return Err(refused("商户配置须为 JSON 对象")) };
        let merchant_no = all
            .get(merchant_no_field(channel))
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .ok_or_else(|| refused(format!("商户配置缺少 {}", merchant_no_field(channel))))?
            .to_string();
        if !matches!(channel, ChannelKind::CampusCard | ChannelKind::Offline) {
            build_adapter(channel, config.clone(), self.store().clock())?;
        }
        let mut settings = Map::new();
        let mut secrets = Map::new();
        for (k, v) in all {
            if secret_fields(channel).contains(&k.as_str()) {
                secrets.insert(k.clone(), v.clone());
            } else {
                settings.insert(k.clone(), v.clone());
            }
        }
        let plain = serde_json::to_vec(&Value::Object(secrets)).map_err(|e| EngineError::Invariant(e.to_string()))?;
        let sealed = self.config().sealing.seal(&aad(channel, &merchant_no), &plain)?;
        let settings = Value::Object(settings).to_string();
        let (by, name) = (by.clone(), name.trim().to_string());
        let id = self
            .store()
            .write(|tx: &mut Tx| {
                let (by, name, merchant_no, settings, sealed) =
                    (by.clone(), name.clone(), merchant_no.clone(), settings.clone(), sealed.clone());
                Box::pin(async move {
                    let new_id = tx.new_id();
                    let now = tx.now_ms;
                    let m = NewMerchantAccount {
                        id: &new_id,
                        channel,
                        merchant_no: &merchant_no,
                        name: &name,
                        settings: &settings,
                        sealed_secrets: &sealed,
                    };
                    let id = merchant_store::upsert(tx, &m, now).await?;
                    let detail = format!("channel={} merchant_no={merchant_no}", channel.as_str());
                    log(tx, &by, "merchant.register", ("merchant_account", &id), ("", "active"), &detail).await?;
                    Ok::<_, EngineError>(id)
                })
            })
            .await?;
        let row = {
            let mut c = self.store().read().await?;
            merchant_store::by_channel_and_no(&mut c, channel, &merchant_no).await?
        };
        if let Some(row) = row.filter(|r| !matches!(r.channel, ChannelKind::CampusCard | ChannelKind::Offline)) {
            self.merchants().load(&row)?;
        }
        Ok(id)
    }

    /// The adapter of a merchant account (see [`Registry::adapter`]).
    pub async fn adapter(
        &self,
        channel: ChannelKind,
        merchant_no: &str,
    ) -> Result<Option<Arc<dyn Channel>>, EngineError> {
        self.merchants().adapter(self.store(), channel, merchant_no).await
    }

    /// Every usable adapter of a channel (see [`Registry::adapters_of`]).
    pub async fn adapters_of(&self, channel: ChannelKind) -> Result<Vec<Arc<dyn Channel>>, EngineError> {
        self.merchants().adapters_of(self.store(), channel).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_secrets_open_only_for_their_account_and_key() {
        let k = SealingKey::from_material(b"0123456789abcdef0123456789abcdef");
        let sealed = k.seal(&aad(ChannelKind::Alipay, "2021"), b"{\"app_private_key_pem\":\"x\"}").unwrap();
        assert!(!sealed.contains("app_private_key_pem"));
        assert_eq!(k.unseal(&aad(ChannelKind::Alipay, "2021"), &sealed).unwrap(), b"{\"app_private_key_pem\":\"x\"}");
        assert!(k.unseal(&aad(ChannelKind::Alipay, "2022"), &sealed).is_err(), "copied to another account");
        let other = SealingKey::from_material(b"another key another key another k");
        assert!(other.unseal(&aad(ChannelKind::Alipay, "2021"), &sealed).is_err(), "wrong master key");
    }
}
