//! Merchant accounts: the channel accounts the school collects into. Each account's settings are
//! split into plain settings (base URL, app id, public keys) and secrets (private keys, API keys);
//! the secrets are sealed with AES-256-GCM under the master key (bound to the account by the
//! additional data, so a sealed blob copied to another account does not open) and only unsealed
//! in memory to build the adapter. Nothing here logs a secret.

use std::path::Path;
use std::sync::Arc;

use anyhow::{bail, Context};
use bursar_channels::crypto::SealingKey;
use bursar_channels::wechatpay::{WechatPayAdapter, WechatPayConfig};
use bursar_channels::Channel;
use bursar_domain::payment::ChannelKind;
use bursar_domain::Clock;
use bursar_engine::Engine;
use bursar_store::merchants::{self, MerchantAccountRow, NewMerchantAccount};
use bursar_store::Store;
use serde_json::{Map, Value};

/// The key that seals secrets at rest (merchant keys, API app secrets): `BURSAR_MASTER_KEY` (at
/// least 32 characters), or generated once into `<data-dir>/secrets/master.key` (mode 0600).
#[derive(Clone, Debug)]
pub struct MasterKey(SealingKey);

impl MasterKey {
    pub fn from_material(material: &[u8]) -> MasterKey {
        MasterKey(SealingKey::from_material(material))
    }

    pub fn load_or_create(data_dir: &Path) -> anyhow::Result<MasterKey> {
        if let Ok(v) = std::env::var("BURSAR_MASTER_KEY") {
            if v.len() < 32 {
                bail!("BURSAR_MASTER_KEY must be at least 32 characters");
            }
            return Ok(MasterKey::from_material(v.as_bytes()));
        }
        let dir = data_dir.join("secrets");
        let path = dir.join("master.key");
        if let Ok(existing) = std::fs::read_to_string(&path) {
            return Ok(MasterKey::from_material(existing.trim().as_bytes()));
        }
        std::fs::create_dir_all(&dir).with_context(|| dir.display().to_string())?;
        let material = bursar_channels::crypto::random_alnum(48);
        std::fs::write(&path, &material).with_context(|| path.display().to_string())?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))?;
        }
        Ok(MasterKey::from_material(material.as_bytes()))
    }

    /// The sealing key, for the parts of Bursar that keep their own secrets (API apps).
    pub fn sealing(&self) -> SealingKey {
        self.0.clone()
    }

    fn aad(channel: &str, merchant_no: &str) -> Vec<u8> {
        format!("bursar merchant secrets v1|{channel}|{merchant_no}").into_bytes()
    }

    pub fn seal(&self, channel: &str, merchant_no: &str, plaintext: &[u8]) -> anyhow::Result<String> {
        Ok(self.0.seal(&Self::aad(channel, merchant_no), plaintext)?)
    }

    pub fn unseal(&self, channel: &str, merchant_no: &str, sealed: &str) -> anyhow::Result<Vec<u8>> {
        self.0
            .unseal(&Self::aad(channel, merchant_no), sealed)
            .context("cannot open the merchant secrets (wrong master key, or copied from another account)")
    }
}

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

/// Registers (or updates) a merchant account from a channel's full configuration, sealing its
/// secrets. Returns the account id.
pub async fn register(
    store: &Store,
    key: &MasterKey,
    channel: ChannelKind,
    name: &str,
    config: &Value,
) -> anyhow::Result<String> {
    let Value::Object(all) = config else { bail!("a merchant configuration must be a JSON object") };
    let merchant_no = all
        .get(merchant_no_field(channel))
        .and_then(Value::as_str)
        .with_context(|| format!("the configuration has no {}", merchant_no_field(channel)))?
        .to_string();
    let mut settings = Map::new();
    let mut secrets = Map::new();
    for (k, v) in all {
        if secret_fields(channel).contains(&k.as_str()) {
            secrets.insert(k.clone(), v.clone());
        } else {
            settings.insert(k.clone(), v.clone());
        }
    }
    let sealed = key.seal(channel.as_str(), &merchant_no, &serde_json::to_vec(&Value::Object(secrets))?)?;
    let settings = serde_json::to_string(&Value::Object(settings))?;
    let mut tx = store.begin().await?;
    let now = tx.now_ms;
    let id = tx.new_id();
    let m = NewMerchantAccount {
        id: &id,
        channel: channel.as_str(),
        merchant_no: &merchant_no,
        name,
        settings: &settings,
        sealed_secrets: &sealed,
    };
    let id = merchants::upsert(tx.c(), &m, now).await?;
    let change = bursar_store::oplog::Change {
        action: "merchant.register",
        entity: "merchant_account",
        entity_id: &id,
        before: "",
        after: "active",
        detail: &format!("channel={} merchant_no={merchant_no}", channel.as_str()),
    };
    bursar_store::oplog::append(tx.c(), now, &bursar_store::oplog::Actor::system("config"), &change).await?;
    tx.commit().await?;
    Ok(id)
}

