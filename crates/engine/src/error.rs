use bursar_channels::ChannelError;
use bursar_domain::access::AccessError;
use bursar_domain::DomainError;
use bursar_store::{Retryable, StoreError};
use thiserror::Error;

#[derive(Debug, Error)]
pub enum EngineError {
    /// A rule the person asking can fix (amount, window, status…). The message is for them.
    #[error("{0}")]
    Rule(#[from] DomainError),
    /// Refused before anything was touched: a permission missing, data out of scope, or a
    /// decision by whoever asked for it.
    #[error("{0}")]
    Access(#[from] AccessError),
    #[error("{0}")]
    Store(#[from] StoreError),
    #[error("{0}")]
    Channel(#[from] ChannelError),
    #[error("不存在或无权访问：{0}")]
    NotFound(String),
    #[error("该订单当前不能支付（{0}）")]
    OrderNotOpen(String),
    #[error("不支持的支付方式：{0}")]
    MethodUnavailable(String),
    /// A request parameter an application sent is wrong (open API).
    #[error("{}: {}", .0.param, .0.message)]
    Param(crate::api::ParamError),
    #[error("校园卡不可用：{0}")]
    CardUnavailable(String),
    #[error("校园卡密码错误，还可尝试 {0} 次")]
    CardPassword(i64),
    #[error("校园卡余额不足（余额 ¥{balance}，需支付 ¥{needed}）")]
    InsufficientBalance { balance: bursar_domain::Fen, needed: bursar_domain::Fen },
    /// The channel reports a payment Bursar never made.
    #[error("unknown merchant order number {0}")]
    UnknownPayment(String),
    /// The channel reports a different amount than the payment: refused, nothing credited.
    #[error("amount mismatch for {merchant_order_no}: channel says {channel_fen} fen, payment is {payment_fen} fen")]
    AmountMismatch { merchant_order_no: String, channel_fen: i64, payment_fen: i64 },
    /// The channel reports a second, different transaction for a payment already credited.
    #[error("payment {merchant_order_no} already credited with channel transaction {credited}, channel now reports {reported}")]
    TransactionMismatch { merchant_order_no: String, credited: String, reported: String },
    /// A channel message verified by one merchant account speaks of a payment collected into
    /// another: refused, nothing applied.
    #[error("notification for {merchant_order_no} verified by merchant {verified_by}, but the payment belongs to merchant {expected}")]
    AccountMismatch { merchant_order_no: String, verified_by: String, expected: String },
    /// A login or account check failed; the message never says which part was wrong.
    #[error("{0}")]
    Login(String),
    /// Something that must hold did not (a bug or a corrupt row); logged, shown as a busy system.
    #[error("internal: {0}")]
    Invariant(String),
}

impl Retryable for EngineError {
    fn is_retryable(&self) -> bool {
        match self {
            // A compare-and-set that lost a race is retried from a fresh read.
            EngineError::Store(StoreError::Conflict(_)) => true,
            EngineError::Store(e) => e.is_retryable(),
            _ => false,
        }
    }
}

pub(crate) fn refused(msg: impl Into<String>) -> EngineError {
    EngineError::Rule(DomainError::Refused(msg.into()))
}

/// A store `NotFound` as the engine's, naming what the person asked for.
pub(crate) fn not_found(what: impl Into<String>) -> impl FnOnce(StoreError) -> EngineError {
    let what = what.into();
    move |e| match e {
        StoreError::NotFound(_) => EngineError::NotFound(what),
        other => other.into(),
    }
}
