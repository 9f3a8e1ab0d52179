//! Bursar's domain core.
//!
//! Everything in this crate is pure: no I/O, no clock reads, no randomness except through the
//! injected [`Clock`] and [`IdGen`] traits. Money is [`Fen`]; state changes are expressed as
//! checked transitions; ledger entries are built and validated here and only stored elsewhere;
//! who may do what is decided by [`access`].

pub mod codes;

pub mod access;
pub mod api;
pub mod audience;
pub mod card;
pub mod clock;
pub mod error;
pub mod exception;
pub mod fee;
pub mod ledger;
pub mod money;
pub mod order;
pub mod payer;
pub mod payment;
pub mod project;
pub mod receipt;
pub mod refund;
pub mod report;
pub mod roster;
pub mod standards;
pub mod till;
pub mod time_fmt;

pub use access::{AccessError, Permission, Principal, Role, Scope, SystemJob};
pub use clock::{Clock, IdGen, ManualClock, SeqIds, SystemClock, UuidV7Ids};
pub use error::DomainError;
pub use money::Fen;
