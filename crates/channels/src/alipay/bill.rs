//! Alipay's daily trade bill: a zip holding a detail file (`…_业务明细.csv`) and a summary file
//! (`…_业务明细(汇总).csv`), both GBK CSVs with `#` comment lines (CHANNELS.md §3). The simulator
//! writes it from its own records; the adapter reads it, checking the detail rows against the
//! file's own totals. The zip entry names are not published by Alipay (unconfirmed): the reader
//! finds the detail file by its first line, not its name.

use std::io::{Read, Write};

use bursar_domain::Fen;

use crate::ChannelError;

pub const DETAIL_HEADER: &str = "支付宝交易号,商户订单号,业务类型,商品名称,创建时间,完成时间,门店编号,门店名称,操作员,终端号,对方账户,订单金额（元）,商家实收（元）,支付宝红包（元）,集分宝（元）,支付宝优惠（元）,商家优惠（元）,券核销金额（元）,券名称,商家红包消费金额（元）,卡消费金额（元）,退款批次号/请求号,服务费（元）,分润（元）,备注";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BillKind {
    Trade,
    Refund,
}

/// One detail row. Refund rows carry negative amounts, as in the file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BillRow {
    pub trade_no: String,
    pub out_trade_no: String,
    pub kind: BillKind,
    pub subject: String,
    pub created: String,
    pub finished: String,
    pub buyer: String,
    pub order_fen: i64,
    pub received_fen: i64,
    pub refund_request_no: String,
    pub fee_fen: i64,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AlipayBill {
    pub account: String,
    pub rows: Vec<BillRow>,
    pub trade_count: i64,
    pub trade_received_fen: i64,
    pub refund_count: i64,
    pub refund_fen: i64,
}

fn yuan(f: i64) -> String {
    Fen(f).to_yuan_string()
}

fn gbk(text: &str) -> Vec<u8> {
    encoding_rs::GBK.encode(text).0.into_owned()
}

fn bad(msg: impl Into<String>) -> ChannelError {
    ChannelError::Protocol(format!("Alipay bill: {}", msg.into()))
}

impl AlipayBill {
    /// Builds the bill for `rows` (the simulator's own records of one day).
    pub fn new(account: &str, rows: Vec<BillRow>) -> AlipayBill {
        let trades: Vec<&BillRow> = rows.iter().filter(|r| r.kind == BillKind::Trade).collect();
        let refunds: Vec<&BillRow> = rows.iter().filter(|r| r.kind == BillKind::Refund).collect();
        AlipayBill {
            account: account.to_string(),
            trade_count: trades.len() as i64,
            trade_received_fen: trades.iter().map(|r| r.received_fen).sum(),
            refund_count: refunds.len() as i64,
            refund_fen: refunds.iter().map(|r| r.received_fen).sum(),
            rows,
        }
    }

    /// The detail CSV's text (before GBK encoding).
    pub fn detail_text(&self, date_zh: &str, next_date_zh: &str, exported_zh: &str) -> String {
        let mut out = String::new();
        out.push_str("#支付宝业务明细查询\r\n");
        out.push_str(&format!("#账号：[{}]\r\n", self.account));
        out.push_str(&format!("#起始日期：[{date_zh} 00:00:00]   终止日期：[{next_date_zh} 00:00:00]\r\n"));
        out.push_str(
            "#-----------------------------------------业务明细列表----------------------------------------\r\n",
        );
        out.push_str(DETAIL_HEADER);
        out.push_str("\r\n");
        for r in &self.rows {
            let kind = match r.kind {
                BillKind::Trade => "交易",
                BillKind::Refund => "退款",
            };
            let subject = r.subject.replace([',', '\r', '\n'], " ");
            out.push_str(&format!(
                "{}\t,{}\t,{kind},{subject},{},{},,,,,{},{},{},0.00,0.00,0.00,0.00,0.00,,0.00,0.00,{},{},0.00,\r\n",
                r.trade_no,
                r.out_trade_no,
                r.created,
                r.finished,
                r.buyer,
                yuan(r.order_fen),
                yuan(r.received_fen),
                r.refund_request_no,
                yuan(r.fee_fen),
            ));
        }
        out.push_str(
            "#-----------------------------------------业务明细列表结束------------------------------------\r\n",
        );
        out.push_str(&format!(
            "#交易合计：{}笔，商家实收共{}元，商家优惠共0.00元\r\n",
            self.trade_count,
            yuan(self.trade_received_fen)
        ));
        out.push_str(&format!("#退款合计：{}笔，商家实收退款共{}元\r\n", self.refund_count, yuan(self.refund_fen)));
        out.push_str(&format!("#导出时间：[{exported_zh}]\r\n"));
        out
    }

