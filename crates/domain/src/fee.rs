//! Fee items and the rules for what a payer may pay now.

use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::error::DomainError;
use crate::money::Fen;

crate::coded_enum! {
    /// What a fee item charges for. Tuition and accommodation are billed by academic year and
    /// shown together under 学费 on the portal; the rest are other fees (其他费用).
    pub enum FeeType {
        Tuition = ("tuition", "学费", "Tuition"),
        Accommodation = ("accommodation", "住宿费", "Accommodation"),
        /// Collected on behalf of others (textbooks, insurance…).
        Agency = ("agency", "代收费", "Collected on behalf"),
        Service = ("service", "服务性收费", "Service fee"),
        Exam = ("exam", "考试报名费", "Exam registration"),
        Training = ("training", "培训费", "Training"),
        Conference = ("conference", "会务费", "Conference"),
        Donation = ("donation", "捐赠", "Donation"),
        Other = ("other", "其他费用", "Other fees"),
    }
}

impl FeeType {
    /// Billed by academic year (the payer guide's 学费 section).
    pub fn is_annual(self) -> bool {
        matches!(self, FeeType::Tuition | FeeType::Accommodation)
    }
    /// Whether a school may let items of this kind be filed (备案) instead of reviewed: never
    /// tuition or accommodation, which the finance approver always decides.
    pub fn may_be_filed(self) -> bool {
        !self.is_annual()
    }
}

crate::coded_enum! {
    /// A fee item's life: a department applies, finance approves (or rejects), then it collects
    /// until stopped or closed. Only a collecting item can be paid.
    pub enum FeeItemStatus {
        PendingApproval = ("pending_approval", "待审核", "Awaiting approval"),
        Rejected = ("rejected", "未通过", "Rejected"),
        Collecting = ("collecting", "收费", "Collecting"),
        Stopped = ("stopped", "停止", "Stopped"),
        Closed = ("closed", "已关闭", "Closed"),
    }
}

impl FeeItemStatus {
    /// Whether finance's decision has been made (the item may then be opened and stopped).
    pub fn is_approved(self) -> bool {
        matches!(self, FeeItemStatus::Collecting | FeeItemStatus::Stopped | FeeItemStatus::Closed)
    }
    pub fn can_become(self, next: FeeItemStatus) -> bool {
        use FeeItemStatus::*;
        matches!(
            (self, next),
            (PendingApproval, Collecting | Stopped | Rejected)
                | (Rejected, PendingApproval)
                | (Collecting, Stopped | Closed)
                | (Stopped, Collecting | Closed)
        )
    }
}

crate::coded_enum! {
    /// What a receivable still asks of its payer.
    pub enum ReceivableState {
        /// Something is still owed.
        Open = ("open", "未缴清", "Outstanding"),
        /// Nothing is owed (paid, waived, or both).
        Settled = ("settled", "已缴清", "Settled"),
    }
}

crate::coded_enum! {
    /// A request to reduce what a payer owes (减免), decided by another person.
    pub enum WaiverState {
        Requested = ("requested", "待审批", "Awaiting approval"),
        Approved = ("approved", "已批准", "Approved"),
        Rejected = ("rejected", "已驳回", "Rejected"),
    }
}

crate::coded_enum! {
    /// Why what is owed may wait (缓缴).
    pub enum DeferralKind {
        /// Financial hardship (家庭经济困难缓缴).
        Hardship = ("hardship", "困难缓缴", "Hardship deferral"),
        /// A new student registers first and pays later (绿色通道).
        GreenChannel = ("green_channel", "绿色通道", "Green channel"),
        /// A student loan is expected to pay it (生源地信用助学贷款).
        StudentLoan = ("student_loan", "助学贷款待到账", "Awaiting a student loan"),
    }
}

/// How much a reduction (减免) takes off what is still owed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reduction {
    /// All of it (全免).
    All,
    /// By an amount.
    By(Fen),
    /// Down to an amount (减至): what is left to pay.
    To(Fen),
}