/// Reads a channel configuration JSON, replacing every `X_file` key by the file's contents
/// (relative to the JSON's folder): `X_key` for the API keys (trimmed), `X_pem` otherwise.
pub fn read_config_file(path: &Path) -> anyhow::Result<Value> {
    let text = std::fs::read_to_string(path).with_context(|| path.display().to_string())?;
    let Value::Object(map) = serde_json::from_str::<Value>(&text).with_context(|| path.display().to_string())? else {
        bail!("{} is not a JSON object", path.display())
    };
    let dir = path.parent().unwrap_or(Path::new("."));
    let mut out = Map::new();
    for (k, v) in map {
        match (k.strip_suffix("_file"), v.as_str()) {
            (Some(stem), Some(file)) => {
                let f = dir.join(file);
                let contents = std::fs::read_to_string(&f).with_context(|| f.display().to_string())?;
                if stem.ends_with("apiv3_key") || stem.ends_with("api_v2_key") {
                    out.insert(stem.to_string(), Value::String(contents.trim().to_string()));
                } else {
                    out.insert(format!("{stem}_pem"), Value::String(contents));
                }
            }
            _ => {
                out.insert(k, v);
            }
        }
    }
    Ok(Value::Object(out))
}

/// Builds the adapter a configuration describes, refusing one that cannot work.
pub fn check_config(channel: ChannelKind, config: &Value) -> anyhow::Result<()> {
    let clock: Arc<dyn Clock> = Arc::new(bursar_domain::SystemClock);
    let ctx = || format!("the {} configuration", channel.as_str());
    match channel {
        ChannelKind::Wechatpay => {
            WechatPayAdapter::new(
                &serde_json::from_value::<WechatPayConfig>(config.clone()).with_context(ctx)?,
                clock,
            )?;
        }
        ChannelKind::Alipay => {
            let c: bursar_channels::alipay::AlipayConfig = serde_json::from_value(config.clone()).with_context(ctx)?;
            bursar_channels::alipay::AlipayAdapter::new(&c, clock)?;
        }
        ChannelKind::Unionpay => {
            let c: bursar_channels::unionpay::UnionpayConfig =
                serde_json::from_value(config.clone()).with_context(ctx)?;
            bursar_channels::unionpay::UnionpayAdapter::new(&c, clock)?;
        }
        other => bail!("{} has no merchant configuration", other.as_str()),
    }
    Ok(())
}

/// The full configuration of an account (settings with its secrets unsealed), for building
/// its adapter in memory.
pub fn full_config(key: &MasterKey, row: &MerchantAccountRow) -> anyhow::Result<Value> {
    let mut settings: Map<String, Value> = serde_json::from_str(&row.settings).context("merchant settings")?;
    let secrets: Map<String, Value> =
        serde_json::from_slice(&key.unseal(&row.channel, &row.merchant_no, &row.sealed_secrets)?)
            .context("merchant secrets")?;
    settings.extend(secrets);
    Ok(Value::Object(settings))
}

/// Builds the adapter for one merchant account.
pub fn build_adapter(
    key: &MasterKey,
    row: &MerchantAccountRow,
    clock: Arc<dyn Clock>,
) -> anyhow::Result<Arc<dyn Channel>> {
    let channel = ChannelKind::parse(&row.channel).with_context(|| format!("unknown channel {}", row.channel))?;
    let config = full_config(key, row)?;
    let ctx = || format!("{} merchant {}", row.channel, row.merchant_no);
    Ok(match channel {
        ChannelKind::Wechatpay => {
            let cfg: WechatPayConfig = serde_json::from_value(config).with_context(ctx)?;
            Arc::new(WechatPayAdapter::new(&cfg, clock).with_context(ctx)?)
        }
        ChannelKind::Alipay => {
            let cfg: bursar_channels::alipay::AlipayConfig = serde_json::from_value(config).with_context(ctx)?;
            Arc::new(bursar_channels::alipay::AlipayAdapter::new(&cfg, clock).with_context(ctx)?)
        }
        ChannelKind::Unionpay => {
            let cfg: bursar_channels::unionpay::UnionpayConfig = serde_json::from_value(config).with_context(ctx)?;
            Arc::new(bursar_channels::unionpay::UnionpayAdapter::new(&cfg, clock).with_context(ctx)?)
        }
        other => bail!("{} accounts have no adapter", other.as_str()),
    })
}

/// Builds and installs the adapter of every active merchant account. An account that cannot be
/// built is reported and skipped (its fee items then do not offer that channel).
pub async fn install_all(
    store: &Store,
    key: &MasterKey,
    engine: &Engine,
    clock: Arc<dyn Clock>,
) -> anyhow::Result<usize> {
    let mut c = store.read().await?;
    let rows = merchants::all(&mut c).await?;
    drop(c);
    let mut n = 0;
    for row in rows.iter().filter(|r| r.state == "active") {
        if matches!(row.channel.as_str(), "campus_card" | "offline") {
            continue;
        }
        match build_adapter(key, row, clock.clone()) {
            Ok(a) => {
                engine.install(a);
                n += 1;
            }
            Err(e) => {
                tracing::error!(channel = %row.channel, merchant = %row.merchant_no, error = %e, "merchant account not usable")
            }
        }
    }
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_secrets_open_only_for_their_account_and_key() {
        let k = MasterKey::from_material(b"0123456789abcdef0123456789abcdef");
        let sealed = k.seal("alipay", "2021", b"{\"app_private_key_pem\":\"x\"}").unwrap();
        assert!(!sealed.contains("app_private_key_pem"));
        assert_eq!(k.unseal("alipay", "2021", &sealed).unwrap(), b"{\"app_private_key_pem\":\"x\"}");
        assert!(k.unseal("alipay", "2022", &sealed).is_err(), "copied to another account");
        let other = MasterKey::from_material(b"another key another key another k");
        assert!(other.unseal("alipay", "2021", &sealed).is_err(), "wrong master key");
        let mut tampered = sealed.clone();
        tampered.pop();
        tampered.push('A');
        assert!(k.unseal("alipay", "2021", &tampered).is_err() || tampered == sealed);
        assert!(format!("{k:?}").contains("redacted"));
    }
}
