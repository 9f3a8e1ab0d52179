//! 收费项目: departments apply for fee items (with the channels they propose); finance approves
//! them — with channels that work — or rejects them, with a comment, and opens or stops them.
//! Whoever applied cannot approve (four-eyes); only approved items can be charged.

use crate::guard::{get, post};
use askama::Template;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Redirect, Response};
use axum::Form;
use bursar_domain::access::Permission;
use bursar_domain::fee::{FeeItemStatus, FeeType};
use bursar_domain::payment::{ChannelKind, MerchantState};
use bursar_domain::Fen;
use bursar_engine::collection::fee_items::{FeeItemApplication, FeeItemDecision};
use bursar_engine::EngineError;

use super::fee_item_profile::{describe_audience, ProfileChoices, ProfileForm};
use crate::guard::{Guard, OperatorCtx, Routes};
use crate::i18n::Translate as _;
use crate::views::{date_or_unlimited, render, Chrome};
use crate::{AppState, WebError};

pub fn routes() -> Routes {
    Routes::new()
        .route("/admin/fee-items", Guard::Operator, get(list))
        .route("/admin/fee-items", Guard::Permission(Permission::ApplyFeeItem), post(apply))
        .route("/admin/fee-items/{id}", Guard::Operator, get(detail))
        .route("/admin/fee-items/{id}/decide", Guard::Permission(Permission::ApproveFeeItem), post(decide))
        .route("/admin/fee-items/{id}/status", Guard::Permission(Permission::ApproveFeeItem), post(set_status))
        .route("/admin/fee-items/{id}/answers.xlsx", Guard::Permission(Permission::ViewCollection), get(answers_xlsx))
        .route("/admin/fee-items/{id}/close", Guard::Permission(Permission::ApproveFeeItem), post(close))
}

pub struct ItemView {
    /// Whether this operator can decide it now (the list says 审核 rather than 查看).
    pub decidable: bool,
    pub id: String,
    pub code: String,
    pub name: String,
    pub fee_type: &'static str,
    pub status: &'static str,
    pub pending: bool,
    pub window: String,
    pub requested_by: String,
}

#[derive(Template)]
#[template(path = "admin/fee_items.html")]
struct ListPage {
    chrome: Chrome,
    items: Vec<ItemView>,
    can_apply: bool,
    /// What was typed, kept when the application is refused.
    form: ApplyForm,
    departments: Vec<(String, String)>,
    types: Vec<(&'static str, &'static str)>,
    /// Whom it is for, its receipt and notice (the shared part of the item forms).
    pf: ProfileForm,
    choices: ProfileChoices,
    error: String,
}

/// A fee item as the pages show it; `may_decide`: this operator may approve it (when pending).
fn item_view(
    i: bursar_engine::rows::FeeItemRow,
    may_decide: bool,
    names: &std::collections::HashMap<String, String>,
) -> ItemView {
    let pending = i.status == FeeItemStatus::PendingApproval;
    ItemView {
        decidable: pending && may_decide,
        pending,
        window: format!(
            "{} 至 {}",
            date_or_unlimited(i.window_start_ms, false),
            date_or_unlimited(i.window_end_ms, true)
        ),
        requested_by: names_of(names, &i.requested_by),
        id: i.id,
        code: i.code,
        name: i.name,
        fee_type: i.fee_type.label_zh(),
        status: i.status.label_zh(),
    }
}

fn names_of(names: &std::collections::HashMap<String, String>, actor: &str) -> String {
    names.get(actor).cloned().unwrap_or_else(|| if actor.is_empty() { "—".into() } else { "系统".into() })
}

/// The application form's fields as typed.
#[derive(Default)]
pub struct ApplyForm {
    pub code: String,
    pub name: String,
    pub department_id: String,
    pub fee_type: String,
    pub partial_allowed: bool,
    pub min_partial: String,
    pub start: String,
    pub end: String,
    pub note: String,
    /// A rejected application being sent back (its id; empty for a new one).
    pub resubmit: String,
}

async fn list_with(s: &AppState, c: &OperatorCtx, error: String) -> Result<Response, WebError> {
    list_with_form(s, c, error, ApplyForm::default(), ProfileForm::default()).await
}