impl Reduction {
    /// The amount to waive from `owed`, or why it cannot be: nothing would be reduced, or more
    /// than is owed. The message is for the person asking.
    pub fn amount(self, owed: Fen) -> Result<Fen, String> {
        let amount = match self {
            Reduction::All => owed,
            Reduction::By(a) => a,
            Reduction::To(left) if left.get() < 0 => return Err("减至金额不能为负".into()),
            Reduction::To(left) => Fen(owed.get() - left.get()),
        };
        if !amount.is_positive() || amount > owed {
            return Err(match self {
                Reduction::To(_) => format!("减至金额须小于尚欠的 ¥{owed}"),
                _ => format!("减免金额须大于 0 且不超过尚欠的 ¥{owed}"),
            });
        }
        Ok(amount)
    }
}

/// An academic year such as `2026-2027`: two consecutive years.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct AcademicYear(String);

impl AcademicYear {
    pub fn parse(text: &str) -> Result<AcademicYear, DomainError> {
        let t = text.trim();
        let bad = || DomainError::BadAcademicYear(t.to_string());
        let (a, b) = t.split_once('-').ok_or_else(bad)?;
        if a.len() != 4 || b.len() != 4 {
            return Err(bad());
        }
        let a: u32 = a.parse().map_err(|_| bad())?;
        let b: u32 = b.parse().map_err(|_| bad())?;
        if b != a + 1 {
            return Err(bad());
        }
        Ok(AcademicYear(t.to_string()))
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
    /// The academic year a moment falls in (Beijing time): it starts on 1 September.
    pub fn containing(ms: i64) -> AcademicYear {
        let date = crate::time_fmt::date_cst(ms);
        let year: u32 = date.get(..4).and_then(|y| y.parse().ok()).unwrap_or(1970);
        let month: u32 = date.get(5..7).and_then(|m| m.parse().ok()).unwrap_or(1);
        let start = if month >= 9 { year } else { year - 1 };
        AcademicYear(format!("{start}-{}", start + 1))
    }
}

/// Why a receivable cannot be paid now. Shown to the payer as is.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum NotPayable {
    #[error("该项目已停止收费")]
    Stopped,
    #[error("该项目尚未开放收费")]
    NotOpen,
    #[error("该项目尚未开始收费（收费起始 {0}）")]
    NotStarted(String),
    #[error("该项目已过收费期限（收费终止 {0}）")]
    Ended(String),
    #[error("该项目已缴清")]
    Settled,
}

/// The rules of a fee item that decide whether and how much can be paid.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FeeRules {
    pub fee_type: FeeType,
    pub status: FeeItemStatus,
    /// UTC ms; `None` means no limit (tuition is usually unlimited, per the payer guide).
    pub window_start_ms: Option<i64>,
    pub window_end_ms: Option<i64>,
    pub partial_allowed: bool,
    pub min_partial: Fen,
}

impl FeeRules {
    /// Whether a receivable of this fee item can be paid at `now_ms`, and why not.
    pub fn check_open(&self, now_ms: i64) -> Result<(), NotPayable> {
        match self.status {
            FeeItemStatus::Collecting => {}
            FeeItemStatus::PendingApproval | FeeItemStatus::Rejected => return Err(NotPayable::NotOpen),
            FeeItemStatus::Stopped | FeeItemStatus::Closed => return Err(NotPayable::Stopped),
        }
        if let Some(start) = self.window_start_ms {
            if now_ms < start {
                return Err(NotPayable::NotStarted(crate::time_fmt::date_cst(start)));
            }
        }
        if let Some(end) = self.window_end_ms {
            if now_ms >= end {
                return Err(NotPayable::Ended(crate::time_fmt::date_cst(end - 1)));
            }
        }
        Ok(())
    }

    /// Checks one line of an order: the item is open, the amount is positive, not above what is
    /// owed, and — when it is a part payment — allowed and not below the minimum. Paying the whole
    /// outstanding amount is always allowed even if it is below the minimum (the last instalment).
    pub fn check_amount(&self, now_ms: i64, amount: Fen, outstanding: Fen) -> Result<(), DomainError> {
        if outstanding.get() <= 0 {
            return Err(NotPayable::Settled.into());
        }
        self.check_open(now_ms)?;
        if amount.get() <= 0 {
            return Err(DomainError::NonPositiveAmount);
        }
        if amount > outstanding {
            return Err(DomainError::AboveOwed { amount: amount.to_string(), owed: outstanding.to_string() });
        }
        if amount < outstanding {
            if !self.partial_allowed {
                return Err(DomainError::PartialNotAllowed { owed: outstanding.to_string() });
            }
            if amount < self.min_partial {
                return Err(DomainError::BelowMinimum {
                    amount: amount.to_string(),
                    minimum: self.min_partial.to_string(),
                });
            }
        }
        Ok(())
    }
}

