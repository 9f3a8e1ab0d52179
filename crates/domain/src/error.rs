use thiserror::Error;

use crate::fee::NotPayable;

/// Rule violations detected by the pure core. Each variant's message is safe to show a payer.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum DomainError {
    #[error("金额格式不正确：{0}")]
    BadAmount(String),
    #[error("金额超出范围")]
    AmountOverflow,
    #[error("{0}")]
    NotPayable(#[from] NotPayable),
    #[error("支付金额 {amount} 元低于最小支付金额 {minimum} 元")]
    BelowMinimum { amount: String, minimum: String },
    #[error("支付金额 {amount} 元超过欠费金额 {owed} 元")]
    AboveOwed { amount: String, owed: String },
    #[error("该项目不允许拆分支付，须全额缴纳 {owed} 元")]
    PartialNotAllowed { owed: String },
    #[error("支付金额必须大于零")]
    NonPositiveAmount,
    #[error("未选择任何缴费项目")]
    EmptyOrder,
    #[error("同一项目不能重复选择")]
    DuplicateLine,
    #[error("illegal {machine} transition {from} -> {to}")]
    IllegalTransition { machine: &'static str, from: String, to: String },
    #[error("unbalanced journal entry: postings sum to {0} fen")]
    Unbalanced(i64),
    #[error("journal entry has a zero or empty posting")]
    EmptyPosting,
    #[error("学年格式应为 2026-2027：{0}")]
    BadAcademicYear(String),
    /// A business rule refused the request; the message says which, for the person asking.
    #[error("{0}")]
    Refused(String),
    #[error("{0}")]
    Registration(#[from] crate::project::RegistrationError),
}
