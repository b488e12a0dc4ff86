//! The report's sections, walked once in the order every rendering shows them: title, run,
//! dataset, statistics, artifacts not merged, cells that did not succeed, per-row comparison,
//! results, cell time. What a section says is decided here (the verdict, the counts, the
//! table rows); how it is written is a [`Writer`]'s: `render.rs` writes Markdown for a
//! comment, `terminal.rs` plain text for a terminal.

use std::io;

use super::{CellReport, Refused, Report, RunInfo, Summary};
use crate::compare::Comparison;
use crate::contract::{CellStatus, WaveOf};
use crate::markdown::{duration, num, pct};

/// A format the report can be written in: one method a section, called by [`walk`] in order.
pub(super) trait Writer {
    /// A value from the cells or the dataset as this format writes it.
    fn text(&self, s: &str) -> String;
    /// A cell id as this format writes it.
    fn cell_id(&self, id: &str) -> String;
    /// The experiment's name and description.
    fn title(&mut self) -> io::Result<()>;
    /// The run, its verdict and counts, and its wave when the dispatch needed several.
    fn run(&mut self, run: &RunInfo, verdict: Verdict) -> io::Result<()>;
    /// The dataset file and how many rows it has.
    fn dataset(&mut self) -> io::Result<()>;
    /// The comparison's statistics per group (`groups`: rows of [`GROUP_HEADER`]).
    fn statistics(&mut self, c: &Comparison, groups: &[Vec<String>]) -> io::Result<()>;
    /// The artifacts that were not merged, and why.
    fn refused(&mut self, refused: &[Refused]) -> io::Result<()>;
    /// One of the report's tables.
    fn table(&mut self, t: Section) -> io::Result<()>;
    /// "N cells succeeded in T of cell time in all", `whose` saying whose figure T is.
    fn cell_time(&mut self, ok: usize, seconds: f64, whose: &str) -> io::Result<()>;
    /// Ends the report.
    fn finish(self) -> io::Result<()>;
}

/// The report, section by section, through `w`.
pub(super) fn walk(r: &Report, mut w: impl Writer) -> io::Result<()> {
    w.title()?;
    if let Some(run) = &r.run {
        w.run(run, Verdict::of(r, run))?;
    }
    w.dataset()?;
    if let Some(c) = &r.comparison {
        let groups = group_rows(c, |s| w.text(s));
        w.statistics(c, &groups)?;
    }
    if !r.refused.is_empty() {
        w.refused(&r.refused)?;
    }
    // Cells that did not succeed come first and in full: they are what a reader must act on.
    let bad: Vec<&CellReport> = r
        .cells
        .iter()
        .filter(|c| c.status != CellStatus::Ok)
        .collect();
    if !bad.is_empty() {
        let rows = failed_cell_rows(&bad, |id| w.cell_id(id), |s| w.text(s));
        w.table(Section {
            kind: SectionKind::FailedCells,
            header: FAILED_CELLS_HEADER.map(String::from).to_vec(),
            total: rows.len(),
            rows,
            more_columns: 0,
        })?;
    }
    if let Some(c) = &r.comparison {
        let (header, rows) = comparison_rows(c, |s| w.text(s));
        w.table(Section {
            kind: SectionKind::PerRow,
            header,
            total: rows.len(),
            rows,
            more_columns: 0,
        })?;
    }
    if !r.results.is_empty() {
        let (header, rows) = result_rows(r, |s| w.text(s));
        w.table(Section {
            kind: SectionKind::Results,
            header,
            // The report holds the first rows only; the count is the dataset's.
            total: r.results_total.max(rows.len()),
            rows,
            more_columns: r.columns.len().saturating_sub(MAX_RESULT_COLS),
        })?;
    }
    if !r.cells.is_empty() && bad.len() < r.cells.len() {
        let ok: Vec<&CellReport> = r
            .cells
            .iter()
            .filter(|c| c.status == CellStatus::Ok)
            .collect();
        let seconds: f64 = ok.iter().map(|c| c.duration_s).sum();
        w.cell_time(ok.len(), seconds, &whose_time(&ok))?;
    }
    w.finish()
}

/// The run's verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Verdict {
    Cancelled,
    AllOk,
    SomeFailed,
}

impl Verdict {
    fn of(r: &Report, run: &RunInfo) -> Verdict {
        if run.conclusion.as_deref() == Some("cancelled") {
            Verdict::Cancelled
        } else if r.summary.all_ok() && r.refused.is_empty() {
            Verdict::AllOk
        } else {
            Verdict::SomeFailed
        }
    }

    pub(super) fn words(self) -> &'static str {
        match self {
            Verdict::Cancelled => "run cancelled",
            Verdict::AllOk => "all cells ok",
            Verdict::SomeFailed => "some cells did not succeed",
        }
    }
}

/// "N cells: N ok, N failed, N timed out, N cancelled[, N refused]".
pub(super) fn counts(s: &Summary) -> String {
    let refused = if s.refused > 0 {
        format!(", {} refused", s.refused)
    } else {
        String::new()
    };
    format!(
        "{} cells: {} ok, {} failed, {} timed out, {} cancelled{refused}",
        s.cells, s.ok, s.failed, s.timed_out, s.cancelled
    )
}

/// " attempt N" after the run's id, for a re-run.
pub(super) fn attempt(run: &RunInfo) -> String {
    if run.attempt > 1 {
        format!(" attempt {}", run.attempt)
    } else {
        String::new()
    }
}

