//! Reductions and waivers (减免), and deferrals (缓缴): a department or finance asks to reduce what
//! a payer owes (by an amount, or all that is left), or to let it wait until a date (hardship, the
//! green channel for new students, a student loan expected to pay it), with a reason; another
//! person decides (four eyes, like refunds). A waiver's approval reduces the receivable by
//! compare-and-set — never below what is paid — and posts the waiver (Dr fee income / Cr
//! receivable) in the same transaction as the decision and its log. A deferral's approval changes
//! no amount (nothing is posted): the receivable carries its date, and arrears counts leave it out
//! until then.

use bursar_domain::access::{ApprovalKind, Permission, Principal};
use bursar_domain::fee::{DeferralKind, Reduction, WaiverState};
use bursar_domain::{ledger, Fen};
use bursar_store::deferrals::{self as deferral_store, DeferralRow};
use bursar_store::receivables as rec_store;
use bursar_store::waivers::{self as store, WaiverRow};
use bursar_store::Tx;

use crate::engine::{check_decider, log, require, Engine};
use crate::error::{refused, EngineError};

impl Engine {
    /// Asks to reduce a receivable by `amount` (`None`: all that is still owed). Returns the
    /// request's id.
    pub async fn request_waiver(
        &self,
        by: &Principal,
        receivable_id: &str,
        amount: Option<Fen>,
        reason: &str,
    ) -> Result<String, EngineError> {
        let reduction = amount.map_or(Reduction::All, Reduction::By);
        self.request_reduction(by, receivable_id, reduction, reason).await
    }

    /// Asks to reduce a receivable by an amount, down to an amount, or wholly; what it comes to is
    /// reckoned from what is owed in the same transaction. Returns the request's id.
    pub async fn request_reduction(
        &self,
        by: &Principal,
        receivable_id: &str,
        reduction: Reduction,
        reason: &str,
    ) -> Result<String, EngineError> {
        let scope = require(by, Permission::RequestWaiver)?;
        let reason = reason.trim().to_string();
        if reason.is_empty() || reason.chars().count() > 200 {
            return Err(refused("请填写减免原因（不超过 200 字，如文件号、困难认定）"));
        }
        let (by, rid) = (by.clone(), receivable_id.to_string());
        self.store()
            .write(|tx: &mut Tx| {
                let (by, rid, reason, scope) = (by.clone(), rid.clone(), reason.clone(), scope.clone());
                Box::pin(async move {
                    let r = receivable_in_scope(tx, &scope, &rid).await?;
                    let amount = reduction.amount(r.outstanding()).map_err(refused)?;
                    let id = tx.new_id();
                    store::insert(tx, &id, &rid, amount, &reason, &by.actor_ref(), None).await?;
                    let detail = format!("receivable={rid} amount_fen={} reason={reason}", amount.get());
                    log(tx, &by, "waiver.request", ("waiver", &id), ("", "requested"), &detail).await?;
                    Ok(id)
                })
            })
            .await
    }

    /// Approves or rejects a request. An approval reduces what is still owed by the amount asked
    /// (refused when less is owed by now: paid meanwhile, or another waiver approved first).
    pub async fn decide_waiver(
        &self,
        by: &Principal,
        id: &str,
        approve: bool,
        comment: &str,
    ) -> Result<(), EngineError> {
        require(by, Permission::ApproveWaiver)?;
        let comment = comment.trim().to_string();
        if !approve && comment.is_empty() {
            return Err(refused("驳回须写明原因"));
        }
        let (by, id) = (by.clone(), id.to_string());
        self.store()
            .write(|tx: &mut Tx| {
                let (by, id, comment) = (by.clone(), id.clone(), comment.clone());
                Box::pin(async move { decide_in_tx(tx, &by, &id, approve, &comment).await })
            })
            .await
    }

    /// Requests (waiting first) for finance.
    pub async fn waivers(
        &self,
        by: &Principal,
    ) -> Result<Vec<(WaiverRow, rec_store::ReceivableView, PayerBrief)>, EngineError> {
        require(by, Permission::ApproveWaiver).or_else(|_| require(by, Permission::RequestWaiver))?;
        let mut c = self.store().read().await?;
        let mut out = Vec::new();
        let mut briefs = Briefs::default();
        for w in store::list(&mut c, 200).await? {
            let r = rec_store::receivable(&mut c, &w.receivable_id).await?;
            if by.require(Permission::ApproveWaiver).is_ok()
                || by
                    .require(Permission::RequestWaiver)
                    .is_ok_and(|s| s.covers_fee_item(&r.fee_item_id, &r.department_id))
            {
                let who = briefs.of(&mut c, &r.payer_id).await?;
                out.push((w, r, who));
            }
        }
        Ok(out)
    }
}

/// Whose request it is, as an approver must read it: the payer's number and name.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PayerBrief {
    pub identifier: String,
    pub name: String,
}

/// Payers read once each for a list of requests.
#[derive(Default)]
struct Briefs(std::collections::HashMap<String, PayerBrief>);

