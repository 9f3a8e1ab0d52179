//! Bursar's integration tests, in one binary. Every test that touches storage runs twice: on
//! SQLite and on PostgreSQL (see `support`).

// Test helpers outside `#[test]` functions may fail loudly too.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

mod accounts;
mod attacks;
mod bills_import;
mod channel_alipay;
mod channel_unionpay;
mod channel_wechatpay;
mod channels_portal;
mod controls;
mod counter;
mod crash;
mod day_close;
mod faults;
mod fee_item_changes;
mod fee_item_profile;
mod hostile_api;
mod hostile_files;
mod hostile_input;
mod hostile_logins;
mod login;
mod notices;
mod notifications;
mod offline_and_config;
mod open_api;
mod operators;
mod payer_account;
mod policy;
mod portal_flow;
mod project_amounts;
mod projects;
mod races;
mod refunds;
mod relief;
mod reports;
mod roster;
mod school_profile;
mod second_factor;
mod simulation;
mod standards;
mod waivers;
