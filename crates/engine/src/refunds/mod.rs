//! Refunds: a charging department, finance or a business system requests; finance approves or
//! rejects — never the one who asked (four-eyes) — with a comment; then the channel pays it out,
//! tracked by a job and by the channel's notifications to a final state. Every step is a
//! compare-and-set in a transaction with its ledger entry (docs/LEDGER.md): approval moves the
//! money into "refunds in transit" (reopening or cancelling the receivable, or drawing on the
//! payer's credit); the channel's confirmation moves it out of the collecting account. A refund
//! the channel refuses stays in transit until finance retries it or pays it by transfer.
//!
//! What is refundable is read and the refund inserted in one SERIALIZABLE transaction (SQLite:
//! the single writer), so parallel requests can never refund more than was paid.

mod payout;

use bursar_domain::access::{ApprovalKind, Permission, Principal, Scope, SystemJob};
use bursar_domain::ledger::{self, RefundSource};
use bursar_domain::payment::PaymentState;
use bursar_domain::refund::{RefundKind, RefundState, RefundTarget};
use bursar_domain::{DomainError, Fen};
use bursar_store::jobs::{self as job_store, NewJob};
use bursar_store::refunds::{self as refund_store, LineRow, NewRefund, RefundRow};
use bursar_store::{payments as pay_store, receivables, Tx};

use crate::engine::{check_decider, log, require, Engine};
use crate::error::{not_found, refused, EngineError};

pub use payout::RefundResult;

/// The job that submits a refund to its channel and follows it to a final state.
pub const REFUND_JOB: &str = "refund.process";

async fn log_refund(
    tx: &mut Tx,
    by: &Principal,
    refund_id: &str,
    from: &str,
    to: &str,
    detail: &str,
) -> Result<(), EngineError> {
    let action = format!("refund.{to}");
    log(tx, by, &action, ("refund", refund_id), (from, to), detail).await
}

async fn enqueue_refund_job(tx: &mut Tx, refund_id: &str, attempt: i64) -> Result<(), EngineError> {
    let id = tx.new_id();
    let key = format!("{refund_id}:{attempt}");
    let now = tx.now_ms;
    let job = NewJob { kind: REFUND_JOB, dedupe_key: &key, payload: refund_id, run_at_ms: now, max_attempts: 30 };
    job_store::enqueue(tx, &id, &job, now).await?;
    Ok(())
}

/// What is left to refund of a payment, per target, within `scope`, for a refund of `kind`.
async fn refundable(
    tx: &mut Tx,
    payment_id: &str,
    scope: &Scope,
    kind: RefundKind,
) -> Result<Vec<LineRow>, EngineError> {
    let allocations = refund_store::payment_allocations(tx, payment_id).await?;
    let taken = refund_store::refunded_by_target(tx, payment_id).await?;
    // A business system cancels only what it charged: what its order raised on each receivable
    // (not a tuition bill the school raised that its order happened to pay).
    let raised_by_app: Option<std::collections::HashMap<String, i64>> = match scope {
        Scope::FeeItems(_) => {
            let p = pay_store::payment(tx, payment_id).await?;
            let lines = pay_store::order_lines(tx, &p.order_id).await?;
            Some(lines.into_iter().map(|l| (l.receivable_id, l.raised_fen.get())).collect())
        }
        _ => None,
    };
    let wanted = if kind == RefundKind::Overpayment { RefundTarget::PayerCredit } else { RefundTarget::Receivable };
    let mut available = Vec::new();
    for a in allocations.into_iter().filter(|a| a.target == wanted) {
        let already: i64 =
            taken.iter().filter(|t| t.target == a.target && t.target_id == a.target_id).map(|t| t.amount.get()).sum();
        let mut left = a.amount.get() - already;
        if let Some(raised) = &raised_by_app {
            left = left.min(raised.get(&a.target_id).copied().unwrap_or(0) - already);
        }
        if left <= 0 {
            continue;
        }
        let fee_item_id = match a.target {
            RefundTarget::Receivable => {
                let r = receivables::receivable(tx, &a.target_id).await?;
                if !scope.covers_fee_item(&r.fee_item_id, &r.department_id) {
                    continue; // not this department's (or application's) fee
                }
                Some(r.fee_item_id)
            }
            // Overpayments belong to no department: only finance (scope All) refunds them.
            RefundTarget::PayerCredit if *scope == Scope::All => None,
            RefundTarget::PayerCredit => continue,
        };
        available.push(LineRow { target_kind: a.target, target_id: a.target_id, fee_item_id, amount_fen: Fen(left) });
    }
    Ok(available)
}

