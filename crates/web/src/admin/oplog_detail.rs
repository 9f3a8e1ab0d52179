//! An operation-log entry's detail (`key=value …`, as the engine writes it) in plain words: each
//! known key with its Chinese name, amounts in yuan, codes (channels, methods, fee types, roles)
//! by their labels; identifiers kept as they are (shown as codes, never translated).

use bursar_domain::access::Role;
use bursar_domain::fee::FeeType;
use bursar_domain::payment::{ChannelKind, PayMethod};
use bursar_domain::refund::RefundKind;
use bursar_domain::Fen;

/// One piece of a detail: its label (empty for free text) and value; `code` when the value is an
/// identifier to show as it is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Part {
    pub label: String,
    pub value: String,
    pub code: bool,
}

enum Shape {
    /// Words (or a label of a known code list).
    Text,
    /// An identifier.
    Code,
    /// An amount in fen.
    Money,
}

fn key(k: &str) -> Option<(&'static str, Shape)> {
    use Shape::*;
    Some(match k {
        "account" => ("账户", Code),
        "amount_fen" => ("金额", Money),
        "amount_max_fen" => ("自填金额上限", Money),
        "api_app" | "app_id" => ("接入应用", Code),
        "bank_reference" => ("银行流水号", Code),
        "capacity" => ("名额", Text),
        "card" => ("卡号", Code),
        "channel" => ("渠道", Text),
        "channel_refund_id" => ("渠道退款单号", Code),
        "channel_txn_id" => ("渠道交易号", Code),
        "code" => ("代码", Code),
        "comment" => ("意见", Text),
        "created" => ("新建", Text),
        "deferrals" => ("缓缴笔数", Text),
        "departments" => ("部门", Code),
        "due_fen" => ("应收", Money),
        "existing" => ("已有", Text),
        "fee_fen" => ("报名费", Money),
        "fee_item" => ("收费项目", Code),
        "grades" => ("年级", Text),
        "import" => ("导入批次", Code),
        "items" => ("收费项目", Code),
        "kind" => ("类型", Text),
        "line" => ("行号", Text),
        "lines" => ("明细行数", Text),
        "load_id" => ("充值流水号", Code),
        "merchant_no" => ("商户号", Code),
        "merchant_order_no" => ("商户订单号", Code),
        "method" => ("支付方式", Text),
        "note" => ("说明", Text),
        "out_order_no" => ("业务订单号", Code),
        "out_refund_no" => ("业务退款单号", Code),
        "overlap_ms" => ("重叠时长（毫秒）", Text),
        "payer" => ("缴费人", Code),
        "payers" => ("缴费人数", Text),
        "payment" => ("支付", Code),
        "project" => ("项目", Code),
        "reason" => ("原因", Text),
        "receipt" => ("凭证", Code),
        "receivable" => ("应收", Code),
        "reference" => ("参考号", Code),
        "roles" => ("角色", Text),
        "source" => ("来源", Code),
        "t" => ("时间", Text),
        "to_payer_credit_fen" => ("转入多缴款", Money),
        "total_fen" => ("合计", Money),
        "type" => ("收费类型", Text),
        "unchanged" => ("未变", Text),
        "updated" => ("更新", Text),
        "username" => ("用户名", Code),
        "waived_fen" => ("减免合计", Money),
        "waivers" => ("减免笔数", Text),
        "year" => ("学年", Text),
        "version" => ("版本", Text),
        "raised" => ("生成笔数", Text),
        "moved" => ("新生转为在校生", Text),
        "payer_kind" => ("缴费人类别", Text),
        "college" => ("院系", Code),
        "major" => ("专业", Text),
        "grade" => ("年级", Text),
        "class" => ("班级", Text),
        "deferral" => ("缓缴类型", Text),
        "until" => ("缓缴至", Text),
        "window" => ("收费期限", Text),
        "receipt_kind" => ("票据种类", Text),
        "partial" => ("分次缴纳", Text),
        "min_partial_fen" => ("每次最少", Money),
        "name" => ("名称", Text),
        "fields" => ("收集信息", Code),
        "audience" => ("收费对象", Code),
        _ => return None,
    })
}

