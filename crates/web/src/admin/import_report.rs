//! The report of a spreadsheet import, shown the same way for every import of the finance view:
//! a summary, the problems by row and column (the first 200 on the page), and the whole list
//! as an xlsx to download.

use bursar_engine::roster::RosterProblem;

/// Problems shown on the page (the xlsx report has them all).
const SHOWN_PROBLEMS: usize = 200;

pub struct ProblemLine {
    pub line: usize,
    pub column: &'static str,
    pub value: String,
    pub reason: String,
}

/// What the page shows of an import.
pub struct ImportReport {
    pub file_name: String,
    pub applied: bool,
    /// The sentence for the outcome ("共 N 行，新增 …").
    pub summary: String,
    pub count: usize,
    pub problems: Vec<ProblemLine>,
    /// Every problem, for the xlsx download form.
    pub problems_json: String,
}

impl ImportReport {
    pub fn new(file_name: String, applied: bool, summary: String, problems: &[RosterProblem]) -> ImportReport {
        let problems_json = serde_json::to_string(
            &problems.iter().map(|p| (p.line, p.column, p.value.as_str(), p.reason.as_str())).collect::<Vec<_>>(),
        )
        .unwrap_or_default();
        ImportReport {
            file_name,
            applied,
            summary,
            count: problems.len(),
            problems: problems
                .iter()
                .take(SHOWN_PROBLEMS)
                .map(|p| ProblemLine {
                    line: p.line,
                    column: p.column,
                    value: p.value.clone(),
                    reason: p.reason.clone(),
                })
                .collect(),
            problems_json,
        }
    }
}
