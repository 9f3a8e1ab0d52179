//! Refunds: a charging department (or finance) requests, finance approves or rejects, then the
//! channel pays it out — tracked by a job and by the channel's notifications to a final state.
//! Every step is a compare-and-set in a transaction with its ledger entry (LEDGER.md):
//! approval moves the money into "refunds in transit" (reopening or cancelling the receivable,
//! or drawing on the payer's credit); the channel's confirmation moves it out of clearing. A
//! refund the channel refuses stays in transit until finance retries it or pays it by transfer.

use bursar_channels::{ChannelError, RefundRequest};
use bursar_domain::ledger::{self, AccountRef, RefundSource};
use bursar_domain::payment::{PayMethod, PaymentState};
use bursar_domain::refund::{RefundKind, RefundOutcome, RefundState};
use bursar_domain::{DomainError, Fen};
use bursar_store::jobs::{self as job_store, NewJob};
use bursar_store::oplog::{self, Actor, Change};
use bursar_store::payers::OperatorRow;
use bursar_store::refunds::{self as refund_store, LineRow, NewRefund, RefundRow};
use bursar_store::{payments as pay_store, receipts, receivables, StoreError, Tx};

use crate::error::EngineError;
use crate::payments::Engine;

/// The job that submits a refund to its channel and follows it to a final state.
pub const REFUND_JOB: &str = "refund.process";

fn rule(msg: impl Into<String>) -> EngineError {
    EngineError::Rule(DomainError::Refused(msg.into()))
}

async fn log(
    tx: &mut Tx,
    actor: &Actor,
    refund_id: &str,
    from: &str,
    to: &str,
    detail: &str,
) -> Result<(), EngineError> {
    let now = tx.now_ms;
    let action = format!("refund.{to}");
    let change = Change { action: &action, entity: "refund", entity_id: refund_id, before: from, after: to, detail };
    oplog::append(tx.c(), now, actor, &change).await?;
    Ok(())
}

async fn enqueue_refund_job(tx: &mut Tx, refund_id: &str, attempt: i64) -> Result<(), EngineError> {
    let id = tx.new_id();
    let key = format!("{refund_id}:{attempt}");
    let now = tx.now_ms;
    let job = NewJob { kind: REFUND_JOB, dedupe_key: &key, payload: refund_id, run_at_ms: now, max_attempts: 30 };
    job_store::enqueue(tx.c(), &id, &job, now).await?;
    Ok(())
}

