//! 缴费人: search payers (number, name, ID last four, class), see one payer's whole record, and
//! import the school's roster (学生/教职工花名册) with a template to download and an error
//! report (row, column, value, reason) as xlsx.

use askama::Template;
use axum::extract::{Multipart, Path, Query, State};
use axum::response::Response;
use bursar_domain::access::Permission;
use bursar_domain::payer::{mask_phone, PayerKind};
use bursar_domain::roster::PayerStatus;
use bursar_engine::roster::{template_headers, RosterReport};

use super::import_report::{xlsx_response, ImportReport};
use serde::Deserialize;

use crate::guard::{get, post, Current, Guard, OperatorCtx, Routes, MAX_UPLOAD_BYTES};
use crate::i18n::Translate as _;
use crate::views::{datetime, payment_badge, render, yuan, Chrome};
use crate::{AppState, WebError};

pub fn routes() -> Routes {
    Routes::new()
        .route("/admin/payers", Guard::Permission(Permission::ViewPayers), get(list))
        .route("/admin/payers/template.xlsx", Guard::Permission(Permission::ViewPayers), get(template))
        .route(
            "/admin/payers/import",
            Guard::Permission(Permission::ManagePayers),
            post(import).body_limit(MAX_UPLOAD_BYTES),
        )
        .route("/admin/payers/{id}", Guard::Permission(Permission::ViewPayers), get(detail))
}

/// The kinds a roster holds, for the import form.
const ROSTER_KINDS: [PayerKind; 3] = [PayerKind::EnrolledStudent, PayerKind::NewStudent, PayerKind::Staff];

pub struct PayerLine {
    pub id: String,
    pub identifier: String,
    pub name: String,
    pub kind: &'static str,
    pub department: String,
    pub class_name: String,
    pub status: &'static str,
    pub phone: String,
}

#[derive(Template)]
#[template(path = "admin/payers.html")]
struct PayersPage {
    chrome: Chrome,
    q: String,
    kind: String,
    kinds: Vec<(&'static str, &'static str)>,
    rows: Vec<PayerLine>,
    /// The next page's cursor (`after` query value), when there is one.
    next: String,
    may_import: bool,
    report: Option<ImportReport>,
    error: String,
}

impl PayersPage {
    /// The next page, keeping the search.
    fn next_href(&self) -> String {
        let mut q = form_urlencoded::Serializer::new(String::new());
        q.append_pair("q", &self.q).append_pair("kind", &self.kind).append_pair("after", &self.next);
        format!("/admin/payers?{}", q.finish())
    }
}

#[derive(Deserialize, Default)]
pub struct ListQuery {
    #[serde(default)]
    q: String,
    #[serde(default)]
    kind: String,
    #[serde(default)]
    after: String,
}

fn status_label(code: &str) -> &'static str {
    PayerStatus::parse(code).map(PayerStatus::label_zh).unwrap_or("")
}

async fn page_with(
    s: &AppState,
    c: &Current,
    q: ListQuery,
    imported: Option<(String, RosterReport)>,
    error: String,
) -> Result<Response, WebError> {
    let kind = PayerKind::parse(&q.kind);
    let after = q.after.split_once('|');
    let mut found = s.engine.operator_view(c.principal()).search_payers(&q.q, kind, after).await?;
    let page = bursar_engine::queries::payers::PAGE as usize;
    let next = if found.len() > page {
        found.truncate(page);
        found.last().map(|r| format!("{}|{}", r.identifier, r.id)).unwrap_or_default()
    } else {
        String::new()
    };
    let rows = found
        .into_iter()
        .map(|r| PayerLine {
            id: r.id,
            identifier: r.identifier,
            name: r.name,
            kind: r.kind.label_zh(),
            department: r.department.unwrap_or_default(),
            class_name: r.class_name,
            status: status_label(&r.status),
            phone: mask_phone(&r.phone),
        })
        .collect();
    let report = imported.map(|(file_name, r)| {
        let summary =
            format!("共 {} 行，新增 {} 人，更新 {} 人，无变化 {} 人", r.rows, r.created, r.updated, r.unchanged);
        ImportReport::new(file_name, r.applied, summary, &r.problems)
    });
    let failed = !error.is_empty() || report.as_ref().is_some_and(|r| !r.applied);
    let mut resp = render(&PayersPage {
        chrome: super::chrome(s, c, "payers"),
        q: q.q,
        kind: q.kind,
        kinds: ROSTER_KINDS.iter().map(|k| (k.as_str(), k.label_zh())).collect(),
        rows,
        next,
        may_import: c.principal().can(Permission::ManagePayers),
        report,
        error,
    })?;
    if failed {
        *resp.status_mut() = axum::http::StatusCode::UNPROCESSABLE_ENTITY;
    }
    Ok(resp)
}

