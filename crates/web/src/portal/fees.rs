//! Current fees, choosing what to pay (by academic year, in full or in allowed parts), the
//! business order with its payment attempts, and starting a payment through a channel.

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Redirect, Response};
use axum::Form;
use bursar_domain::order::OrderState;
use bursar_domain::payment::PayMethod;
use bursar_domain::Fen;
use bursar_engine::queries::payer::PaymentWithRefunds;
use bursar_engine::rows::{OrderLineView, ReceivableView};
use bursar_engine::{EngineError, PayContext};
use serde::Deserialize;
use std::collections::BTreeMap;

use crate::fields::{answers_with_prefix, field_views_unenforced, FieldView};
use crate::guard::PayerCtx;
use crate::i18n::Translate as _;
use crate::views::{date_or_unlimited, datetime, render, yuan, Chrome};
use crate::{AppState, WebError};

pub struct FeeRow {
    pub id: String,
    pub item: String,
    pub year: String,
    pub window_start: String,
    pub window_end: String,
    pub status: &'static str,
    pub fee_type: &'static str,
    pub due: String,
    pub paid: String,
    pub outstanding: String,
    pub outstanding_input: String,
    pub partial_allowed: bool,
    pub min_partial: String,
    pub payable: bool,
    pub reason: String,
    /// "原应缴 ¥X，已减免 ¥Y：why" when part of it was waived (empty otherwise).
    pub waiver: String,
    /// "缓缴至 date（why）" when an approved deferral holds (empty otherwise).
    pub deferred: String,
    /// The receipt the payment brings, and the item's notice to payers (may be empty).
    pub receipt: &'static str,
    pub notice: String,
    /// What the item asks when it is paid (filled on the pay page only).
    pub fields: Vec<FieldView>,
}

fn fee_row(r: &ReceivableView, now: i64) -> FeeRow {
    let rules = r.rules();
    let outstanding = r.outstanding();
    let (payable, reason) = if !outstanding.is_positive() {
        (false, "已缴清".to_string())
    } else {
        match rules.check_open(now) {
            Ok(()) => (true, String::new()),
            Err(e) => (false, e.to_string()),
        }
    };
    FeeRow {
        id: r.id.clone(),
        item: r.item_name.clone(),
        year: r.academic_year.clone(),
        window_start: date_or_unlimited(r.window_start_ms, false),
        window_end: date_or_unlimited(r.window_end_ms, true),
        status: rules.status.label_zh(),
        fee_type: rules.fee_type.label_zh(),
        waiver: String::new(),
        deferred: String::new(),
        due: yuan(Fen(r.due_fen.get() - r.waived_fen.get())),
        paid: yuan(r.paid_fen),
        outstanding: yuan(outstanding),
        outstanding_input: outstanding.to_yuan_string(),
        partial_allowed: rules.partial_allowed,
        min_partial: yuan(rules.min_partial),
        payable,
        reason,
        receipt: r.receipt_kind.label_zh(),
        notice: r.payer_notice.clone(),
        fields: Vec::new(),
    }
}

#[derive(Template)]
#[template(path = "portal/fees.html")]
struct FeesPage {
    chrome: Chrome,
    rows: Vec<FeeRow>,
    total_outstanding: String,
    id_masked: String,
    notices: Vec<crate::notices::NoticeView>,
}

pub async fn fees(State(s): State<AppState>, PayerCtx(c): PayerCtx) -> Result<Response, WebError> {
    let chrome = super::chrome(&s, &c, "fees");
    let now = s.engine.store().now_ms();
    let view = s.engine.payer_view(c.principal())?;
    let me = view.me().await?;
    let all = view.receivables().await?;
    let owing: Vec<_> = all.iter().filter(|r| r.outstanding().is_positive()).collect();
    let total: Fen = owing.iter().map(|r| r.outstanding()).sum();
    let mut rows = Vec::with_capacity(owing.len());
    for r in &owing {
        let mut row = fee_row(r, now);
        if r.waived_fen.is_positive() {
            // The payer sees the original amount, the reduction and why.
            let why = view.waiver_reasons(&r.id).await?.join("；");
            row.waiver = format!("原应缴 {}，已减免 {}：{why}", yuan(r.due_fen), yuan(r.waived_fen));
        }
        row.deferred = crate::views::deferral_note(r);
        rows.push(row);
    }
    let notices = crate::notices::portal_notices(&s).await?.general;
    render(&FeesPage { chrome, rows, total_outstanding: yuan(total), id_masked: me.id_number_masked, notices })
}

#[derive(Template)]
#[template(path = "portal/pay.html")]
struct PayPage {
    chrome: Chrome,
    years: Vec<String>,
    year: String,
    groups: Vec<FeeGroup>,
    error: String,
}

pub struct FeeGroup {
    pub title: &'static str,
    pub rows: Vec<FeeRow>,
}

#[derive(Deserialize)]
pub struct YearQuery {
    year: Option<String>,
}

/// Typed answers per receivable, kept when the page comes back with an error.
type Typed = BTreeMap<String, BTreeMap<String, String>>;

