//! Fee standards (收费标准) and raising receivables by them.
//!
//! A department or finance proposes an item's standard for an academic year — one amount for
//! everyone, or a table by college, major, grade and payer kind (Excel or CSV) — and another
//! person with the approval right decides it (four eyes, as for the item itself). Each change
//! is a new version; approving one retires the version in force.
//!
//! Raising (按标准生成应收) takes a group of payers and the standard in force, and first shows
//! what it would do — how many payers, the total, a sample, how many at each amount, who is
//! left out and why — then does it as one command in one transaction. A payer already charged
//! for the item that year is left alone, so raising twice raises nothing the second time.

use std::collections::{BTreeMap, HashMap, HashSet};

use bursar_domain::access::{ApprovalKind, Permission, Principal};
use bursar_domain::audience::{Audience, Member};
use bursar_domain::fee::AcademicYear;
use bursar_domain::payer::PayerKind;
use bursar_domain::roster::normalize_cell;
use bursar_domain::standards::{self as rules, Exclusion, PayerFacts, StandardLine, StandardState};
use bursar_domain::Fen;
use bursar_store::receivables::{self as rec_store, FeeItemRow};
use bursar_store::standards::{self as store, GroupPayer};
pub use bursar_store::standards::{Group, StandardRow};
use bursar_store::{payers, Conn, Tx};

use crate::collection::receivables::{raise_many, Bill};
use crate::engine::{check_decider, log, require, Engine};
use crate::error::{not_found, refused, EngineError};
use crate::tables::{read_table, TableLimits};

/// A standards table is small: a school's majors × grades.
const STANDARD_LIMITS: TableLimits = TableLimits { max_rows: rules::MAX_LINES + 1, ..crate::roster::ROSTER_LIMITS };

/// The standard's columns, by the names finance offices use; all but the amount may be blank.
const COLUMNS: [(&str, &[&str]); 6] = [
    ("department", &["院系", "学院", "部门"]),
    ("major", &["专业"]),
    ("grade", &["年级"]),
    ("class", &["班级"]),
    ("kind", &["缴费人类别", "类别", "人员类别"]),
    ("amount", &["金额", "金额（元）", "金额(元)", "收费标准", "标准（元）"]),
];

/// What a proposed standard is made of.
#[derive(Clone, Debug)]
pub enum StandardSource {
    /// One amount for everyone the item is raised for.
    Uniform(Fen),
    /// A table (xlsx or CSV) with the columns above.
    Table(Vec<u8>),
}

/// A version of a standard as the pages show it.
#[derive(Clone, Debug)]
pub struct StandardView {
    pub row: StandardRow,
    /// (college name or "", major, grade, kind, amount), in line order.
    pub lines: Vec<LineView>,
}

#[derive(Clone, Debug)]
pub struct LineView {
    pub department: String,
    pub major: String,
    pub grade: String,
    pub class_name: String,
    pub kind: Option<PayerKind>,
    pub amount: Fen,
}

/// Who to raise for, and what.
#[derive(Clone, Debug)]
pub struct RaiseRule {
    pub fee_item_code: String,
    pub academic_year: String,
    pub group: Group,
}

/// One payer in a plan.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PlannedPayer {
    pub identifier: String,
    pub name: String,
    pub amount: Fen,
}

/// What raising by the standard does (or did).
#[derive(Clone, Debug, Default)]
pub struct RaisePlan {
    pub fee_item_name: String,
    pub standard_version: i64,
    /// Payers in the group.
    pub matched: usize,
    /// Receivables to raise (or raised), and their total.
    pub to_raise: usize,
    pub total: Fen,
    /// How many at each amount (amount, count), largest amount first.
    pub by_amount: Vec<(Fen, usize)>,
    /// The first few, by number.
    pub sample: Vec<PlannedPayer>,
    /// Why the others are left out: (reason, how many, the first few).
    pub excluded: Vec<(Exclusion, usize, Vec<PlannedPayer>)>,
    /// Set once committed: how many were created (the rest existed by then).
    pub created: Option<usize>,
}

const SAMPLE: usize = 10;