/// The sentence that says which wave of a dispatch the run is; `group` as the format writes it.
pub(super) fn wave_sentence(w: &WaveOf, group: &str) -> String {
    format!(
        "Wave {} of {} of dispatch {group} (a run holds at most 256 jobs): the cells above are this wave's; the dataset and the results below hold every wave's rows collected so far.",
        w.wave, w.waves
    )
}

/// What the comparison's statistics leave out, one sentence each (both renderings say it).
pub(super) fn comparison_caveats(c: &Comparison) -> Vec<String> {
    let mut out = Vec::new();
    if c.error_undefined > 0 {
        out.push(format!(
            "{} joined rows have a measured value of 0: their percentage error is undefined, so they are shown per row but left out of these statistics.",
            c.error_undefined
        ));
    }
    if c.unmatched > 0 {
        out.push(format!(
            "{} result rows had no measurement to compare with.",
            c.unmatched
        ));
    }
    out
}

/// A cell's duration, marked when it is only what the cell's `cell.json` says.
fn cell_duration(c: &CellReport) -> String {
    if c.duration_claimed {
        format!("{} (as the cell reported)", duration(c.duration_s))
    } else {
        duration(c.duration_s)
    }
}

/// After "N cells succeeded in T of cell time in all": whose figure T is. A figure only the
/// cells' own files give is said to be theirs (both renderings say it).
fn whose_time(ok: &[&CellReport]) -> String {
    let claimed: f64 = ok
        .iter()
        .filter(|c| c.duration_claimed)
        .map(|c| c.duration_s)
        .sum();
    if ok.iter().all(|c| c.duration_claimed) {
        ", as the cells reported".to_string()
    } else if ok.iter().any(|c| c.duration_claimed) {
        format!(", {} of it as the cells reported", duration(claimed))
    } else {
        String::new()
    }
}

/// A table of the report, with the rows both renderings share.
pub(super) struct Section {
    pub(super) kind: SectionKind,
    pub(super) header: Vec<String>,
    pub(super) rows: Vec<Vec<String>>,
    /// How many rows there are in all (`rows` may be the first of them).
    pub(super) total: usize,
    /// Columns left out of the table (they are in the dataset).
    pub(super) more_columns: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum SectionKind {
    FailedCells,
    PerRow,
    Results,
}

impl Section {
    /// The table's title.
    pub(super) fn title(&self) -> String {
        match self.kind {
            SectionKind::FailedCells => "Cells that did not succeed".into(),
            SectionKind::PerRow => {
                format!("Per row: predicted vs measured ({} rows)", self.rows.len())
            }
            SectionKind::Results => format!("Results ({} rows)", self.total),
        }
    }
}

/// The header of the comparison's statistics per group.
pub(super) const GROUP_HEADER: [&str; 5] = ["group", "rows", "MAPE", "median APE", "max APE"];

/// The header of the "cells that did not succeed" table.
const FAILED_CELLS_HEADER: [&str; 5] = ["cell", "parameters", "status", "duration", "why"];

/// How many result columns a report shows (the rest: "N more columns are in the dataset").
const MAX_RESULT_COLS: usize = 12;

// The tables' rows, the same for every rendering: `text` is how a value from the cells or the
// dataset is written (Markdown-escaped, or as it is for the terminal, whose table makes every
// cell safe to print itself); `id` how a cell id is shown.

/// One row a group of the comparison: group, rows, MAPE, median APE, max APE.
fn group_rows(c: &Comparison, text: impl Fn(&str) -> String) -> Vec<Vec<String>> {
    c.groups
        .iter()
        .map(|g| {
            vec![
                text(&g.group),
                g.rows.to_string(),
                pct(g.mape_pct),
                pct(g.median_ape_pct),
                pct(g.max_ape_pct),
            ]
        })
        .collect()
}

/// One row a cell that did not succeed: cell, parameters, status, duration, why.
fn failed_cell_rows(
    bad: &[&CellReport],
    id: impl Fn(&str) -> String,
    text: impl Fn(&str) -> String,
) -> Vec<Vec<String>> {
    bad.iter()
        .map(|c| {
            let params = c
                .params
                .iter()
                .map(|(k, v)| format!("{}={}", text(k), text(v)))
                .collect::<Vec<_>>()
                .join(", ");
            vec![
                id(&c.id),
                params,
                c.status.as_str().into(),
                cell_duration(c),
                text(c.error.as_deref().unwrap_or("")),
            ]
        })
        .collect()
}

/// The per-row comparison table: the join columns, predicted, measured, error.
fn comparison_rows(
    c: &Comparison,
    text: impl Fn(&str) -> String,
) -> (Vec<String>, Vec<Vec<String>>) {
    let mut header: Vec<String> = c.on.clone();
    header.extend(["predicted", "measured", "error"].map(String::from));
    let rows = c
        .rows
        .iter()
        .map(|row| {
            let mut v: Vec<String> = row.key.iter().map(|k| text(k)).collect();
            let error = match row.error_pct {
                Some(e) => format!("{e:+.1} %"),
                None => "undefined (measured 0)".into(),
            };
            v.extend([num(row.predicted), num(row.measured), error]);
            v
        })
        .collect();
    (header, rows)
}

/// The results table: the first [`MAX_RESULT_COLS`] columns of the report's rows.
fn result_rows(r: &Report, text: impl Fn(&str) -> String) -> (Vec<String>, Vec<Vec<String>>) {
    let cols: Vec<String> = r.columns.iter().take(MAX_RESULT_COLS).cloned().collect();
    let rows = r
        .results
        .iter()
        .map(|row| {
            cols.iter()
                .map(|c| text(row.get(c).map(String::as_str).unwrap_or("")))
                .collect()
        })
        .collect();
    (cols, rows)
}