impl Engine {
    /// Requests a refund of part or all of a succeeded payment: a department for its own fee
    /// items, finance for any, a business system for its own orders' items. Refused with a reason
    /// when the payment is not refundable or the amount is more than what is left to refund of
    /// that kind within the requester's reach.
    pub async fn request_refund(
        &self,
        by: &Principal,
        payment_id: &str,
        amount: Fen,
        kind: RefundKind,
        reason: &str,
    ) -> Result<String, EngineError> {
        self.request_refund_claimed(by, payment_id, amount, kind, reason, None).await
    }

    /// The same, recording the new refund as the effect of an API request's idempotency key in
    /// the same transaction (a retry after a crash answers with this refund, never a second).
    pub async fn request_refund_claimed(
        &self,
        by: &Principal,
        payment_id: &str,
        amount: Fen,
        kind: RefundKind,
        reason: &str,
        claim: Option<&crate::queries::app::IdemClaim>,
    ) -> Result<String, EngineError> {
        let scope = match by {
            Principal::App(_) => require(by, Permission::ApiRefund)?,
            _ => require(by, Permission::RequestRefund)?,
        };
        let reason = reason.trim().to_string();
        if reason.is_empty() || reason.chars().count() > 200 {
            return Err(refused("请填写退款原因（不超过200字）"));
        }
        if !amount.is_positive() {
            return Err(DomainError::NonPositiveAmount.into());
        }
        if kind == RefundKind::Overpayment && scope != Scope::All {
            return Err(refused("多缴款退款由财务处办理"));
        }
        let (by, payment_id, claim) = (by.clone(), payment_id.to_string(), claim.cloned());
        self.store()
            .write(|tx: &mut Tx| {
                let (by, payment_id, reason, scope, claim) =
                    (by.clone(), payment_id.clone(), reason.clone(), scope.clone(), claim.clone());
                Box::pin(async move {
                    let p =
                        pay_store::payment(tx, &payment_id).await.map_err(not_found(format!("支付 {payment_id}")))?;
                    if p.state != PaymentState::Succeeded {
                        return Err(refused("只有支付成功的交易可以退款"));
                    }
                    let available = refundable(tx, &p.id, &scope, kind).await?;
                    let total: i64 = available.iter().map(|l| l.amount_fen.get()).sum();
                    if total == 0 {
                        return Err(match &scope {
                            Scope::All => refused("该交易没有可退的金额"),
                            // A business system sees its own orders' payments: say why.
                            Scope::FeeItems(_) => refused("该笔支付中没有本应用收取、可以退还的金额"),
                            _ => EngineError::NotFound(format!("支付 {payment_id}")),
                        });
                    }
                    if amount.get() > total {
                        return Err(refused(format!("退款金额 {amount} 元超过可退金额 {} 元", Fen(total))));
                    }
                    let refund_id = tx.new_id();
                    let now = tx.now_ms;
                    let requested_by = by.actor_ref();
                    let new = NewRefund {
                        id: &refund_id,
                        payment_id: &p.id,
                        payer_id: &p.payer_id,
                        amount,
                        kind,
                        reason: &reason,
                        requested_by: &requested_by,
                    };
                    refund_store::insert(tx, &new, now).await?;
                    let mut left = amount.get();
                    for mut line in available {
                        if left == 0 {
                            break;
                        }
                        line.amount_fen = Fen(line.amount_fen.get().min(left));
                        left -= line.amount_fen.get();
                        refund_store::insert_line(tx, &refund_id, &line).await?;
                    }
                    let detail =
                        format!("payment={} amount_fen={} kind={} reason={reason}", p.id, amount.get(), kind.as_str());
                    log_refund(tx, &by, &refund_id, "", "requested", &detail).await?;
                    if let Some(c) = &claim {
                        bursar_store::api::record_effect(tx, &c.app, &c.key, "refund", &refund_id).await?;
                    }
                    Ok(refund_id)
                })
            })
            .await
    }

