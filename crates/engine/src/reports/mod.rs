//! Reports (报表): each made from the ledger's own facts, streamed one row at a time into a
//! [`ReportSink`] — the finance view's table (the first rows), an xlsx file (every row, in
//! bounded memory) or the CLI. Who may read them: [`Permission::ViewReports`], within the
//! operator's departments.

mod collect;
mod query;
mod standing;
pub mod xlsx;

pub use query::{ReportChoices, ReportQuery};

use std::collections::HashMap;

use bursar_domain::access::{Permission, Principal, Scope};
use bursar_domain::payer::PayerKind;
use bursar_domain::payment::ChannelKind;
use bursar_domain::report::{Cell, Column, PayerFacts, ReportFilter, ReportKind, Totals};
use bursar_domain::time_fmt::date_cst;
use bursar_store::payers;
use bursar_store::receivables::{self, FeeItemRow};

use crate::engine::{require, Engine};
use crate::error::EngineError;

/// What a report says above its rows.
#[derive(Clone, Debug)]
pub struct ReportHead {
    pub kind: ReportKind,
    /// e.g. `收费日报`.
    pub title: String,
    /// The receiving unit (school) the report is of.
    pub unit: String,
    /// The filters in words: (label, value), the period first.
    pub filters: Vec<(&'static str, String)>,
    pub columns: Vec<Column>,
    /// When it was made, `YYYY-MM-DD HH:MM`.
    pub made_at: String,
}

/// Where a report's rows go.
pub trait ReportSink: Send {
    fn start(&mut self, head: &ReportHead) -> Result<(), EngineError>;
    fn row(&mut self, cells: Vec<Cell>) -> Result<(), EngineError>;
    /// The totals row, after the last row (none for reports whose rows do not add up).
    fn finish(&mut self, totals: Option<Vec<Cell>>) -> Result<(), EngineError>;
}

/// A report held for a page: the first `limit` rows, how many there were, and the totals.
#[derive(Debug)]
pub struct ReportTable {
    pub head: Option<ReportHead>,
    pub rows: Vec<Vec<Cell>>,
    pub row_count: usize,
    pub totals: Option<Vec<Cell>>,
    limit: usize,
}

impl ReportTable {
    pub fn new(limit: usize) -> ReportTable {
        ReportTable { head: None, rows: Vec::new(), row_count: 0, totals: None, limit }
    }
}

impl ReportSink for ReportTable {
    fn start(&mut self, head: &ReportHead) -> Result<(), EngineError> {
        self.head = Some(head.clone());
        Ok(())
    }
    fn row(&mut self, cells: Vec<Cell>) -> Result<(), EngineError> {
        self.row_count += 1;
        if self.rows.len() < self.limit {
            self.rows.push(cells);
        }
        Ok(())
    }
    fn finish(&mut self, totals: Option<Vec<Cell>>) -> Result<(), EngineError> {
        self.totals = totals;
        Ok(())
    }
}

/// Names of what facts refer to by id, and the reader's scope.
pub(crate) struct Names {
    pub items: HashMap<String, FeeItemRow>,
    pub departments: HashMap<String, String>,
    pub operators: HashMap<String, String>,
    pub scope: Scope,
    pub now_ms: i64,
}

impl Names {
    pub fn department(&self, id: &str) -> String {
        self.departments.get(id).cloned().unwrap_or_default()
    }
    /// The item's (code, name, department id); an overpayment is 多缴款 of no department.
    pub fn item(&self, id: &str) -> (&str, &str, &str) {
        match self.items.get(id) {
            Some(i) => (&i.code, &i.name, &i.department_id),
            None => ("", "多缴款（待退或抵用）", ""),
        }
    }
    /// Whether the reader may see, and the filter admits, money of this fee item.
    pub fn admits_item(&self, f: &ReportFilter, fee_item_id: &str) -> bool {
        let (_, _, dept) = self.item(fee_item_id);
        let in_scope = match &self.scope {
            Scope::All => true,
            _ => !dept.is_empty() && self.scope.covers_department(dept),
        };
        in_scope && f.admits_item(fee_item_id, dept)
    }
    /// Who did it, as people read it: an operator's name, or who else acted.
    pub fn actor(&self, actor_ref: &str) -> String {
        if actor_ref.is_empty() {
            return String::new();
        }
        if let Some(n) = self.operators.get(actor_ref) {
            return n.clone();
        }
        match actor_ref.split_once(':').map(|(k, _)| k) {
            Some("payer") => "缴费人本人".into(),
            Some("app") => "接入应用".into(),
            Some("system") | Some("channel") => "系统".into(),
            _ => "（已删除的操作员）".into(),
        }
    }
}

/// The payer side of a fact, for the filters.
pub(crate) trait PayerFilterFacts {
    fn facts(&self) -> PayerFacts<'_>;
}

impl PayerFilterFacts for bursar_store::reports::PayerFact {
    fn facts(&self) -> PayerFacts<'_> {
        PayerFacts {
            kind: PayerKind::parse(&self.kind),
            college_id: &self.department_id,
            grade: &self.grade,
            class_name: &self.class_name,
        }
    }
}

