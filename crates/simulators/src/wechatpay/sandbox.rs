//! Sandbox credentials for the WeChat Pay simulator: generated on first start, kept in the data
//! directory, and published under `<data-dir>/sandbox/wechatpay/` so that Bursar — or any
//! independent WeChat Pay v3 client SDK — can be pointed at the simulator.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::files::{io, load_or_create_json, write_private};
use bursar_channels::crypto::{generate_rsa_pem, random_alnum};
use bursar_channels::wechatpay::adapter::WechatPayConfig;
use bursar_channels::ChannelError;

/// Everything both sides need. The platform private key stays in the simulator's own folder.
#[derive(Clone, Serialize, Deserialize)]
pub struct Sandbox {
    pub mchid: String,
    pub appid: String,
    pub merchant_name: String,
    pub merchant_serial_no: String,
    pub merchant_private_key_pem: String,
    pub merchant_public_key_pem: String,
    pub apiv3_key: String,
    /// The API v2 key (payment codes). Credentials from before it existed get one on load.
    #[serde(default = "new_v2_key")]
    pub api_v2_key: String,
    pub platform_public_key_id: String,
    pub platform_private_key_pem: String,
    pub platform_public_key_pem: String,
}

impl std::fmt::Debug for Sandbox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sandbox").field("mchid", &self.mchid).field("appid", &self.appid).finish_non_exhaustive()
    }
}

impl Sandbox {
    pub fn state_dir(data_dir: &Path) -> PathBuf {
        data_dir.join("simulators").join("wechatpay")
    }
    pub fn published_dir(data_dir: &Path) -> PathBuf {
        data_dir.join("sandbox").join("wechatpay")
    }

    /// Generates fresh credentials (two RSA-2048 key pairs, ids, an APIv3 key).
    pub fn generate(merchant_name: &str) -> Result<Sandbox, ChannelError> {
        use rand::Rng;
        let mut rng = rand::thread_rng();
        let (merchant_private_key_pem, merchant_public_key_pem) = generate_rsa_pem()?;
        let (platform_private_key_pem, platform_public_key_pem) = generate_rsa_pem()?;
        let mchid = format!("19{:08}", rng.gen_range(0..100_000_000u32));
        let serial: String = (0..40).map(|_| char::from(b"0123456789ABCDEF"[rng.gen_range(0..16)])).collect();
        Ok(Sandbox {
            appid: format!("wx{}", hex_lower(&rng.gen::<[u8; 8]>())),
            merchant_name: merchant_name.to_string(),
            merchant_serial_no: serial,
            merchant_private_key_pem,
            merchant_public_key_pem,
            apiv3_key: random_alnum(32),
            api_v2_key: new_v2_key(),
            platform_public_key_id: format!("PUB_KEY_ID_01{mchid}{:010}", rng.gen_range(0..10_000_000_000u64)),
            platform_private_key_pem,
            platform_public_key_pem,
            mchid,
        })
    }

    /// Loads the simulator's credentials from `<data-dir>/simulators/wechatpay/`, generating them
    /// on first start, and (re)publishes the merchant's side with the current base URL.
    pub fn load_or_create(data_dir: &Path, base_url: &str, merchant_name: &str) -> Result<Sandbox, ChannelError> {
        let state_file = Self::state_dir(data_dir).join("credentials.json");
        let sandbox: Sandbox = load_or_create_json(&state_file, || Self::generate(merchant_name))?;
        sandbox.publish(data_dir, base_url)?;
        Ok(sandbox)
    }

    /// Writes what a merchant (client) needs, in the file names WeChat Pay's own downloads use.
    pub fn publish(&self, data_dir: &Path, base_url: &str) -> Result<(), ChannelError> {
        let dir = Self::published_dir(data_dir);
        std::fs::create_dir_all(&dir).map_err(|e| io(e, &dir))?;
        write_private(&dir.join("apiclient_key.pem"), &self.merchant_private_key_pem)?;
        std::fs::write(dir.join("pub_key.pem"), &self.platform_public_key_pem).map_err(|e| io(e, &dir))?;
        write_private(&dir.join("apiv3_key.txt"), &self.apiv3_key)?;
        write_private(&dir.join("apiv2_key.txt"), &self.api_v2_key)?;
        let config = serde_json::json!({
            "base_url": base_url,
            "mchid": self.mchid,
            "appid": self.appid,
            "merchant_name": self.merchant_name,
            "merchant_serial_no": self.merchant_serial_no,
            "merchant_private_key_file": "apiclient_key.pem",
            "platform_public_key_id": self.platform_public_key_id,
            "platform_public_key_file": "pub_key.pem",
            "apiv3_key_file": "apiv3_key.txt",
            "api_v2_key_file": "apiv2_key.txt",
        });
        let text = serde_json::to_string_pretty(&config).map_err(|e| ChannelError::Config(e.to_string()))?;
        std::fs::write(dir.join("config.json"), text).map_err(|e| io(e, &dir))?;
        let readme = format!(
            "WeChat Pay API v3 sandbox (Bursar simulator)\n\n\
             Base URL:                {base_url}\n\
             mchid:                   {}\n\
             appid:                   {}\n\
             Merchant cert serial:    {}\n\
             Merchant private key:    apiclient_key.pem\n\
             WeChat Pay public key:   pub_key.pem (id {})\n\
             APIv3 key:               apiv3_key.txt\n\
             API v2 key (付款码):      apiv2_key.txt\n\n\
             Point any WeChat Pay v3 client SDK at the base URL with these credentials, using the\n\
             'WeChat Pay public key' verification mode. Payers confirm payments at {base_url}/phone.\n",
            self.mchid, self.appid, self.merchant_serial_no, self.platform_public_key_id
        );
        std::fs::write(dir.join("README.txt"), readme).map_err(|e| io(e, &dir))?;
        Ok(())
    }

    /// The merchant-side configuration Bursar's adapter uses against this simulator.
    pub fn merchant_config(&self, base_url: &str) -> WechatPayConfig {
        WechatPayConfig {
            base_url: base_url.to_string(),
            mchid: self.mchid.clone(),
            appid: self.appid.clone(),
            merchant_serial_no: self.merchant_serial_no.clone(),
            merchant_private_key_pem: self.merchant_private_key_pem.clone(),
            platform_public_key_id: self.platform_public_key_id.clone(),
            platform_public_key_pem: self.platform_public_key_pem.clone(),
            apiv3_key: self.apiv3_key.clone(),
            api_v2_key: Some(self.api_v2_key.clone()),
        }
    }
}

fn new_v2_key() -> String {
    random_alnum(32)
}

fn hex_lower(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
