//! A payment as the payer follows it (QR, redirect, gateway form or payment sheet; waiting;
//! result), its voucher, the payer's records and paid information, and the public page a
//! receipt's QR code opens.

use bursar_domain::receipt::Paper;
use std::collections::HashMap;

use askama::Template;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Redirect, Response};
use axum::Json;
use bursar_domain::fee::FeeType;
use bursar_domain::payment::PaymentState;
use bursar_domain::receipt::ReceiptState;
use bursar_domain::Fen;

use bursar_engine::queries::voucher::VoucherFacts;

use super::fees::{line_rows, payment_view, LineRow, PaymentRowView};
use crate::guard::PayerCtx;
use crate::i18n::Translate as _;
use crate::views::{datetime, render, yuan, Chrome};
use crate::{AppState, WebError};

#[derive(Template)]
#[template(path = "portal/payment.html")]
struct PaymentPage {
    chrome: Chrome,
    p: PaymentRowView,
    order_id: String,
    waiting: bool,
    succeeded: bool,
    expires: String,
    /// What the payer does next (QR, redirect, form, JSAPI).
    act: crate::views::ActionView,
    lines: Vec<LineRow>,
}

pub async fn payment_page(
    State(s): State<AppState>,
    PayerCtx(c): PayerCtx,
    Path(id): Path<String>,
) -> Result<Response, WebError> {
    let chrome = super::chrome(&s, &c, "pay");
    let view = s.engine.payer_view(c.principal())?;
    let p = view.payment(&id).await?;
    let waiting = p.payment.state == PaymentState::Paying;
    let act = crate::views::ActionView::of(&p.payment, waiting, s.config.sim_base_url.as_deref());
    let lines = line_rows(&view.order_lines(&p.payment.order_id).await?);
    let mut resp = render(&PaymentPage {
        chrome,
        order_id: p.payment.order_id.clone(),
        waiting,
        succeeded: p.payment.state == PaymentState::Succeeded,
        expires: datetime(p.payment.expires_at_ms),
        lines,
        p: payment_view(&p),
        act: act.clone(),
    })?;
    act.allow_gateway(&mut resp);
    Ok(resp)
}

/// A gateway (UnionPay) returns the payer by posting a form to the payment page. The post
/// changes nothing (the back notification and the active query decide the payment) and carries
/// no session cookie (it is cross-site): answer with a redirect to the page itself.
pub async fn front_return(Path(id): Path<String>) -> Response {
    if id.is_empty() || id.len() > 64 || !id.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') {
        return WebError::NotFound.into_response();
    }
    Redirect::to(&format!("/portal/payments/{id}")).into_response()
}

#[derive(serde::Serialize)]
pub struct StatusJson {
    state: &'static str,
    /// The state as the payer reads it, in their language.
    label: String,
}

pub async fn payment_status(
    State(s): State<AppState>,
    PayerCtx(c): PayerCtx,
    Path(id): Path<String>,
) -> Result<Json<StatusJson>, WebError> {
    let p = s.engine.payer_view(c.principal())?.payment(&id).await?;
    let state = p.payment.state;
    Ok(Json(StatusJson { label: crate::i18n::t(state.label_zh()).into_owned(), state: state.as_str() }))
}

pub async fn close_payment(
    State(s): State<AppState>,
    PayerCtx(c): PayerCtx,
    Path(id): Path<String>,
) -> Result<Response, WebError> {
    let p = s.engine.payer_view(c.principal())?.payment(&id).await?;
    s.engine.close_payment(c.principal(), &id).await?;
    Ok(Redirect::to(&format!("/portal/orders/{}", p.payment.order_id)).into_response())
}

/// What a voucher prints (the portal's and the hosted cashier's pages share it).
pub struct VoucherBody {
    pub method: &'static str,
    pub succeeded: String,
    pub merchant_order_no: String,
    pub amount: String,
    pub payer_name: String,
    pub payer_identifier: String,
    pub payer_id_masked: String,
    /// The payer's college and class ("" when none).
    pub payer_department: String,
    pub payer_class: String,
    /// 收款单位, and the total in capitals (人民币大写).
    pub receiving_unit: String,
    /// The receiving unit's seal image (empty: none set).
    pub seal_url: String,
    /// The paper it is laid out for (a code), and the papers to choose from: (code, label, chosen).
    pub paper: &'static str,
    pub papers: Vec<(&'static str, &'static str, bool)>,
    pub total_capitals: String,
    pub channel_txn_id: String,
    pub lines: Vec<LineRow>,
    pub receipt_number: String,
    pub receipt_state: &'static str,
    /// Nothing was owed when the money arrived: it waits to be refunded.
    pub overpayment: bool,
    /// Part of it found nothing owed (that part waits to be refunded).
    pub overpaid_part: Option<String>,
    pub verify_url: String,
    pub verify_qr: String,
}

