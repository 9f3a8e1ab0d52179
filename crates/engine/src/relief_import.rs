//! Reductions and deferrals in bulk (批量减免、缓缴): a department or finance asks for many at once
//! from a spreadsheet — the green-channel list of new students, the student loan centre's list,
//! a college's hardship list — with the columns 学号/工号, 项目编码, 学年, 类型, 金额, 缓缴至, 原因.
//! Every row is checked as a single request would be (the receivable exists and is in the asker's
//! scope, still owes, the amount and date are sensible, nothing waits already); a file with a bad
//! row asks for nothing unless the operator chooses its good rows. The requests of one file share
//! a batch id, and another person approves or rejects the batch as a whole (four eyes), each
//! request decided in one transaction exactly as it would be alone.

use std::collections::{HashMap, HashSet};

use bursar_domain::access::{Permission, Principal};
use bursar_domain::fee::{AcademicYear, DeferralKind, Reduction, WaiverState};
use bursar_domain::roster::normalize_cell;
use bursar_domain::time_fmt::parse_sheet_date_cst_ms;
use bursar_domain::Fen;
use bursar_store::deferrals::{self as deferral_store, DeferralRow};
use bursar_store::receivables as rec_store;
use bursar_store::relief_batches::{self as batch_store, BatchRow};
use bursar_store::{payers, waivers as waiver_store, StoreError, Tx};

use crate::engine::{log, require, Engine};
use crate::error::{refused, EngineError};
use crate::roster::{ImportMode, RosterProblem, ROSTER_LIMITS};
use crate::tables::{column_label, find_columns, read_table, TableLimits};
use crate::waivers::{decide_deferral_in_tx, decide_in_tx, MAX_DEFERRAL_MS};

/// The columns, by the header names finance offices use; 金额 and 缓缴至 may be blank.
const COLUMNS: [(&str, &[&str]); 8] = [
    ("identifier", &["学号/工号", "学号", "工号"]),
    ("item", &["项目编码", "收费项目代码", "收费项目编码"]),
    ("year", &["学年"]),
    ("kind", &["类型", "申请类型"]),
    ("amount", &["减免金额", "金额", "金额（元）", "金额(元)"]),
    ("left", &["减至金额", "减至", "减免后金额"]),
    ("until", &["缓缴至", "缓缴截止日期", "截止日期"]),
    ("reason", &["原因", "减免原因", "缓缴原因", "备注"]),
];

/// One file asks for at most this many (a large college's list).
const RELIEF_LIMITS: TableLimits = TableLimits { max_rows: 20_001, ..ROSTER_LIMITS };

fn label(key: &str) -> &'static str {
    column_label(&COLUMNS, key)
}

/// What a row asks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Ask {
    /// Reduce by an amount, down to an amount, or wholly.
    Waiver(Reduction),
    Deferral(DeferralKind, i64),
}

/// The words of the 类型 column.
fn kind_of(text: &str) -> Option<Option<DeferralKind>> {
    match text {
        "减免" | "减免金额" | "全免" | "免除" => Some(None),
        "缓缴" | "困难缓缴" => Some(Some(DeferralKind::Hardship)),
        "绿色通道" => Some(Some(DeferralKind::GreenChannel)),
        "助学贷款" | "生源地助学贷款" | "助学贷款待到账" => Some(Some(DeferralKind::StudentLoan)),
        _ => None,
    }
}

/// What a bulk request came to.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ReliefReport {
    pub rows: usize,
    pub waivers: usize,
    pub waived: Fen,
    pub deferrals: usize,
    pub problems: Vec<RosterProblem>,
    pub applied: bool,
    /// The batch the requests were filed under, once applied.
    pub batch_id: Option<String>,
}

#[derive(Clone, Debug)]
struct Request {
    receivable_id: String,
    ask: Ask,
    reason: String,
}

