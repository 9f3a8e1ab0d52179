//! WeChat Pay trade bills (交易账单, CHANNELS.md §1): the CSV the simulator generates from its own
//! records and the adapter downloads and parses. Every data field starts with a backtick; amounts
//! are yuan with 2 decimals, fees with 5; the last two lines are the summary header and values.
//! Parsers strip a leading UTF-8 BOM and accept `\r\n` or `\n`.

use crate::ChannelError;

pub const HEADER_ALL: &str = "交易时间,公众账号ID,商户号,特约商户号,设备号,微信订单号,商户订单号,用户标识,交易类型,交易状态,付款银行,货币种类,应结订单金额,代金券金额,微信退款单号,商户退款单号,退款金额,充值券退款金额,退款类型,退款状态,商品名称,商户数据包,手续费,费率,订单金额,申请退款金额,费率备注";
pub const HEADER_SUCCESS: &str = "交易时间,公众账号ID,商户号,特约商户号,设备号,微信订单号,商户订单号,用户标识,交易类型,交易状态,付款银行,货币种类,应结订单金额,代金券金额,商品名称,商户数据包,手续费,费率,订单金额,费率备注";
pub const SUMMARY_HEADER: &str =
    "总交易单数,应结订单总金额,退款总金额,充值券退款总金额,手续费总金额,订单总金额,申请退款总金额";
/// The six columns a SUCCESS bill leaves out.
pub const REFUND_COLUMNS: [&str; 6] =
    ["微信退款单号", "商户退款单号", "退款金额", "充值券退款金额", "退款类型", "退款状态"];

/// Fen as yuan with two decimals.
pub fn yuan2(fen: i64) -> String {
    let sign = if fen < 0 { "-" } else { "" };
    format!("{sign}{}.{:02}", fen.unsigned_abs() / 100, fen.unsigned_abs() % 100)
}

/// A fee in units of 0.00001 yuan, with five decimals.
pub fn yuan5(units: i64) -> String {
    let sign = if units < 0 { "-" } else { "" };
    format!("{sign}{}.{:05}", units.unsigned_abs() / 100_000, units.unsigned_abs() % 100_000)
}

