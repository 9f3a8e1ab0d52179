//! Importing what is owed (应收) from xlsx or CSV: 学号/工号, 项目编码, 学年, 金额, 备注. Every row
//! checked against the payers and the approved fee items; a receivable already raised for the
//! same payer, item and year is left alone when the amount agrees and reported when it does not
//! (an import never silently changes what someone owes); a file with any bad row changes
//! nothing unless the operator chooses to apply its good rows.

use std::collections::{HashMap, HashSet};

use bursar_domain::access::{Permission, Principal};
use bursar_domain::audience::Audience;
use bursar_domain::fee::AcademicYear;
use bursar_domain::roster::normalize_cell;
use bursar_domain::Fen;
use bursar_store::receivables as rec_store;
use bursar_store::{payers, Tx};

use crate::collection::receivables::{raise_many, Bill};
use crate::engine::{log, require, Engine};
use crate::error::{refused, EngineError};
use crate::roster::{ImportMode, RosterProblem, ROSTER_LIMITS};
use crate::tables::{column_label, find_columns, read_table, TableLimits};

/// The columns, by the header names finance offices use.
const COLUMNS: [(&str, &[&str]); 5] = [
    ("identifier", &["学号/工号", "学号", "工号"]),
    ("item", &["项目编码", "收费项目代码", "收费项目编码"]),
    ("year", &["学年"]),
    ("amount", &["金额", "金额（元）", "金额(元)", "应收金额"]),
    ("note", &["备注"]),
];

/// A year's receivables of a large university fit one file (50,000 students × a few items).
pub const BILLS_LIMITS: TableLimits = TableLimits { max_rows: 300_001, ..ROSTER_LIMITS };

fn label(key: &str) -> &'static str {
    column_label(&COLUMNS, key)
}

/// What a receivables import came to.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct BillsReport {
    pub rows: usize,
    pub created: usize,
    /// Already raised with the same amount: nothing changed.
    pub existing: usize,
    pub problems: Vec<RosterProblem>,
    pub applied: bool,
}