async fn list_with_form(
    s: &AppState,
    c: &OperatorCtx,
    error: String,
    form: ApplyForm,
    pf: ProfileForm,
) -> Result<Response, WebError> {
    let p = c.0.principal();
    if !p.can(Permission::ApplyFeeItem) && !p.can(Permission::ApproveFeeItem) && !p.can(Permission::ViewCollection) {
        return Err(WebError::Forbidden(bursar_domain::AccessError::Missing(Permission::ApplyFeeItem).to_string()));
    }
    let view = s.engine.operator_view(p);
    let names = view.operator_names().await?;
    let items = view
        .fee_items()
        .await?
        .into_iter()
        .map(|i| {
            let decidable = p.can(Permission::ApproveFeeItem) && i.requested_by != p.actor_ref();
            item_view(i, decidable, &names)
        })
        .collect();
    let can_apply = p.can(Permission::ApplyFeeItem);
    let departments = if can_apply { view.departments().await? } else { Vec::new() };
    let failed = !error.is_empty();
    let mut resp = render(&ListPage {
        chrome: super::chrome(s, &c.0, "fee_items"),
        items,
        can_apply,
        form,
        choices: ProfileChoices::new(if can_apply { view.all_departments().await? } else { Vec::new() }),
        departments,
        types: FeeType::ALL.iter().map(|t| (t.as_str(), t.label_zh())).collect(),
        pf,
        error,
    })?;
    if failed {
        *resp.status_mut() = axum::http::StatusCode::UNPROCESSABLE_ENTITY;
    }
    Ok(resp)
}

#[derive(serde::Deserialize)]
pub struct ListQuery {
    resubmit: Option<String>,
}

pub async fn list(
    State(s): State<AppState>,
    c: OperatorCtx,
    axum::extract::Query(q): axum::extract::Query<ListQuery>,
) -> Result<Response, WebError> {
    // 修改后重新提交: the form filled with the rejected application.
    if let Some(id) = q.resubmit {
        let (item, _) = s.engine.operator_view(c.0.principal()).fee_item(&id).await?;
        if item.status == FeeItemStatus::Rejected {
            let form = ApplyForm {
                code: item.code.clone(),
                name: item.name.clone(),
                department_id: item.department_id.clone(),
                fee_type: item.fee_type.as_str().to_string(),
                partial_allowed: item.partial_allowed != 0,
                min_partial: if item.min_partial_fen.is_positive() {
                    item.min_partial_fen.to_string()
                } else {
                    String::new()
                },
                start: item.window_start_ms.map(bursar_domain::time_fmt::date_cst).unwrap_or_default(),
                end: item.window_end_ms.map(|e| bursar_domain::time_fmt::date_cst(e - 1)).unwrap_or_default(),
                note: item.request_note.clone(),
                resubmit: item.id.clone(),
            };
            return list_with_form(&s, &c, String::new(), form, ProfileForm::of(&item.profile())).await;
        }
    }
    list_with(&s, &c, String::new()).await
}

pub async fn apply(
    State(s): State<AppState>,
    c: OperatorCtx,
    Form(f): Form<Vec<(String, String)>>,
) -> Result<Response, WebError> {
    let get = |k: &str| f.iter().find(|(n, _)| n == k).map(|(_, v)| v.trim().to_string()).unwrap_or_default();
    let min = get("min_partial");
    let pf = ProfileForm::from_pairs(&f);
    let parsed = (|| -> Result<FeeItemApplication, String> {
        let fee_type = FeeType::parse(&get("fee_type")).ok_or("请选择收费类型")?;
        let (window_start_ms, window_end_ms) = window_of(&get("start"), &get("end"))?;
        Ok(FeeItemApplication {
            code: get("code").to_uppercase(),
            name: get("name"),
            department_id: get("department_id"),
            fee_type,
            window_start_ms,
            window_end_ms,
            partial_allowed: !get("partial_allowed").is_empty(),
            min_partial: if min.is_empty() { Fen::ZERO } else { Fen::parse_yuan(&min).map_err(|e| e.to_string())? },
            note: get("note"),
            channels: Vec::new(),
            profile: pf.to_profile(fee_type)?,
        })
    })();
    let typed = ApplyForm {
        code: get("code"),
        name: get("name"),
        department_id: get("department_id"),
        fee_type: get("fee_type"),
        partial_allowed: !get("partial_allowed").is_empty(),
        min_partial: min.clone(),
        start: get("start"),
        end: get("end"),
        note: get("note"),
        resubmit: get("resubmit"),
    };
    let application = match parsed {
        Ok(a) => a,
        Err(e) => return list_with_form(&s, &c, e, typed, pf).await,
    };
    if !typed.resubmit.is_empty() {
        let id = typed.resubmit.clone();
        return match s.engine.resubmit_fee_item(c.0.principal(), &id, &application).await {
            Ok(()) => Ok(Redirect::to(&format!("/admin/fee-items/{id}?done=applied")).into_response()),
            Err(EngineError::Rule(e)) => list_with_form(&s, &c, e.to_string(), typed, pf).await,
            Err(e) => Err(e.into()),
        };
    }
    match s.engine.apply_fee_item(c.0.principal(), &application).await {
        Ok(id) => Ok(Redirect::to(&format!("/admin/fee-items/{id}?done=applied")).into_response()),
        Err(EngineError::Rule(e)) => list_with_form(&s, &c, e.to_string(), typed, pf).await,
        Err(e) => Err(e.into()),
    }
}

