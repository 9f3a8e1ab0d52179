//! The SMS gateway's server side: checks the signature of `POST /sms/send` exactly as a gateway
//! would, keeps the last messages in memory (bounded), and shows them at `GET /sms` (all) or
//! `GET /sms?phone=…` — the phone a tester or the demo's user reads the code from.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use bursar_channels::sms::{sign, SendAnswer, SendRequest, SIGNATURE_HEADER};
use serde::Deserialize;

/// Messages kept (the oldest go first).
const KEPT: usize = 500;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SentMessage {
    pub phone: String,
    pub text: String,
    pub at_s: i64,
}

/// The simulated gateway: one app key and its secret.
#[derive(Clone)]
pub struct SmsSimulator {
    pub app_key: String,
    pub secret: String,
    sent: Arc<Mutex<VecDeque<SentMessage>>>,
}

impl SmsSimulator {
    pub fn new(app_key: &str, secret: &str) -> SmsSimulator {
        SmsSimulator { app_key: app_key.into(), secret: secret.into(), sent: Arc::default() }
    }

    /// The messages sent to a phone, newest last.
    pub fn messages_to(&self, phone: &str) -> Vec<SentMessage> {
        self.lock().iter().filter(|m| m.phone == phone).cloned().collect()
    }

    /// The last six-digit code sent to a phone.
    pub fn last_code(&self, phone: &str) -> Option<String> {
        self.messages_to(phone)
            .last()
            .and_then(|m| m.text.split(|c: char| !c.is_ascii_digit()).find(|w| w.len() == 6).map(str::to_string))
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, VecDeque<SentMessage>> {
        match self.sent.lock() {
            Ok(g) => g,
            Err(poisoned) => poisoned.into_inner(),
        }
    }

    pub fn router(&self) -> Router {
        Router::new().route("/sms/send", post(send)).route("/sms", get(page)).with_state(self.clone())
    }
}

fn answer(status: StatusCode, code: &str, message: &str) -> Response {
    (status, Json(SendAnswer { code: code.into(), message: message.into() })).into_response()
}

async fn send(State(sim): State<SmsSimulator>, headers: HeaderMap, body: Bytes) -> Response {
    let given = headers.get(SIGNATURE_HEADER).and_then(|v| v.to_str().ok()).unwrap_or("");
    if !bursar_channels::crypto::ct_eq(given.as_bytes(), sign(&sim.secret, &body).as_bytes()) {
        return answer(StatusCode::UNAUTHORIZED, "SIGN_ERROR", "signature does not verify");
    }
    let Ok(req) = serde_json::from_slice::<SendRequest>(&body) else {
        return answer(StatusCode::BAD_REQUEST, "BAD_REQUEST", "malformed body");
    };
    if req.app_key != sim.app_key {
        return answer(StatusCode::UNAUTHORIZED, "APP_KEY_ERROR", "unknown app key");
    }
    if req.phone.len() != 11 || !req.phone.bytes().all(|b| b.is_ascii_digit()) {
        return answer(StatusCode::BAD_REQUEST, "MOBILE_NUMBER_ILLEGAL", "not a mobile number");
    }
    if req.text.chars().count() > 300 {
        return answer(StatusCode::BAD_REQUEST, "CONTENT_TOO_LONG", "text over 300 characters");
    }
    let mut sent = sim.lock();
    if sent.len() >= KEPT {
        sent.pop_front();
    }
    sent.push_back(SentMessage { phone: req.phone, text: req.text, at_s: req.timestamp });
    answer(StatusCode::OK, "OK", "")
}

#[derive(Deserialize)]
struct PageQuery {
    #[serde(default)]
    phone: String,
}

async fn page(State(sim): State<SmsSimulator>, Query(q): Query<PageQuery>) -> Html<String> {
    let messages: Vec<SentMessage> =
        sim.lock().iter().rev().filter(|m| q.phone.is_empty() || m.phone == q.phone).take(50).cloned().collect();
    let mut html = String::from(
        "<!doctype html><html lang=\"zh-CN\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width\"><title>短信模拟器</title></head><body><main><h1>短信模拟器（演示环境）</h1><p>平台发出的短信显示在这里，最新的在最上面。</p><ul id=\"messages\">",
    );
    for m in &messages {
        html.push_str(&format!(
            "<li><strong class=\"phone\">{}</strong>：<span class=\"text\">{}</span></li>",
            bursar_channels::html_escape(&m.phone),
            bursar_channels::html_escape(&m.text)
        ));
    }
    if messages.is_empty() {
        html.push_str("<li>暂无短信。</li>");
    }
    html.push_str("</ul></main></body></html>");
    Html(html)
}
