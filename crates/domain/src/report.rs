//! Reports a finance office files (报表): which there are, the shape of their tables, and the
//! filters they take. Pure: the engine fills the tables, the web and the CLI render them.

use crate::payer::PayerKind;
use crate::payment::ChannelKind;
use crate::Fen;

crate::coded_enum! {
    /// The reports, in the order the finance view lists them.
    pub enum ReportKind {
        Daily = ("daily", "收费日报", "Daily collection"),
        Detail = ("detail", "收费明细", "Collection detail"),
        Departments = ("departments", "分部门汇总", "By department"),
        Items = ("items", "分项目汇总", "By fee item"),
        Channels = ("channels", "分渠道汇总", "By channel"),
        Classes = ("classes", "班级缴费情况", "By class"),
        Arrears = ("arrears", "欠费统计", "Arrears"),
        Cashiers = ("cashiers", "收费员收费情况", "By cashier"),
        Relief = ("relief", "减免退费", "Waivers, deferrals and refunds"),
    }
}

impl ReportKind {
    /// What the report shows, in a sentence for the finance view.
    pub fn describe(self) -> &'static str {
        match self {
            ReportKind::Daily => "期间内每天按收费项目和渠道的收款笔数与金额。",
            ReportKind::Detail => "期间内每一笔到账：缴费人、项目、渠道、方式、金额、订单号和收费员。",
            ReportKind::Departments => "期间内各收费部门所收的款项。",
            ReportKind::Items => "期间内各收费项目的收款，以及它们现在的应收、已收和未收。",
            ReportKind::Channels => "期间内各渠道的收款、退款与净额。",
            ReportKind::Classes => "各班级现在的缴费情况：人数、缴清、部分缴纳、未缴和金额。",
            ReportKind::Arrears => "现在仍欠费的缴费人，按院系、班级排列；缓缴和减免单独列出。",
            ReportKind::Cashiers => "期间内各收费员在窗口和线下导入所收的款项，按方式分列。",
            ReportKind::Relief => "期间内批准的减免、缓缴和已退出的退款。",
        }
    }

    /// Whether the report shows how things stand now (the period does not apply).
    pub fn is_snapshot(self) -> bool {
        matches!(self, ReportKind::Classes | ReportKind::Arrears)
    }
}

/// How a column's values are written and totalled.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ColumnKind {
    Text,
    Count,
    Money,
    /// A share in per mille of the row (shown as a percentage; not totalled).
    Share,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Column {
    pub label: &'static str,
    pub kind: ColumnKind,
}

impl Column {
    pub const fn text(label: &'static str) -> Column {
        Column { label, kind: ColumnKind::Text }
    }
    pub const fn count(label: &'static str) -> Column {
        Column { label, kind: ColumnKind::Count }
    }
    pub const fn money(label: &'static str) -> Column {
        Column { label, kind: ColumnKind::Money }
    }
    pub const fn share(label: &'static str) -> Column {
        Column { label, kind: ColumnKind::Share }
    }
}

/// One value of a report row.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Cell {
    Text(String),
    Count(i64),
    Money(Fen),
    /// Per mille, or nothing when the whole is zero.
    Share(Option<i64>),
}

impl Cell {
    /// `part / whole` in per mille, truncated (never 100% before all of it).
    pub fn share(part: Fen, whole: Fen) -> Cell {
        if whole.get() <= 0 {
            return Cell::Share(None);
        }
        Cell::Share(Some((part.get().saturating_mul(1000) / whole.get()).clamp(0, 1000)))
    }

    /// The value as people read it (money in yuan with two decimals, shares as `12.5%`).
    pub fn display(&self) -> String {
        match self {
            Cell::Text(t) => t.clone(),
            Cell::Count(n) => n.to_string(),
            Cell::Money(f) => f.to_yuan_string(),
            Cell::Share(Some(pm)) => format!("{}.{}%", pm / 10, pm % 10),
            Cell::Share(None) => "—".into(),
        }
    }
}

/// Adds up the count and money columns of rows; text and share columns stay empty except the
/// first, which says 合计.
#[derive(Clone, Debug)]
pub struct Totals {
    sums: Vec<Option<i64>>,
}

impl Totals {
    pub fn new(columns: &[Column]) -> Totals {
        Totals {
            sums: columns
                .iter()
                .map(|c| matches!(c.kind, ColumnKind::Count | ColumnKind::Money).then_some(0))
                .collect(),
        }
    }

    pub fn add(&mut self, row: &[Cell]) {
        assert_eq!(row.len(), self.sums.len(), "a report row has as many cells as columns");
        for (sum, cell) in self.sums.iter_mut().zip(row) {
            if let Some(s) = sum {
                match cell {
                    Cell::Count(n) => *s = s.saturating_add(*n),
                    Cell::Money(f) => *s = s.saturating_add(f.get()),
                    _ => {}
                }
            }
        }
    }

