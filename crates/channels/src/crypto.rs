//! Cryptography shared by channels: RSA SHA256withRSA (PKCS#1 v1.5) signing and verification with
//! `ring`, AES-256-GCM with `ring`, PEM handling, and RSA key generation (`rsa`, which `ring` lacks).

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use ring::rand::SystemRandom;
use ring::signature::{self, RsaKeyPair, UnparsedPublicKey};
use rsa::pkcs1::EncodeRsaPublicKey;
use rsa::pkcs8::{DecodePublicKey, EncodePrivateKey, EncodePublicKey, LineEnding};

use crate::ChannelError;

/// An RSA private key for SHA256withRSA signing.
pub struct RsaSigner {
    key: RsaKeyPair,
    rng: SystemRandom,
}

impl std::fmt::Debug for RsaSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RsaSigner(<redacted>)")
    }
}

impl RsaSigner {
    /// From a PKCS#8 PEM (`-----BEGIN PRIVATE KEY-----`).
    pub fn from_pkcs8_pem(pem: &str) -> Result<RsaSigner, ChannelError> {
        let der = pem_to_der(pem, "PRIVATE KEY")?;
        let key =
            RsaKeyPair::from_pkcs8(&der).map_err(|e| ChannelError::Config(format!("bad RSA private key: {e}")))?;
        Ok(RsaSigner { key, rng: SystemRandom::new() })
    }

    /// SHA256withRSA over `message`, Base64.
    pub fn sign_base64(&self, message: &[u8]) -> Result<String, ChannelError> {
        let mut sig = vec![0u8; self.key.public().modulus_len()];
        self.key
            .sign(&signature::RSA_PKCS1_SHA256, &self.rng, message, &mut sig)
            .map_err(|_| ChannelError::Protocol("RSA signing failed".into()))?;
        Ok(B64.encode(sig))
    }
}

/// An RSA public key for verifying SHA256withRSA signatures.
#[derive(Clone)]
pub struct RsaVerifier {
    pkcs1_der: Vec<u8>,
}

impl std::fmt::Debug for RsaVerifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RsaVerifier")
    }
}

impl RsaVerifier {
    /// From an SPKI PEM (`-----BEGIN PUBLIC KEY-----`).
    pub fn from_spki_pem(pem: &str) -> Result<RsaVerifier, ChannelError> {
        let key = rsa::RsaPublicKey::from_public_key_pem(pem.trim())
            .map_err(|e| ChannelError::Config(format!("bad RSA public key: {e}")))?;
        let der = key.to_pkcs1_der().map_err(|e| ChannelError::Config(format!("bad RSA public key: {e}")))?;
        Ok(RsaVerifier { pkcs1_der: der.as_bytes().to_vec() })
    }

    /// Verifies a Base64 SHA256withRSA signature over `message`.
    pub fn verify_base64(&self, message: &[u8], signature_b64: &str) -> bool {
        let Ok(sig) = B64.decode(signature_b64.trim()) else {
            return false;
        };
        UnparsedPublicKey::new(&signature::RSA_PKCS1_2048_8192_SHA256, &self.pkcs1_der).verify(message, &sig).is_ok()
    }
}

/// A freshly generated RSA-2048 key pair as PEM: (PKCS#8 private, SPKI public).
pub fn generate_rsa_pem() -> Result<(String, String), ChannelError> {
    let mut rng = rand::thread_rng();
    let key = rsa::RsaPrivateKey::new(&mut rng, 2048).map_err(|e| ChannelError::Config(format!("RSA keygen: {e}")))?;
    let private = key.to_pkcs8_pem(LineEnding::LF).map_err(|e| ChannelError::Config(format!("PEM: {e}")))?;
    let public =
        key.to_public_key().to_public_key_pem(LineEnding::LF).map_err(|e| ChannelError::Config(format!("PEM: {e}")))?;
    Ok((private.to_string(), public))
}

/// The DER bytes inside a PEM block with the given label.
pub fn pem_to_der(pem: &str, label: &str) -> Result<Vec<u8>, ChannelError> {
    let begin = format!("-----BEGIN {label}-----");
    let end = format!("-----END {label}-----");
    let start = pem.find(&begin).ok_or_else(|| ChannelError::Config(format!("no {label} PEM block")))? + begin.len();
    let stop =
        pem[start..].find(&end).ok_or_else(|| ChannelError::Config(format!("unterminated {label} PEM block")))? + start;
    let body: String = pem[start..stop].chars().filter(|c| !c.is_whitespace()).collect();
    B64.decode(body).map_err(|e| ChannelError::Config(format!("bad PEM base64: {e}")))
}

