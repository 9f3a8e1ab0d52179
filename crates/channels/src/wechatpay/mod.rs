//! WeChat Pay API v3 (CHANNELS.md §1): Native (QR) payments, query, close, and encrypted
//! notifications — Bursar's adapter and the built-in simulator, sharing the protocol types.

pub mod adapter;
pub mod bill;
pub mod protocol;
pub mod sandbox;
pub mod simulator;

pub use adapter::{WechatPayAdapter, WechatPayConfig};
pub use simulator::WechatPaySimulator;
