//! Text messages (one-time codes to verify a phone) through an SMS gateway.
//!
//! The wire protocol is a small signed JSON call, the shape Chinese SMS platforms and campus
//! message centres offer (an app key, a timestamp and nonce, an HMAC-SHA256 over the exact body):
//! `POST {base}/sms/send` with `{"phone","text","timestamp","nonce"}` and the header
//! `X-Bursar-Signature: hex(hmac_sha256(secret, body))`; the gateway answers
//! `{"code":"OK"}` or `{"code":…,"message":…}`. The simulator in `bursar-simulators` speaks it
//! and shows what was sent, as the payment simulators show the payer's phone.

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use crate::ChannelError;

/// What Bursar sends.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SendRequest {
    pub app_key: String,
    pub phone: String,
    pub text: String,
    pub timestamp: i64,
    pub nonce: String,
}

/// The gateway's answer.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SendAnswer {
    pub code: String,
    #[serde(default)]
    pub message: String,
}

pub const SIGNATURE_HEADER: &str = "x-bursar-signature";

/// The signature of a body under a secret.
pub fn sign(secret: &str, body: &[u8]) -> String {
    let k = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, secret.as_bytes());
    hex::encode(ring::hmac::sign(&k, body).as_ref())
}

/// Sends text messages.
#[async_trait]
pub trait SmsGateway: Send + Sync {
    async fn send(&self, phone: &str, text: &str) -> Result<(), ChannelError>;
}

/// The HTTP gateway client.
pub struct HttpSmsGateway {
    base_url: String,
    app_key: String,
    secret: String,
    http: reqwest::Client,
}

impl HttpSmsGateway {
    pub fn new(base_url: &str, app_key: &str, secret: &str) -> Result<HttpSmsGateway, ChannelError> {
        let http = reqwest::Client::builder()
            .timeout(std::time::Duration::from_secs(10))
            .build()
            .map_err(|e| ChannelError::Config(e.to_string()))?;
        Ok(HttpSmsGateway {
            base_url: base_url.trim_end_matches('/').to_string(),
            app_key: app_key.to_string(),
            secret: secret.to_string(),
            http,
        })
    }
}

#[async_trait]
impl SmsGateway for HttpSmsGateway {
    async fn send(&self, phone: &str, text: &str) -> Result<(), ChannelError> {
        let req = SendRequest {
            app_key: self.app_key.clone(),
            phone: phone.to_string(),
            text: text.to_string(),
            timestamp: std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_secs() as i64)
                .unwrap_or(0),
            nonce: hex::encode(rand::random::<[u8; 12]>()),
        };
        let body = serde_json::to_vec(&req).map_err(|e| ChannelError::Protocol(e.to_string()))?;
        let resp = self
            .http
            .post(format!("{}/sms/send", self.base_url))
            .header("content-type", "application/json")
            .header(SIGNATURE_HEADER, sign(&self.secret, &body))
            .body(body)
            .send()
            .await
            .map_err(|e| ChannelError::Unreachable(e.to_string()))?;
        let answer: SendAnswer = resp.json().await.map_err(|e| ChannelError::Protocol(e.to_string()))?;
        if answer.code == "OK" {
            Ok(())
        } else {
            Err(ChannelError::Refused { code: answer.code, message: answer.message })
        }
    }
}