impl Engine {
    /// A department (for its own fee items) or finance asks to refund part or all of a
    /// succeeded payment. Refused with a reason when the payment is not refundable, the amount is
    /// more than what is left to refund of that kind, or the operator has no right to it.
    pub async fn request_refund(
        &self,
        operator: &OperatorRow,
        payment_id: &str,
        amount: Fen,
        kind: RefundKind,
        reason: &str,
    ) -> Result<String, EngineError> {
        let reason = reason.trim().to_string();
        if reason.is_empty() || reason.chars().count() > 200 {
            return Err(rule("请填写退款原因（不超过200字）"));
        }
        if amount.get() <= 0 {
            return Err(DomainError::NonPositiveAmount.into());
        }
        if !matches!(operator.role.as_str(), "department" | "finance") {
            return Err(EngineError::NotFound(format!("支付 {payment_id}")));
        }
        if kind == RefundKind::Overpayment && operator.role != "finance" {
            return Err(rule("多缴款退款由财务处办理"));
        }
        let op = operator.clone();
        let payment_id = payment_id.to_string();
        self.store()
            .write(|tx: &mut Tx| {
                let op = op.clone();
                let payment_id = payment_id.clone();
                let reason = reason.clone();
                Box::pin(async move {
                    let p = pay_store::payment(tx.c(), &payment_id).await.map_err(|e| match e {
                        StoreError::NotFound(_) => EngineError::NotFound(format!("支付 {payment_id}")),
                        other => other.into(),
                    })?;
                    if p.state() != PaymentState::Succeeded {
                        return Err(rule("只有支付成功的交易可以退款"));
                    }
                    // What this payment put where, less what live refunds already take back.
                    let allocations = refund_store::payment_allocations(tx.c(), &p.id).await?;
                    let taken = refund_store::refunded_by_target(tx.c(), &p.id).await?;
                    let mut available: Vec<LineRow> = Vec::new();
                    for (acc_kind, dim, credited) in allocations {
                        let target_kind = if acc_kind == "receivable" { "receivable" } else { "payer_credit" };
                        let already = taken
                            .iter()
                            .find(|(k, t, _)| k == target_kind && *t == dim)
                            .map(|(_, _, a)| *a)
                            .unwrap_or(0);
                        let left = credited - already;
                        if left <= 0 {
                            continue;
                        }
                        let fee_item_id = if target_kind == "receivable" {
                            let r = receivables::receivable(tx.c(), &dim).await?;
                            if op.role == "department" && Some(&r.department_id) != op.department_id.as_ref() {
                                continue; // not this department's fee
                            }
                            Some(r.fee_item_id)
                        } else {
                            None
                        };
                        let wanted = if kind == RefundKind::Overpayment { "payer_credit" } else { "receivable" };
                        if target_kind == wanted {
                            available.push(LineRow {
                                target_kind: target_kind.into(),
                                target_id: dim,
                                fee_item_id,
                                amount_fen: left,
                            });
                        }
                    }
                    let refundable: i64 = available.iter().map(|l| l.amount_fen).sum();
                    if refundable == 0 {
                        return Err(if op.role == "department" {
                            EngineError::NotFound(format!("支付 {payment_id}"))
                        } else {
                            rule("该交易没有可退的金额")
                        });
                    }
                    if amount.get() > refundable {
                        return Err(rule(format!("退款金额 {amount} 元超过可退金额 {} 元", Fen(refundable))));
                    }
                    let refund_id = tx.new_id();
                    let now = tx.now_ms;
                    let new = NewRefund {
                        id: &refund_id,
                        payment_id: &p.id,
                        payer_id: &p.payer_id,
                        amount,
                        kind: kind.as_str(),
                        reason: &reason,
                        requested_by: &op.id,
                    };
                    refund_store::insert(tx.c(), &new, now).await?;
                    let mut left = amount.get();
                    for mut line in available {
                        if left == 0 {
                            break;
                        }
                        line.amount_fen = line.amount_fen.min(left);
                        left -= line.amount_fen;
                        refund_store::insert_line(tx.c(), &refund_id, &line).await?;
                    }
                    let detail =
                        format!("payment={} amount_fen={} kind={} reason={reason}", p.id, amount.get(), kind.as_str());
                    log(tx, &Actor::operator(&op.id), &refund_id, "", "requested", &detail).await?;
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
        self.store()
            .write(|tx: &mut Tx| {
                let payment_id = payment_id.clone();
                Box::pin(async move {
                    let p = pay_store::payment(tx.c(), &payment_id).await?;
                    let credited: i64 = refund_store::payment_allocations(tx.c(), &p.id)
                        .await?
                        .iter()
                        .filter(|(k, _, _)| k == "payer_credit")
                        .map(|(_, _, a)| *a)
                        .sum();
                    let taken: i64 = refund_store::refunded_by_target(tx.c(), &p.id)
                        .await?
                        .iter()
                        .filter(|(k, _, _)| k == "payer_credit")
                        .map(|(_, _, a)| *a)
                        .sum();
                    let left = credited - taken;
                    if left <= 0 {
                        return Ok(None);
                    }
                    let refund_id = tx.new_id();
                    let now = tx.now_ms;
                    let new = NewRefund {
                        id: &refund_id,
                        payment_id: &p.id,
                        payer_id: &p.payer_id,
                        amount: Fen(left),
                        kind: RefundKind::Overpayment.as_str(),
                        reason: "多缴款自动退款",
                        requested_by: "system",
                    };
                    refund_store::insert(tx.c(), &new, now).await?;
                    let line = LineRow {
                        target_kind: "payer_credit".into(),
                        target_id: p.payer_id.clone(),
                        fee_item_id: None,
                        amount_fen: left,
                    };
                    refund_store::insert_line(tx.c(), &refund_id, &line).await?;
                    refund_store::transition(tx.c(), &refund_id, RefundState::Requested, RefundState::Approved, now)
                        .await?;
                    refund_store::set_decided(tx.c(), &refund_id, "system").await?;
                    let r = refund_store::refund(tx.c(), &refund_id).await?;
                    approve_in_tx(tx, &r).await?;
                    let out_refund_no = tx.new_id();
                    let attempt = refund_store::start_attempt(tx.c(), &refund_id, &out_refund_no).await?;
                    enqueue_refund_job(tx, &refund_id, attempt).await?;
                    let detail = format!("payment={} amount_fen={left} automatic refund of an overpayment", p.id);
                    log(tx, &Actor::system("auto_refund"), &refund_id, "", "approved", &detail).await?;
                    Ok(Some(refund_id))
                })
            })
            .await
    }

    /// A business system asks (through the open API) to refund its order's payment as a fee
    /// cancelled. Finance approves or rejects it like any other request.
    pub async fn request_refund_for_app(
        &self,
        app: &bursar_store::api::AppRow,
        payment_id: &str,
        amount: Fen,
        reason: &str,
    ) -> Result<String, EngineError> {
        // The application acts with finance's reach over its own orders (checked by the caller);
        // it is recorded as `app:<app_id>`, never as a person.
        let as_app = OperatorRow {
            id: format!("app:{}", app.app_id),
            username: app.app_id.clone(),
            name: app.name.clone(),
            role: "finance".into(),
            department_id: None,
            password_hash: String::new(),
        };
        self.request_refund(&as_app, payment_id, amount, RefundKind::FeeCancelled, reason).await
    }

    /// Finance approves or rejects a requested refund. Approving posts the approval entry,
    /// adjusts the receivables and queues the channel refund. Deciding twice is refused.
    pub async fn decide_refund(
        &self,
        finance: &OperatorRow,
        refund_id: &str,
        approve: bool,
    ) -> Result<(), EngineError> {
        if finance.role != "finance" {
            return Err(EngineError::NotFound(format!("退款 {refund_id}")));
        }
        let fin = finance.id.clone();
        let refund_id = refund_id.to_string();
        self.store()
            .write(|tx: &mut Tx| {
                let fin = fin.clone();
                let refund_id = refund_id.clone();
                Box::pin(async move {
                    let r = refund_store::refund(tx.c(), &refund_id).await?;
                    if r.state() != RefundState::Requested {
                        return Err(rule(format!("该退款已处理（{}），不能重复审批", r.state().label_zh())));
                    }
                    let now = tx.now_ms;
                    let actor = Actor::operator(&fin);
                    if !approve {
                        refund_store::transition(tx.c(), &r.id, RefundState::Requested, RefundState::Rejected, now)
                            .await?;
                        refund_store::set_decided(tx.c(), &r.id, &fin).await?;
                        log(tx, &actor, &r.id, "requested", "rejected", "").await?;
                        return Ok(());
                    }
                    refund_store::transition(tx.c(), &r.id, RefundState::Requested, RefundState::Approved, now).await?;
                    refund_store::set_decided(tx.c(), &r.id, &fin).await?;
                    approve_in_tx(tx, &r).await?;
                    let out_refund_no = tx.new_id();
                    let attempt = refund_store::start_attempt(tx.c(), &r.id, &out_refund_no).await?;
                    enqueue_refund_job(tx, &r.id, attempt).await?;
                    log(tx, &actor, &r.id, "requested", "approved", &format!("out_refund_no={out_refund_no}")).await?;
                    Ok(())
                })
            })
            .await
    }

    /// The refund job: submits an approved refund to its channel, or asks about one in progress.
    /// Returns when to look again (`None`: final, or waiting for finance).
    pub async fn process_refund(&self, refund_id: &str) -> Result<Option<i64>, EngineError> {
        let mut c = self.store().read().await?;
        let r = refund_store::refund(&mut c, refund_id).await?;
        let p = pay_store::payment(&mut c, &r.payment_id).await?;
        drop(c);
        let Some(out_refund_no) = r.out_refund_no.clone() else { return Ok(None) };
        let channel = self.channel_of_payment(&p)?;
        let now = self.store().now_ms();
        let system = Actor::system("refund_job");
        let notify_url =
            format!("{}/notify/{}", self.config().public_base_url.trim_end_matches('/'), channel.channel());
        let req = RefundRequest {
            merchant_order_no: &p.merchant_order_no,
            out_refund_no: &out_refund_no,
            refund_fen: r.amount_fen,
            total_fen: p.amount_fen,
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
        let outcome = match r.state() {
            RefundState::Approved => submit().await?,
            RefundState::Processing => match channel.refund_query(&p.merchant_order_no, &out_refund_no).await? {
                // The channel does not know it (lost on its side): submit it again.
                RefundOutcome::NotFound => submit().await?,
                o => o,
            },
            _ => return Ok(None),
        };
        match self.apply_refund_outcome(&out_refund_no, &outcome, &system).await? {
            RefundResult::Processing | RefundResult::Unchanged => Ok(Some(now + 10_000)),
            RefundResult::PaidOut | RefundResult::Duplicate | RefundResult::Failed => Ok(None),
        }
    }

    /// Applies what the channel says about a refund (from its notification or a query), in one
    /// transaction; idempotent.
    pub async fn apply_refund_outcome(
        &self,
        out_refund_no: &str,
        outcome: &RefundOutcome,
        actor: &Actor,
    ) -> Result<RefundResult, EngineError> {
        let no = out_refund_no.to_string();
        let outcome = outcome.clone();
        let actor = actor.clone();
        self.store()
            .write(|tx: &mut Tx| {
                let no = no.clone();
                let outcome = outcome.clone();
                let actor = actor.clone();
                Box::pin(async move { apply_refund_in_tx(tx, &no, &outcome, &actor).await })
            })
            .await
    }

    /// Finance sends a failed refund to the channel again (under a new refund number).
    pub async fn retry_refund(&self, finance: &OperatorRow, refund_id: &str) -> Result<(), EngineError> {
        if finance.role != "finance" {
            return Err(EngineError::NotFound(format!("退款 {refund_id}")));
        }
        let fin = finance.id.clone();
        let refund_id = refund_id.to_string();
        self.store()
            .write(|tx: &mut Tx| {
                let fin = fin.clone();
                let refund_id = refund_id.clone();
                Box::pin(async move {
                    let r = refund_store::refund(tx.c(), &refund_id).await?;
                    if r.state() != RefundState::Failed {
                        return Err(rule("只有失败的退款可以重新发起"));
                    }
                    let now = tx.now_ms;
                    refund_store::transition(tx.c(), &r.id, RefundState::Failed, RefundState::Approved, now).await?;
                    let out_refund_no = tx.new_id();
                    let attempt = refund_store::start_attempt(tx.c(), &r.id, &out_refund_no).await?;
                    enqueue_refund_job(tx, &r.id, attempt).await?;
                    log(
                        tx,
                        &Actor::operator(&fin),
                        &r.id,
                        "failed",
                        "approved",
                        &format!("retry out_refund_no={out_refund_no}"),
                    )
                    .await
                })
            })
            .await
    }

    /// Finance pays a failed refund by bank transfer instead: Dr refunds in transit / Cr bank.
    pub async fn manual_refund(
        &self,
        finance: &OperatorRow,
        refund_id: &str,
        bank_reference: &str,
    ) -> Result<(), EngineError> {
        if finance.role != "finance" {
            return Err(EngineError::NotFound(format!("退款 {refund_id}")));
        }
        let reference = bank_reference.trim().to_string();
        if reference.is_empty() || reference.len() > 64 {
            return Err(rule("请填写银行转账流水号"));
        }
        let fin = finance.id.clone();
        let refund_id = refund_id.to_string();
        self.store()
            .write(|tx: &mut Tx| {
                let fin = fin.clone();
                let refund_id = refund_id.clone();
                let reference = reference.clone();
                Box::pin(async move {
                    let r = refund_store::refund(tx.c(), &refund_id).await?;
                    if r.state() != RefundState::Failed {
                        return Err(rule("只有失败的退款可以改为线下转账"));
                    }
                    let now = tx.now_ms;
                    refund_store::transition(tx.c(), &r.id, RefundState::Failed, RefundState::Manual, now).await?;
                    refund_store::set_bank_reference(tx.c(), &r.id, &reference).await?;
                    let entry = ledger::refund_manual(&r.id, "school", Fen(r.amount_fen))?;
                    bursar_store::ledger::post(tx, &entry).await?;
                    update_receipt(tx, &r.payment_id).await?;
                    log(tx, &Actor::operator(&fin), &r.id, "failed", "manual", &format!("bank_reference={reference}"))
                        .await
                })
            })
            .await
    }
}

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

async fn approve_in_tx(tx: &mut Tx, r: &RefundRow) -> Result<(), EngineError> {
    let kind = RefundKind::parse(&r.kind).ok_or_else(|| rule("unknown refund kind"))?;
    let lines = refund_store::lines(tx.c(), &r.id).await?;
    let now = tx.now_ms;
    let mut sources = Vec::with_capacity(lines.len());
    for l in &lines {
        let amount = Fen(l.amount_fen);
        if l.target_kind == "receivable" {
            let rec = receivables::receivable(tx.c(), &l.target_id).await?;
            match kind {
                RefundKind::PaidInError => {
                    receivables::take_back_paid(tx.c(), &rec.id, Fen(rec.paid_fen), amount, false, now).await?
                }
                RefundKind::FeeCancelled => {
                    receivables::take_back_paid(tx.c(), &rec.id, Fen(rec.paid_fen), amount, true, now).await?
                }
                RefundKind::Overpayment => return Err(rule("多缴款退款不能退到应收项目")),
            }
            sources.push(RefundSource::Receivable { receivable_id: rec.id, fee_item_id: rec.fee_item_id, amount });
        } else {
            sources.push(RefundSource::PayerCredit { payer_id: l.target_id.clone(), amount });
        }
    }
    let entry = ledger::refund_approved(&r.id, 1, kind, &sources)?;
    bursar_store::ledger::post(tx, &entry).await?;
    Ok(())
}

/// The receipt follows the money: red-letter (refunded) when all of it went back, partly
/// refunded otherwise.
async fn update_receipt(tx: &mut Tx, payment_id: &str) -> Result<(), EngineError> {
    let p = pay_store::payment(tx.c(), payment_id).await?;
    let paid_out: i64 = refund_store::of_payment(tx.c(), payment_id)
        .await?
        .iter()
        .filter(|r| matches!(r.state(), RefundState::Succeeded | RefundState::Manual))
        .map(|r| r.amount_fen)
        .sum();
    let state = if paid_out >= p.amount_fen {
        "refunded"
    } else if paid_out > 0 {
        "partially_refunded"
    } else {
        "valid"
    };
    let now = tx.now_ms;
    receipts::set_state(tx.c(), payment_id, state, now).await?;
    Ok(())
}

async fn apply_refund_in_tx(
    tx: &mut Tx,
    out_refund_no: &str,
    outcome: &RefundOutcome,
    actor: &Actor,
) -> Result<RefundResult, EngineError> {
    let r = refund_store::by_out_refund_no(tx.c(), out_refund_no)
        .await?
        .ok_or_else(|| EngineError::UnknownPayment(format!("refund {out_refund_no}")))?;
    let state = r.state();
    let now = tx.now_ms;
    match outcome {
        RefundOutcome::Succeeded { channel_refund_id, amount_fen } => {
            if *amount_fen != r.amount_fen {
                return Err(EngineError::AmountMismatch {
                    merchant_order_no: out_refund_no.to_string(),
                    channel_fen: *amount_fen,
                    payment_fen: r.amount_fen,
                });
            }
            if state == RefundState::Succeeded {
                return Ok(RefundResult::Duplicate);
            }
            if !matches!(state, RefundState::Approved | RefundState::Processing | RefundState::Failed) {
                return Err(rule(format!("refund {} is {}, the channel says it was paid out", r.id, state.as_str())));
            }
            refund_store::transition(tx.c(), &r.id, state, RefundState::Succeeded, now).await?;
            refund_store::set_succeeded(tx.c(), &r.id, Some(channel_refund_id), now).await?;
            let p = pay_store::payment(tx.c(), &r.payment_id).await?;
            let clearing = AccountRef::collecting(PayMethod::parse(&p.method), &p.channel, &p.merchant_id);
            let entry = ledger::refund_confirmed(&r.id, clearing, Fen(r.amount_fen))?;
            bursar_store::ledger::post(tx, &entry).await?;
            update_receipt(tx, &r.payment_id).await?;
            log(tx, actor, &r.id, state.as_str(), "succeeded", &format!("channel_refund_id={channel_refund_id}"))
                .await?;
            notify_app(tx, &p.order_id, &r, "refund.succeeded").await?;
            Ok(RefundResult::PaidOut)
        }
        RefundOutcome::Processing { channel_refund_id } => {
            if state == RefundState::Approved {
                refund_store::transition(tx.c(), &r.id, state, RefundState::Processing, now).await?;
                refund_store::set_channel_refund_id(tx.c(), &r.id, channel_refund_id).await?;
                log(tx, actor, &r.id, "approved", "processing", "").await?;
                Ok(RefundResult::Processing)
            } else {
                Ok(RefundResult::Unchanged)
            }
        }
        RefundOutcome::Failed { reason } => {
            if matches!(state, RefundState::Approved | RefundState::Processing) {
                refund_store::transition(tx.c(), &r.id, state, RefundState::Failed, now).await?;
                refund_store::set_failure(tx.c(), &r.id, reason).await?;
                log(tx, actor, &r.id, state.as_str(), "failed", reason).await?;
                let p = pay_store::payment(tx.c(), &r.payment_id).await?;
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
    if let Some(api) = bursar_store::api::order_of(tx.c(), order_id).await? {
        let data = serde_json::json!({
            "order_id": order_id,
            "out_order_no": api.out_order_no,
            "refund": {"id": r.id, "amount_fen": r.amount_fen, "reason": r.reason},
        });
        Engine::emit_event(tx, &api.app_id, kind, data).await?;
    }
    Ok(())
}
