//! Refunds: requested by a charging department, decided by finance, carried out by the channel.

use serde::{Deserialize, Serialize};

use crate::error::DomainError;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RefundState {
    /// Waiting for finance.
    Requested,
    /// Finance said no. Final.
    Rejected,
    /// Finance said yes; the ledger holds the money in transit; waiting to be sent to the channel.
    Approved,
    /// The channel accepted it and is paying it out.
    Processing,
    /// The channel paid it out. Final.
    Succeeded,
    /// The channel refused or closed it; finance retries or pays it by bank transfer.
    Failed,
    /// Paid out by manual bank transfer instead. Final.
    Manual,
}

impl RefundState {
    pub const ALL: [RefundState; 7] = [
        RefundState::Requested,
        RefundState::Rejected,
        RefundState::Approved,
        RefundState::Processing,
        RefundState::Succeeded,
        RefundState::Failed,
        RefundState::Manual,
    ];
    pub fn as_str(self) -> &'static str {
        match self {
            RefundState::Requested => "requested",
            RefundState::Rejected => "rejected",
            RefundState::Approved => "approved",
            RefundState::Processing => "processing",
            RefundState::Succeeded => "succeeded",
            RefundState::Failed => "failed",
            RefundState::Manual => "manual",
        }
    }
    pub fn parse(s: &str) -> Option<RefundState> {
        RefundState::ALL.into_iter().find(|k| k.as_str() == s)
    }
    pub fn label_zh(self) -> &'static str {
        match self {
            RefundState::Requested => "待审批",
            RefundState::Rejected => "已驳回",
            RefundState::Approved => "已批准，待退款",
            RefundState::Processing => "退款中",
            RefundState::Succeeded => "退款成功",
            RefundState::Failed => "退款失败",
            RefundState::Manual => "已线下转账",
        }
    }
    /// Whether the refund still counts against what can be refunded of its payment.
    pub fn is_live(self) -> bool {
        !matches!(self, RefundState::Rejected)
    }
    pub fn can_become(self, next: RefundState) -> bool {
        use RefundState::*;
        matches!(
            (self, next),
            (Requested, Approved | Rejected)
                | (Approved, Processing | Succeeded | Failed)
                | (Processing, Succeeded | Failed)
                | (Failed, Approved | Manual)
                // The channel is the truth: a refund it reports paid after Bursar saw it fail is paid.
                | (Failed, Succeeded)
        )
    }
    pub fn check_transition(self, next: RefundState) -> Result<(), DomainError> {
        if self.can_become(next) {
            Ok(())
        } else {
            Err(DomainError::IllegalTransition {
                machine: "refund",
                from: self.as_str().into(),
                to: next.as_str().into(),
            })
        }
    }
}

/// Why money goes back, which decides the ledger entry (LEDGER.md).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RefundKind {
    /// The fee is cancelled (e.g. withdrawal): the receivable's due and paid both drop.
    FeeCancelled,
    /// Paid in error; the fee is still owed: the receivable reopens.
    PaidInError,
    /// Money the payer paid beyond what was owed (payer credit).
    Overpayment,
}

impl RefundKind {
    pub const ALL: [RefundKind; 3] = [RefundKind::FeeCancelled, RefundKind::PaidInError, RefundKind::Overpayment];
    pub fn as_str(self) -> &'static str {
        match self {
            RefundKind::FeeCancelled => "fee_cancelled",
            RefundKind::PaidInError => "paid_in_error",
            RefundKind::Overpayment => "overpayment",
        }
    }
    pub fn parse(s: &str) -> Option<RefundKind> {
        RefundKind::ALL.into_iter().find(|k| k.as_str() == s)
    }
    pub fn label_zh(self) -> &'static str {
        match self {
            RefundKind::FeeCancelled => "取消收费（如退学、退课）",
            RefundKind::PaidInError => "误缴（费用仍应缴）",
            RefundKind::Overpayment => "多缴款",
        }
    }
}

/// What the channel says about a refund.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RefundOutcome {
    Succeeded { channel_refund_id: String, amount_fen: i64 },
    Processing { channel_refund_id: String },
    Failed { reason: String },
    NotFound,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refund_transitions() {
        use RefundState::*;
        assert!(Requested.can_become(Approved));
        assert!(!Requested.can_become(Succeeded), "nothing is paid out before finance approves");
        assert!(!Rejected.can_become(Approved), "a rejection is final");
        assert!(!Approved.can_become(Approved), "approving twice is refused");
        assert!(!Succeeded.can_become(Failed));
        assert!(Failed.can_become(Manual));
        for s in RefundState::ALL {
            assert_eq!(RefundState::parse(s.as_str()), Some(s));
        }
    }
}