impl Briefs {
    async fn of(&mut self, c: &mut impl bursar_store::Conn, payer_id: &str) -> Result<PayerBrief, EngineError> {
        if let Some(b) = self.0.get(payer_id) {
            return Ok(b.clone());
        }
        let p = bursar_store::payers::payer(c, payer_id).await?;
        let b = PayerBrief { identifier: p.identifier, name: p.name };
        self.0.insert(payer_id.to_string(), b.clone());
        Ok(b)
    }
}

/// A receivable the asker's scope covers (`NotFound` otherwise, as if it did not exist).
async fn receivable_in_scope(
    tx: &mut Tx,
    scope: &bursar_domain::Scope,
    rid: &str,
) -> Result<rec_store::ReceivableView, EngineError> {
    let r = rec_store::receivable(tx, rid).await.map_err(|_| EngineError::NotFound(format!("应收 {rid}")))?;
    if !scope.covers_fee_item(&r.fee_item_id, &r.department_id) {
        return Err(EngineError::NotFound(format!("应收 {rid}")));
    }
    Ok(r)
}

pub(crate) async fn decide_in_tx(
    tx: &mut Tx,
    by: &Principal,
    id: &str,
    approve: bool,
    comment: &str,
) -> Result<(), EngineError> {
    let w = store::get(tx, id).await?.ok_or_else(|| EngineError::NotFound(format!("减免申请 {id}")))?;
    if w.state != WaiverState::Requested {
        return Err(refused("该申请已处理"));
    }
    check_decider(tx, ApprovalKind::Waiver, &w.requested_by, by).await?;
    let state = if approve { WaiverState::Approved } else { WaiverState::Rejected };
    if !store::decide(tx, id, state, &by.actor_ref(), comment).await? {
        return Err(refused("该申请已处理"));
    }
    if approve {
        let r = rec_store::receivable(tx, &w.receivable_id).await?;
        if w.amount_fen > r.outstanding() {
            return Err(refused(format!(
                "该项现仅欠 ¥{}，少于申请减免的 ¥{}（其间已缴费或已减免），请驳回后重新申请",
                r.outstanding(),
                w.amount_fen
            )));
        }
        let now = tx.now_ms;
        rec_store::waive_outstanding(tx, &r.id, r.waived_fen, w.amount_fen, now).await?;
        let entry = ledger::waiver(&r.id, &r.fee_item_id, w.amount_fen, &format!("waiver:{id}"))?;
        bursar_store::ledger::post(tx, &entry).await?;
    }
    log(tx, by, "waiver.decide", ("waiver", id), ("requested", state.as_str()), comment).await
}

impl Engine {
    /// Cancels a receivable nothing has been paid on (raised in error, a student who left), with
    /// a reason: what it owed is written off with the waiver posting, in one transaction with
    /// its log line. One with money paid on it is refused (refund, or ask for a reduction).
    pub async fn cancel_receivable(
        &self,
        by: &Principal,
        receivable_id: &str,
        reason: &str,
    ) -> Result<String, EngineError> {
        require(by, Permission::RaiseReceivables)?;
        let reason = reason.trim().to_string();
        if reason.is_empty() || reason.chars().count() > 200 {
            return Err(refused("请填写取消原因（不超过 200 字）"));
        }
        let (by, rid) = (by.clone(), receivable_id.to_string());
        self.store()
            .write(|tx: &mut Tx| {
                let (by, rid, reason) = (by.clone(), rid.clone(), reason.clone());
                Box::pin(async move {
                    let r = rec_store::receivable(tx, &rid)
                        .await
                        .map_err(|_| EngineError::NotFound(format!("应收 {rid}")))?;
                    if r.paid_fen.is_positive() {
                        return Err(refused("该应收已有缴费，不能取消（请走退款或申请减免）"));
                    }
                    let owed = r.outstanding();
                    if !owed.is_positive() {
                        return Err(refused("该应收已无欠费，无需取消"));
                    }
                    // Writing off what is owed needs a second person, as a reduction does: the
                    // cancellation is a request to waive all of it, decided on 减免缓缴.
                    let waiting = store::of_receivable(tx, &rid).await?;
                    if waiting.iter().any(|w| w.state == WaiverState::Requested) {
                        return Err(refused("该应收已有待审批的减免或取消申请，请等审批后再办理"));
                    }
                    let id = tx.new_id();
                    let why = format!("取消应收：{reason}");
                    store::insert(tx, &id, &rid, owed, &why, &by.actor_ref(), None).await?;
                    let detail = format!("amount_fen={} reason={reason}", owed.get());
                    log(tx, &by, "receivable.cancel", ("receivable", &rid), ("", "requested"), &detail).await?;
                    let detail = format!("receivable={rid} amount_fen={} reason={why}", owed.get());
                    log(tx, &by, "waiver.request", ("waiver", &id), ("", "requested"), &detail).await?;
                    Ok(id)
                })
            })
            .await
    }
}

/// The longest a deferral may run: a year and a half (to the end of the next academic year).
pub(crate) const MAX_DEFERRAL_MS: i64 = 550 * 24 * 3_600_000;