    fn summary_text(&self, date_zh: &str) -> String {
        let fees: i64 = self.rows.iter().map(|r| r.fee_fen).sum();
        format!(
            "#支付宝业务汇总查询\r\n#账号：[{acct}]\r\n#起始日期：[{date_zh} 00:00:00]\r\n\
             #-----------------------------------------业务汇总列表----------------------------------------\r\n\
             门店编号,门店名称,交易订单总笔数,退款订单总笔数,订单金额（元）,商家实收（元）,支付宝优惠（元）,商家优惠（元）,卡消费金额（元）,服务费（元）,分润（元）,实收净额（元）\r\n\
             合计,,{tc},{rc},{amt},{rcv},0.00,0.00,0.00,{fee},0.00,{net}\r\n\
             #-----------------------------------------业务汇总列表结束------------------------------------\r\n",
            acct = self.account,
            tc = self.trade_count,
            rc = self.refund_count,
            amt = yuan(self.trade_received_fen + self.refund_fen),
            rcv = yuan(self.trade_received_fen + self.refund_fen),
            fee = yuan(fees),
            net = yuan(self.trade_received_fen + self.refund_fen + fees),
        )
    }

    /// The zip Alipay serves: detail and summary, GBK. `date` is `YYYY-MM-DD`.
    pub fn to_zip(&self, date: &str, exported_zh: &str) -> Result<Vec<u8>, ChannelError> {
        let compact = date.replace('-', "");
        let zh = |d: &str| {
            let p: Vec<&str> = d.split('-').collect();
            match p.as_slice() {
                [y, m, dd] => format!("{y}年{m}月{dd}日"),
                _ => d.to_string(),
            }
        };
        let next = bursar_domain::time_fmt::parse_date_cst_ms(date)
            .map(|ms| bursar_domain::time_fmt::date_cst(ms + 86_400_000))
            .unwrap_or_default();
        let mut buf = std::io::Cursor::new(Vec::new());
        {
            let mut z = zip::ZipWriter::new(&mut buf);
            let opts = zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Deflated);
            let err = |e: zip::result::ZipError| bad(e.to_string());
            z.start_file(format!("{}0156_{compact}_业务明细.csv", self.account), opts).map_err(err)?;
            z.write_all(&gbk(&self.detail_text(&zh(date), &zh(&next), exported_zh))).map_err(|e| bad(e.to_string()))?;
            z.start_file(format!("{}0156_{compact}_业务明细(汇总).csv", self.account), opts).map_err(err)?;
            z.write_all(&gbk(&self.summary_text(&zh(date)))).map_err(|e| bad(e.to_string()))?;
            z.finish().map_err(err)?;
        }
        Ok(buf.into_inner())
    }

    /// Reads a bill zip: finds the detail file, decodes GBK, parses the rows and checks them
    /// against the file's totals.
    pub fn from_zip(bytes: &[u8]) -> Result<AlipayBill, ChannelError> {
        let mut z = zip::ZipArchive::new(std::io::Cursor::new(bytes)).map_err(|e| bad(format!("not a zip: {e}")))?;
        for i in 0..z.len() {
            let mut f = z.by_index(i).map_err(|e| bad(e.to_string()))?;
            let mut raw = Vec::new();
            f.read_to_end(&mut raw).map_err(|e| bad(e.to_string()))?;
            let (text, _, had_errors) = encoding_rs::GBK.decode(&raw);
            if had_errors {
                return Err(bad("a file is not GBK"));
            }
            if text.trim_start_matches('\u{feff}').starts_with("#支付宝业务明细查询") {
                return Self::parse_detail(&text);
            }
        }
        Err(bad("no detail file (#支付宝业务明细查询) in the zip"))
    }

    pub fn parse_detail(text: &str) -> Result<AlipayBill, ChannelError> {
        let mut account = String::new();
        let mut rows = Vec::new();
        let mut header_seen = false;
        let (mut trade_total, mut refund_total) = (None, None);
        for (n, line) in text.lines().enumerate() {
            let line = line.trim_end_matches('\r');
            if let Some(rest) = line.strip_prefix("#账号：[") {
                account = rest.trim_end_matches(']').to_string();
                continue;
            }
            if let Some(rest) = line.strip_prefix("#交易合计：") {
                trade_total = Some(parse_total(rest)?);
                continue;
            }
            if let Some(rest) = line.strip_prefix("#退款合计：") {
                refund_total = Some(parse_total(rest)?);
                continue;
            }
            if line.starts_with('#') || line.trim().is_empty() {
                continue;
            }
            if line == DETAIL_HEADER {
                header_seen = true;
                continue;
            }
            if !header_seen {
                return Err(bad(format!("line {}: data before the header", n + 1)));
            }
            let f: Vec<&str> = line.split(',').collect();
            if f.len() != 25 {
                return Err(bad(format!("line {}: {} fields, expected 25", n + 1, f.len())));
            }
            let amount =
                |i: usize| signed_fen(f[i]).ok_or_else(|| bad(format!("line {}: bad amount {:?}", n + 1, f[i])));
            let kind = match f[2] {
                "交易" => BillKind::Trade,
                "退款" => BillKind::Refund,
                other => return Err(bad(format!("line {}: unknown 业务类型 {other}", n + 1))),
            };
            rows.push(BillRow {
                trade_no: f[0].trim_end_matches('\t').to_string(),
                out_trade_no: f[1].trim_end_matches('\t').to_string(),
                kind,
                subject: f[3].to_string(),
                created: f[4].to_string(),
                finished: f[5].to_string(),
                buyer: f[10].to_string(),
                order_fen: amount(11)?,
                received_fen: amount(12)?,
                refund_request_no: f[21].to_string(),
                fee_fen: amount(22)?,
            });
        }
        if !header_seen {
            return Err(bad("no detail header"));
        }
        let bill = AlipayBill::new(&account, rows);
        let (Some((tc, tf)), Some((rc, rf))) = (trade_total, refund_total) else {
            return Err(bad("the totals lines are missing"));
        };
        if (tc, tf, rc, rf) != (bill.trade_count, bill.trade_received_fen, bill.refund_count, bill.refund_fen) {
            return Err(bad("the rows do not add up to the file's totals"));
        }
        Ok(bill)
    }
}