/// A collection window from the dates typed (the end date counts whole; blank: no limit).
pub(super) fn window_of(start: &str, end: &str) -> Result<(Option<i64>, Option<i64>), String> {
    const DAY_MS: i64 = 24 * 3_600_000;
    let day = |t: &str| -> Result<Option<i64>, String> {
        match t.trim() {
            "" => Ok(None),
            d => bursar_domain::time_fmt::parse_date_cst_ms(d)
                .map(Some)
                .ok_or_else(|| format!("日期“{d}”格式应为 2027-03-01")),
        }
    };
    Ok((day(start)?, day(end)?.map(|d| d + DAY_MS)))
}

pub struct ChannelChoice {
    pub channel: &'static str,
    pub channel_label: &'static str,
    /// (account id, label, selected)
    pub accounts: Vec<(String, String, bool)>,
}

#[derive(Template)]
#[template(path = "admin/fee_item.html")]
struct DetailPage {
    chrome: Chrome,
    /// What was just done.
    notice: &'static str,
    department: String,
    /// The project this item charges for, described (empty when none).
    project: String,
    /// Pending, and not this operator's to decide.
    waiting: bool,
    item: ItemView,
    note: String,
    decision: String,
    /// 收费对象, 票据种类 and 缴费须知, in words.
    audience: String,
    receipt_kind: &'static str,
    payer_notice: String,
    /// What payers are asked when paying it, in words ("发票抬头（单行文字，必填）").
    fields: Vec<String>,
    can_export_answers: bool,
    channels: Vec<ChannelChoice>,
    can_decide: bool,
    own_request: bool,
    can_open: bool,
    can_stop: bool,
    /// A rejected application its department may correct and send again.
    can_resubmit: bool,
    error: String,
}

async fn detail_with(s: &AppState, c: &OperatorCtx, id: &str, error: String) -> Result<Response, WebError> {
    detail_page(s, c, id, error, "").await
}

