//! Access: logins and sessions (the principal behind each request), passwords, payers' own
//! accounts, single sign-on from business systems, operators and their roles, and the settings
//! that decide which approvals need a second person.

pub mod accounts;
pub mod limits;
pub mod operator_admin;
pub mod operators;
pub mod passwords;
pub mod payer_admin;
pub mod phone;
pub mod second_factor;
pub mod sessions;
pub mod sso;