/// AES-256-GCM decryption: ciphertext is Base64 with the 16-byte tag appended.
pub fn aes256gcm_decrypt(key: &[u8], nonce: &[u8], aad: &[u8], ciphertext_b64: &str) -> Result<Vec<u8>, ChannelError> {
    use ring::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_256_GCM};
    let unbound =
        UnboundKey::new(&AES_256_GCM, key).map_err(|_| ChannelError::Config("AES key must be 32 bytes".into()))?;
    let key = LessSafeKey::new(unbound);
    let nonce = Nonce::try_assume_unique_for_key(nonce)
        .map_err(|_| ChannelError::Verification("nonce must be 12 bytes".into()))?;
    let mut data =
        B64.decode(ciphertext_b64).map_err(|_| ChannelError::Verification("ciphertext is not Base64".into()))?;
    let plain = key
        .open_in_place(nonce, Aad::from(aad), &mut data)
        .map_err(|_| ChannelError::Verification("decryption failed (wrong key or tampered ciphertext)".into()))?;
    Ok(plain.to_vec())
}

/// AES-256-GCM encryption, returning Base64 of ciphertext with the tag appended.
pub fn aes256gcm_encrypt(key: &[u8], nonce: &[u8], aad: &[u8], plaintext: &[u8]) -> Result<String, ChannelError> {
    use ring::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_256_GCM};
    let unbound =
        UnboundKey::new(&AES_256_GCM, key).map_err(|_| ChannelError::Config("AES key must be 32 bytes".into()))?;
    let key = LessSafeKey::new(unbound);
    let nonce =
        Nonce::try_assume_unique_for_key(nonce).map_err(|_| ChannelError::Protocol("nonce must be 12 bytes".into()))?;
    let mut data = plaintext.to_vec();
    key.seal_in_place_append_tag(nonce, Aad::from(aad), &mut data)
        .map_err(|_| ChannelError::Protocol("encryption failed".into()))?;
    Ok(B64.encode(data))
}

/// A 256-bit key that seals secrets at rest (merchant keys, API app secrets) with AES-256-GCM.
/// The additional data binds a sealed value to what it belongs to: copied elsewhere, it does
/// not open.
#[derive(Clone)]
pub struct SealingKey([u8; 32]);

impl std::fmt::Debug for SealingKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SealingKey(<redacted>)")
    }
}

impl SealingKey {
    /// Derives the key from key material (SHA-256).
    pub fn from_material(material: &[u8]) -> SealingKey {
        let d = ring::digest::digest(&ring::digest::SHA256, material);
        let mut k = [0u8; 32];
        k.copy_from_slice(d.as_ref());
        SealingKey(k)
    }

    /// `v1:` + Base64(nonce ‖ ciphertext ‖ tag).
    pub fn seal(&self, aad: &[u8], plaintext: &[u8]) -> Result<String, ChannelError> {
        use rand::RngCore;
        let mut nonce = [0u8; 12];
        rand::thread_rng().fill_bytes(&mut nonce);
        let ct = aes256gcm_encrypt(&self.0, &nonce, aad, plaintext)?;
        let mut blob = nonce.to_vec();
        blob.extend(B64.decode(ct).map_err(|e| ChannelError::Protocol(e.to_string()))?);
        Ok(format!("v1:{}", B64.encode(blob)))
    }

    pub fn unseal(&self, aad: &[u8], sealed: &str) -> Result<Vec<u8>, ChannelError> {
        let body = sealed.strip_prefix("v1:").ok_or_else(|| ChannelError::Config("unknown sealed format".into()))?;
        let blob = B64.decode(body).map_err(|_| ChannelError::Config("sealed value is not Base64".into()))?;
        if blob.len() < 12 + 16 {
            return Err(ChannelError::Config("sealed value is truncated".into()));
        }
        let (nonce, ct) = blob.split_at(12);
        aes256gcm_decrypt(&self.0, nonce, aad, &B64.encode(ct))
    }
}

/// A random alphanumeric string (nonces, keys).
pub fn random_alnum(len: usize) -> String {
    use rand::Rng;
    const CHARS: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    let mut rng = rand::thread_rng();
    (0..len).map(|_| CHARS[rng.gen_range(0..CHARS.len())] as char).collect()
}

/// Constant-time equality for secrets.
pub fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rsa_sign_verify_round_trip_and_tamper() {
        let (private, public) = generate_rsa_pem().unwrap();
        let signer = RsaSigner::from_pkcs8_pem(&private).unwrap();
        let verifier = RsaVerifier::from_spki_pem(&public).unwrap();
        let sig = signer.sign_base64(b"hello\n").unwrap();
        assert!(verifier.verify_base64(b"hello\n", &sig));
        assert!(!verifier.verify_base64(b"hello!\n", &sig));
        assert!(!verifier.verify_base64(b"hello\n", "not base64!"));
    }

    #[test]
    fn aes_gcm_round_trip_and_tamper() {
        let key = b"0123456789abcdef0123456789abcdef";
        let ct = aes256gcm_encrypt(key, b"nonce1234567", b"transaction", b"{\"a\":1}").unwrap();
        assert_eq!(aes256gcm_decrypt(key, b"nonce1234567", b"transaction", &ct).unwrap(), b"{\"a\":1}");
        assert!(aes256gcm_decrypt(key, b"nonce1234567", b"other", &ct).is_err());
        assert!(aes256gcm_decrypt(b"0123456789abcdef0123456789abcdeX", b"nonce1234567", b"transaction", &ct).is_err());
    }
}
