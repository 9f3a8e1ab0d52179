//! Business systems (业务系统) registered for the open API: their secrets (sealed, shown once,
//! rotated with an overlap) and the principal a signed request acts as.

use bursar_channels::crypto::random_alnum;
use bursar_domain::access::{AppPrincipal, Permission, Principal};
use bursar_domain::api::ApiAppState;
use bursar_store::api::{self as api_store, AppRow, NewApp};
use bursar_store::{receivables, Tx};

use crate::api::param;
use crate::engine::{log, require, Engine};
use crate::error::EngineError;

fn app_aad(app_id: &str) -> Vec<u8> {
    format!("bursar api app secret v1|{app_id}").into_bytes()
}

/// What finance registers.
#[derive(Clone, Debug)]
pub struct NewAppInput {
    pub name: String,
    pub notify_url: String,
    pub return_url: String,
    pub ip_allowlist: String,
    pub fee_item_codes: Vec<String>,
    pub rsa_public_key_pem: Option<String>,
}

/// An application's URL: http(s), a host, at most 500 characters, nothing a header or a log
/// line could be split by.
fn check_url(p: &'static str, url: &str) -> Result<(), EngineError> {
    let rest = url.strip_prefix("https://").or_else(|| url.strip_prefix("http://"));
    let host = rest.map(|r| r.split(['/', '?', '#']).next().unwrap_or_default()).unwrap_or_default();
    if rest.is_none()
        || host.is_empty()
        || url.len() > 500
        || url.chars().any(|c| c.is_whitespace() || c.is_control() || c == '"' || c == '<' || c == '>')
    {
        return Err(param("invalid_url", p, "必须是 http(s) 地址（不超过 500 个字符，不含空格）"));
    }
    Ok(())
}

impl Engine {
    /// Registers a business system. Returns the app and its secret (shown once).
    pub async fn register_app(&self, by: &Principal, input: &NewAppInput) -> Result<(AppRow, String), EngineError> {
        require(by, Permission::ManageApps)?;
        check_url("notify_url", &input.notify_url)?;
        check_url("return_url", &input.return_url)?;
        if input.name.trim().is_empty() || input.name.chars().count() > 60 {
            return Err(param("invalid_name", "name", "请填写应用名称（不超过 60 字）"));
        }
        let app_id = format!("app_{}", random_alnum(16).to_lowercase());
        let secret = format!("sk_{}", random_alnum(40));
        let sealed = self.config().sealing.seal(&app_aad(&app_id), secret.as_bytes())?;
        let (by, input) = (by.clone(), input.clone());
        let id = self
            .store()
            .write(|tx: &mut Tx| {
                let (by, input, app_id, sealed) = (by.clone(), input.clone(), app_id.clone(), sealed.clone());
                Box::pin(async move {
                    let now = tx.now_ms;
                    let items = receivables::fee_items(tx).await?;
                    let id = tx.new_id();
                    let a = NewApp {
                        id: &id,
                        app_id: &app_id,
                        name: input.name.trim(),
                        sealed_secret: &sealed,
                        rsa_public_key_pem: input.rsa_public_key_pem.as_deref(),
                        notify_url: &input.notify_url,
                        return_url: &input.return_url,
                        ip_allowlist: &input.ip_allowlist,
                    };
                    api_store::insert_app(tx, &a, now).await?;
                    for code in &input.fee_item_codes {
                        let item = items
                            .iter()
                            .find(|i| &i.code == code)
                            .ok_or_else(|| param("unknown_fee_item", "fee_items", code.clone()))?;
                        api_store::allow_item(tx, &id, &item.id).await?;
                    }
                    let detail = format!("app_id={app_id} items={}", input.fee_item_codes.join(","));
                    log(tx, &by, "api_app.register", ("api_app", &id), ("", "active"), &detail).await?;
                    Ok::<_, EngineError>(id)
                })
            })
            .await?;
        let mut c = self.store().read().await?;
        Ok((api_store::app(&mut c, &id).await?, secret))
    }