impl Engine {
    /// Asks for the reductions and deferrals of a file, as one batch waiting for approval.
    pub async fn import_relief(
        &self,
        by: &Principal,
        bytes: &[u8],
        mode: ImportMode,
        progress: &(dyn Fn(usize, usize) + Sync),
    ) -> Result<ReliefReport, EngineError> {
        let scope = require(by, Permission::RequestWaiver)?;
        let table = read_table(bytes, &RELIEF_LIMITS).map_err(refused)?;
        let mut report = ReliefReport::default();
        let problem = |line: usize, key: &str, value: &str, reason: String| RosterProblem {
            line,
            column: label(key),
            value: value.chars().take(60).collect(),
            reason,
        };
        let col = match find_columns(&table, &COLUMNS, &["amount", "left", "until"]) {
            Ok(col) => col,
            Err(problems) => {
                report.problems = problems;
                return Ok(report);
            }
        };
        let mut c = self.store().read().await?;
        let by_number = payers::ids_by_identifier(&mut c).await?;
        // Items outside the asker's scope are as unknown as items that do not exist: a department
        // learns nothing about what other departments charge whom.
        let items: HashMap<String, String> = rec_store::fee_items(&mut c)
            .await?
            .into_iter()
            .filter(|f| scope.covers_fee_item(&f.id, &f.department_id))
            .map(|f| (f.code.clone(), f.id))
            .collect();
        let now = self.store().now_ms();
        let total = table.len().saturating_sub(1);
        let mut requests = Vec::new();
        let mut seen: HashSet<String> = HashSet::new();
        for (idx, cells) in table.iter().enumerate().skip(1) {
            let line = idx + 1;
            if idx % 500 == 0 {
                progress(idx, total);
            }
            if cells.iter().all(|v| v.trim().is_empty()) {
                continue;
            }
            report.rows += 1;
            let cell = |k: &str| col.get(k).and_then(|i| cells.get(*i)).map(|v| normalize_cell(v)).unwrap_or_default();
            let (identifier, code, year, kind, amount, until, reason) = (
                cell("identifier"),
                cell("item"),
                cell("year"),
                cell("kind"),
                cell("amount"),
                cell("until"),
                cell("reason"),
            );
            let left = cell("left");
            let mut bad = Vec::new();
            let payer = match by_number.get(&identifier).map(Vec::as_slice) {
                Some([one]) => Some(one.clone()),
                Some(_) => {
                    bad.push(problem(line, "identifier", &identifier, "多名缴费人使用此编号".into()));
                    None
                }
                None => {
                    bad.push(problem(line, "identifier", &identifier, "缴费人不存在".into()));
                    None
                }
            };
            let item = items.get(&code).cloned();
            if item.is_none() {
                bad.push(problem(line, "item", &code, "收费项目编码不存在（或不是本部门的项目）".into()));
            }
            if AcademicYear::parse(&year).is_err() {
                bad.push(problem(line, "year", &year, "学年格式应为 2026-2027".into()));
            }
            let ask = match kind_of(&kind) {
                None => {
                    bad.push(problem(line, "kind", &kind, "类型应为 减免、困难缓缴、绿色通道 或 助学贷款".into()));
                    None
                }
                Some(None) => match (amount.as_str(), left.as_str()) {
                    ("", "") => Some(Ask::Waiver(Reduction::All)),
                    (a, "") => match Fen::parse_yuan(a) {
                        Ok(f) if f.is_positive() => Some(Ask::Waiver(Reduction::By(f))),
                        _ => {
                            bad.push(problem(line, "amount", a, "减免金额应为正数，最多两位小数；留空为全免".into()));
                            None
                        }
                    },
                    ("", l) => match Fen::parse_yuan(l) {
                        Ok(f) if f.get() >= 0 => Some(Ask::Waiver(Reduction::To(f))),
                        _ => {
                            bad.push(problem(line, "left", l, "减至金额应为不小于 0 的金额，最多两位小数".into()));
                            None
                        }
                    },
                    (a, _) => {
                        bad.push(problem(line, "amount", a, "减免金额与减至金额只填一项".into()));
                        None
                    }
                },
                Some(Some(k)) => match parse_sheet_date_cst_ms(&until) {
                    Some(ms) if ms > now && ms <= now + MAX_DEFERRAL_MS => Some(Ask::Deferral(k, ms)),
                    Some(_) => {
                        bad.push(problem(line, "until", &until, "缓缴截止日期须在今天之后、一年半以内".into()));
                        None
                    }
                    None => {
                        bad.push(problem(line, "until", &until, "缓缴至应为日期，如 2027-03-31".into()));
                        None
                    }
                },
            };
            if reason.is_empty() || reason.chars().count() > 200 {
                bad.push(problem(line, "reason", &reason, "请填写原因（不超过 200 字，如文件号、困难认定）".into()));
            }
            let (Some(payer), Some(item), Some(ask), true) = (payer, item, ask, bad.is_empty()) else {
                report.problems.extend(bad);
                continue;
            };
            let Some(r) = rec_store::find(&mut c, &payer, &item, &year).await? else {
                report.problems.push(problem(line, "item", &code, "该缴费人该学年没有此项应收".into()));
                continue;
            };
            assert!(scope.covers_fee_item(&r.fee_item_id, &r.department_id), "items were filtered by scope");
            let owed = r.outstanding();
            // One request per receivable per file: a reduction and a deferral of the same one
            // would make the batch impossible to approve once the reduction settled it.
            if !seen.insert(r.id.clone()) {
                report.problems.push(problem(line, "identifier", &identifier, "同一应收在文件中重复".into()));
                continue;
            }
            let (waiver_waiting, deferral_waiting) = batch_store::waiting_for(&mut c, &r.id).await?;
            if waiver_waiting || deferral_waiting {
                let what = if waiver_waiting { "减免" } else { "缓缴" };
                report.problems.push(problem(line, "item", &code, format!("该项已有待审批的{what}申请，请先处理")));
                continue;
            }
            match ask {
                _ if !owed.is_positive() => {
                    report.problems.push(problem(line, "item", &code, "该项已无欠费".into()));
                    continue;
                }
                Ask::Waiver(red) if red.amount(owed).is_err() => {
                    let why = red.amount(owed).err().unwrap_or_default();
                    let (column, value) =
                        if matches!(red, Reduction::To(_)) { ("left", &left) } else { ("amount", &amount) };
                    report.problems.push(problem(line, column, value, why));
                    continue;
                }
                Ask::Deferral(..) if r.deferred_until_ms.is_some_and(|u| u > now) => {
                    report.problems.push(problem(line, "until", &until, "该项已在缓缴期内".into()));
                    continue;
                }
                Ask::Waiver(a) => {
                    report.waivers += 1;
                    report.waived = report.waived.checked_add(a.amount(owed).unwrap_or(Fen::ZERO))?;
                }
                Ask::Deferral(..) => report.deferrals += 1,
            }
            requests.push(Request { receivable_id: r.id, ask, reason });
        }
        drop(c);
        progress(total, total);
        if (!report.problems.is_empty() && mode == ImportMode::AllOrNothing) || requests.is_empty() {
            return Ok(report);
        }
        let (by2, requests) = (by.clone(), std::sync::Arc::new(requests));
        let batch_id = self
            .store()
            .write(|tx: &mut Tx| {
                let (by, requests) = (by2.clone(), requests.clone());
                Box::pin(async move { file_in_tx(tx, &by, &requests).await })
            })
            .await?;
        report.applied = true;
        report.batch_id = Some(batch_id);
        Ok(report)
    }

