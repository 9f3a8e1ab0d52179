//! 操作日志: every state change, who made it and when, newest first, filtered by what changed,
//! by whom and when; exported to xlsx for the auditors. Read-only (auditors, the finance
//! administrator, system administrators).

use std::collections::HashMap;

use askama::Template;
use axum::extract::{Query, State};
use axum::response::Response;
use bursar_domain::access::{ActorKind, Permission, SystemJob};
use bursar_domain::fee::{FeeItemStatus, ReceivableState};
use bursar_domain::order::OrderState;
use bursar_domain::payment::PaymentState;
use bursar_domain::refund::RefundState;
use bursar_domain::time_fmt;
use bursar_engine::rows::LogQuery;
use bursar_engine::rows::LogRow;
use serde::Deserialize;

use super::oplog_detail::{self, Part};
use crate::guard::{get, Guard, OperatorCtx, Routes};
use crate::i18n::Translate as _;
use crate::views::{datetime, render, Chrome};
use crate::{AppState, WebError};

const PAGE: i64 = 100;
/// The most rows one export holds.
const EXPORT_MAX: i64 = 20_000;

pub fn routes() -> Routes {
    let g = Guard::Permission(Permission::ViewOperationLog);
    Routes::new().route("/admin/oplog", g, get(page)).route("/admin/oplog.xlsx", g, get(export))
}

/// What the log's entities are called.
const ENTITIES: &[(&str, &str)] = &[
    ("payment", "支付"),
    ("order", "订单"),
    ("refund", "退款"),
    ("receivable", "应收"),
    ("fee_item", "收费项目"),
    ("fee_item_channel", "收款渠道设置"),
    ("project", "报名项目"),
    ("registration", "报名"),
    ("payer", "缴费人"),
    ("operator", "操作员"),
    ("setting", "系统设置"),
    ("api_app", "接入应用"),
    ("merchant_account", "收款账户"),
    ("campus_card", "校园卡"),
    ("department", "部门"),
    ("webhook_event", "通知推送"),
    ("till_close", "日结"),
    ("waiver", "减免"),
    ("deferral", "缓缴"),
    ("exception", "异常"),
    ("relief_batch", "批量减免缓缴"),
    ("fee_standard", "收费标准"),
    ("notice", "公告"),
];