/// A code's label where the key names a code list; the value itself otherwise.
fn text_value(k: &str, v: &str) -> String {
    let label = match k {
        "channel" => ChannelKind::parse(v).map(ChannelKind::label_zh),
        "method" => PayMethod::parse(v).map(PayMethod::label_zh),
        "type" => FeeType::parse(v).map(FeeType::label_zh),
        "kind" => RefundKind::parse(v).map(RefundKind::label_zh),
        "payer_kind" => bursar_domain::payer::PayerKind::parse(v).map(|k| k.label_zh()),
        "deferral" => bursar_domain::fee::DeferralKind::parse(v).map(|k| k.label_zh()),
        "receipt_kind" => bursar_domain::audience::ReceiptKind::parse(v).map(|k| k.label_zh()),
        "partial" if v == "true" => Some("允许"),
        "partial" if v == "false" => Some("不允许"),
        "capacity" if v == "None" => Some("不限"),
        "roles" => {
            return v
                .split(',')
                .map(|r| Role::parse(r.trim()).map(Role::label_zh).unwrap_or(r))
                .collect::<Vec<_>>()
                .join("、")
        }
        _ => None,
    };
    match label {
        Some(l) => l.to_string(),
        // `Some(40)` as the engine's Debug form of an optional number.
        None => v.strip_prefix("Some(").and_then(|s| s.strip_suffix(')')).unwrap_or(v).to_string(),
    }
}

fn money(v: &str) -> Option<String> {
    let n: i64 = v.trim_start_matches('+').parse().ok()?;
    Some(format!("¥{}", Fen(n)))
}

/// Where each `key=` (or `key+=`) starts: at the start or after a space, a lowercase key.
fn keys(detail: &str) -> Vec<(usize, usize, usize)> {
    let b = detail.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        let at_start = i == 0 || b[i - 1] == b' ';
        if at_start && (b[i].is_ascii_lowercase()) {
            let mut j = i;
            while j < b.len() && (b[j].is_ascii_lowercase() || b[j] == b'_') {
                j += 1;
            }
            let eq = if b.get(j) == Some(&b'+') && b.get(j + 1) == Some(&b'=') { j + 1 } else { j };
            if b.get(eq) == Some(&b'=') && key(&detail[i..j]).is_some() {
                out.push((i, j, eq + 1));
                i = eq + 1;
                continue;
            }
        }
        i += 1;
    }
    out
}

/// The detail in parts; text before the first key (or a detail without keys) is one free part.
pub fn parts(detail: &str) -> Vec<Part> {
    let found = keys(detail);
    let mut out = Vec::new();
    let head = found.first().map(|k| k.0).unwrap_or(detail.len());
    if !detail[..head].trim().is_empty() {
        out.push(Part { label: String::new(), value: detail[..head].trim().to_string(), code: false });
    }
    for (n, &(start, end, value_at)) in found.iter().enumerate() {
        let k = &detail[start..end];
        let value_end = found.get(n + 1).map(|next| next.0).unwrap_or(detail.len());
        let v = detail[value_at..value_end].trim();
        let Some((label, shape)) = key(k) else { continue };
        let increase = detail[end..value_at].starts_with('+');
        let label = if increase { format!("{label}增加") } else { label.to_string() };
        let (value, code) = match shape {
            Shape::Money => (money(v).unwrap_or_else(|| v.to_string()), false),
            Shape::Code => (v.to_string(), true),
            Shape::Text => (text_value(k, v), false),
        };
        out.push(Part { label, value, code });
    }
    out
}

/// The parts as one line of plain words (for the xlsx export).
pub fn plain(parts: &[Part]) -> String {
    parts
        .iter()
        .map(|p| if p.label.is_empty() { p.value.clone() } else { format!("{}：{}", p.label, p.value) })
        .collect::<Vec<_>>()
        .join("；")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_detail_reads_as_words() {
        let p = parts("method=campus_card amount_fen=32000 merchant_order_no=01ab note=项目报名：Python 数据分析");
        let shown: Vec<_> = p.iter().map(|p| (p.label.as_str(), p.value.as_str(), p.code)).collect();
        assert_eq!(
            shown,
            vec![
                ("支付方式", "校园卡", false),
                ("金额", "¥320.00", false),
                ("商户订单号", "01ab", true),
                ("说明", "项目报名：Python 数据分析", false),
            ]
        );
        assert_eq!(plain(&parts("due_fen+=45000 capacity=Some(40)")), "应收增加：¥450.00；名额：40");
        assert_eq!(plain(&parts("capacity=None type=other")), "名额：不限；收费类型：其他费用");
        assert_eq!(plain(&parts("密码错误")), "密码错误");
        // What the bulk commands and projects write.
        assert_eq!(plain(&parts("created=3 existing=1 total_fen=120000")), "新建：3；已有：1；合计：¥1,200.00");
        assert_eq!(
            plain(&parts("waivers=2 waived_fen=30000 deferrals=1")),
            "减免笔数：2；减免合计：¥300.00；缓缴笔数：1"
        );
        assert_eq!(
            plain(&parts("fee_fen=1000 capacity=None amount_max_fen=1000000 grades=2025,2026")),
            "报名费：¥10.00；名额：不限；自填金额上限：¥10,000.00；年级：2025,2026"
        );
        // An unknown key stays inside the text it belongs to.
        assert_eq!(plain(&parts("reason=a=b c")), "原因：a=b c");
    }
}