    /// Changes where an application's webhooks go (from the next delivery on, retries of
    /// undelivered events included) and where its payers return to.
    pub async fn set_app_urls(
        &self,
        by: &Principal,
        app_row_id: &str,
        notify_url: &str,
        return_url: &str,
    ) -> Result<(), EngineError> {
        require(by, Permission::ManageApps)?;
        let (notify_url, return_url) = (notify_url.trim().to_string(), return_url.trim().to_string());
        check_url("notify_url", &notify_url)?;
        check_url("return_url", &return_url)?;
        let (by, id) = (by.clone(), app_row_id.to_string());
        self.store()
            .write(|tx: &mut Tx| {
                let (by, id, notify_url, return_url) = (by.clone(), id.clone(), notify_url.clone(), return_url.clone());
                Box::pin(async move {
                    let app = api_store::app(tx, &id).await.map_err(crate::error::not_found("接入应用"))?;
                    api_store::set_urls(tx, &app.id, &notify_url, &return_url).await?;
                    let detail = format!(
                        "notify_url={} return_url={} (were {} and {})",
                        notify_url, return_url, app.notify_url, app.return_url
                    );
                    log(tx, &by, "api_app.urls", ("api_app", &app.id), ("", ""), &detail).await
                })
            })
            .await
    }

    /// Issues a new secret; the old one keeps working for `overlap_ms`.
    pub async fn rotate_app_secret(
        &self,
        by: &Principal,
        app_row_id: &str,
        overlap_ms: i64,
    ) -> Result<String, EngineError> {
        require(by, Permission::ManageApps)?;
        let app = {
            let mut c = self.store().read().await?;
            api_store::app(&mut c, app_row_id).await?
        };
        let secret = format!("sk_{}", random_alnum(40));
        let sealed = self.config().sealing.seal(&app_aad(&app.app_id), secret.as_bytes())?;
        let by = by.clone();
        self.store()
            .write(|tx: &mut Tx| {
                let (by, app, sealed) = (by.clone(), app.clone(), sealed.clone());
                Box::pin(async move {
                    let now = tx.now_ms;
                    api_store::rotate_secret(tx, &app.id, &sealed, &app.sealed_secret, now + overlap_ms, now).await?;
                    let detail = format!("overlap_ms={overlap_ms}");
                    log(tx, &by, "api_app.rotate_secret", ("api_app", &app.id), ("", ""), &detail).await
                })
            })
            .await?;
        Ok(secret)
    }

    /// The secrets a request may be signed with now: the current one, and the previous one
    /// during its overlap.
    pub fn app_secrets(&self, app: &AppRow) -> Result<Vec<String>, EngineError> {
        let sealing = &self.config().sealing;
        let open = |sealed: &str| -> Result<String, EngineError> {
            let bytes = sealing.unseal(&app_aad(&app.app_id), sealed)?;
            String::from_utf8(bytes).map_err(|_| EngineError::Invariant("app secret is not text".into()))
        };
        let mut out = vec![open(&app.sealed_secret)?];
        if let (Some(prev), Some(until)) = (&app.sealed_previous_secret, app.previous_valid_until_ms) {
            if until > self.store().now_ms() {
                out.push(open(prev)?);
            }
        }
        Ok(out)
    }

    /// The application a request names by its public app id (before its signature is checked).
    pub async fn app_by_app_id(&self, app_id: &str) -> Result<Option<AppRow>, EngineError> {
        let mut c = self.store().read().await?;
        Ok(api_store::app_by_app_id(&mut c, app_id).await?.filter(|a| a.state == ApiAppState::Active))
    }

    /// The principal an application whose signature verified acts as: its own fee items only.
    pub async fn app_principal(&self, app: &AppRow) -> Result<Principal, EngineError> {
        let mut c = self.store().read().await?;
        let fee_items = api_store::allowed_items(&mut c, &app.id).await?;
        Ok(Principal::App(AppPrincipal { id: app.id.clone(), app_id: app.app_id.clone(), fee_items }))
    }

    /// Remembers a request's nonce; `false` when it was used before (a replay). Old nonces are
    /// forgotten once they are outside the signature's time window.
    pub async fn remember_nonce(&self, app: &AppRow, nonce: &str, forget_before_ms: i64) -> Result<bool, EngineError> {
        let (app_id, nonce) = (app.id.clone(), nonce.to_string());
        self.store()
            .write(|tx: &mut Tx| {
                let (app_id, nonce) = (app_id.clone(), nonce.clone());
                Box::pin(async move {
                    let now = tx.now_ms;
                    if now % 64 == 0 {
                        api_store::prune_nonces(tx, forget_before_ms).await?;
                    }
                    api_store::remember_nonce(tx, &app_id, &nonce, now).await
                })
            })
            .await
            .map_err(EngineError::from)
    }
}