/// Known actions and what they are called, in the order the filter offers them.
pub(crate) const ACTIONS: &[(&str, &str)] = &[
    ("order.create", "创建订单"),
    ("order.paid", "订单已支付"),
    ("order.closed", "订单关闭"),
    ("payment.create", "发起支付"),
    ("payment.import", "导入线下收款"),
    ("receivable.raise", "生成应收"),
    ("receivable.increase", "增加应收"),
    ("fee_item.apply", "申请收费项目"),
    ("fee_item.approve", "审核通过"),
    ("fee_item.reject", "审核驳回"),
    ("fee_item.status", "开始/暂停收费"),
    ("fee_item.channels", "设置收款渠道"),
    ("fee_item.channel", "修改收款渠道"),
    ("fee_item.configure", "配置收费项目"),
    ("project.create", "发布项目"),
    ("project.state", "开放/关闭报名"),
    ("project.register", "报名"),
    ("payer.add", "添加缴费人"),
    ("payer.create", "添加缴费人"),
    ("payer.import", "导入花名册"),
    ("receivable.import", "导入应收"),
    ("receivable.cancel", "申请取消应收"),
    ("waiver.request", "申请减免"),
    ("waiver.decide", "审批减免"),
    ("exception.raise", "发现异常"),
    ("exception.resolve", "处理异常"),
    ("phone.code_sent", "发送短信验证码"),
    ("payer.register", "注册账号"),
    ("payer.password", "修改密码"),
    ("payer.password_reset", "找回密码"),
    ("payer.phone", "修改手机号"),
    ("payer.security", "设置密保问题"),
    ("operator.create", "添加操作员"),
    ("operator.roles", "修改角色"),
    ("settings.four_eyes", "修改双人复核设置"),
    ("session.login", "登录"),
    ("session.logout", "退出登录"),
    ("api_app.register", "登记接入应用"),
    ("api_app.rotate_secret", "更换应用密钥"),
    ("merchant.register", "登记收款账户"),
    ("card.issue", "开卡"),
    ("card.load", "校园卡充值"),
    ("department.create", "添加部门"),
    ("webhook.redeliver", "重新推送通知"),
    ("fee_item.file", "收费项目备案"),
    ("fee_item.close", "关闭收费项目"),
    ("fee_item.resubmit", "修改后重新提交"),
    ("fee_item.change_request", "申请变更收费项目"),
    ("fee_item.change_approve", "批准收费项目变更"),
    ("fee_item.change_reject", "驳回收费项目变更"),
    ("fee_standard.propose", "提交收费标准"),
    ("fee_standard.decide", "审核收费标准"),
    ("receivable.raise_by_standard", "按标准生成应收"),
    ("receivable.answers", "填写缴费信息"),
    ("deferral.request", "申请缓缴"),
    ("deferral.decide", "审批缓缴"),
    ("relief.import", "批量申请减免缓缴"),
    ("relief.decide_batch", "审批批量减免缓缴"),
    ("payer.freeze", "冻结账号"),
    ("payer.unfreeze", "解冻账号"),
    ("payer.validity", "设置账号有效期"),
    ("settings.filing_types", "修改备案收费类型"),
    ("settings.receiving_unit", "修改收款单位"),
    ("payment.counter", "窗口收款（现金/POS）"),
    ("till.close", "提交日结"),
    ("till.decide", "确认/退回日结"),
    ("operator.state", "启用/停用操作员"),
    ("operator.password_reset", "重置操作员密码"),
    ("operator.password", "修改本人密码"),
    ("operator.second_factor_setup", "开始设置动态口令"),
    ("operator.second_factor_on", "开启动态口令"),
    ("operator.second_factor_off", "关闭动态口令"),
    ("operator.second_factor_reset", "重置操作员动态口令"),
    ("settings.second_factor", "修改动态口令要求"),
    ("settings.school", "修改学校名称"),
    ("settings.school_image", "修改学校标志/印章"),
    ("settings.receipt_paper", "修改凭证打印纸张"),
    ("settings.policy", "修改登录、密码或支付时限"),
    ("api_app.urls", "修改应用通知/返回地址"),
    ("notice.publish", "发布公告"),
    ("notice.withdraw", "撤下公告"),
];

/// What an action is called: the entity's verb, or the state it moved to.
pub(crate) fn action_label(action: &str) -> String {
    let known = ACTIONS.iter().find(|(c, _)| *c == action).map(|(_, l)| *l).unwrap_or("");
    if !known.is_empty() {
        return known.into();
    }
    // State changes logged as `<entity>.<new state>`.
    match action.split_once('.') {
        Some(("payment", s)) => PaymentState::parse(s).map(|s| s.label_zh().to_string()),
        Some(("refund", s)) => RefundState::parse(s).map(|s| format!("退款{}", s.label_zh())),
        _ => None,
    }
    .unwrap_or_else(|| action.to_string())
}

/// A state code in plain words, by the entity it belongs to.
fn state_label(entity: &str, code: &str) -> String {
    let label = match entity {
        "payment" => PaymentState::parse(code).map(|s| s.label_zh()),
        "refund" => RefundState::parse(code).map(|s| s.label_zh()),
        "order" => OrderState::parse(code).map(|s| s.label_zh()),
        "fee_item" => FeeItemStatus::parse(code).map(|s| s.label_zh()),
        "receivable" => ReceivableState::parse(code).map(|s| s.label_zh()),
        _ => None,
    };
    let common = match code {
        "active" => Some("启用"),
        "disabled" => Some("停用"),
        "open" => Some("开放"),
        "closed" => Some("已关闭"),
        _ => None,
    };
    label.or(common).map(str::to_string).unwrap_or_else(|| code.to_string())
}

pub(crate) fn entity_label(entity: &str) -> &str {
    ENTITIES.iter().find(|(e, _)| *e == entity).map(|(_, l)| *l).unwrap_or(entity)
}