impl Engine {
    /// Imports receivables. `progress(done, total)` is told as rows are checked.
    pub async fn import_bills(
        &self,
        by: &Principal,
        bytes: &[u8],
        mode: ImportMode,
        progress: &(dyn Fn(usize, usize) + Sync),
    ) -> Result<BillsReport, EngineError> {
        require(by, Permission::RaiseReceivables)?;
        let table = read_table(bytes, &BILLS_LIMITS).map_err(refused)?;
        let mut report = BillsReport::default();
        let problem = |line: usize, key: &str, value: &str, reason: String| RosterProblem {
            line,
            column: label(key),
            value: value.chars().take(60).collect(),
            reason,
        };
        let col = match find_columns(&table, &COLUMNS, &["note"]) {
            Ok(col) => col,
            Err(problems) => {
                report.problems = problems;
                return Ok(report);
            }
        };
        let mut c = self.store().read().await?;
        let all_items = rec_store::fee_items(&mut c).await?;
        let items: HashMap<String, (String, bool)> =
            all_items.iter().map(|f| (f.code.clone(), (f.id.clone(), f.status.is_approved()))).collect();
        // Items for some payers only (收费对象): their rows are checked once the file is read.
        let audiences: HashMap<String, (String, Audience)> = all_items
            .into_iter()
            .filter(|f| !f.audience().is_everyone())
            .map(|f| (f.id.clone(), (f.name.clone(), f.audience())))
            .collect();
        let mut narrowed: Vec<(usize, usize, String)> = Vec::new();
        // Everyone, by number, and what each (item, year) of the file already has: two reads
        // instead of two per row.
        let by_number = payers::ids_by_identifier(&mut c).await?;
        let mut raised: HashMap<(String, String), rec_store::RaisedFor> = HashMap::new();
        let total = table.len().saturating_sub(1);
        let mut bills = Vec::new();
        let mut seen: HashSet<(String, String, String)> = HashSet::new();
        for (idx, cells) in table.iter().enumerate().skip(1) {
            let line = idx + 1;
            if idx % 1000 == 0 {
                progress(idx, total);
            }
            if cells.iter().all(|v| v.trim().is_empty()) {
                continue;
            }
            report.rows += 1;
            let cell = |k: &str| col.get(k).and_then(|i| cells.get(*i)).map(|v| normalize_cell(v)).unwrap_or_default();
            let (identifier, code, year_text, amount_text) =
                (cell("identifier"), cell("item"), cell("year"), cell("amount"));
            let mut bad = Vec::new();
            let payer = match by_number.get(&identifier).map(Vec::as_slice) {
                Some([one]) => Some(one.clone()),
                Some(_) => {
                    bad.push(problem(
                        line,
                        "identifier",
                        &identifier,
                        "多名缴费人使用此编号，请在缴费人页面处理".into(),
                    ));
                    None
                }
                None => {
                    bad.push(problem(line, "identifier", &identifier, "缴费人不存在（请先导入花名册）".into()));
                    None
                }
            };
            let item = match items.get(&code) {
                Some((id, true)) => Some(id.clone()),
                Some((_, false)) => {
                    bad.push(problem(line, "item", &code, "收费项目尚未审核通过".into()));
                    None
                }
                None => {
                    bad.push(problem(line, "item", &code, "收费项目编码不存在".into()));
                    None
                }
            };
            let year = AcademicYear::parse(&year_text).ok();
            if year.is_none() {
                bad.push(problem(line, "year", &year_text, "学年格式应为 2026-2027".into()));
            }
            let amount = match Fen::parse_yuan(&amount_text) {
                Ok(a) if a.is_positive() => Some(a),
                _ => {
                    bad.push(problem(line, "amount", &amount_text, "金额应为正数，最多两位小数".into()));
                    None
                }
            };
            let (Some(payer), Some(item), Some(_), Some(amount), true) = (payer, item, year, amount, bad.is_empty())
            else {
                report.problems.extend(bad);
                continue;
            };
            if !seen.insert((payer.clone(), item.clone(), year_text.clone())) {
                report.problems.push(problem(
                    line,
                    "identifier",
                    &identifier,
                    "同一缴费人、项目和学年在文件中重复".into(),
                ));
                continue;
            }
            let key = (item.clone(), year_text.clone());
            if !raised.contains_key(&key) {
                let have = rec_store::raised_for(&mut c, &item, &year_text).await?;
                raised.insert(key.clone(), have);
            }
            if let Some((_, due)) = raised[&key].get(&payer) {
                if *due != amount {
                    report.problems.push(problem(
                        line,
                        "amount",
                        &amount_text,
                        format!("该生该学年已有此项应收 ¥{due}，金额不同；调整请走减免或由财务处理"),
                    ));
                    continue;
                }
            }
            let note = cell("note");
            if note.chars().count() > 200 {
                report.problems.push(problem(
                    line,
                    "note",
                    &note.chars().take(20).collect::<String>(),
                    "备注不超过 200 字".into(),
                ));
                continue;
            }
            if audiences.contains_key(&item) {
                narrowed.push((bills.len(), line, identifier.clone()));
            }
            bills.push(Bill { payer_id: payer, fee_item_id: item, academic_year: year_text, amount, note });
        }
        if !narrowed.is_empty() {
            let ids: Vec<&str> = narrowed.iter().map(|(i, _, _)| bills[*i].payer_id.as_str()).collect();
            let members = payers::members(&mut c, &ids).await?;
            let mut outside: HashSet<usize> = HashSet::new();
            for (i, line, identifier) in &narrowed {
                let b = &bills[*i];
                let (name, audience) = &audiences[&b.fee_item_id];
                let why = match members.get(&b.payer_id) {
                    Some(m) => audience.admits(&m.member()).err().map(|w| format!("“{name}”{w}")),
                    None => Some("缴费人不存在（请先导入花名册）".into()),
                };
                if let Some(why) = why {
                    report.problems.push(problem(*line, "identifier", identifier, why));
                    outside.insert(*i);
                }
            }
            if !outside.is_empty() {
                report.problems.sort_by_key(|p| p.line);
                bills = bills.into_iter().enumerate().filter(|(i, _)| !outside.contains(i)).map(|(_, b)| b).collect();
            }
        }
        drop((c, table, raised, seen, by_number));
        progress(total, total);
        if !report.problems.is_empty() && mode == ImportMode::AllOrNothing {
            return Ok(report);
        }
        let (by2, bills) = (by.clone(), std::sync::Arc::new(bills));
        let done = self
            .store()
            .write(|tx: &mut Tx| {
                let (by, bills) = (by2.clone(), bills.clone());
                Box::pin(async move {
                    let done = raise_many(tx, &bills).await?;
                    let detail =
                        format!("created={} existing={} total_fen={}", done.created, done.existing, done.total.get());
                    log(tx, &by, "receivable.import", ("receivables", "import"), ("", ""), &detail).await?;
                    Ok::<_, EngineError>(done)
                })
            })
            .await?;
        (report.created, report.existing) = (done.created, done.existing);
        report.applied = true;
        Ok(report)
    }
}