impl Engine {
    /// Proposes a new version of an item's standard for a year. Returns its id.
    pub async fn propose_standard(
        &self,
        by: &Principal,
        fee_item_id: &str,
        academic_year: &str,
        source: StandardSource,
        note: &str,
    ) -> Result<String, EngineError> {
        let scope = require(by, Permission::ApplyFeeItem)?;
        let year = AcademicYear::parse(academic_year).map_err(|_| refused("学年格式应为 2026-2027"))?;
        let note = note.trim().to_string();
        if note.chars().count() > 200 {
            return Err(refused("说明不超过 200 字"));
        }
        let lines = match source {
            StandardSource::Uniform(amount) => vec![StandardLine {
                department_id: None,
                major: String::new(),
                grade: String::new(),
                class_name: String::new(),
                kind: None,
                amount,
            }],
            StandardSource::Table(bytes) => {
                let mut c = self.store().read().await?;
                read_standard(&mut c, &bytes).await?
            }
        };
        rules::validate(&lines).map_err(|e| refused(e.to_string()))?;
        let (by, item_id, year) = (by.clone(), fee_item_id.to_string(), year.as_str().to_string());
        self.store()
            .write(|tx: &mut Tx| {
                let (by, item_id, year, note, lines, scope) =
                    (by.clone(), item_id.clone(), year.clone(), note.clone(), lines.clone(), scope.clone());
                Box::pin(async move {
                    let item = item_in_scope(tx, &item_id, &scope).await?;
                    if store::of_item(tx, &item.id)
                        .await?
                        .iter()
                        .any(|s| s.academic_year == year && s.state == StandardState::Requested)
                    {
                        return Err(refused("该学年已有待审核的收费标准，请等审核后再提交"));
                    }
                    let id = tx.new_id();
                    let version = store::insert(tx, &id, &item.id, &year, &note, &by.actor_ref(), &lines).await?;
                    let detail = format!("fee_item={} year={year} version={version} lines={}", item.code, lines.len());
                    log(tx, &by, "fee_standard.propose", ("fee_standard", &id), ("", "requested"), &detail).await?;
                    Ok(id)
                })
            })
            .await
    }

    /// Approves (puts in force, retiring the version before) or rejects a proposed standard.
    pub async fn decide_standard(
        &self,
        by: &Principal,
        standard_id: &str,
        approve: bool,
        comment: &str,
    ) -> Result<(), EngineError> {
        require(by, Permission::ApproveFeeItem)?;
        let comment = comment.trim().to_string();
        if !approve && comment.is_empty() {
            return Err(refused("驳回须写明原因"));
        }
        let (by, id) = (by.clone(), standard_id.to_string());
        self.store()
            .write(|tx: &mut Tx| {
                let (by, id, comment) = (by.clone(), id.clone(), comment.clone());
                Box::pin(async move {
                    let s = store::get(tx, &id).await?.ok_or_else(|| EngineError::NotFound("收费标准".into()))?;
                    if s.state != StandardState::Requested {
                        return Err(refused("该收费标准已审核"));
                    }
                    check_decider(tx, ApprovalKind::FeeItem, &s.requested_by, &by).await?;
                    if !store::decide(tx, &s, approve, &by.actor_ref(), &comment).await? {
                        return Err(refused("该收费标准已审核"));
                    }
                    let after = if approve { "approved" } else { "rejected" };
                    log(tx, &by, "fee_standard.decide", ("fee_standard", &id), ("requested", after), &comment).await
                })
            })
            .await
    }

    /// Every version of an item's standards, latest first, with their lines.
    pub async fn standards_of(&self, by: &Principal, fee_item_id: &str) -> Result<Vec<StandardView>, EngineError> {
        require(by, Permission::ViewCollection)
            .or_else(|_| require(by, Permission::ApplyFeeItem))
            .or_else(|_| require(by, Permission::ApproveFeeItem))?;
        let mut c = self.store().read().await?;
        let names: HashMap<String, String> = payers::departments(&mut c).await?.into_iter().collect();
        let mut out = Vec::new();
        for row in store::of_item(&mut c, fee_item_id).await? {
            let lines = store::lines(&mut c, &row.id)
                .await?
                .into_iter()
                .map(|l| LineView {
                    department: l.department_id.and_then(|d| names.get(&d).cloned()).unwrap_or_default(),
                    major: l.major,
                    grade: l.grade,
                    class_name: l.class_name,
                    kind: l.kind,
                    amount: l.amount,
                })
                .collect();
            out.push(StandardView { row, lines });
        }
        Ok(out)
    }

    /// What raising by the standard would do, changing nothing.
    pub async fn plan_raise(&self, by: &Principal, rule: &RaiseRule) -> Result<RaisePlan, EngineError> {
        require(by, Permission::RaiseReceivables)?;
        let mut c = self.store().read().await?;
        let (plan, _) = plan(&mut c, rule).await?;
        Ok(plan)
    }

