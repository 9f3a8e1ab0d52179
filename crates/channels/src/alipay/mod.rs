//! Alipay OpenAPI, classic gateway (CHANNELS.md §3): precreate (QR), page.pay and wap.pay
//! (cashier redirects), trade.pay (payment code), query, close, cancel, refund, refund query,
//! asynchronous notifications and the daily bill (a zip of GBK CSVs) — Bursar's adapter and the
//! protocol rules it shares with the simulator (`bursar-simulators`). RSA2 both ways.

pub mod adapter;
pub mod bill;
pub mod protocol;

pub use adapter::{AlipayAdapter, AlipayConfig};