pub async fn list(
    State(s): State<AppState>,
    OperatorCtx(c): OperatorCtx,
    Query(q): Query<ListQuery>,
) -> Result<Response, WebError> {
    page_with(&s, &c, q, None, String::new()).await
}

pub async fn import(
    State(s): State<AppState>,
    OperatorCtx(c): OperatorCtx,
    form: Multipart,
) -> Result<Response, WebError> {
    let up = super::import_report::read_upload(form).await?;
    let kind = up
        .fields
        .iter()
        .find(|(k, _)| k == "kind")
        .and_then(|(_, v)| PayerKind::parse(v))
        .filter(|k| ROSTER_KINDS.contains(k))
        .unwrap_or(PayerKind::EnrolledStudent);
    let Some((name, bytes)) = up.file else {
        return page_with(&s, &c, ListQuery::default(), None, "请选择要导入的花名册文件".into()).await;
    };
    let none = |_: usize, _: usize| {};
    match s.engine.import_roster(c.principal(), kind, &bytes, up.mode, &none).await {
        Ok(report) => page_with(&s, &c, ListQuery::default(), Some((name, report)), String::new()).await,
        Err(bursar_engine::EngineError::Rule(e)) => {
            page_with(&s, &c, ListQuery::default(), None, format!("{name}：{e}")).await
        }
        Err(e) => Err(e.into()),
    }
}

/// The roster template: the headers the import understands, one example row, and notes.
pub async fn template(OperatorCtx(_): OperatorCtx) -> Result<Response, WebError> {
    let xerr = |e: rust_xlsxwriter::XlsxError| WebError::Internal(format!("xlsx: {e}"));
    let mut book = rust_xlsxwriter::Workbook::new();
    let text = rust_xlsxwriter::Format::new().set_num_format("@");
    let bold = rust_xlsxwriter::Format::new().set_bold();
    let sheet = book.add_worksheet().set_name("花名册").map_err(xerr)?;
    let example = [
        "2099000001",
        "张三",
        "居民身份证",
        "11010519491231002X",
        "男",
        "计算机学院",
        "软件工程",
        "2026",
        "软件2601",
        "在读",
        "13800138000",
        "2026",
    ];
    for (col, h) in template_headers().iter().enumerate() {
        let col = u16::try_from(col).map_err(|_| WebError::Internal("template columns".into()))?;
        sheet.write_string_with_format(0, col, *h, &bold).map_err(xerr)?;
        // Every column as text, so numbers keep their leading zeros.
        sheet.set_column_format(col, &text).map_err(xerr)?;
        sheet.set_column_width(col, 14).map_err(xerr)?;
        if let Some(v) = example.get(usize::from(col)) {
            sheet.write_string(1, col, *v).map_err(xerr)?;
        }
    }
    sheet.set_freeze_panes(1, 0).map_err(xerr)?;
    let notes = book.add_worksheet().set_name("填写说明").map_err(xerr)?;
    let lines = [
        "必填列：学号/工号、姓名、证件号码；其余列可留空。表头名称请勿修改，列的顺序不限。",
        "学号/工号请以文本格式填写，前导零会保留；同一文件中不能重复。",
        "证件类型留空即为居民身份证，号码按 GB 11643 校验；其他证件填写：护照、港澳居民来往内地通行证、台湾居民来往大陆通行证、外国人永久居留身份证、其他。",
        "院系须与系统中的名称一致；学籍状态/在职状态：在读、休学、毕业、退学、在职、离职、退休（留空为在读/在职）。",
        "同一学号/工号再次导入时按表格更新信息（不改变密码）；新导入的缴费人用学校规定的初始密码登录，首次登录须修改并核实证件号码。",
        "本说明页不会被导入。",
    ];
    for (row, line) in lines.iter().enumerate() {
        let row = u32::try_from(row).map_err(|_| WebError::Internal("template notes".into()))?;
        notes.write_string(row, 0, *line).map_err(xerr)?;
    }
    Ok(xlsx_response(book.save_to_buffer().map_err(xerr)?, "payer-roster-template.xlsx"))
}