/// `1笔，商家实收共100.00元…` → (count, fen).
fn parse_total(text: &str) -> Result<(i64, i64), ChannelError> {
    let (count, rest) = text.split_once('笔').ok_or_else(|| bad("bad totals line"))?;
    let count: i64 = count.trim().parse().map_err(|_| bad("bad totals count"))?;
    let after = rest.split_once('共').map(|(_, r)| r).ok_or_else(|| bad("bad totals line"))?;
    let amount = after.split_once('元').map(|(a, _)| a).ok_or_else(|| bad("bad totals line"))?;
    let fen = signed_fen(amount).ok_or_else(|| bad("bad totals amount"))?;
    Ok((count, fen))
}

/// A yuan amount that may be negative (refund rows), in fen.
fn signed_fen(text: &str) -> Option<i64> {
    let t = text.trim();
    match t.strip_prefix('-') {
        Some(rest) => Fen::parse_yuan(rest).ok().map(|f| -f.get()),
        None => Fen::parse_yuan(t).ok().map(Fen::get),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(kind: BillKind, fen: i64) -> BillRow {
        BillRow {
            trade_no: "2026112222001400001".into(),
            out_trade_no: "M1".into(),
            kind,
            subject: "学费,住宿费".into(),
            created: "2026-11-22 10:00:00".into(),
            finished: "2026-11-22 10:00:05".into(),
            buyer: "abc***@example.com".into(),
            order_fen: fen,
            received_fen: fen,
            refund_request_no: if kind == BillKind::Refund { "R1".into() } else { String::new() },
            fee_fen: -(fen * 6 / 1000),
        }
    }

    #[test]
    fn a_bill_round_trips_through_its_gbk_zip() {
        let bill = AlipayBill::new(
            "20880000000000000156",
            vec![row(BillKind::Trade, 480_000), row(BillKind::Refund, -20_000)],
        );
        let zip = bill.to_zip("2026-11-22", "2026年11月23日 09:00:00").unwrap();
        let back = AlipayBill::from_zip(&zip).unwrap();
        assert_eq!(back.rows.len(), 2);
        assert_eq!(back.rows[0].subject, "学费 住宿费");
        assert_eq!(back.trade_received_fen, 480_000);
        assert_eq!(back.refund_fen, -20_000);
        assert_eq!(back.rows[1].refund_request_no, "R1");
    }

    #[test]
    fn a_tampered_bill_is_refused() {
        let bill = AlipayBill::new("2088", vec![row(BillKind::Trade, 100)]);
        let text = bill.detail_text("2026年11月22日", "2026年11月23日", "x").replace(",1.00,1.00,", ",1.00,2.00,");
        assert!(AlipayBill::parse_detail(&text).is_err());
        assert!(AlipayBill::from_zip(b"not a zip").is_err());
    }
}