async fn pay_page_with(
    s: &AppState,
    c: &PayerCtx,
    year: Option<String>,
    error: String,
    typed: &Typed,
) -> Result<Response, WebError> {
    let chrome = super::chrome(s, &c.0, "pay");
    let now = s.engine.store().now_ms();
    let all = s.engine.payer_view(c.0.principal())?.receivables().await?;
    let mut years: Vec<String> =
        all.iter().filter(|r| r.outstanding().is_positive()).map(|r| r.academic_year.clone()).collect();
    years.sort_by(|a, b| b.cmp(a));
    years.dedup();
    let year = year.filter(|y| years.contains(y)).or_else(|| years.first().cloned()).unwrap_or_default();
    let rows: Vec<_> = all.iter().filter(|r| r.academic_year == year && r.outstanding().is_positive()).collect();
    let mut annual = Vec::new();
    let mut other = Vec::new();
    for r in &rows {
        let mut row = fee_row(r, now);
        let fields = r.fields();
        if row.payable && !fields.is_empty() {
            // What the item asks: as typed after a refusal, else as the payer last answered.
            let values = match typed.get(&r.id) {
                Some(t) => t.clone(),
                None => s.engine.fee_answers(c.0.principal(), &r.id).await?,
            };
            // Only the items ticked need their answers: the browser must not insist on the rest.
            row.fields = field_views_unenforced(&fields, &values, &format!("f_{}_", r.id));
        }
        if r.fee_type.is_annual() {
            annual.push(row)
        } else {
            other.push(row)
        }
    }
    let groups = vec![FeeGroup { title: "学费", rows: annual }, FeeGroup { title: "其他费用", rows: other }];
    let mut resp = render(&PayPage { chrome, years, year, groups, error: error.clone() })?;
    if !error.is_empty() {
        *resp.status_mut() = axum::http::StatusCode::UNPROCESSABLE_ENTITY;
    }
    Ok(resp)
}

pub async fn pay_page(
    State(s): State<AppState>,
    c: PayerCtx,
    Query(q): Query<YearQuery>,
) -> Result<Response, WebError> {
    pay_page_with(&s, &c, q.year, String::new(), &Typed::new()).await
}

/// The selection form: `sel=<receivable id>` for each chosen line, `amount_<id>=<yuan>`.
pub async fn create_order(
    State(s): State<AppState>,
    c: PayerCtx,
    Form(pairs): Form<Vec<(String, String)>>,
) -> Result<Response, WebError> {
    let get = |k: &str| pairs.iter().find(|(key, _)| key == k).map(|(_, v)| v.as_str());
    let year = get("year").map(str::to_string);
    let mut lines = Vec::new();
    let mut typed = Typed::new();
    for (k, rid) in &pairs {
        if k != "sel" {
            continue;
        }
        let answers = answers_with_prefix(&pairs, &format!("f_{rid}_"));
        if !answers.is_empty() {
            typed.insert(rid.clone(), answers);
        }
        let amount_text = get(&format!("amount_{rid}")).unwrap_or("");
        match Fen::parse_yuan(amount_text) {
            Ok(a) => lines.push((rid.clone(), a)),
            Err(e) => return pay_page_with(&s, &c, year, e.to_string(), &typed).await,
        }
    }
    // What the items ask is kept first (the order then finds it answered).
    for (rid, answers) in &typed {
        match s.engine.answer_fee_fields(c.0.principal(), rid, answers).await {
            Ok(()) => {}
            Err(EngineError::Rule(e)) => return pay_page_with(&s, &c, year, e.to_string(), &typed).await,
            Err(EngineError::NotFound(_)) => return Err(WebError::NotFound),
            Err(e) => return Err(e.into()),
        }
    }
    match s.engine.create_or_reuse_order(c.0.principal(), &lines).await {
        Ok(order_id) => Ok(Redirect::to(&format!("/portal/orders/{order_id}")).into_response()),
        Err(EngineError::Rule(e)) => pay_page_with(&s, &c, year, e.to_string(), &typed).await,
        Err(EngineError::NotFound(_)) => Err(WebError::NotFound),
        Err(e) => Err(e.into()),
    }
}

pub struct LineRow {
    pub item: String,
    pub year: String,
    pub fee_type: &'static str,
    pub amount: String,
}

pub fn line_rows(lines: &[OrderLineView]) -> Vec<LineRow> {
    lines
        .iter()
        .map(|l| LineRow {
            item: l.item_name.clone(),
            year: l.academic_year.clone(),
            fee_type: l.fee_type.label_zh(),
            amount: yuan(l.amount_fen),
        })
        .collect()
}

pub struct PaymentRowView {
    /// Refunds of this payment, for the payer: e.g. `退款 ¥300.00（退款成功）`.
    pub refunds: Vec<String>,
    pub id: String,
    pub merchant_order_no: String,
    pub method: &'static str,
    pub state: &'static str,
    pub state_code: &'static str,
    pub amount: String,
    pub created: String,
    pub succeeded: String,
}

