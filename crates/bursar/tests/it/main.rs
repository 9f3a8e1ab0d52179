//! Bursar's integration tests, in one binary. Every test that touches storage runs twice: on
//! SQLite and on PostgreSQL (see `support`).

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

mod accounts;
mod channel_alipay;
mod channel_unionpay;
mod channel_wechatpay;
mod channels_portal;
mod counter;
mod crash;
mod faults;
mod login;
mod notifications;
mod offline_and_config;
mod open_api;
mod portal_flow;
mod projects;
mod refunds;
mod simulation;
mod store;
