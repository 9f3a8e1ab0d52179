//! Project registration (项目报名): departments publish fee-bearing projects; a payer's
//! registration takes a seat (compare-and-set on the count) and raises the receivable they then
//! pay, in one transaction, once.

use std::collections::BTreeMap;

use bursar_domain::fee::{AcademicYear, FeeItemStatus, FeeType};
use bursar_domain::ledger;
use bursar_domain::payer::PayerKind;
use bursar_domain::project::{check_answers, Field, RegistrationError};
use bursar_domain::{DomainError, Fen};
use bursar_store::oplog::{self, Actor, Change};
use bursar_store::payers::{self, OperatorRow};
use bursar_store::projects::{self as project_store, ProjectRow, RegistrationRow};
use bursar_store::receivables::{self, NewFeeItem};
use bursar_store::{merchants, StoreError, Tx};

use crate::error::EngineError;
use crate::payments::Engine;

fn refused(msg: impl Into<String>) -> EngineError {
    EngineError::Rule(DomainError::Refused(msg.into()))
}

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
    pub opens_at_ms: Option<i64>,
    pub closes_at_ms: Option<i64>,
    pub fields: Vec<Field>,
    /// A fee item whose channel routes the project's own fee item copies (finance can change
    /// them later under 收款渠道).
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
    /// Publishes a project: its own fee item (other fees, the department's, payable from the
    /// registration start, in full), the project and its fields, in one transaction.
    pub async fn create_project(&self, operator: &OperatorRow, p: NewProject) -> Result<String, EngineError> {
        p.check()?;
        match operator.role.as_str() {
            "finance" => {}
            "department" if operator.department_id.as_deref() == Some(p.department_id.as_str()) => {}
            _ => return Err(refused("只能为本部门发布项目")),
        }
        let op = operator.clone();
        self.store()
            .write(|tx: &mut Tx| {
                let (op, p) = (op.clone(), p.clone());
                Box::pin(async move {
                    let now = tx.now_ms;
                    if project_store::by_code(tx.c(), &p.code).await?.is_some()
                        || receivables::fee_items(tx.c()).await?.iter().any(|f| f.code == p.code)
                    {
                        return Err(refused(format!("编号 {} 已被使用", p.code)));
                    }
                    let item_id = tx.new_id();
                    let item = NewFeeItem {
                        code: &p.code,
                        name: p.title.trim(),
                        department_id: &p.department_id,
                        fee_type: FeeType::Other,
                        status: FeeItemStatus::Collecting,
                        window_start_ms: p.opens_at_ms,
                        window_end_ms: None,
                        partial_allowed: false,
                        min_partial: Fen::ZERO,
                    };
                    receivables::insert_fee_item(tx.c(), &item_id, &item, now).await?;
                    if let Some(like) = &p.channels_like {
                        for (fee_item, channel, merchant) in merchants::route_ids(tx.c()).await? {
                            if &fee_item == like {
                                merchants::enable_channel(tx.c(), &item_id, &channel, &merchant).await?;
                            }
                        }
                    }
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
                        fee_fen: p.fee.get(),
                        capacity: p.capacity,
                        registered: 0,
                        open_to: p.open_to.iter().map(|k| k.as_str()).collect::<Vec<_>>().join(","),
                        opens_at_ms: p.opens_at_ms,
                        closes_at_ms: p.closes_at_ms,
                        state: "open".into(),
                        created_at_ms: now,
                    };
                    project_store::insert(tx.c(), &row).await?;
                    for (i, f) in p.fields.iter().enumerate() {
                        project_store::insert_field(tx.c(), &id, i as i64, f).await?;
                    }
                    let detail = format!("code={} fee_fen={} capacity={:?}", p.code, p.fee.get(), p.capacity);
                    let change = Change {
                        action: "project.create",
                        entity: "project",
                        entity_id: &id,
                        before: "",
                        after: "open",
                        detail: &detail,
                    };
                    oplog::append(tx.c(), now, &Actor::operator(&op.id), &change).await?;
                    Ok(id)
                })
            })
            .await
    }

    /// Opens or closes a project's registration (its department or finance).
    pub async fn set_project_open(
        &self,
        operator: &OperatorRow,
        project_id: &str,
        open: bool,
    ) -> Result<(), EngineError> {
        let (op, project_id) = (operator.clone(), project_id.to_string());
        self.store()
            .write(|tx: &mut Tx| {
                let (op, project_id) = (op.clone(), project_id.clone());
                Box::pin(async move {
                    let p = project_store::get(tx.c(), &project_id).await?;
                    if op.role != "finance" && op.department_id.as_deref() != Some(p.department_id.as_str()) {
                        return Err(EngineError::NotFound(format!("项目 {project_id}")));
                    }
                    let (from, to) = if open { ("closed", "open") } else { ("open", "closed") };
                    if !project_store::set_state(tx.c(), &project_id, from, to).await? {
                        return Ok(());
                    }
                    let now = tx.now_ms;
                    let change = Change {
                        action: "project.state",
                        entity: "project",
                        entity_id: &project_id,
                        before: from,
                        after: to,
                        detail: "",
                    };
                    oplog::append(tx.c(), now, &Actor::operator(&op.id), &change).await?;
                    Ok(())
                })
            })
            .await
    }

    /// Registers a payer for a project: checks who may register and the answers, takes a seat
    /// and raises the receivable for the fee, in one transaction. Registering again returns the
    /// first registration and changes nothing.
    pub async fn register_for_project(
        &self,
        payer_id: &str,
        project_id: &str,
        answers: &BTreeMap<String, String>,
    ) -> Result<Registered, EngineError> {
        let (payer_id, project_id, answers) = (payer_id.to_string(), project_id.to_string(), answers.clone());
        self.store()
            .write(|tx: &mut Tx| {
                let (payer_id, project_id, answers) = (payer_id.clone(), project_id.clone(), answers.clone());
                Box::pin(async move {
                    let now = tx.now_ms;
                    let project = project_store::get(tx.c(), &project_id).await.map_err(|e| match e {
                        StoreError::NotFound(_) => EngineError::NotFound(format!("项目 {project_id}")),
                        other => other.into(),
                    })?;
                    if let Some(existing) = project_store::registration_of(tx.c(), &project_id, &payer_id).await? {
                        return Ok(Registered {
                            registration_id: existing.id,
                            receivable_id: existing.receivable_id,
                            created: false,
                        });
                    }
                    let payer = payers::payer(tx.c(), &payer_id).await?;
                    let kind = PayerKind::parse(&payer.kind).ok_or_else(|| refused("缴费人类别未知"))?;
                    project.openness().check(kind, now).map_err(DomainError::from)?;
                    let fields = project_store::fields(tx.c(), &project_id).await?;
                    let answers = check_answers(&fields, &answers).map_err(DomainError::from)?;
                    if !project_store::take_seat(tx.c(), &project_id, project.registered).await? {
                        // Someone else took a seat meanwhile (retried from a fresh read), or the
                        // last one is gone.
                        let now_full = project_store::get(tx.c(), &project_id).await?;
                        if now_full.capacity.is_some_and(|c| now_full.registered >= c) {
                            return Err(DomainError::from(RegistrationError::Full).into());
                        }
                        return Err(StoreError::Conflict(format!("project {project_id} seat count moved")).into());
                    }
                    let receivable_id = if project.fee_fen > 0 {
                        let fee = Fen(project.fee_fen);
                        let rid = tx.new_id();
                        receivables::insert_receivable(
                            tx.c(),
                            &rid,
                            &payer_id,
                            &project.fee_item_id,
                            &project.academic_year,
                            fee,
                            now,
                        )
                        .await?;
                        bursar_store::ledger::post(tx, &ledger::receivable_raised(&rid, &project.fee_item_id, fee)?)
                            .await?;
                        Some(rid)
                    } else {
                        None
                    };
                    let id = tx.new_id();
                    let answers_json =
                        serde_json::to_string(&answers).map_err(|e| refused(format!("报名信息无法保存：{e}")))?;
                    let row = RegistrationRow {
                        id: id.clone(),
                        project_id: project_id.clone(),
                        payer_id: payer_id.clone(),
                        answers: answers_json,
                        receivable_id: receivable_id.clone(),
                        state: "registered".into(),
                        created_at_ms: now,
                    };
                    project_store::insert_registration(tx.c(), &row).await?;
                    let detail = format!(
                        "project={} receivable={} fee_fen={}",
                        project.code,
                        receivable_id.as_deref().unwrap_or("-"),
                        project.fee_fen
                    );
                    let change = Change {
                        action: "project.register",
                        entity: "registration",
                        entity_id: &id,
                        before: "",
                        after: "registered",
                        detail: &detail,
                    };
                    oplog::append(tx.c(), now, &Actor::payer(&payer_id), &change).await?;
                    Ok(Registered { registration_id: id, receivable_id, created: true })
                })
            })
            .await
    }
}