async fn detail_page(
    s: &AppState,
    c: &OperatorCtx,
    id: &str,
    error: String,
    notice: &'static str,
) -> Result<Response, WebError> {
    let p = c.0.principal();
    let view = s.engine.operator_view(p);
    let (item, routes) = view.fee_item(id).await?;
    let names = view.operator_names().await?;
    let departments: std::collections::HashMap<String, String> = view.all_departments().await?.into_iter().collect();
    let department = departments.get(&item.department_id).cloned();
    // A project's fee item: what the project charges, for whom and when.
    let project = view.projects().await?.into_iter().find(|p| p.fee_item_id == item.id).map(|p| {
        let capacity = p.capacity.map(|c| format!("{c} 人")).unwrap_or_else(|| "不限".into());
        let fee = match p.amount_max_fen {
            Some(max) => format!(
                "缴费人自填金额 {} 至 {}",
                crate::views::yuan(p.fee_fen),
                crate::views::yuan(bursar_domain::Fen(max))
            ),
            None => format!("报名费 {}", crate::views::yuan(p.fee_fen)),
        };
        let mut limits = Vec::new();
        if !p.open_departments.is_empty() {
            limits.push(format!("限 {} 个院系", p.open_departments.split(',').count()));
        }
        if !p.open_grades.is_empty() {
            limits.push(format!("限 {} 级", p.open_grades.replace(',', "、")));
        }
        let limits = if limits.is_empty() { String::new() } else { format!("，{}", limits.join("，")) };
        format!(
            "报名项目「{}」：{fee}，名额 {capacity}{limits}，报名 {} 至 {}",
            p.title,
            date_or_unlimited(p.opens_at_ms, false),
            date_or_unlimited(p.closes_at_ms, true)
        )
    });
    let can_approve = p.can(Permission::ApproveFeeItem);
    let accounts = if can_approve { view.merchant_accounts().await? } else { Vec::new() };
    let channels = [ChannelKind::Wechatpay, ChannelKind::Alipay, ChannelKind::Unionpay, ChannelKind::CampusCard]
        .iter()
        .map(|ch| {
            let current = routes.iter().find(|(c, _)| c == ch).map(|(_, m)| m.id.clone());
            ChannelChoice {
                channel: ch.as_str(),
                channel_label: ch.label_zh(),
                accounts: accounts
                    .iter()
                    .filter(|a| a.channel == *ch && a.state == MerchantState::Active)
                    .map(|a| {
                        // The school's own wallet has no merchant number worth showing.
                        let label = if a.channel == ChannelKind::CampusCard {
                            a.name.clone()
                        } else {
                            format!("{}（商户号 {}）", a.name, a.merchant_no)
                        };
                        (a.id.clone(), label, current.as_deref() == Some(&a.id))
                    })
                    .collect(),
            }
        })
        .collect();
    let decision = match (&item.decided_by, &item.decision_comment) {
        (Some(by), Some(comment)) => format!("{}：{comment}", names_of(&names, by)),
        _ => String::new(),
    };
    let failed = !error.is_empty();
    let own_request = item.requested_by == p.actor_ref();
    let pending = item.status == FeeItemStatus::PendingApproval;
    let mut resp = render(&DetailPage {
        chrome: super::chrome(s, &c.0, "fee_items"),
        notice,
        department: department.unwrap_or_default(),
        project: project.unwrap_or_default(),
        waiting: pending && (own_request || !can_approve),
        note: item.request_note.clone(),
        decision,
        audience: describe_audience(&item.audience(), &departments),
        receipt_kind: item.profile_cols.receipt_kind.label_zh(),
        payer_notice: item.profile_cols.payer_notice.clone(),
        fields: item
            .fields()
            .iter()
            .map(|f| format!("{}（{}，{}）", f.label, f.kind.label_zh(), if f.required { "必填" } else { "选填" }))
            .collect(),
        can_export_answers: p.can(Permission::ViewCollection),
        channels,
        can_decide: can_approve && item.status == FeeItemStatus::PendingApproval,
        own_request,
        can_open: can_approve && item.status == FeeItemStatus::Stopped,
        can_stop: can_approve && item.status == FeeItemStatus::Collecting,
        can_resubmit: p.can(Permission::ApplyFeeItem) && item.status == FeeItemStatus::Rejected,
        item: item_view(item, can_approve && !own_request, &names),
        error,
    })?;
    if failed {
        *resp.status_mut() = axum::http::StatusCode::UNPROCESSABLE_ENTITY;
    }
    Ok(resp)
}

#[derive(serde::Deserialize)]
pub struct DoneQuery {
    done: Option<String>,
}

pub async fn detail(
    State(s): State<AppState>,
    c: OperatorCtx,
    Path(id): Path<String>,
    axum::extract::Query(q): axum::extract::Query<DoneQuery>,
) -> Result<Response, WebError> {
    // What was just done, said back (fixed texts: nothing from the address is shown).
    let notice = match q.done.as_deref() {
        Some("applied") => "申请已提交，等待财务处审核。",
        Some("approved") => "已审核通过。",
        Some("rejected") => "已驳回，申请部门可在此查看原因。",
        Some("opened") => "已开始收费。",
        Some("stopped") => "已暂停收费。",
        Some("closed") => "已关闭：不再收费，也不能再生成应收；已缴的款项不受影响。",
        _ => "",
    };
    detail_page(&s, &c, &id, String::new(), notice).await
}

