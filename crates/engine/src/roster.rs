//! Importing the school's rosters (学生/教职工花名册) from xlsx or CSV: columns found by their
//! Chinese header names, every row checked (see `bursar_domain::roster`), payers upserted by
//! their number — new ones with the school's initial password, changed ones updated, the same
//! ones left alone, so importing a file again changes nothing. A file with any bad row changes
//! nothing, unless the operator chooses to apply the valid rows; either way every problem is
//! reported by row, column, value and reason.

use std::collections::HashMap;

use bursar_domain::access::{Permission, Principal};
use bursar_domain::payer::{mask_id_number, PayerKind};
use bursar_domain::roster::{check_row, column_label, FieldProblem, COLUMNS, REQUIRED};
use bursar_store::payers::{self, RosterRow};
use bursar_store::Tx;

use crate::access::passwords::{id_number_digest, initial_marker};
use crate::engine::{log, require, Engine};
use crate::error::{refused, EngineError};
use crate::tables::{read_table, TableLimits};

/// The most rows of one roster file (a large university's whole student body).
pub const ROSTER_LIMITS: TableLimits = TableLimits {
    max_rows: 100_001,
    max_cols: 40,
    max_unzipped: 256 * 1024 * 1024,
    max_cell_chars: 200,
    max_text_bytes: 128 * 1024 * 1024,
};

/// One problem of the file: its 1-based row (the header is row 1), column, value and reason.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RosterProblem {
    pub line: usize,
    pub column: &'static str,
    pub value: String,
    pub reason: String,
}

/// What an import came to.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RosterReport {
    /// Rows read (not counting the header or empty rows).
    pub rows: usize,
    pub created: usize,
    pub updated: usize,
    pub unchanged: usize,
    pub problems: Vec<RosterProblem>,
    /// Whether anything was written.
    pub applied: bool,
}

/// Whether a file with bad rows applies its good ones.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ImportMode {
    /// Nothing is applied unless every row is good.
    AllOrNothing,
    /// The good rows are applied; the bad ones are reported.
    ValidRows,
}

/// The header row of the template a school downloads.
pub fn template_headers() -> Vec<&'static str> {
    COLUMNS.iter().map(|(_, names)| names[0]).collect()
}

impl Engine {
    /// Imports a roster of `kind` (students or staff). `progress(done, total)` is told as rows
    /// are checked and written (the command line draws a bar with it).
    pub async fn import_roster(
        &self,
        by: &Principal,
        kind: PayerKind,
        bytes: &[u8],
        mode: ImportMode,
        progress: &(dyn Fn(usize, usize) + Sync),
    ) -> Result<RosterReport, EngineError> {
        require(by, Permission::ManagePayers)?;
        if !matches!(kind, PayerKind::EnrolledStudent | PayerKind::NewStudent | PayerKind::Staff) {
            return Err(refused("花名册只能导入在校生、新生或教职工"));
        }
        let table = read_table(bytes, &ROSTER_LIMITS).map_err(refused)?;
        let mut report = RosterReport::default();
        let Some(header) = table.first() else {
            report.problems.push(RosterProblem {
                line: 1,
                column: "",
                value: String::new(),
                reason: "文件为空".into(),
            });
            return Ok(report);
        };
        let header: Vec<String> = header.iter().map(|h| bursar_domain::roster::normalize_cell(h)).collect();
        let mut col: HashMap<&str, usize> = HashMap::new();
        for (key, names) in COLUMNS {
            if let Some(i) = header.iter().position(|h| names.contains(&h.as_str())) {
                col.insert(key, i);
            }
        }
        for key in REQUIRED {
            if !col.contains_key(key) {
                let reason = format!("缺少列“{}”（请使用模板的表头）", column_label(key));
                report.problems.push(RosterProblem {
                    line: 1,
                    column: column_label(key),
                    value: String::new(),
                    reason,
                });
            }
        }
        if !report.problems.is_empty() {
            return Ok(report);
        }
        let departments: HashMap<String, String> = {
            let mut c = self.store().read().await?;
            // Names as the cells are read (full-width brackets made half-width), so that
            // 外国语学院（学生） in a file finds 外国语学院（学生） here.
            payers::departments(&mut c)
                .await?
                .into_iter()
                .map(|(id, name)| (bursar_domain::roster::normalize_cell(&name), id))
                .collect()
        };
        let key = self.config().id_digest_key.clone();
        let total = table.len().saturating_sub(1);
        let mut good: Vec<(usize, RosterRow, String)> = Vec::new();
        let mut seen: HashMap<String, usize> = HashMap::new();
        for (idx, cells) in table.iter().enumerate().skip(1) {
            let line = idx + 1;
            if idx % 1000 == 0 {
                progress(idx, total);
            }
            if cells.iter().all(|c| c.trim().is_empty()) {
                continue;
            }
            report.rows += 1;
            let cell = |k: &str| col.get(k).and_then(|i| cells.get(*i)).cloned().unwrap_or_default();
            let entry = match check_row(kind, cell) {
                Ok(e) => e,
                Err(problems) => {
                    report.problems.extend(problems.into_iter().map(|p: FieldProblem| RosterProblem {
                        line,
                        column: p.column,
                        value: p.value,
                        reason: p.reason,
                    }));
                    continue;
                }
            };
            if let Some(first) = seen.insert(entry.identifier.clone(), line) {
                report.problems.push(RosterProblem {
                    line,
                    column: column_label("identifier"),
                    value: entry.identifier.clone(),
                    reason: format!("与第 {first} 行的学号/工号重复"),
                });
                continue;
            }
            let department_id = if entry.department.is_empty() {
                None
            } else {
                match departments.get(&entry.department) {
                    Some(id) => Some(id.clone()),
                    None => {
                        report.problems.push(RosterProblem {
                            line,
                            column: column_label("department"),
                            value: entry.department.clone(),
                            reason: "院系不存在（请先在系统中添加，或核对名称）".into(),
                        });
                        continue;
                    }
                }
            };
            let row = RosterRow {
                id: String::new(),
                identifier: entry.identifier.clone(),
                name: entry.name.clone(),
                id_type: entry.id_type.as_str().to_string(),
                id_number_masked: mask_id_number(&entry.id_number),
                id_number_digest: id_number_digest(&key, &entry.id_number),
                gender: entry.gender.map(|g| g.as_str().to_string()),
                department_id,
                major: entry.major.clone(),
                grade: entry.grade.clone(),
                class_name: entry.class_name.clone(),
                status: entry.status.as_str().to_string(),
                phone: entry.phone.clone(),
                enrolled_year: entry.enrolled.map(i64::from),
            };
            // The initial password the school's rule gives (kept as a keyed marker, see
            // `initial_marker`); people without one get none and cannot log in by password.
            let initial = self.config().initial_password.password_for(&entry.id_number).unwrap_or_default();
            good.push((line, row, initial));
        }
        progress(total, total);
        report.problems.sort_by_key(|p| p.line);
        if !report.problems.is_empty() && mode == ImportMode::AllOrNothing {
            return Ok(report);
        }
        let (by2, rows) = (by.clone(), good);
        let counts = self
            .store()
            .write(|tx: &mut Tx| {
                let (by, rows, key) = (by2.clone(), rows.clone(), key.clone());
                Box::pin(async move { upsert_in_tx(tx, &by, kind, &rows, &key).await })
            })
            .await?;
        (report.created, report.updated, report.unchanged) = counts;
        report.applied = true;
        Ok(report)
    }
}

