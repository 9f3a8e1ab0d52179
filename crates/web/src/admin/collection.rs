//! 收费监控 and 支付流水: collection per fee item, the channels' messages, and the payments list,
//! each within the operator's scope.

use askama::Template;
use axum::extract::{Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use bursar_domain::access::Permission;
use bursar_domain::payment::{ChannelKind, PaymentState};
use bursar_domain::Fen;
use serde::Deserialize;

use crate::guard::OperatorCtx;
use crate::i18n::Translate as _;
use crate::views::{datetime, render, yuan, Chrome};
use crate::{AppState, WebError};

pub struct CollectionView {
    pub code: String,
    pub name: String,
    pub fee_type: &'static str,
    pub status: &'static str,
    pub receivables: i64,
    pub settled: i64,
    pub due: String,
    pub paid: String,
    pub outstanding: String,
    /// Of what is outstanding, the part deferred (缓缴) and not yet due.
    pub deferred: String,
    /// Collected share, 0–100, for the bar.
    pub percent: i64,
    /// The same with one decimal, for people.
    pub percent_text: String,
    /// The rows behind the figures (empty: the reader has no reports).
    pub href: String,
}

#[derive(Template)]
#[template(path = "admin/dashboard.html")]
struct DashboardPage {
    chrome: Chrome,
    items: Vec<CollectionView>,
    total_due: String,
    total_paid: String,
    total_percent: String,
    /// Finance-wide figures (money across every department); absent for a department's reader.
    wide: Option<super::dashboard::WideView>,
    departments: crate::charts::RowChart,
    department_rows: Vec<super::dashboard::DepartmentView>,
    /// Whether figures link to the reports behind them.
    drill: bool,
    events: Vec<EventView>,
}

pub struct EventView {
    pub time: String,
    pub channel: &'static str,
    pub kind: &'static str,
    pub merchant_order_no: String,
    pub outcome: &'static str,
    pub outcome_label: &'static str,
    pub reason: String,
}

fn percent(part: Fen, whole: Fen) -> i64 {
    if whole.get() <= 0 {
        0
    } else {
        (part.get().saturating_mul(100) / whole.get()).clamp(0, 100)
    }
}

/// `12.3%` style, truncated (never shows 100% before everything is collected).
pub(crate) fn percent_text(part: Fen, whole: Fen) -> String {
    if whole.get() <= 0 {
        return "—".into();
    }
    let per_mille = (part.get().saturating_mul(1000) / whole.get()).clamp(0, 1000);
    format!("{}.{}%", per_mille / 10, per_mille % 10)
}

/// `/admin`: the dashboard for whoever may see collection; everyone else goes to their home.
pub async fn home(State(s): State<AppState>, ctx: OperatorCtx) -> Result<Response, WebError> {
    let p = ctx.0.principal();
    if !p.can(Permission::ViewCollection) && !p.can(Permission::ViewDashboard) {
        return Ok(Redirect::to(super::home_of(ctx.0.principal())).into_response());
    }
    dashboard(s, ctx).await
}

async fn dashboard(s: AppState, OperatorCtx(c): OperatorCtx) -> Result<Response, WebError> {
    let d = s.engine.dashboard(c.principal()).await?;
    let drill = c.principal().can(Permission::ViewReports);
    // Channel messages concern every department: finance-wide readers of collection only.
    let events = if d.wide.is_some() && c.principal().can(Permission::ViewCollection) {
        s.engine.operator_view(c.principal()).channel_events(20).await?
    } else {
        Vec::new()
    };
    let total_due: Fen = d.items.iter().map(|r| r.due_fen).sum();
    let total_paid: Fen = d.items.iter().map(|r| r.paid_fen).sum();
    let (departments, department_rows) = super::dashboard::departments(&d, drill);
    render(&DashboardPage {
        chrome: super::chrome(&s, &c, "dashboard"),
        items: d
            .items
            .iter()
            .map(|r| CollectionView {
                code: r.code.clone(),
                name: r.name.clone(),
                fee_type: r.fee_type.label_zh(),
                status: r.status.label_zh(),
                receivables: r.receivables,
                settled: r.settled,
                due: yuan(r.due_fen),
                paid: yuan(r.paid_fen),
                outstanding: yuan(Fen(r.due_fen.get() - r.paid_fen.get())),
                deferred: yuan(r.deferred_fen),
                percent: percent(r.paid_fen, r.due_fen),
                percent_text: percent_text(r.paid_fen, r.due_fen),
                href: if drill { format!("/admin/reports/detail?item={}", r.fee_item_id) } else { String::new() },
            })
            .collect(),
        total_due: yuan(total_due),
        total_paid: yuan(total_paid),
        total_percent: percent_text(total_paid, total_due),
        wide: d.wide.as_ref().map(|w| super::dashboard::wide_view(w, drill)),
        departments,
        department_rows,
        drill,
        events: events
            .into_iter()
            .map(|e| EventView {
                time: datetime(e.received_at_ms),
                channel: ChannelKind::parse(&e.channel).map(ChannelKind::label_zh).unwrap_or("其他渠道"),
                kind: e.kind.label_zh(),
                merchant_order_no: e.merchant_order_no.unwrap_or_default(),
                outcome_label: e.outcome.label_zh(),
                outcome: e.outcome.as_str(),
                reason: e.reason,
            })
            .collect(),
    })
}

pub struct AdminPaymentView {
    pub merchant_order_no: String,
    pub payer: String,
    pub method: &'static str,
    pub state: &'static str,
    pub state_code: &'static str,
    /// The state's badge colour (design system: ok / warn / bad / none).
    pub badge: &'static str,
    pub amount: String,
    pub created: String,
    pub succeeded: String,
    pub channel_txn_id: String,
    /// Where to ask for its refund (empty: not refundable, or not for this reader).
    pub refund: String,
}

#[derive(Template)]
#[template(path = "admin/payments.html")]
struct PaymentsPage {
    chrome: Chrome,
    payments: Vec<AdminPaymentView>,
    q: PaymentsQuery,
    states: Vec<(&'static str, &'static str)>,
    items: Vec<(String, String)>,
    error: String,
    next: String,
}

/// The payment list's filters as the form sends them.
#[derive(Deserialize, Default, Clone)]
#[serde(default)]
pub struct PaymentsQuery {
    state: String,
    payer: String,
    item: String,
    from: String,
    to: String,
    /// The next page: `<created_at_ms>.<payment id>` of the last row shown.
    before: String,
}

impl PaymentsQuery {
    fn url(&self, before: &str) -> String {
        let mut ser = form_urlencoded::Serializer::new(String::new());
        for (k, v) in [
            ("state", &self.state),
            ("payer", &self.payer),
            ("item", &self.item),
            ("from", &self.from),
            ("to", &self.to),
        ] {
            if !v.trim().is_empty() {
                ser.append_pair(k, v.trim());
            }
        }
        if !before.is_empty() {
            ser.append_pair("before", before);
        }
        format!("/admin/payments?{}", ser.finish())
    }
}

const DAY_MS: i64 = 86_400_000;

pub async fn payments(
    State(s): State<AppState>,
    OperatorCtx(c): OperatorCtx,
    Query(q): Query<PaymentsQuery>,
) -> Result<Response, WebError> {
    let date = |t: &str| bursar_domain::time_fmt::parse_date_cst_ms(t.trim());
    let mut error = String::new();
    let mut filter = bursar_engine::rows::PaymentFilter {
        state: PaymentState::parse(&q.state),
        payer: Some(q.payer.clone()).filter(|p| !p.trim().is_empty()),
        fee_item_id: Some(q.item.clone()).filter(|i| !i.is_empty()),
        ..Default::default()
    };
    for (text, slot, what, shift) in
        [(&q.from, &mut filter.from_ms, "开始日期", 0), (&q.to, &mut filter.to_ms, "结束日期", DAY_MS)]
    {
        if !text.trim().is_empty() {
            match date(text) {
                Some(ms) => *slot = Some(ms + shift),
                None => error = format!("{what}不是日期"),
            }
        }
    }
    if let Some((at, id)) = q.before.split_once('.') {
        filter.before = at.parse().ok().map(|at| (at, id.to_string()));
    }
    let view = s.engine.operator_view(c.principal());
    let rows = if error.is_empty() { view.payments(&filter).await? } else { Vec::new() };
    let may_refund = c.principal().can(Permission::RequestRefund);
    let next = match rows.last() {
        Some(last) if rows.len() as i64 == bursar_engine::queries::operator::PAYMENTS_PAGE => {
            q.url(&format!("{}.{}", last.payment.created_at_ms, last.payment.id))
        }
        _ => String::new(),
    };
    let views = rows
        .into_iter()
        .map(|r| {
            let p = r.payment;
            let refund = if may_refund && p.state == PaymentState::Succeeded {
                format!("/admin/refunds/new?no={}", p.merchant_order_no)
            } else {
                String::new()
            };
            AdminPaymentView {
                merchant_order_no: p.merchant_order_no,
                payer: format!("{} {}", r.payer_identifier, r.payer_name),
                method: p.method.label_zh(),
                state: p.state.label_zh(),
                state_code: p.state.as_str(),
                badge: crate::views::payment_badge(p.state),
                amount: yuan(p.amount_fen),
                created: datetime(p.created_at_ms),
                succeeded: p.succeeded_at_ms.map(datetime).unwrap_or_default(),
                channel_txn_id: p.channel_txn_id.unwrap_or_default(),
                refund,
            }
        })
        .collect();
    let items = view.fee_items().await?.into_iter().map(|i| (i.id, i.name)).collect();
    render(&PaymentsPage {
        chrome: super::chrome(&s, &c, "payments"),
        payments: views,
        q,
        states: PaymentState::ALL.iter().map(|s| (s.as_str(), s.label_zh())).collect(),
        items,
        error,
        next,
    })
}