/// The voucher's body from what the engine read.
pub fn voucher_body(s: &AppState, f: VoucherFacts, paper: &PaperQuery) -> VoucherBody {
    // The lines say where the money went (not what the order asked for): a late or doubled
    // payment's part that found nothing owed is shown as such.
    let overpaid = f.lines.iter().filter(|l| l.item.is_none()).map(|l| l.amount.get()).sum::<i64>();
    let lines: Vec<LineRow> = f
        .lines
        .into_iter()
        .map(|l| match l.item {
            Some((item, year, fee_type)) => {
                LineRow { item, year, fee_type: fee_type.label_zh(), amount: yuan(l.amount) }
            }
            None => {
                LineRow {
                    item: "多缴款，待退还".into(), year: String::new(), fee_type: "", amount: yuan(l.amount)
                }
            }
        })
        .collect();
    let verify_url = format!(
        "{}/receipts/verify/{}",
        s.engine.config().public_base_url.trim_end_matches('/'),
        f.receipt.verify_code
    );
    let p = f.payment;
    VoucherBody {
        method: p.method.label_zh(),
        succeeded: p.succeeded_at_ms.map(datetime).unwrap_or_default(),
        merchant_order_no: p.merchant_order_no.clone(),
        amount: yuan(p.amount_fen),
        payer_name: f.payer.name,
        payer_identifier: f.payer.identifier,
        payer_id_masked: f.payer.id_number_masked,
        payer_department: f.department,
        payer_class: f.payer.class_name,
        receiving_unit: f.receiving_unit.unwrap_or_else(|| s.config.school_name()),
        seal_url: s.config.image_url(bursar_engine::school_profile::ImageKind::Seal),
        paper: paper.chosen(s).as_str(),
        papers: Paper::ALL.iter().map(|p| (p.as_str(), p.label_zh(), *p == paper.chosen(s))).collect(),
        total_capitals: p.amount_fen.to_capitals(),
        channel_txn_id: p.channel_txn_id.clone().unwrap_or_default(),
        lines,
        receipt_number: f.receipt.number,
        receipt_state: f.receipt.state.label_zh(),
        overpayment: f.receipt.state == ReceiptState::Overpayment,
        overpaid_part: (overpaid > 0 && f.receipt.state != ReceiptState::Overpayment).then(|| yuan(Fen(overpaid))),
        verify_qr: bursar_channels::qr_svg(&verify_url),
        verify_url,
    }
}

#[derive(Template)]
#[template(path = "portal/voucher.html")]
struct VoucherPage {
    chrome: Chrome,
    v: VoucherBody,
}

/// `?paper=a5`: the paper to lay a voucher out for (else the school's choice in 系统设置).
#[derive(serde::Deserialize, Default)]
pub struct PaperQuery {
    #[serde(default)]
    paper: Option<String>,
}

impl PaperQuery {
    pub fn chosen(&self, s: &AppState) -> Paper {
        self.paper.as_deref().and_then(Paper::parse).unwrap_or_else(|| crate::school::current(&s.config.profile).paper)
    }
}

pub async fn voucher(
    State(s): State<AppState>,
    PayerCtx(c): PayerCtx,
    Path(id): Path<String>,
    axum::extract::Query(paper): axum::extract::Query<PaperQuery>,
) -> Result<Response, WebError> {
    let chrome = super::chrome(&s, &c, "records");
    let view = s.engine.payer_view(c.principal())?;
    let Some(facts) = view.voucher(&id).await? else {
        return Err(WebError::BadRequest("该笔支付尚未成功，暂无缴费凭证".into()));
    };
    render(&VoucherPage { chrome, v: voucher_body(&s, facts, &paper) })
}

#[derive(Template)]
#[template(path = "portal/records.html")]
struct RecordsPage {
    chrome: Chrome,
    payments: Vec<PaymentRowView>,
}

