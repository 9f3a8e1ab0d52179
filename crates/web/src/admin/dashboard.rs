//! The dashboard's finance-wide figures and charts, shaped for the page: headline figures, the
//! 30-day trend, this month's channels and each department's collection against what is owed.
//! Every figure links to the report rows behind it when the reader may read reports.

use bursar_domain::time_fmt::date_cst;
use bursar_domain::Fen;
use bursar_engine::queries::dashboard::{Dashboard, FinanceWide, Tally};

use crate::charts::{column_chart, row_chart, ColumnChart, RowChart};
use crate::views::yuan;

/// A headline figure.
pub struct Kpi {
    pub label: &'static str,
    pub value: String,
    pub note: String,
    pub href: String,
    /// `warn` when something waits for someone.
    pub tone: &'static str,
}

/// A row of a chart's table.
pub struct FigureRow {
    pub label: String,
    pub count: i64,
    pub amount: String,
    pub href: String,
}

pub struct WideView {
    pub kpis: Vec<Kpi>,
    pub trend: ColumnChart,
    pub trend_rows: Vec<FigureRow>,
    pub channels: RowChart,
    pub channel_rows: Vec<FigureRow>,
}

pub struct DepartmentView {
    pub name: String,
    pub due: String,
    pub paid: String,
    pub percent: String,
    pub href: String,
}

fn detail(from_ms: i64, to_ms: i64, extra: &str, drill: bool) -> String {
    if !drill {
        return String::new();
    }
    format!("/admin/reports/detail?from={}&to={}{extra}", date_cst(from_ms), date_cst(to_ms))
}

fn tally_note(t: &Tally) -> String {
    format!("{} 笔", t.count)
}

/// `¥12.3万` for an axis: short, never precise (the table and tooltips are).
fn short_yuan(fen: i64) -> String {
    let yuan = fen / 100;
    if yuan >= 10_000 {
        format!("¥{}.{}万", yuan / 10_000, yuan % 10_000 / 1_000)
    } else {
        format!("¥{yuan}")
    }
}

pub fn wide_view(w: &FinanceWide, drill: bool) -> WideView {
    let today = w.today_ms;
    let link = |to: &str, ok: bool| if ok && drill { to.to_string() } else { String::new() };
    let kpis = vec![
        Kpi {
            label: "今日收款",
            value: yuan(w.today.amount),
            note: tally_note(&w.today),
            href: detail(today, today, "", drill),
            tone: "",
        },
        Kpi {
            label: "本周收款",
            value: yuan(w.week.amount),
            note: tally_note(&w.week),
            href: detail(w.week_start_ms, today, "", drill),
            tone: "",
        },
        Kpi {
            label: "本月收款",
            value: yuan(w.month.amount),
            note: tally_note(&w.month),
            href: detail(w.month_start_ms, today, "", drill),
            tone: "",
        },
        Kpi {
            label: "等待支付",
            value: format!("{} 笔", w.waiting_payments),
            note: "尚待缴费人或渠道确认".into(),
            href: link("/admin/payments?state=paying", true),
            tone: "",
        },
        Kpi {
            label: "退款在途",
            value: yuan(w.refunds_in_transit.amount),
            note: tally_note(&w.refunds_in_transit),
            href: link("/admin/refunds", true),
            tone: if w.refunds_in_transit.count > 0 { "warn" } else { "" },
        },
        Kpi {
            label: "多缴款待退",
            value: yuan(w.overpayments.amount),
            note: format!("{} 人", w.overpayments.count),
            href: link("/admin/overpayments", true),
            tone: if w.overpayments.count > 0 { "warn" } else { "" },
        },
        Kpi {
            label: "待处理异常",
            value: format!("{} 条", w.open_exceptions),
            note: "如金额不符".into(),
            href: link("/admin/exceptions", true),
            tone: if w.open_exceptions > 0 { "warn" } else { "" },
        },
    ];
    let n = w.days.len();
    let trend_rows: Vec<FigureRow> = w
        .days
        .iter()
        .map(|d| FigureRow {
            label: date_cst(d.start_ms),
            count: d.total.count,
            amount: yuan(d.total.amount),
            href: detail(d.start_ms, d.start_ms, "", drill),
        })
        .collect();
    let trend = column_chart(
        w.days
            .iter()
            .enumerate()
            .map(|(i, d)| {
                let date = date_cst(d.start_ms);
                // A tick every week, counted back from today, and today's.
                let tick = if (n - 1 - i).is_multiple_of(7) {
                    date.get(5..).unwrap_or_default().to_string()
                } else {
                    String::new()
                };
                (
                    date,
                    d.total.amount.get(),
                    format!("{}，{} 笔", yuan(d.total.amount), d.total.count),
                    detail(d.start_ms, d.start_ms, "", drill),
                    tick,
                )
            })
            .collect(),
        short_yuan,
    );
    let channel_rows: Vec<FigureRow> = w
        .channels
        .iter()
        .map(|(k, t)| FigureRow {
            label: k.label_zh().into(),
            count: t.count,
            amount: yuan(t.amount),
            href: detail(w.month_start_ms, today, &format!("&channel={}", k.as_str()), drill),
        })
        .collect();
    let channels = row_chart(
        channel_rows
            .iter()
            .zip(&w.channels)
            .map(|(r, (_, t))| {
                (r.label.clone(), t.amount.get(), 0, format!("{}（{} 笔）", r.amount, r.count), r.href.clone())
            })
            .collect(),
    );
    WideView { kpis, trend, trend_rows, channels, channel_rows }
}

/// Each department's collection against what its fee items are owed.
pub fn departments(d: &Dashboard, drill: bool) -> (RowChart, Vec<DepartmentView>) {
    let rows: Vec<DepartmentView> = d
        .departments
        .iter()
        .map(|x| DepartmentView {
            name: x.name.clone(),
            due: yuan(x.due),
            paid: yuan(x.paid),
            percent: super::collection::percent_text(x.paid, x.due),
            href: if drill { format!("/admin/reports/items?department={}", x.id) } else { String::new() },
        })
        .collect();
    let chart = row_chart(
        d.departments
            .iter()
            .zip(&rows)
            .map(|(x, v)| {
                let words = format!("{} / {}（{}）", v.paid, v.due, v.percent);
                (x.name.clone(), x.paid.get(), x.due.get().max(Fen::ZERO.get()), words, v.href.clone())
            })
            .collect(),
    );
    (chart, rows)
}
