//! Single sign-on from a business system: a signed, short-lived, single-use token that starts a
//! payer's session (and may lead straight to one of the app's orders).

use base64::Engine as _;
use bursar_store::sessions::{AuthMethod, SubjectKind};
use bursar_store::{api as api_store, payers, payments as pay_store};
use serde::{Deserialize, Serialize};

use crate::access::sessions::Started;
use crate::engine::Engine;
use crate::error::EngineError;

/// An SSO token as an app makes it.
#[derive(Deserialize, Serialize)]
pub struct SsoClaims {
    /// The payer's login identifier.
    pub identifier: String,
    /// Go straight to this order's cashier (optional).
    #[serde(default)]
    pub order_id: Option<String>,
    /// Expiry, Unix seconds (at most 5 minutes ahead).
    pub exp: i64,
    /// Single use.
    pub nonce: String,
}

/// HMAC-SHA256 of `data` under `secret`, hex.
pub fn hmac_hex(secret: &str, data: &[u8]) -> String {
    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, secret.as_bytes());
    hex::encode(ring::hmac::sign(&key, data).as_ref())
}

/// `base64url(claims JSON) + "." + hex(HMAC-SHA256(secret, base64url part))`.
pub fn sso_token(secret: &str, claims: &SsoClaims) -> Result<String, EngineError> {
    let json = serde_json::to_vec(claims).map_err(|e| EngineError::Invariant(e.to_string()))?;
    let payload = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(json);
    let sig = hmac_hex(secret, payload.as_bytes());
    Ok(format!("{payload}.{sig}"))
}

/// Where an SSO login leads.
pub enum SsoTarget {
    /// The hosted cashier of this token.
    Cashier(String),
    /// The payer's current fees.
    Portal,
}

impl Engine {
    /// Checks an app's SSO token (signature by a current secret, expiry within 5 minutes, nonce
    /// never seen, payer known, order the payer's and the app's) and starts the payer's session.
    /// The refusal says which check failed, for the app's developers.
    pub async fn sso_login(
        &self,
        app_id: &str,
        token: &str,
        previous_token: Option<&str>,
    ) -> Result<Result<(Started, SsoTarget), String>, EngineError> {
        let Some(app) = self.app_by_app_id(app_id).await? else { return Ok(Err("应用不存在".into())) };
        let Some((payload, sig)) = token.split_once('.') else { return Ok(Err("格式错误".into())) };
        let secrets = self.app_secrets(&app)?;
        let given = hex::decode(sig).unwrap_or_default();
        let signed = secrets.iter().any(|k| {
            let expected = hex::decode(hmac_hex(k, payload.as_bytes())).unwrap_or_default();
            bursar_channels::crypto::ct_eq(&expected, &given)
        });
        if !signed {
            return Ok(Err("签名错误".into()));
        }
        let Some(claims) = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(payload)
            .ok()
            .and_then(|b| serde_json::from_slice::<SsoClaims>(&b).ok())
        else {
            return Ok(Err("内容错误".into()));
        };
        let now_s = self.store().now_ms() / 1000;
        if claims.exp < now_s || claims.exp > now_s + 300 {
            return Ok(Err("已过期".into()));
        }
        if claims.nonce.len() < 8 || !self.remember_nonce(&app, &format!("sso:{}", claims.nonce), 0).await? {
            return Ok(Err("已使用过".into()));
        }
        let mut c = self.store().read().await?;
        let Some(payer) = payers::payer_by_identifier(&mut c, &claims.identifier).await? else {
            return Ok(Err("缴费人不存在".into()));
        };
        // An application signs in only the payers it has dealt with (an order or a bill of its
        // own), never any payer of the school.
        if !api_store::app_knows_payer(&mut c, &app.id, &payer.id).await? {
            return Ok(Err("该缴费人没有本应用的订单或应收".into()));
        }
        let target = match &claims.order_id {
            Some(order_id) => {
                let Some(api) = api_store::order_of(&mut c, order_id).await?.filter(|o| o.app_id == app.id) else {
                    return Ok(Err("订单不存在".into()));
                };
                let order = pay_store::order(&mut c, order_id).await?;
                if order.payer_id != payer.id {
                    return Ok(Err("订单不属于该缴费人".into()));
                }
                SsoTarget::Cashier(api.cashier_token)
            }
            None => SsoTarget::Portal,
        };
        drop(c);
        let started = self.start_session(SubjectKind::Payer, &payer.id, AuthMethod::Sso, previous_token, None).await?;
        Ok(Ok((started, target)))
    }
}
