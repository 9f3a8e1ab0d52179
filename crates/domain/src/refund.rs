//! Refunds: requested by a charging department, decided by finance, carried out by the channel.

use crate::error::DomainError;

crate::coded_enum! {
    pub enum RefundState {
        Requested = ("requested", "待审批", "Awaiting approval"),
        Rejected = ("rejected", "已驳回", "Rejected"),
        Approved = ("approved", "已批准，待退款", "Approved"),
        Processing = ("processing", "退款中", "Being refunded"),
        Succeeded = ("succeeded", "退款成功", "Refunded"),
        Failed = ("failed", "退款失败", "Refund failed"),
        Manual = ("manual", "已线下转账", "Paid by bank transfer"),
    }
}

impl RefundState {
    /// States in which the refund's money is in transit (approved, not yet paid out).
    pub const IN_TRANSIT: [RefundState; 3] = [RefundState::Approved, RefundState::Processing, RefundState::Failed];
    /// States in which the refund's money has left.
    pub const PAID_OUT: [RefundState; 2] = [RefundState::Succeeded, RefundState::Manual];

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

crate::coded_enum! {
    /// Why money goes back, which decides the ledger entry (LEDGER.md).
    pub enum RefundKind {
        FeeCancelled = ("fee_cancelled", "取消收费（如退学、退课）", "Fee cancelled (e.g. withdrawal)"),
        PaidInError = ("paid_in_error", "误缴（费用仍应缴）", "Paid in error (the fee is still owed)"),
        Overpayment = ("overpayment", "多缴款", "Overpayment"),
    }
}

crate::coded_enum! {
    /// Where a refund line takes its money back from.
    pub enum RefundTarget {
        Receivable = ("receivable", "应收项目", "Fee"),
        PayerCredit = ("payer_credit", "多缴款", "Overpayment"),
    }
}

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
        for &s in RefundState::ALL {
            assert_eq!(RefundState::parse(s.as_str()), Some(s));
        }
    }
}
