//! Everything a payment voucher (缴费凭证) prints, for its payer in the portal and for a payer who
//! came from a business system through the hosted cashier: one read, two ways to be allowed it.

use bursar_domain::payment::PaymentState;
use bursar_domain::refund::RefundTarget;
use bursar_store::payers::{self, PayerRow};
use bursar_store::payments::PaymentRow;
use bursar_store::receipts::{self, ReceiptRow};
use bursar_store::refunds as refund_store;
use bursar_store::{receivables, Conn};

use super::payer::{AllocatedLine, PayerView};
use crate::engine::Engine;
use crate::error::EngineError;

/// What a voucher shows.
#[derive(Clone, Debug)]
pub struct VoucherFacts {
    pub payment: PaymentRow,
    pub payer: PayerRow,
    /// The payer's college or office ("" when none).
    pub department: String,
    pub receipt: ReceiptRow,
    /// Where the money went (see [`allocation`]).
    pub lines: Vec<AllocatedLine>,
    /// The school's receiving unit, when set (else the school's name).
    pub receiving_unit: Option<String>,
}

/// Where a succeeded payment's money went, from its ledger entry: each receivable's share (item,
/// academic year, amount), then what found nothing owed (the payer's credit, to be refunded) as
/// one line with no item.
pub(crate) async fn allocation(c: &mut impl Conn, payment_id: &str) -> Result<Vec<AllocatedLine>, EngineError> {
    let mut out = Vec::new();
    for a in refund_store::payment_allocations(c, payment_id).await? {
        match a.target {
            RefundTarget::Receivable => {
                let r = receivables::receivable(c, &a.target_id).await?;
                out.push(AllocatedLine { item: Some((r.item_name, r.academic_year, r.fee_type)), amount: a.amount });
            }
            RefundTarget::PayerCredit => out.push(AllocatedLine { item: None, amount: a.amount }),
        }
    }
    Ok(out)
}

/// The voucher of a payment already known to be the asker's: none until it has succeeded and
/// its receipt exists.
async fn facts(engine: &Engine, payment: PaymentRow) -> Result<Option<VoucherFacts>, EngineError> {
    if payment.state != PaymentState::Succeeded {
        return Ok(None);
    }
    let mut c = engine.store().read().await?;
    let Some(receipt) = receipts::for_payment(&mut c, &payment.id).await? else { return Ok(None) };
    let payer = payers::payer(&mut c, &payment.payer_id).await?;
    let department = match &payer.department_id {
        Some(d) => payers::department_name(&mut c, d).await?.unwrap_or_default(),
        None => String::new(),
    };
    let lines = allocation(&mut c, &payment.id).await?;
    drop(c);
    let receiving_unit = engine.receiving_unit().await?;
    Ok(Some(VoucherFacts { payment, payer, department, receipt, lines, receiving_unit }))
}

impl PayerView<'_> {
    /// The voucher of one of the payer's own payments.
    pub async fn voucher(&self, payment_id: &str) -> Result<Option<VoucherFacts>, EngineError> {
        let p = self.payment(payment_id).await?;
        facts(self.engine(), p.payment).await
    }
}

impl Engine {
    /// The voucher of a payment made through a hosted-cashier link (the link's own order only).
    pub async fn cashier_voucher(&self, token: &str, payment_id: &str) -> Result<Option<VoucherFacts>, EngineError> {
        let Some((_, p)) = self.cashier_payment(token, payment_id).await? else { return Ok(None) };
        facts(self, p).await
    }
}

impl Engine {
    /// The voucher of a payment taken at the counter, for the cashier to print and hand over.
    pub async fn counter_voucher(
        &self,
        by: &bursar_domain::access::Principal,
        payment_id: &str,
    ) -> Result<Option<VoucherFacts>, EngineError> {
        crate::engine::require(by, bursar_domain::access::Permission::CollectAtCounter)?;
        let p = {
            let mut c = self.store().read().await?;
            bursar_store::payments::payment(&mut c, payment_id)
                .await
                .map_err(crate::error::not_found(format!("支付 {payment_id}")))?
        };
        // Only what a counter took: payments collected by an operator.
        if p.collected_by.is_none() {
            return Err(EngineError::NotFound(format!("支付 {payment_id}")));
        }
        facts(self, p).await
    }
}
