//! Applying what a channel says about a payment — from a notification, an active query, a
//! payment-code answer, the campus card or an imported record — in one transaction: the
//! compare-and-set transition, the ledger entry, the allocation to the receivables, the order's
//! state, the receipt, the business system's event and the operation log.

use std::collections::HashMap;

use bursar_domain::access::{Permission, Principal};
use bursar_domain::ledger::{self, AccountRef};
use bursar_domain::order::{self, LineToAllocate, OrderState};
use bursar_domain::payment::{ChannelOutcome, EventKind, EventOutcome, PaymentState};
use bursar_domain::receipt::ReceiptState;
use bursar_domain::Fen;
use bursar_store::payments::{self as pay_store, NewChannelEvent, PaymentRow};
use bursar_store::receipts::{self, NewReceipt};
use bursar_store::{receivables, Tx};

use crate::engine::{log, require, Engine};
use crate::error::EngineError;

/// What applying a channel outcome did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ApplyResult {
    /// The payment was credited now; `to_payer_credit` is what nothing was owed for any more.
    Credited { payment_id: String, to_payer_credit: Fen },
    /// Already credited with this very channel transaction: acknowledged, nothing changed.
    Duplicate,
    /// The payment moved to another state (closed, failed).
    Moved(PaymentState),
    /// Nothing to do (still pending, or nothing new).
    Unchanged,
}

impl Engine {
    /// Applies what a channel says about a payment, in one transaction. Idempotent: the same
    /// outcome applied twice changes nothing the second time.
    pub async fn apply_outcome(
        &self,
        by: &Principal,
        merchant_order_no: &str,
        outcome: &ChannelOutcome,
    ) -> Result<ApplyResult, EngineError> {
        require(by, Permission::RunSystemJobs)?;
        let (by, no, outcome) = (by.clone(), merchant_order_no.to_string(), outcome.clone());
        let result = self
            .store()
            .write(|tx: &mut Tx| {
                let (by, no, outcome) = (by.clone(), no.clone(), outcome.clone());
                Box::pin(async move { apply_in_tx(tx, &by, &no, &outcome).await })
            })
            .await?;
        if let ApplyResult::Credited { payment_id, to_payer_credit } = &result {
            if to_payer_credit.is_positive() && self.config().auto_refund_overpayments {
                // A separate transaction: if it does not happen now, the overpayment waits in
                // finance's queue (it is in the payer's credit, not lost).
                if let Err(e) = self.auto_refund_overpayment(payment_id).await {
                    tracing::warn!(payment = %payment_id, error = %e, "automatic refund of an overpayment failed; it waits for finance");
                }
            }
        }
        Ok(result)
    }

    /// Applies a verified notification: like [`Engine::apply_outcome`], but first the merchant
    /// account that verified it must be the one the payment was collected into (a message
    /// signed for the school's other account of the same channel is refused).
    pub async fn apply_notice(
        &self,
        by: &Principal,
        verified_by: &str,
        merchant_order_no: &str,
        outcome: &ChannelOutcome,
    ) -> Result<ApplyResult, EngineError> {
        require(by, Permission::RunSystemJobs)?;
        {
            let mut c = self.store().read().await?;
            if let Some(p) = pay_store::payment_by_merchant_order_no(&mut c, merchant_order_no).await? {
                check_account(&p.merchant_id, verified_by, merchant_order_no)?;
            }
        }
        // The merchant account of a payment never changes, so the check holds in the write.
        self.apply_outcome(by, merchant_order_no, outcome).await
    }

