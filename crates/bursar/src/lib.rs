//! The `bursar` binary's library: configuration, wiring the platform together, demo data.
//! Integration tests start the platform through [`app::start`] exactly as `bursar demo` does.

#![cfg_attr(not(test), deny(clippy::unwrap_used))]

pub mod app;
pub mod config;
pub mod demo;
pub mod demo_history;
pub mod imports;
pub mod merchants;
pub mod report;
pub mod simulate;
