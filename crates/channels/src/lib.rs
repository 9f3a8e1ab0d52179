//! Payment channels. One module per channel; inside each, `protocol` holds the wire types and
//! signing rules shared by `adapter` (Bursar's client) and `simulator` (the channel's server side,
//! served by the same binary so the platform runs offline and any client SDK can be pointed at it).

pub mod crypto;
pub mod wechatpay;

use async_trait::async_trait;
use bursar_domain::payment::ChannelOutcome;
use bursar_domain::refund::RefundOutcome;
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

/// What the engine asks of a channel that collects by QR code.
pub struct QrRequest<'a> {
    pub merchant_order_no: &'a str,
    pub description: &'a str,
    pub amount_fen: i64,
    pub expires_at_ms: i64,
    pub notify_url: &'a str,
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
pub trait QrChannel: Send + Sync {
    /// The channel family (`wechatpay`), used for clearing accounts and events.
    fn channel(&self) -> &'static str;
    /// The merchant account payments are collected into.
    fn merchant_id(&self) -> &str;
    /// Creates the payment at the channel and returns the URL to encode as a QR code.
    async fn create_qr(&self, req: &QrRequest<'_>) -> Result<String, ChannelError>;
    /// Asks the channel what became of a payment (active query).
    async fn query(&self, merchant_order_no: &str) -> Result<ChannelOutcome, ChannelError>;
    /// Closes an unpaid payment at the channel.
    async fn close(&self, merchant_order_no: &str) -> Result<(), ChannelError>;
    /// Asks the channel to refund (part of) a paid payment. The same `out_refund_no` again is the
    /// same refund (idempotent).
    async fn refund(&self, req: &RefundRequest<'_>) -> Result<RefundOutcome, ChannelError>;
    /// Asks the channel what became of a refund.
    async fn refund_query(&self, out_refund_no: &str) -> Result<RefundOutcome, ChannelError>;
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
