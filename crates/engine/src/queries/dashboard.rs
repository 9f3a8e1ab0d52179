//! 收费监控 for finance and for leaders: collection today, this week and this month, the last 30
//! days by channel, collection against what is owed per department and fee item, and what waits
//! (payments, refunds, overpayments, exceptions). Every figure is one aggregate query; a reader
//! scoped to departments sees only their fee items.

use bursar_domain::access::{Permission, Principal, Scope};
use bursar_domain::payment::ChannelKind;
use bursar_domain::time_fmt::{date_cst, parse_date_cst_ms};
use bursar_domain::Fen;
use bursar_store::dashboard::{self as dash, CST_OFFSET_MS, DAY_MS};
use bursar_store::exceptions as exception_store;
use bursar_store::payers;
use bursar_store::receivables::{self, CollectionRow};

use crate::engine::Engine;
use crate::error::EngineError;

/// Days the trend shows, today included.
pub const TREND_DAYS: i64 = 30;

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Tally {
    pub count: i64,
    pub amount: Fen,
}

impl Tally {
    fn add(&mut self, count: i64, fen: i64) {
        self.count += count;
        self.amount = Fen(self.amount.get() + fen);
    }
}

/// One day of the trend.
#[derive(Clone, Debug)]
pub struct Day {
    /// Midnight, Beijing time.
    pub start_ms: i64,
    pub total: Tally,
}

/// A department's fee items together.
#[derive(Clone, Debug)]
pub struct DepartmentFigure {
    pub id: String,
    pub name: String,
    pub due: Fen,
    pub paid: Fen,
}

/// Figures only finance-wide readers see: money across every department.
#[derive(Clone, Debug, Default)]
pub struct FinanceWide {
    /// Midnight (Beijing time) of today, of this week's Monday and of this month's first day.
    pub today_ms: i64,
    pub week_start_ms: i64,
    pub month_start_ms: i64,
    pub today: Tally,
    pub week: Tally,
    pub month: Tally,
    /// The last [`TREND_DAYS`] days, oldest first.
    pub days: Vec<Day>,
    /// This month, per channel (channels that took something).
    pub channels: Vec<(ChannelKind, Tally)>,
    pub waiting_payments: i64,
    pub refunds_in_transit: Tally,
    pub overpayments: Tally,
    pub open_exceptions: i64,
}

pub struct Dashboard {
    pub now_ms: i64,
    pub items: Vec<CollectionRow>,
    pub departments: Vec<DepartmentFigure>,
    pub wide: Option<FinanceWide>,
}

fn day_number(ms: i64) -> i64 {
    (ms + CST_OFFSET_MS).div_euclid(DAY_MS)
}

fn day_start(day: i64) -> i64 {
    day * DAY_MS - CST_OFFSET_MS
}

impl Engine {
    /// The dashboard the reader may see.
    pub async fn dashboard(&self, by: &Principal) -> Result<Dashboard, EngineError> {
        let scope = match crate::engine::require(by, Permission::ViewDashboard) {
            Ok(s) => s,
            Err(_) => crate::engine::require(by, Permission::ViewCollection)?,
        };
        let now = self.store().now_ms();
        let mut c = self.store().read().await?;
        let items: Vec<CollectionRow> = receivables::collection_by_item(&mut c, now)
            .await?
            .into_iter()
            .filter(|r| scope.covers_department(&r.department_id))
            .collect();
        let names: std::collections::HashMap<String, String> = payers::departments(&mut c).await?.into_iter().collect();
        let mut departments: Vec<DepartmentFigure> = Vec::new();
        for r in &items {
            match departments.iter_mut().find(|d| d.id == r.department_id) {
                Some(d) => {
                    d.due = Fen(d.due.get() + r.due_fen.get());
                    d.paid = Fen(d.paid.get() + r.paid_fen.get());
                }
                None => departments.push(DepartmentFigure {
                    id: r.department_id.clone(),
                    name: names.get(&r.department_id).cloned().unwrap_or_default(),
                    due: r.due_fen,
                    paid: r.paid_fen,
                }),
            }
        }
        departments.sort_by(|a, b| b.due.get().cmp(&a.due.get()).then_with(|| a.name.cmp(&b.name)));
        let wide = if scope == Scope::All { Some(self.finance_wide(&mut c, now).await?) } else { None };
        Ok(Dashboard { now_ms: now, items, departments, wide })
    }

    async fn finance_wide(&self, c: &mut bursar_store::Reader, now: i64) -> Result<FinanceWide, EngineError> {
        let today = day_number(now);
        // Monday starts the week (1970-01-01, day 0, was a Thursday).
        let week_start = today - (today + 3).rem_euclid(7);
        let month_first = format!("{}-01", date_cst(now).get(..7).unwrap_or_default());
        let month_start = parse_date_cst_ms(&month_first).map(day_number).unwrap_or(today);
        let first = (today - TREND_DAYS + 1).min(month_start).min(week_start);
        let rows = dash::daily_by_channel(c, day_start(first)).await?;
        let mut w = FinanceWide {
            today_ms: day_start(today),
            week_start_ms: day_start(week_start),
            month_start_ms: day_start(month_start),
            days: (today - TREND_DAYS + 1..=today)
                .map(|d| Day { start_ms: day_start(d), total: Tally::default() })
                .collect(),
            ..FinanceWide::default()
        };
        for (day, channel, n, fen) in rows {
            if let Some(d) = w.days.iter_mut().find(|x| day_number(x.start_ms) == day) {
                d.total.add(n, fen);
            }
            if day == today {
                w.today.add(n, fen);
            }
            if day >= week_start {
                w.week.add(n, fen);
            }
            if day >= month_start {
                w.month.add(n, fen);
                let kind = ChannelKind::parse(&channel).unwrap_or(ChannelKind::Offline);
                match w.channels.iter_mut().find(|(k, _)| *k == kind) {
                    Some((_, t)) => t.add(n, fen),
                    None => {
                        let mut t = Tally::default();
                        t.add(n, fen);
                        w.channels.push((kind, t));
                    }
                }
            }
        }
        w.channels.sort_by_key(|c| std::cmp::Reverse(c.1.amount.get()));
        w.waiting_payments = dash::waiting_payments(c).await?;
        let (n, fen) = dash::refunds_in_transit(c).await?;
        w.refunds_in_transit.add(n, fen);
        let (n, fen) = dash::overpayments_held(c).await?;
        w.overpayments.add(n, fen);
        w.open_exceptions = exception_store::open_count(c).await?;
        Ok(w)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn days_begin_at_midnight_in_beijing() {
        // 2026-12-01 00:30 in Beijing is 2026-11-30 16:30 UTC.
        let ms = parse_date_cst_ms("2026-12-01").unwrap() + 30 * 60_000;
        assert_eq!(date_cst(day_start(day_number(ms))), "2026-12-01");
        assert_eq!(day_start(day_number(ms)), parse_date_cst_ms("2026-12-01").unwrap());
        // 2026-11-30 was a Monday.
        let d = day_number(ms);
        assert_eq!(date_cst(day_start(d - (d + 3).rem_euclid(7))), "2026-11-30");
    }
}