    /// Raises by the standard, as one command: the plan is made again inside the transaction,
    /// so what is raised is what the standard and the roster say at that moment.
    pub async fn raise_by_standard(&self, by: &Principal, rule: &RaiseRule) -> Result<RaisePlan, EngineError> {
        require(by, Permission::RaiseReceivables)?;
        let (by, rule) = (by.clone(), rule.clone());
        self.store()
            .write(|tx: &mut Tx| {
                let (by, rule) = (by.clone(), rule.clone());
                Box::pin(async move {
                    let (mut plan, work) = plan(tx, &rule).await?;
                    let bills: Vec<Bill> = work
                        .iter()
                        .map(|(payer_id, fee_item_id, amount)| Bill {
                            payer_id: payer_id.clone(),
                            fee_item_id: fee_item_id.clone(),
                            academic_year: rule.academic_year.clone(),
                            amount: *amount,
                            note: String::new(),
                        })
                        .collect();
                    let created = raise_many(tx, &bills).await?.created;
                    assert!(created <= plan.to_raise, "raised more than planned");
                    plan.created = Some(created);
                    let g = &rule.group;
                    let mut group = String::new();
                    for (k, v) in [
                        ("payer_kind", g.kind.map(|k| k.as_str().to_string())),
                        ("college", g.department_id.clone()),
                        ("major", g.major.clone()),
                        ("grade", g.grade.clone()),
                        ("class", g.class_name.clone()),
                    ] {
                        if let Some(v) = v {
                            group.push_str(&format!(" {k}={v}"));
                        }
                    }
                    let detail = format!(
                        "fee_item={} year={} version={}{group} raised={created} total_fen={}",
                        rule.fee_item_code,
                        rule.academic_year,
                        plan.standard_version,
                        plan.total.get()
                    );
                    let item = rule.fee_item_code.as_str();
                    log(tx, &by, "receivable.raise_by_standard", ("fee_item", item), ("", ""), &detail).await?;
                    Ok(plan)
                })
            })
            .await
    }
}

async fn item_in_scope(
    c: &mut impl Conn,
    fee_item_id: &str,
    scope: &bursar_domain::Scope,
) -> Result<FeeItemRow, EngineError> {
    let item = rec_store::fee_item(c, fee_item_id).await.map_err(not_found("收费项目"))?;
    if !scope.covers_fee_item(&item.id, &item.department_id) {
        return Err(EngineError::NotFound("收费项目".into()));
    }
    Ok(item)
}

/// The plan, and the work it implies: (payer id, fee item id, amount) per receivable to raise.
async fn plan(c: &mut impl Conn, rule: &RaiseRule) -> Result<(RaisePlan, Vec<(String, String, Fen)>), EngineError> {
    let year = AcademicYear::parse(&rule.academic_year).map_err(|_| refused("学年格式应为 2026-2027"))?;
    let item = rec_store::fee_item_by_code(c, &rule.fee_item_code)
        .await?
        .ok_or_else(|| refused(format!("收费项目编码 {} 不存在", rule.fee_item_code)))?;
    if !item.status.is_approved() || item.status == bursar_domain::fee::FeeItemStatus::Closed {
        return Err(refused(format!("收费项目“{}”{}，不能生成应收", item.name, item.status.label_zh())));
    }
    let standard = store::in_force(c, &item.id, year.as_str())
        .await?
        .ok_or_else(|| refused(format!("“{}”{} 学年没有现行的收费标准（请先提交并审核）", item.name, year.as_str())))?;
    let lines = store::lines(c, &standard.id).await?;
    let raised: HashSet<String> = store::raised_payers(c, &item.id, year.as_str()).await?.into_iter().collect();
    let payers = store::group_payers(c, &rule.group).await?;
    let audience = item.audience();
    let mut plan = RaisePlan {
        fee_item_name: item.name.clone(),
        standard_version: standard.version,
        matched: payers.len(),
        ..RaisePlan::default()
    };
    let mut amounts: BTreeMap<Fen, usize> = BTreeMap::new();
    let mut excluded: BTreeMap<Exclusion, (usize, Vec<PlannedPayer>)> = BTreeMap::new();
    let mut work = Vec::new();
    for p in &payers {
        match charge(&lines, &raised, &audience, p) {
            Ok(amount) => {
                plan.total = plan.total.checked_add(amount)?;
                *amounts.entry(amount).or_default() += 1;
                if plan.sample.len() < SAMPLE {
                    plan.sample.push(planned(p, amount));
                }
                work.push((p.id.clone(), item.id.clone(), amount));
            }
            Err(why) => {
                let e = excluded.entry(why).or_default();
                e.0 += 1;
                if e.1.len() < 5 {
                    e.1.push(planned(p, Fen::ZERO));
                }
            }
        }
    }
    plan.to_raise = work.len();
    plan.by_amount = amounts.into_iter().rev().collect();
    plan.excluded = excluded.into_iter().map(|(why, (n, who))| (why, n, who)).collect();
    Ok((plan, work))
}

