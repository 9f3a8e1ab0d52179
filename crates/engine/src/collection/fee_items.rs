//! Fee items (收费项目) and their path to being collectable: a department (or finance) applies
//! with a proposed set of channels; finance approves — with channels that work — or rejects,
//! with a comment; only then can anyone be charged. Whoever applied cannot approve (four-eyes,
//! unless the school relaxed it). Opening and stopping are op-logged; an item with no usable
//! channel cannot be opened.

use bursar_domain::access::{ApprovalKind, Permission, Principal};
use bursar_domain::audience::Profile;
use bursar_domain::fee::{FeeItemStatus, FeeType};
use bursar_domain::payment::{ChannelKind, MerchantState};
use bursar_domain::Fen;
use bursar_store::merchants as merchant_store;
use bursar_store::receivables::{self as rec_store, FeeItemRow, NewFeeItem};
use bursar_store::{StoreError, Tx};

use crate::engine::{check_decider, log, require, Engine};
use crate::error::{not_found, refused, EngineError};

/// What a department applies for.
#[derive(Clone, Debug)]
pub struct FeeItemApplication {
    pub code: String,
    pub name: String,
    pub department_id: String,
    pub fee_type: FeeType,
    pub window_start_ms: Option<i64>,
    pub window_end_ms: Option<i64>,
    pub partial_allowed: bool,
    pub min_partial: Fen,
    /// Why, for the approver.
    pub note: String,
    /// The channels proposed: (channel, merchant account id).
    pub channels: Vec<(ChannelKind, String)>,
    /// Whom it is for, the receipt it needs and the notice payers read.
    pub profile: Profile,
}

impl FeeItemApplication {
    /// The row it asks for, waiting for review.
    fn new_fee_item<'a>(&'a self, code: &'a str, department_id: &'a str, requested_by: &'a str) -> NewFeeItem<'a> {
        NewFeeItem {
            code,
            name: self.name.trim(),
            department_id,
            fee_type: self.fee_type,
            status: FeeItemStatus::PendingApproval,
            window_start_ms: self.window_start_ms,
            window_end_ms: self.window_end_ms,
            partial_allowed: self.partial_allowed,
            min_partial: self.min_partial,
            requested_by,
            request_note: self.note.trim(),
            profile: &self.profile,
        }
    }

    pub(crate) fn check(&self) -> Result<(), EngineError> {
        let code_ok = (2..=32).contains(&self.code.len())
            && self.code.bytes().all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'-' || b == b'_');
        if !code_ok {
            return Err(refused("项目编码须为 2–32 位字母、数字、-、_（保存为大写）"));
        }
        if self.name.trim().is_empty() || self.name.chars().count() > 60 {
            return Err(refused("请填写收费项目名称（不超过 60 字）"));
        }
        if let (Some(a), Some(b)) = (self.window_start_ms, self.window_end_ms) {
            if b <= a {
                return Err(refused("收费终止时间须晚于起始时间"));
            }
        }
        if self.min_partial.get() < 0 {
            return Err(refused("最小支付金额不能为负"));
        }
        if self.note.chars().count() > 500 {
            return Err(refused("申请说明不超过 500 字"));
        }
        check_profile(&self.profile)
    }
}

/// Checks whom an item is for and its notice (the departments named must exist: checked where
/// the item is written).
pub(crate) fn check_profile(p: &Profile) -> Result<(), EngineError> {
    p.validate().map_err(|e| refused(e.to_string()))?;
    if !p.notice_ok() {
        return Err(refused(format!("缴费须知不超过 {} 字", bursar_domain::audience::MAX_NOTICE_CHARS)));
    }
    // The fields must read back as themselves (names, kinds, options as the form takes them).
    let lines = bursar_domain::project::format_field_lines(&p.fields);
    if lines.chars().count() > 4_000 {
        return Err(refused("缴费时收集的信息过长（不超过 4000 字）"));
    }
    match bursar_domain::project::parse_field_lines(&lines) {
        Ok(back) if back == p.fields => Ok(()),
        Ok(_) => Err(refused("缴费时收集的信息写法不正确")),
        Err(e) => Err(refused(format!("缴费时收集的信息：{e}"))),
    }
}

/// The departments an audience names must exist.
pub(crate) async fn check_audience_departments(tx: &mut Tx, p: &Profile) -> Result<(), EngineError> {
    if p.audience.departments.is_empty() {
        return Ok(());
    }
    let known = bursar_store::payers::departments(tx).await?;
    if p.audience.departments.iter().any(|d| !known.iter().any(|(id, _)| id == d)) {
        return Err(refused("收费院系中有不存在的院系"));
    }
    Ok(())
}

