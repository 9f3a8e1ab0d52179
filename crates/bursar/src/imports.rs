//! The command line's imports (`bursar import-payers`, `bursar import-receivables`): the same
//! engine commands as the finance view, with progress on a terminal, a summary, the problems
//! written next to the file (`FILE.errors.csv`, with a BOM so Excel opens it), and exit code 2
//! when the file is refused.

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
}

/// Runs an import of `file`; the exit code says how it went.
pub async fn run(cfg: &Config, file: &Path, valid_rows: bool, what: What) -> anyhow::Result<ExitCode> {
    let bytes = std::fs::read(file).with_context(|| file.display().to_string())?;
    let engine = app::cli_engine(cfg).await?;
    let by = bursar_domain::Principal::System(bursar_domain::SystemJob::Cli);
    let mode = if valid_rows { ImportMode::ValidRows } else { ImportMode::AllOrNothing };
    let started = Instant::now();
    let tty = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let progress = move |done: usize, total: usize| {
        if tty && total > 0 {
            eprint!("\r  checking rows: {done}/{total} ({}%)   ", done * 100 / total);
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
    };
    engine.store().close().await;
    if tty {
        eprintln!();
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

/// Writes an import's problems next to the file.
fn write_problems(file: &Path, rows: usize, problems: &[RosterProblem]) -> anyhow::Result<()> {
    if problems.is_empty() {
        return Ok(());
    }
    let errors = file.with_extension("errors.csv");
    let esc = |v: &str| format!("\"{}\"", v.replace('"', "\"\""));
    let mut out = String::from("\u{feff}行,列,值,原因\n");
    for p in problems {
        out.push_str(&format!("{},{},{},{}\n", p.line, esc(p.column), esc(&p.value), esc(&p.reason)));
    }
    std::fs::write(&errors, out).with_context(|| errors.display().to_string())?;
    eprintln!("{} problems in {rows} rows; written to {}", problems.len(), errors.display());
    Ok(())
}
