//! Webhooks to business systems: each event is POSTed as JSON with a signature header like
//! Stripe's — `Bursar-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of "t.body" with the app
//! secret>` — and delivered at least once: retried with exponential backoff for more than 24
//! hours until the endpoint answers 2xx. Every attempt is logged; finance can redeliver.

use std::time::{Duration, Instant};

use bursar_domain::access::{Permission, Principal};
use bursar_domain::api::WebhookState;
use bursar_store::api as api_store;
use bursar_store::jobs::{self as job_store, NewJob};
use bursar_store::Tx;

use crate::api::WEBHOOK_JOB;
use crate::engine::{log, require, Engine};
use crate::error::EngineError;

/// Seconds to wait after each failed attempt (attempt 1 is immediate): 15 s … 12 h, about 34 h
/// in all over 12 attempts.
pub const RETRY_SCHEDULE_S: [i64; 11] = [15, 60, 300, 900, 1_800, 3_600, 7_200, 14_400, 21_600, 28_800, 43_200];

/// When to try again after `attempts` failed attempts; `None`: give up (the event is `failed`
/// and waits for a manual redelivery).
pub fn next_attempt_at(attempts: i64, now_ms: i64) -> Option<i64> {
    let idx = usize::try_from(attempts.saturating_sub(1)).ok()?;
    RETRY_SCHEDULE_S.get(idx).map(|s| now_ms + s * 1000)
}

/// The `Bursar-Signature` header value for a body sent at `t` (Unix seconds).
pub fn signature_header(secret: &str, t: i64, body: &str) -> String {
    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, secret.as_bytes());
    let mac = ring::hmac::sign(&key, format!("{t}.{body}").as_bytes());
    format!("t={t},v1={}", hex::encode(mac.as_ref()))
}

/// Checks a `Bursar-Signature` header the way a receiving application should: the HMAC over
/// `t.body`, in constant time, and `t` within `tolerance_s` of now.
pub fn verify_signature(secret: &str, header: &str, body: &str, now_s: i64, tolerance_s: i64) -> bool {
    let mut t = None;
    let mut sigs = Vec::new();
    for part in header.split(',') {
        match part.trim().split_once('=') {
            Some(("t", v)) => t = v.parse::<i64>().ok(),
            Some(("v1", v)) => sigs.push(v.to_string()),
            _ => {}
        }
    }
    let Some(t) = t else { return false };
    if !bursar_domain::clock::within(now_s, t, tolerance_s) {
        return false;
    }
    let Ok(expected) = hex::decode(signature_header(secret, t, body).rsplit_once("v1=").map(|(_, s)| s).unwrap_or(""))
    else {
        return false;
    };
    sigs.iter().any(|s| hex::decode(s).is_ok_and(|got| bursar_channels::crypto::ct_eq(&got, &expected)))
}

