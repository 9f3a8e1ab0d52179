//! Paying an approved refund out: the refund job submits it to the channel (or asks about it),
//! and what the channel says — from that job or its notification — is applied in one
//! transaction: the confirmation entry, the receipt, the business system's event.

use bursar_channels::{ChannelError, RefundRequest};
use bursar_domain::access::{Permission, Principal, SystemJob};
use bursar_domain::ledger::{self, AccountRef};
use bursar_domain::receipt::ReceiptState;
use bursar_domain::refund::{RefundOutcome, RefundState};
use bursar_store::refunds::{self as refund_store, RefundRow};
use bursar_store::{payments as pay_store, receipts, Tx};

use crate::engine::{require, Engine};
use crate::error::{refused, EngineError};
use crate::refunds::log_refund;

/// What applying a channel's refund outcome did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RefundResult {
    /// Paid out now (confirmation posted).
    PaidOut,
    /// Already paid out: acknowledged, nothing changed.
    Duplicate,
    Processing,
    Failed,
    Unchanged,
}

impl Engine {
    /// The refund job: submits an approved refund to its channel, or asks about one in progress.
    /// Returns when to look again (`None`: final, or waiting for finance).
    pub async fn process_refund(&self, refund_id: &str) -> Result<Option<i64>, EngineError> {
        let mut c = self.store().read().await?;
        let r = refund_store::refund(&mut c, refund_id).await?;
        let p = pay_store::payment(&mut c, &r.payment_id).await?;
        drop(c);
        let Some(out_refund_no) = r.out_refund_no.clone() else { return Ok(None) };
        let channel = self.channel_of_payment(&p).await?;
        let now = self.store().now_ms();
        let notify_url =
            format!("{}/notify/{}", self.config().public_base_url.trim_end_matches('/'), channel.channel());
        let req = RefundRequest {
            merchant_order_no: &p.merchant_order_no,
            out_refund_no: &out_refund_no,
            refund_fen: r.amount_fen.get(),
            total_fen: p.amount_fen.get(),
            reason: &r.reason,
            notify_url: &notify_url,
        };
        // Submitting again under the same refund number is the same refund at the channel.
        let submit = || async {
            match channel.refund(&req).await {
                Ok(o) => Ok(o),
                Err(ChannelError::Refused { code, message }) => {
                    Ok(RefundOutcome::Failed { reason: format!("{code}: {message}") })
                }
                Err(e) => Err(EngineError::from(e)), // unknown: the job retries with the same number
            }
        };
        let outcome = match r.state {
            RefundState::Approved => submit().await?,
            RefundState::Processing => match channel.refund_query(&p.merchant_order_no, &out_refund_no).await? {
                // The channel does not know it (lost on its side): submit it again.
                RefundOutcome::NotFound => submit().await?,
                o => o,
            },
            _ => return Ok(None),
        };
        let job = Principal::System(SystemJob::RefundJob);
        match self.apply_refund_outcome(&job, &out_refund_no, &outcome).await? {
            RefundResult::Processing | RefundResult::Unchanged => Ok(Some(now + 10_000)),
            RefundResult::PaidOut | RefundResult::Duplicate | RefundResult::Failed => Ok(None),
        }
    }

    /// Applies what the channel says about a refund (from its notification or a query), in one
    /// transaction; idempotent.
    pub async fn apply_refund_outcome(
        &self,
        by: &Principal,
        out_refund_no: &str,
        outcome: &RefundOutcome,
    ) -> Result<RefundResult, EngineError> {
        require(by, Permission::RunSystemJobs)?;
        let (by, no, outcome) = (by.clone(), out_refund_no.to_string(), outcome.clone());
        self.store()
            .write(|tx: &mut Tx| {
                let (by, no, outcome) = (by.clone(), no.clone(), outcome.clone());
                Box::pin(async move { apply_refund_in_tx(tx, &by, &no, &outcome).await })
            })
            .await
    }
}

impl Engine {
    /// Applies a verified refund notification: the merchant account that verified it must be
    /// the one the refunded payment was collected into.
    pub async fn apply_refund_notice(
        &self,
        by: &Principal,
        verified_by: &str,
        out_refund_no: &str,
        outcome: &RefundOutcome,
    ) -> Result<RefundResult, EngineError> {
        require(by, Permission::RunSystemJobs)?;
        {
            let mut c = self.store().read().await?;
            if let Some(r) = refund_store::by_out_refund_no(&mut c, out_refund_no).await? {
                let p = pay_store::payment(&mut c, &r.payment_id).await?;
                crate::collection::apply::check_account(&p.merchant_id, verified_by, out_refund_no)?;
            }
        }
        self.apply_refund_outcome(by, out_refund_no, outcome).await
    }
}

