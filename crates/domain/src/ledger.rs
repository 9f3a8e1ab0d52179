//! The double-entry ledger's rules (see shared LEDGER.md): accounts, journal entries, and the
//! posting rule for each business event. Entries are built and validated here; the store writes
//! them in the same transaction as the state change that caused them.

use serde::{Deserialize, Serialize};

use crate::error::DomainError;
use crate::money::Fen;
use crate::order::Allocation;
use crate::payment::PayMethod;

crate::coded_enum! {
    /// The ledger's account kinds (docs/LEDGER.md §2).
    pub enum AccountKind {
        Receivable = ("receivable", "应收款", "Receivables"),
        FeeIncome = ("fee_income", "收费收入", "Fee income"),
        ChannelClearing = ("channel_clearing", "渠道待清算", "Channel clearing"),
        Bank = ("bank", "银行存款", "Bank"),
        Cash = ("cash", "库存现金", "Cash"),
        PayerCredit = ("payer_credit", "多缴款（应退）", "Payer credit"),
        CardWallet = ("card_wallet", "校园卡余额", "Campus card wallets"),
        MerchantPayable = ("merchant_payable", "应付商户", "Merchant payables"),
        ChannelFees = ("channel_fees", "渠道手续费", "Channel fees"),
        RefundsInTransit = ("refunds_in_transit", "在途退款", "Refunds in transit"),
    }
}

impl AccountKind {
    /// Assets and expenses have debit (positive) balances; liabilities and income credit ones.
    pub fn is_debit_normal(self) -> bool {
        matches!(
            self,
            AccountKind::Receivable
                | AccountKind::ChannelClearing
                | AccountKind::Bank
                | AccountKind::Cash
                | AccountKind::ChannelFees
        )
    }
    /// Accounts whose natural balance must never go below zero (LEDGER.md invariants 3 and 5).
    pub fn must_not_go_negative(self) -> bool {
        matches!(
            self,
            AccountKind::Receivable | AccountKind::PayerCredit | AccountKind::CardWallet | AccountKind::MerchantPayable
        )
    }
}

/// One account: a kind and the dimension it is kept by (a receivable id, a fee item id, a
/// channel merchant account, a payer id…).
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct AccountRef {
    pub kind: AccountKind,
    pub dimension: String,
}

impl AccountRef {
    pub fn new(kind: AccountKind, dimension: impl Into<String>) -> Self {
        AccountRef { kind, dimension: dimension.into() }
    }
    pub fn receivable(receivable_id: &str) -> Self {
        Self::new(AccountKind::Receivable, receivable_id)
    }
    pub fn fee_income(fee_item_id: &str) -> Self {
        Self::new(AccountKind::FeeIncome, fee_item_id)
    }
    /// Channel clearing per merchant account, e.g. `wechatpay:1900000001`.
    pub fn channel_clearing(channel: &str, merchant_id: &str) -> Self {
        Self::new(AccountKind::ChannelClearing, format!("{channel}:{merchant_id}"))
    }
    pub fn payer_credit(payer_id: &str) -> Self {
        Self::new(AccountKind::PayerCredit, payer_id)
    }
    /// A campus card's wallet, by card account number.
    pub fn card_wallet(card_no: &str) -> Self {
        Self::new(AccountKind::CardWallet, card_no)
    }
    /// The account a succeeded payment's money lands in, and a refund of it leaves: the channel
    /// merchant account's clearing for online channels, the card's wallet for campus card
    /// payments (its `merchant_id` is the card number), the cash desk, the POS acquirer's
    /// clearing or the school's bank account for imported offline collections.
    pub fn collecting(method: Option<PayMethod>, channel: &str, merchant_id: &str) -> Self {
        match method {
            Some(PayMethod::CampusCard) => Self::card_wallet(merchant_id),
            Some(PayMethod::OfflineCash) => Self::new(AccountKind::Cash, merchant_id),
            Some(PayMethod::OfflineBank) => Self::new(AccountKind::Bank, merchant_id),
            Some(PayMethod::OfflinePos) => Self::channel_clearing("offline_pos", merchant_id),
            _ => Self::channel_clearing(channel, merchant_id),
        }
    }
}

crate::coded_enum! {
    /// The business events the ledger records (docs/LEDGER.md §3).
    pub enum EntryKind {
        ReceivableRaised = ("receivable_raised", "应收登记", "Receivable raised"),
        Waiver = ("waiver", "减免", "Waiver"),
        PaymentSucceeded = ("payment_succeeded", "收款入账", "Payment credited"),
        RefundApproved = ("refund_approved", "退款审批", "Refund approved"),
        RefundConfirmed = ("refund_confirmed", "退款到账", "Refund paid out"),
        RefundManual = ("refund_manual", "线下转账退款", "Refund by bank transfer"),
        CardLoad = ("card_load", "校园卡充值", "Card load"),
    }
}

