//! Cash and POS card slips at the counter (收费窗口): the cashier takes the money themselves, so
//! the payment is recorded and credited in one transaction — the order under the counter's
//! rules, the payment (collected by this cashier, into their till), the ledger entry (Dr cash or
//! POS clearing / Cr each receivable), the receipt and the log.
//!
//! Idempotent: a cash form carries a ticket drawn when the page was shown, so pressing 收款 twice
//! records one payment; a POS slip's reference number can be entered once only.

use bursar_domain::access::{Permission, Principal, Scope};
use bursar_domain::order;
use bursar_domain::payment::{ChannelKind, ChannelOutcome, PayMethod};
use bursar_domain::Fen;
use bursar_store::payments::{self as pay_store, NewPayment, PaymentRow};
use bursar_store::Tx;

use crate::collection::apply::{apply_in_tx, ApplyResult};
use crate::collection::orders::insert_checked_order;
use crate::engine::{require, Engine};
use crate::error::{refused, EngineError};

/// How the payer paid at the counter without a channel.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Tender {
    /// Notes and coins into the cashier's till.
    Cash,
    /// A bank card on the counter's POS terminal; the slip's reference number (参考号).
    Pos { reference: String },
}

impl Tender {
    pub fn method(&self) -> PayMethod {
        match self {
            Tender::Cash => PayMethod::OfflineCash,
            Tender::Pos { .. } => PayMethod::OfflinePos,
        }
    }
}

pub use bursar_domain::till::till_of;

fn plain_token(text: &str, what: &str, len: std::ops::RangeInclusive<usize>) -> Result<String, EngineError> {
    let t = text.trim();
    if !len.contains(&t.chars().count()) || !t.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') {
        return Err(refused(format!("{what}应为 {}–{} 位字母或数字", len.start(), len.end())));
    }
    Ok(t.to_ascii_uppercase())
}

impl Engine {
    /// Takes cash or a POS slip for `lines` of a payer's receivables. `ticket` is the form's
    /// one-time ticket (a second submission returns the first payment).
    pub async fn collect_at_counter(
        &self,
        by: &Principal,
        payer_id: &str,
        lines: &[(String, Fen)],
        tender: &Tender,
        ticket: &str,
    ) -> Result<PaymentRow, EngineError> {
        require(by, Permission::CollectAtCounter)?;
        let Some(cashier) = by.operator() else {
            return Err(refused("只有收费员本人可以在窗口收取现金或刷卡"));
        };
        order::check_lines(lines)?;
        let txn = match tender {
            Tender::Cash => format!("CASH-{}", plain_token(ticket, "收款单号", 16..=64)?),
            // The slip's 12-digit reference number (参考号), unique to the acquirer; the 6-digit
            // voucher number (凭证号) restarts every batch and is not taken.
            Tender::Pos { reference } => format!("POS-{}", plain_token(reference, "POS 参考号", 12..=32)?),
        };
        let (by, lines, payer_id, tender, till) =
            (by.clone(), lines.to_vec(), payer_id.to_string(), tender.clone(), till_of(&cashier.id));
        self.store()
            .write(|tx: &mut Tx| {
                let (by, lines, payer_id, tender, till, txn) =
                    (by.clone(), lines.clone(), payer_id.clone(), tender.clone(), till.clone(), txn.clone());
                Box::pin(async move { counter_in_tx(tx, &by, &payer_id, &lines, &tender, &till, &txn).await })
            })
            .await
    }
}

fn lines_total(lines: &[(String, Fen)]) -> Result<Fen, EngineError> {
    lines.iter().try_fold(Fen::ZERO, |t, (_, a)| t.checked_add(*a)).map_err(EngineError::from)
}

async fn counter_in_tx(
    tx: &mut Tx,
    by: &Principal,
    payer_id: &str,
    lines: &[(String, Fen)],
    tender: &Tender,
    till: &str,
    txn: &str,
) -> Result<PaymentRow, EngineError> {
    if let Some(done) = pay_store::payment_by_channel_txn(tx, ChannelKind::Offline, txn).await? {
        // The same cash ticket again (a double click, a reload): the first payment. A POS slip
        // already entered is refused: it is the cashier's mistake to look at.
        return match tender {
            Tender::Cash if done.payer_id == payer_id && done.amount_fen == lines_total(lines)? => Ok(done),
            Tender::Cash if done.payer_id == payer_id => {
                Err(refused("这张收款单已收过一笔不同金额的款，请刷新页面后重新收款"))
            }
            Tender::Cash => Err(refused("这张收款单已用于另一位缴费人，请刷新页面后重新收款")),
            Tender::Pos { .. } => Err(refused("这个 POS 参考号已经登记过一笔收款，请核对签购单")),
        };
    }
    if let Some(cashier) = by.operator() {
        crate::collection::day_close::check_till_open(tx, &cashier.id).await?;
    }
    let scope = Scope::Payer(payer_id.to_string());
    let order_id = insert_checked_order(tx, by, &scope, payer_id, lines, "counter ").await?;
    let order = pay_store::order(tx, &order_id).await?;
    let payment_id = tx.new_id();
    let merchant_order_no = tx.new_id();
    let now = tx.now_ms;
    let method = tender.method();
    let cashier = by.operator().map(|o| o.id.as_str());
    let p = NewPayment {
        id: &payment_id,
        order_id: &order_id,
        payer_id,
        method,
        merchant_id: till,
        merchant_order_no: &merchant_order_no,
        amount: order.total_fen,
        expires_at_ms: now,
        collected_by: cashier,
    };
    pay_store::insert_payment(tx, &p, now).await?;
    let detail = format!("method={} amount_fen={} reference={txn}", method.as_str(), order.total_fen.get());
    crate::engine::log(tx, by, "payment.counter", ("payment", &payment_id), ("", "created"), &detail).await?;
    let outcome =
        ChannelOutcome::Paid { channel_txn_id: txn.to_string(), amount_fen: order.total_fen.get(), paid_at_ms: now };
    match apply_in_tx(tx, by, &merchant_order_no, &outcome).await? {
        ApplyResult::Credited { .. } => Ok(pay_store::payment(tx, &payment_id).await?),
        other => Err(EngineError::Invariant(format!("counter payment not credited: {other:?}"))),
    }
}
