//! Orders: the receivable lines and amounts a payer chose to pay now, and how a payment's money
//! is allocated to them.

use crate::error::DomainError;
use crate::money::Fen;

crate::coded_enum! {
    pub enum OrderState {
        /// Waiting for payment; can be paid by several attempts until settled.
        Open = ("open", "待支付", "Awaiting payment"),
        /// A payment for the whole order succeeded.
        Paid = ("paid", "已支付", "Paid"),
        /// Abandoned by the payer or expired.
        Closed = ("closed", "已关闭", "Closed"),
    }
}

impl OrderState {
    pub fn can_become(self, next: OrderState) -> bool {
        // A closed order whose late payment the channel confirms becomes paid: money wins.
        matches!(
            (self, next),
            (OrderState::Open, OrderState::Paid | OrderState::Closed) | (OrderState::Closed, OrderState::Paid)
        )
    }
}

/// One receivable line of an order as it stands when a payment for the order succeeds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LineToAllocate {
    pub receivable_id: String,
    /// What the payer chose to pay on this line.
    pub line_amount: Fen,
    /// What the receivable still owes right now (may be less than the line if it was paid
    /// meanwhile through another channel).
    pub outstanding: Fen,
}

/// Where a succeeded payment's money goes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Allocation {
    /// (receivable id, amount credited to it); only positive amounts.
    pub to_receivables: Vec<(String, Fen)>,
    /// What could not be allocated because nothing is owed any more: the payer's credit.
    pub to_payer_credit: Fen,
}

/// Allocates `paid` to the order lines: each line gets at most its chosen amount and at most what
/// its receivable still owes; the rest is the payer's credit. The parts always sum to `paid`.
pub fn allocate(paid: Fen, lines: &[LineToAllocate]) -> Result<Allocation, DomainError> {
    if paid.get() <= 0 {
        return Err(DomainError::NonPositiveAmount);
    }
    let mut left = paid;
    let mut to_receivables = Vec::new();
    for line in lines {
        let room = line.line_amount.min(Fen(line.outstanding.get().max(0))).min(left);
        if room.get() > 0 {
            to_receivables.push((line.receivable_id.clone(), room));
            left = left.checked_sub(room)?;
        }
    }
    let allocated: Fen = to_receivables.iter().map(|(_, a)| *a).sum();
    debug_assert_eq!(allocated.get() + left.get(), paid.get());
    Ok(Allocation { to_receivables, to_payer_credit: left })
}

/// Validates the shape of a new order: at least one line, no receivable twice, positive total.
pub fn check_lines(lines: &[(String, Fen)]) -> Result<Fen, DomainError> {
    if lines.is_empty() {
        return Err(DomainError::EmptyOrder);
    }
    let mut seen = std::collections::HashSet::new();
    let mut total = Fen::ZERO;
    for (rid, amount) in lines {
        if !seen.insert(rid.as_str()) {
            return Err(DomainError::DuplicateLine);
        }
        if amount.get() <= 0 {
            return Err(DomainError::NonPositiveAmount);
        }
        total = total.checked_add(*amount)?;
    }
    Ok(total)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(id: &str, amount: i64, outstanding: i64) -> LineToAllocate {
        LineToAllocate { receivable_id: id.into(), line_amount: Fen(amount), outstanding: Fen(outstanding) }
    }

    #[test]
    fn allocates_fully_when_still_owed() {
        let a = allocate(Fen(300), &[line("a", 100, 100), line("b", 200, 500)]).unwrap();
        assert_eq!(a.to_receivables, vec![("a".into(), Fen(100)), ("b".into(), Fen(200))]);
        assert_eq!(a.to_payer_credit, Fen(0));
    }

    #[test]
    fn a_receivable_paid_meanwhile_sends_the_rest_to_payer_credit() {
        let a = allocate(Fen(300), &[line("a", 100, 0), line("b", 200, 50)]).unwrap();
        assert_eq!(a.to_receivables, vec![("b".into(), Fen(50))]);
        assert_eq!(a.to_payer_credit, Fen(250));
    }

    #[test]
    fn parts_always_sum_to_what_was_paid() {
        // Exhaustive over small cases: no fen is created or lost.
        for paid in 1..=12 {
            for a_amt in 1..=4 {
                for a_out in -1..=4 {
                    for b_out in 0..=4 {
                        let al = allocate(Fen(paid), &[line("a", a_amt, a_out), line("b", 4, b_out)]).unwrap();
                        let sum: i64 =
                            al.to_receivables.iter().map(|(_, f)| f.get()).sum::<i64>() + al.to_payer_credit.get();
                        assert_eq!(sum, paid);
                        assert!(al.to_payer_credit.get() >= 0);
                        for (id, f) in &al.to_receivables {
                            let l = if id == "a" { (a_amt, a_out) } else { (4, b_out) };
                            assert!(f.get() <= l.0 && f.get() <= l.1);
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn order_shape() {
        assert_eq!(check_lines(&[]), Err(DomainError::EmptyOrder));
        assert_eq!(check_lines(&[("a".into(), Fen(1)), ("a".into(), Fen(2))]), Err(DomainError::DuplicateLine));
        assert_eq!(check_lines(&[("a".into(), Fen(0))]), Err(DomainError::NonPositiveAmount));
        assert_eq!(check_lines(&[("a".into(), Fen(1)), ("b".into(), Fen(2))]), Ok(Fen(3)));
    }
}
