//! Changing an approved fee item (收费项目变更): its name, collection window and partial-payment
//! terms. Whoever may apply for the item asks, with a reason; another person with the approval
//! right decides (four eyes, as for the item itself); only an approval changes what payers see,
//! in the same transaction as the decision and its log line. Every version is kept.

use bursar_domain::access::{ApprovalKind, Permission, Principal};
use bursar_domain::fee::{FeeItemStatus, WaiverState};
use bursar_store::fee_item_changes::{self as store, ChangeRow, Terms};
use bursar_store::receivables as rec_store;
use bursar_store::{StoreError, Tx};

use crate::engine::{check_decider, log, require, Engine};
use crate::error::{not_found, refused, EngineError};

fn check(t: &Terms, note: &str) -> Result<(), EngineError> {
    if t.name.trim().is_empty() || t.name.chars().count() > 60 {
        return Err(refused("请填写收费项目名称（不超过 60 字）"));
    }
    if let (Some(a), Some(b)) = (t.window_start_ms, t.window_end_ms) {
        if b <= a {
            return Err(refused("收费终止时间须晚于起始时间"));
        }
    }
    if t.min_partial.get() < 0 {
        return Err(refused("最小支付金额不能为负"));
    }
    if note.trim().is_empty() || note.chars().count() > 500 {
        return Err(refused("请填写变更原因（不超过 500 字）"));
    }
    super::fee_items::check_profile(&t.profile)
}

/// What a change changes, in words for the log (only what differs).
fn describe(was: &Terms, to: &Terms) -> String {
    let mut parts = Vec::new();
    if was.name != to.name {
        parts.push(format!("name={}", to.name));
    }
    if (was.window_start_ms, was.window_end_ms) != (to.window_start_ms, to.window_end_ms) {
        let day = |ms: Option<i64>, end: bool| match ms {
            Some(ms) => bursar_domain::time_fmt::date_cst(if end { ms - 1 } else { ms }),
            None => "不限".to_string(),
        };
        parts.push(format!("window={}~{}", day(to.window_start_ms, false), day(to.window_end_ms, true)));
    }
    if (was.partial_allowed, was.min_partial) != (to.partial_allowed, to.min_partial) {
        parts.push(format!("partial={} min_partial_fen={}", to.partial_allowed, to.min_partial.get()));
    }
    if was.profile.receipt_kind != to.profile.receipt_kind {
        parts.push(format!("receipt_kind={}", to.profile.receipt_kind.as_str()));
    }
    if was.profile.audience != to.profile.audience {
        parts.push(format!("audience={}", to.profile.audience.to_stored().join("|")));
    }
    if was.profile.notice != to.profile.notice {
        parts.push("notice changed".to_string());
    }
    if was.profile.fields != to.profile.fields {
        let names: Vec<&str> = to.profile.fields.iter().map(|f| f.name.as_str()).collect();
        parts.push(format!("fields={}", names.join(",")));
    }
    parts.join(" ")
}

impl Engine {
    /// Asks to change an approved item's terms. Returns the change's id.
    pub async fn request_fee_item_change(
        &self,
        by: &Principal,
        fee_item_id: &str,
        terms: &Terms,
        note: &str,
    ) -> Result<String, EngineError> {
        let scope = require(by, Permission::ApplyFeeItem)?;
        let terms = Terms { name: terms.name.trim().to_string(), ..terms.clone() };
        let note = note.trim().to_string();
        check(&terms, &note)?;
        let (by, id) = (by.clone(), fee_item_id.to_string());
        self.store()
            .write(|tx: &mut Tx| {
                let (by, id, terms, note, scope) = (by.clone(), id.clone(), terms.clone(), note.clone(), scope.clone());
                Box::pin(async move {
                    let item = rec_store::fee_item(tx, &id).await.map_err(not_found("收费项目"))?;
                    if !scope.covers_fee_item(&item.id, &item.department_id) {
                        return Err(EngineError::NotFound("收费项目".into()));
                    }
                    if !item.status.is_approved() || item.status == FeeItemStatus::Closed {
                        return Err(refused(format!("该收费项目{}，不能申请变更", item.status.label_zh())));
                    }
                    let current = Terms {
                        name: item.name.clone(),
                        window_start_ms: item.window_start_ms,
                        window_end_ms: item.window_end_ms,
                        partial_allowed: item.partial_allowed != 0,
                        min_partial: item.min_partial_fen,
                        profile: item.profile(),
                    };
                    if current == terms {
                        return Err(refused("没有改动"));
                    }
                    super::fee_items::check_audience_departments(tx, &terms.profile).await?;
                    let change_id = tx.new_id();
                    let version = match store::insert(tx, &change_id, &id, &terms, &note, &by.actor_ref()).await {
                        Err(StoreError::Duplicate(_)) => {
                            return Err(refused("该项目已有待审批的变更，请等审批后再申请"))
                        }
                        other => other?,
                    };
                    let detail = format!("version={version} {} note={note}", describe(&current, &terms));
                    log(tx, &by, "fee_item.change_request", ("fee_item", &id), ("", "requested"), &detail).await?;
                    Ok(change_id)
                })
            })
            .await
    }

    /// Approves (the item takes the new terms) or rejects a change; a rejection needs a reason.
    pub async fn decide_fee_item_change(
        &self,
        by: &Principal,
        change_id: &str,
        approve: bool,
        comment: &str,
    ) -> Result<(), EngineError> {
        require(by, Permission::ApproveFeeItem)?;
        let comment = comment.trim().to_string();
        if !approve && comment.is_empty() {
            return Err(refused("驳回须写明原因"));
        }
        let (by, id) = (by.clone(), change_id.to_string());
        self.store()
            .write(|tx: &mut Tx| {
                let (by, id, comment) = (by.clone(), id.clone(), comment.clone());
                Box::pin(async move {
                    let ch = store::get(tx, &id).await?.ok_or_else(|| EngineError::NotFound("变更申请".into()))?;
                    if ch.state != WaiverState::Requested {
                        return Err(refused("该变更已审批"));
                    }
                    check_decider(tx, ApprovalKind::FeeItem, &ch.requested_by, &by).await?;
                    let before = rec_store::fee_item(tx, &ch.fee_item_id).await?;
                    if !store::decide(tx, &ch, approve, &by.actor_ref(), &comment).await? {
                        return Err(refused("该变更已审批"));
                    }
                    let (action, after) = if approve {
                        ("fee_item.change_approve", format!("version {} in force", ch.version))
                    } else {
                        ("fee_item.change_reject", format!("version {} rejected", ch.version))
                    };
                    let detail = format!("{after}; was name={}; {comment}", before.name);
                    log(tx, &by, action, ("fee_item", &ch.fee_item_id), ("", ""), &detail).await
                })
            })
            .await
    }

    /// An item's changes, latest first.
    pub async fn fee_item_changes(&self, by: &Principal, fee_item_id: &str) -> Result<Vec<ChangeRow>, EngineError> {
        require(by, Permission::ViewCollection)
            .or_else(|_| require(by, Permission::ApplyFeeItem))
            .or_else(|_| require(by, Permission::ApproveFeeItem))?;
        let mut c = self.store().read().await?;
        Ok(store::of_item(&mut c, fee_item_id).await?)
    }
}