/// One row of a trade bill, amounts in fen (fees in 0.00001 yuan).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BillRow {
    pub time: String,
    pub appid: String,
    pub mchid: String,
    pub transaction_id: String,
    pub out_trade_no: String,
    pub trade_type: String,
    /// `SUCCESS` or `REFUND`.
    pub trade_state: String,
    pub settlement_fen: i64,
    pub refund_id: String,
    pub out_refund_no: String,
    pub refund_fen: i64,
    pub refund_status: String,
    pub description: String,
    pub fee_units: i64,
    pub order_fen: i64,
    pub requested_refund_fen: i64,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BillSummary {
    pub count: i64,
    pub settlement_fen: i64,
    pub refund_fen: i64,
    pub fee_units: i64,
    pub order_fen: i64,
    pub requested_refund_fen: i64,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TradeBill {
    pub rows: Vec<BillRow>,
    pub summary: BillSummary,
}

/// Writes a bill (`with_refunds`: the ALL layout; otherwise SUCCESS).
pub fn render(rows: &[BillRow], with_refunds: bool) -> String {
    let mut out = String::new();
    out.push_str(if with_refunds { HEADER_ALL } else { HEADER_SUCCESS });
    out.push_str("\r\n");
    for r in rows {
        let mut fields: Vec<String> = vec![
            r.time.clone(),
            r.appid.clone(),
            r.mchid.clone(),
            "0".into(),
            String::new(),
            r.transaction_id.clone(),
            r.out_trade_no.clone(),
            String::new(),
            r.trade_type.clone(),
            r.trade_state.clone(),
            "OTHERS".into(),
            "CNY".into(),
            yuan2(r.settlement_fen),
            "0.00".into(),
        ];
        if with_refunds {
            fields.extend([
                if r.refund_id.is_empty() { "0".into() } else { r.refund_id.clone() },
                if r.out_refund_no.is_empty() { "0".into() } else { r.out_refund_no.clone() },
                yuan2(r.refund_fen),
                "0.00".into(),
                if r.refund_id.is_empty() { String::new() } else { "ORIGINAL".into() },
                r.refund_status.clone(),
            ]);
        }
        fields.extend([
            r.description.replace(',', "，"),
            String::new(),
            yuan5(r.fee_units),
            "0.60%".into(),
            yuan2(r.order_fen),
        ]);
        if with_refunds {
            fields.push(yuan2(r.requested_refund_fen));
        }
        fields.push(String::new());
        let line: Vec<String> = fields.into_iter().map(|f| format!("`{f}")).collect();
        out.push_str(&line.join(","));
        out.push_str("\r\n");
    }
    let s = summarize(rows);
    out.push_str(SUMMARY_HEADER);
    out.push_str("\r\n");
    let values = [
        s.count.to_string(),
        yuan2(s.settlement_fen),
        yuan2(s.refund_fen),
        "0.00".into(),
        yuan5(s.fee_units),
        yuan2(s.order_fen),
        yuan2(s.requested_refund_fen),
    ];
    let line: Vec<String> = values.iter().map(|v| format!("`{v}")).collect();
    out.push_str(&line.join(","));
    out.push_str("\r\n");
    out
}

fn summarize(rows: &[BillRow]) -> BillSummary {
    BillSummary {
        count: rows.len() as i64,
        settlement_fen: rows.iter().map(|r| r.settlement_fen).sum(),
        refund_fen: rows.iter().map(|r| r.refund_fen).sum(),
        fee_units: rows.iter().map(|r| r.fee_units).sum(),
        order_fen: rows.iter().map(|r| r.order_fen).sum(),
        requested_refund_fen: rows.iter().map(|r| r.requested_refund_fen).sum(),
    }
}

fn parse_amount(text: &str, decimals: usize, line: usize) -> Result<i64, ChannelError> {
    let bad = || ChannelError::Protocol(format!("bill line {line}: bad amount {text:?}"));
    let t = text.trim();
    let (neg, t) = match t.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, t),
    };
    let (int, frac) = t.split_once('.').unwrap_or((t, ""));
    if int.is_empty()
        || frac.len() > decimals
        || !int.chars().all(|c| c.is_ascii_digit())
        || !frac.chars().all(|c| c.is_ascii_digit())
    {
        return Err(bad());
    }
    let scale = 10i64.pow(u32::try_from(decimals).map_err(|_| bad())?);
    let frac_val: i64 = if frac.is_empty() { 0 } else { format!("{frac:0<decimals$}").parse().map_err(|_| bad())? };
    let v = int
        .parse::<i64>()
        .map_err(|_| bad())?
        .checked_mul(scale)
        .and_then(|v| v.checked_add(frac_val))
        .ok_or_else(bad)?;
    Ok(if neg { -v } else { v })
}