/// The channels of an item that can collect now (active merchant account), for opening it.
async fn usable_channels(tx: &mut Tx, fee_item_id: &str) -> Result<usize, EngineError> {
    Ok(merchant_store::routes_of_item(tx, fee_item_id)
        .await?
        .iter()
        .filter(|(_, m)| m.state == MerchantState::Active)
        .count())
}

/// Sets an item's channels to exactly `channels` (each into an active account of its channel).
pub(crate) async fn set_item_channels(
    tx: &mut Tx,
    fee_item_id: &str,
    channels: &[(ChannelKind, String)],
) -> Result<(), EngineError> {
    for &channel in ChannelKind::ALL {
        match channels.iter().find(|(c, _)| *c == channel) {
            Some((_, account)) => merchant_store::enable_channel(tx, fee_item_id, channel, account)
                .await
                .map_err(not_found(format!("{}收款账户", channel.label_zh())))?,
            None => merchant_store::disable_channel(tx, fee_item_id, channel).await?,
        }
    }
    Ok(())
}

impl Engine {
    /// Applies for a fee item (pending finance's approval), for one of the applicant's
    /// departments. Returns its id.
    pub async fn apply_fee_item(&self, by: &Principal, a: &FeeItemApplication) -> Result<String, EngineError> {
        let scope = require(by, Permission::ApplyFeeItem)?;
        a.check()?;
        if !scope.covers_department(&a.department_id) {
            return Err(refused("只能为本部门申请收费项目"));
        }
        let (by, a) = (by.clone(), a.clone());
        self.store()
            .write(|tx: &mut Tx| {
                let (by, a) = (by.clone(), a.clone());
                Box::pin(async move { insert_application(tx, &by, &a).await })
            })
            .await
    }

    /// Finance decides on a fee item waiting for approval: approve it (collecting, or stopped
    /// until finance opens it) with the channels it collects through, or reject it; with a
    /// comment. Whoever applied cannot decide.
    pub async fn decide_fee_item(
        &self,
        by: &Principal,
        fee_item_id: &str,
        decision: FeeItemDecision,
        comment: &str,
    ) -> Result<(), EngineError> {
        require(by, Permission::ApproveFeeItem)?;
        let comment = comment.trim().to_string();
        if comment.chars().count() > 500 {
            return Err(refused("审批意见不超过 500 字"));
        }
        if matches!(decision, FeeItemDecision::Reject) && comment.is_empty() {
            return Err(refused("驳回时请填写原因"));
        }
        let (by, id) = (by.clone(), fee_item_id.to_string());
        self.store()
            .write(|tx: &mut Tx| {
                let (by, id, decision, comment) = (by.clone(), id.clone(), decision.clone(), comment.clone());
                Box::pin(async move {
                    let item = rec_store::fee_item(tx, &id).await.map_err(not_found(format!("收费项目 {id}")))?;
                    if item.status != FeeItemStatus::PendingApproval {
                        return Err(refused(format!("该收费项目{}，不能重复审批", item.status.label_zh())));
                    }
                    check_decider(tx, ApprovalKind::FeeItem, &item.requested_by, &by).await?;
                    let to = match &decision {
                        FeeItemDecision::Approve { channels, open } => {
                            set_item_channels(tx, &id, channels).await?;
                            if usable_channels(tx, &id).await? == 0 {
                                return Err(refused("请至少选择一个可用的收款渠道"));
                            }
                            if *open {
                                FeeItemStatus::Collecting
                            } else {
                                FeeItemStatus::Stopped
                            }
                        }
                        FeeItemDecision::Reject => FeeItemStatus::Rejected,
                    };
                    rec_store::set_fee_item_status(tx, &id, item.status, to).await?;
                    let comment = if comment.is_empty() { "同意".to_string() } else { comment };
                    rec_store::set_fee_item_decision(tx, &id, &by.actor_ref(), &comment).await?;
                    let action = if to == FeeItemStatus::Rejected { "fee_item.reject" } else { "fee_item.approve" };
                    log(tx, &by, action, ("fee_item", &id), (item.status.as_str(), to.as_str()), &comment).await
                })
            })
            .await
    }

