//! Project registration (项目报名): departments publish fee-bearing projects; a payer's
//! registration takes a seat (compare-and-set on the count) and raises the receivable they then
//! pay, in one transaction, once.

use std::collections::BTreeMap;

use bursar_domain::access::{Permission, Principal};
use bursar_domain::audience::Profile;
use bursar_domain::fee::{AcademicYear, FeeItemStatus, FeeType};
use bursar_domain::payer::PayerKind;
use bursar_domain::payment::ChannelKind;
use bursar_domain::project::{check_answers, Field, ProjectState, Registrant, RegistrationError, RegistrationState};
use bursar_domain::{DomainError, Fen};
use bursar_store::projects::{self as project_store, ProjectRow, RegistrationRow};
use bursar_store::{merchants, payers, receivables, Tx};

use crate::collection::fee_items::{insert_application, FeeItemApplication};
use crate::collection::receivables::{raise_receivable, Raise, RaiseMode};
use crate::engine::{log, require, Engine};
use crate::error::{not_found, refused, EngineError};

/// What a department publishes.
#[derive(Clone, Debug)]
pub struct NewProject {
    pub code: String,
    pub title: String,
    pub department_id: String,
    pub academic_year: String,
    pub description: String,
    pub notice: String,
    pub fee: Fen,
    pub capacity: Option<i64>,
    pub open_to: Vec<PayerKind>,
    /// Departments (ids) whose people may register; empty: any.
    pub open_departments: Vec<String>,
    /// Grades (年级) whose students may register; empty: any.
    pub open_grades: Vec<String>,
    /// Set when the payer chooses the amount: the most one may pay (`fee` is then the least).
    pub amount_max: Option<Fen>,
    pub opens_at_ms: Option<i64>,
    pub closes_at_ms: Option<i64>,
    pub fields: Vec<Field>,
    /// A fee item whose channels the project's own fee item proposes (finance decides them when
    /// it approves the item).
    pub channels_like: Option<String>,
}

/// The result of registering.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Registered {
    pub registration_id: String,
    /// The receivable raised (none for a free project).
    pub receivable_id: Option<String>,
    /// False when the payer had already registered: nothing changed.
    pub created: bool,
}

impl NewProject {
    fn check(&self) -> Result<(), EngineError> {
        let code_ok = (2..=32).contains(&self.code.len())
            && self.code.bytes().all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'-');
        if !code_ok {
            return Err(refused("项目编号须为 2–32 位大写字母、数字或短横线"));
        }
        if self.title.trim().is_empty() || self.title.chars().count() > 60 {
            return Err(refused("请填写项目名称（不超过 60 字）"));
        }
        AcademicYear::parse(&self.academic_year)?;
        if self.fee.get() < 0 || self.fee.get() > 100_000_000 {
            return Err(refused("报名费须在 0 至 1,000,000 元之间"));
        }
        if let Some(max) = self.amount_max {
            if max < self.fee || !max.is_positive() || max.get() > 100_000_000 {
                return Err(refused("自填金额的上限须不低于下限，且不超过 1,000,000 元"));
            }
        }
        let bad_grade = |g: &String| g.is_empty() || g.chars().count() > 10 || g.contains(',');
        if self.open_grades.iter().any(bad_grade) || self.open_grades.len() > 20 {
            return Err(refused("年级请填写如 2025、2026，以逗号分隔"));
        }
        if self.capacity.is_some_and(|c| c <= 0) {
            return Err(refused("名额须为正整数，不限名额请留空"));
        }
        if self.open_to.is_empty() {
            return Err(refused("请选择可报名的人员类别"));
        }
        if let (Some(a), Some(b)) = (self.opens_at_ms, self.closes_at_ms) {
            if b <= a {
                return Err(refused("报名截止时间须晚于开始时间"));
            }
        }
        if self.description.chars().count() > 2000 || self.notice.chars().count() > 4000 {
            return Err(refused("项目说明或报名须知过长"));
        }
        Ok(())
    }
}