    /// The totals row.
    pub fn row(&self, columns: &[Column]) -> Vec<Cell> {
        columns
            .iter()
            .zip(&self.sums)
            .enumerate()
            .map(|(i, (c, s))| match (c.kind, s) {
                (ColumnKind::Count, Some(n)) => Cell::Count(*n),
                (ColumnKind::Money, Some(n)) => Cell::Money(Fen(*n)),
                _ if i == 0 => Cell::Text("合计".into()),
                _ => Cell::Text(String::new()),
            })
            .collect()
    }

    /// The total of column `i` (0 when it is not summed).
    pub fn get(&self, i: usize) -> i64 {
        self.sums.get(i).copied().flatten().unwrap_or(0)
    }
}

/// What a report is limited to. Every field is optional; the period is `[from_ms, to_ms)`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ReportFilter {
    pub from_ms: Option<i64>,
    pub to_ms: Option<i64>,
    /// The fee item's department (收费部门), by id.
    pub department_id: Option<String>,
    /// The fee item, by id.
    pub fee_item_id: Option<String>,
    pub channel: Option<ChannelKind>,
    /// The payer's college (院系), by department id.
    pub college_id: Option<String>,
    pub grade: Option<String>,
    pub class_name: Option<String>,
    pub payer_kind: Option<PayerKind>,
    /// The operator who collected (收费员), by id.
    pub operator_id: Option<String>,
}

/// The payer's side of a fact, for filtering.
pub struct PayerFacts<'a> {
    pub kind: Option<PayerKind>,
    pub college_id: &'a str,
    pub grade: &'a str,
    pub class_name: &'a str,
}

impl ReportFilter {
    /// Whether a payer passes the payer filters.
    pub fn admits_payer(&self, p: &PayerFacts<'_>) -> bool {
        let eq = |want: &Option<String>, have: &str| want.as_deref().is_none_or(|w| w == have);
        eq(&self.college_id, p.college_id)
            && eq(&self.grade, p.grade)
            && eq(&self.class_name, p.class_name)
            && self.payer_kind.is_none_or(|k| Some(k) == p.kind)
    }

    /// Whether a fee item (by id and department; empty for an overpayment) passes.
    pub fn admits_item(&self, fee_item_id: &str, department_id: &str) -> bool {
        self.fee_item_id.as_deref().is_none_or(|w| w == fee_item_id)
            && self.department_id.as_deref().is_none_or(|w| w == department_id)
    }

    pub fn admits_channel(&self, channel: Option<ChannelKind>) -> bool {
        self.channel.is_none_or(|c| Some(c) == channel)
    }

    pub fn admits_operator(&self, operator_id: &str) -> bool {
        self.operator_id.as_deref().is_none_or(|w| w == operator_id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn totals_add_counts_and_money_only() {
        let cols = [Column::text("项目"), Column::count("笔数"), Column::money("金额"), Column::share("占比")];
        let mut t = Totals::new(&cols);
        t.add(&[Cell::Text("a".into()), Cell::Count(2), Cell::Money(Fen(150)), Cell::Share(Some(500))]);
        t.add(&[Cell::Text("b".into()), Cell::Count(1), Cell::Money(Fen(50)), Cell::Share(None)]);
        assert_eq!(
            t.row(&cols),
            vec![Cell::Text("合计".into()), Cell::Count(3), Cell::Money(Fen(200)), Cell::Text(String::new())]
        );
        assert_eq!(t.get(2), 200);
    }

    #[test]
    fn shares_truncate_and_say_nothing_of_nothing() {
        assert_eq!(Cell::share(Fen(999), Fen(1000)).display(), "99.9%");
        assert_eq!(Cell::share(Fen(1), Fen(3)).display(), "33.3%");
        assert_eq!(Cell::share(Fen(5), Fen(0)).display(), "—");
        assert_eq!(Cell::Money(Fen(123456)).display(), "1234.56");
    }

    #[test]
    fn filters_hold_each_field() {
        let f = ReportFilter {
            college_id: Some("d1".into()),
            payer_kind: Some(PayerKind::EnrolledStudent),
            ..Default::default()
        };
        let mut p =
            PayerFacts {
                kind: Some(PayerKind::EnrolledStudent), college_id: "d1", grade: "2023", class_name: "一班"
            };
        assert!(f.admits_payer(&p));
        p.college_id = "d2";
        assert!(!f.admits_payer(&p));
        let f = ReportFilter { channel: Some(ChannelKind::Alipay), ..Default::default() };
        assert!(f.admits_channel(Some(ChannelKind::Alipay)));
        assert!(!f.admits_channel(Some(ChannelKind::Wechatpay)));
        assert!(!f.admits_channel(None));
        assert!(ReportFilter::default().admits_item("x", ""));
        let f = ReportFilter { department_id: Some("d9".into()), ..Default::default() };
        assert!(!f.admits_item("x", ""), "an overpayment belongs to no department");
    }
}