/// Outstanding amount of a receivable: due − waived − paid, never below zero for display.
pub fn outstanding(due: Fen, waived: Fen, paid: Fen) -> Fen {
    Fen(due.get() - waived.get() - paid.get())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules(partial: bool, min: i64) -> FeeRules {
        FeeRules {
            fee_type: FeeType::Other,
            status: FeeItemStatus::Collecting,
            window_start_ms: Some(1_000),
            window_end_ms: Some(2_000),
            partial_allowed: partial,
            min_partial: Fen(min),
        }
    }

    #[test]
    fn an_academic_year_starts_on_the_first_of_september_in_beijing() {
        let at = |t: &str| crate::time_fmt::parse_datetime_cst_ms(t).expect("time");
        assert_eq!(AcademicYear::containing(at("2026-08-31 23:59:59")).as_str(), "2025-2026");
        assert_eq!(AcademicYear::containing(at("2026-09-01 00:00:00")).as_str(), "2026-2027");
        assert_eq!(AcademicYear::containing(at("2027-01-15 08:00:00")).as_str(), "2026-2027");
    }

    #[test]
    fn window_and_status_decide_payability() {
        let r = rules(false, 0);
        assert!(matches!(r.check_open(999), Err(NotPayable::NotStarted(_))));
        assert!(r.check_open(1_000).is_ok());
        assert!(matches!(r.check_open(2_000), Err(NotPayable::Ended(_))));
        let stopped = FeeRules { status: FeeItemStatus::Stopped, ..r };
        assert_eq!(stopped.check_open(1_500), Err(NotPayable::Stopped));
        let unlimited = FeeRules { window_start_ms: None, window_end_ms: None, ..rules(false, 0) };
        assert!(unlimited.check_open(i64::MAX).is_ok());
    }

    #[test]
    fn amount_rules() {
        let whole_only = rules(false, 0);
        assert!(whole_only.check_amount(1_500, Fen(500), Fen(500)).is_ok());
        assert!(matches!(
            whole_only.check_amount(1_500, Fen(400), Fen(500)),
            Err(DomainError::PartialNotAllowed { .. })
        ));
        let split = rules(true, 100);
        assert!(split.check_amount(1_500, Fen(100), Fen(500)).is_ok());
        assert!(matches!(split.check_amount(1_500, Fen(99), Fen(500)), Err(DomainError::BelowMinimum { .. })));
        assert!(split.check_amount(1_500, Fen(50), Fen(50)).is_ok(), "last instalment below minimum is fine");
        assert!(matches!(split.check_amount(1_500, Fen(501), Fen(500)), Err(DomainError::AboveOwed { .. })));
        assert!(matches!(split.check_amount(1_500, Fen(0), Fen(500)), Err(DomainError::NonPositiveAmount)));
        assert!(matches!(
            split.check_amount(1_500, Fen(10), Fen(0)),
            Err(DomainError::NotPayable(NotPayable::Settled))
        ));
        assert!(matches!(
            split.check_amount(2_500, Fen(100), Fen(500)),
            Err(DomainError::NotPayable(NotPayable::Ended(_)))
        ));
    }

    #[test]
    fn a_reduction_takes_by_or_down_to_an_amount() {
        let owed = Fen(500_000);
        assert_eq!(Reduction::All.amount(owed), Ok(owed));
        assert_eq!(Reduction::By(Fen(100_000)).amount(owed), Ok(Fen(100_000)));
        assert_eq!(Reduction::To(Fen(300_000)).amount(owed), Ok(Fen(200_000)));
        assert_eq!(Reduction::To(Fen::ZERO).amount(owed), Ok(owed));
        assert!(Reduction::To(owed).amount(owed).is_err(), "nothing reduced");
        assert!(Reduction::To(Fen(-1)).amount(owed).is_err());
        assert!(Reduction::By(Fen(500_001)).amount(owed).is_err());
        assert!(Reduction::By(Fen::ZERO).amount(owed).is_err());
    }

    #[test]
    fn academic_year_format() {
        assert!(AcademicYear::parse("2026-2027").is_ok());
        assert!(AcademicYear::parse("2026-2028").is_err());
        assert!(AcademicYear::parse("26-27").is_err());
    }
}
