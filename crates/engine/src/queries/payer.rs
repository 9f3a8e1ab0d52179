//! What a payer may read: their own record, receivables, orders, payments, receipts, card and
//! registrations. Every query is limited to the principal's own data.

use bursar_domain::access::{Permission, Principal, Scope};
use bursar_domain::payment::PaymentState;
use bursar_domain::refund::RefundTarget;
use bursar_domain::Fen;
use bursar_store::payers::PayerRow;
use bursar_store::payments::{self as pay_store, OrderLineView, OrderRow, PaymentRow};
use bursar_store::projects::{self as project_store, ProjectRow, RegistrationRow};
use bursar_store::receipts::{self, ReceiptRow};
use bursar_store::receivables::{self, ReceivableView};
use bursar_store::refunds::{self as refund_store, RefundRow};
use bursar_store::{cards, payers};

use crate::engine::{require, Engine};
use crate::error::{not_found, EngineError};

/// One line of where a payment's money went: a receivable's item (name, academic year, fee
/// type) and amount, or — `item: None` — the part that found nothing owed.
#[derive(Clone, Debug)]
pub struct AllocatedLine {
    pub item: Option<(String, String, bursar_domain::fee::FeeType)>,
    pub amount: Fen,
}

/// A payer's read access to their own data (see [`Engine::payer_view`]).
pub struct PayerView<'e> {
    engine: &'e Engine,
    pub payer_id: String,
}

impl Engine {
    /// The payer's own data, for a principal allowed to pay its own fees.
    pub fn payer_view(&self, by: &Principal) -> Result<PayerView<'_>, EngineError> {
        match require(by, Permission::PayOwnFees)? {
            Scope::Payer(payer_id) => Ok(PayerView { engine: self, payer_id }),
            _ => Err(EngineError::Access(bursar_domain::AccessError::Missing(Permission::PayOwnFees))),
        }
    }
}

/// A payment with its refunds (rejected requests left out: not the payer's concern).
#[derive(Clone, Debug)]
pub struct PaymentWithRefunds {
    pub payment: PaymentRow,
    pub refunds: Vec<RefundRow>,
}