pub(crate) fn actor_label(names: &HashMap<String, String>, kind: ActorKind, id: &str) -> String {
    match kind {
        ActorKind::Operator => names.get(id).cloned().unwrap_or_else(|| format!("操作员 {id}")),
        ActorKind::System => {
            SystemJob::parse(id).map(|j| format!("系统：{}", j.label_zh())).unwrap_or_else(|| "系统".into())
        }
        _ => kind.label_zh().to_string(),
    }
}

pub struct LogLine {
    pub seq: String,
    pub at: String,
    pub actor: String,
    pub action: String,
    pub entity: String,
    pub entity_id: String,
    /// The id's last characters, enough to tell rows apart (the full id is in the link).
    pub short_id: String,
    pub change: String,
    /// The detail in plain words, by part (the page) and as one line (the export).
    pub parts: Vec<Part>,
    pub detail: String,
}

fn line(names: &HashMap<String, String>, r: &LogRow) -> LogLine {
    let change = match (r.before_state.is_empty(), r.after_state.is_empty()) {
        (true, true) => String::new(),
        (true, false) => state_label(&r.entity, &r.after_state),
        (false, _) => {
            format!("{} → {}", state_label(&r.entity, &r.before_state), state_label(&r.entity, &r.after_state))
        }
    };
    // How someone logged in, in words (the rest of a detail is the record's own wording).
    let parts = match r.action.as_str() {
        // How someone logged in, in words.
        "session.login" => {
            let how = bursar_engine::rows::AuthMethod::parse(&r.detail).map(|m| m.label_zh().to_string());
            vec![Part { label: String::new(), value: how.unwrap_or_else(|| r.detail.clone()), code: false }]
        }
        _ => oplog_detail::parts(&r.detail),
    };
    let detail = oplog_detail::plain(&parts);
    LogLine {
        seq: r.seq.map(|s| s.to_string()).unwrap_or_else(|| "待封存".into()),
        at: datetime(r.at_ms),
        actor: actor_label(names, r.actor_kind, &r.actor_id),
        action: action_label(&r.action),
        entity: entity_label(&r.entity).to_string(),
        entity_id: r.entity_id.clone(),
        short_id: r.entity_id.chars().rev().take(6).collect::<Vec<_>>().into_iter().rev().collect(),
        change,
        parts,
        detail,
    }
}

#[derive(Deserialize, Default, Clone)]
pub struct Filter {
    #[serde(default)]
    action: String,
    #[serde(default)]
    entity: String,
    #[serde(default)]
    entity_id: String,
    #[serde(default)]
    actor: String,
    #[serde(default)]
    from: String,
    #[serde(default)]
    to: String,
    #[serde(default)]
    after: String,
    /// Non-empty: check the whole chain now.
    #[serde(default)]
    verify: String,
}

impl Filter {
    /// The store's query; dates are Beijing calendar days, `to` inclusive.
    fn query(&self) -> Result<LogQuery, WebError> {
        let day = |s: &str, end: bool| -> Result<Option<i64>, WebError> {
            if s.trim().is_empty() {
                return Ok(None);
            }
            let start = time_fmt::parse_date_cst_ms(s.trim())
                .ok_or_else(|| WebError::BadRequest("日期格式应为 2026-11-30".into()))?;
            Ok(Some(if end { start + 86_400_000 } else { start }))
        };
        let text = |s: &str| Some(s.trim().to_string()).filter(|s| !s.is_empty());
        let after = match self.after.split_once(':') {
            Some((at, id)) => {
                Some((at.parse().map_err(|_| WebError::BadRequest("无效的翻页位置".into()))?, id.to_string()))
            }
            None => None,
        };
        Ok(LogQuery {
            action: text(&self.action),
            entity: text(&self.entity),
            entity_id: text(&self.entity_id),
            actor_id: text(&self.actor),
            from_ms: day(&self.from, false)?,
            to_ms: day(&self.to, true)?,
            after,
        })
    }

