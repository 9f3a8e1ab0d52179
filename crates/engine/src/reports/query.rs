//! A report's filters as people give them — in the finance view's form or on the command line —
//! checked and turned into a [`ReportFilter`]. Departments are named by id, code or name, fee
//! items by id or code, operators by id or login name, dates as `YYYY-MM-DD` (the last day is
//! included). Anything unknown is refused by name; nothing is guessed.

use bursar_domain::access::{Permission, Principal};
use bursar_domain::payer::PayerKind;
use bursar_domain::payment::ChannelKind;
use bursar_domain::report::ReportFilter;
use bursar_domain::time_fmt::parse_date_cst_ms;
use bursar_store::receivables;
use bursar_store::reports as facts;

use crate::engine::{require, Engine};
use crate::error::{refused, EngineError};

const DAY_MS: i64 = 86_400_000;

/// The filters as text; empty means "any".
#[derive(Clone, Debug, Default, serde::Deserialize)]
#[serde(default)]
pub struct ReportQuery {
    pub from: String,
    pub to: String,
    pub department: String,
    pub item: String,
    pub channel: String,
    pub college: String,
    pub grade: String,
    pub class: String,
    pub payer_kind: String,
    pub operator: String,
}

/// What the filter form offers.
pub struct ReportChoices {
    /// (id, name) of departments that own fee items, and of every department (colleges).
    pub departments: Vec<(String, String)>,
    /// (id, code, name) of fee items in the reader's scope.
    pub items: Vec<(String, String, String)>,
    /// (id, name) of operators.
    pub operators: Vec<(String, String)>,
}

fn given(s: &str) -> Option<&str> {
    Some(s.trim()).filter(|s| !s.is_empty())
}

fn date(text: &str, what: &str) -> Result<i64, EngineError> {
    parse_date_cst_ms(text).ok_or_else(|| refused(format!("{what}「{text}」不是日期，请写成 2026-11-01 这样")))
}

impl Engine {
    /// Checks a report's filters and names what they refer to.
    pub async fn report_filter(&self, by: &Principal, q: &ReportQuery) -> Result<ReportFilter, EngineError> {
        require(by, Permission::ViewReports)?;
        let mut c = self.store().read().await?;
        let departments = facts::departments(&mut c).await?;
        let dept = |text: &str, what: &str| -> Result<String, EngineError> {
            departments
                .iter()
                .find(|(id, code, name)| id == text || code.eq_ignore_ascii_case(text) || name == text)
                .map(|(id, _, _)| id.clone())
                .ok_or_else(|| refused(format!("没有这个{what}：{text}")))
        };
        let mut f = ReportFilter::default();
        if let Some(t) = given(&q.from) {
            f.from_ms = Some(date(t, "开始日期")?);
        }
        if let Some(t) = given(&q.to) {
            f.to_ms = Some(date(t, "结束日期")? + DAY_MS);
        }
        if let (Some(a), Some(b)) = (f.from_ms, f.to_ms) {
            if a >= b {
                return Err(refused("开始日期不能晚于结束日期"));
            }
        }
        if let Some(t) = given(&q.department) {
            f.department_id = Some(dept(t, "收费部门")?);
        }
        if let Some(t) = given(&q.college) {
            f.college_id = Some(dept(t, "院系")?);
        }
        if let Some(t) = given(&q.item) {
            let items = receivables::fee_items(&mut c).await?;
            let found = items.iter().find(|i| i.id == t || i.code.eq_ignore_ascii_case(t));
            f.fee_item_id = Some(found.map(|i| i.id.clone()).ok_or_else(|| refused(format!("没有这个收费项目：{t}")))?);
        }
        if let Some(t) = given(&q.channel) {
            let ch = ChannelKind::ALL.iter().find(|k| k.as_str() == t || k.label_zh() == t);
            f.channel = Some(*ch.ok_or_else(|| refused(format!("没有这个渠道：{t}")))?);
        }
        if let Some(t) = given(&q.payer_kind) {
            let k = PayerKind::ALL.iter().find(|k| k.as_str() == t || k.label_zh() == t);
            f.payer_kind = Some(*k.ok_or_else(|| refused(format!("没有这个缴费人类别：{t}")))?);
        }
        if let Some(t) = given(&q.operator) {
            let ops = facts::operators(&mut c).await?;
            let found = ops.iter().find(|(id, user, _)| id == t || user == t);
            f.operator_id = Some(found.map(|o| o.0.clone()).ok_or_else(|| refused(format!("没有这个收费员：{t}")))?);
        }
        f.grade = given(&q.grade).map(str::to_string);
        f.class_name = given(&q.class).map(str::to_string);
        Ok(f)
    }

    /// What the report filters offer the reader.
    pub async fn report_choices(&self, by: &Principal) -> Result<ReportChoices, EngineError> {
        let scope = require(by, Permission::ViewReports)?;
        let mut c = self.store().read().await?;
        let items: Vec<_> = receivables::fee_items(&mut c)
            .await?
            .into_iter()
            .filter(|i| scope.covers_department(&i.department_id))
            .collect();
        let departments = facts::departments(&mut c).await?.into_iter().map(|(id, _, name)| (id, name)).collect();
        let operators = facts::operators(&mut c).await?.into_iter().map(|(id, _, name)| (id, name)).collect();
        Ok(ReportChoices { departments, items: items.into_iter().map(|i| (i.id, i.code, i.name)).collect(), operators })
    }
}
