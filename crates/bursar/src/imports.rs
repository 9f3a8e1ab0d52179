//! The command line's batch work on what is owed (`bursar import payers`, `bursar import
//! receivables`, `bursar import relief`, `bursar receivables raise`): the same engine commands as the finance
//! view, with progress on a terminal, a summary, the problems written next to the file
//! (`FILE.errors.csv`, with a BOM so Excel opens it), and exit code 2 when refused.

use std::path::Path;
use std::process::ExitCode;
use std::time::Instant;

use anyhow::Context as _;
use bursar_domain::payer::PayerKind;
use bursar_engine::roster::{ImportMode, RosterProblem};

use crate::app;
use crate::config::Config;

/// What a file holds.
pub enum What {
    Payers(PayerKind),
    Receivables,
    /// Reductions and deferrals, asked for as one batch.
    Relief,
}

/// Runs an import of `file`; the exit code says how it went.
pub async fn run(cfg: &Config, file: &Path, valid_rows: bool, what: What) -> anyhow::Result<ExitCode> {
    let bytes = std::fs::read(file).with_context(|| file.display().to_string())?;
    let engine = app::cli_engine(cfg).await?;
    let by = bursar_domain::Principal::System(bursar_domain::SystemJob::Cli);
    let mode = if valid_rows { ImportMode::ValidRows } else { ImportMode::AllOrNothing };
    let started = Instant::now();
    let bar = progress_bar();
    let progress = |done: usize, total: usize| {
        let Some(bar) = &bar else { return };
        bar.set_length(total as u64);
        bar.set_position(done as u64);
        if done == total {
            // Checked; the rows are now written in one transaction.
            bar.set_message("写入");
            bar.enable_steady_tick(std::time::Duration::from_millis(200));
        }
    };
    // (rows, applied, problems, what was done)
    let result = match what {
        What::Payers(kind) => engine.import_roster(&by, kind, &bytes, mode, &progress).await.map(|r| {
            let done = format!("{} created, {} updated, {} unchanged", r.created, r.updated, r.unchanged);
            (r.rows, r.applied, r.problems, done)
        }),
        What::Receivables => engine.import_bills(&by, &bytes, mode, &progress).await.map(|r| {
            let done = format!("{} raised, {} raised before", r.created, r.existing);
            (r.rows, r.applied, r.problems, done)
        }),
        What::Relief => engine.import_relief(&by, &bytes, mode, &progress).await.map(|r| {
            let done = format!(
                "{} reductions (¥{}) and {} deferrals asked for, waiting for approval",
                r.waivers, r.waived, r.deferrals
            );
            (r.rows, r.applied, r.problems, done)
        }),
    };
    engine.store().close().await;
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
    let (rows, applied, problems, done) = match result {
        Ok(r) => r,
        Err(e) => {
            eprintln!("refused: {e}");
            return Ok(ExitCode::from(2));
        }
    };
    write_problems(file, rows, &problems)?;
    if !applied {
        eprintln!("refused: nothing was imported");
        return Ok(ExitCode::from(2));
    }
    println!("{rows} rows: {done} ({} ms)", started.elapsed().as_millis());
    Ok(ExitCode::SUCCESS)
}

/// A progress bar on a terminal (none when the output is a file or a pipe).
fn progress_bar() -> Option<indicatif::ProgressBar> {
    if !std::io::IsTerminal::is_terminal(&std::io::stderr()) {
        return None;
    }
    let bar = indicatif::ProgressBar::new(0);
    let style = indicatif::ProgressStyle::with_template("  {msg} [{bar:32}] {pos}/{len} 行  {elapsed_precise}")
        .map(|s| s.progress_chars("=> "))
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar());
    bar.set_style(style);
    bar.set_message("检查");
    Some(bar)
}