impl Engine {
    /// Publishes a project: its own fee item (other fees, the department's), the project and its
    /// fields, in one transaction. The fee item waits for finance's approval: until finance
    /// approves it with channels that work, the project is not shown to payers and nobody can
    /// register or be charged.
    pub async fn create_project(&self, by: &Principal, p: NewProject) -> Result<String, EngineError> {
        let scope = require(by, Permission::ManageProjects)?;
        p.check()?;
        if !scope.covers_department(&p.department_id) {
            return Err(refused("只能为本部门发布项目"));
        }
        let by = by.clone();
        self.store()
            .write(|tx: &mut Tx| {
                let (by, p) = (by.clone(), p.clone());
                Box::pin(async move {
                    let now = tx.now_ms;
                    if project_store::by_code(tx, &p.code).await?.is_some() {
                        return Err(refused(format!("编号 {} 已被使用", p.code)));
                    }
                    let known: Vec<String> = payers::departments(tx).await?.into_iter().map(|(id, _)| id).collect();
                    if p.open_departments.iter().any(|d| !known.contains(d)) {
                        return Err(refused("限定的院系不存在"));
                    }
                    let mut channels: Vec<(ChannelKind, String)> = Vec::new();
                    if let Some(like) = &p.channels_like {
                        for (fee_item, channel, merchant) in merchants::route_ids(tx).await? {
                            if &fee_item == like {
                                channels.push((channel, merchant));
                            }
                        }
                    }
                    let application = FeeItemApplication {
                        code: p.code.clone(),
                        name: p.title.trim().to_string(),
                        department_id: p.department_id.clone(),
                        fee_type: FeeType::Other,
                        window_start_ms: p.opens_at_ms,
                        window_end_ms: None,
                        partial_allowed: false,
                        min_partial: Fen::ZERO,
                        note: format!("项目报名：{}", p.title.trim()),
                        channels,
                        // Who may register is the project's to say; the item is for anyone. An
                        // amount the payer chooses is a gift: it needs a donation receipt.
                        profile: Profile {
                            receipt_kind: if p.amount_max.is_some() {
                                bursar_domain::audience::ReceiptKind::Donation
                            } else {
                                bursar_domain::audience::ReceiptKind::usual_for(FeeType::Other)
                            },
                            ..Profile::usual_for(FeeType::Other)
                        },
                    };
                    let item_id = insert_application(tx, &by, &application).await?;
                    let id = tx.new_id();
                    let row = ProjectRow {
                        id: id.clone(),
                        code: p.code.clone(),
                        title: p.title.trim().to_string(),
                        department_id: p.department_id.clone(),
                        fee_item_id: item_id,
                        academic_year: p.academic_year.clone(),
                        description: p.description.trim().to_string(),
                        notice: p.notice.trim().to_string(),
                        fee_fen: p.fee,
                        capacity: p.capacity,
                        registered: 0,
                        open_to: p.open_to.iter().map(|k| k.as_str()).collect::<Vec<_>>().join(","),
                        opens_at_ms: p.opens_at_ms,
                        closes_at_ms: p.closes_at_ms,
                        state: ProjectState::Open,
                        created_at_ms: now,
                        amount_max_fen: p.amount_max.map(Fen::get),
                        open_departments: p.open_departments.join(","),
                        open_grades: p.open_grades.join(","),
                    };
                    project_store::insert(tx, &row).await?;
                    for (i, f) in p.fields.iter().enumerate() {
                        let position = i64::try_from(i).map_err(|_| refused("报名字段过多"))?;
                        project_store::insert_field(tx, &id, position, f).await?;
                    }
                    let mut detail = format!("code={} fee_fen={} capacity={:?}", p.code, p.fee.get(), p.capacity);
                    if let Some(max) = p.amount_max {
                        detail.push_str(&format!(" amount_max_fen={}", max.get()));
                    }
                    if !p.open_departments.is_empty() {
                        detail.push_str(&format!(" departments={}", p.open_departments.join(",")));
                    }
                    if !p.open_grades.is_empty() {
                        detail.push_str(&format!(" grades={}", p.open_grades.join(",")));
                    }
                    log(tx, &by, "project.create", ("project", &id), ("", "open"), &detail).await?;
                    Ok(id)
                })
            })
            .await
    }

    /// Opens or closes a project's registration (its department or finance).
    pub async fn set_project_open(&self, by: &Principal, project_id: &str, open: bool) -> Result<(), EngineError> {
        let scope = require(by, Permission::ManageProjects)?;
        let (by, project_id) = (by.clone(), project_id.to_string());
        self.store()
            .write(|tx: &mut Tx| {
                let (by, project_id, scope) = (by.clone(), project_id.clone(), scope.clone());
                Box::pin(async move {
                    let p =
                        project_store::get(tx, &project_id).await.map_err(not_found(format!("项目 {project_id}")))?;
                    if !scope.covers_department(&p.department_id) {
                        return Err(EngineError::NotFound(format!("项目 {project_id}")));
                    }
                    let (from, to) = if open {
                        (ProjectState::Closed, ProjectState::Open)
                    } else {
                        (ProjectState::Open, ProjectState::Closed)
                    };
                    if !project_store::set_state(tx, &project_id, from, to).await? {
                        return Ok(());
                    }
                    log(tx, &by, "project.state", ("project", &project_id), (from.as_str(), to.as_str()), "").await
                })
            })
            .await
    }