impl Engine {
    /// Delivers one event (the webhook job). Returns when to try again, or `None` when done
    /// (delivered, or given up after the schedule).
    pub async fn deliver_webhook(&self, event_id: &str) -> Result<Option<i64>, EngineError> {
        let (event, app) = {
            let mut c = self.store().read().await?;
            let e = api_store::event(&mut c, event_id).await?;
            let a = api_store::app(&mut c, &e.app_id).await?;
            (e, a)
        };
        if event.state == WebhookState::Delivered {
            return Ok(None);
        }
        let secret = self
            .app_secrets(&app)?
            .into_iter()
            .next()
            .ok_or_else(|| EngineError::Invariant(format!("app {} has no secret", app.app_id)))?;
        let now = self.store().now_ms();
        let header = signature_header(&secret, now / 1000, &event.payload);
        let started = Instant::now();
        let http = reqwest::Client::builder().timeout(Duration::from_secs(10)).build();
        let (status, error) = match http {
            Ok(h) => match h
                .post(&app.notify_url)
                .header("Content-Type", "application/json")
                .header("Bursar-Signature", header)
                .header("Bursar-Event-Id", &event.id)
                .header("User-Agent", concat!("Bursar-Webhooks/", env!("CARGO_PKG_VERSION")))
                .body(event.payload.clone())
                .send()
                .await
            {
                Ok(r) => (Some(i64::from(r.status().as_u16())), String::new()),
                Err(e) => {
                    tracing::info!(event = %event.id, error = %e, "webhook delivery failed");
                    let why = if e.is_timeout() {
                        "10 秒内没有应答"
                    } else if e.is_connect() {
                        "无法连接通知地址"
                    } else {
                        "发送失败"
                    };
                    (None, why.to_string())
                }
            },
            Err(e) => (None, format!("无法发送：{e}")),
        };
        let ok = status.is_some_and(|s| (200..300).contains(&s));
        let attempt = event.attempts + 1;
        let next = if ok { None } else { next_attempt_at(attempt, now) };
        let state = match (ok, next) {
            (true, _) => WebhookState::Delivered,
            (false, Some(_)) => WebhookState::Retrying,
            (false, None) => WebhookState::Failed,
        };
        let error = if ok || !error.is_empty() { error } else { format!("对方应答 HTTP {}", status.unwrap_or(0)) };
        let duration = i64::try_from(started.elapsed().as_millis()).unwrap_or(i64::MAX);
        let event_id = event.id.clone();
        self.store()
            .write(|tx: &mut Tx| {
                let (event_id, error) = (event_id.clone(), error.clone());
                Box::pin(async move {
                    let id = tx.new_id();
                    let now = tx.now_ms;
                    let d = api_store::Delivery { status_code: status, error: &error, duration_ms: duration };
                    api_store::record_delivery(tx, &id, &event_id, attempt, &d, state, next, now).await
                })
            })
            .await?;
        Ok(next)
    }

    /// Finance asks to deliver an event again now (after fixing the receiving end).
    pub async fn redeliver_webhook(&self, by: &Principal, event_id: &str) -> Result<(), EngineError> {
        require(by, Permission::ManageApps)?;
        let (by, event_id) = (by.clone(), event_id.to_string());
        self.store()
            .write(|tx: &mut Tx| {
                let (by, event_id) = (by.clone(), event_id.clone());
                Box::pin(async move {
                    let now = tx.now_ms;
                    let e = api_store::event(tx, &event_id).await?;
                    let key = format!("{}:redeliver:{}", e.id, e.attempts);
                    let job_id = tx.new_id();
                    let job = NewJob {
                        kind: WEBHOOK_JOB,
                        dedupe_key: &key,
                        payload: &e.id,
                        run_at_ms: now,
                        max_attempts: 50,
                    };
                    job_store::enqueue(tx, &job_id, &job, now).await?;
                    // Pending again, so a delivered one is sent once more.
                    let id = tx.new_id();
                    let d = api_store::Delivery { status_code: None, error: "redelivery requested", duration_ms: 0 };
                    api_store::record_delivery(tx, &id, &e.id, e.attempts, &d, WebhookState::Pending, Some(now), now)
                        .await?;
                    log(tx, &by, "webhook.redeliver", ("webhook_event", &e.id), ("", "pending"), "").await
                })
            })
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_schedule_lasts_more_than_a_day_and_then_stops() {
        let mut t = 0i64;
        let mut attempts = 1;
        while let Some(next) = next_attempt_at(attempts, t) {
            assert!(next > t);
            t = next;
            attempts += 1;
        }
        assert_eq!(attempts, 12, "12 attempts");
        assert!(t >= 24 * 3_600_000, "retries span at least 24 h, got {} h", t / 3_600_000);
        assert_eq!(next_attempt_at(1, 0), Some(15_000));
    }

    #[test]
    fn signatures_verify_and_refuse_tampering_and_staleness() {
        let h = signature_header("sk_test", 1_700_000_000, r#"{"id":"evt_1"}"#);
        assert!(verify_signature("sk_test", &h, r#"{"id":"evt_1"}"#, 1_700_000_100, 300));
        assert!(!verify_signature("sk_test", &h, r#"{"id":"evt_2"}"#, 1_700_000_100, 300));
        assert!(!verify_signature("sk_other", &h, r#"{"id":"evt_1"}"#, 1_700_000_100, 300));
        assert!(!verify_signature("sk_test", &h, r#"{"id":"evt_1"}"#, 1_700_001_000, 300));
        assert!(!verify_signature("sk_test", "garbage", "x", 0, 300));
    }
}