/// A journal entry: the postings of one business event. Debits positive, credits negative.
/// `(kind, source_id)` is unique in the store, so the same event can never be posted twice.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JournalEntry {
    pub kind: EntryKind,
    /// The record that caused it: a receivable id, a payment id…
    pub source_id: String,
    pub memo: String,
    pub postings: Vec<(AccountRef, Fen)>,
}

impl JournalEntry {
    /// Builds an entry and checks that it balances and has no empty posting.
    pub fn balanced(
        kind: EntryKind,
        source_id: impl Into<String>,
        memo: impl Into<String>,
        postings: Vec<(AccountRef, Fen)>,
    ) -> Result<JournalEntry, DomainError> {
        if postings.is_empty() || postings.iter().any(|(_, f)| f.get() == 0) {
            return Err(DomainError::EmptyPosting);
        }
        let sum = postings
            .iter()
            .try_fold(0i64, |acc, (_, f)| acc.checked_add(f.get()))
            .ok_or(DomainError::AmountOverflow)?;
        if sum != 0 {
            return Err(DomainError::Unbalanced(sum));
        }
        Ok(JournalEntry { kind, source_id: source_id.into(), memo: memo.into(), postings })
    }
}

/// Receivable raised: Dr receivable / Cr fee income.
pub fn receivable_raised(receivable_id: &str, fee_item_id: &str, due: Fen) -> Result<JournalEntry, DomainError> {
    JournalEntry::balanced(
        EntryKind::ReceivableRaised,
        receivable_id,
        "应收登记",
        vec![(AccountRef::receivable(receivable_id), due), (AccountRef::fee_income(fee_item_id), Fen(-due.get()))],
    )
}

/// Payment succeeded: Dr channel clearing / Cr receivable for each allocated line, and Cr payer
/// credit for whatever could not be allocated.
pub fn payment_succeeded(
    payment_id: &str,
    clearing: AccountRef,
    payer_id: &str,
    paid: Fen,
    allocation: &Allocation,
) -> Result<JournalEntry, DomainError> {
    let mut postings = vec![(clearing, paid)];
    for (rid, amount) in &allocation.to_receivables {
        postings.push((AccountRef::receivable(rid), Fen(-amount.get())));
    }
    if allocation.to_payer_credit.get() > 0 {
        postings.push((AccountRef::payer_credit(payer_id), Fen(-allocation.to_payer_credit.get())));
    }
    JournalEntry::balanced(EntryKind::PaymentSucceeded, payment_id, "支付成功入账", postings)
}

/// Where an approved refund's money comes from: per receivable (with its fee item) or the payer's credit.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RefundSource {
    Receivable { receivable_id: String, fee_item_id: String, amount: Fen },
    PayerCredit { payer_id: String, amount: Fen },
}

/// Refund approved (LEDGER.md): fee cancelled → Dr fee income; paid in error → Dr receivable
/// (it reopens); overpayment → Dr payer credit; each / Cr refunds in transit. `attempt` keeps a
/// retried approval a separate event.
pub fn refund_approved(
    refund_id: &str,
    attempt: i64,
    kind: crate::refund::RefundKind,
    sources: &[RefundSource],
) -> Result<JournalEntry, DomainError> {
    use crate::refund::RefundKind;
    let mut postings = Vec::new();
    let mut total = Fen::ZERO;
    for s in sources {
        let (account, amount) = match (kind, s) {
            (RefundKind::FeeCancelled, RefundSource::Receivable { fee_item_id, amount, .. }) => {
                (AccountRef::fee_income(fee_item_id), *amount)
            }
            (RefundKind::PaidInError, RefundSource::Receivable { receivable_id, amount, .. }) => {
                (AccountRef::receivable(receivable_id), *amount)
            }
            (_, RefundSource::PayerCredit { payer_id, amount }) => (AccountRef::payer_credit(payer_id), *amount),
            (RefundKind::Overpayment, RefundSource::Receivable { .. }) => return Err(DomainError::EmptyPosting),
        };
        postings.push((account, amount));
        total = total.checked_add(amount)?;
    }
    postings.push((AccountRef::new(AccountKind::RefundsInTransit, refund_id), Fen(-total.get())));
    JournalEntry::balanced(EntryKind::RefundApproved, format!("{refund_id}:{attempt}"), "退款审批", postings)
}

/// Refund confirmed by the channel: Dr refunds in transit / Cr channel clearing.
pub fn refund_confirmed(refund_id: &str, clearing: AccountRef, amount: Fen) -> Result<JournalEntry, DomainError> {
    JournalEntry::balanced(
        EntryKind::RefundConfirmed,
        refund_id,
        "渠道退款成功",
        vec![(AccountRef::new(AccountKind::RefundsInTransit, refund_id), amount), (clearing, Fen(-amount.get()))],
    )
}

