//! The payment channels' server side: one simulator per channel, speaking exactly the protocol
//! (the wire types and signing rules in `bursar-channels`) that Bursar's adapters and any
//! independent client SDK speak, with sandbox credentials written to the data directory and
//! fault switches flipped at run time (`/_faults/<channel>`). The default binary serves them so
//! the whole platform runs offline; the tests drive them to pay, fail and misbehave.

pub mod alipay;
pub mod faults;
mod files;
pub mod sms;
pub mod unionpay;
pub mod wechatpay;

pub use alipay::{AlipaySandbox, AlipaySimulator};
pub use sms::SmsSimulator;
pub use unionpay::{UnionpaySandbox, UnionpaySimulator};
pub use wechatpay::sandbox::Sandbox as WechatPaySandbox;
pub use wechatpay::WechatPaySimulator;