impl Engine {
    /// Runs a report into `sink`: the head, every row, then the totals.
    pub async fn run_report(
        &self,
        by: &Principal,
        kind: ReportKind,
        filter: &ReportFilter,
        sink: &mut dyn ReportSink,
    ) -> Result<(), EngineError> {
        let scope = require(by, Permission::ViewReports)?;
        if let (Some(a), Some(b)) = (filter.from_ms, filter.to_ms) {
            if a >= b {
                return Err(crate::error::refused("开始日期须早于结束日期"));
            }
        }
        let names = self.report_names(scope).await?;
        let columns = columns(kind);
        let head = ReportHead {
            kind,
            title: kind.label_zh().to_string(),
            unit: self.school_unit().await?,
            filters: filter_words(kind, filter, &names),
            columns: columns.clone(),
            made_at: bursar_domain::time_fmt::datetime_cst(names.now_ms),
        };
        sink.start(&head)?;
        let mut totals = Totals::new(&columns);
        let mut out = Out { sink, totals: &mut totals, failed: None };
        let mut c = self.store().read().await?;
        match kind {
            ReportKind::Classes => standing::classes(&mut c, filter, &names, &mut out).await?,
            ReportKind::Arrears => standing::arrears(&mut c, filter, &names, &mut out).await?,
            ReportKind::Relief => standing::relief(&mut c, filter, &names, &mut out).await?,
            other => collect::run(&mut c, other, filter, &names, &mut out).await?,
        }
        if let Some(e) = out.failed.take() {
            return Err(e);
        }
        let totals_row = (kind != ReportKind::Relief).then(|| totals.row(&columns));
        sink.finish(totals_row)
    }

    async fn report_names(&self, scope: Scope) -> Result<Names, EngineError> {
        let mut c = self.store().read().await?;
        let items = receivables::fee_items(&mut c).await?.into_iter().map(|i| (i.id.clone(), i)).collect();
        let departments = payers::departments(&mut c).await?.into_iter().collect();
        let operators = payers::operator_names(&mut c).await?.into_iter().collect();
        Ok(Names { items, departments, operators, scope, now_ms: self.store().now_ms() })
    }

    async fn school_unit(&self) -> Result<String, EngineError> {
        Ok(self.receiving_unit().await?.unwrap_or_else(|| self.config().merchant_display_name.clone()))
    }
}

/// Rows on their way to the sink, added to the totals; the first failure is kept (the store's
/// streams take closures that cannot return the engine's errors).
pub(crate) struct Out<'a> {
    sink: &'a mut dyn ReportSink,
    totals: &'a mut Totals,
    failed: Option<EngineError>,
}

impl Out<'_> {
    pub fn row(&mut self, cells: Vec<Cell>) {
        if self.failed.is_some() {
            return;
        }
        self.totals.add(&cells);
        if let Err(e) = self.sink.row(cells) {
            self.failed = Some(e);
        }
    }
}