    /// Records an inbound channel message and what was done with it (refusals included). The
    /// record is the trail finance reads; losing it must not fail the message, so a failure to
    /// write it is logged.
    pub async fn record_event(
        &self,
        channel: &str,
        kind: EventKind,
        merchant_order_no: Option<&str>,
        outcome: EventOutcome,
        reason: &str,
    ) {
        let (channel, no, reason) = (channel.to_string(), merchant_order_no.map(str::to_string), reason.to_string());
        let result = self
            .store()
            .write(|tx: &mut Tx| {
                let (channel, no, reason) = (channel.clone(), no.clone(), reason.clone());
                Box::pin(async move {
                    let e = NewChannelEvent {
                        channel: &channel,
                        kind,
                        merchant_order_no: no.as_deref(),
                        outcome,
                        reason: &reason,
                    };
                    pay_store::record_channel_event(tx, &e).await
                })
            })
            .await;
        if let Err(e) = result {
            tracing::error!(error = %e, "could not record a channel event");
        }
    }
}

/// A verified message's merchant account must be the payment's.
pub(crate) fn check_account(payment_merchant: &str, verified_by: &str, no: &str) -> Result<(), EngineError> {
    if payment_merchant == verified_by {
        return Ok(());
    }
    Err(EngineError::AccountMismatch {
        merchant_order_no: no.to_string(),
        verified_by: verified_by.to_string(),
        expected: payment_merchant.to_string(),
    })
}

/// The single money transaction: compare-and-set the payment, post the ledger entry, allocate
/// to the receivables, settle the order, issue the receipt, append to the operation log.
pub(crate) async fn apply_in_tx(
    tx: &mut Tx,
    by: &Principal,
    merchant_order_no: &str,
    outcome: &ChannelOutcome,
) -> Result<ApplyResult, EngineError> {
    let p = pay_store::payment_by_merchant_order_no(tx, merchant_order_no)
        .await?
        .ok_or_else(|| EngineError::UnknownPayment(merchant_order_no.to_string()))?;
    let state = p.state;
    match outcome {
        ChannelOutcome::Paid { channel_txn_id, amount_fen, paid_at_ms } => {
            if *amount_fen != p.amount_fen.get() {
                return Err(EngineError::AmountMismatch {
                    merchant_order_no: merchant_order_no.to_string(),
                    channel_fen: *amount_fen,
                    payment_fen: p.amount_fen.get(),
                });
            }
            if state == PaymentState::Succeeded {
                return match &p.channel_txn_id {
                    Some(t) if t == channel_txn_id => Ok(ApplyResult::Duplicate),
                    other => Err(EngineError::TransactionMismatch {
                        merchant_order_no: merchant_order_no.to_string(),
                        credited: other.clone().unwrap_or_default(),
                        reported: channel_txn_id.clone(),
                    }),
                };
            }
            credit(tx, by, &p, channel_txn_id, *paid_at_ms).await
        }
        ChannelOutcome::Pending => Ok(ApplyResult::Unchanged),
        ChannelOutcome::Closed => move_unpaid(tx, by, &p, PaymentState::Closed, "已关闭").await,
        ChannelOutcome::Failed { reason } => move_unpaid(tx, by, &p, PaymentState::Failed, reason).await,
        ChannelOutcome::NotFound => move_unpaid(tx, by, &p, PaymentState::Failed, "渠道无此订单").await,
    }
}

