//! Bursar's engine: the one way to change anything. Commands take the [`Principal`] asking,
//! check its permission in one place ([`Principal::require`]), run in one transaction and write
//! the operation log in it. Split by bounded context:
//!
//! - [`access`]: logins, sessions, accounts, operators, four-eyes settings;
//! - [`collection`]: fee items and their approval, receivables, orders, payments through every
//!   channel, crediting what channels say;
//! - [`refunds`]: requests, four-eyes decisions, pay-out;
//! - [`api`]: business systems, their orders and webhooks;
//! - [`projects`]: project registration;
//! - [`merchants`]: merchant accounts and their adapters.
//!
//! [`Principal`]: bursar_domain::Principal
//! [`Principal::require`]: bursar_domain::Principal::require

pub mod access;
pub mod api;
pub mod bills_import;
pub mod collection;
mod engine;
mod error;
pub mod exceptions;
pub mod jobs;
pub mod merchants;
pub mod notices;
pub mod policy;
pub mod projects;
pub mod queries;
pub mod refunds;
pub mod relief_import;
pub mod reports;
pub mod roster;
pub mod school_profile;
pub mod setup;
pub mod standards;
pub mod tables;
pub mod waivers;

/// The rows queries return (the store's types, for the web layer).
pub mod rows {
    pub use bursar_store::api::{ApiOrderRow, AppRow, DeliveryRow, EventRow};
    pub use bursar_store::cards::CardRow;
    pub use bursar_store::deferrals::DeferralRow;
    pub use bursar_store::fee_item_changes::{ChangeRow, Terms};
    pub use bursar_store::merchants::MerchantAccountRow;
    pub use bursar_store::notices::NoticeRow;
    pub use bursar_store::operators::OperatorListing;
    pub use bursar_store::oplog::{LogQuery, LogRow};
    pub use bursar_store::payers::OperatorState;
    pub use bursar_store::payers::{PayerRow, RosterRow};
    pub use bursar_store::payments::{
        ChannelEventRow, OfflineImportRow, OrderLineView, OrderRow, PaymentFilter, PaymentListRow, PaymentRow,
    };
    pub use bursar_store::projects::{ProjectRow, RegistrationRow};
    pub use bursar_store::receipts::ReceiptRow;
    pub use bursar_store::receivables::{CollectionRow, FeeItemRow, ReceivableView};
    pub use bursar_store::refunds::{OverpaymentRow, RefundListRow, RefundRow};
    pub use bursar_store::relief_batches::{BatchLine as ReliefLine, BatchRow as ReliefBatch};
    pub use bursar_store::sessions::AuthMethod;
    pub use bursar_store::till_closes::CloseRow;
}

pub use api::WEBHOOK_JOB;
pub use bursar_store::StoreError;
pub use collection::apply::ApplyResult;
pub use collection::cards::{CARD_LOCK_MS, CARD_MAX_FAILURES};
pub use collection::codes::{CODE_DEADLINE_MS, CODE_POLL_MS};
pub use collection::payments::{pay_action_of, PayContext, QUERY_JOB};
pub use engine::{Engine, EngineConfig};
pub use error::EngineError;
pub use projects::{NewProject, Registered};
pub use refunds::{RefundResult, REFUND_JOB};