    /// Refunds what a payment left in the payer's credit, requested and approved by the system
    /// (when the school configures automatic refunds of overpayments). Returns the refund, or
    /// `None` when nothing is left to refund.
    pub async fn auto_refund_overpayment(&self, payment_id: &str) -> Result<Option<String>, EngineError> {
        let payment_id = payment_id.to_string();
        let by = Principal::System(SystemJob::AutoRefund);
        self.store()
            .write(|tx: &mut Tx| {
                let (payment_id, by) = (payment_id.clone(), by.clone());
                Box::pin(async move {
                    let p = pay_store::payment(tx, &payment_id).await?;
                    let lines = refundable(tx, &p.id, &Scope::All, RefundKind::Overpayment).await?;
                    let left: i64 = lines.iter().map(|l| l.amount_fen.get()).sum();
                    if left <= 0 {
                        return Ok(None);
                    }
                    let refund_id = tx.new_id();
                    let now = tx.now_ms;
                    let requested_by = by.actor_ref();
                    let new = NewRefund {
                        id: &refund_id,
                        payment_id: &p.id,
                        payer_id: &p.payer_id,
                        amount: Fen(left),
                        kind: RefundKind::Overpayment,
                        reason: "多缴款自动退款",
                        requested_by: &requested_by,
                    };
                    refund_store::insert(tx, &new, now).await?;
                    for line in &lines {
                        refund_store::insert_line(tx, &refund_id, line).await?;
                    }
                    refund_store::transition(tx, &refund_id, RefundState::Requested, RefundState::Approved, now)
                        .await?;
                    refund_store::set_decided(tx, &refund_id, &requested_by, "学校设置为多缴款自动退款").await?;
                    let r = refund_store::refund(tx, &refund_id).await?;
                    approve_in_tx(tx, &r).await?;
                    let out_refund_no = tx.new_id();
                    let attempt = refund_store::start_attempt(tx, &refund_id, &out_refund_no).await?;
                    enqueue_refund_job(tx, &refund_id, attempt).await?;
                    let detail = format!("payment={} amount_fen={left} automatic refund of an overpayment", p.id);
                    log_refund(tx, &by, &refund_id, "", "approved", &detail).await?;
                    Ok(Some(refund_id))
                })
            })
            .await
    }

    /// Finance approves or rejects a requested refund, with a comment (a rejection needs one).
    /// Approving posts the approval entry, adjusts the receivables and queues the channel
    /// refund. Deciding twice, or deciding one's own request, is refused.
    pub async fn decide_refund(
        &self,
        by: &Principal,
        refund_id: &str,
        approve: bool,
        comment: &str,
    ) -> Result<(), EngineError> {
        require(by, Permission::ApproveRefund)?;
        let comment = comment.trim().to_string();
        if !approve && comment.is_empty() {
            return Err(refused("驳回时请填写原因"));
        }
        if comment.chars().count() > 200 {
            return Err(refused("审批意见不超过 200 字"));
        }
        let (by, refund_id) = (by.clone(), refund_id.to_string());
        self.store()
            .write(|tx: &mut Tx| {
                let (by, refund_id, comment) = (by.clone(), refund_id.clone(), comment.clone());
                Box::pin(async move {
                    let r =
                        refund_store::refund(tx, &refund_id).await.map_err(not_found(format!("退款 {refund_id}")))?;
                    if r.state != RefundState::Requested {
                        return Err(refused(format!("该退款已处理（{}），不能重复审批", r.state.label_zh())));
                    }
                    check_decider(tx, ApprovalKind::Refund, &r.requested_by, &by).await?;
                    let now = tx.now_ms;
                    let comment = if comment.is_empty() { "同意".to_string() } else { comment };
                    if !approve {
                        refund_store::transition(tx, &r.id, RefundState::Requested, RefundState::Rejected, now).await?;
                        refund_store::set_decided(tx, &r.id, &by.actor_ref(), &comment).await?;
                        return log_refund(tx, &by, &r.id, "requested", "rejected", &comment).await;
                    }
                    refund_store::transition(tx, &r.id, RefundState::Requested, RefundState::Approved, now).await?;
                    refund_store::set_decided(tx, &r.id, &by.actor_ref(), &comment).await?;
                    approve_in_tx(tx, &r).await?;
                    let out_refund_no = tx.new_id();
                    let attempt = refund_store::start_attempt(tx, &r.id, &out_refund_no).await?;
                    enqueue_refund_job(tx, &r.id, attempt).await?;
                    let detail = format!("out_refund_no={out_refund_no} comment={comment}");
                    log_refund(tx, &by, &r.id, "requested", "approved", &detail).await
                })
            })
            .await
    }