    /// Opens (collecting) or stops an approved fee item. An item with no usable channel cannot
    /// be opened.
    pub async fn set_fee_item_open(&self, by: &Principal, fee_item_id: &str, open: bool) -> Result<(), EngineError> {
        require(by, Permission::ApproveFeeItem)?;
        let (by, id) = (by.clone(), fee_item_id.to_string());
        self.store()
            .write(|tx: &mut Tx| {
                let (by, id) = (by.clone(), id.clone());
                Box::pin(async move {
                    let item = rec_store::fee_item(tx, &id).await.map_err(not_found(format!("收费项目 {id}")))?;
                    let to = if open { FeeItemStatus::Collecting } else { FeeItemStatus::Stopped };
                    if item.status == to {
                        return Ok(());
                    }
                    if !item.status.can_become(to) || !item.status.is_approved() {
                        return Err(refused(format!("该收费项目{}，不能{}", item.status.label_zh(), to.label_zh())));
                    }
                    if open && usable_channels(tx, &id).await? == 0 {
                        return Err(refused("该收费项目没有可用的收款渠道，请先设置收款渠道"));
                    }
                    rec_store::set_fee_item_status(tx, &id, item.status, to).await?;
                    log(tx, &by, "fee_item.status", ("fee_item", &id), (item.status.as_str(), to.as_str()), "").await
                })
            })
            .await
    }

    /// Closes an approved fee item for good (已关闭: the year's collection is over), with a
    /// reason. Nothing can be paid or raised for it any more; what was paid stays.
    pub async fn close_fee_item(&self, by: &Principal, fee_item_id: &str, reason: &str) -> Result<(), EngineError> {
        require(by, Permission::ApproveFeeItem)?;
        let reason = reason.trim().to_string();
        if reason.is_empty() || reason.chars().count() > 200 {
            return Err(refused("请填写关闭原因（不超过 200 字）"));
        }
        let (by, id) = (by.clone(), fee_item_id.to_string());
        self.store()
            .write(|tx: &mut Tx| {
                let (by, id, reason) = (by.clone(), id.clone(), reason.clone());
                Box::pin(async move {
                    let item = rec_store::fee_item(tx, &id).await.map_err(not_found(format!("收费项目 {id}")))?;
                    if !item.status.can_become(FeeItemStatus::Closed) {
                        return Err(refused(format!("该收费项目{}，不能关闭", item.status.label_zh())));
                    }
                    rec_store::set_fee_item_status(tx, &id, item.status, FeeItemStatus::Closed).await?;
                    log(tx, &by, "fee_item.close", ("fee_item", &id), (item.status.as_str(), "closed"), &reason).await
                })
            })
            .await
    }

    /// Sets which channels a fee item accepts and into which merchant account (收款渠道).
    pub async fn set_fee_item_channels(
        &self,
        by: &Principal,
        fee_item_id: &str,
        channels: &[(ChannelKind, String)],
    ) -> Result<(), EngineError> {
        require(by, Permission::ManageChannels)?;
        let (by, id, channels) = (by.clone(), fee_item_id.to_string(), channels.to_vec());
        self.store()
            .write(|tx: &mut Tx| {
                let (by, id, channels) = (by.clone(), id.clone(), channels.clone());
                Box::pin(async move {
                    rec_store::fee_item(tx, &id).await.map_err(not_found(format!("收费项目 {id}")))?;
                    set_item_channels(tx, &id, &channels).await?;
                    let detail =
                        channels.iter().map(|(c, m)| format!("{}={m}", c.as_str())).collect::<Vec<_>>().join(",");
                    log(tx, &by, "fee_item.channels", ("fee_item", &id), ("", ""), &detail).await
                })
            })
            .await
    }
}

impl Engine {
    /// Sets channel routes of several fee items at once (收款渠道 page): each (item, channel) to
    /// a merchant account, or off (`None`). One transaction; each change logged.
    pub async fn set_routes(
        &self,
        by: &Principal,
        changes: &[(String, ChannelKind, Option<String>)],
    ) -> Result<usize, EngineError> {
        require(by, Permission::ManageChannels)?;
        let (by, changes) = (by.clone(), changes.to_vec());
        self.store()
            .write(|tx: &mut Tx| {
                let (by, changes) = (by.clone(), changes.clone());
                Box::pin(async move {
                    let current = merchant_store::route_ids(tx).await?;
                    let mut changed = 0;
                    for (item, channel, account) in &changes {
                        let before = current
                            .iter()
                            .find(|(i, c, _)| i == item && c == channel)
                            .map(|(_, _, m)| m.clone())
                            .unwrap_or_default();
                        let after = account.clone().unwrap_or_default();
                        if before == after {
                            continue;
                        }
                        rec_store::fee_item(tx, item).await.map_err(not_found(format!("收费项目 {item}")))?;
                        match account {
                            Some(a) => merchant_store::enable_channel(tx, item, *channel, a)
                                .await
                                .map_err(|_| refused("收款账户无效"))?,
                            None => merchant_store::disable_channel(tx, item, *channel).await?,
                        }
                        let entity = format!("{item}:{}", channel.as_str());
                        log(tx, &by, "fee_item.channel", ("fee_item_channel", &entity), (&before, &after), "").await?;
                        changed += 1;
                    }
                    Ok(changed)
                })
            })
            .await
    }
}