pub async fn records(State(s): State<AppState>, PayerCtx(c): PayerCtx) -> Result<Response, WebError> {
    let chrome = super::chrome(&s, &c, "records");
    let payments = s.engine.payer_view(c.principal())?.payments().await?;
    render(&RecordsPage { chrome, payments: payments.iter().map(payment_view).collect() })
}

pub struct PaidLine {
    pub item: String,
    pub year: String,
    pub due: String,
    pub paid: String,
    pub outstanding: String,
    /// (time, method, amount) of each payment credited to it — every channel, offline included.
    pub payments: Vec<(String, &'static str, String)>,
}

pub struct PaidGroup {
    pub label: &'static str,
    pub lines: Vec<PaidLine>,
    pub paid_total: String,
}

#[derive(Template)]
#[template(path = "portal/paid.html")]
struct PaidPage {
    chrome: Chrome,
    groups: Vec<PaidGroup>,
    recovered: i64,
}

/// 已缴信息 (payer guide §7): what was paid, by fee type, with every payment behind it.
pub async fn paid_info(State(s): State<AppState>, PayerCtx(c): PayerCtx) -> Result<Response, WebError> {
    let chrome = super::chrome(&s, &c, "paid");
    let view = s.engine.payer_view(c.principal())?;
    let mut by_receivable: HashMap<String, Vec<(String, &'static str, String)>> = HashMap::new();
    for (rid, p, amount) in view.credited().await? {
        let when = datetime(p.succeeded_at_ms.unwrap_or(p.created_at_ms));
        by_receivable.entry(rid).or_default().push((when, p.method.label_zh(), yuan(amount)));
    }
    let recovered = view.recovered_count().await?;
    let receivables = view.receivables().await?;
    let mut groups = Vec::new();
    for (label, annual) in [(FeeType::Tuition.label_zh(), true), (FeeType::Other.label_zh(), false)] {
        let mine: Vec<_> =
            receivables.iter().filter(|r| r.fee_type.is_annual() == annual && r.paid_fen.is_positive()).collect();
        if mine.is_empty() {
            continue;
        }
        groups.push(PaidGroup {
            label,
            paid_total: yuan(mine.iter().map(|r| r.paid_fen).sum()),
            lines: mine
                .iter()
                .map(|r| PaidLine {
                    item: r.item_name.clone(),
                    year: r.academic_year.clone(),
                    due: yuan(Fen(r.due_fen.get() - r.waived_fen.get())),
                    paid: yuan(r.paid_fen),
                    outstanding: yuan(r.outstanding()),
                    payments: by_receivable.remove(&r.id).unwrap_or_default(),
                })
                .collect(),
        });
    }
    render(&PaidPage { chrome, groups, recovered })
}

#[derive(Template)]
#[template(path = "portal/receipt_verify.html")]
struct ReceiptVerifyPage {
    school_name: String,
    number: String,
    state: &'static str,
    valid: bool,
    payer_name: String,
    payer_identifier: String,
    amount: String,
    paid_at: String,
    method: &'static str,
    lines: Vec<LineRow>,
}

/// The public page a receipt's QR code opens: enough to tell a genuine receipt from a forged one,
/// nothing more (masked name and number, no ID number, no phone). A payment that arrived when
/// nothing was owed any more is said to be an overpayment waiting to be refunded, not a receipt
/// for the fees.
pub async fn verify_receipt(State(s): State<AppState>, Path(code): Path<String>) -> Result<Response, WebError> {
    let v = s.engine.verify_receipt(&code).await?.ok_or(WebError::NotFound)?;
    render(&ReceiptVerifyPage {
        school_name: s.config.school_name(),
        number: v.receipt.number,
        valid: v.receipt.state == ReceiptState::Valid,
        state: v.receipt.state.label_zh(),
        payer_name: bursar_domain::payer::mask_name(&v.payer.name),
        payer_identifier: bursar_domain::payer::mask_identifier(&v.payer.identifier),
        amount: yuan(v.receipt.amount_fen),
        paid_at: v.payment.succeeded_at_ms.map(datetime).unwrap_or_default(),
        method: v.payment.method.label_zh(),
        lines: if v.receipt.state == ReceiptState::Overpayment { Vec::new() } else { line_rows(&v.lines) },
    })
}