/// The receipt follows the money: red-letter (refunded) when all of it went back, partly
/// refunded otherwise.
pub(crate) async fn update_receipt(tx: &mut Tx, payment_id: &str) -> Result<(), EngineError> {
    let p = pay_store::payment(tx, payment_id).await?;
    let paid_out: i64 = refund_store::of_payment(tx, payment_id)
        .await?
        .iter()
        .filter(|r| RefundState::PAID_OUT.contains(&r.state))
        .map(|r| r.amount_fen.get())
        .sum();
    let Some(receipt) = receipts::for_payment(tx, payment_id).await? else {
        return Err(EngineError::Invariant(format!("payment {payment_id} has no receipt")));
    };
    let state = if paid_out >= p.amount_fen.get() {
        ReceiptState::Refunded
    } else if paid_out > 0 && receipt.state != ReceiptState::Overpayment {
        ReceiptState::PartiallyRefunded
    } else {
        receipt.state
    };
    let now = tx.now_ms;
    receipts::set_state(tx, payment_id, state, now).await?;
    Ok(())
}

async fn apply_refund_in_tx(
    tx: &mut Tx,
    by: &Principal,
    out_refund_no: &str,
    outcome: &RefundOutcome,
) -> Result<RefundResult, EngineError> {
    let r = refund_store::by_out_refund_no(tx, out_refund_no)
        .await?
        .ok_or_else(|| EngineError::UnknownPayment(format!("refund {out_refund_no}")))?;
    let state = r.state;
    let now = tx.now_ms;
    match outcome {
        RefundOutcome::Succeeded { channel_refund_id, amount_fen } => {
            if *amount_fen != r.amount_fen.get() {
                return Err(EngineError::AmountMismatch {
                    merchant_order_no: out_refund_no.to_string(),
                    channel_fen: *amount_fen,
                    payment_fen: r.amount_fen.get(),
                });
            }
            if state == RefundState::Succeeded {
                return Ok(RefundResult::Duplicate);
            }
            if !matches!(state, RefundState::Approved | RefundState::Processing | RefundState::Failed) {
                return Err(refused(format!(
                    "refund {} is {}, the channel says it was paid out",
                    r.id,
                    state.as_str()
                )));
            }
            refund_store::transition(tx, &r.id, state, RefundState::Succeeded, now).await?;
            refund_store::set_succeeded(tx, &r.id, Some(channel_refund_id), now).await?;
            let p = pay_store::payment(tx, &r.payment_id).await?;
            let clearing = AccountRef::collecting(Some(p.method), p.channel.as_str(), &p.merchant_id);
            let entry = ledger::refund_confirmed(&r.id, clearing, r.amount_fen)?;
            bursar_store::ledger::post(tx, &entry).await?;
            update_receipt(tx, &r.payment_id).await?;
            log_refund(tx, by, &r.id, state.as_str(), "succeeded", &format!("channel_refund_id={channel_refund_id}"))
                .await?;
            notify_app(tx, &p.order_id, &r, "refund.succeeded").await?;
            Ok(RefundResult::PaidOut)
        }
        RefundOutcome::Processing { channel_refund_id } => {
            if state == RefundState::Approved {
                refund_store::transition(tx, &r.id, state, RefundState::Processing, now).await?;
                refund_store::set_channel_refund_id(tx, &r.id, channel_refund_id).await?;
                log_refund(tx, by, &r.id, "approved", "processing", "").await?;
                Ok(RefundResult::Processing)
            } else {
                Ok(RefundResult::Unchanged)
            }
        }
        RefundOutcome::Failed { reason } => {
            if matches!(state, RefundState::Approved | RefundState::Processing) {
                refund_store::transition(tx, &r.id, state, RefundState::Failed, now).await?;
                refund_store::set_failure(tx, &r.id, reason).await?;
                log_refund(tx, by, &r.id, state.as_str(), "failed", reason).await?;
                let p = pay_store::payment(tx, &r.payment_id).await?;
                notify_app(tx, &p.order_id, &r, "refund.failed").await?;
                Ok(RefundResult::Failed)
            } else {
                Ok(RefundResult::Unchanged)
            }
        }
        RefundOutcome::NotFound => Ok(RefundResult::Unchanged),
    }
}

/// Tells the business system that owns the order what became of its refund (same transaction).
async fn notify_app(tx: &mut Tx, order_id: &str, r: &RefundRow, kind: &str) -> Result<(), EngineError> {
    if let Some(api) = bursar_store::api::order_of(tx, order_id).await? {
        let data = serde_json::json!({
            "order_id": order_id,
            "out_order_no": api.out_order_no,
            "refund": {"id": r.id, "amount_fen": r.amount_fen, "reason": r.reason},
        });
        crate::api::emit_event(tx, &api.app_id, kind, data).await?;
    }
    Ok(())
}
