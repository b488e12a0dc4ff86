//! The report: what a person reads on the issue (Markdown) and what an agent reads (`--json`).
//!
//! Built from the run's cell outcomes and the dataset (newest run per key), so a local run and
//! a collected GitHub run report the same way. Markdown cells are escaped so a result value
//! cannot break the table, inject HTML or mention anyone, and the whole text is cut to fit
//! GitHub's 65,536-character comment limit, pointing at the dataset for the rest.
//!
//! This module holds the model and [`build`]; `sections` walks the report's sections in their
//! one order through a writer: `render` writes the Markdown (with [`crate::markdown`]'s
//! escaping and tables), `terminal` the text for a terminal; and
//! `comment` the comment protocol (the stamp, the status comment, notes, the waves table).
//! Their public items are re-exported here, at the paths callers have always used.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::compare::Comparison;
use crate::contract::CellStatus;
use crate::dataset::PROVENANCE;
use crate::experiment::Plan;
use crate::outputs::{CellOutcome, Row};

mod comment;
mod render;
mod sections;
mod terminal;

pub use comment::{CommentStamp, Phase};
pub(crate) use comment::{status_comment, with_note};
pub use render::markdown;
pub(crate) use render::markdown_with_limit;

pub use crate::contract::Summary;
pub use crate::markdown::COMMENT_LIMIT;
pub(crate) const REPORT_SCHEMA: &str = "outrun.report/v1";
/// At most this many result rows are kept in a report (more cannot fit a comment); the
/// dataset file has them all, and `results_total` says how many there are.
pub(crate) const RESULT_ROWS: usize = 7_000;
/// Rows per table in the terminal's short form of the report.
pub(crate) const TERMINAL_ROWS: usize = 20;

pub(crate) use crate::names::comment_marker as marker;

#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub schema: &'static str,
    pub experiment: String,
    pub description: String,
    pub issue: Option<u64>,
    pub dataset: String,
    pub run: Option<RunInfo>,
    pub summary: Summary,
    pub cells: Vec<CellReport>,
    /// Columns of `results`, keys first, provenance excluded.
    pub columns: Vec<String>,
    /// The newest row per key across all runs in the dataset: the first [`RESULT_ROWS`] of
    /// them, in key order.
    pub results: Vec<Row>,
    /// How many newest rows (keys) the dataset has in all.
    pub results_total: usize,
    pub comparison: Option<Comparison>,
    /// Artifacts refused or gone (expired) when collecting, with the reason.
    pub refused: Vec<Refused>,
    /// When the run is one wave of a dispatch: every wave of it, as far as this checkout's
    /// ledger knows (the report is one view of the whole dispatch).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub group: Option<GroupReport>,
}

/// The waves of one dispatch (see [`crate::contract::WaveOf`]).
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct GroupReport {
    pub group: String,
    pub waves: Vec<WaveReport>,
}

/// One wave of a dispatch: its newest collected attempt, from the ledger, or nothing yet.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct WaveReport {
    pub wave: usize,
    /// The cells the wave runs, when known.
    pub cells: Option<usize>,
    /// `None` while the wave is running or not collected here.
    pub collected: Option<WaveCollected>,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct WaveCollected {
    pub run_id: String,
    pub attempt: u32,
    pub url: Option<String>,
    pub conclusion: String,
    pub summary: Summary,
    /// The cells that did not succeed in it.
    pub failed_cells: Vec<String>,
}

impl GroupReport {
    /// The group of `wave` from the ledger's entries: per wave, the newest collected attempt of
    /// a run of that group (entries are oldest first).
    pub fn of(
        wave: &crate::contract::WaveOf,
        ledger: &[crate::dataset::ledger::LedgerEntry],
    ) -> Self {
        let waves = (1..=wave.waves)
            .map(|w| WaveReport {
                wave: w,
                cells: wave.cells_of(w),
                collected: ledger
                    .iter()
                    .rev()
                    .find(|e| e.group == wave.group && e.wave == Some(w))
                    .map(|e| WaveCollected {
                        run_id: e.run_id.clone(),
                        attempt: e.attempt,
                        url: Some(e.url.clone()).filter(|u| !u.is_empty()),
                        conclusion: e.conclusion.clone(),
                        summary: e.summary(),
                        failed_cells: e
                            .failed_cells
                            .split_whitespace()
                            .map(String::from)
                            .collect(),
                    }),
            })
            .collect();
        GroupReport {
            group: wave.group.clone(),
            waves,
        }
    }