    /// The filter as a query string (without the page cursor).
    fn query_string(&self) -> String {
        let mut q = form_urlencoded::Serializer::new(String::new());
        for (k, v) in [
            ("action", &self.action),
            ("entity", &self.entity),
            ("entity_id", &self.entity_id),
            ("actor", &self.actor),
            ("from", &self.from),
            ("to", &self.to),
        ] {
            if !v.trim().is_empty() {
                q.append_pair(k, v.trim());
            }
        }
        q.finish()
    }
}

#[derive(Template)]
#[template(path = "admin/oplog.html")]
struct OplogPage {
    chrome: Chrome,
    filter: Filter,
    actions: &'static [(&'static str, &'static str)],
    entities: &'static [(&'static str, &'static str)],
    /// The chain's check, when asked for: (rows checked, problems).
    verified: Option<(i64, Vec<String>)>,
    operators: Vec<(String, String)>,
    lines: Vec<LogLine>,
    sealed: i64,
    next: String,
    export: String,
}

pub async fn page(
    State(s): State<AppState>,
    OperatorCtx(c): OperatorCtx,
    Query(f): Query<Filter>,
) -> Result<Response, WebError> {
    let view = s.engine.operator_view(c.principal());
    let (rows, sealed) = view.operation_log(&f.query()?, PAGE).await?;
    let names = view.operator_names().await?;
    let mut operators: Vec<(String, String)> = names.iter().map(|(id, n)| (id.clone(), n.clone())).collect();
    operators.sort_by(|a, b| a.1.cmp(&b.1));
    let base = f.query_string();
    let join = |extra: String| {
        if base.is_empty() {
            extra
        } else if extra.is_empty() {
            base.clone()
        } else {
            format!("{base}&{extra}")
        }
    };
    let next = match rows.last() {
        Some(last) if rows.len() as i64 == PAGE => {
            let cursor = form_urlencoded::Serializer::new(String::new())
                .append_pair("after", &format!("{}:{}", last.at_ms, last.id))
                .finish();
            format!("/admin/oplog?{}", join(cursor))
        }
        _ => String::new(),
    };
    let verified = if f.verify.is_empty() { None } else { Some(view.verify_operation_log().await?) };
    render(&OplogPage {
        chrome: super::chrome(&s, &c, "oplog"),
        actions: ACTIONS,
        verified,
        entities: ENTITIES,
        operators,
        lines: rows.iter().map(|r| line(&names, r)).collect(),
        sealed,
        next,
        export: format!("/admin/oplog.xlsx?{}", join(String::new())),
        filter: f,
    })
}

/// The filtered log as xlsx (newest first, up to [`EXPORT_MAX`] rows).
pub async fn export(
    State(s): State<AppState>,
    OperatorCtx(c): OperatorCtx,
    Query(f): Query<Filter>,
) -> Result<Response, WebError> {
    let view = s.engine.operator_view(c.principal());
    let names = view.operator_names().await?;
    let mut q = f.query()?;
    let mut lines = Vec::new();
    while (lines.len() as i64) < EXPORT_MAX {
        let (rows, _) = view.operation_log(&q, 500).await?;
        let Some(last) = rows.last() else { break };
        q.after = Some((last.at_ms, last.id.clone()));
        let full = rows.len() == 500;
        lines.extend(rows.iter().map(|r| line(&names, r)));
        if !full {
            break;
        }
    }
    let mut book = rust_xlsxwriter::Workbook::new();
    let sheet = book.add_worksheet();
    let xerr = |e: rust_xlsxwriter::XlsxError| WebError::Internal(format!("xlsx: {e}"));
    let head = ["序号", "时间", "操作人", "操作", "对象", "对象编号", "状态变化", "说明"];
    for (col, h) in (0u16..).zip(head) {
        sheet.write_string(0, col, h).map_err(xerr)?;
    }
    for (row, l) in (1u32..).zip(&lines) {
        let cells = [&l.seq, &l.at, &l.actor, &l.action, &l.entity, &l.entity_id, &l.change, &l.detail];
        for (col, v) in (0u16..).zip(cells) {
            sheet.write_string(row, col, v.as_str()).map_err(xerr)?;
        }
    }
    let bytes = book.save_to_buffer().map_err(xerr)?;
    Ok(super::import_report::xlsx_response(bytes, "operation-log.xlsx"))
}