/// Each report's columns.
pub fn columns(kind: ReportKind) -> Vec<Column> {
    match kind {
        ReportKind::Daily => vec![
            Column::text("日期"),
            Column::text("项目编码"),
            Column::text("收费项目"),
            Column::text("渠道"),
            Column::count("笔数"),
            Column::money("金额（元）"),
        ],
        ReportKind::Detail => vec![
            Column::text("到账时间"),
            Column::text("缴费人编号"),
            Column::text("姓名"),
            Column::text("院系"),
            Column::text("班级"),
            Column::text("收费项目"),
            Column::text("学年"),
            Column::text("渠道"),
            Column::text("支付方式"),
            Column::money("金额（元）"),
            Column::text("商户订单号"),
            Column::text("收费员"),
        ],
        ReportKind::Departments => {
            vec![Column::text("收费部门"), Column::count("笔数"), Column::count("人数"), Column::money("金额（元）")]
        }
        ReportKind::Items => vec![
            Column::text("项目编码"),
            Column::text("收费项目"),
            Column::text("收费部门"),
            Column::count("期间笔数"),
            Column::money("期间收款（元）"),
            Column::money("应收（元）"),
            Column::money("已收（元）"),
            Column::money("未收（元）"),
            Column::share("收缴率"),
        ],
        ReportKind::Channels => vec![
            Column::text("渠道"),
            Column::count("收款笔数"),
            Column::money("收款金额（元）"),
            Column::count("退款笔数"),
            Column::money("退款金额（元）"),
            Column::money("净额（元）"),
        ],
        ReportKind::Classes => vec![
            Column::text("院系"),
            Column::text("年级"),
            Column::text("班级"),
            Column::count("人数"),
            Column::count("已缴清"),
            Column::count("部分缴纳"),
            Column::count("未缴"),
            Column::money("应收（元）"),
            Column::money("已收（元）"),
            Column::money("未收（元）"),
            Column::share("收缴率"),
        ],
        ReportKind::Arrears => vec![
            Column::text("院系"),
            Column::text("班级"),
            Column::text("学号/编号"),
            Column::text("姓名"),
            Column::text("收费项目"),
            Column::text("学年"),
            Column::money("应收（元）"),
            Column::money("减免（元）"),
            Column::money("已缴（元）"),
            Column::money("欠费（元）"),
            Column::money("其中缓缴（元）"),
            Column::text("缓缴至"),
        ],
        ReportKind::Cashiers => {
            vec![Column::text("收费员"), Column::text("收款方式"), Column::count("笔数"), Column::money("金额（元）")]
        }
        ReportKind::Relief => vec![
            Column::text("类别"),
            Column::text("日期"),
            Column::text("缴费人编号"),
            Column::text("姓名"),
            Column::text("院系"),
            Column::text("收费项目"),
            Column::money("金额（元）"),
            Column::text("说明"),
            Column::text("原因"),
            Column::text("申请人"),
            Column::text("审批人"),
        ],
    }
}

/// The filters in words, for the page and the file's second row.
fn filter_words(kind: ReportKind, f: &ReportFilter, names: &Names) -> Vec<(&'static str, String)> {
    let mut out = Vec::new();
    if kind.is_snapshot() {
        out.push(("截至", date_cst(names.now_ms)));
    } else {
        let from = f.from_ms.map(date_cst).unwrap_or_else(|| "最早".into());
        // `to_ms` is exclusive: the last day shown is the day before it.
        let to = f.to_ms.map(|t| date_cst(t - 1)).unwrap_or_else(|| "今天".into());
        out.push(("期间", format!("{from} 至 {to}")));
    }
    if let Some(d) = &f.department_id {
        out.push(("收费部门", names.department(d)));
    }
    if let Some(i) = &f.fee_item_id {
        let (code, name, _) = names.item(i);
        out.push(("收费项目", format!("{name}（{code}）")));
    }
    if let Some(c) = f.channel {
        out.push(("渠道", c.label_zh().into()));
    }
    if let Some(c) = &f.college_id {
        out.push(("院系", names.department(c)));
    }
    if let Some(g) = &f.grade {
        out.push(("年级", g.clone()));
    }
    if let Some(c) = &f.class_name {
        out.push(("班级", c.clone()));
    }
    if let Some(k) = f.payer_kind {
        out.push(("缴费人类别", k.label_zh().into()));
    }
    if let Some(o) = &f.operator_id {
        out.push(("收费员", names.actor(o)));
    }
    out
}

/// A channel's plain name from its stored code.
pub(crate) fn channel_label(code: &str) -> &'static str {
    ChannelKind::parse(code).map(ChannelKind::label_zh).unwrap_or("其他渠道")
}