/// Writes an import's problems next to the file.
fn write_problems(file: &Path, rows: usize, problems: &[RosterProblem]) -> anyhow::Result<()> {
    if problems.is_empty() {
        return Ok(());
    }
    let errors = errors_path(file);
    // Quoted, and a value that a spreadsheet would take for a formula (= + - @, tab, CR) is
    // prefixed with an apostrophe, so that opening the report never runs what a file carried.
    let esc = |v: &str| {
        let v = if v.starts_with(['=', '+', '-', '@', '\t', '\r']) { format!("'{v}") } else { v.to_string() };
        format!("\"{}\"", v.replace('"', "\"\""))
    };
    let mut out = String::from("\u{feff}行,列,值,原因\n");
    for p in problems {
        out.push_str(&format!("{},{},{},{}\n", p.line, esc(p.column), esc(&p.value), esc(&p.reason)));
    }
    std::fs::write(&errors, out).with_context(|| errors.display().to_string())?;
    eprintln!("{} problems in {rows} rows; written to {}", problems.len(), errors.display());
    Ok(())
}

/// Where an import's problems are written: `FILE.errors.csv` beside the file (`roster.xlsx` →
/// `roster.xlsx.errors.csv`).
pub fn errors_path(file: &Path) -> std::path::PathBuf {
    let mut name = file.file_name().map(|n| n.to_os_string()).unwrap_or_default();
    name.push(".errors.csv");
    file.with_file_name(name)
}

/// The group `bursar receivables raise` raises for.
pub struct GroupArgs {
    pub kind: Option<PayerKind>,
    /// A college's or office's name.
    pub college: Option<String>,
    pub major: Option<String>,
    pub grade: Option<String>,
    pub class_name: Option<String>,
}

/// Shows (and with `commit`, raises) receivables by the standard in force.
pub async fn raise(cfg: &Config, item: String, year: String, g: GroupArgs, commit: bool) -> anyhow::Result<ExitCode> {
    use bursar_engine::standards::{Group, RaiseRule};
    let engine = app::cli_engine(cfg).await?;
    let by = bursar_domain::Principal::System(bursar_domain::SystemJob::Cli);
    let department_id = match &g.college {
        None => None,
        Some(name) => {
            let departments = engine.operator_view(&by).departments().await?;
            match departments.into_iter().find(|(_, n)| n == name) {
                Some((id, _)) => Some(id),
                None => {
                    engine.store().close().await;
                    eprintln!("refused: no college or office is named {name}");
                    return Ok(ExitCode::from(2));
                }
            }
        }
    };
    let group = Group { kind: g.kind, department_id, major: g.major, grade: g.grade, class_name: g.class_name };
    // Codes are kept in capitals (the finance view saves them so).
    let rule = RaiseRule { fee_item_code: item.trim().to_uppercase(), academic_year: year.trim().to_string(), group };
    let started = Instant::now();
    let result = if commit { engine.raise_by_standard(&by, &rule).await } else { engine.plan_raise(&by, &rule).await };
    engine.store().close().await;
    let plan = match result {
        Ok(p) => p,
        Err(e) => {
            eprintln!("refused: {e}");
            return Ok(ExitCode::from(2));
        }
    };
    println!("{} (standard version {}), {}", plan.fee_item_name, plan.standard_version, rule.academic_year);
    println!("  payers in the group: {}", plan.matched);
    let verb = if commit { "raised" } else { "to raise" };
    println!("  {verb}: {} receivables, total ¥{}", plan.created.unwrap_or(plan.to_raise), plan.total);
    for (amount, n) in &plan.by_amount {
        println!("    ¥{amount} × {n}");
    }
    for (why, n, who) in &plan.excluded {
        let names: Vec<String> = who.iter().map(|w| format!("{} {}", w.identifier, w.name)).collect();
        println!("  left out: {n} — {} (e.g. {})", why.reason(), names.join(", "));
    }
    if !commit {
        println!("nothing raised yet: run again with --commit to raise");
    }
    println!("({} ms)", started.elapsed().as_millis());
    Ok(ExitCode::SUCCESS)
}