impl Engine {
    /// Asks to defer what a receivable still owes until `until_ms` (缓缴, 绿色通道, or a student
    /// loan expected to pay it). Returns the request's id.
    pub async fn request_deferral(
        &self,
        by: &Principal,
        receivable_id: &str,
        kind: DeferralKind,
        until_ms: i64,
        reason: &str,
    ) -> Result<String, EngineError> {
        let scope = require(by, Permission::RequestWaiver)?;
        let reason = reason.trim().to_string();
        if reason.is_empty() || reason.chars().count() > 200 {
            return Err(refused("请填写缓缴原因（不超过 200 字，如困难认定、贷款合同号）"));
        }
        let (by, rid) = (by.clone(), receivable_id.to_string());
        self.store()
            .write(|tx: &mut Tx| {
                let (by, rid, reason, scope) = (by.clone(), rid.clone(), reason.clone(), scope.clone());
                Box::pin(async move {
                    let r = receivable_in_scope(tx, &scope, &rid).await?;
                    if !r.outstanding().is_positive() {
                        return Err(refused("该项已无欠费，无需缓缴"));
                    }
                    let now = tx.now_ms;
                    if until_ms <= now || until_ms > now + MAX_DEFERRAL_MS {
                        return Err(refused("缓缴截止日期须在今天之后、一年半以内"));
                    }
                    let row = DeferralRow {
                        id: tx.new_id(),
                        receivable_id: rid.clone(),
                        kind,
                        until_ms,
                        reason: reason.clone(),
                        state: WaiverState::Requested,
                        requested_by: by.actor_ref(),
                        decided_by: None,
                        decision_comment: None,
                        created_at_ms: now,
                        decided_at_ms: None,
                        batch_id: None,
                    };
                    match deferral_store::insert(tx, &row).await {
                        Err(bursar_store::StoreError::Duplicate(_)) => {
                            return Err(refused("该项已有待审批的缓缴申请"));
                        }
                        other => other?,
                    }
                    let detail = format!(
                        "receivable={rid} deferral={} until={} reason={reason}",
                        kind.as_str(),
                        bursar_domain::time_fmt::date_cst(until_ms)
                    );
                    log(tx, &by, "deferral.request", ("deferral", &row.id), ("", "requested"), &detail).await?;
                    Ok(row.id)
                })
            })
            .await
    }

    /// Approves (the receivable waits until the date) or rejects a deferral request.
    pub async fn decide_deferral(
        &self,
        by: &Principal,
        id: &str,
        approve: bool,
        comment: &str,
    ) -> Result<(), EngineError> {
        require(by, Permission::ApproveWaiver)?;
        let comment = comment.trim().to_string();
        if !approve && comment.is_empty() {
            return Err(refused("驳回须写明原因"));
        }
        let (by, id) = (by.clone(), id.to_string());
        self.store()
            .write(|tx: &mut Tx| {
                let (by, id, comment) = (by.clone(), id.clone(), comment.clone());
                Box::pin(async move { decide_deferral_in_tx(tx, &by, &id, approve, &comment).await })
            })
            .await
    }

    /// Deferral requests (waiting first) this operator may see.
    pub async fn deferrals(
        &self,
        by: &Principal,
    ) -> Result<Vec<(DeferralRow, rec_store::ReceivableView, PayerBrief)>, EngineError> {
        require(by, Permission::ApproveWaiver).or_else(|_| require(by, Permission::RequestWaiver))?;
        let mut c = self.store().read().await?;
        let mut out = Vec::new();
        let mut briefs = Briefs::default();
        for d in deferral_store::list(&mut c, 200).await? {
            let r = rec_store::receivable(&mut c, &d.receivable_id).await?;
            if by.require(Permission::ApproveWaiver).is_ok()
                || by
                    .require(Permission::RequestWaiver)
                    .is_ok_and(|s| s.covers_fee_item(&r.fee_item_id, &r.department_id))
            {
                let who = briefs.of(&mut c, &r.payer_id).await?;
                out.push((d, r, who));
            }
        }
        Ok(out)
    }
}

/// Decides one deferral request in the caller's transaction (four eyes; an approval sets the
/// receivable's date).
pub(crate) async fn decide_deferral_in_tx(
    tx: &mut Tx,
    by: &Principal,
    id: &str,
    approve: bool,
    comment: &str,
) -> Result<(), EngineError> {
    let d = deferral_store::get(tx, id).await?.ok_or_else(|| EngineError::NotFound(format!("缓缴申请 {id}")))?;
    if d.state != WaiverState::Requested {
        return Err(refused("该申请已处理"));
    }
    check_decider(tx, ApprovalKind::Deferral, &d.requested_by, by).await?;
    let state = if approve { WaiverState::Approved } else { WaiverState::Rejected };
    if !deferral_store::decide(tx, id, state, &by.actor_ref(), comment).await? {
        return Err(refused("该申请已处理"));
    }
    if approve && !rec_store::defer(tx, &d.receivable_id, d.until_ms, d.kind.as_str()).await? {
        return Err(refused("该项其间已缴清，无需缓缴，请驳回"));
    }
    log(tx, by, "deferral.decide", ("deferral", id), ("requested", state.as_str()), comment).await
}
