use bursar_channels::ChannelError;
use bursar_domain::DomainError;
use bursar_store::{Retryable, StoreError};
use thiserror::Error;

#[derive(Debug, Error)]
pub enum EngineError {
    /// A rule the payer can fix (amount, window, status…). The message is for the payer.
    #[error("{0}")]
    Rule(#[from] DomainError),
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