    /// Registers a payer for a project: checks who may register, the answers and (where the
    /// payer chooses it) the amount, takes a seat and raises the receivable, in one transaction.
    /// Registering again returns the first registration and changes nothing.
    pub async fn register_for_project(
        &self,
        by: &Principal,
        project_id: &str,
        answers: &BTreeMap<String, String>,
        amount: Option<Fen>,
    ) -> Result<Registered, EngineError> {
        let scope = require(by, Permission::PayOwnFees)?;
        let bursar_domain::Scope::Payer(payer_id) = scope else {
            return Err(EngineError::Access(bursar_domain::AccessError::Missing(Permission::PayOwnFees)));
        };
        let (by, project_id, answers) = (by.clone(), project_id.to_string(), answers.clone());
        self.store()
            .write(|tx: &mut Tx| {
                let (by, payer_id, project_id, answers) =
                    (by.clone(), payer_id.clone(), project_id.clone(), answers.clone());
                Box::pin(async move { register_in_tx(tx, &by, &payer_id, &project_id, &answers, amount).await })
            })
            .await
    }
}

async fn register_in_tx(
    tx: &mut Tx,
    by: &Principal,
    payer_id: &str,
    project_id: &str,
    answers: &BTreeMap<String, String>,
    entered: Option<Fen>,
) -> Result<Registered, EngineError> {
    let now = tx.now_ms;
    let project = project_store::get(tx, project_id).await.map_err(not_found(format!("项目 {project_id}")))?;
    if let Some(existing) = project_store::registration_of(tx, project_id, payer_id).await? {
        return Ok(Registered { registration_id: existing.id, receivable_id: existing.receivable_id, created: false });
    }
    // A project whose fee item finance has not approved (or has stopped) takes nobody.
    let item = receivables::fee_item(tx, &project.fee_item_id).await?;
    if item.status != FeeItemStatus::Collecting {
        return Err(EngineError::NotFound(format!("项目 {project_id}")));
    }
    let payer = payers::payer(tx, payer_id).await?;
    let who = Registrant { kind: payer.kind, department_id: payer.department_id.as_deref(), grade: &payer.grade };
    project.openness().check(&who, now).map_err(DomainError::from)?;
    let fee = project.fee_amount().amount_for(entered).map_err(DomainError::from)?;
    let fields = project_store::fields(tx, project_id).await?;
    let answers = check_answers(&fields, answers).map_err(DomainError::from)?;
    if !project_store::take_seat(tx, project_id, project.registered).await? {
        // Someone else took a seat meanwhile (retried from a fresh read), or the last one is gone.
        let now_full = project_store::get(tx, project_id).await?;
        if now_full.capacity.is_some_and(|c| now_full.registered >= c) {
            return Err(DomainError::from(RegistrationError::Full).into());
        }
        return Err(bursar_store::StoreError::Conflict(format!("project {project_id} seat count moved")).into());
    }
    let id = tx.new_id();
    let receivable_id = if fee.is_positive() {
        let raise = Raise {
            payer_id,
            fee_item_id: &project.fee_item_id,
            academic_year: &project.academic_year,
            amount: fee,
            mode: RaiseMode::Bill,
            source: &id,
        };
        Some(raise_receivable(tx, by, &raise).await?.receivable_id().to_string())
    } else {
        None
    };
    let answers_json = serde_json::to_string(&answers).map_err(|e| refused(format!("报名信息无法保存：{e}")))?;
    let row = RegistrationRow {
        id: id.clone(),
        project_id: project_id.to_string(),
        payer_id: payer_id.to_string(),
        answers: answers_json,
        receivable_id: receivable_id.clone(),
        state: RegistrationState::Registered,
        created_at_ms: now,
    };
    project_store::insert_registration(tx, &row).await?;
    let detail = format!(
        "project={} receivable={} fee_fen={}",
        project.code,
        receivable_id.as_deref().unwrap_or("-"),
        fee.get()
    );
    log(tx, by, "project.register", ("registration", &id), ("", "registered"), &detail).await?;
    Ok(Registered { registration_id: id, receivable_id, created: true })
}