/// Parses a trade bill (either layout), checking every row and that the summary matches them.
pub fn parse(text: &str) -> Result<TradeBill, ChannelError> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let lines: Vec<&str> = text.lines().map(|l| l.trim_end_matches('\r')).filter(|l| !l.is_empty()).collect();
    if lines.len() < 3 {
        return Err(ChannelError::Protocol("bill too short".into()));
    }
    let header: Vec<&str> = lines[0].split(',').collect();
    let with_refunds = match lines[0] {
        HEADER_ALL => true,
        HEADER_SUCCESS => false,
        other => return Err(ChannelError::Protocol(format!("unknown bill header {other:?}"))),
    };
    if lines[lines.len() - 2] != SUMMARY_HEADER {
        return Err(ChannelError::Protocol("bill has no summary".into()));
    }
    let col = |name: &str| header.iter().position(|h| *h == name);
    let need = |name: &str| col(name).ok_or_else(|| ChannelError::Protocol(format!("bill lacks column {name}")));
    let fields_of = |line: &str, n: usize| -> Result<Vec<String>, ChannelError> {
        let raw: Vec<&str> = line.split(',').collect();
        if raw.len() != header.len() {
            return Err(ChannelError::Protocol(format!(
                "bill line {n}: {} fields, expected {}",
                raw.len(),
                header.len()
            )));
        }
        raw.iter()
            .map(|f| {
                f.strip_prefix('`')
                    .map(str::to_string)
                    .ok_or_else(|| ChannelError::Protocol(format!("bill line {n}: field without backtick")))
            })
            .collect()
    };
    let mut rows = Vec::new();
    for (i, line) in lines[1..lines.len() - 2].iter().enumerate() {
        let n = i + 2;
        let f = fields_of(line, n)?;
        let get = |name: &str| -> Result<String, ChannelError> { Ok(f[need(name)?].clone()) };
        let opt = |name: &str| col(name).map(|c| f[c].clone()).unwrap_or_default();
        let opt_amount = |name: &str| -> Result<i64, ChannelError> {
            match col(name) {
                Some(c) => parse_amount(&f[c], 2, n),
                None => Ok(0),
            }
        };
        let zero_is_empty = |v: String| if v == "0" { String::new() } else { v };
        rows.push(BillRow {
            time: get("交易时间")?,
            appid: get("公众账号ID")?,
            mchid: get("商户号")?,
            transaction_id: get("微信订单号")?,
            out_trade_no: get("商户订单号")?,
            trade_type: get("交易类型")?,
            trade_state: get("交易状态")?,
            settlement_fen: parse_amount(&get("应结订单金额")?, 2, n)?,
            refund_id: zero_is_empty(opt("微信退款单号")),
            out_refund_no: zero_is_empty(opt("商户退款单号")),
            refund_fen: opt_amount("退款金额")?,
            refund_status: opt("退款状态"),
            description: get("商品名称")?,
            fee_units: parse_amount(&get("手续费")?, 5, n)?,
            order_fen: parse_amount(&get("订单金额")?, 2, n)?,
            requested_refund_fen: opt_amount("申请退款金额")?,
        });
    }
    let _ = with_refunds;
    let values: Vec<String> =
        lines[lines.len() - 1].split(',').map(|v| v.strip_prefix('`').unwrap_or(v).to_string()).collect();
    if values.len() != 7 {
        return Err(ChannelError::Protocol("bill summary has the wrong number of values".into()));
    }
    let n = lines.len();
    let summary = BillSummary {
        count: values[0].trim().parse().map_err(|_| ChannelError::Protocol("bad summary count".into()))?,
        settlement_fen: parse_amount(&values[1], 2, n)?,
        refund_fen: parse_amount(&values[2], 2, n)?,
        fee_units: parse_amount(&values[4], 5, n)?,
        order_fen: parse_amount(&values[5], 2, n)?,
        requested_refund_fen: parse_amount(&values[6], 2, n)?,
    };
    if summary != summarize(&rows) {
        return Err(ChannelError::Protocol(format!("bill summary {summary:?} does not match its rows")));
    }
    Ok(TradeBill { rows, summary })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(state: &str, amount: i64, refund: i64) -> BillRow {
        BillRow {
            time: "2026-11-22 10:00:00".into(),
            appid: "wx1".into(),
            mchid: "19".into(),
            transaction_id: "4200".into(),
            out_trade_no: "B1".into(),
            trade_type: "NATIVE".into(),
            trade_state: state.into(),
            settlement_fen: if refund > 0 { 0 } else { amount },
            refund_id: if refund > 0 { "5030".into() } else { String::new() },
            out_refund_no: if refund > 0 { "R1".into() } else { String::new() },
            refund_fen: refund,
            refund_status: if refund > 0 { "SUCCESS".into() } else { String::new() },
            description: "学费".into(),
            fee_units: if refund > 0 { -refund * 6 } else { amount * 6 },
            order_fen: if refund > 0 { 0 } else { amount },
            requested_refund_fen: refund,
        }
    }

    #[test]
    fn round_trips_both_layouts_and_checks_the_summary() {
        let rows = vec![row("SUCCESS", 123_456, 0), row("REFUND", 0, 1_000)];
        let all = render(&rows, true);
        assert!(all.starts_with(HEADER_ALL));
        assert!(all.contains("`1234.56") && all.contains("`7.40736") && all.contains("`-0.06000"));
        assert_eq!(parse(&all).unwrap().rows, rows);
        let success = render(&rows[..1], false);
        let parsed = parse(&format!("\u{feff}{}", success.replace("\r\n", "\n"))).unwrap();
        assert_eq!(parsed.rows[0].settlement_fen, 123_456);
        assert_eq!(parsed.summary.count, 1);
        // A tampered amount no longer matches the summary.
        assert!(parse(&all.replacen("`1234.56", "`1234.57", 1)).is_err());
        assert!(parse("交易时间\r\nx\r\n").is_err());
    }
}
