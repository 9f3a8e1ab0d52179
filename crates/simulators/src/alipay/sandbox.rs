//! Sandbox credentials for the Alipay simulator: two apps (so a school can collect tuition and
//! other fees into different accounts) and the simulator's own "Alipay public key" pair,
//! generated on first start, published under `<data-dir>/sandbox/alipay/<app_id>/`.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::files::{io, load_or_create_json, write_private, write_public};
use bursar_channels::alipay::adapter::AlipayConfig;
use bursar_channels::crypto::generate_rsa_pem;
use bursar_channels::ChannelError;

#[derive(Clone, Serialize, Deserialize)]
pub struct SandboxApp {
    pub app_id: String,
    pub name: String,
    pub app_private_key_pem: String,
    pub app_public_key_pem: String,
}

#[derive(Clone, Serialize, Deserialize)]
pub struct AlipaySandbox {
    pub merchant_name: String,
    /// The merchant's Alipay user id (`seller_id`, 2088…).
    pub seller_id: String,
    pub apps: Vec<SandboxApp>,
    pub alipay_private_key_pem: String,
    pub alipay_public_key_pem: String,
}

impl std::fmt::Debug for AlipaySandbox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AlipaySandbox").field("seller_id", &self.seller_id).finish_non_exhaustive()
    }
}

impl AlipaySandbox {
    pub fn state_file(data_dir: &Path) -> PathBuf {
        data_dir.join("simulators").join("alipay").join("credentials.json")
    }
    pub fn published_dir(data_dir: &Path) -> PathBuf {
        data_dir.join("sandbox").join("alipay")
    }

    pub fn generate(merchant_name: &str) -> Result<AlipaySandbox, ChannelError> {
        use rand::Rng;
        let mut rng = rand::thread_rng();
        let (alipay_private_key_pem, alipay_public_key_pem) = generate_rsa_pem()?;
        let mut apps = Vec::new();
        for name in ["学费住宿费", "其他费用"] {
            let (app_private_key_pem, app_public_key_pem) = generate_rsa_pem()?;
            apps.push(SandboxApp {
                app_id: format!("2021{:012}", rng.gen_range(0..1_000_000_000_000u64)),
                name: format!("{merchant_name}{name}"),
                app_private_key_pem,
                app_public_key_pem,
            });
        }
        Ok(AlipaySandbox {
            merchant_name: merchant_name.to_string(),
            seller_id: format!("2088{:012}", rng.gen_range(0..1_000_000_000_000u64)),
            apps,
            alipay_private_key_pem,
            alipay_public_key_pem,
        })
    }

    pub fn load_or_create(data_dir: &Path, base_url: &str, merchant_name: &str) -> Result<AlipaySandbox, ChannelError> {
        let sandbox: AlipaySandbox =
            load_or_create_json(&Self::state_file(data_dir), || Self::generate(merchant_name))?;
        sandbox.publish(data_dir, base_url)?;
        Ok(sandbox)
    }

    pub fn app(&self, app_id: &str) -> Option<&SandboxApp> {
        self.apps.iter().find(|a| a.app_id == app_id)
    }

    pub fn gateway_url(base_url: &str) -> String {
        format!("{}/gateway.do", base_url.trim_end_matches('/'))
    }

    /// Writes, per app, what a merchant (client) needs.
    pub fn publish(&self, data_dir: &Path, base_url: &str) -> Result<(), ChannelError> {
        for app in &self.apps {
            let dir = Self::published_dir(data_dir).join(&app.app_id);
            std::fs::create_dir_all(&dir).map_err(|e| io(e, &dir))?;
            write_private(&dir.join("app_private_key.pem"), &app.app_private_key_pem)?;
            write_public(&dir.join("app_public_key.pem"), &app.app_public_key_pem)?;
            write_public(&dir.join("alipay_public_key.pem"), &self.alipay_public_key_pem)?;
            let config = serde_json::json!({
                "gateway_url": Self::gateway_url(base_url),
                "app_id": app.app_id,
                "app_name": app.name,
                "seller_id": self.seller_id,
                "sign_type": "RSA2",
                "app_private_key_file": "app_private_key.pem",
                "alipay_public_key_file": "alipay_public_key.pem",
            });
            let text = serde_json::to_string_pretty(&config).map_err(|e| ChannelError::Config(e.to_string()))?;
            write_public(&dir.join("config.json"), &text)?;
            let readme = format!(
                "Alipay OpenAPI sandbox (Bursar simulator) — app {name}\n\n\
                 Gateway:              {gw}\n\
                 app_id:               {id}\n\
                 seller_id:            {seller}\n\
                 App private key:      app_private_key.pem (RSA2, PKCS#8)\n\
                 Alipay public key:    alipay_public_key.pem\n\n\
                 Point any Alipay SDK (public-key mode, RSA2) at the gateway with these credentials.\n\
                 Payers scan QR codes at {base}/alipay/scan; payment codes come from {base}/alipay/paycode.\n",
                name = app.name,
                gw = Self::gateway_url(base_url),
                id = app.app_id,
                seller = self.seller_id,
                base = base_url.trim_end_matches('/'),
            );
            write_public(&dir.join("README.txt"), &readme)?;
        }
        Ok(())
    }

    /// Bursar's adapter configuration for one app against this simulator.
    pub fn merchant_config(&self, app_index: usize, base_url: &str) -> Option<AlipayConfig> {
        let app = self.apps.get(app_index)?;
        Some(AlipayConfig {
            gateway_url: Self::gateway_url(base_url),
            app_id: app.app_id.clone(),
            app_private_key_pem: app.app_private_key_pem.clone(),
            alipay_public_key_pem: self.alipay_public_key_pem.clone(),
            seller_id: Some(self.seller_id.clone()),
        })
    }
}
