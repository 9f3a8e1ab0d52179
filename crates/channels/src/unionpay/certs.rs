//! UnionPay's certificates: answers and notifications carry the signing certificate
//! (`signPubKeyCert`); the merchant checks it chains to the configured root and intermediate,
//! is valid now, and names UnionPay (CN), and only then verifies the signature with its key.
//! Requests carry `certId`, the decimal serial of the merchant's own signing certificate.
//! The simulator makes its own test root, intermediate and signing certificates here.

use ring::signature::{self, UnparsedPublicKey};
use x509_parser::prelude::*;

use crate::ChannelError;

/// The CN UnionPay's signing certificate carries.
pub const UNIONPAY_CN: &str = "中国银联股份有限公司";

fn bad(msg: impl Into<String>) -> ChannelError {
    ChannelError::Verification(msg.into())
}

fn pem_der(pem: &str) -> Result<Vec<u8>, ChannelError> {
    let (_, p) = parse_x509_pem(pem.trim().as_bytes()).map_err(|e| bad(format!("not a PEM certificate: {e}")))?;
    Ok(p.contents)
}

/// The decimal serial number of a certificate (its `certId`).
pub fn cert_id(pem: &str) -> Result<String, ChannelError> {
    let der = pem_der(pem).map_err(|e| ChannelError::Config(e.to_string()))?;
    let (_, cert) =
        X509Certificate::from_der(&der).map_err(|e| ChannelError::Config(format!("bad certificate: {e}")))?;
    Ok(cert.serial.to_str_radix(10))
}

/// The trust anchors a merchant is configured with.
#[derive(Clone)]
pub struct TrustChain {
    root_der: Vec<u8>,
    middle_der: Vec<u8>,
    expected_cn: String,
}

impl TrustChain {
    pub fn new(root_pem: &str, middle_pem: &str, expected_cn: &str) -> Result<TrustChain, ChannelError> {
        let root_der = pem_der(root_pem).map_err(|e| ChannelError::Config(format!("root certificate: {e}")))?;
        let middle_der = pem_der(middle_pem).map_err(|e| ChannelError::Config(format!("intermediate: {e}")))?;
        let chain = TrustChain { root_der, middle_der, expected_cn: expected_cn.to_string() };
        // The configured intermediate must itself chain to the root.
        let (_, root) = X509Certificate::from_der(&chain.root_der).map_err(|e| ChannelError::Config(e.to_string()))?;
        let (_, middle) =
            X509Certificate::from_der(&chain.middle_der).map_err(|e| ChannelError::Config(e.to_string()))?;
        middle
            .verify_signature(Some(root.public_key()))
            .map_err(|_| ChannelError::Config("the intermediate is not signed by the root".into()))?;
        Ok(chain)
    }

    /// Checks `signing_pem` (from `signPubKeyCert`) at time `now_ms`; returns its RSA public key
    /// (PKCS#1 DER) for verifying the message signature.
    pub fn check(&self, signing_pem: &str, now_ms: i64) -> Result<Vec<u8>, ChannelError> {
        let leaf_der = pem_der(signing_pem)?;
        let (_, leaf) =
            X509Certificate::from_der(&leaf_der).map_err(|e| bad(format!("bad signing certificate: {e}")))?;
        let (_, middle) = X509Certificate::from_der(&self.middle_der).map_err(|e| bad(e.to_string()))?;
        let (_, root) = X509Certificate::from_der(&self.root_der).map_err(|e| bad(e.to_string()))?;
        let at = ASN1Time::from_timestamp(now_ms / 1000).map_err(|e| bad(e.to_string()))?;
        for (name, c) in [("signing certificate", &leaf), ("intermediate", &middle), ("root", &root)] {
            if !c.validity().is_valid_at(at) {
                return Err(bad(format!("the {name} is not valid now")));
            }
        }
        leaf.verify_signature(Some(middle.public_key()))
            .map_err(|_| bad("the signing certificate is not issued by the configured intermediate"))?;
        if !middle.basic_constraints().ok().flatten().is_some_and(|b| b.value.ca) {
            return Err(bad("the intermediate is not a CA"));
        }
        let cn = leaf.subject().iter_common_name().next().and_then(|a| a.as_str().ok()).unwrap_or("");
        if cn != self.expected_cn {
            return Err(bad(format!("the signing certificate's CN is {cn:?}, not {:?}", self.expected_cn)));
        }
        Ok(leaf.public_key().subject_public_key.data.to_vec())
    }
}

/// Verifies an RSA SHA256withRSA signature (Base64) over `message` with a PKCS#1 public key.
pub fn verify_rsa(pkcs1_der: &[u8], message: &[u8], signature_b64: &str) -> bool {
    use base64::Engine;
    let Ok(sig) = base64::engine::general_purpose::STANDARD.decode(signature_b64.trim()) else { return false };
    UnparsedPublicKey::new(&signature::RSA_PKCS1_2048_8192_SHA256, pkcs1_der).verify(message, &sig).is_ok()
}