    /// The files of requests, waiting ones first.
    /// Approvers read every batch; whoever submitted one follows their own.
    pub async fn relief_batches(&self, by: &Principal) -> Result<Vec<BatchRow>, EngineError> {
        let all = by.can(Permission::ApproveWaiver);
        if !all {
            require(by, Permission::RequestWaiver)?;
        }
        let mut c = self.store().read().await?;
        let me = by.actor_ref();
        Ok(batch_store::list(&mut c, 50).await?.into_iter().filter(|b| all || b.requested_by == me).collect())
    }

    /// A batch's requests (at most `limit`), for the approver, and how many there are in all.
    pub async fn relief_batch_lines(
        &self,
        by: &Principal,
        batch_id: &str,
        limit: i64,
    ) -> Result<(Vec<batch_store::BatchLine>, i64), EngineError> {
        let mut c = self.store().read().await?;
        if !by.can(Permission::ApproveWaiver) {
            require(by, Permission::RequestWaiver)?;
            if batch_store::submitter(&mut c, batch_id).await?.as_deref() != Some(by.actor_ref().as_str()) {
                return Err(EngineError::NotFound("批量申请".into()));
            }
        }
        let total = batch_store::count(&mut c, batch_id).await?;
        Ok((batch_store::lines(&mut c, batch_id, limit).await?, total))
    }

