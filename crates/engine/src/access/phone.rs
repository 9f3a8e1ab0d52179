//! Proving a phone with a one-time code sent by SMS (outside people registering). A code lives
//! 10 minutes, allows 5 tries, and is spent when it verifies; a phone gets a code at most once a
//! minute and 5 times a day, and one network at most 10 an hour (texts cost the school money and
//! must not become a way to pester someone). Only a keyed digest of the code is stored.

use std::net::IpAddr;
use std::sync::Arc;

use bursar_channels::sms::SmsGateway;
use bursar_domain::access::{Principal, SystemJob};
use bursar_store::phone_codes::{self, PhoneCodeRow};
use bursar_store::Tx;
use rand::Rng;

use crate::engine::{log, Engine};
use crate::error::EngineError;

const CODE_TTL_MS: i64 = 10 * 60_000;
const RESEND_AFTER_MS: i64 = 60_000;
const PER_DAY: i64 = 5;
const MAX_TRIES: i64 = 5;
const DAY_MS: i64 = 86_400_000;

/// Why a code was not sent, or did not verify: a sentence for the person, and the form field.
fn field(name: &'static str, message: impl Into<String>) -> EngineError {
    EngineError::Param(crate::api::ParamError { code: "invalid_field", param: name.into(), message: message.into() })
}

pub use bursar_domain::payer::is_mobile;

fn digest(key: &[u8], phone: &str, code: &str) -> String {
    let k = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, key);
    hex::encode(ring::hmac::sign(&k, format!("phone-code|{phone}|{code}").as_bytes()).as_ref())
}

impl Engine {
    /// Uses this gateway for text messages (set once, at start).
    pub fn set_sms_gateway(&self, gateway: Arc<dyn SmsGateway>) {
        if self.sms_slot().set(gateway).is_err() {
            tracing::warn!("an SMS gateway was already set; keeping the first");
        }
    }

    /// Whether text messages can be sent (registration needs them).
    pub fn sms_available(&self) -> bool {
        self.sms_slot().get().is_some()
    }

    /// Sends a new one-time code to `phone`, asked from `source`.
    pub async fn send_phone_code(&self, phone: &str, source: IpAddr) -> Result<(), EngineError> {
        let phone = phone.trim().to_string();
        if !is_mobile(&phone) {
            return Err(field("phone", "手机号须为 11 位数字"));
        }
        let Some(gateway) = self.sms_slot().get().cloned() else {
            return Err(field("phone", "短信服务暂未开通，暂不能注册，请联系学校财务处"));
        };
        let now = self.store().now_ms();
        if !self.code_senders().hit(&source.to_string(), now) {
            return Err(field("phone", "此网络获取验证码过于频繁，请稍后再试"));
        }
        let code = format!("{:06}", rand::thread_rng().gen_range(0..1_000_000));
        let code_digest = digest(&self.config().id_digest_key, &phone, &code);
        let p = phone.clone();
        self.store()
            .write(|tx: &mut Tx| {
                let (phone, code_digest) = (p.clone(), code_digest.clone());
                Box::pin(async move {
                    let now = tx.now_ms;
                    let old = phone_codes::get(tx, &phone).await?;
                    let (mut sent_today, mut day_start) = (0, now);
                    if let Some(o) = &old {
                        let wait_ms = o.last_sent_at_ms + RESEND_AFTER_MS - now;
                        if wait_ms > 0 {
                            return Err(field(
                                "phone",
                                format!("验证码已发送，请 {} 秒后再获取", (wait_ms / 1000).max(1)),
                            ));
                        }
                        if now - o.day_start_ms < DAY_MS {
                            (sent_today, day_start) = (o.sent_today, o.day_start_ms);
                        }
                    }
                    if sent_today >= PER_DAY {
                        return Err(field("phone", "该手机号今日获取验证码的次数已达上限，请明天再试"));
                    }
                    let row = PhoneCodeRow {
                        phone: phone.clone(),
                        code_digest,
                        expires_at_ms: now + CODE_TTL_MS,
                        attempts: 0,
                        sent_today: sent_today + 1,
                        day_start_ms: day_start,
                        last_sent_at_ms: now,
                    };
                    phone_codes::put(tx, &row).await?;
                    let masked = bursar_domain::payer::mask_phone(&phone);
                    let by = Principal::System(SystemJob::Engine);
                    log(tx, &by, "phone.code_sent", ("phone", &masked), ("", ""), "").await
                })
            })
            .await?;
        let text = format!(
            "【{}】您的验证码为 {code}，10 分钟内有效，仅用于注册缴费账号。如非本人操作请忽略。",
            self.config().merchant_display_name
        );
        gateway.send(&phone, &text).await.map_err(|e| {
            tracing::warn!(error = %e, "SMS not sent");
            field("phone", "短信发送失败，请稍后重试")
        })
    }

    /// Checks a code typed for `phone` and spends it when it verifies; a wrong one counts.
    pub(crate) async fn verify_phone_code(&self, phone: &str, code: &str) -> Result<(), EngineError> {
        let code = code.trim().to_string();
        if code.len() != 6 || !code.bytes().all(|b| b.is_ascii_digit()) {
            return Err(field("sms_code", "请输入短信中的 6 位验证码"));
        }
        let code_digest = digest(&self.config().id_digest_key, phone, &code);
        let phone = phone.to_string();
        // A wrong try must be counted even though the registration stops: the transaction
        // commits and returns the refusal as a value.
        let outcome = self
            .store()
            .write(|tx: &mut Tx| {
                let (phone, code_digest) = (phone.clone(), code_digest.clone());
                Box::pin(async move {
                    let now = tx.now_ms;
                    let Some(row) = phone_codes::get(tx, &phone).await? else {
                        return Ok::<_, EngineError>(Err("请先获取短信验证码"));
                    };
                    if row.expires_at_ms <= now || row.code_digest.is_empty() {
                        return Ok(Err("验证码已过期，请重新获取"));
                    }
                    if row.attempts >= MAX_TRIES {
                        return Ok(Err("验证码错误次数过多，请重新获取"));
                    }
                    if !bursar_channels::crypto::ct_eq(row.code_digest.as_bytes(), code_digest.as_bytes()) {
                        phone_codes::failed_try(tx, &phone).await?;
                        return Ok(Err("验证码不正确"));
                    }
                    phone_codes::spend(tx, &phone).await?;
                    Ok(Ok(()))
                })
            })
            .await?;
        outcome.map_err(|m| field("sms_code", m))
    }
}
