//! Payments: one attempt to collect money through one channel, and its state machine.

use serde::{Deserialize, Serialize};

use crate::error::DomainError;

/// How a payment is collected. Stored as its `as_str` code.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PayMethod {
    /// WeChat Pay API v3 Native: the payer scans Bursar's QR code.
    WechatNative,
}

impl PayMethod {
    pub const ALL: [PayMethod; 1] = [PayMethod::WechatNative];
    pub fn as_str(self) -> &'static str {
        match self {
            PayMethod::WechatNative => "wechat_native",
        }
    }
    pub fn parse(s: &str) -> Option<PayMethod> {
        PayMethod::ALL.into_iter().find(|m| m.as_str() == s)
    }
    /// The channel family, which names the merchant account and the ledger's clearing account.
    pub fn channel(self) -> &'static str {
        match self {
            PayMethod::WechatNative => "wechatpay",
        }
    }
    pub fn label_zh(self) -> &'static str {
        match self {
            PayMethod::WechatNative => "微信支付",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PaymentState {
    /// Recorded, not yet accepted by the channel.
    Created,
    /// The channel accepted it; the payer may pay.
    Paying,
    /// The channel says it is paid. Terminal for collection (refunds are separate records).
    Succeeded,
    /// The channel refused it or the payer's payment failed.
    Failed,
    /// Closed at the channel (expired or abandoned) before being paid.
    Closed,
}

impl PaymentState {
    pub const ALL: [PaymentState; 5] = [
        PaymentState::Created,
        PaymentState::Paying,
        PaymentState::Succeeded,
        PaymentState::Failed,
        PaymentState::Closed,
    ];
    pub fn as_str(self) -> &'static str {
        match self {
            PaymentState::Created => "created",
            PaymentState::Paying => "paying",
            PaymentState::Succeeded => "succeeded",
            PaymentState::Failed => "failed",
            PaymentState::Closed => "closed",
        }
    }
    pub fn parse(s: &str) -> Option<PaymentState> {
        PaymentState::ALL.into_iter().find(|m| m.as_str() == s)
    }
    pub fn label_zh(self) -> &'static str {
        match self {
            PaymentState::Created => "待支付",
            PaymentState::Paying => "支付中",
            PaymentState::Succeeded => "支付成功",
            PaymentState::Failed => "支付失败",
            PaymentState::Closed => "已关闭",
        }
    }

    /// The legal transitions. The channel is the truth about "paid": a payment Bursar believed
    /// failed or closed that the channel later reports paid moves to `Succeeded` (and is credited,
    /// to the payer's credit if nothing is owed any more) rather than being lost; so does one
    /// still `Created` (Bursar stopped between recording it and hearing the channel's answer).
    pub fn can_become(self, next: PaymentState) -> bool {
        use PaymentState::*;
        matches!(
            (self, next),
            (Created, Paying | Succeeded | Failed | Closed)
                | (Paying, Succeeded | Failed | Closed)
                | (Failed | Closed, Succeeded)
        )
    }

    pub fn check_transition(self, next: PaymentState) -> Result<(), DomainError> {
        if self.can_become(next) {
            Ok(())
        } else {
            Err(DomainError::IllegalTransition {
                machine: "payment",
                from: self.as_str().to_string(),
                to: next.as_str().to_string(),
            })
        }
    }

    pub fn is_final(self) -> bool {
        matches!(self, PaymentState::Succeeded)
    }
}

/// What a channel reports about a payment, from a notification or an active query.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ChannelOutcome {
    /// Paid: the channel's transaction id, the amount it collected, and when.
    Paid { channel_txn_id: String, amount_fen: i64, paid_at_ms: i64 },
    /// Still waiting for the payer.
    Pending,
    /// Closed or revoked at the channel without payment.
    Closed,
    /// The payer's payment failed.
    Failed { reason: String },
    /// The channel does not know this payment.
    NotFound,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transition_table_is_exactly_the_documented_one() {
        use PaymentState::*;
        let legal = [
            (Created, Paying),
            (Created, Succeeded),
            (Created, Failed),
            (Created, Closed),
            (Paying, Succeeded),
            (Paying, Failed),
            (Paying, Closed),
            (Failed, Succeeded),
            (Closed, Succeeded),
        ];
        for from in PaymentState::ALL {
            for to in PaymentState::ALL {
                assert_eq!(from.can_become(to), legal.contains(&(from, to)), "{from:?} -> {to:?}");
            }
        }
        assert!(Succeeded.check_transition(Closed).is_err());
    }

    #[test]
    fn codes_round_trip() {
        for s in PaymentState::ALL {
            assert_eq!(PaymentState::parse(s.as_str()), Some(s));
        }
        for m in PayMethod::ALL {
            assert_eq!(PayMethod::parse(m.as_str()), Some(m));
        }
    }
}
