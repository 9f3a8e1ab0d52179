//! Offline collections — cash desk, POS and bank deduction records — imported from CSV (UTF-8 or
//! the GBK that Excel writes on Chinese Windows) or xlsx as payments of channel `offline`, so a
//! payer's paid information shows every channel. The whole file is checked first, every bad row
//! reported with its row number and reason; a file with any bad row changes nothing. Rows are
//! idempotent by their source reference: importing the same file again imports nothing new.

use std::collections::HashMap;

use bursar_domain::access::{Permission, Principal};
use bursar_domain::ledger::AccountRef;
use bursar_domain::payment::{ChannelKind, ChannelOutcome, PayMethod};
use bursar_domain::Fen;
use bursar_store::payments::{self as pay_store, NewPayment};
use bursar_store::{payers, receivables, Tx};

use crate::collection::apply::{apply_in_tx, ApplyResult};
use crate::engine::{log, require, Engine};
use crate::error::{refused, EngineError};
use crate::tables::{read_table, TableLimits};

/// The columns, by the header names finance offices use (Chinese) or English.
const COLUMNS: [(&str, &[&str]); 8] = [
    ("reference", &["来源参考号", "参考号", "流水号", "reference"]),
    ("identifier", &["学号/工号", "学号", "工号", "缴费人编号", "identifier"]),
    ("item", &["收费项目代码", "项目代码", "item_code"]),
    ("year", &["学年", "academic_year"]),
    ("amount", &["金额", "金额（元）", "金额(元)", "amount"]),
    ("method", &["方式", "收款方式", "method"]),
    ("time", &["收款时间", "时间", "paid_at"]),
    ("point", &["收款点/账户", "收款点", "账户", "point"]),
];

/// One checked row, ready to import.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OfflineRow {
    pub line: usize,
    pub reference: String,
    pub payer_id: String,
    pub receivable_id: String,
    pub amount: Fen,
    pub method: PayMethod,
    pub paid_at_ms: i64,
    /// The cash desk, POS terminal or bank account the money reached.
    pub point: String,
}

/// A row's problem, by its 1-based line number in the file (the header is line 1).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RowError {
    pub line: usize,
    pub reason: String,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ImportReport {
    pub rows: usize,
    pub imported: usize,
    pub already_imported: usize,
    pub errors: Vec<RowError>,
}

fn parse_method(text: &str) -> Option<PayMethod> {
    match text.trim() {
        "现金" | "cash" | "offline_cash" => Some(PayMethod::OfflineCash),
        "POS" | "pos" | "POS刷卡" | "刷卡" | "offline_pos" => Some(PayMethod::OfflinePos),
        "银行代扣" | "代扣" | "银行转账" | "转账" | "bank" | "offline_bank" => Some(PayMethod::OfflineBank),
        _ => None,
    }
}

/// `2026-11-30 08:00:00`, `2026/11/30 8:00`, `2026年11月30日`, an Excel date cell or serial.
fn parse_time(text: &str) -> Option<i64> {
    bursar_domain::time_fmt::parse_sheet_datetime_cst_ms(text)
}

impl Engine {
    /// Checks every row of a file against the store. Returns the rows to import and every
    /// row's problem; nothing is written.
    pub async fn check_offline_file(
        &self,
        by: &Principal,
        bytes: &[u8],
    ) -> Result<(Vec<OfflineRow>, Vec<RowError>), EngineError> {
        require(by, Permission::ImportOffline)?;
        let table = read_table(bytes, &TableLimits::OFFLINE).map_err(refused)?;
        let mut errors = Vec::new();
        let Some(header) = table.first() else {
            return Ok((Vec::new(), vec![RowError { line: 1, reason: "文件为空".into() }]));
        };
        let mut col = HashMap::new();
        for (key, names) in COLUMNS {
            match header.iter().position(|h| names.contains(&h.trim())) {
                Some(i) => {
                    col.insert(key, i);
                }
                None if key == "point" => {}
                None => errors.push(RowError { line: 1, reason: format!("缺少列：{}", names[0]) }),
            }
        }
        if !errors.is_empty() {
            return Ok((Vec::new(), errors));
        }
        let now = self.store().now_ms();
        let mut c = self.store().read().await?;
        let mut rows = Vec::new();
        let mut seen_refs: HashMap<String, usize> = HashMap::new();
        let mut taken: HashMap<String, i64> = HashMap::new();
        for (idx, cells) in table.iter().enumerate().skip(1) {
            let line = idx + 1;
            if cells.iter().all(|c| c.trim().is_empty()) {
                continue;
            }
            let cell =
                |k: &str| col.get(k).and_then(|i| cells.get(*i)).map(|s| s.trim().to_string()).unwrap_or_default();
            let mut fail = |reason: String| errors.push(RowError { line, reason });
            let reference = cell("reference");
            if reference.is_empty() || reference.len() > 64 {
                fail("来源参考号为空或过长".into());
                continue;
            }
            if let Some(first) = seen_refs.insert(reference.clone(), line) {
                fail(format!("来源参考号 {reference} 与第 {first} 行重复"));
                continue;
            }
            let Some(method) = parse_method(&cell("method")) else {
                fail(format!("收款方式“{}”无效（现金 / POS / 银行代扣）", cell("method")));
                continue;
            };
            let amount = match Fen::parse_yuan(&cell("amount")) {
                Ok(a) if a.get() > 0 => a,
                _ => {
                    fail(format!("金额“{}”无效", cell("amount")));
                    continue;
                }
            };
            let Some(paid_at_ms) = parse_time(&cell("time")).filter(|t| *t <= now + 300_000) else {
                fail(format!("收款时间“{}”无效或在未来", cell("time")));
                continue;
            };
            let Some(payer) = payers::payer_by_identifier(&mut c, &cell("identifier")).await? else {
                fail(format!("缴费人 {} 不存在", cell("identifier")));
                continue;
            };
            let receivable = receivables::for_payer(&mut c, &payer.id)
                .await?
                .into_iter()
                .find(|r| r.item_code == cell("item") && r.academic_year == cell("year"));
            let Some(r) = receivable else {
                fail(format!("{} 没有 {} 学年的收费项目 {}", cell("identifier"), cell("year"), cell("item")));
                continue;
            };
            // Already imported: the same reference must describe the same collection.
            if let Some(existing) = pay_store::payment_by_channel_txn(&mut c, ChannelKind::Offline, &reference).await? {
                if existing.payer_id != payer.id || existing.amount_fen != amount {
                    fail(format!("来源参考号 {reference} 已导入，但缴费人或金额不同"));
                }
                rows.push(OfflineRow {
                    line,
                    reference,
                    payer_id: payer.id,
                    receivable_id: r.id,
                    amount,
                    method,
                    paid_at_ms,
                    point: String::new(),
                });
                continue;
            }
            let used = taken.entry(r.id.clone()).or_insert(0);
            if *used + amount.get() > r.outstanding().get() {
                fail(format!("金额 {amount} 超过 {} 的欠费 {}", r.item_name, Fen(r.outstanding().get() - *used)));
                continue;
            }
            *used += amount.get();
            let point = match cell("point") {
                p if p.is_empty() => "counter".to_string(),
                p => p,
            };
            rows.push(OfflineRow {
                line,
                reference,
                payer_id: payer.id,
                receivable_id: r.id,
                amount,
                method,
                paid_at_ms,
                point,
            });
        }
        Ok((rows, errors))
    }