    /// How many waves have been collected.
    pub fn done(&self) -> usize {
        self.waves.iter().filter(|w| w.collected.is_some()).count()
    }
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct RunInfo {
    pub id: String,
    /// Serialised as `contract::Source` is: `local` or `github`.
    pub source: crate::contract::Source,
    pub url: Option<String>,
    pub attempt: u32,
    pub started_at: String,
    pub event: Option<String>,
    pub git_ref: Option<String>,
    pub conclusion: Option<String>,
    /// When the dispatch needed several runs: which wave this run is.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub wave: Option<crate::contract::WaveOf>,
}

impl RunInfo {
    pub fn of(p: &crate::contract::RunProvenance) -> RunInfo {
        RunInfo {
            id: p.run_id.clone(),
            source: p.source,
            url: p.url.clone(),
            attempt: p.attempt,
            started_at: p.run_started_at.clone(),
            event: p.event.clone(),
            git_ref: p.git_ref.clone(),
            conclusion: p.conclusion.clone(),
            wave: p.wave.clone(),
        }
    }

    pub fn stamp(&self, phase: Phase) -> CommentStamp {
        CommentStamp {
            run_started_at: self.started_at.clone(),
            run_id: self.id.clone(),
            attempt: self.attempt,
            phase,
            group: self.wave.as_ref().map(|w| w.group.clone()),
            waves_done: 0,
        }
    }
}

/// An artifact that was not unpacked, and why (its cells are reported failed where known).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Refused {
    pub artifact: String,
    pub reason: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct CellReport {
    pub id: String,
    pub params: BTreeMap<String, String>,
    pub status: CellStatus,
    pub exit_code: Option<i32>,
    pub duration_s: f64,
    /// `duration_s` is only the cell's own claim (its `cell.json`), not a job's measured time.
    pub duration_claimed: bool,
    pub error: Option<String>,
}

/// What a report is assembled from.
pub struct ReportInput<'a> {
    pub plan: &'a Plan,
    /// The run's cell outcomes: empty when only the dataset is reported.
    pub outcomes: &'a [CellOutcome],
    pub run: Option<RunInfo>,
    /// The dataset's columns, in its own order.
    pub dataset_columns: &'a [String],
    /// The first of `results_total` newest rows.
    pub results: Vec<Row>,
    pub results_total: usize,
    pub comparison: Option<Comparison>,
    pub refused: Vec<Refused>,
}

/// Assembles a report.
pub fn build(input: ReportInput<'_>) -> Report {
    let ReportInput {
        plan,
        outcomes,
        run,
        dataset_columns,
        results,
        results_total,
        comparison,
        refused,
    } = input;
    let summary = Summary::of(outcomes.iter().map(|o| o.record.status));
    let keys = &plan.file.results.keys;
    // Keys first, then the dataset's own column order (the order the results declared).
    let mut columns: Vec<String> = keys.clone();
    let mut seen: std::collections::HashSet<String> = keys.iter().cloned().collect();
    let present = |c: &String| results.iter().any(|r| r.contains_key(c));
    let long = plan.file.dataset.layout == crate::experiment::Layout::Long;
    for c in dataset_columns
        .iter()
        .chain(results.iter().flat_map(|r| r.keys()))
    {
        let long_only = long && (c == crate::dataset::METRIC || c == crate::dataset::VALUE);
        if !seen.contains(c) && !PROVENANCE.contains(&c.as_str()) && !long_only && present(c) {
            seen.insert(c.clone());
            columns.push(c.clone());
        }
    }
    let results = results
        .into_iter()
        .map(|mut r| {
            r.retain(|c, _| !PROVENANCE.contains(&c.as_str()));
            r
        })
        .collect();
    Report {
        schema: REPORT_SCHEMA,
        experiment: plan.name().into(),
        description: plan.file.description.trim().into(),
        issue: plan.file.issue,
        dataset: plan.dataset_path().display().to_string(),
        run,
        summary,
        cells: outcomes
            .iter()
            .map(|o| CellReport {
                id: o.record.cell.clone(),
                params: o.record.params.clone(),
                status: o.record.status,
                exit_code: o.record.exit_code,
                duration_s: o.record.duration_s,
                duration_claimed: o.duration_claimed,
                error: o.record.error.clone(),
            })
            .collect(),
        columns,
        results,
        results_total,
        comparison,
        refused,
        group: None,
    }
}