    /// Finance sends a failed refund to the channel again (under a new refund number).
    pub async fn retry_refund(&self, by: &Principal, refund_id: &str) -> Result<(), EngineError> {
        require(by, Permission::ExecuteRefund)?;
        let (by, refund_id) = (by.clone(), refund_id.to_string());
        self.store()
            .write(|tx: &mut Tx| {
                let (by, refund_id) = (by.clone(), refund_id.clone());
                Box::pin(async move {
                    let r =
                        refund_store::refund(tx, &refund_id).await.map_err(not_found(format!("退款 {refund_id}")))?;
                    if r.state != RefundState::Failed {
                        return Err(refused("只有失败的退款可以重新发起"));
                    }
                    let now = tx.now_ms;
                    refund_store::transition(tx, &r.id, RefundState::Failed, RefundState::Approved, now).await?;
                    let out_refund_no = tx.new_id();
                    let attempt = refund_store::start_attempt(tx, &r.id, &out_refund_no).await?;
                    enqueue_refund_job(tx, &r.id, attempt).await?;
                    let detail = format!("retry out_refund_no={out_refund_no}");
                    log_refund(tx, &by, &r.id, "failed", "approved", &detail).await
                })
            })
            .await
    }

    /// Finance pays a failed refund by bank transfer instead: Dr refunds in transit / Cr bank.
    pub async fn manual_refund(
        &self,
        by: &Principal,
        refund_id: &str,
        bank_reference: &str,
    ) -> Result<(), EngineError> {
        require(by, Permission::ExecuteRefund)?;
        let reference = bank_reference.trim().to_string();
        if reference.is_empty() || reference.chars().count() > 64 {
            return Err(refused("请填写银行转账流水号"));
        }
        let (by, refund_id) = (by.clone(), refund_id.to_string());
        self.store()
            .write(|tx: &mut Tx| {
                let (by, refund_id, reference) = (by.clone(), refund_id.clone(), reference.clone());
                Box::pin(async move {
                    let r =
                        refund_store::refund(tx, &refund_id).await.map_err(not_found(format!("退款 {refund_id}")))?;
                    if r.state != RefundState::Failed {
                        return Err(refused("只有失败的退款可以改为线下转账"));
                    }
                    let now = tx.now_ms;
                    refund_store::transition(tx, &r.id, RefundState::Failed, RefundState::Manual, now).await?;
                    refund_store::set_bank_reference(tx, &r.id, &reference).await?;
                    let entry = ledger::refund_manual(&r.id, "school", r.amount_fen)?;
                    bursar_store::ledger::post(tx, &entry).await?;
                    payout::update_receipt(tx, &r.payment_id).await?;
                    log_refund(tx, &by, &r.id, "failed", "manual", &format!("bank_reference={reference}")).await
                })
            })
            .await
    }
}

async fn approve_in_tx(tx: &mut Tx, r: &RefundRow) -> Result<(), EngineError> {
    let lines = refund_store::lines(tx, &r.id).await?;
    let now = tx.now_ms;
    let mut sources = Vec::with_capacity(lines.len());
    for l in &lines {
        match l.target_kind {
            RefundTarget::Receivable => {
                let rec = receivables::receivable(tx, &l.target_id).await?;
                let cancel_due = match r.kind {
                    RefundKind::PaidInError => false,
                    RefundKind::FeeCancelled => true,
                    RefundKind::Overpayment => return Err(refused("多缴款退款不能退到应收项目")),
                };
                receivables::take_back_paid(tx, &rec.id, rec.paid_fen, l.amount_fen, cancel_due, now).await?;
                sources.push(RefundSource::Receivable {
                    receivable_id: rec.id,
                    fee_item_id: rec.fee_item_id,
                    amount: l.amount_fen,
                });
            }
            RefundTarget::PayerCredit => {
                sources.push(RefundSource::PayerCredit { payer_id: l.target_id.clone(), amount: l.amount_fen })
            }
        }
    }
    let entry = ledger::refund_approved(&r.id, 1, r.kind, &sources)?;
    bursar_store::ledger::post(tx, &entry).await?;
    Ok(())
}
