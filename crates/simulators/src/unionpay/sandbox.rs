//! Sandbox credentials for the UnionPay simulator: its own test PKI (root, intermediate,
//! UnionPay's signing certificate) and a merchant signing certificate, generated on first start
//! and published under `<data-dir>/sandbox/unionpay/`.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::files::{io, load_or_create_json, write_private, write_public};
use bursar_channels::unionpay::adapter::UnionpayConfig;
use bursar_channels::unionpay::certs::{self, Issued, UNIONPAY_CN};
use bursar_channels::ChannelError;

#[derive(Clone, Serialize, Deserialize)]
pub struct UnionpaySandbox {
    pub mer_id: String,
    pub merchant_name: String,
    pub root: Issued,
    pub middle: Issued,
    pub unionpay: Issued,
    pub merchant: Issued,
}

impl std::fmt::Debug for UnionpaySandbox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UnionpaySandbox").field("mer_id", &self.mer_id).finish_non_exhaustive()
    }
}

impl UnionpaySandbox {
    pub fn state_file(data_dir: &Path) -> PathBuf {
        data_dir.join("simulators").join("unionpay").join("credentials.json")
    }
    pub fn published_dir(data_dir: &Path) -> PathBuf {
        data_dir.join("sandbox").join("unionpay")
    }

    pub fn generate(merchant_name: &str) -> Result<UnionpaySandbox, ChannelError> {
        use rand::Rng;
        let (root, middle, unionpay, merchant) = certs::test_pki(merchant_name)?;
        Ok(UnionpaySandbox {
            mer_id: format!("7772900{:08}", rand::thread_rng().gen_range(0..100_000_000u32)),
            merchant_name: merchant_name.to_string(),
            root,
            middle,
            unionpay,
            merchant,
        })
    }

    pub fn load_or_create(
        data_dir: &Path,
        base_url: &str,
        merchant_name: &str,
    ) -> Result<UnionpaySandbox, ChannelError> {
        let s: UnionpaySandbox = load_or_create_json(&Self::state_file(data_dir), || Self::generate(merchant_name))?;
        s.publish(data_dir, base_url)?;
        Ok(s)
    }

    pub fn publish(&self, data_dir: &Path, base_url: &str) -> Result<(), ChannelError> {
        let dir = Self::published_dir(data_dir);
        std::fs::create_dir_all(&dir).map_err(|e| io(e, &dir))?;
        write_public(&dir.join("acp_test_root.cer"), &self.root.cert_pem)?;
        write_public(&dir.join("acp_test_middle.cer"), &self.middle.cert_pem)?;
        write_public(&dir.join("acp_test_sign_cert.pem"), &self.merchant.cert_pem)?;
        write_private(&dir.join("acp_test_sign_key.pem"), &self.merchant.key_pem)?;
        let config = serde_json::json!({
            "gateway_url": base_url,
            "mer_id": self.mer_id,
            "cert_id": certs::cert_id(&self.merchant.cert_pem)?,
            "expected_cn": UNIONPAY_CN,
            "signing_key_file": "acp_test_sign_key.pem",
            "signing_cert_file": "acp_test_sign_cert.pem",
            "root_cert_file": "acp_test_root.cer",
            "middle_cert_file": "acp_test_middle.cer",
            "front_trans_url": format!("{base_url}{}", bursar_channels::unionpay::protocol::FRONT_PATH),
            "back_trans_url": format!("{base_url}{}", bursar_channels::unionpay::protocol::BACK_PATH),
            "query_trans_url": format!("{base_url}{}", bursar_channels::unionpay::protocol::QUERY_PATH),
            "file_trans_url": format!("{base_url}{}", bursar_channels::unionpay::protocol::FILE_PATH),
        });
        let text = serde_json::to_string_pretty(&config).map_err(|e| ChannelError::Config(e.to_string()))?;
        write_public(&dir.join("config.json"), &text)?;
        write_public(
            &dir.join("README.txt"),
            &format!(
                "UnionPay online gateway ACP 5.1.0 sandbox (Bursar simulator)\n\n\
                 Gateway:            {base_url} (frontTransReq.do, backTransReq.do, queryTrans.do, fileTransRequest.do under /gateway/api/)\n\
                 merId:              {}\n\
                 Signing key / cert: acp_test_sign_key.pem / acp_test_sign_cert.pem (certId in config.json)\n\
                 Verify chain:       acp_test_root.cer -> acp_test_middle.cer -> signPubKeyCert (CN {UNIONPAY_CN})\n\n\
                 A bank's e-banking gateway of this kind is added as another merchant account of channel\n\
                 'unionpay' with its own merId, certificates and gateway URL.\n",
                self.mer_id
            ),
        )?;
        Ok(())
    }

    pub fn merchant_config(&self, base_url: &str) -> UnionpayConfig {
        UnionpayConfig {
            gateway_url: base_url.to_string(),
            mer_id: self.mer_id.clone(),
            signing_key_pem: self.merchant.key_pem.clone(),
            signing_cert_pem: self.merchant.cert_pem.clone(),
            root_cert_pem: self.root.cert_pem.clone(),
            middle_cert_pem: self.middle.cert_pem.clone(),
            expected_cn: UNIONPAY_CN.to_string(),
        }
    }
}
