//! 按标准生成应收: choose a fee item, an academic year and a group of payers (kind, college,
//! major, grade, class); see what the standard in force would raise — how many, the total, how
//! many at each amount, a sample, and who is left out and why — then confirm it as one command.

use askama::Template;
use axum::extract::State;
use axum::response::Response;
use axum::Form;
use bursar_domain::access::Permission;
use bursar_domain::fee::{AcademicYear, FeeItemStatus};
use bursar_domain::payer::PayerKind;
use bursar_engine::standards::Group;
use bursar_engine::standards::{RaisePlan, RaiseRule};
use bursar_engine::EngineError;
use serde::Deserialize;

use crate::guard::{get, Guard, OperatorCtx, Routes};
use crate::i18n::Translate as _;
use crate::views::{render, yuan, Chrome};
use crate::{AppState, WebError};

pub fn routes() -> Routes {
    Routes::new().route(
        "/admin/receivables/raise",
        Guard::Permission(Permission::RaiseReceivables),
        get(page).post(submit),
    )
}

/// The form as typed (kept on every answer).
#[derive(Clone, Debug, Default, Deserialize)]
pub struct RaiseForm {
    #[serde(default)]
    item: String,
    #[serde(default)]
    year: String,
    #[serde(default)]
    kind: String,
    #[serde(default)]
    department: String,
    #[serde(default)]
    major: String,
    #[serde(default)]
    grade: String,
    #[serde(default)]
    class_name: String,
    /// `preview` or `commit`.
    #[serde(default)]
    action: String,
}

impl RaiseForm {
    fn rule(&self) -> Result<RaiseRule, String> {
        let opt = |s: &str| (!s.trim().is_empty()).then(|| s.trim().to_string());
        let kind = match self.kind.as_str() {
            "" => None,
            k => Some(PayerKind::parse(k).ok_or("缴费人类别无效")?),
        };
        if self.item.is_empty() {
            return Err("请选择收费项目".into());
        }
        Ok(RaiseRule {
            fee_item_code: self.item.clone(),
            academic_year: self.year.trim().to_string(),
            group: Group {
                kind,
                department_id: opt(&self.department),
                major: opt(&self.major),
                grade: opt(&self.grade),
                class_name: opt(&self.class_name),
            },
        })
    }
}

pub struct PlanView {
    pub committed: bool,
    pub created: usize,
    pub item: String,
    pub version: i64,
    pub matched: usize,
    pub to_raise: usize,
    pub total: String,
    pub by_amount: Vec<(String, usize)>,
    pub sample: Vec<(String, String, String)>,
    /// (reason, how many, who: "学号 姓名, …").
    pub excluded: Vec<(String, usize, String)>,
}

fn plan_view(p: RaisePlan) -> PlanView {
    PlanView {
        committed: p.created.is_some(),
        created: p.created.unwrap_or(0),
        item: p.fee_item_name,
        version: p.standard_version,
        matched: p.matched,
        to_raise: p.to_raise,
        total: yuan(p.total),
        by_amount: p.by_amount.into_iter().map(|(a, n)| (yuan(a), n)).collect(),
        sample: p.sample.into_iter().map(|s| (s.identifier, s.name, yuan(s.amount))).collect(),
        excluded: p
            .excluded
            .into_iter()
            .map(|(why, n, who)| {
                let names: Vec<String> = who.into_iter().map(|w| format!("{} {}", w.identifier, w.name)).collect();
                let more = if n > names.len() { " 等" } else { "" };
                (why.reason(), n, format!("{}{more}", names.join("、")))
            })
            .collect(),
    }
}

#[derive(Template)]
#[template(path = "admin/raise.html")]
struct RaisePage {
    chrome: Chrome,
    form: RaiseForm,
    /// (code, "name（code）") of items that can be raised.
    items: Vec<(String, String)>,
    departments: Vec<(String, String)>,
    kinds: Vec<(&'static str, &'static str)>,
    plan: Option<PlanView>,
    error: String,
}

async fn page_with(
    s: &AppState,
    c: &OperatorCtx,
    form: RaiseForm,
    plan: Option<RaisePlan>,
    error: String,
) -> Result<Response, WebError> {
    let view = s.engine.operator_view(c.0.principal());
    let items = view
        .fee_items()
        .await?
        .into_iter()
        .filter(|i| i.status.is_approved() && i.status != FeeItemStatus::Closed)
        .map(|i| (i.code.clone(), format!("{}（{}）", i.name, i.code)))
        .collect();
    let failed = !error.is_empty();
    let mut resp = render(&RaisePage {
        chrome: super::chrome(s, &c.0, "receivables"),
        form,
        items,
        departments: view.departments().await?,
        kinds: PayerKind::ALL.iter().map(|k| (k.as_str(), k.label_zh())).collect(),
        plan: plan.map(plan_view),
        error,
    })?;
    if failed {
        *resp.status_mut() = axum::http::StatusCode::UNPROCESSABLE_ENTITY;
    }
    Ok(resp)
}

pub async fn page(State(s): State<AppState>, c: OperatorCtx) -> Result<Response, WebError> {
    let year = AcademicYear::containing(s.engine.store().now_ms()).as_str().to_string();
    page_with(&s, &c, RaiseForm { year, ..RaiseForm::default() }, None, String::new()).await
}

pub async fn submit(State(s): State<AppState>, c: OperatorCtx, Form(f): Form<RaiseForm>) -> Result<Response, WebError> {
    let rule = match f.rule() {
        Ok(r) => r,
        Err(e) => return page_with(&s, &c, f, None, e).await,
    };
    let p = c.0.principal();
    let result = match f.action.as_str() {
        "commit" => s.engine.raise_by_standard(p, &rule).await,
        _ => s.engine.plan_raise(p, &rule).await,
    };
    match result {
        Ok(plan) => page_with(&s, &c, f, Some(plan), String::new()).await,
        Err(EngineError::Rule(e)) => page_with(&s, &c, f, None, e.to_string()).await,
        Err(e) => Err(e.into()),
    }
}