impl PayerView<'_> {
    pub(crate) fn engine(&self) -> &Engine {
        self.engine
    }

    pub async fn me(&self) -> Result<PayerRow, EngineError> {
        let mut c = self.engine.store().read().await?;
        Ok(payers::payer(&mut c, &self.payer_id).await?)
    }

    pub async fn department_name(&self) -> Result<String, EngineError> {
        let me = self.me().await?;
        let Some(d) = me.department_id else { return Ok(String::new()) };
        let mut c = self.engine.store().read().await?;
        Ok(payers::department_name(&mut c, &d).await?.unwrap_or_default())
    }

    /// The questions of the payer's security questions, when set.
    pub async fn security_questions(&self) -> Result<Option<(String, String)>, EngineError> {
        let mut c = self.engine.store().read().await?;
        Ok(payers::security(&mut c, &self.payer_id).await?.map(|q| (q.question1, q.question2)))
    }

    pub async fn receivables(&self) -> Result<Vec<ReceivableView>, EngineError> {
        let mut c = self.engine.store().read().await?;
        Ok(receivables::for_payer(&mut c, &self.payer_id).await?)
    }

    /// Why a receivable of the payer's was reduced: the reasons of its approved waivers.
    pub async fn waiver_reasons(&self, receivable_id: &str) -> Result<Vec<String>, EngineError> {
        let mut c = self.engine.store().read().await?;
        let r = receivables::receivable(&mut c, receivable_id).await?;
        if r.payer_id != self.payer_id {
            return Ok(Vec::new());
        }
        Ok(bursar_store::waivers::of_receivable(&mut c, receivable_id)
            .await?
            .into_iter()
            .filter(|w| w.state == bursar_domain::fee::WaiverState::Approved)
            .map(|w| w.reason)
            .collect())
    }

    /// One of the payer's orders, its lines and every attempt to pay it.
    pub async fn order(&self, id: &str) -> Result<(OrderRow, Vec<OrderLineView>, Vec<PaymentRow>), EngineError> {
        let mut c = self.engine.store().read().await?;
        let order = pay_store::order(&mut c, id).await.map_err(not_found(format!("订单 {id}")))?;
        if order.payer_id != self.payer_id {
            return Err(EngineError::NotFound(format!("订单 {id}")));
        }
        let lines = pay_store::order_lines(&mut c, id).await?;
        let payments = pay_store::payments_of_order(&mut c, id).await?;
        Ok((order, lines, payments))
    }

    /// One of the payer's payments, asking the channel first while it waits.
    pub async fn payment(&self, id: &str) -> Result<PaymentWithRefunds, EngineError> {
        // Whose it is first: nobody makes Bursar ask a channel about someone else's payment.
        let owner = {
            let mut c = self.engine.store().read().await?;
            pay_store::payment(&mut c, id).await.map_err(not_found(format!("支付 {id}")))?.payer_id
        };
        if owner != self.payer_id {
            return Err(EngineError::NotFound(format!("支付 {id}")));
        }
        let p = self.engine.refresh_payment(id).await.map_err(|e| match e {
            EngineError::Store(bursar_store::StoreError::NotFound(_)) => EngineError::NotFound(format!("支付 {id}")),
            other => other,
        })?;
        if p.payer_id != self.payer_id {
            return Err(EngineError::NotFound(format!("支付 {id}")));
        }
        self.with_refunds(p).await
    }

    async fn with_refunds(&self, payment: PaymentRow) -> Result<PaymentWithRefunds, EngineError> {
        let mut c = self.engine.store().read().await?;
        let refunds = refund_store::of_payment(&mut c, &payment.id)
            .await?
            .into_iter()
            .filter(|r| r.state != bursar_domain::refund::RefundState::Rejected)
            .collect();
        Ok(PaymentWithRefunds { payment, refunds })
    }

    pub async fn order_lines(&self, order_id: &str) -> Result<Vec<OrderLineView>, EngineError> {
        Ok(self.order(order_id).await?.1)
    }

    /// Every payment of the payer, newest first, with refunds.
    pub async fn payments(&self) -> Result<Vec<PaymentWithRefunds>, EngineError> {
        let list = {
            let mut c = self.engine.store().read().await?;
            pay_store::payments_of_payer(&mut c, &self.payer_id).await?
        };
        let mut out = Vec::with_capacity(list.len());
        for p in list {
            out.push(self.with_refunds(p).await?);
        }
        Ok(out)
    }

    /// Where a succeeded payment's money went, from its ledger entry: each receivable's share
    /// (item, academic year, amount), then what found nothing owed (the payer's credit, to be
    /// refunded) as one line with no item.
    pub async fn payment_allocation(&self, payment_id: &str) -> Result<Vec<AllocatedLine>, EngineError> {
        let p = self.payment(payment_id).await?;
        let mut c = self.engine.store().read().await?;
        super::voucher::allocation(&mut c, &p.payment.id).await
    }

    /// A succeeded payment's receipt.
    pub async fn receipt(&self, payment_id: &str) -> Result<Option<ReceiptRow>, EngineError> {
        let p = self.payment(payment_id).await?;
        let mut c = self.engine.store().read().await?;
        Ok(receipts::for_payment(&mut c, &p.payment.id).await?)
    }

    /// What each succeeded payment credited to each receivable: (receivable id, payment, amount).
    pub async fn credited(&self) -> Result<Vec<(String, PaymentRow, Fen)>, EngineError> {
        let mut c = self.engine.store().read().await?;
        let mut out = Vec::new();
        for p in pay_store::payments_of_payer(&mut c, &self.payer_id).await? {
            if p.state != PaymentState::Succeeded {
                continue;
            }
            for a in refund_store::payment_allocations(&mut c, &p.id).await? {
                if a.target == RefundTarget::Receivable {
                    out.push((a.target_id, p.clone(), a.amount));
                }
            }
        }
        Ok(out)
    }

    /// How many of the payer's payments Bursar recovered by asking the channel.
    pub async fn recovered_count(&self) -> Result<i64, EngineError> {
        let mut c = self.engine.store().read().await?;
        Ok(pay_store::recovered_count(&mut c, &self.payer_id).await?)
    }

    /// The payer's campus card and its balance, if they hold one.
    pub async fn card(&self) -> Result<Option<(cards::CardRow, Fen)>, EngineError> {
        let card = {
            let mut c = self.engine.store().read().await?;
            cards::of_payer(&mut c, &self.payer_id).await?
        };
        match card {
            Some(card) => {
                let balance = self.engine.card_balance(&card.card_no).await?;
                Ok(Some((card, balance)))
            }
            None => Ok(None),
        }
    }

    /// The payer's registrations with their projects, newest first.
    pub async fn registrations(&self) -> Result<Vec<(RegistrationRow, ProjectRow)>, EngineError> {
        let mut c = self.engine.store().read().await?;
        let mut out = Vec::new();
        for r in project_store::registrations_of_payer(&mut c, &self.payer_id).await? {
            let p = project_store::get(&mut c, &r.project_id).await?;
            out.push((r, p));
        }
        Ok(out)
    }

    /// The payer's registration for a project, if any.
    pub async fn registration(&self, project_id: &str) -> Result<Option<RegistrationRow>, EngineError> {
        let mut c = self.engine.store().read().await?;
        Ok(project_store::registration_of(&mut c, project_id, &self.payer_id).await?)
    }

    /// A receivable of the payer.
    pub async fn receivable(&self, id: &str) -> Result<Option<ReceivableView>, EngineError> {
        let mut c = self.engine.store().read().await?;
        match receivables::receivable(&mut c, id).await {
            Ok(r) if r.payer_id == self.payer_id => Ok(Some(r)),
            Ok(_) | Err(bursar_store::StoreError::NotFound(_)) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }
}
