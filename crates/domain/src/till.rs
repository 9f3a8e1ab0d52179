//! A cashier's day close (日结): what the system says they took, by method, against what they
//! counted, handed to the chief cashier (出纳) who confirms it or returns it. Pure rules.

use crate::error::DomainError;
use crate::Fen;

crate::coded_enum! {
    /// Where a day close stands.
    pub enum TillCloseState {
        Submitted = ("submitted", "待出纳确认", "Waiting for the chief cashier"),
        Confirmed = ("confirmed", "已确认", "Confirmed"),
        Returned = ("returned", "已退回", "Returned"),
    }
}

/// The till a cashier's cash and POS slips go into: the payments' collection point and the
/// ledger's cash account dimension (one per cashier).
pub fn till_of(operator_id: &str) -> String {
    format!("till:{operator_id}")
}

/// What a cashier took in a day, as the system recorded it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Takings {
    pub payments: i64,
    pub cash: Fen,
    pub pos: Fen,
    /// Payment codes (微信/支付宝付款码): the channel holds the money, nothing to count.
    pub codes: Fen,
}

impl Takings {
    pub fn total(&self) -> Fen {
        Fen(self.cash.get() + self.pos.get() + self.codes.get())
    }
}

/// What the cashier counted: the cash in the till and the POS slips' total.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counted {
    pub cash: Fen,
    pub pos: Fen,
}

/// Counted minus expected (positive: more in the till than recorded, 长款; negative: 短款).
pub fn difference(t: &Takings, c: &Counted) -> Fen {
    Fen(c.cash.get() + c.pos.get() - t.cash.get() - t.pos.get())
}

/// Longest reason for a difference or a correction.
pub const MAX_REASON_CHARS: usize = 200;

/// Checks a close before it is handed over: counts are not negative; a difference, or a
/// correction of a day already closed, says why.
pub fn check_close(t: &Takings, c: &Counted, reason: &str, correction: bool) -> Result<Fen, DomainError> {
    if c.cash.get() < 0 || c.pos.get() < 0 {
        return Err(DomainError::Refused("清点金额不能为负数".into()));
    }
    let reason = reason.trim();
    if reason.chars().count() > MAX_REASON_CHARS || reason.chars().any(char::is_control) {
        return Err(DomainError::Refused(format!("说明最多 {MAX_REASON_CHARS} 字")));
    }
    // Cash and POS are counted apart: a shortfall in one never hides behind a surplus in the other.
    for (what, counted, expected) in [("现金", c.cash, t.cash), ("POS 签购单", c.pos, t.pos)] {
        let d = counted.get() - expected.get();
        if d != 0 && reason.is_empty() {
            let kind = if d > 0 { "长款" } else { "短款" };
            return Err(DomainError::Refused(format!(
                "{what}清点与系统记录相差 ¥{}（{kind}），请写明原因",
                Fen(d.abs())
            )));
        }
    }
    let diff = difference(t, c);
    if correction && reason.is_empty() {
        return Err(DomainError::Refused("这一天已经日结过，更正须写明原因".into()));
    }
    Ok(diff)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn takings() -> Takings {
        Takings { payments: 3, cash: Fen(120_000), pos: Fen(50_000), codes: Fen(3_000) }
    }

    #[test]
    fn a_balanced_till_needs_no_reason() {
        let c = Counted { cash: Fen(120_000), pos: Fen(50_000) };
        assert_eq!(check_close(&takings(), &c, "", false), Ok(Fen(0)));
        assert_eq!(takings().total(), Fen(173_000));
    }

    #[test]
    fn a_difference_says_why_and_which_way() {
        let short = Counted { cash: Fen(119_900), pos: Fen(50_000) };
        let e = check_close(&takings(), &short, "", false).unwrap_err();
        assert!(e.to_string().contains("短款") && e.to_string().contains("1.00"), "{e}");
        assert_eq!(check_close(&takings(), &short, "找零错误", false), Ok(Fen(-100)));
        let over = Counted { cash: Fen(120_050), pos: Fen(50_000) };
        assert!(check_close(&takings(), &over, "", false).unwrap_err().to_string().contains("长款"));
    }

    #[test]
    fn cash_and_pos_differences_never_cancel_out() {
        let swapped = Counted { cash: Fen(100_000), pos: Fen(70_000) };
        assert_eq!(difference(&takings(), &swapped), Fen(0));
        let e = check_close(&takings(), &swapped, "", false).unwrap_err();
        assert!(e.to_string().contains("现金") && e.to_string().contains("短款"), "{e}");
        assert_eq!(check_close(&takings(), &swapped, "POS 多刷一笔，现金少收", false), Ok(Fen(0)));
    }

    #[test]
    fn a_correction_says_why_and_counts_are_not_negative() {
        let c = Counted { cash: Fen(120_000), pos: Fen(50_000) };
        assert!(check_close(&takings(), &c, "", true).is_err());
        assert!(check_close(&takings(), &c, "补录一笔现金", true).is_ok());
        assert!(check_close(&takings(), &Counted { cash: Fen(-1), pos: Fen(0) }, "x", false).is_err());
        assert!(check_close(&takings(), &c, &"长".repeat(201), false).is_err());
    }
}
