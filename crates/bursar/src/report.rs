//! `bursar report NAME --from … --to … [filters] [--xlsx FILE]`: the finance view's reports from
//! the command line. Without `--xlsx` the rows are printed as tab-separated text (the header
//! first, the totals last); with it the workbook is the one the finance view exports. Exits 2
//! when refused (an unknown report, department, item or operator; a bad date).

use std::path::Path;
use std::process::ExitCode;
use std::time::Instant;

use bursar_domain::report::{Cell, ReportKind};
use bursar_engine::reports::xlsx::XlsxReport;
use bursar_engine::reports::{ReportHead, ReportQuery, ReportSink};
use bursar_engine::EngineError;

use crate::app;
use crate::config::Config;

/// Prints rows as they come, tab-separated.
struct Tsv<W: std::io::Write + Send> {
    out: W,
    rows: usize,
}

fn io(e: std::io::Error) -> EngineError {
    EngineError::Invariant(format!("output: {e}"))
}

fn line(cells: &[Cell]) -> String {
    cells.iter().map(|c| c.display().replace(['\t', '\n', '\r'], " ")).collect::<Vec<_>>().join("\t")
}

impl<W: std::io::Write + Send> ReportSink for Tsv<W> {
    fn start(&mut self, head: &ReportHead) -> Result<(), EngineError> {
        let words: Vec<String> = head.filters.iter().map(|(k, v)| format!("{k}：{v}")).collect();
        writeln!(self.out, "# {} {}  {}", head.unit, head.title, words.join("  ")).map_err(io)?;
        let labels: Vec<&str> = head.columns.iter().map(|c| c.label).collect();
        writeln!(self.out, "{}", labels.join("\t")).map_err(io)
    }
    fn row(&mut self, cells: Vec<Cell>) -> Result<(), EngineError> {
        self.rows += 1;
        writeln!(self.out, "{}", line(&cells)).map_err(io)
    }
    fn finish(&mut self, totals: Option<Vec<Cell>>) -> Result<(), EngineError> {
        if let Some(t) = totals {
            writeln!(self.out, "{}", line(&t)).map_err(io)?;
        }
        self.out.flush().map_err(io)
    }
}

/// Counts rows on their way into the workbook, with a spinner on a terminal.
struct Counted {
    inner: XlsxReport,
    rows: u64,
    bar: Option<indicatif::ProgressBar>,
}

impl ReportSink for Counted {
    fn start(&mut self, head: &ReportHead) -> Result<(), EngineError> {
        self.inner.start(head)
    }
    fn row(&mut self, cells: Vec<Cell>) -> Result<(), EngineError> {
        self.rows += 1;
        if let Some(b) = &self.bar {
            if self.rows.is_multiple_of(1000) {
                b.set_position(self.rows);
            }
        }
        self.inner.row(cells)
    }
    fn finish(&mut self, totals: Option<Vec<Cell>>) -> Result<(), EngineError> {
        self.inner.finish(totals)
    }
}

fn spinner() -> Option<indicatif::ProgressBar> {
    if !std::io::IsTerminal::is_terminal(&std::io::stderr()) {
        return None;
    }
    let bar = indicatif::ProgressBar::new_spinner();
    if let Ok(style) = indicatif::ProgressStyle::with_template("  {spinner} 已写入 {pos} 行  {elapsed_precise}") {
        bar.set_style(style);
    }
    bar.enable_steady_tick(std::time::Duration::from_millis(200));
    Some(bar)
}

/// The report names the command takes: the codes and the Chinese names.
pub fn names() -> String {
    ReportKind::ALL.iter().map(|k| format!("{} ({})", k.as_str(), k.label_zh())).collect::<Vec<_>>().join(", ")
}

pub async fn run(cfg: &Config, name: &str, q: &ReportQuery, xlsx: Option<&Path>) -> anyhow::Result<ExitCode> {
    let Some(kind) = ReportKind::ALL.iter().copied().find(|k| k.as_str() == name || k.label_zh() == name) else {
        eprintln!("没有这张报表：{name}。可用：{}", names());
        return Ok(ExitCode::from(2));
    };
    let engine = app::cli_engine(cfg).await?;
    let by = bursar_domain::Principal::System(bursar_domain::SystemJob::Cli);
    let filter = match engine.report_filter(&by, q).await {
        Ok(f) => f,
        Err(EngineError::Rule(e)) => {
            eprintln!("{e}");
            return Ok(ExitCode::from(2));
        }
        Err(e) => return Err(e.into()),
    };
    let started = Instant::now();
    match xlsx {
        Some(path) => {
            let mut sink = Counted { inner: XlsxReport::new()?, rows: 0, bar: spinner() };
            engine.run_report(&by, kind, &filter, &mut sink).await?;
            if let Some(b) = &sink.bar {
                b.finish_and_clear();
            }
            let rows = sink.rows;
            sink.inner.save(path)?;
            eprintln!(
                "{}: {rows} 行，已写入 {}（{} ms）",
                kind.label_zh(),
                path.display(),
                started.elapsed().as_millis()
            );
        }
        None => {
            let mut sink = Tsv { out: std::io::BufWriter::new(std::io::stdout()), rows: 0 };
            engine.run_report(&by, kind, &filter, &mut sink).await?;
            eprintln!("{}: {} 行（{} ms）", kind.label_zh(), sink.rows, started.elapsed().as_millis());
        }
    }
    Ok(ExitCode::SUCCESS)
}