async fn credit(
    tx: &mut Tx,
    by: &Principal,
    p: &PaymentRow,
    channel_txn_id: &str,
    paid_at_ms: i64,
) -> Result<ApplyResult, EngineError> {
    let now = tx.now_ms;
    pay_store::transition_payment(tx, &p.id, p.state, PaymentState::Succeeded, now).await?;
    pay_store::set_succeeded_facts(tx, &p.id, channel_txn_id, paid_at_ms).await?;

    let lines = pay_store::order_lines(tx, &p.order_id).await?;
    let mut to_allocate = Vec::with_capacity(lines.len());
    let mut paid_before = HashMap::new();
    for l in &lines {
        let r = receivables::receivable(tx, &l.receivable_id).await?;
        paid_before.insert(r.id.clone(), r.paid_fen);
        to_allocate.push(LineToAllocate {
            receivable_id: r.id.clone(),
            line_amount: l.amount_fen,
            outstanding: r.outstanding(),
        });
    }
    let allocation = order::allocate(p.amount_fen, &to_allocate)?;
    let clearing = AccountRef::collecting(Some(p.method), p.channel.as_str(), &p.merchant_id);
    let entry = ledger::payment_succeeded(&p.id, clearing, &p.payer_id, p.amount_fen, &allocation)?;
    bursar_store::ledger::post(tx, &entry).await?;
    for (rid, amount) in &allocation.to_receivables {
        let before = paid_before.get(rid).copied().ok_or_else(|| {
            EngineError::Invariant(format!("payment {} allocated to {rid}, not one of its lines", p.id))
        })?;
        receivables::add_paid(tx, rid, before, *amount, now).await?;
    }
    let order = pay_store::order(tx, &p.order_id).await?;
    if order.state.can_become(OrderState::Paid) {
        pay_store::transition_order(tx, &p.order_id, order.state, OrderState::Paid, now).await?;
        log(tx, by, "order.paid", ("order", &p.order_id), (order.state.as_str(), "paid"), "").await?;
        // A business system's order: tell it, in this same transaction.
        if let Some(api) = bursar_store::api::order_of(tx, &p.order_id).await? {
            let data = serde_json::json!({
                "order_id": p.order_id,
                "out_order_no": api.out_order_no,
                "amount_fen": p.amount_fen,
                "payment": {"id": p.id, "method": p.method, "channel": p.channel,
                            "channel_txn_id": channel_txn_id, "paid_at": paid_at_ms / 1000},
            });
            crate::api::emit_event(tx, &api.app_id, "order.paid", data).await?;
        }
    }
    // Money that found nothing left to pay (a late or duplicate payment) waits in the payer's
    // credit to be refunded: its receipt says so and vouches for no fee.
    let receipt_state =
        if allocation.to_receivables.is_empty() { ReceiptState::Overpayment } else { ReceiptState::Valid };
    let year: String = bursar_domain::time_fmt::date_cst(now).chars().take(4).collect();
    let receipt = receipts::issue(
        tx,
        &NewReceipt {
            payment_id: &p.id,
            payer_id: &p.payer_id,
            amount: p.amount_fen,
            state: receipt_state,
            year: &year,
        },
    )
    .await?;
    let detail = format!(
        "channel_txn_id={channel_txn_id} amount_fen={} to_payer_credit_fen={} receipt={}",
        p.amount_fen.get(),
        allocation.to_payer_credit.get(),
        receipt.number
    );
    log_move(tx, by, &p.id, p.state, PaymentState::Succeeded, &detail).await?;
    Ok(ApplyResult::Credited { payment_id: p.id.clone(), to_payer_credit: allocation.to_payer_credit })
}

/// Moves a payment that is still waiting to closed or failed; anything else is left alone.
async fn move_unpaid(
    tx: &mut Tx,
    by: &Principal,
    p: &PaymentRow,
    to: PaymentState,
    reason: &str,
) -> Result<ApplyResult, EngineError> {
    if !p.state.is_live() {
        return Ok(ApplyResult::Unchanged);
    }
    let now = tx.now_ms;
    pay_store::transition_payment(tx, &p.id, p.state, to, now).await?;
    pay_store::set_failure(tx, &p.id, reason).await?;
    log_move(tx, by, &p.id, p.state, to, reason).await?;
    Ok(ApplyResult::Moved(to))
}

pub(crate) async fn log_move(
    tx: &mut Tx,
    by: &Principal,
    payment_id: &str,
    from: PaymentState,
    to: PaymentState,
    detail: &str,
) -> Result<(), EngineError> {
    let action = format!("payment.{}", to.as_str());
    log(tx, by, &action, ("payment", payment_id), (from.as_str(), to.as_str()), detail).await
}