/// Finance's decision on an application.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FeeItemDecision {
    /// Approve with these channels; `open`: collect at once (else stopped until opened).
    Approve {
        channels: Vec<(ChannelKind, String)>,
        open: bool,
    },
    Reject,
}

/// Inserts an application (and its proposed channels) in the caller's transaction.
pub(crate) async fn insert_application(
    tx: &mut Tx,
    by: &Principal,
    a: &FeeItemApplication,
) -> Result<String, EngineError> {
    let now = tx.now_ms;
    if rec_store::fee_item_by_code(tx, &a.code).await?.is_some() {
        return Err(refused(format!("编码 {} 已被使用", a.code)));
    }
    check_audience_departments(tx, &a.profile).await?;
    let id = tx.new_id();
    let requested_by = by.actor_ref();
    let item = a.new_fee_item(&a.code, &a.department_id, &requested_by);
    rec_store::insert_fee_item(tx, &id, &item, now).await.map_err(|e| match e {
        StoreError::Duplicate(_) => refused(format!("编码 {} 已被使用", a.code)),
        other => other.into(),
    })?;
    set_item_channels(tx, &id, &a.channels).await?;
    let detail = format!("code={} type={} note={}", a.code, a.fee_type.as_str(), a.note.trim());
    log(tx, by, "fee_item.apply", ("fee_item", &id), ("", "pending_approval"), &detail).await?;
    file_if_filing_only(tx, by, &id, a.fee_type).await?;
    Ok(id)
}

/// 备案: an item of a kind the school only files needs no review; it waits, stopped, for finance
/// to set its channels and open it.
async fn file_if_filing_only(tx: &mut Tx, by: &Principal, id: &str, fee_type: FeeType) -> Result<(), EngineError> {
    if super::filing::filed_types(tx).await?.contains(&fee_type) {
        let from = FeeItemStatus::PendingApproval;
        rec_store::set_fee_item_status(tx, id, from, FeeItemStatus::Stopped).await?;
        rec_store::set_fee_item_decision(tx, id, "system:filing", "已备案（该类收费只需备案）").await?;
        log(tx, by, "fee_item.file", ("fee_item", id), (from.as_str(), "stopped"), "filing only").await?;
    }
    Ok(())
}

impl Engine {
    /// Sends a rejected application back for review with new terms (the code stays): whoever
    /// may apply for the department's items, after reading the approver's reason.
    pub async fn resubmit_fee_item(
        &self,
        by: &Principal,
        fee_item_id: &str,
        a: &FeeItemApplication,
    ) -> Result<(), EngineError> {
        let scope = require(by, Permission::ApplyFeeItem)?;
        a.check()?;
        if !scope.covers_department(&a.department_id) {
            return Err(refused("只能为本部门申请收费项目"));
        }
        let (by, id, a) = (by.clone(), fee_item_id.to_string(), a.clone());
        self.store()
            .write(|tx: &mut Tx| {
                let (by, id, a, scope) = (by.clone(), id.clone(), a.clone(), scope.clone());
                Box::pin(async move {
                    let item = rec_store::fee_item(tx, &id).await.map_err(not_found("收费项目"))?;
                    if !scope.covers_fee_item(&item.id, &item.department_id) {
                        return Err(EngineError::NotFound("收费项目".into()));
                    }
                    if item.status != FeeItemStatus::Rejected {
                        return Err(refused(format!(
                            "该收费项目{}，只有未通过的申请可以修改后重新提交",
                            item.status.label_zh()
                        )));
                    }
                    if a.code != item.code || a.department_id != item.department_id {
                        return Err(refused("重新提交时项目编码和所属部门不能修改"));
                    }
                    check_audience_departments(tx, &a.profile).await?;
                    let requested_by = by.actor_ref();
                    let terms = a.new_fee_item(&item.code, &item.department_id, &requested_by);
                    if !rec_store::resubmit_fee_item(tx, &id, &terms).await? {
                        return Err(refused("该申请已被处理，请刷新后再试"));
                    }
                    let detail = format!("type={} note={}", a.fee_type.as_str(), a.note.trim());
                    log(tx, &by, "fee_item.resubmit", ("fee_item", &id), ("rejected", "pending_approval"), &detail)
                        .await?;
                    file_if_filing_only(tx, &by, &id, a.fee_type).await
                })
            })
            .await
    }
}

/// A fee item as read by a department or finance.
pub type FeeItem = FeeItemRow;