pub async fn decide(
    State(s): State<AppState>,
    c: OperatorCtx,
    Path(id): Path<String>,
    Form(f): Form<Vec<(String, String)>>,
) -> Result<Response, WebError> {
    let get = |k: &str| f.iter().find(|(n, _)| n == k).map(|(_, v)| v.trim().to_string()).unwrap_or_default();
    let decision = match get("decision").as_str() {
        "approve" => FeeItemDecision::Approve {
            channels: f
                .iter()
                .filter_map(|(k, v)| {
                    let ch = ChannelKind::parse(k.strip_prefix("channel_")?)?;
                    (!v.is_empty()).then(|| (ch, v.clone()))
                })
                .collect(),
            open: get("open") != "0",
        },
        "reject" => FeeItemDecision::Reject,
        _ => return Err(WebError::BadRequest("无效的审批结果".into())),
    };
    let done = if matches!(decision, FeeItemDecision::Reject) { "rejected" } else { "approved" };
    match s.engine.decide_fee_item(c.0.principal(), &id, decision, &get("comment")).await {
        Ok(()) => Ok(Redirect::to(&format!("/admin/fee-items/{id}?done={done}")).into_response()),
        Err(EngineError::Rule(e)) => detail_with(&s, &c, &id, e.to_string()).await,
        Err(EngineError::Access(
            a @ (bursar_domain::AccessError::OwnRequest | bursar_domain::AccessError::OwnApplication),
        )) => detail_with(&s, &c, &id, a.to_string()).await,
        Err(e) => Err(e.into()),
    }
}

pub async fn close(
    State(s): State<AppState>,
    c: OperatorCtx,
    Path(id): Path<String>,
    Form(f): Form<Vec<(String, String)>>,
) -> Result<Response, WebError> {
    let reason = f.iter().find(|(k, _)| k == "reason").map(|(_, v)| v.as_str()).unwrap_or("");
    match s.engine.close_fee_item(c.0.principal(), &id, reason).await {
        Ok(()) => Ok(Redirect::to(&format!("/admin/fee-items/{id}?done=closed")).into_response()),
        Err(EngineError::Rule(e)) => detail_with(&s, &c, &id, e.to_string()).await,
        Err(e) => Err(e.into()),
    }
}

pub async fn set_status(
    State(s): State<AppState>,
    c: OperatorCtx,
    Path(id): Path<String>,
    Form(f): Form<Vec<(String, String)>>,
) -> Result<Response, WebError> {
    let open = f.iter().any(|(k, v)| k == "open" && v == "1");
    match s.engine.set_fee_item_open(c.0.principal(), &id, open).await {
        Ok(()) => {
            let done = if open { "opened" } else { "stopped" };
            Ok(Redirect::to(&format!("/admin/fee-items/{id}?done={done}")).into_response())
        }
        Err(EngineError::Rule(e)) => detail_with(&s, &c, &id, e.to_string()).await,
        Err(e) => Err(e.into()),
    }
}

/// What payers answered to the item's fields, as a workbook: number, name, year, one column per
/// field, when.
pub async fn answers_xlsx(
    State(s): State<AppState>,
    c: OperatorCtx,
    Path(id): Path<String>,
) -> Result<Response, WebError> {
    let (item, _) = s.engine.operator_view(c.0.principal()).fee_item(&id).await?;
    let (fields, rows) = s.engine.fee_item_answers(c.0.principal(), &id).await?;
    let xerr = |e: rust_xlsxwriter::XlsxError| WebError::Internal(format!("xlsx: {e}"));
    let mut book = rust_xlsxwriter::Workbook::new();
    let bold = rust_xlsxwriter::Format::new().set_bold();
    let sheet = book.add_worksheet().set_name("缴费人填写的信息").map_err(xerr)?;
    let mut head = vec!["学号/工号".to_string(), "姓名".into(), "学年".into()];
    head.extend(fields.iter().map(|f| f.label.clone()));
    head.push("填写时间".into());
    for (col, h) in (0u16..).zip(&head) {
        sheet.write_string_with_format(0, col, h, &bold).map_err(xerr)?;
    }
    for (row, (r, answers)) in (1u32..).zip(&rows) {
        let mut cells = vec![r.identifier.clone(), r.name.clone(), r.academic_year.clone()];
        cells.extend(fields.iter().map(|f| answers.get(&f.name).cloned().unwrap_or_default()));
        cells.push(crate::views::datetime(r.updated_at_ms));
        for (col, v) in (0u16..).zip(&cells) {
            sheet.write_string(row, col, v).map_err(xerr)?;
        }
    }
    sheet.set_freeze_panes(1, 0).map_err(xerr)?;
    let bytes = book.save_to_buffer().map_err(xerr)?;
    Ok(super::import_report::xlsx_response(bytes, &format!("answers-{}.xlsx", item.code)))
}