/// A certificate and its key, both PEM.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct Issued {
    pub cert_pem: String,
    pub key_pem: String,
}

/// A test PKI like UnionPay's: a root, an intermediate, UnionPay's signing certificate and a
/// merchant signing certificate. RSA-2048, SHA256withRSA.
pub fn test_pki(merchant_cn: &str) -> Result<(Issued, Issued, Issued, Issued), ChannelError> {
    use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair, KeyUsagePurpose, SerialNumber};
    let err = |e: rcgen::Error| ChannelError::Config(format!("certificate generation: {e}"));
    let key = || -> Result<(KeyPair, String), ChannelError> {
        let (pem, _) = crate::crypto::generate_rsa_pem()?;
        let kp = KeyPair::from_pkcs8_pem_and_sign_algo(&pem, &rcgen::PKCS_RSA_SHA256).map_err(err)?;
        Ok((kp, pem))
    };
    let now = ::time::OffsetDateTime::now_utc();
    let params = |cn: &str, ca: bool, years: i64, serial: u64| -> Result<CertificateParams, ChannelError> {
        let mut p = CertificateParams::new(Vec::<String>::new()).map_err(err)?;
        p.distinguished_name.push(DnType::CountryName, "CN");
        p.distinguished_name.push(DnType::OrganizationName, "China UnionPay (Bursar test PKI)");
        p.distinguished_name.push(DnType::CommonName, cn);
        p.not_before = now - ::time::Duration::days(1);
        p.not_after = now + ::time::Duration::days(365 * years);
        p.serial_number = Some(SerialNumber::from(serial));
        if ca {
            p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
            p.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        } else {
            p.key_usages = vec![KeyUsagePurpose::DigitalSignature, KeyUsagePurpose::ContentCommitment];
        }
        Ok(p)
    };
    use rand::Rng;
    let mut rng = rand::thread_rng();
    let (root_key, root_key_pem) = key()?;
    let root = params("CFCA TEST OCA1 ROOT (Bursar)", true, 20, rng.gen_range(1..u64::MAX / 2))?
        .self_signed(&root_key)
        .map_err(err)?;
    let (mid_key, mid_key_pem) = key()?;
    let middle = params("CFCA TEST OCA1 (Bursar)", true, 10, rng.gen_range(1..u64::MAX / 2))?
        .signed_by(&mid_key, &root, &root_key)
        .map_err(err)?;
    let (up_key, up_key_pem) = key()?;
    let unionpay = params(UNIONPAY_CN, false, 2, rng.gen_range(10_000_000_000..99_999_999_999))?
        .signed_by(&up_key, &middle, &mid_key)
        .map_err(err)?;
    let (mer_key, mer_key_pem) = key()?;
    let merchant = params(merchant_cn, false, 2, rng.gen_range(10_000_000_000..99_999_999_999))?
        .signed_by(&mer_key, &middle, &mid_key)
        .map_err(err)?;
    Ok((
        Issued { cert_pem: root.pem(), key_pem: root_key_pem },
        Issued { cert_pem: middle.pem(), key_pem: mid_key_pem },
        Issued { cert_pem: unionpay.pem(), key_pem: up_key_pem },
        Issued { cert_pem: merchant.pem(), key_pem: mer_key_pem },
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::RsaSigner;

    #[test]
    fn a_genuine_chain_verifies_and_impostors_do_not() {
        let (root, middle, up, merchant) = test_pki("测试商户").unwrap();
        let chain = TrustChain::new(&root.cert_pem, &middle.cert_pem, UNIONPAY_CN).unwrap();
        let now = bursar_domain::Clock::now_ms(&bursar_domain::SystemClock);
        let key = chain.check(&up.cert_pem, now).unwrap();
        let sig = RsaSigner::from_pkcs8_pem(&up.key_pem).unwrap().sign_base64(b"abc").unwrap();
        assert!(verify_rsa(&key, b"abc", &sig));
        assert!(!verify_rsa(&key, b"abd", &sig));
        // The merchant's certificate chains too, but does not name UnionPay.
        assert!(chain.check(&merchant.cert_pem, now).is_err());
        // Another PKI's UnionPay certificate does not chain.
        let (_, _, other_up, _) = test_pki("x").unwrap();
        assert!(chain.check(&other_up.cert_pem, now).is_err());
        // Expired (checked at a time past its validity).
        assert!(chain.check(&up.cert_pem, now + 3 * 365 * 86_400_000).is_err());
        assert!(cert_id(&merchant.cert_pem).unwrap().chars().all(|c| c.is_ascii_digit()));
    }
}
