//! WeChat Pay API v3 (CHANNELS.md §1): Native, JSAPI and H5 payments, query, close, refunds,
//! bills and encrypted notifications; and the v2 payment-code API (§2, `v2`) — Bursar's adapter and the protocol types it shares with the simulator (`bursar-simulators`).

pub mod adapter;
pub mod bill;
pub mod protocol;
pub mod v2;

pub use adapter::{WechatPayAdapter, WechatPayConfig};