    /// Approves or rejects every waiting request of a batch, in one transaction: each decided as
    /// it would be alone (four eyes, amounts checked again); if any can no longer be approved
    /// (paid meanwhile, say), nothing is decided and the reason names it. Returns how many.
    pub async fn decide_relief_batch(
        &self,
        by: &Principal,
        batch_id: &str,
        approve: bool,
        comment: &str,
    ) -> Result<usize, EngineError> {
        require(by, Permission::ApproveWaiver)?;
        let comment = comment.trim().to_string();
        if !approve && comment.is_empty() {
            return Err(refused("驳回须写明原因"));
        }
        let (by, batch_id) = (by.clone(), batch_id.to_string());
        self.store()
            .write(|tx: &mut Tx| {
                let (by, batch_id, comment) = (by.clone(), batch_id.clone(), comment.clone());
                Box::pin(async move {
                    let (waivers, deferrals) = batch_store::waiting(tx, &batch_id).await?;
                    if waivers.is_empty() && deferrals.is_empty() {
                        return Err(refused("这批申请已处理"));
                    }
                    for id in &waivers {
                        decide_in_tx(tx, &by, id, approve, &comment).await?;
                    }
                    for id in &deferrals {
                        decide_deferral_in_tx(tx, &by, id, approve, &comment).await?;
                    }
                    let n = waivers.len() + deferrals.len();
                    let state = if approve { WaiverState::Approved } else { WaiverState::Rejected };
                    let detail = format!("waivers={} deferrals={} comment={comment}", waivers.len(), deferrals.len());
                    log(
                        tx,
                        &by,
                        "relief.decide_batch",
                        ("relief_batch", &batch_id),
                        ("requested", state.as_str()),
                        &detail,
                    )
                    .await?;
                    Ok(n)
                })
            })
            .await
    }
}

async fn file_in_tx(tx: &mut Tx, by: &Principal, requests: &[Request]) -> Result<String, EngineError> {
    let batch_id = tx.new_id();
    let actor = by.actor_ref();
    let (mut waivers, mut deferrals, mut waived) = (0usize, 0usize, Fen::ZERO);
    for r in requests {
        // Read again inside the transaction: what is owed may have changed since the check.
        let now_owed = rec_store::receivable(tx, &r.receivable_id).await?.outstanding();
        match r.ask {
            Ask::Waiver(reduction) => {
                let Ok(amount) = reduction.amount(now_owed) else {
                    return Err(refused("文件中有应收其间已缴费或已减免，请重新导入"));
                };
                let id = tx.new_id();
                waiver_store::insert(tx, &id, &r.receivable_id, amount, &r.reason, &actor, Some(&batch_id)).await?;
                waivers += 1;
                waived = waived.checked_add(amount)?;
            }
            Ask::Deferral(kind, until_ms) => {
                let row = DeferralRow {
                    id: tx.new_id(),
                    receivable_id: r.receivable_id.clone(),
                    kind,
                    until_ms,
                    reason: r.reason.clone(),
                    state: WaiverState::Requested,
                    requested_by: actor.clone(),
                    decided_by: None,
                    decision_comment: None,
                    created_at_ms: tx.now_ms,
                    decided_at_ms: None,
                    batch_id: Some(batch_id.clone()),
                };
                match deferral_store::insert(tx, &row).await {
                    Err(StoreError::Duplicate(_)) => return Err(refused("文件中有应收已有待审批的缓缴申请，请先处理")),
                    other => other?,
                }
                deferrals += 1;
            }
        }
    }
    let detail = format!("waivers={waivers} waived_fen={} deferrals={deferrals}", waived.get());
    log(tx, by, "relief.import", ("relief_batch", &batch_id), ("", "requested"), &detail).await?;
    Ok(batch_id)
}