/// The report for a terminal: the verdict, counts and statistics in full, but only the first
/// [`TERMINAL_ROWS`] rows of each table, with a pointer to the full report and the dataset;
/// plain text with aligned columns, the verdict coloured when `colour`.
pub fn for_terminal(r: &Report, colour: bool) -> String {
    terminal::render(r, colour)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A report of experiment `e` with no cells, results or comparison.
    fn bare_report() -> Report {
        Report {
            schema: REPORT_SCHEMA,
            experiment: "e".into(),
            description: String::new(),
            issue: None,
            dataset: "data/evaluation/e.csv".into(),
            run: Some(RunInfo::default()),
            summary: Summary::default(),
            cells: Vec::new(),
            columns: Vec::new(),
            results: Vec::new(),
            results_total: 0,
            comparison: None,
            refused: Vec::new(),
            group: None,
        }
    }

    #[test]
    fn a_duration_only_the_cell_claims_is_marked_and_refused_cells_are_counted() {
        let cell = |id: &str, status, duration_s, duration_claimed| CellReport {
            id: id.into(),
            params: BTreeMap::new(),
            status,
            exit_code: None,
            duration_s,
            duration_claimed,
            error: None,
        };
        let report = |cells: Vec<CellReport>, refused| Report {
            summary: Summary {
                cells: cells.len(),
                ok: cells.len() - refused,
                refused,
                ..Summary::default()
            },
            cells,
            ..bare_report()
        };
        let md = markdown(&report(
            vec![
                cell("a", CellStatus::Ok, 60.0, false),
                cell("b", CellStatus::Ok, 8484.0, true),
                cell("c", CellStatus::Refused, 30.0, true),
            ],
            1,
        ));
        assert!(
            md.contains("3 cells: 2 ok, 0 failed, 0 timed out, 0 cancelled, 1 refused"),
            "{md}"
        );
        assert!(
            md.contains("| refused | 30.0 s (as the cell reported) |"),
            "{md}"
        );
        assert!(
            md.contains("2h 22m 24s of cell time in all, 2h 21m 24s of it as the cells reported."),
            "{md}"
        );
        let md = markdown(&report(vec![cell("a", CellStatus::Ok, 60.0, false)], 0));
        assert!(
            md.contains("1 cells: 1 ok, 0 failed, 0 timed out, 0 cancelled\n"),
            "{md}"
        );
        assert!(md.contains("in 1m of cell time in all.\n"), "{md}");
    }

    /// What the statistics leave out is said in the Markdown and at the terminal alike (one
    /// sentence source, `sections::comparison_caveats`).
    #[test]
    fn both_renderings_say_what_the_comparison_left_out() {
        let report = Report {
            comparison: Some(Comparison {
                measured: "measured.csv".into(),
                on: vec!["n".into()],
                predicted_column: "p".into(),
                actual_column: "a".into(),
                rows: Vec::new(),
                groups: Vec::new(),
                unmatched: 3,
                error_undefined: 2,
            }),
            ..bare_report()
        };
        let undefined = "2 joined rows have a measured value of 0: their percentage error is undefined, so they are shown per row but left out of these statistics.";
        let unmatched = "3 result rows had no measurement to compare with.";
        let md = markdown(&report);
        assert!(md.contains(&format!("\n{undefined}\n")), "{md}");
        assert!(md.contains(&format!("\n{unmatched}\n")), "{md}");
        let text = for_terminal(&report, false);
        assert!(text.contains(&format!("{undefined}\n")), "{text}");
        assert!(text.contains(&format!("{unmatched}\n")), "{text}");
    }
}
