//! UnionPay online gateway, ACP 5.1.0 (CHANNELS.md §4): front consume through an auto-posted
//! form, back notification, query, refund and the reconciliation file, with certificate
//! signing and chain verification — Bursar's adapter and the PKI it shares with the simulator (`bursar-simulators`). Banks' e-banking gateways of this kind are merchant accounts of channel `unionpay`.

pub mod adapter;
pub mod certs;
pub mod protocol;

pub use adapter::{UnionpayAdapter, UnionpayConfig};
