//! Bursar's payment engine. Every money path goes through here: creating orders (checked against
//! the fee rules), starting payments at a channel, and applying what the channel says — from a
//! notification or an active query — in one transaction that does the compare-and-set
//! transition, the ledger posting and the receivable allocation together.

pub mod api;
mod cards;
mod codes;
mod error;
pub mod offline;
mod payments;
pub mod projects;
mod refunds;
pub mod webhooks;

pub use api::WEBHOOK_JOB;
pub use bursar_store::oplog::Actor;
pub use cards::{CARD_LOCK_MS, CARD_MAX_FAILURES};
pub use codes::{CODE_DEADLINE_MS, CODE_POLL_MS};
pub use error::EngineError;
pub use payments::{pay_action_of, ApplyResult, Engine, EngineConfig, OutcomeSource, PayContext, QUERY_JOB};
pub use projects::{NewProject, Registered};
pub use refunds::{RefundResult, REFUND_JOB};
