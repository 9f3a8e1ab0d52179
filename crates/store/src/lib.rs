//! Bursar's storage. One code path — sqlx's `Any` driver, one SQL text — for embedded SQLite
//! (the default) and PostgreSQL. Writes run in [`Tx`] transactions (`BEGIN IMMEDIATE` on SQLite)
//! and are retried on serialization failures; state changes are compare-and-set updates that
//! fail with [`StoreError::Conflict`] when the row moved on.

pub mod api;
pub mod audit;
mod bulk;
pub mod cards;
pub mod dashboard;
mod db;
pub mod deferrals;
mod error;
pub mod exceptions;
pub mod fee_item_changes;
pub mod item_profile;
pub mod jobs;
pub mod ledger;
pub mod merchants;
pub mod migrate;
pub mod notices;
pub mod operators;
pub mod oplog;
pub mod payers;
pub mod payments;
pub mod phone_codes;
pub mod projects;
pub mod receipts;
pub mod receivables;
pub mod refunds;
pub mod relief_batches;
pub mod reports;
pub mod second_factor;
pub mod sessions;
pub mod settings;
pub mod standards;
pub mod till_closes;
pub mod verify;
pub mod waivers;

#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_bulk;

pub use db::{Backend, Conn, Reader, Store, Tx};
pub use error::{Retryable, StoreError};