fn charge(
    lines: &[StandardLine],
    raised: &HashSet<String>,
    audience: &Audience,
    p: &GroupPayer,
) -> Result<Fen, Exclusion> {
    if raised.contains(&p.id) {
        return Err(Exclusion::AlreadyRaised);
    }
    rules::check_status(p.status)?;
    let member = Member {
        kind: p.kind,
        department_id: p.department_id.as_deref(),
        major: &p.major,
        grade: &p.grade,
        class_name: &p.class_name,
    };
    audience.admits(&member).map_err(Exclusion::Outside)?;
    let facts = PayerFacts {
        department_id: p.department_id.as_deref(),
        major: &p.major,
        grade: &p.grade,
        class_name: &p.class_name,
        kind: p.kind,
    };
    rules::amount_for(lines, &facts)
}

fn planned(p: &GroupPayer, amount: Fen) -> PlannedPayer {
    PlannedPayer { identifier: p.identifier.clone(), name: p.name.clone(), amount }
}

/// Reads a standards table; a bad row refuses the whole table, naming up to five rows.
async fn read_standard(c: &mut impl Conn, bytes: &[u8]) -> Result<Vec<StandardLine>, EngineError> {
    let table = read_table(bytes, &STANDARD_LIMITS).map_err(refused)?;
    let Some(header) = table.first() else {
        return Err(refused("文件为空"));
    };
    let header: Vec<String> = header.iter().map(|h| normalize_cell(h)).collect();
    let mut col: HashMap<&str, usize> = HashMap::new();
    for (key, names) in COLUMNS {
        if let Some(i) = header.iter().position(|h| names.contains(&h.as_str())) {
            col.insert(key, i);
        }
    }
    if !col.contains_key("amount") {
        return Err(refused("缺少列“金额”"));
    }
    let departments: HashMap<String, String> =
        payers::departments(c).await?.into_iter().map(|(id, name)| (normalize_cell(&name), id)).collect();
    let mut lines = Vec::new();
    let mut problems: Vec<String> = Vec::new();
    for (idx, cells) in table.iter().enumerate().skip(1) {
        if cells.iter().all(|v| v.trim().is_empty()) {
            continue;
        }
        let cell = |k: &str| col.get(k).and_then(|i| cells.get(*i)).map(|v| normalize_cell(v)).unwrap_or_default();
        let line = idx + 1;
        let department = cell("department");
        let department_id = if department.is_empty() {
            None
        } else if let Some(id) = departments.get(&department) {
            Some(id.clone())
        } else {
            problems.push(format!("第 {line} 行：院系“{department}”不存在"));
            continue;
        };
        let kind_text = cell("kind");
        let kind = if kind_text.is_empty() {
            None
        } else if let Some(k) = PayerKind::ALL.iter().find(|k| k.label_zh() == kind_text || k.as_str() == kind_text) {
            Some(*k)
        } else {
            problems.push(format!("第 {line} 行：缴费人类别“{kind_text}”应为在校生、新生、教工、报名人员或校外人员"));
            continue;
        };
        let amount_text = cell("amount");
        let amount = match Fen::parse_yuan(&amount_text) {
            Ok(a) if a.is_positive() => a,
            _ => {
                problems.push(format!("第 {line} 行：金额“{amount_text}”应为正数，最多两位小数"));
                continue;
            }
        };
        let (major, grade, class_name) = (cell("major"), cell("grade"), cell("class"));
        if major.chars().count() > 60 || grade.chars().count() > 20 || class_name.chars().count() > 60 {
            problems.push(format!("第 {line} 行：专业、年级或班级过长"));
            continue;
        }
        lines.push(StandardLine { department_id, major, grade, class_name, kind, amount });
    }
    if !problems.is_empty() {
        let more = if problems.len() > 5 { format!("等 {} 处", problems.len()) } else { String::new() };
        return Err(refused(format!("收费标准表有误：{}{more}", problems[..problems.len().min(5)].join("；"))));
    }
    Ok(lines)
}