/// A failed refund paid by manual bank transfer: Dr refunds in transit / Cr bank.
pub fn refund_manual(refund_id: &str, bank_account: &str, amount: Fen) -> Result<JournalEntry, DomainError> {
    JournalEntry::balanced(
        EntryKind::RefundManual,
        refund_id,
        "线下转账退款",
        vec![
            (AccountRef::new(AccountKind::RefundsInTransit, refund_id), amount),
            (AccountRef::new(AccountKind::Bank, bank_account), Fen(-amount.get())),
        ],
    )
}

/// Waiver (减免, or a cancelled business order): Dr fee income / Cr receivable.
pub fn waiver(
    receivable_id: &str,
    fee_item_id: &str,
    amount: Fen,
    source_id: &str,
) -> Result<JournalEntry, DomainError> {
    JournalEntry::balanced(
        EntryKind::Waiver,
        source_id,
        "减免/取消",
        vec![
            (AccountRef::fee_income(fee_item_id), amount),
            (AccountRef::receivable(receivable_id), Fen(-amount.get())),
        ],
    )
}

/// A card load (圈存) or subsidy: Dr where the money came from (channel clearing, bank, a subsidy
/// budget) / Cr the card's wallet.
pub fn card_loaded(load_id: &str, card_no: &str, from: AccountRef, amount: Fen) -> Result<JournalEntry, DomainError> {
    if amount.get() <= 0 {
        return Err(DomainError::EmptyPosting);
    }
    JournalEntry::balanced(
        EntryKind::CardLoad,
        load_id,
        "校园卡充值",
        vec![(from, amount), (AccountRef::card_wallet(card_no), Fen(-amount.get()))],
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::order::{allocate, LineToAllocate};

    #[test]
    fn refund_entries_follow_the_ledger_rules() {
        use crate::refund::RefundKind;
        let src = [RefundSource::Receivable { receivable_id: "r".into(), fee_item_id: "f".into(), amount: Fen(300) }];
        let cancelled = refund_approved("x", 1, RefundKind::FeeCancelled, &src).unwrap();
        assert_eq!(cancelled.postings[0], (AccountRef::fee_income("f"), Fen(300)));
        let error = refund_approved("x", 1, RefundKind::PaidInError, &src).unwrap();
        assert_eq!(error.postings[0], (AccountRef::receivable("r"), Fen(300)));
        assert_eq!(error.postings[1], (AccountRef::new(AccountKind::RefundsInTransit, "x"), Fen(-300)));
        assert!(refund_approved("x", 1, RefundKind::Overpayment, &src).is_err());
        let done = refund_confirmed("x", AccountRef::channel_clearing("wechatpay", "m"), Fen(300)).unwrap();
        assert_eq!(done.postings.iter().map(|(_, f)| f.get()).sum::<i64>(), 0);
    }

    #[test]
    fn unbalanced_and_empty_entries_are_refused() {
        let r = AccountRef::receivable("r1");
        assert_eq!(
            JournalEntry::balanced(EntryKind::Waiver, "x", "", vec![(r.clone(), Fen(5))]),
            Err(DomainError::Unbalanced(5))
        );
        assert_eq!(
            JournalEntry::balanced(EntryKind::Waiver, "x", "", vec![(r.clone(), Fen(0)), (r, Fen(0))]),
            Err(DomainError::EmptyPosting)
        );
        assert_eq!(JournalEntry::balanced(EntryKind::Waiver, "x", "", vec![]), Err(DomainError::EmptyPosting));
    }

    #[test]
    fn payment_entry_credits_receivables_then_payer_credit() {
        let lines = [
            LineToAllocate { receivable_id: "r1".into(), line_amount: Fen(100), outstanding: Fen(100) },
            LineToAllocate { receivable_id: "r2".into(), line_amount: Fen(200), outstanding: Fen(20) },
        ];
        let al = allocate(Fen(300), &lines).unwrap();
        let e =
            payment_succeeded("p1", AccountRef::channel_clearing("wechatpay", "m"), "payer", Fen(300), &al).unwrap();
        assert_eq!(e.postings.iter().map(|(_, f)| f.get()).sum::<i64>(), 0);
        assert_eq!(e.postings.len(), 4);
        assert_eq!(e.postings[3], (AccountRef::payer_credit("payer"), Fen(-180)));
    }

    #[test]
    fn money_lands_where_it_was_collected() {
        let m = |s| PayMethod::parse(s);
        assert_eq!(
            AccountRef::collecting(m("alipay_qr"), "alipay", "2021"),
            AccountRef::channel_clearing("alipay", "2021")
        );
        assert_eq!(AccountRef::collecting(m("campus_card"), "campus_card", "C1"), AccountRef::card_wallet("C1"));
        assert_eq!(AccountRef::collecting(m("offline_cash"), "offline", "desk").kind, AccountKind::Cash);
        assert_eq!(AccountRef::collecting(m("offline_bank"), "offline", "acct").kind, AccountKind::Bank);
        assert_eq!(AccountRef::collecting(m("offline_pos"), "offline", "t1").kind, AccountKind::ChannelClearing);
    }
}
