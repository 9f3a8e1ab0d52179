//! Bursar's domain core.
//!
//! Everything in this crate is pure: no I/O, no clock reads, no randomness except through the
//! injected [`Clock`] and [`IdGen`] traits. Money is [`Fen`]; state changes are expressed as
//! checked transitions; ledger entries are built and validated here and only stored elsewhere.

pub mod clock;
pub mod error;
pub mod fee;
pub mod ledger;
pub mod money;
pub mod order;
pub mod payer;
pub mod payment;
pub mod project;
pub mod refund;
pub mod time_fmt;

pub use clock::{Clock, IdGen, ManualClock, SeqIds, SystemClock, UuidV7Ids};
pub use error::DomainError;
pub use money::Fen;
