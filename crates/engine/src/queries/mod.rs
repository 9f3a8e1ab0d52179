//! Reads, each through the principal asking: a payer's own data, an operator's within their
//! permissions and department scope, an application's own orders, and what is public.

pub mod app;
pub mod dashboard;
pub mod operator;
pub mod payer;
pub mod payers;
pub mod public;
pub mod voucher;