pub struct ReceivableLine {
    pub id: String,
    pub item: String,
    pub waived: String,
    /// Something is still owed (a reduction may be asked for).
    pub owing: bool,
    /// Nothing paid and something owed: it may be cancelled.
    pub cancellable: bool,
    pub year: String,
    pub due: String,
    pub paid: String,
    pub outstanding: String,
    /// "缓缴至 …" when an approved deferral holds (empty otherwise).
    pub deferred: String,
    /// 备注 from the import that raised it.
    pub note: String,
}

pub struct PaymentLine {
    pub at: String,
    pub method: &'static str,
    pub amount: String,
    pub state: &'static str,
    pub badge: &'static str,
    pub merchant_order_no: String,
    /// The voucher's number ("" until it succeeded).
    pub receipt: String,
}

/// A refund of the payer's, as their record lists it.
pub struct RefundLine {
    pub at: String,
    pub amount: String,
    pub kind: &'static str,
    pub reason: String,
    pub state: &'static str,
}

pub struct LogLine {
    pub at: String,
    pub action: String,
    /// Who did it, and what the entry says, in words.
    pub actor: String,
    pub detail: String,
}

#[derive(Template)]
#[template(path = "admin/payer.html")]
struct PayerPage {
    chrome: Chrome,
    id: String,
    may_waive: bool,
    deferral_kinds: Vec<(&'static str, &'static str)>,
    may_cancel: bool,
    may_manage: bool,
    frozen: bool,
    account_state: String,
    valid_until: String,
    has_password: bool,
    notice: String,
    name: String,
    identifier: String,
    kind: &'static str,
    id_number: String,
    phone: String,
    department: String,
    class_name: String,
    /// What the roster says: (label, value) of each fact it gave.
    roster: Vec<(&'static str, String)>,
    credit: String,
    receivables: Vec<ReceivableLine>,
    payments: Vec<PaymentLine>,
    refunds: Vec<RefundLine>,
    log: Vec<LogLine>,
}

#[derive(Deserialize, Default)]
pub struct DetailQuery {
    #[serde(default)]
    waiver: Option<String>,
    #[serde(default)]
    deferral: Option<String>,
    #[serde(default)]
    cancelled: Option<String>,
    #[serde(default)]
    account: Option<String>,
}

pub async fn detail(
    State(s): State<AppState>,
    OperatorCtx(c): OperatorCtx,
    Path(id): Path<String>,
    Query(q): Query<DetailQuery>,
) -> Result<Response, WebError> {
    // What was just done, said back (fixed texts: nothing from the address is shown).
    let notice = if q.waiver.is_some() {
        "减免申请已提交，待另一位审批人批准。"
    } else if q.deferral.is_some() {
        "缓缴申请已提交，待另一位审批人批准。"
    } else if q.cancelled.is_some() {
        "取消申请已提交，待另一位审批人在“减免缓缴”批准后生效。"
    } else {
        match q.account.as_deref() {
            Some("frozen") => "账户已冻结，其登录已全部退出。",
            Some("unfrozen") => "账户已解冻。",
            Some("validity") => "有效期已保存。",
            _ => "",
        }
    };
    detail_page(&s, &c, &id, notice.to_string()).await
}

/// A payer's record with `notice` said at the top.
/// The roster's facts a record shows (those it gave), in words.
fn roster_facts(r: Option<&bursar_engine::rows::RosterRow>) -> Vec<(&'static str, String)> {
    use bursar_domain::roster::{Gender, IdType, PayerStatus};
    let Some(r) = r else { return Vec::new() };
    let mut out = Vec::new();
    if let Some(t) = IdType::parse(&r.id_type) {
        out.push(("证件类型", t.label_zh().to_string()));
    }
    if let Some(g) = r.gender.as_deref().and_then(Gender::parse) {
        out.push(("性别", g.label_zh().to_string()));
    }
    for (label, v) in [("专业", &r.major), ("年级", &r.grade)] {
        if !v.is_empty() {
            out.push((label, v.clone()));
        }
    }
    if let Some(y) = r.enrolled_year {
        out.push(("入学年份", y.to_string()));
    }
    if let Some(s) = PayerStatus::parse(&r.status) {
        out.push(("学籍/在职状态", s.label_zh().to_string()));
    }
    out
}

/// What a payer's record shows of a log entry's detail: amounts, years, dates, kinds and reasons
/// in words — never identifiers (the full entry is in 操作日志).
fn payer_log_detail(detail: &str) -> String {
    let parts: Vec<_> = super::oplog_detail::parts(detail)
        .into_iter()
        .filter(|p| {
            // Words (Chinese), or figures (amounts, dates): an ASCII word is a code.
            let figures = p.value.chars().all(|c| c.is_ascii_digit() || "¥.,-~ ".contains(c));
            !p.code && !p.label.is_empty() && (!p.value.is_ascii() || figures)
        })
        .collect();
    super::oplog_detail::plain(&parts)
}

pub(super) async fn detail_page(s: &AppState, c: &Current, id: &str, notice: String) -> Result<Response, WebError> {
    let view = s.engine.operator_view(c.principal());
    let d = view.payer_dossier(id).await?;
    let names = view.operator_names().await?;
    let p = &d.payer;
    let now = s.engine.store().now_ms();
    let account_state = match (p.frozen_at_ms, p.valid_until_ms) {
        (Some(at), _) => format!("已冻结（{}，{}）", datetime(at), p.frozen_reason),
        (None, Some(until)) if until <= now => {
            format!("已过有效期（{}）", bursar_domain::time_fmt::date_cst(until - 1))
        }
        (None, Some(until)) => format!("正常，有效期至 {}", bursar_domain::time_fmt::date_cst(until - 1)),
        (None, None) => "正常".to_string(),
    };
    render(&PayerPage {
        chrome: super::chrome(s, c, "payers"),
        may_manage: c.principal().can(Permission::ManagePayers),
        frozen: p.frozen_at_ms.is_some(),
        account_state,
        valid_until: p.valid_until_ms.map(|u| bursar_domain::time_fmt::date_cst(u - 1)).unwrap_or_default(),
        has_password: p.password_hash != "!",
        id: p.id.clone(),
        may_waive: c.principal().can(Permission::RequestWaiver),
        deferral_kinds: bursar_domain::fee::DeferralKind::ALL.iter().map(|k| (k.as_str(), k.label_zh())).collect(),
        may_cancel: c.principal().can(Permission::RaiseReceivables),
        notice,
        name: p.name.clone(),
        identifier: bursar_engine::access::accounts::shown_identifier(p.kind, &p.identifier),
        kind: p.kind.label_zh(),
        id_number: p.id_number_masked.clone(),
        phone: mask_phone(&p.phone),
        department: d.department.clone().unwrap_or_default(),
        class_name: p.class_name.clone(),
        roster: roster_facts(d.roster.as_ref()),
        refunds: d
            .refunds
            .iter()
            .map(|r| RefundLine {
                at: datetime(r.created_at_ms),
                amount: yuan(r.amount_fen),
                kind: r.kind.label_zh(),
                reason: r.reason.clone(),
                state: r.state.label_zh(),
            })
            .collect(),
        credit: yuan(d.credit),
        receivables: d
            .receivables
            .iter()
            .map(|r| ReceivableLine {
                id: r.id.clone(),
                waived: yuan(r.waived_fen),
                owing: r.outstanding().is_positive(),
                cancellable: r.outstanding().is_positive() && !r.paid_fen.is_positive(),
                item: r.item_name.clone(),
                year: r.academic_year.clone(),
                due: yuan(r.due_fen),
                paid: yuan(r.paid_fen),
                outstanding: yuan(r.outstanding()),
                deferred: crate::views::deferral_note(r),
                note: r.note.clone(),
            })
            .collect(),
        payments: d
            .payments
            .iter()
            .map(|x| PaymentLine {
                at: datetime(x.succeeded_at_ms.unwrap_or(x.created_at_ms)),
                method: x.method.label_zh(),
                amount: yuan(x.amount_fen),
                state: x.state.label_zh(),
                badge: payment_badge(x.state),
                merchant_order_no: x.merchant_order_no.clone(),
                receipt: d.receipts.get(&x.id).cloned().unwrap_or_default(),
            })
            .collect(),
        log: d
            .log
            .iter()
            .map(|l| LogLine {
                at: datetime(l.at_ms),
                action: super::oplog::action_label(&l.action),
                actor: super::oplog::actor_label(&names, l.actor_kind, &l.actor_id),
                detail: payer_log_detail(&l.detail),
            })
            .collect(),
    })
}
