//! Payment channels. One module per channel; inside each, `protocol` holds the wire types and
//! signing rules shared by `adapter` (Bursar's client) and the channel's simulator (its server
//! side, in `bursar-simulators`, served by the same binary so the platform runs offline and any
//! client SDK can be pointed at it).

pub mod alipay;
pub mod crypto;
pub mod internal;
pub mod sms;
pub mod unionpay;
pub mod wechatpay;

use async_trait::async_trait;
use bursar_domain::payment::{ChannelOutcome, PayMethod};
use bursar_domain::refund::RefundOutcome;
use serde::{Deserialize, Serialize};
use thiserror::Error;

#[derive(Debug, Error)]
pub enum ChannelError {
    /// The channel could not be reached or did not answer in time: the outcome is unknown.
    #[error("channel unreachable: {0}")]
    Unreachable(String),
    /// The channel answered with an error of its own.
    #[error("channel refused: {code}: {message}")]
    Refused { code: String, message: String },
    /// A response or notification failed verification (signature, time, identity, amount).
    #[error("verification failed: {0}")]
    Verification(String),
    #[error("protocol error: {0}")]
    Protocol(String),
    #[error("configuration error: {0}")]
    Config(String),
}

/// What the engine asks of a channel to start collecting a payment.
pub struct PayRequest<'a> {
    /// The product (Native, H5, wap.pay…), which decides the flow.
    pub method: PayMethod,
    pub merchant_order_no: &'a str,
    pub description: &'a str,
    pub amount_fen: i64,
    pub expires_at_ms: i64,
    pub notify_url: &'a str,
    /// Where a redirect flow brings the payer back to.
    pub return_url: &'a str,
    /// The payer's IP address (WeChat H5 requires it).
    pub client_ip: &'a str,
    /// The payer's openid under the merchant's app (WeChat JSAPI).
    pub openid: Option<&'a str>,
}

/// What the payer's browser does next to pay.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum PayAction {
    /// Show this text as a QR code for the payer's phone to scan.
    Qr { code_url: String },
    /// Send the browser to this URL (the channel's cashier or app jump).
    Redirect { url: String },
    /// Auto-post this form to the channel's gateway.
    Form { action: String, fields: Vec<(String, String)> },
    /// Invoke the WeChat payment sheet with these parameters (`WeixinJSBridge`).
    Jsapi { params: Vec<(String, String)> },
}

impl PayAction {
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }
    pub fn from_json(s: &str) -> Option<PayAction> {
        serde_json::from_str(s).ok()
    }
    /// The text a QR flow shows, if this is one.
    pub fn code_url(&self) -> Option<&str> {
        match self {
            PayAction::Qr { code_url } => Some(code_url),
            _ => None,
        }
    }
}

/// What a payment-code (付款码) charge said at once.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CodeOutcome {
    /// Decided: paid, failed…
    Final(ChannelOutcome),
    /// The payer must confirm on the phone (or the channel is unsure): poll, then reverse.
    Waiting,
}

/// A verified payment notification, reduced to what the engine needs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PaymentNotice {
    pub merchant_order_no: String,
    pub outcome: ChannelOutcome,
}

/// What the engine asks of a channel to refund (part of) a payment.
pub struct RefundRequest<'a> {
    pub merchant_order_no: &'a str,
    pub out_refund_no: &'a str,
    pub refund_fen: i64,
    pub total_fen: i64,
    pub reason: &'a str,
    pub notify_url: &'a str,
}

/// A verified refund notification.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RefundNotice {
    pub out_refund_no: String,
    pub outcome: RefundOutcome,
}

/// A verified notification of either kind.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Notice {
    Payment(PaymentNotice),
    Refund(RefundNotice),
}

#[async_trait]
pub trait Channel: Send + Sync {
    /// The channel family (`wechatpay`), used for clearing accounts and events.
    fn channel(&self) -> &'static str;
    /// The merchant account payments are collected into.
    fn merchant_id(&self) -> &str;
    /// The products this adapter can start.
    fn methods(&self) -> &[PayMethod];
    /// Creates the payment at the channel (or signs the form the browser posts to it) and says
    /// what the payer's browser does next.
    async fn create(&self, req: &PayRequest<'_>) -> Result<PayAction, ChannelError>;
    /// Charges a payer's payment code scanned by a cashier.
    async fn pay_with_code(&self, req: &PayRequest<'_>, auth_code: &str) -> Result<CodeOutcome, ChannelError> {
        let _ = (req, auth_code);
        Err(ChannelError::Config(format!("{} does not take payment codes here", self.channel())))
    }
    /// Reverses (cancels) a payment-code charge whose outcome stayed unknown. `Ok(true)`: done;
    /// `Ok(false)`: the channel asks to call again.
    async fn reverse(&self, merchant_order_no: &str) -> Result<bool, ChannelError> {
        let _ = merchant_order_no;
        Err(ChannelError::Config(format!("{} cannot reverse", self.channel())))
    }
    /// Asks the channel what became of a payment (active query).
    async fn query(&self, merchant_order_no: &str) -> Result<ChannelOutcome, ChannelError>;
    /// Closes an unpaid payment at the channel.
    async fn close(&self, merchant_order_no: &str) -> Result<(), ChannelError>;
    /// Whether [`Channel::close`] really stops an unpaid payment from being paid later. UnionPay's
    /// gateway has no close: an unpaid order lapses only at its payment timeout.
    fn closes_unpaid(&self) -> bool {
        true
    }
    /// Asks the channel to refund (part of) a paid payment. The same `out_refund_no` again is the
    /// same refund (idempotent).
    async fn refund(&self, req: &RefundRequest<'_>) -> Result<RefundOutcome, ChannelError>;
    /// Verifies a notification addressed to this merchant account (signature, identity, time)
    /// and says what it reports.
    fn verify_notice(&self, headers: &axum::http::HeaderMap, body: &[u8]) -> Result<Notice, ChannelError> {
        let _ = (headers, body);
        Err(ChannelError::Config(format!("{} sends no notifications", self.channel())))
    }
    /// Asks the channel what became of a refund of the payment `merchant_order_no`.
    async fn refund_query(&self, merchant_order_no: &str, out_refund_no: &str) -> Result<RefundOutcome, ChannelError>;
}

/// Escapes text for HTML element content and quoted attribute values.
pub fn html_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for ch in text.chars() {
        match ch {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// An SVG QR code of `text`, sized for a phone screen.
pub fn qr_svg(text: &str) -> String {
    match qrcode::QrCode::new(text.as_bytes()) {
        Ok(code) => code.render::<qrcode::render::svg::Color<'_>>().min_dimensions(220, 220).quiet_zone(true).build(),
        Err(_) => String::new(),
    }
}

/// Percent-encodes a query-string value (RFC 3986 unreserved characters kept).
pub fn url_encode(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for b in value.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}