    /// Imports a file: all of it in one transaction, or nothing when any row is bad.
    pub async fn import_offline(
        &self,
        by: &Principal,
        file_name: &str,
        bytes: &[u8],
    ) -> Result<ImportReport, EngineError> {
        let (rows, errors) = self.check_offline_file(by, bytes).await?;
        let mut report = ImportReport { rows: rows.len() + errors.len(), ..ImportReport::default() };
        if !errors.is_empty() {
            report.errors = errors;
            return Ok(report);
        }
        let sha = hex::encode(ring::digest::digest(&ring::digest::SHA256, bytes).as_ref());
        let (by, file_name) = (by.clone(), file_name.to_string());
        let counts = self
            .store()
            .write(|tx: &mut Tx| {
                let rows = rows.clone();
                let (by, file_name, sha) = (by.clone(), file_name.clone(), sha.clone());
                Box::pin(async move { import_in_tx(tx, &by, &rows, &file_name, &sha).await })
            })
            .await?;
        report.imported = counts.0;
        report.already_imported = counts.1;
        Ok(report)
    }
}

async fn import_in_tx(
    tx: &mut Tx,
    by: &Principal,
    rows: &[OfflineRow],
    file_name: &str,
    sha: &str,
) -> Result<(usize, usize), EngineError> {
    let now = tx.now_ms;
    let (mut imported, mut already) = (0, 0);
    for row in rows {
        if pay_store::payment_by_channel_txn(tx, ChannelKind::Offline, &row.reference).await?.is_some() {
            already += 1;
            continue;
        }
        let order_id = tx.new_id();
        pay_store::insert_order(tx, &order_id, &row.payer_id, row.amount, now).await?;
        pay_store::insert_order_line(tx, &order_id, &row.receivable_id, row.amount, Fen::ZERO).await?;
        let payment_id = tx.new_id();
        let merchant_order_no = tx.new_id();
        let p = NewPayment {
            id: &payment_id,
            order_id: &order_id,
            payer_id: &row.payer_id,
            method: row.method,
            merchant_id: &row.point,
            merchant_order_no: &merchant_order_no,
            amount: row.amount,
            expires_at_ms: now,
            collected_by: by.operator().map(|o| o.id.as_str()),
        };
        pay_store::insert_payment(tx, &p, now).await?;
        let detail = format!(
            "import={file_name} line={} reference={} method={} amount_fen={} account={:?}",
            row.line,
            row.reference,
            row.method.as_str(),
            row.amount.get(),
            AccountRef::collecting(Some(row.method), "offline", &row.point)
        );
        log(tx, by, "payment.import", ("payment", &payment_id), ("", "created"), &detail).await?;
        let outcome = ChannelOutcome::Paid {
            channel_txn_id: row.reference.clone(),
            amount_fen: row.amount.get(),
            paid_at_ms: row.paid_at_ms,
        };
        match apply_in_tx(tx, by, &merchant_order_no, &outcome).await? {
            ApplyResult::Credited { .. } => imported += 1,
            other => return Err(EngineError::Invariant(format!("line {}: not credited ({other:?})", row.line))),
        }
    }
    let id = tx.new_id();
    let operator = by.actor_ref();
    let counts = (i64::try_from(rows.len()), i64::try_from(imported), i64::try_from(already));
    let (Ok(n), Ok(i), Ok(a)) = counts else { return Err(EngineError::Invariant("row counts overflow".into())) };
    pay_store::record_offline_import(tx, &id, file_name, sha, n, i, a, &operator, now).await?;
    Ok((imported, already))
}