pub fn payment_view(p: &PaymentWithRefunds) -> PaymentRowView {
    let pm = &p.payment;
    PaymentRowView {
        refunds: p.refunds.iter().map(|r| format!("退款 {}（{}）", yuan(r.amount_fen), r.state.label_zh())).collect(),
        id: pm.id.clone(),
        merchant_order_no: pm.merchant_order_no.clone(),
        method: pm.method.label_zh(),
        state: pm.state.label_zh(),
        state_code: pm.state.as_str(),
        amount: yuan(pm.amount_fen),
        created: datetime(pm.created_at_ms),
        succeeded: pm.succeeded_at_ms.map(datetime).unwrap_or_default(),
    }
}

pub struct MethodOption {
    pub code: &'static str,
    pub label: String,
    /// The channel's maintenance notice, if one is shown now.
    pub maintenance: String,
}

#[derive(Template)]
#[template(path = "portal/order.html")]
struct OrderPage {
    chrome: Chrome,
    order_id: String,
    state: &'static str,
    open: bool,
    lines: Vec<LineRow>,
    total: String,
    methods: Vec<MethodOption>,
    /// The campus card is offered: the form asks for its password.
    card_offered: bool,
    /// Why no channel can be offered (nothing accepted, accounts differ…).
    channel_note: String,
    payments: Vec<PaymentRowView>,
    error: String,
    /// The method the payer chose before a refusal (kept selected), or empty.
    chosen: &'static str,
}

async fn order_page_with(
    s: &AppState,
    c: &PayerCtx,
    headers: &HeaderMap,
    id: &str,
    error: String,
    chosen: Option<PayMethod>,
) -> Result<Response, WebError> {
    let chrome = super::chrome(s, &c.0, "pay");
    let view = s.engine.payer_view(c.0.principal())?;
    let (order, lines, payments) = view.order(id).await?;
    let offer = s.engine.offered_methods(id, &view.payer_id, super::device_of(headers)).await?;
    let card = if offer.methods.contains(&PayMethod::CampusCard) { view.card().await? } else { None };
    let notices = crate::notices::portal_notices(s).await?;
    let methods = offer
        .methods
        .iter()
        .map(|m| MethodOption {
            code: m.as_str(),
            label: match (m, &card) {
                (PayMethod::CampusCard, Some((_, balance))) => format!("校园卡（余额 ¥{balance}）"),
                _ => m.channel_kind().label_zh().to_string(),
            },
            maintenance: notices.for_channel(m.channel_kind()),
        })
        .collect();
    let mut views = Vec::new();
    for p in payments {
        views.push(payment_view(&PaymentWithRefunds { payment: p, refunds: Vec::new() }));
    }
    render(&OrderPage {
        chrome,
        order_id: order.id.clone(),
        state: order.state.label_zh(),
        open: order.state == OrderState::Open,
        lines: line_rows(&lines),
        total: yuan(order.total_fen),
        card_offered: offer.methods.contains(&PayMethod::CampusCard),
        channel_note: offer.none_because.map(|m| format!("{m}。")).unwrap_or_default(),
        methods,
        payments: views,
        error,
        chosen: chosen.map(PayMethod::as_str).unwrap_or_default(),
    })
}

pub async fn order_page(
    State(s): State<AppState>,
    c: PayerCtx,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response, WebError> {
    order_page_with(&s, &c, &headers, &id, String::new(), None).await
}

#[derive(Deserialize)]
pub struct PayForm {
    method: String,
    #[serde(default)]
    card_password: String,
}

pub async fn pay_order(
    State(s): State<AppState>,
    c: PayerCtx,
    headers: HeaderMap,
    Path(id): Path<String>,
    Form(f): Form<PayForm>,
) -> Result<Response, WebError> {
    let method = PayMethod::parse(&f.method).ok_or_else(|| WebError::BadRequest("请选择支付方式".into()))?;
    let by = c.0.principal().clone();
    let started = if method == PayMethod::CampusCard {
        let password = f.card_password.clone();
        s.engine
            .pay_with_card(&by, &id, |hash| bursar_engine::access::passwords::verify_blocking(&password, hash))
            .await
    } else {
        let payer_id = by.payer().map(|p| p.id.clone()).unwrap_or_default();
        let ctx = PayContext {
            client_ip: super::client_ip(&headers),
            openid: super::openid_for(&s, &payer_id),
            return_base: None,
        };
        s.engine.start_payment(&by, &id, method, &ctx).await
    };
    match started {
        // `#go`: this visit comes from choosing the channel, so the page's script may go on to
        // the channel's cashier by itself (a return from the cashier must not bounce back).
        Ok(p) => Ok(Redirect::to(&format!("/portal/payments/{}#go", p.id)).into_response()),
        Err(EngineError::NotFound(_)) => Err(WebError::NotFound),
        Err(e) => {
            let msg = WebError::from(e).to_string();
            let mut resp = order_page_with(&s, &c, &headers, &id, msg, Some(method)).await?;
            *resp.status_mut() = axum::http::StatusCode::UNPROCESSABLE_ENTITY;
            Ok(resp)
        }
    }
}