async fn upsert_in_tx(
    tx: &mut Tx,
    by: &Principal,
    kind: PayerKind,
    rows: &[(usize, RosterRow, String)],
    key: &[u8],
) -> Result<(usize, usize, usize), EngineError> {
    let existing: HashMap<String, RosterRow> =
        payers::roster_of_kind(tx, kind).await?.into_iter().map(|r| (r.identifier.clone(), r)).collect();
    // New and enrolled students share their numbers: a new student on the enrolled list is the
    // same person, moved, not a second payer.
    let sibling = match kind {
        PayerKind::NewStudent => Some(PayerKind::EnrolledStudent),
        PayerKind::EnrolledStudent => Some(PayerKind::NewStudent),
        _ => None,
    };
    let others: HashMap<String, RosterRow> = match sibling {
        Some(k) => payers::roster_of_kind(tx, k).await?.into_iter().map(|r| (r.identifier.clone(), r)).collect(),
        None => HashMap::new(),
    };
    let now = tx.now_ms;
    let (mut updated, mut unchanged, mut moved) = (0, 0, 0);
    let mut new_rows = Vec::new();
    for (_, row, initial) in rows {
        match (existing.get(&row.identifier), others.get(&row.identifier), sibling) {
            (Some(old), _, _) => {
                let new = RosterRow { id: old.id.clone(), ..row.clone() };
                if &new == old {
                    unchanged += 1;
                } else {
                    payers::update_roster_payer(tx, &new).await?;
                    updated += 1;
                }
            }
            (None, Some(old), Some(from)) => {
                payers::change_kind(tx, &old.id, from, kind).await?;
                let new = RosterRow { id: old.id.clone(), ..row.clone() };
                if &new != old {
                    payers::update_roster_payer(tx, &new).await?;
                }
                updated += 1;
                moved += 1;
            }
            _ => {
                let id = tx.new_id();
                let hash = if initial.is_empty() { "!".to_string() } else { initial_marker(key, &id, initial) };
                new_rows.push((RosterRow { id, ..row.clone() }, hash));
            }
        }
    }
    payers::insert_roster_payers(tx, kind, &new_rows, now).await?;
    let created = new_rows.len();
    let detail =
        format!("payer_kind={} created={created} updated={updated} moved={moved} unchanged={unchanged}", kind.as_str());
    log(tx, by, "payer.import", ("roster", kind.as_str()), ("", ""), &detail).await?;
    Ok((created, updated, unchanged))
}
